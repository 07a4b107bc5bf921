//! unitrace HTTP server: the EPCIS 2.0 REST binding, the unit-centred API and a GS1 Digital Link
//! resolver, over any [`Store`].
//!
//! [`run`] serves a router on a listener until `shutdown` completes, then finishes the capture
//! jobs already accepted (graceful shutdown). Tests bind port 0 and pass the listener in.

mod docs;
mod epcis;
pub mod jobs;
mod metrics;
mod ops_a;
mod ops_b;
pub mod params;
pub mod problem;
pub mod subs;
mod units;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use unitrace_store::Store;

pub use jobs::{Job, Jobs};
pub use metrics::Metrics;

/// Limits and settings of the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest accepted capture body, bytes (`GS1-EPCIS-Capture-File-Size-Limit`).
    pub max_capture_bytes: usize,
    /// Most events in one capture (`GS1-EPCIS-Capture-Limit`).
    pub max_events_per_capture: usize,
    /// Largest body of any other request, bytes.
    pub max_body_bytes: usize,
    /// Capture jobs waiting to be stored; beyond this a capture is refused with 503.
    pub queue_len: usize,
    /// Finished capture jobs kept (in the store) for `GET /capture`.
    pub jobs_kept: usize,
    /// Largest `perPage`.
    pub max_per_page: u32,
    /// Named queries kept.
    pub max_named_queries: usize,
    /// The state file of earlier versions (named queries and subscriptions): read once at start
    /// if it exists, imported into the store, and renamed to `<file>.imported`. Named queries and
    /// subscriptions now live in the store.
    pub state_file: Option<std::path::PathBuf>,
    /// Run the alert detector on this node. Nodes sharing one database may leave it to some of
    /// them (alerts are raised once whichever node finds them).
    pub detect_alerts: bool,
    /// A PEM file of root certificates trusted for `https://` webhook destinations besides the
    /// built-in (Mozilla) roots: a private CA of a partner, or of a test.
    pub webhook_ca_file: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_capture_bytes: 64 * 1024 * 1024,
            max_events_per_capture: 10_000,
            max_body_bytes: 1024 * 1024,
            queue_len: 64,
            jobs_kept: 10_000,
            max_per_page: 1_000,
            max_named_queries: 1_000,
            state_file: None,
            detect_alerts: true,
            webhook_ca_file: None,
        }
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub jobs: Arc<Jobs>,
    pub metrics: Arc<Metrics>,
    /// What this node last saw of each subscription's delivery (for `/metrics`).
    pub subs: Arc<subs::Status>,
    /// A state file of an earlier version, read and waiting to be imported by [`run`].
    legacy_state: Arc<Mutex<Option<subs::Persisted>>>,
    /// Bounds the documents parsed and validated at once (each may be up to the capture size).
    pub prepare_permits: Arc<tokio::sync::Semaphore>,
    /// Set to true when the server stops: ends WebSocket streams and the delivery loop.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Extra roots for webhook TLS (from [`Config::webhook_ca_file`]).
    pub(crate) webhook_roots: Arc<Vec<reqwest::Certificate>>,
}

impl AppState {
    /// Fails when a state file of an earlier version exists and cannot be read, or when the
    /// webhook CA file cannot be read or holds no certificate.
    pub fn new(store: Arc<dyn Store>, config: Config) -> std::io::Result<AppState> {
        let legacy = subs::read_state_file(config.state_file.as_deref())?;
        let webhook_roots = match &config.webhook_ca_file {
            None => Vec::new(),
            Some(p) => {
                let bad = |what: String| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("webhook CA file {}: {what}", p.display()),
                    )
                };
                let pem = std::fs::read(p).map_err(|e| bad(e.to_string()))?;
                let certs =
                    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
                if certs.is_empty() {
                    return Err(bad("no PEM certificate in it".into()));
                }
                certs
            }
        };
        Ok(AppState {
            store,
            jobs: Arc::new(Jobs::new(config.queue_len, config.jobs_kept)),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            subs: Arc::default(),
            legacy_state: Arc::new(Mutex::new(legacy)),
            prepare_permits: Arc::new(tokio::sync::Semaphore::new(PREPARE_CONCURRENCY)),
            stopping: Arc::new(tokio::sync::watch::channel(false).0),
            webhook_roots: Arc::new(webhook_roots),
        })
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 UTC text of epoch milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    unitrace_epcis::time::Instant::format_millis(ms.div_euclid(1000), ms.rem_euclid(1000) as u32)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The headers every EPCIS answer carries.
pub(crate) fn add_gs1_headers(h: &mut HeaderMap) {
    h.insert("GS1-EPCIS-Version", HeaderValue::from_static("2.0.0"));
    h.insert("GS1-CBV-Version", HeaderValue::from_static("2.0.0"));
}

/// Capture documents parsed and validated at the same time.
const PREPARE_CONCURRENCY: usize = 4;

/// Number of background capture workers (captures share group commits in the store).
const WORKERS: usize = 4;

fn spawn_workers(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(rx) = lock(&state.jobs.rx).take() else {
        return Vec::new();
    };
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    (0..WORKERS)
        .map(|_| {
            let rx = rx.clone();
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    let msg = rx.lock().await.recv().await;
                    let Some((id, prepared, mode)) = msg else {
                        break;
                    };
                    epcis::run_job(&state, id, prepared, mode).await;
                }
            })
        })
        .collect()
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    let capture_limit = DefaultBodyLimit::max(state.config.max_capture_bytes);
    let body_limit = DefaultBodyLimit::max(state.config.max_body_bytes);
    let capture = Router::new()
        .route(
            "/capture",
            post(epcis::post_capture)
                .get(epcis::list_capture)
                .options(epcis::options),
        )
        .layer(capture_limit);
    Router::new()
        .route("/", get(docs::root).options(epcis::options))
        .route(
            "/capture/{id}",
            get(epcis::get_capture).options(epcis::options),
        )
        .route(
            "/events",
            get(epcis::get_events)
                .post(epcis::post_event)
                .options(epcis::options),
        )
        .route(
            "/events/{id}",
            get(epcis::get_event).options(epcis::options),
        )
        .route(
            "/eventTypes",
            get(epcis::event_types).options(epcis::options),
        )
        .route(
            "/{resource}",
            get(epcis::list_resource).options(epcis::options),
        )
        .route(
            "/{resource}/{id}",
            get(epcis::get_resource).options(epcis::options),
        )
        .route(
            "/{resource}/{id}/events",
            get(epcis::resource_events).options(epcis::options),
        )
        .route(
            "/queries",
            get(epcis::list_queries)
                .post(epcis::post_query)
                .options(epcis::options),
        )
        .route(
            "/queries/{name}",
            get(epcis::get_query)
                .delete(epcis::delete_query)
                .options(epcis::options),
        )
        .route(
            "/queries/{name}/subscriptions",
            get(epcis::list_subscriptions)
                .post(epcis::post_subscription)
                .options(epcis::options),
        )
        .route(
            "/queries/{name}/subscriptions/{id}",
            get(epcis::get_subscription)
                .delete(epcis::delete_subscription)
                .options(epcis::options),
        )
        .route(
            "/queries/{name}/events",
            get(epcis::query_events).options(epcis::options),
        )
        .route("/items", get(units::list_items))
        .route("/items/{id}", get(units::get_item))
        .route("/items/{id}/tree", get(units::item_tree))
        .route("/items/{id}/genealogy", get(units::item_genealogy))
        .route(
            "/locations/{id}",
            get(units::get_location).put(units::put_location),
        )
        .route(
            "/products/{gtin}",
            get(units::get_product).put(units::put_product),
        )
        .route(
            "/nextPageToken/{token}",
            axum::routing::delete(epcis::delete_page_token).options(epcis::options),
        )
        .route("/healthz", get(docs::healthz))
        .route("/readyz", get(docs::readyz))
        .route("/metrics", get(docs::metrics))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::docs))
        .merge(ops_a::routes())
        .merge(ops_b::routes())
        .fallback(units::resolver_fallback)
        .layer(body_limit)
        .merge(capture)
        .layer(axum::middleware::from_fn(epcis::negotiate_versions))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish and
/// stores every capture job already accepted before returning.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let legacy = lock(&state.legacy_state).take();
    if let (Some(old), Some(file)) = (legacy, state.config.state_file.as_deref()) {
        subs::import_state_file(&state, file, old).await?;
    }
    // The lease first: jobs accepted from now on name this node.
    if let Err(e) = state.jobs.renew_lease(state.store.as_ref()).await {
        tracing::warn!(error = %e, "node lease not written");
    }
    // Renewed until every accepted job is stored (past the start of shutdown).
    let (lease_stop, lease_rx) = tokio::sync::watch::channel(false);
    let lease = {
        let state = state.clone();
        tokio::spawn(async move { state.jobs.keep_lease(state.store.as_ref(), lease_rx).await })
    };
    let workers = spawn_workers(&state);
    let delivery = tokio::spawn(subs::delivery_loop(
        state.clone(),
        state.stopping.subscribe(),
    ));
    let ops_a = tokio::spawn(ops_a::background(state.clone(), state.stopping.subscribe()));
    let ops_b = tokio::spawn(ops_b::background(state.clone(), state.stopping.subscribe()));
    let stopping = state.stopping.clone();
    let shutdown = async move {
        shutdown.await;
        // WebSocket streams end now, so that serving can finish.
        let _ = stopping.send(true);
    };
    let app = router(state.clone());
    let res = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    // No new jobs; the workers drain the queue and stop.
    lock(&state.jobs.tx).take();
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(600), w).await;
    }
    let _ = lease_stop.send(true);
    let _ = lease.await;
    if state.jobs.pending() == 0 {
        state.jobs.drop_lease(state.store.as_ref()).await;
    }
    let _ = state.stopping.send(true);
    let _ = delivery.await;
    let _ = ops_a.await;
    let _ = ops_b.await;
    res
}
