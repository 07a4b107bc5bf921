//! `unitrace serve` and `unitrace demo`: the HTTP server over SQLite or PostgreSQL.
//!
//! Settings, strongest first: command-line flags, environment variables (`UNITRACE_DB`,
//! `UNITRACE_LISTEN`), a TOML file (`--config`), defaults.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;
use unitrace_capture::{capture_document, CaptureMode};
use unitrace_server::{AppState, Config};
use unitrace_store::{Location, Party, Product, Store, SystemClock};

const DEFAULT_DB: &str = "sqlite:./unitrace-data/unitrace.sqlite";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// The store: `sqlite:PATH` (default sqlite:./unitrace-data/unitrace.sqlite) or
    /// `postgres://...`. Env: UNITRACE_DB.
    #[arg(long)]
    pub db: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080). Env: UNITRACE_LISTEN.
    #[arg(long)]
    pub listen: Option<String>,
    /// A TOML file with `db`, `listen`, limits (`max_capture_bytes`, `max_events_per_capture`,
    /// `max_body_bytes`, `queue_len`, `max_per_page`) and `state_file` (the named queries and
    /// subscriptions file of earlier versions, imported into the store once; default next to a
    /// SQLite database), `detect_alerts` and `webhook_ca_file` (extra trusted roots, PEM, for
    /// https:// webhooks).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Load the demo dataset (through the capture path) before serving.
    #[arg(long)]
    pub demo: bool,
    /// Do not run the alert detector on this node (another node on the same database may).
    /// TOML: `detect_alerts = false`.
    #[arg(long)]
    pub no_detector: bool,
    /// Size of the demo dataset (1: about 2,800 units).
    #[arg(long, default_value_t = 1)]
    pub demo_scale: u32,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<String>,
    listen: Option<String>,
    max_capture_bytes: Option<usize>,
    max_events_per_capture: Option<usize>,
    max_body_bytes: Option<usize>,
    queue_len: Option<usize>,
    max_per_page: Option<u32>,
    state_file: Option<PathBuf>,
    detect_alerts: Option<bool>,
    webhook_ca_file: Option<PathBuf>,
}

fn settings(args: &ServeArgs) -> Result<(String, String, Config)> {
    let file: FileConfig = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading config file {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("config file {}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let db = args
        .db
        .clone()
        .or_else(|| env("UNITRACE_DB"))
        .or(file.db)
        .unwrap_or_else(|| DEFAULT_DB.to_string());
    let listen = args
        .listen
        .clone()
        .or_else(|| env("UNITRACE_LISTEN"))
        .or(file.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let state_file = file.state_file.clone().or_else(|| {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return None;
        }
        let path = db.strip_prefix("sqlite:").unwrap_or(&db);
        let path = path.strip_prefix("//").unwrap_or(path);
        Some(
            Path::new(path)
                .parent()
                .unwrap_or(Path::new("."))
                .join("unitrace-server-state.json"),
        )
    });
    let mut c = Config {
        state_file,
        ..Config::default()
    };
    if let Some(v) = file.max_capture_bytes {
        c.max_capture_bytes = v;
    }
    if let Some(v) = file.max_events_per_capture {
        c.max_events_per_capture = v;
    }
    if let Some(v) = file.max_body_bytes {
        c.max_body_bytes = v;
    }
    if let Some(v) = file.queue_len {
        c.queue_len = v;
    }
    c.detect_alerts = !args.no_detector && file.detect_alerts.unwrap_or(true);
    c.webhook_ca_file = file.webhook_ca_file.clone();
    if let Some(v) = file.max_per_page {
        if v == 0 || v > unitrace_store::limits::MAX_PER_PAGE {
            bail!(
                "max_per_page must be 1..={}",
                unitrace_store::limits::MAX_PER_PAGE
            );
        }
        c.max_per_page = v;
    }
    Ok((db, listen, c))
}

pub(crate) async fn open_store(db: &str) -> Result<Arc<dyn Store>> {
    let clock = Arc::new(SystemClock);
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        let s = unitrace_store_postgres::PostgresStore::connect(db, clock)
            .await
            .context("opening the PostgreSQL store")?;
        return Ok(Arc::new(s));
    }
    let path = db.strip_prefix("sqlite:").unwrap_or(db);
    let path = path.strip_prefix("//").unwrap_or(path);
    if let Some(dir) = Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let s = unitrace_store_sqlite::SqliteStore::open(path, clock)
        .await
        .with_context(|| format!("opening the SQLite store {path}"))?;
    Ok(Arc::new(s))
}

/// Loads the demo dataset through the capture path; returns a few example identifiers.
async fn load_demo(store: &dyn Store, scale: u32) -> Result<unitrace_demo::Demo> {
    let demo = unitrace_demo::generate(&unitrace_demo::DemoConfig {
        scale,
        ..Default::default()
    });
    let md = &demo.master_data;
    for l in &md.locations {
        let loc = Location {
            id: l.id.clone(),
            name: Some(l.name.clone()),
            parent_id: l.parent.clone(),
            latitude: Some(l.lat),
            longitude: Some(l.lon),
            attributes: serde_json::json!({"kind": l.kind, "owner": l.owner}),
        };
        store.upsert_location(&loc).await?;
    }
    for p in &md.products {
        let prod = Product {
            gtin: p.gtin.clone(),
            name: Some(p.name.clone()),
            owner: Some(p.owner.clone()),
            warranty: (p.warranty_months > 0).then(|| format!("{} months", p.warranty_months)),
            storage_temp_min_c: Some(p.storage_temp_min_c),
            storage_temp_max_c: Some(p.storage_temp_max_c),
            attributes: serde_json::to_value(&p.attributes)?,
        };
        store.upsert_product(&prod).await?;
    }
    for p in &md.parties {
        let party = Party {
            gln: p.gln.clone(),
            name: Some(p.name.clone()),
            attributes: serde_json::json!({"id": p.id, "role": p.role}),
        };
        store.upsert_party(&party).await?;
    }
    let (mut stored, mut dup) = (0usize, 0usize);
    for (i, doc) in demo.documents.iter().enumerate() {
        let bytes = serde_json::to_vec(doc)?;
        let r = capture_document(store, &bytes, CaptureMode::Rollback)
            .await
            .with_context(|| format!("demo document {i}"))?;
        if let Some((e, o)) = r.report.first_failure() {
            bail!("demo document {i}, event {e}: {o:?}");
        }
        stored += r.report.stored();
        dup += r.report.outcomes.len() - r.report.stored();
    }
    eprintln!(
        "demo: {} documents, {stored} events stored ({dup} already there), {} units, {} locations, {} products",
        demo.documents.len(),
        demo.summary.units,
        md.locations.len(),
        md.products.len()
    );
    Ok(demo)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("unitrace: shutting down (finishing accepted captures)");
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn run(args: ServeArgs) -> Result<bool> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let (db, listen, config) = settings(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let store = open_store(&db).await?;
        let demo = if args.demo {
            Some(load_demo(store.as_ref(), args.demo_scale).await?)
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        println!("unitrace serving {db} on {url} (docs: {url}/docs)");
        if let Some(d) = &demo {
            let s = &d.stories;
            println!("try:");
            println!("  curl -s {url}/items/{}", enc(&s.returned_laptop.epc));
            println!(
                "  curl -s '{url}/items?gtin={}&lot={}'",
                s.recalled_lot.gtin, s.recalled_lot.lot
            );
            println!("  curl -s '{url}/events?EQ_bizStep=shipping&perPage=5'");
        }
        let state = AppState::new(store, config).context("reading the server state file")?;
        unitrace_server::run(listener, state, shutdown_signal())
            .await
            .context("serving")?;
        Ok(true)
    })
}
