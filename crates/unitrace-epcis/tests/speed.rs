//! Throughput of parse + validate + hash for JSON (run in release:
//! `cargo test --release -p unitrace-epcis --test speed -- --ignored --nocapture`).

use std::time::Instant;

#[path = "../benches/support/docs.rs"]
#[allow(dead_code)]
mod docs;

use docs::json_document as document;

fn run(events: usize, epcs: usize) -> f64 {
    let doc = document(events, epcs);
    let t = Instant::now();
    let h = unitrace_epcis::validate_and_hash(&doc).unwrap();
    assert_eq!(h.len(), events);
    let secs = t.elapsed().as_secs_f64();
    let rate = events as f64 / secs;
    eprintln!(
        "{events} events x {epcs} EPCs ({} MB): {secs:.3} s, {rate:.0} events/s, {:.0} EPCs/s",
        doc.len() / 1_000_000,
        rate * epcs as f64
    );
    rate
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn throughput() {
    run(200_000, 1);
    run(2_000, 500);
}

#[test]
fn small_smoke() {
    run(100, 3);
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn throughput_parts() {
    let doc = document(100_000, 1);
    let t = Instant::now();
    let mut n = 0;
    unitrace_epcis::for_each_event(&doc, |_| n += 1).unwrap();
    eprintln!("parse only: {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    assert!(unitrace_epcis::validate_document(&doc).is_ok());
    eprintln!("parse+validate: {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    unitrace_epcis::hash_document(&doc).unwrap();
    eprintln!("parse+hash: {:.3}s", t.elapsed().as_secs_f64());
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn hash_parts() {
    use unitrace_epcis::hash;
    let doc: serde_json::Value = serde_json::from_slice(&document(1, 1)).unwrap();
    let ev = doc["epcisBody"]["eventList"][0].clone();
    let ctx = hash::HashContext::from_document(doc.as_object().unwrap());
    let n = 200_000;
    let t = Instant::now();
    let mut total = 0;
    for _ in 0..n {
        total += hash::pre_hash(&ev, &ctx).len();
    }
    eprintln!(
        "pre_hash: {:.0} ns ({total})",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let p = hash::pre_hash(&ev, &ctx);
    let t = Instant::now();
    for _ in 0..n {
        total += hash::hash_id(&p).len();
    }
    eprintln!(
        "hash_id: {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        total += hash::canonize_value("urn:epc:id:sgtin:0614141.107346.2017").len();
    }
    eprintln!(
        "canonize urn: {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        total += hash::fix_timestamp("2024-01-01T10:00:00.123+01:00").len();
    }
    eprintln!(
        "fix_timestamp: {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        total += hash::canonize_value("https://ref.gs1.org/cbv/BizStep-shipping").len();
    }
    eprintln!(
        "canonize cbv uri: {:.0} ns {total}",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn validate_parts() {
    let doc: serde_json::Value = serde_json::from_slice(&document(1, 1)).unwrap();
    let ev = doc["epcisBody"]["eventList"][0].clone();
    let mut v = unitrace_epcis::validate::Validator::default();
    let n = 200_000;
    let mut out = Vec::new();
    let t = Instant::now();
    for i in 0..n {
        v.event(i, &ev, &mut out);
    }
    assert!(out.is_empty());
    eprintln!(
        "validate event: {:.0} ns",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
