//! The embedded GCP length table is exactly what `../shared/gs1-gcp/gcp-length.tsv` encodes to, and
//! looks up like a naive longest-prefix match over the TSV.
//!
//! Regenerate: `UNITRACE_REGEN_GCP=1 cargo test -p unitrace-id --test gcp_table`

use std::collections::HashMap;
use unitrace_id::gcp::{embedded_table_size, encode_table, table_gcp_len, GcpResolver};

const TSV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/gs1-gcp/gcp-length.tsv"
);

fn tsv() -> String {
    std::fs::read_to_string(TSV).unwrap_or_else(|e| {
        panic!("cannot read the GS1 GCP table at {TSV}: {e} (the shared reference data must sit beside the project: ../shared/gs1-gcp/)")
    })
}

#[test]
fn embedded_table_is_current() {
    let encoded = encode_table(&tsv()).expect("TSV encodes");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/gcp_table.bin");
    if std::env::var_os("UNITRACE_REGEN_GCP").is_some() {
        std::fs::write(path, &encoded).expect("write gcp_table.bin");
        eprintln!("wrote {path}: {} bytes", encoded.len());
        return;
    }
    let current = std::fs::read(path).expect("read gcp_table.bin");
    assert!(
        current == encoded,
        "src/gcp_table.bin is stale: run UNITRACE_REGEN_GCP=1 cargo test -p unitrace-id --test gcp_table"
    );
    assert_eq!(embedded_table_size(), encoded.len());
}

fn naive(rows: &HashMap<String, usize>, key: &str) -> Option<usize> {
    (1..=key.len().min(12))
        .rev()
        .find_map(|l| rows.get(&key[..l]).copied())
        .filter(|&v| v != 0)
}

#[test]
fn every_row_looks_up_as_the_tsv_says() {
    let text = tsv();
    let mut rows = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (p, l) = line.split_once('\t').expect("tab");
        rows.insert(p.to_string(), l.trim().parse::<usize>().expect("length"));
    }
    assert_eq!(rows.len(), 170_843, "row count changed");
    let mut checked = 0;
    for p in rows.keys() {
        for pad in ['0', '5', '9'] {
            let mut key = p.clone();
            while key.len() < 13 {
                key.push(pad);
            }
            assert_eq!(table_gcp_len(&key), naive(&rows, &key), "key {key}");
            checked += 1;
        }
    }
    // Pseudo-random keys across the whole space.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = format!("{:013}", x % 10_000_000_000_000);
        assert_eq!(table_gcp_len(&key), naive(&rows, &key), "key {key}");
        checked += 1;
    }
    assert!(checked > 700_000);
}

#[test]
fn resolver_prefers_configured_prefixes_and_never_guesses() {
    let r = GcpResolver::with_prefixes(["952123", "95212345"]).unwrap();
    // Longest configured prefix wins over the table's 7.
    assert_eq!(r.lookup("9521234543213"), Some(8));
    assert_eq!(r.lookup("9521239999999"), Some(6));
    // Falls back to the table.
    assert_eq!(r.lookup("0614141123452"), Some(7));
    // Configured only.
    let only = GcpResolver::with_prefixes(["4000001"])
        .unwrap()
        .without_table();
    assert_eq!(only.lookup("0614141123452"), None);
    let err = only.gcp_len("0614141123452").unwrap_err().to_string();
    assert!(err.contains("unknown"), "{err}");
    assert!(GcpResolver::with_prefixes(["12a"]).is_err());
    assert!(GcpResolver::with_prefixes(["123"]).is_err());
    // Short or non-digit keys give an answer only when the missing digits cannot matter.
    assert_eq!(table_gcp_len(""), None);
    assert_eq!(table_gcp_len("abc"), None);
    assert_eq!(table_gcp_len("0614141ABC"), Some(7));
    assert_eq!(table_gcp_len("06"), None);
    // GTIN forms.
    let t = GcpResolver::new();
    assert_eq!(t.gtin_company_prefix("80614141123458").unwrap(), "0614141");
    assert_eq!(t.gtin_company_prefix("614141123452").unwrap(), "0614141");
    assert!(t.gtin_company_prefix("123").is_err());
}
