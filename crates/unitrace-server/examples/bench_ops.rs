//! Benchmark of recalls and receiving (issue #6, item 8).
//!
//! `cargo run --release -p unitrace-server --example bench_ops -- [--scale N] [--recall-units N]
//! [--scans N] [--db sqlite:PATH|postgres://URL-of-an-empty-database]` prints one JSON object.
//!
//! Load (through `Store::capture`, the engine every capture goes through): `--recall-units` units
//! of one GTIN and lot (default 100,000), packed in cases of 50 and pallets of 40 cases; half the
//! pallets shipped (in transit to a store), half stored on DC shelves, with master data for the
//! DC's hierarchy; then other units (commissioning + shipping ObjectEvents of 1,000 EPCs) until
//! `--scale` EPC observations are stored (default 10,000,000).
//!
//! Measured:
//! - `recall_resolve_s`: the criteria (GTIN + lot) resolved to the affected units, each placed
//!   through its containers (`recalls::resolve` + `recalls::scope`);
//! - `recall_create_s`: the whole `POST /recalls` work: resolve, describe every unit (location
//!   names, site, destination of units in transit) and record the recall with one item per unit;
//! - `recall_progress_s`: progress from every unit's current state;
//! - receiving into one session with an expected list of `--scans` units: scans per second in
//!   requests of 1,000 lines, and in requests of one scan from 4 concurrent clients.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use unitrace_ops::{recalls, receiving};
use unitrace_store::{
    Action, CaptureEvent, CaptureMode, EpcRole, EventType, Location, Store, SystemClock,
};

const COMPANY: &str = "0614141";
const RECALL_ITEM: &str = "100000";
/// GTIN of item reference 100000 of company 0614141.
const RECALL_GTIN: &str = "10614141000002";
const LOT: &str = "LOT-RECALL-OPS";
const CASE: usize = 50;
const PALLET: usize = 40;
const FILL_EPCS: usize = 1_000;
const T0: i64 = 1_767_225_600_000;

struct Args {
    scale: u64,
    recall_units: usize,
    scans: usize,
    db: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        scale: 10_000_000,
        recall_units: 100_000,
        scans: 20_000,
        db: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--scale" => a.scale = val.parse().expect("--scale N"),
            "--recall-units" => a.recall_units = val.parse().expect("--recall-units N"),
            "--scans" => a.scans = val.parse().expect("--scans N"),
            "--db" => a.db = Some(val),
            o => panic!("unknown argument {o}"),
        }
        i += 2;
    }
    a
}

fn sgln(ext: &str) -> String {
    format!("urn:epc:id:sgln:{COMPANY}.00050.{ext}")
}

/// Event factory: distinct hash IDs and increasing event times.
struct Events(u64);

impl Events {
    fn next(&mut self, ty: EventType) -> CaptureEvent {
        self.0 += 1;
        CaptureEvent::new(
            format!("ni:///sha-256;{:064x}?ver=CBV2.0", self.0 + (7 << 56)),
            ty,
            T0 + self.0 as i64 * 10,
        )
    }

    fn observe(
        &mut self,
        action: Action,
        step: &str,
        disp: &str,
        loc: Option<&str>,
        epcs: &[String],
    ) -> CaptureEvent {
        let mut e = self.next(EventType::ObjectEvent);
        e.action = Some(action);
        e.biz_step = Some(step.into());
        e.disposition = Some(disp.into());
        e.read_point = loc.map(str::to_string);
        e.biz_location = loc.map(str::to_string);
        e.epcs = epcs.iter().map(|x| (EpcRole::Epc, x.clone())).collect();
        e.document = json!({"type": "ObjectEvent", "bizStep": step, "epcCount": epcs.len()});
        e
    }

    fn pack(&mut self, parent: &str, kids: &[String], loc: &str) -> CaptureEvent {
        let mut e = self.next(EventType::AggregationEvent);
        e.action = Some(Action::Add);
        e.biz_step = Some("packing".into());
        e.disposition = Some("in_progress".into());
        e.biz_location = Some(loc.into());
        e.epcs = std::iter::once((EpcRole::ParentId, parent.to_string()))
            .chain(kids.iter().map(|k| (EpcRole::ChildEpc, k.clone())))
            .collect();
        e.document = json!({"type": "AggregationEvent", "parentID": parent});
        e
    }
}

async fn capture(store: &dyn Store, evs: Vec<CaptureEvent>) -> u64 {
    let n: u64 = evs.iter().map(|e| e.epcs.len() as u64).sum();
    let rep = store
        .capture(evs, CaptureMode::Rollback)
        .await
        .expect("capture");
    assert!(rep.first_failure().is_none(), "{:?}", rep.first_failure());
    n
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(SystemClock);
    let (store, backend): (Arc<dyn Store>, &str) = match &a.db {
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => (
            Arc::new(
                unitrace_store_postgres::PostgresStore::connect(u, clock)
                    .await
                    .expect("PostgreSQL"),
            ),
            "postgres",
        ),
        Some(p) => (
            Arc::new(
                unitrace_store_sqlite::SqliteStore::open(
                    p.strip_prefix("sqlite:").unwrap_or(p),
                    clock,
                )
                .await
                .expect("SQLite"),
            ),
            "sqlite",
        ),
        None => (
            Arc::new(
                unitrace_store_sqlite::SqliteStore::open(dir.path().join("ops.sqlite"), clock)
                    .await
                    .expect("SQLite"),
            ),
            "sqlite",
        ),
    };
    let s = store.as_ref();
    let load_start = loadavg();
    let started = Instant::now();

    // Master data: DC site > hall > 20 shelves; a store.
    s.upsert_location(&Location::new(sgln("0"), None))
        .await
        .unwrap();
    s.upsert_location(&Location::new(sgln("HALL"), Some(&sgln("0"))))
        .await
        .unwrap();
    for k in 0..20 {
        let mut l = Location::new(sgln(&format!("S{k:02}")), Some(&sgln("HALL")));
        l.name = Some(format!("DC hall, shelf {k}"));
        s.upsert_location(&l).await.unwrap();
    }
    let plant = format!("urn:epc:id:sgln:{COMPANY}.00001.0");
    let shop = format!("urn:epc:id:sgln:{COMPANY}.00099.0");

    // 1. The recall population.
    let mut ev = Events(0);
    let mut stored = 0u64;
    let units: Vec<String> = (0..a.recall_units)
        .map(|i| format!("urn:epc:id:sgtin:{COMPANY}.{RECALL_ITEM}.{i}"))
        .collect();
    let mut batch = Vec::new();
    for chunk in units.chunks(FILL_EPCS) {
        let mut e = ev.observe(Action::Add, "commissioning", "active", Some(&plant), chunk);
        e.ilmd_lot = Some(LOT.into());
        batch.push(e);
    }
    stored += capture(s, std::mem::take(&mut batch)).await;
    let cases: Vec<(String, &[String])> = units
        .chunks(CASE)
        .enumerate()
        .map(|(i, c)| (format!("urn:epc:id:sscc:{COMPANY}.{:010}", i), c))
        .collect();
    for (c, kids) in &cases {
        batch.push(ev.pack(c, kids, &plant));
    }
    let case_ids: Vec<String> = cases.iter().map(|(c, _)| c.clone()).collect();
    let pallets: Vec<String> = (0..case_ids.len().div_ceil(PALLET))
        .map(|p| format!("urn:epc:id:sscc:{COMPANY}.{:010}", 9_000_000 + p))
        .collect();
    for (p, kids) in pallets.iter().zip(case_ids.chunks(PALLET)) {
        batch.push(ev.pack(p, kids, &plant));
    }
    stored += capture(s, std::mem::take(&mut batch)).await;
    let (shipped, kept) = pallets.split_at(pallets.len() / 2);
    let mut ship = ev.observe(Action::Observe, "shipping", "in_transit", None, shipped);
    ship.read_point = Some(plant.clone());
    ship.document["destinationList"] = json!([{"type": "location", "destination": shop}]);
    batch.push(ship);
    for (i, p) in kept.iter().enumerate() {
        let shelf = sgln(&format!("S{:02}", i % 20));
        batch.push(ev.observe(
            Action::Observe,
            "storing",
            "sellable_not_accessible",
            Some(&shelf),
            std::slice::from_ref(p),
        ));
    }
    stored += capture(s, std::mem::take(&mut batch)).await;

    // 2. Filler up to the scale: commissioning + shipping of other units.
    let mut n = 0u64;
    let mut fill_epcs = Vec::new();
    while stored < a.scale {
        let epcs: Vec<String> = (0..FILL_EPCS as u64)
            .map(|i| {
                format!(
                    "urn:epc:id:sgtin:{COMPANY}.{:06}.{}",
                    200_000 + (n / 50) % 100,
                    n * FILL_EPCS as u64 + i
                )
            })
            .collect();
        let loc = format!("urn:epc:id:sgln:{COMPANY}.{:05}.0", 1 + n % 8);
        let mut c = ev.observe(Action::Add, "commissioning", "active", Some(&loc), &epcs);
        c.ilmd_lot = Some(format!("LOT-{}", n / 20));
        batch.push(c);
        batch.push(ev.observe(Action::Observe, "shipping", "in_transit", Some(&loc), &epcs));
        if fill_epcs.len() < a.scans {
            fill_epcs.extend(epcs.iter().take(a.scans - fill_epcs.len()).cloned());
        }
        n += 1;
        if batch.len() >= 40 {
            stored += capture(s, std::mem::take(&mut batch)).await;
        }
    }
    if !batch.is_empty() {
        stored += capture(s, std::mem::take(&mut batch)).await;
    }
    let load_s = started.elapsed().as_secs_f64();

    // 3. Recall.
    let criteria = recalls::Criteria {
        gtin: Some(RECALL_GTIN.into()),
        lots: vec![LOT.into()],
        ..Default::default()
    };
    let t = Instant::now();
    let r = recalls::resolve(&criteria).expect("criteria");
    let placed = recalls::scope(s, &r).await.expect("scope");
    let recall_resolve_s = t.elapsed().as_secs_f64();
    assert_eq!(placed.len(), a.recall_units);
    let in_transit = placed
        .iter()
        .filter(|p| receiving::condition(p.disposition.as_deref()) == "in_transit")
        .count();
    let t = Instant::now();
    let (recall, described) = recalls::create(
        s,
        &recalls::CreateRecall {
            criteria,
            ..Default::default()
        },
        T0 + 1_000_000_000,
    )
    .await
    .expect("create");
    let recall_create_s = t.elapsed().as_secs_f64();
    assert_eq!(recall.affected_count, a.recall_units);
    let with_destination = described.iter().filter(|u| u.destination.is_some()).count();
    let t = Instant::now();
    let (_, progress) = recalls::progress(s, &recall.id).await.expect("progress");
    let recall_progress_s = t.elapsed().as_secs_f64();
    assert_eq!(progress.outstanding, a.recall_units);

    // 4. Receiving: batches of 1,000 lines, then single scans from 4 clients.
    let half = fill_epcs.len() / 2;
    let session = receiving::open(
        s,
        &receiving::OpenReceiving {
            location: shop.clone(),
            expected: fill_epcs.clone(),
            ..Default::default()
        },
        T0 + 1_000_000_000,
    )
    .await
    .expect("open");
    let t = Instant::now();
    for chunk in fill_epcs[..half].chunks(1_000) {
        receiving::scan(s, &session.id, chunk).await.expect("scan");
    }
    let batched_per_s = half as f64 / t.elapsed().as_secs_f64();
    let singles: Vec<String> = fill_epcs[half..].iter().take(4_000).cloned().collect();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..4 {
        let (store, id) = (store.clone(), session.id.clone());
        let mine: Vec<String> = singles.iter().skip(k).step_by(4).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for u in mine {
                receiving::scan(store.as_ref(), &id, &[u])
                    .await
                    .expect("scan");
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    let single_per_s = singles.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (_, rec, counts) = receiving::status(s, &session.id).await.expect("status");
    let status_s = t.elapsed().as_secs_f64();
    assert_eq!(rec.received.len(), half + singles.len());
    let t = Instant::now();
    receiving::close(s, &session.id, T0 + 1_000_000_001)
        .await
        .expect("close");
    let close_s = t.elapsed().as_secs_f64();

    println!(
        "{}",
        json!({
            "backend": backend,
            "stored_epc_observations": stored,
            "load_s": load_s,
            "recall_units": a.recall_units,
            "recall_units_in_transit": in_transit,
            "recall_units_with_destination": with_destination,
            "recall_resolve_s": recall_resolve_s,
            "recall_create_s": recall_create_s,
            "recall_progress_s": recall_progress_s,
            "receiving_expected": fill_epcs.len(),
            "receiving_scans_per_s_batched_1000": batched_per_s.round(),
            "receiving_scans_per_s_single_4_clients": single_per_s.round(),
            "receiving_status_s": status_s,
            "receiving_status_observations": counts.observations,
            "receiving_close_s": close_s,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_start": load_start,
            "loadavg_end": loadavg(),
        })
    );
}
