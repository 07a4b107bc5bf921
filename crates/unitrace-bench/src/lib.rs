//! `unitrace bench store`: the store benchmark of issue #4 (capture throughput against the
//! engine's bulk ceiling, timeline latency and recall scope on a loaded store).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;
use unitrace_store::{
    Action, CaptureEvent, CaptureMode, EpcRole, EventType, Store, SystemClock, UnitFilter,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(clap::Args, Debug, Clone)]
pub struct BenchStoreArgs {
    /// Store backend.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// SQLite file path, or a PostgreSQL server URL (a fresh database is created on it and dropped
    /// after). Default: a temporary SQLite file / $UNITRACE_TEST_POSTGRES.
    #[arg(long)]
    pub db: Option<String>,
    /// EPC observations loaded first.
    #[arg(long, default_value_t = 10_000_000)]
    pub scale: u64,
    /// Print one JSON object (otherwise pretty JSON).
    #[arg(long)]
    pub json: bool,
    /// Concurrent capturing writers.
    #[arg(long, default_value_t = 4)]
    pub writers: usize,
    /// Keep the loaded store (SQLite file or PostgreSQL database) for inspection; its location is
    /// printed on stderr.
    #[arg(long)]
    pub keep: bool,
}

const COMPANY: &str = "0614141";
const EPCS_PER_EVENT: usize = 500;
const RECALL_UNITS: u64 = 100_000;
const UNITS_PER_CASE: u64 = 20;
const CASES_PER_PALLET: u64 = 40;
const RECALL_ITEM: &str = "100000";
const RECALL_LOT: &str = "LOT-RECALL-1";
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
/// Rounds of ceiling and fresh capture, alternated (the machine's speed drifts by tens of
/// percent within a minute; the medians of alternated rounds make the ratio).
const CEILING_ROUNDS: usize = 3;

fn sgtin(item: &str, serial: u64) -> String {
    format!("urn:epc:id:sgtin:{COMPANY}.{item}.{serial}")
}
fn sscc(n: u64) -> String {
    format!("urn:epc:id:sscc:{COMPANY}.{n:010}")
}
fn sgln(n: u64) -> String {
    format!("urn:epc:id:sgln:{COMPANY}.{n:05}.0")
}

struct Gen {
    n: AtomicU64,
    /// Added to the counter in hash IDs (distinct IDs across generators).
    base: u64,
}

impl Gen {
    fn at(base: u64) -> Self {
        Gen {
            n: AtomicU64::new(0),
            base,
        }
    }

    fn hash(&self) -> (String, i64) {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        (
            format!("ni:///sha-256;{:064x}?ver=CBV2.0", n + self.base),
            T0 + n as i64 * 1000,
        )
    }

    fn object(
        &self,
        action: Action,
        step: &str,
        disp: &str,
        loc: &str,
        epcs: Vec<String>,
        lot: Option<&str>,
    ) -> CaptureEvent {
        let (h, t) = self.hash();
        let mut e = CaptureEvent::new(h, EventType::ObjectEvent, t);
        e.action = Some(action);
        e.biz_step = Some(format!("https://ref.gs1.org/cbv/BizStep-{step}"));
        e.disposition = Some(format!("https://ref.gs1.org/cbv/Disp-{disp}"));
        e.read_point = Some(loc.to_string());
        e.biz_location = Some(loc.to_string());
        e.ilmd_lot = lot.map(str::to_string);
        if lot.is_some() {
            e.ilmd_expiry = Some("2028-12-31".into());
        }
        e.document = json!({"type": "ObjectEvent", "eventTime": t, "action": action.as_str(),
            "bizStep": step, "bizLocation": {"id": loc}, "epcCount": epcs.len(), "lot": lot});
        e.epcs = epcs.into_iter().map(|x| (EpcRole::Epc, x)).collect();
        e
    }

    fn aggregation(&self, parent: String, children: Vec<String>, loc: &str) -> CaptureEvent {
        let (h, t) = self.hash();
        let mut e = CaptureEvent::new(h, EventType::AggregationEvent, t);
        e.action = Some(Action::Add);
        e.biz_step = Some("https://ref.gs1.org/cbv/BizStep-packing".into());
        e.read_point = Some(loc.to_string());
        e.biz_location = Some(loc.to_string());
        e.document = json!({"type": "AggregationEvent", "eventTime": t, "parentID": parent,
            "childCount": children.len()});
        e.epcs = std::iter::once((EpcRole::ParentId, parent))
            .chain(children.into_iter().map(|c| (EpcRole::ChildEpc, c)))
            .collect();
        e
    }
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Capture every document (one event each) with `writers` concurrent tasks; per-call latencies in ms.
async fn capture_all(
    store: Arc<dyn Store>,
    docs: Vec<CaptureEvent>,
    writers: usize,
) -> anyhow::Result<Vec<f64>> {
    let docs = Arc::new(std::sync::Mutex::new(docs.into_iter()));
    let mut tasks = Vec::new();
    for _ in 0..writers.max(1) {
        let (store, docs) = (store.clone(), docs.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let next = docs.lock().ok().and_then(|mut d| d.next());
                let Some(ev) = next else { break };
                let t = Instant::now();
                let rep = store.capture(vec![ev], CaptureMode::Rollback).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                if let Some(bad) = rep.outcomes.iter().find(|o| o.is_failure()) {
                    bail!("capture refused an event: {bad:?}");
                }
            }
            Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.context("writer task")??);
    }
    Ok(all)
}

/// Commissioning then shipping ObjectEvents of 500 EPCs for `units` units of several GTINs/lots.
fn bulk_events(g: &Gen, first_serial: u64, units: u64) -> Vec<CaptureEvent> {
    let mut out = Vec::new();
    let mut s = first_serial;
    let end = first_serial + units;
    let mut batch = 0u64;
    while s < end {
        let n = (end - s).min(EPCS_PER_EVENT as u64);
        let item = format!("{:06}", 200_000 + batch % 50);
        let lot = format!("LOT-{}", batch / 20);
        let epcs: Vec<String> = (s..s + n).map(|x| sgtin(&item, x)).collect();
        let plant = sgln(1 + batch % 4);
        out.push(g.object(
            Action::Add,
            "commissioning",
            "active",
            &plant,
            epcs,
            Some(&lot),
        ));
        s += n;
        batch += 1;
    }
    out
}

fn shipping_of(g: &Gen, commissioned: &[CaptureEvent]) -> Vec<CaptureEvent> {
    commissioned
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let epcs = c.epcs.iter().map(|(_, e)| e.clone()).collect();
            g.object(
                Action::Observe,
                "shipping",
                "in_transit",
                &sgln(100 + i as u64 % 10),
                epcs,
                None,
            )
        })
        .collect()
}

fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        })
        .and_then(|k| k.parse::<u64>().ok())
        .map(|k| k / 1024)
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({"cpus": cpus, "mem_mib": mem, "loadavg_start": load.trim(), "os": std::env::consts::OS})
}

/// A database URL on the same server as `url` with another database name.
fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let rest = base.split_once("://").map(|(_, r)| r).unwrap_or(base);
    let host_end = rest
        .find('/')
        .map(|i| base.len() - rest.len() + i)
        .unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..host_end])
}

async fn pg_admin(url: &str, sql: &str) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connect to PostgreSQL")?;
    let h = tokio::spawn(async move {
        let _ = conn.await;
    });
    client
        .batch_execute(sql)
        .await
        .with_context(|| sql.to_string())?;
    drop(client);
    let _ = h.await;
    Ok(())
}

enum Scratch {
    Sqlite(std::path::PathBuf),
    Postgres { admin: String, db: String },
}

impl Scratch {
    async fn drop_it(&self) {
        match self {
            Scratch::Sqlite(p) => {
                for suf in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suf}", p.display()));
                }
            }
            Scratch::Postgres { admin, db } => {
                let _ =
                    pg_admin(admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
            }
        }
    }
}

async fn scratch(args: &BenchStoreArgs, tag: &str) -> anyhow::Result<(Scratch, String)> {
    let uniq = format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    match args.backend {
        Backend::Sqlite => {
            let p = match &args.db {
                Some(p) if tag == "store" => std::path::PathBuf::from(p),
                Some(p) => std::path::PathBuf::from(format!("{p}.{tag}")),
                None => std::env::temp_dir().join(format!("unitrace-bench-{uniq}-{tag}.db")),
            };
            Ok((Scratch::Sqlite(p.clone()), p.display().to_string()))
        }
        Backend::Postgres => {
            let admin = match &args.db {
                Some(u) => u.clone(),
                None => std::env::var("UNITRACE_TEST_POSTGRES")
                    .context("--db or UNITRACE_TEST_POSTGRES must give a PostgreSQL URL")?,
            };
            let db = format!("unitrace_bench_{uniq}_{tag}");
            pg_admin(&admin, &format!("CREATE DATABASE {db}")).await?;
            let url = with_db(&admin, &db);
            Ok((Scratch::Postgres { admin, db }, url))
        }
    }
}

async fn open(args: &BenchStoreArgs, url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let clock = Arc::new(SystemClock);
    Ok(match args.backend {
        Backend::Sqlite => Arc::new(unitrace_store_sqlite::SqliteStore::open(url, clock).await?),
        Backend::Postgres => {
            Arc::new(unitrace_store_postgres::PostgresStore::connect(url, clock).await?)
        }
    })
}

/// The units whose timelines the benchmark reads: `count` of them, alternately a unit of the
/// recall population (inside a case inside a pallet) and one of the `other_units` bulk-loaded
/// units, drawn by a fixed xorshift sequence so that every run (and `examples/reads_probe` on a
/// kept store) reads the same units.
pub fn timeline_sample(count: usize, other_units: u64) -> Vec<String> {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    (0..count)
        .map(|i| {
            if i % 2 == 0 || other_units == 0 {
                sgtin(RECALL_ITEM, next() % RECALL_UNITS)
            } else {
                let s = next() % other_units;
                sgtin(
                    &format!("{:06}", 200_000 + (s / EPCS_PER_EVENT as u64) % 50),
                    s,
                )
            }
        })
        .collect()
}

/// Run the store benchmark; prints and returns one JSON object.
pub async fn run_store(args: BenchStoreArgs) -> anyhow::Result<serde_json::Value> {
    let (s, url) = scratch(&args, "store").await?;
    let r = run_inner(&args, &url).await;
    if args.keep {
        eprintln!("kept store: {url}");
    } else {
        s.drop_it().await;
    }
    let out = r?;
    if args.json {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(out)
}

async fn run_inner(args: &BenchStoreArgs, url: &str) -> anyhow::Result<serde_json::Value> {
    let mach = machine();
    let store = open(args, url).await?;
    let g = Gen::at(0);
    let mut stored: u64 = 0;
    let started = Instant::now();

    // 1. Recall population: 100,000 units of one GTIN+lot, in cases of 20, in pallets of 40 cases.
    let dc = sgln(50);
    let recall_item = RECALL_ITEM;
    let mut docs = Vec::new();
    for b in 0..RECALL_UNITS.div_ceil(EPCS_PER_EVENT as u64) {
        let lo = b * EPCS_PER_EVENT as u64;
        let hi = (lo + EPCS_PER_EVENT as u64).min(RECALL_UNITS);
        let epcs = (lo..hi).map(|x| sgtin(recall_item, x)).collect();
        docs.push(g.object(
            Action::Add,
            "commissioning",
            "active",
            &sgln(1),
            epcs,
            Some(RECALL_LOT),
        ));
    }
    let cases = RECALL_UNITS.div_ceil(UNITS_PER_CASE);
    for cs in 0..cases {
        let kids = (cs * UNITS_PER_CASE..((cs + 1) * UNITS_PER_CASE).min(RECALL_UNITS))
            .map(|x| sgtin(recall_item, x))
            .collect();
        docs.push(g.aggregation(sscc(cs), kids, &sgln(1)));
    }
    let pallets = cases.div_ceil(CASES_PER_PALLET);
    for p in 0..pallets {
        let kids = (p * CASES_PER_PALLET..((p + 1) * CASES_PER_PALLET).min(cases))
            .map(sscc)
            .collect();
        docs.push(g.aggregation(sscc(1_000_000 + p), kids, &sgln(1)));
    }
    let pallet_epcs: Vec<String> = (0..pallets).map(|p| sscc(1_000_000 + p)).collect();
    docs.push(g.object(
        Action::Observe,
        "shipping",
        "in_transit",
        &dc,
        pallet_epcs,
        None,
    ));
    stored += docs.iter().map(|d| d.epcs.len() as u64).sum::<u64>();
    // In order: aggregation after commissioning.
    capture_all(store.clone(), docs, 1).await?;

    // 2. Bulk load (measured): commissioning + shipping of 500-EPC ObjectEvents, concurrent writers.
    let remaining = args.scale.saturating_sub(stored);
    let units = remaining / 2;
    let mut lat = Vec::new();
    let mut cap_epcs = 0u64;
    let mut cap_secs = 0.0;
    let chunk_units = 200_000u64;
    let mut s = 0u64;
    while s < units {
        let n = chunk_units.min(units - s);
        let com = bulk_events(&g, s, n);
        let ship = shipping_of(&g, &com);
        for phase in [com, ship] {
            let e: u64 = phase.iter().map(|d| d.epcs.len() as u64).sum();
            let t = Instant::now();
            lat.extend(capture_all(store.clone(), phase, args.writers).await?);
            cap_secs += t.elapsed().as_secs_f64();
            cap_epcs += e;
        }
        s += n;
    }
    stored += cap_epcs;
    lat.sort_by(f64::total_cmp);
    let capture_epcs_per_s = if cap_secs > 0.0 {
        cap_epcs as f64 / cap_secs
    } else {
        0.0
    };

    // 3. One-EPC events.
    let n1 = 4_000u64;
    let one: Vec<CaptureEvent> = (0..n1)
        .map(|i| {
            g.object(
                Action::Add,
                "commissioning",
                "active",
                &sgln(2),
                vec![sgtin("300000", i)],
                Some("LOT-1EPC"),
            )
        })
        .collect();
    let t = Instant::now();
    let mut lat1 = capture_all(store.clone(), one, args.writers).await?;
    let capture_events_per_s_1epc = n1 as f64 / t.elapsed().as_secs_f64();
    lat1.sort_by(f64::total_cmp);
    stored += n1;

    // 4. Ceiling: the rows of 1,000,000 (or scale) commissioning EPCs through the bulk path, and
    // the same amount through capture into a fresh store, for a like-for-like ratio. Alternated
    // CEILING_ROUNDS times, each into its own new database; the medians make the ratio.
    let ceil_units = args.scale.clamp(EPCS_PER_EVENT as u64, 1_000_000);
    let mut ceiling_rates = Vec::new();
    let mut fresh_rates = Vec::new();
    for round in 0..CEILING_ROUNDS {
        let base = (1u64 << 40) + (round as u64) * (1 << 36);
        let (c, curl) = scratch(args, &format!("ceiling{round}")).await?;
        let cevents = bulk_events(&Gen::at(base), 0, ceil_units);
        let ceiling = match args.backend {
            Backend::Sqlite => {
                let p = std::path::PathBuf::from(&curl);
                tokio::task::spawn_blocking(move || {
                    unitrace_store_sqlite::ceiling_write(&p, &cevents, T0)
                })
                .await?
            }
            Backend::Postgres => unitrace_store_postgres::ceiling_write(&curl, &cevents, T0).await,
        };
        c.drop_it().await;
        let ceiling = ceiling?;
        if ceiling.epc_rows != ceil_units {
            bail!(
                "the ceiling wrote {} EPC rows, expected {ceil_units}",
                ceiling.epc_rows
            );
        }
        ceiling_rates.push(ceiling.epc_rows as f64 / ceiling.secs);

        let (cs, csurl) = scratch(args, &format!("fresh{round}")).await?;
        let fresh = open(args, &csurl).await?;
        let fevents = bulk_events(&Gen::at(base + (1 << 35)), 0, ceil_units);
        let t = Instant::now();
        let r = capture_all(fresh.clone(), fevents, args.writers).await;
        let secs = t.elapsed().as_secs_f64();
        drop(fresh);
        cs.drop_it().await;
        r?;
        fresh_rates.push(ceil_units as f64 / secs);
    }
    let ceiling_epcs_per_s = median(&ceiling_rates);
    let fresh_rate = median(&fresh_rates);
    let ceil_rows = ceil_units;

    // 5. Timelines of random units (recall units have inferred container events).
    let mut tl = Vec::new();
    let mut inferred = 0usize;
    for epc in timeline_sample(2_000, units) {
        let t = Instant::now();
        let entries = store.timeline(&epc).await?;
        tl.push(t.elapsed().as_secs_f64() * 1e3);
        if entries.is_empty() {
            bail!("empty timeline for {epc}");
        }
        inferred += entries.iter().filter(|e| e.inferred_via.is_some()).count();
    }
    tl.sort_by(f64::total_cmp);

    // 6. Recall scope: every unit of the GTIN+lot with its current location.
    let t = Instant::now();
    let mut found = 0usize;
    let mut located = 0usize;
    let mut after = None;
    loop {
        let f = UnitFilter {
            lot: Some(RECALL_LOT.into()),
            epc_prefix: Some(format!("urn:epc:id:sgtin:{COMPANY}.{RECALL_ITEM}.")),
            after_epc: after.clone(),
            limit: Some(100_000),
            ..Default::default()
        };
        let page = store.locate_units(&f).await?;
        let n = page.len();
        found += n;
        located += page.iter().filter(|(_, l)| l.is_some()).count();
        after = page.last().map(|(u, _)| u.epc.clone());
        if n < 100_000 || after.is_none() {
            break;
        }
    }
    let recall_scope_s = t.elapsed().as_secs_f64();
    if found as u64 != RECALL_UNITS {
        bail!("recall scope found {found} units, expected {RECALL_UNITS}");
    }

    let loadavg_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    Ok(json!({
        "backend": format!("{:?}", args.backend).to_lowercase(),
        "scale": args.scale,
        "writers": args.writers,
        "capture_epcs_per_s": capture_epcs_per_s.round(),
        "capture_events_per_s_1epc": capture_events_per_s_1epc.round(),
        "ceiling_epcs_per_s": ceiling_epcs_per_s.round(),
        "ceiling_epcs": ceil_rows,
        "capture_fresh_epcs_per_s": fresh_rate.round(),
        "ceiling_rounds_epcs_per_s": ceiling_rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
        "capture_fresh_rounds_epcs_per_s": fresh_rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
        "ratio_to_ceiling": fresh_rate / ceiling_epcs_per_s,
        "ratio_loaded_to_ceiling": capture_epcs_per_s / ceiling_epcs_per_s,
        "capture_p50_ms": pct(&lat, 0.5),
        "capture_p99_ms": pct(&lat, 0.99),
        "capture_p99_ms_1epc": pct(&lat1, 0.99),
        "stored_epc_observations": stored,
        "timeline_samples": tl.len(),
        "timeline_other_units": units,
        "timeline_inferred_entries": inferred,
        "timeline_p50_ms": pct(&tl, 0.5),
        "timeline_p99_ms": pct(&tl, 0.99),
        "recall_scope_s": recall_scope_s,
        "recall_units": found,
        "recall_units_located": located,
        "total_s": started.elapsed().as_secs_f64(),
        "machine": mach,
        "loadavg_end": loadavg_end.trim(),
    }))
}
