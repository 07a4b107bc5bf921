//! Per-core throughput of the hot identifier paths, measured in CPU time of this thread (not wall
//! time), so that figures stay comparable on a shared, loaded machine:
//! `cargo run --release -p unitrace-id --example throughput`.
//! Criterion's wall-clock figures are in `cargo bench -p unitrace-id`; both go in BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use unitrace_id::epc::{decode_hex, parse_epc_uri, EpcTag, Scheme};
use unitrace_id::{digital_link, ElementString};

/// CPU time (user + system) this thread has used, from /proc (clock ticks of 10 ms).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // Fields after the command name in parentheses; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn measure(name: &str, mut op: impl FnMut()) {
    // Warm up, then run batches until at least 2 s of CPU time have been spent.
    for _ in 0..10_000 {
        op();
    }
    let cpu0 = thread_cpu();
    let wall0 = Instant::now();
    let mut n: u64 = 0;
    while thread_cpu() - cpu0 < Duration::from_secs(2) {
        for _ in 0..100_000 {
            op();
        }
        n += 100_000;
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    let wall = wall0.elapsed().as_secs_f64();
    println!(
        "{name:<40} {:>10.0} ops/s per core (CPU time)   {:>7.1} ns/op   [wall {:.1} s for {:.1} s CPU]",
        n as f64 / cpu,
        cpu * 1e9 / n as f64,
        wall,
        cpu
    );
}

fn main() {
    let pack = "]d2010952123454321317271231101234AB\u{1d}21SER0001X7";
    measure("scan_data_gtin_expiry_lot_serial", || {
        black_box(ElementString::parse_scan_data(black_box(pack)).unwrap());
    });
    let dl = "https://example.com/01/09521234543213/10/1234AB/21/SER0001X7?17=271231";
    measure("digital_link_parse", || {
        black_box(digital_link::parse(black_box(dl)).unwrap());
    });
    measure("epc_pure_uri_parse", || {
        black_box(parse_epc_uri(black_box("urn:epc:id:sgtin:0614141.812345.6789")).unwrap());
    });
    measure("sgtin96_hex_decode", || {
        black_box(decode_hex(black_box("3074257BF7194E4000001A85")).unwrap());
    });
    let uri = parse_epc_uri("urn:epc:id:sgtin:0614141.812345.6789").unwrap();
    measure("sgtin96_hex_encode", || {
        let tag = EpcTag::new(Scheme::Sgtin96, 3, black_box(&uri.identity).clone(), 7).unwrap();
        black_box(tag.hex());
    });
}
