//! Prometheus metrics: requests and latency by route, captures, events and units stored.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::{lock, AppState};

/// Latency bucket upper bounds, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct RouteStats {
    /// By status code.
    requests: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_s: f64,
}

#[derive(Default)]
pub struct Metrics {
    /// (method, route) -> stats. Routes are templates, so the table stays small; requests matching
    /// no route are counted under "unmatched".
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
    pub events_captured: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub captures_failed: AtomicU64,
    pub capture_jobs: AtomicU64,
    /// What the store holds, counted now and then (see [`refresh_stats`]).
    stats: Mutex<StoreStats>,
}

/// Events and units in the store, as last counted.
#[derive(Debug, Clone, Copy, Default)]
struct StoreStats {
    /// When the last count finished (ms); 0: never.
    at_ms: i64,
    counting: bool,
    /// The highest event sequence number.
    events: i64,
    units: u64,
    /// The unit count stopped at [`MAX_UNITS_COUNTED`].
    units_capped: bool,
}

/// Units counted at most (beyond this the gauge says it is capped).
pub const MAX_UNITS_COUNTED: u64 = 1_000_000;
/// Units read per page while counting.
const COUNT_PAGE: u32 = 10_000;
/// A count is at most this old when a scrape asks for it (older: counted again, in background).
const STATS_TTL_MS: i64 = 60_000;

/// Counts what the store holds: events (its highest event sequence number: exact on SQLite, an
/// upper bound on PostgreSQL, whose sequence skips the numbers of a rolled-back capture) and units
/// (paging through them, at most [`MAX_UNITS_COUNTED`]). The store has no count of its own.
async fn count_store(
    store: &dyn unitrace_store::Store,
    page_len: u32,
    cap: u64,
) -> unitrace_store::StoreResult<StoreStats> {
    let newest = store
        .query_events(&unitrace_store::EventQuery {
            order_by: unitrace_store::OrderBy::RecordTime,
            order_direction: unitrace_store::OrderDirection::Desc,
            per_page: Some(1),
            ..Default::default()
        })
        .await?;
    let events = newest.events.first().map_or(0, |e| e.seq);
    let mut units = 0u64;
    let mut after: Option<String> = None;
    let units_capped = loop {
        let page = store
            .list_units(&unitrace_store::UnitFilter {
                after_epc: after.take(),
                limit: Some(page_len),
                ..Default::default()
            })
            .await?;
        units += page.len() as u64;
        if page.len() < page_len as usize {
            break false;
        }
        if units >= cap {
            break true;
        }
        after = page.last().map(|u| u.epc.clone());
    };
    Ok(StoreStats {
        at_ms: crate::now_ms(),
        counting: false,
        events,
        units,
        units_capped,
    })
}

/// Makes sure the store counts are at most [`STATS_TTL_MS`] old: the first time it waits for the
/// count (up to 5 s), later it counts in the background and the scrape gets the last count.
pub async fn refresh_stats(state: &AppState) {
    let now = crate::now_ms();
    let first = {
        let mut s = lock(&state.metrics.stats);
        if s.counting || (s.at_ms > 0 && now - s.at_ms < STATS_TTL_MS) {
            return;
        }
        s.counting = true;
        s.at_ms == 0
    };
    let st = state.clone();
    let task = tokio::spawn(async move {
        let res = count_store(st.store.as_ref(), COUNT_PAGE, MAX_UNITS_COUNTED).await;
        let mut s = lock(&st.metrics.stats);
        match res {
            Ok(n) => *s = n,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot count the store");
                s.counting = false;
            }
        }
    });
    if first {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        let mut t = lock(&self.routes);
        let s = t
            .entry((method.to_string(), route.to_string()))
            .or_default();
        *s.requests.entry(status).or_default() += 1;
        s.count += 1;
        s.sum_s += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self, queue_depth: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP unitrace_http_requests_total HTTP requests by route and status.\n# TYPE unitrace_http_requests_total counter"
        );
        let t = lock(&self.routes);
        for ((m, r), s) in t.iter() {
            for (code, n) in &s.requests {
                let _ = writeln!(
                    out,
                    "unitrace_http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{code}\"}} {n}",
                    esc(r)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP unitrace_http_request_duration_seconds Request latency by route.\n# TYPE unitrace_http_request_duration_seconds histogram"
        );
        for ((m, r), s) in t.iter() {
            let r = esc(r);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "unitrace_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "unitrace_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}\nunitrace_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}\nunitrace_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
                s.count, s.sum_s, s.count
            );
        }
        drop(t);
        for (name, help, v) in [
            (
                "unitrace_events_captured_total",
                "Events stored by this process.",
                &self.events_captured,
            ),
            (
                "unitrace_events_duplicate_total",
                "Events received again (same hash ID) and not stored twice.",
                &self.events_duplicate,
            ),
            (
                "unitrace_captures_failed_total",
                "Capture requests or jobs with at least one failed event.",
                &self.captures_failed,
            ),
            (
                "unitrace_capture_jobs_total",
                "Asynchronous capture jobs accepted.",
                &self.capture_jobs,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let st = *lock(&self.stats);
        if st.at_ms > 0 {
            let _ = writeln!(
                out,
                "# HELP unitrace_events_stored Events in the store (its highest event sequence number; on PostgreSQL an upper bound: a rolled-back capture leaves a gap).\n# TYPE unitrace_events_stored gauge\nunitrace_events_stored {}\n# HELP unitrace_units_stored Units (EPCs) in the store, counted at most once a minute, up to {MAX_UNITS_COUNTED}.\n# TYPE unitrace_units_stored gauge\nunitrace_units_stored {}\n# HELP unitrace_units_stored_capped 1 when the unit count stopped at its cap.\n# TYPE unitrace_units_stored_capped gauge\nunitrace_units_stored_capped {}",
                st.events,
                st.units,
                u8::from(st.units_capped)
            );
        }
        let _ = writeln!(
            out,
            "# HELP unitrace_capture_queue_depth Capture jobs accepted by this node and not finished.\n# TYPE unitrace_capture_queue_depth gauge\nunitrace_capture_queue_depth {queue_depth}"
        );
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    // Standard methods only, so that labels stay bounded.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "HEAD" | "PATCH") => m.to_string(),
        _ => "OTHER".to_string(),
    };
    let start = Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn store_counts_page_through_units_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = unitrace_store_sqlite::SqliteStore::open(
            dir.path().join("m.sqlite"),
            Arc::new(unitrace_store::SystemClock),
        )
        .await
        .unwrap();
        let empty = count_store(&store, 2, 10).await.unwrap();
        assert_eq!(
            (empty.events, empty.units, empty.units_capped),
            (0, 0, false)
        );
        let doc = r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
          "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z",
          "epcisBody":{"eventList":[
          {"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD",
           "epcList":["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.107346.2","urn:epc:id:sgtin:0614141.107346.3"]},
          {"type":"ObjectEvent","eventTime":"2024-01-02T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE",
           "epcList":["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.107346.4","urn:epc:id:sgtin:0614141.107346.5"]}]}}"#;
        unitrace_capture::capture_document(
            &store,
            doc.as_bytes(),
            unitrace_store::CaptureMode::Rollback,
        )
        .await
        .unwrap();
        for (page, cap, units, capped) in [
            (2, 10, 5, false),
            (5, 10, 5, false),
            (2, 4, 4, true),
            (10, 10, 5, false),
        ] {
            let n = count_store(&store, page, cap).await.unwrap();
            assert_eq!(n.events, 2);
            assert_eq!(
                (n.units, n.units_capped),
                (units, capped),
                "page {page}, cap {cap}"
            );
        }
    }
}
