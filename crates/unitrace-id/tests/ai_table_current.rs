//! The checked-in AI table must match the shared GS1 Barcode Syntax Dictionary.

use unitrace_id::ai::{self, gen, Charset, Linter};

const DICT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/gs1-syntax/gs1-syntax-dictionary.txt"
);

fn dictionary() -> String {
    std::fs::read_to_string(DICT).unwrap_or_else(|e| {
        panic!(
            "the shared GS1 syntax dictionary is missing at {DICT} ({e}); \
             this test needs the shared/ folder next to the project (see shared/README.md)"
        )
    })
}

#[test]
fn checked_in_table_is_current() {
    let want = gen::generate(&dictionary()).expect("dictionary parses");
    let have = include_str!("../src/ai/table.rs");
    assert!(
        want == have,
        "src/ai/table.rs is stale: run `cargo run -p unitrace-id --example gen_ai_table`"
    );
}

#[test]
fn table_contents() {
    let entries = gen::parse(&dictionary()).unwrap();
    assert_eq!(entries.len(), ai::AI_TABLE.len());
    // sorted, unique, prefix-free (scan data parsing relies on it)
    for w in ai::AI_TABLE.windows(2) {
        assert!(w[0].ai < w[1].ai);
    }
    assert!(ai::AI_KEYS.windows(2).all(|w| w[0] < w[1]));
    for (e, k) in ai::AI_TABLE.iter().zip(ai::AI_KEYS.iter()) {
        assert_eq!(ai::ai_key(e.ai.as_bytes()), Some(*k));
        assert_eq!(ai::lookup(e.ai).map(|x| x.ai), Some(e.ai));
    }
    for p in 0..100 {
        let (a, b) = (
            ai::AI_PREFIX_START[p] as usize,
            ai::AI_PREFIX_START[p + 1] as usize,
        );
        let prefix = format!("{p:02}");
        let n = ai::AI_TABLE
            .iter()
            .filter(|e| e.ai.starts_with(&prefix))
            .count();
        assert_eq!(b - a, n, "prefix {prefix}");
        assert!(ai::AI_TABLE[a..b]
            .iter()
            .all(|e| e.ai.starts_with(&prefix) && e.ai.len() == ai::AI_TABLE[a].ai.len()));
    }
    assert!(ai::lookup_prefix("89123").is_none() && ai::lookup_prefix("3106000").is_none());
    assert!(ai::lookup("1").is_none() && ai::lookup("01x").is_none() && ai::lookup("").is_none());
    for a in ai::AI_TABLE.iter() {
        for b in ai::AI_TABLE.iter() {
            assert!(
                a.ai == b.ai || !b.ai.starts_with(a.ai),
                "{} prefixes {}",
                a.ai,
                b.ai
            );
        }
        assert_eq!(
            ai::lookup_prefix(&format!("{}123", a.ai)).map(|e| e.ai),
            Some(a.ai)
        );
    }
    let gtin = ai::lookup("01").unwrap();
    assert!(!gtin.fnc1 && gtin.dl_data_attr);
    assert_eq!(gtin.components.len(), 1);
    assert_eq!(gtin.components[0].charset, Charset::N);
    assert_eq!((gtin.components[0].min, gtin.components[0].max), (14, 14));
    assert_eq!(gtin.components[0].linters, &[Linter::Csum, Linter::GcpPos2]);
    assert_eq!(gtin.ex, &["255", "37"]);
    assert_eq!(
        gtin.dl_pkey,
        Some(&[&["22", "10", "21"][..], &["235"][..]][..])
    );
    let ser = ai::lookup("21").unwrap();
    assert!(ser.fnc1 && !ser.dl_data_attr);
    assert_eq!(ser.req, &[&[&["01"][..], &["03"][..], &["8006"][..]][..]]);
    // ranges expanded
    for a in ["3100", "3105", "3909", "91", "99"] {
        assert!(ai::lookup(a).is_some(), "{a}");
    }
    assert!(ai::lookup("3106").is_none());
    // optional components and repeated req
    let gdti = ai::lookup("253").unwrap();
    assert!(gdti.components[1].optional);
    assert_eq!((gdti.min_len(), gdti.max_len()), (13, 30));
    assert_eq!(ai::lookup("250").unwrap().req.len(), 2);
    assert!(ai::matches_pattern("31nn", "3103"));
    assert!(!ai::matches_pattern("31nn", "310"));
}

#[test]
fn generator_rejects_unknown_linters() {
    assert!(gen::parse("01  *  N14,nosuchlinter  # X\n").is_err());
    assert!(gen::parse("01  *  N14,csum  # X\n").is_ok());
}
