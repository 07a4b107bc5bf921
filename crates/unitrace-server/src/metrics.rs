//! Prometheus metrics: requests and latency by route, captures, events stored.

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
        let _ = writeln!(
            out,
            "# HELP unitrace_capture_queue_depth Capture jobs waiting.\n# TYPE unitrace_capture_queue_depth gauge\nunitrace_capture_queue_depth {queue_depth}"
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
