//! Timeline and recall-scope reads on a store kept by `unitrace-bench-store --keep`, without
//! loading it again: `cargo run --release -p unitrace-bench --example reads_probe -- URL UNITS [N]`
//! (URL: the SQLite file or PostgreSQL database printed by `--keep`; UNITS: the run's
//! `timeline_other_units`). N timelines (default 2,000) of the same units the benchmark reads
//! (`unitrace_bench::timeline_sample`), twice, so that the second round runs on warm caches.

use std::sync::Arc;
use std::time::Instant;
use unitrace_store::{Store, SystemClock, UnitFilter};
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: reads_probe URL UNITS [N]"))?;
    let units: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("usage: reads_probe URL UNITS [N]"))?;
    let n: usize = std::env::args()
        .nth(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2000);
    let store: Arc<dyn Store> = if url.starts_with("postgres") {
        Arc::new(
            unitrace_store_postgres::PostgresStore::connect(&url, Arc::new(SystemClock)).await?,
        )
    } else {
        Arc::new(unitrace_store_sqlite::SqliteStore::open(&url, Arc::new(SystemClock)).await?)
    };
    let sample = unitrace_bench::timeline_sample(n, units);
    for round in 0..2 {
        let mut tl = Vec::new();
        for epc in &sample {
            let t = Instant::now();
            let e = store.timeline(epc).await?;
            tl.push(t.elapsed().as_secs_f64() * 1e3);
            if e.is_empty() {
                anyhow::bail!("empty timeline for {epc}");
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
    // The recall scope as the benchmark reads it: the list alone, then with locations.
    let recall = UnitFilter {
        lot: Some("LOT-RECALL-1".into()),
        epc_prefix: Some("urn:epc:id:sgtin:0614141.100000.".into()),
        limit: Some(100_000),
        ..Default::default()
    };
    let t = Instant::now();
    let n = store.list_units(&recall).await?.len();
    println!("list_units {n} units {:.3} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let n = store.locate_units(&recall).await?.len();
    println!("recall {n} units {:.3} s", t.elapsed().as_secs_f64());
    Ok(())
}
