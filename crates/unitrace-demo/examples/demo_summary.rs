//! Generates the demo dataset and prints its size, the time it took and the story units:
//! `cargo run --release -p unitrace-demo --example demo_summary [SCALE]`.

use std::time::Instant;

fn main() {
    let scale = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("SCALE must be a positive integer"))
        .unwrap_or(1);
    let config = unitrace_demo::DemoConfig {
        scale,
        ..Default::default()
    };
    let start = Instant::now();
    let demo = unitrace_demo::generate(&config);
    let took = start.elapsed();
    let bytes: usize = demo
        .documents
        .iter()
        .map(|d| serde_json::to_vec(d).map_or(0, |b| b.len()))
        .sum();
    println!("generated in {took:?}; {bytes} bytes of JSON");
    println!(
        "{}",
        serde_json::to_string_pretty(&demo.summary).unwrap_or_default()
    );
    let stories = unitrace_demo::stories(&demo);
    let mut s = serde_json::to_value(&stories).unwrap_or_default();
    // The lists are long: show their sizes only.
    for (story, field) in [("recalled_lot", "units"), ("excursion", "cases")] {
        if let Some(v) = s[story].get_mut(field) {
            *v = format!("{} units", v.as_array().map_or(0, Vec::len)).into();
        }
    }
    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
}
