//! HTTP benchmark: capture of 500-EPC ObjectEvents through `POST /capture`, then `GET /items/{id}`
//! latency at a fixed request rate, against an in-process server with a temporary SQLite store.
//!
//! `cargo run --release -p unitrace-server --example bench_http -- [DOCS] [RPS] [SECONDS]`
//! prints one JSON object. The process holds both the server and the client, so `max_rss_mb` is
//! an upper bound for the server alone. Environment: `BENCH_DETECTOR=off` (server without the
//! alert detector; the detector is then timed alone at the end), `BENCH_SETTLE=1` (read items
//! only once the detector has caught up with the capture), `BENCH_URL=http://...` (load a server
//! running elsewhere, e.g. `unitrace serve`, whose memory can then be measured alone).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unitrace_server::{run, AppState, Config};
use unitrace_store::SystemClock;
use unitrace_store_sqlite::SqliteStore;

const EPCS_PER_EVENT: usize = 500;
const EVENTS_PER_DOC: usize = 10;
const CLIENTS: usize = 4;

fn doc(d: usize) -> Vec<u8> {
    let events: Vec<Value> = (0..EVENTS_PER_DOC)
        .map(|e| {
            let base = (d * EVENTS_PER_DOC + e) * EPCS_PER_EVENT;
            let epcs: Vec<String> = (0..EPCS_PER_EVENT)
                .map(|i| format!("urn:epc:id:sgtin:0614141.107346.{}", base + i))
                .collect();
            json!({"type": "ObjectEvent", "eventTime": format!("2024-01-01T00:{:02}:{:02}Z", (d / 60) % 60, d % 60),
                "eventTimeZoneOffset": "+00:00", "action": "ADD", "epcList": epcs,
                "bizStep": "commissioning", "disposition": "active",
                "bizLocation": {"id": "urn:epc:id:sgln:0614141.07346.0"},
                "readPoint": {"id": format!("urn:epc:id:sgln:0614141.07346.{e}")}})
        })
        .collect();
    serde_json::to_vec(&json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": events}}))
    .unwrap()
}

fn max_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(-1.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let docs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let rps: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let secs: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
    // BENCH_URL=http://host:port: load a server running elsewhere (e.g. `unitrace serve`, to
    // measure its memory alone) instead of one in this process.
    let external = std::env::var("BENCH_URL").ok().filter(|u| !u.is_empty());
    // BENCH_DETECTOR=off: the same run without the alert detector in the server (to see its
    // cost); the detector then runs alone over the whole store at the end, timed.
    let detector = std::env::var("BENCH_DETECTOR").map_or(true, |v| v != "off");
    // BENCH_SETTLE=1: read items only once the detector has examined everything captured.
    let settle = std::env::var("BENCH_SETTLE").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().unwrap();
    let mut local = None;
    let base = match &external {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let store = SqliteStore::open(dir.path().join("bench.sqlite"), Arc::new(SystemClock))
                .await
                .unwrap();
            let config = Config {
                detect_alerts: detector,
                ..Config::default()
            };
            let store: Arc<dyn unitrace_store::Store> = Arc::new(store);
            let state = AppState::new(store.clone(), config).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(run(listener, state, async {
                let _ = rx.await;
            }));
            local = Some((store, tx, server));
            base
        }
    };
    let client = reqwest::Client::new();
    let bodies: Vec<Vec<u8>> = (0..docs).map(doc).collect();
    let bodies = Arc::new(bodies);

    // Capture: CLIENTS concurrent posters, each waits for its jobs at the end.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let client = client.clone();
        let base = base.clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut jobs = Vec::new();
            for d in (c..bodies.len()).step_by(CLIENTS) {
                loop {
                    let r = client
                        .post(format!("{base}/capture"))
                        .header("content-type", "application/ld+json")
                        .body(bodies[d].clone())
                        .send()
                        .await
                        .unwrap();
                    if r.status() == 202 {
                        jobs.push(r.headers()["location"].to_str().unwrap().to_string());
                        break;
                    }
                    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            for j in jobs {
                loop {
                    let v: Value = client
                        .get(format!("{base}{j}"))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    if v["running"] == false {
                        assert_eq!(v["success"], true, "{v}");
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let capture_s = start.elapsed().as_secs_f64();
    let epcs = docs * EVENTS_PER_DOC * EPCS_PER_EVENT;
    let mut settle_s = None;
    if let (true, true, Some((store, _, _))) = (settle, detector, &local) {
        let t = Instant::now();
        wait_for_detector(store.as_ref()).await;
        settle_s = Some(t.elapsed().as_secs_f64());
    }

    // GET /items/{id} at a fixed rate.
    let total = rps * secs;
    let interval = Duration::from_nanos(1_000_000_000 / rps.max(1));
    let mut handles = Vec::with_capacity(total as usize);
    let t0 = tokio::time::Instant::now();
    for i in 0..total {
        tokio::time::sleep_until(t0 + interval * i as u32).await;
        let client = client.clone();
        let url = format!(
            "{base}/items/urn%3Aepc%3Aid%3Asgtin%3A0614141.107346.{}",
            (i as usize * 7919) % epcs
        );
        handles.push(tokio::spawn(async move {
            let s = Instant::now();
            let r = client.get(url).send().await.unwrap();
            let ok = r.status() == 200;
            let _ = r.bytes().await;
            (s.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut lat = Vec::with_capacity(handles.len());
    let mut errors = 0;
    for h in handles {
        let (ms, ok) = h.await.unwrap();
        errors += usize::from(!ok);
        lat.push(ms);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let max_rss = max_rss_mb();
    // The detector alone over everything captured (only when the server did not run it).
    let mut detector_figures = json!(null);
    if let (false, Some((store, _, _))) = (detector, &local) {
        let t = Instant::now();
        let (mut events, mut units) = (0, 0);
        loop {
            let pass = unitrace_ops::alerts::detect(store.as_ref(), 0)
                .await
                .expect("detect");
            events += pass.events;
            units += pass.units;
            if !pass.more {
                break;
            }
        }
        let s = t.elapsed().as_secs_f64();
        detector_figures =
            json!({"events": events, "units": units, "s": s, "units_per_s": units as f64 / s});
    }
    let out = json!({
        "capture_docs": docs,
        "capture_events": docs * EVENTS_PER_DOC,
        "capture_epcs": epcs,
        "capture_s": capture_s,
        "capture_epcs_per_s": epcs as f64 / capture_s,
        "items_requests": lat.len(),
        "items_rps_target": rps,
        "items_errors": errors,
        "items_p50_ms": pct(0.50),
        "items_p99_ms": pct(0.99),
        "max_rss_mb_server_and_client": max_rss,
        "server": if external.is_some() { "external" } else { "in process" },
        "detector": detector,
        "settled_before_items_s": settle_s,
        "detector_alone": detector_figures,
    });
    println!("{out}");
    if let Some((_, tx, server)) = local {
        let _ = tx.send(());
        server.await.unwrap().unwrap();
    }
}

/// Wait until the alert detector's watermark reaches the newest stored event.
async fn wait_for_detector(store: &dyn unitrace_store::Store) {
    use unitrace_ops::alerts::{KIND_WATERMARK, WATERMARK_KEY};
    use unitrace_store::{EventQuery, OrderBy, OrderDirection};
    let newest = store
        .query_events(&EventQuery {
            order_by: OrderBy::RecordTime,
            order_direction: OrderDirection::Desc,
            per_page: Some(1),
            ..Default::default()
        })
        .await
        .unwrap()
        .events
        .into_iter()
        .next()
        .map(|e| (e.record_time, e.seq));
    let Some(newest) = newest else { return };
    loop {
        if let Some(r) = store
            .get_record(KIND_WATERMARK, WATERMARK_KEY)
            .await
            .unwrap()
        {
            let at = (
                r.body["record_time"].as_i64().unwrap_or(i64::MIN),
                r.body["seq"].as_i64().unwrap_or(i64::MIN),
            );
            if at >= newest {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
