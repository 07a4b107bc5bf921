//! Runs `validate_and_hash` on one of the benchmark documents (`benches/epcis.rs`) a fixed number
//! of times, for instruction and cycle counts that do not depend on the machine's other load:
//!
//! ```sh
//! cargo build --release -p unitrace-epcis --example epcis_loop
//! perf stat -e cycles:u,instructions:u target/release/examples/epcis_loop json 1 200
//! valgrind --tool=callgrind target/release/examples/epcis_loop json 500 5
//! ```
//!
//! Arguments: `json` or `xml`, EPCs per event (1: 1000 events; otherwise 20 events), repetitions.

#[path = "../benches/support/docs.rs"]
mod docs;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (fmt, epcs, reps) = match args.as_slice() {
        [_, f, e, r] => (
            f.as_str(),
            e.parse::<usize>().expect("EPCs per event"),
            r.parse::<usize>().expect("repetitions"),
        ),
        _ => {
            eprintln!("usage: epcis_loop json|xml EPCS_PER_EVENT REPETITIONS");
            std::process::exit(2);
        }
    };
    let events = if epcs == 1 { 1000 } else { 20 };
    let doc = match fmt {
        "json" => docs::json_document(events, epcs),
        "xml" => docs::xml_document(events, epcs),
        _ => panic!("json or xml"),
    };
    let mut n = 0;
    for _ in 0..reps {
        n += unitrace_epcis::validate_and_hash(std::hint::black_box(&doc))
            .expect("valid")
            .len();
    }
    assert_eq!(n, events * reps);
}
