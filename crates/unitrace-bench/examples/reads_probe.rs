//! Timeline and recall-scope reads on a store kept by `unitrace-bench-store --keep`, without
//! loading it again: `cargo run --release -p unitrace-bench --example reads_probe -- URL [N]`
//! (URL: the SQLite file or PostgreSQL database printed by `--keep`). Half the N timelines are of
//! recall units (inside cases inside pallets), half of other units (some of which may not exist at
//! small scales: their timelines are empty). Two rounds, so that the second runs on warm caches.
use std::sync::Arc;
use std::time::Instant;
use unitrace_store::{Store, SystemClock, UnitFilter};
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args().nth(1).unwrap();
    let n: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2000);
    let store: Arc<dyn Store> = if url.starts_with("postgres") {
        Arc::new(
            unitrace_store_postgres::PostgresStore::connect(&url, Arc::new(SystemClock)).await?,
        )
    } else {
        Arc::new(unitrace_store_sqlite::SqliteStore::open(&url, Arc::new(SystemClock)).await?)
    };
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..2 {
        let mut tl = Vec::new();
        for i in 0..n {
            let epc = if i % 2 == 0 {
                format!("urn:epc:id:sgtin:0614141.100000.{}", next() % 100_000)
            } else {
                let s = next() % 800_000;
                format!(
                    "urn:epc:id:sgtin:0614141.{:06}.{}",
                    200_000 + (s / 500) % 50,
                    s
                )
            };
            let t = Instant::now();
            let e = store.timeline(&epc).await?;
            tl.push(t.elapsed().as_secs_f64() * 1e3);
            if e.is_empty() && i % 2 == 0 {
                anyhow::bail!("empty {epc}");
            }
        }
        tl.sort_by(f64::total_cmp);
        println!(
            "round {round}: timeline p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}",
            tl[tl.len() / 2],
            tl[tl.len() * 9 / 10],
            tl[tl.len() * 99 / 100],
            tl[tl.len() - 1]
        );
    }
    let t = Instant::now();
    let f0 = UnitFilter {
        lot: Some("LOT-RECALL-1".into()),
        epc_prefix: Some("urn:epc:id:sgtin:0614141.100000.".into()),
        limit: Some(100_000),
        ..Default::default()
    };
    let l = store.list_units(&f0).await?;
    println!(
        "list_units {} units {:.3} s",
        l.len(),
        t.elapsed().as_secs_f64()
    );
    drop(l);
    let t = Instant::now();
    let f = UnitFilter {
        lot: Some("LOT-RECALL-1".into()),
        epc_prefix: Some("urn:epc:id:sgtin:0614141.100000.".into()),
        limit: Some(100_000),
        ..Default::default()
    };
    let page = store.locate_units(&f).await?;
    println!(
        "recall {} units {:.3} s",
        page.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
