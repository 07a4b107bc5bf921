//! Parse + validate + hash of EPCIS documents of ObjectEvents with 1 and with 500 EPCs, JSON and
//! XML (`cargo bench -p unitrace-epcis --bench epcis`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "support/docs.rs"]
mod docs;
use docs::{json_document, xml_document};

fn bench(c: &mut Criterion) {
    // (name, events, EPCs per event)
    let shapes = [("1-epc", 1000usize, 1usize), ("500-epc", 20, 500)];
    for (fmt, make) in [
        ("json", json_document as fn(usize, usize) -> Vec<u8>),
        ("xml", xml_document),
    ] {
        for (shape, events, epcs) in shapes {
            let doc = make(events, epcs);
            assert_eq!(
                unitrace_epcis::validate_and_hash(&doc).map(|h| h.len()),
                Ok(events),
                "{fmt} {shape}: the benchmark document must be valid"
            );
            let mut g = c.benchmark_group(format!("validate_and_hash/{fmt}/{shape}"));
            g.sample_size(20)
                .warm_up_time(std::time::Duration::from_secs(1))
                .measurement_time(std::time::Duration::from_secs(3));
            g.throughput(Throughput::Elements(events as u64));
            g.bench_function(BenchmarkId::new("events", events), |b| {
                b.iter(|| unitrace_epcis::validate_and_hash(std::hint::black_box(&doc)))
            });
            g.throughput(Throughput::Elements((events * epcs) as u64));
            g.bench_function(BenchmarkId::new("epcs", events * epcs), |b| {
                b.iter(|| unitrace_epcis::validate_and_hash(std::hint::black_box(&doc)))
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
