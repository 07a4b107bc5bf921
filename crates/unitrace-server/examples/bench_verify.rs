//! Verification latency under a fixed open-loop load.
//!
//! `cargo run --release -p unitrace-server --example bench_verify [-- --rate 1000 --seconds 10
//! --scale 1 --db sqlite|postgres://...]`
//!
//! Loads the demo dataset into a fresh store (a temporary SQLite file, or a PostgreSQL URL whose
//! database must be empty), serves it on an ephemeral port with the whole server (routes,
//! background alert detector, verification log writer), lets the detector catch up, then sends
//! `GET /verify` requests at a fixed rate for some seconds: request i is due at start + i/rate and
//! is sent then whatever happened to earlier ones (open loop), and its latency is measured from
//! when it was due to when its answer was read, so a stall counts against every request it
//! delays (no coordinated omission). Identifiers cycle through every demo item, in EPC URI and
//! Digital Link form, some with lot and expiry. Prints one JSON object: p50/p90/p99/max in ms,
//! the achieved rate, verdict counts and errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use unitrace_capture::{capture_document, CaptureMode};
use unitrace_server::{run, AppState, Config};
use unitrace_store::{Location, Store, SystemClock};

struct Args {
    rate: f64,
    seconds: f64,
    scale: u32,
    db: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        rate: 1000.0,
        seconds: 10.0,
        scale: 1,
        db: "sqlite".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--rate" => a.rate = v()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--seconds" => a.seconds = v()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--scale" => a.scale = v()?.parse().map_err(|e| format!("--scale: {e}"))?,
            "--db" => a.db = v()?,
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if !(a.rate > 0.0 && a.seconds > 0.0) {
        return Err("--rate and --seconds must be positive".into());
    }
    Ok(a)
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> = if a.db.starts_with("postgres") {
        Arc::new(
            unitrace_store_postgres::PostgresStore::connect(&a.db, Arc::new(SystemClock))
                .await
                .expect("PostgreSQL store"),
        )
    } else {
        Arc::new(
            unitrace_store_sqlite::SqliteStore::open(
                dir.path().join("bench.sqlite"),
                Arc::new(SystemClock),
            )
            .await
            .expect("SQLite store"),
        )
    };
    let t_load = Instant::now();
    let demo = unitrace_demo::generate(&unitrace_demo::DemoConfig {
        scale: a.scale,
        ..Default::default()
    });
    for l in &demo.master_data.locations {
        let mut loc = Location::new(l.id.clone(), l.parent.as_deref());
        loc.latitude = Some(l.lat);
        loc.longitude = Some(l.lon);
        store.upsert_location(&loc).await.expect("location");
    }
    let mut items: Vec<String> = Vec::new();
    for doc in &demo.documents {
        let bytes = serde_json::to_vec(doc).expect("JSON");
        let r = capture_document(store.as_ref(), &bytes, CaptureMode::Rollback)
            .await
            .expect("capture");
        assert!(r.is_success(), "demo document refused");
        for e in doc["epcisBody"]["eventList"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if e["bizStep"] == "commissioning" {
                for x in e["epcList"].as_array().into_iter().flatten() {
                    if let Some(s) = x.as_str() {
                        items.push(s.to_string());
                    }
                }
            }
        }
    }
    let load_s = t_load.elapsed().as_secs_f64();
    // Catch the detector up before measuring (the server would do it in its first seconds).
    loop {
        let pass = unitrace_ops::alerts::detect(store.as_ref(), 0)
            .await
            .expect("detect");
        if !pass.more {
            break;
        }
    }
    let lot = &demo.stories.recalled_lot;
    let queries: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, epc)| match i % 4 {
            0 | 1 => format!("/verify?id={}", enc(epc)),
            2 => {
                let dl = unitrace_id::parse_any(epc)
                    .ok()
                    .and_then(|p| p.digital_link())
                    .unwrap_or_else(|| epc.clone());
                format!("/verify?id={}", enc(&dl))
            }
            _ => format!(
                "/verify?id={}&lot={}&expiry={}",
                enc(epc),
                lot.lot,
                lot.expiry
            ),
        })
        .collect();

    // The library call alone, in process, sequentially: what a verification costs without HTTP.
    let t_direct = Instant::now();
    let direct_n = queries.len().min(2000);
    for epc in items.iter().take(direct_n) {
        let req = unitrace_ops::verify::VerifyRequest {
            id: epc.clone(),
            ..Default::default()
        };
        unitrace_ops::verify::verify(store.as_ref(), &req, 0)
            .await
            .expect("verify");
    }
    let direct_us = t_direct.elapsed().as_secs_f64() * 1e6 / direct_n.max(1) as f64;

    let state = AppState::new(store.clone(), Config::default()).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, state, async {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    // Warm up connections and caches (not measured).
    for q in queries.iter().take(200) {
        let _ = client.get(format!("{base}{q}")).send().await;
    }

    let total = (a.rate * a.seconds).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / a.rate);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(f64, Option<String>)>();
    let start = Instant::now();
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let url = format!("{base}{}", queries[i % queries.len()]);
        let (client, tx) = (client.clone(), tx.clone());
        tokio::spawn(async move {
            let res = async {
                let r = client.get(url).send().await.ok()?;
                if !r.status().is_success() {
                    return Some(format!("status {}", r.status().as_u16()));
                }
                let v: Value = r.json().await.ok()?;
                v["verdict"].as_str().map(|s| s.to_string())
            }
            .await;
            let _ = tx.send((due.elapsed().as_secs_f64() * 1000.0, res));
        });
    }
    drop(tx);
    let mut lat = Vec::with_capacity(total);
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = 0usize;
    while let Some((ms, v)) = rx.recv().await {
        lat.push(ms);
        match v {
            Some(v) if !v.starts_with("status") => *verdicts.entry(v).or_default() += 1,
            _ => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let _ = stop_tx.send(());
    let _ = server.await;
    let out = json!({
        "benchmark": "verify",
        "store": if a.db.starts_with("postgres") { "postgres" } else { "sqlite" },
        "demo_scale": a.scale,
        "items": items.len(),
        "load_seconds": (load_s * 10.0).round() / 10.0,
        "target_rate": a.rate,
        "requests": lat.len(),
        "achieved_rate": (lat.len() as f64 / elapsed * 10.0).round() / 10.0,
        "errors": errors,
        "p50_ms": (pct(&lat, 0.50) * 1000.0).round() / 1000.0,
        "p90_ms": (pct(&lat, 0.90) * 1000.0).round() / 1000.0,
        "p99_ms": (pct(&lat, 0.99) * 1000.0).round() / 1000.0,
        "max_ms": (lat.last().copied().unwrap_or(f64::NAN) * 1000.0).round() / 1000.0,
        "verdicts": verdicts,
        "direct_call_mean_us": direct_us.round(),
    });
    println!("{out}");
}
