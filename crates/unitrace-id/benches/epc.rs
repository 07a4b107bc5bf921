//! EPC benchmarks: `cargo bench -p unitrace-id --bench epc`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use unitrace_id::epc::{decode_hex, parse_epc_uri, parse_tag_uri, EpcTag, Scheme};
use unitrace_id::gcp::GcpResolver;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("epc");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sgtin96_hex_decode", |b| {
        b.iter(|| decode_hex(black_box("3074257BF7194E4000001A85")).unwrap())
    });
    g.bench_function("sgtin96_hex_decode_to_pure_uri", |b| {
        b.iter(|| {
            decode_hex(black_box("3074257BF7194E4000001A85"))
                .unwrap()
                .pure_uri()
        })
    });
    let uri = parse_epc_uri("urn:epc:id:sgtin:0614141.812345.6789").unwrap();
    g.bench_function("sgtin96_encode_hex", |b| {
        b.iter(|| {
            EpcTag::new(Scheme::Sgtin96, 3, black_box(&uri.identity).clone(), 7)
                .unwrap()
                .hex()
        })
    });
    g.bench_function("sgtin198_hex_decode", |b| {
        b.iter(|| {
            decode_hex(black_box(
                "3674257BF7194E60C286BFC31000000000000000000000000000",
            ))
            .unwrap()
        })
    });
    g.bench_function("pure_uri_parse", |b| {
        b.iter(|| parse_epc_uri(black_box("urn:epc:id:sgtin:0614141.812345.6789")).unwrap())
    });
    g.bench_function("tag_uri_parse", |b| {
        b.iter(|| parse_tag_uri(black_box("urn:epc:tag:sgtin-96:3.0614141.812345.6789")).unwrap())
    });
    let r = GcpResolver::new();
    g.bench_function("gcp_table_lookup", |b| {
        b.iter(|| r.lookup(black_box("9521234543213")).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
