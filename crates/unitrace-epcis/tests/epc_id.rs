//! `epc::urn_to_dl` agrees with the identifier library (`unitrace-id`) for every EPC URN in the
//! reference data (`../shared`): the SGTIN and SGLN fast paths of the event hash, and the schemes
//! it delegates. GINC, GSIN, ITIP and UPUI are still converted locally because `unitrace-id` does
//! not parse them yet; when it does, this test fails and the local code can go.

use std::path::{Path, PathBuf};

use unitrace_epcis::epc::{id_urn_to_dl, urn_to_dl};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn urns() -> Vec<String> {
    let base = Path::new(SHARED);
    assert!(
        base.is_dir(),
        "reference data missing: {} (the tests read ../shared next to the project)",
        base.display()
    );
    let mut files = Vec::new();
    walk(base, &mut files);
    let mut out = std::collections::BTreeSet::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let mut rest = text.as_str();
        while let Some(i) = rest.find("urn:epc:id:") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '"' | ',' | ']'))
                .unwrap_or(tail.len());
            out.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    out.into_iter().collect()
}

#[test]
fn urn_to_dl_agrees_with_the_identifier_library() {
    let urns = urns();
    assert!(urns.len() >= 100, "too few EPC URNs found: {}", urns.len());
    let mut compared = 0;
    let mut fast = 0;
    for u in &urns {
        let scheme = u["urn:epc:id:".len()..].split(':').next().unwrap_or("");
        let ours = urn_to_dl(u);
        let lib = id_urn_to_dl(u);
        if matches!(scheme, "ginc" | "gsin" | "itip" | "upui") {
            assert!(ours.is_some(), "{u}: not converted");
            assert_eq!(
                lib, None,
                "{u}: unitrace-id converts it now; drop the local code"
            );
            continue;
        }
        assert_eq!(ours, lib, "{u}");
        compared += 1;
        if matches!(scheme, "sgtin" | "sgln") {
            fast += 1;
        }
    }
    assert!(fast >= 100, "too few SGTIN/SGLN URNs compared: {fast}");
    assert!(compared > fast, "no delegated scheme compared");
}

mod into {
    use proptest::prelude::*;
    use unitrace_epcis::epc::{id_urn_to_dl, urn_is_well_formed, urn_to_dl, urn_to_dl_into};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// `urn_to_dl_into` appends exactly what `urn_to_dl` returns (or nothing), SGTIN and SGLN
        /// agree with the identifier library, and well-formedness is what conversion says.
        #[test]
        fn urn_to_dl_into_appends_urn_to_dl(
            scheme in prop::sample::select(vec!["sgtin", "sgln", "sscc", "grai", "giai", "sgtn"]),
            cp in "[0-9]{5,13}",
            rest in "[0-9]{0,7}|[0-9a]{1,6}",
            ser in "[0-9A-Za-z%!()*+,:._-]{0,22}|0",
            parts in 2usize..4,
        ) {
            let urn = if parts == 2 {
                format!("urn:epc:id:{scheme}:{cp}.{rest}")
            } else {
                format!("urn:epc:id:{scheme}:{cp}.{rest}.{ser}")
            };
            let mut out = String::from("prefix=");
            let ok = urn_to_dl_into(&urn, &mut out);
            let want = urn_to_dl(&urn);
            prop_assert_eq!(ok, want.is_some());
            prop_assert_eq!(&out, &format!("prefix={}", want.as_deref().unwrap_or("")));
            if matches!(scheme, "sgtin" | "sgln") {
                prop_assert_eq!(urn_is_well_formed(&urn), ok);
                if ok && !ser.contains('%') {
                    prop_assert_eq!(id_urn_to_dl(&urn), want, "{}", urn);
                }
            }
        }
    }
}
