//! Regenerates `src/ai/table.rs` from the GS1 Barcode Syntax Dictionary.
//!
//! `cargo run -p unitrace-id --example gen_ai_table [DICTIONARY]`
//! (default: `../shared/gs1-syntax/gs1-syntax-dictionary.txt` relative to the workspace).

use std::process::ExitCode;

fn main() -> ExitCode {
    let default = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/gs1-syntax/gs1-syntax-dictionary.txt"
    );
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| default.to_string());
    let dict = match std::fs::read_to_string(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot read the GS1 syntax dictionary at {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let src = match unitrace_id::ai::gen::generate(&dict) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ai/table.rs");
    if let Err(e) = std::fs::write(out, src) {
        eprintln!("cannot write {out}: {e}");
        return ExitCode::FAILURE;
    }
    println!("wrote {out}");
    ExitCode::SUCCESS
}
