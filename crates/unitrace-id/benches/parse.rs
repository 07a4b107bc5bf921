//! Parsing benchmarks for barcode and URI forms: `cargo bench -p unitrace-id --bench parse`.
//! Figures and the machine they were measured on are in BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use unitrace_id::{digital_link, parse_any, ElementString};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    // A GS1 DataMatrix on a pharmaceutical pack: GTIN, expiry, lot, serial.
    let pack = "]d2010952123454321317271231101234AB\u{1d}21SER0001X7";
    g.bench_function("scan_data_gtin_expiry_lot_serial", |b| {
        b.iter(|| ElementString::parse_scan_data(black_box(pack)).unwrap())
    });
    let case = "]C100106141411234567897";
    g.bench_function("scan_data_sscc", |b| {
        b.iter(|| ElementString::parse_scan_data(black_box(case)).unwrap())
    });
    let bracketed = "(01)09521234543213(17)271231(10)1234AB(21)SER0001X7";
    g.bench_function("bracketed_gtin_expiry_lot_serial", |b| {
        b.iter(|| ElementString::parse_bracketed(black_box(bracketed)).unwrap())
    });
    let dl = "https://example.com/01/09521234543213/10/1234AB/21/SER0001X7?17=271231";
    g.bench_function("digital_link_parse", |b| {
        b.iter(|| digital_link::parse(black_box(dl)).unwrap())
    });
    let es = ElementString::parse_bracketed(bracketed).unwrap();
    g.bench_function("digital_link_write", |b| {
        b.iter(|| black_box(&es).to_digital_link().unwrap())
    });
    g.bench_function("parse_any_scan_data_with_identity", |b| {
        b.iter(|| parse_any(black_box(pack)).unwrap())
    });
    g.bench_function("parse_any_epc_uri", |b| {
        b.iter(|| parse_any(black_box("urn:epc:id:sgtin:0614141.812345.6789")).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
