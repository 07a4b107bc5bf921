//! Every line of `../shared/identifier-vectors/identifier-vectors.jsonl`, through the one entry
//! point the CLI and the server use ([`unitrace_id::parse_any`]): the form is detected, validity
//! agrees with the oracle, and every form of one unit leads to the same identity. The per-form
//! details (hri, scan data forms, compression, tag fields) are checked op by op in
//! `element_vectors.rs`, `dl_vectors.rs` and `epc_vectors.rs`; this test checks that the forms
//! meet.
//!
//! Decision (see `epc_vectors.rs` for the reasoning): the SGLN extension `0` is "no extension"
//! (TDS), so `urn:epc:id:sgln:4012345.00001.0` gives the Digital Link
//! `https://id.gs1.org/414/4012345000016`, not the oracle's `.../254/0` (epc2dl-003).

use serde_json::Value;
use unitrace_id::{parse_any, GcpResolver, InputKind};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/identifier-vectors/identifier-vectors.jsonl"
);

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| {
        panic!("cannot read {VECTORS}: {e} (the shared reference data must sit beside the project)")
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("vector line is JSON"))
        .collect()
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[test]
fn every_vector_through_parse_any() {
    let resolver = GcpResolver::new();
    let rows = vectors();
    assert_eq!(rows.len(), 121, "the vector file changed: review this test");
    let mut checked = 0;
    for v in &rows {
        let id = str_of(v, "id");
        let op = str_of(v, "op");
        let input = str_of(v, "input");
        let valid = v["valid"].as_bool().unwrap();
        let expected = &v["expected"];
        // The input as parse_any takes it.
        let any_input = match op {
            "binary_to_epc_uri" => format!("hex:{input}"),
            "gcp_lookup" => {
                // Not an identifier form: the company prefix of a GTIN-13 body.
                let len = resolver.gcp_len(input).map_err(|e| e.to_string());
                assert_eq!(len.is_ok(), valid, "{id}");
                if valid {
                    assert_eq!(
                        len.unwrap() as u64,
                        expected["length"].as_u64().unwrap(),
                        "{id}"
                    );
                }
                checked += 1;
                continue;
            }
            _ => input.to_string(),
        };
        let parsed = parse_any(&any_input);
        // epc_uri_to_binary can be invalid for the scheme although the pure URI itself is valid
        // (e.g. a serial too large for sgtin-96): only its encoding step fails.
        if op == "epc_uri_to_binary" {
            let scheme = unitrace_id::Scheme::from_name(str_of(&v["params"], "scheme")).unwrap();
            let filter = v["params"]["filter"].as_u64().unwrap() as u8;
            let tag = parsed.as_ref().map_err(|e| e.to_string()).and_then(|p| {
                let gcp = p.resolve_gcp_len(&resolver).map_err(|e| e.to_string())?;
                let identity = p.identity.clone().ok_or("no identity")?;
                unitrace_id::EpcTag::new(scheme, filter, identity, gcp).map_err(|e| e.to_string())
            });
            assert_eq!(tag.is_ok(), valid, "{id}: {input} -> {tag:?}");
            if let Ok(tag) = tag {
                assert_eq!(tag.hex(), str_of(expected, "hex"), "{id}");
                // The hex read back lands on the same unit as the URI.
                let back = parse_any(&format!("hex:{}", tag.hex())).unwrap();
                assert_eq!(back.identity, parsed.as_ref().unwrap().identity, "{id}");
                assert_eq!(back.input_kind, InputKind::EpcBinary);
            }
            checked += 1;
            continue;
        }
        assert_eq!(parsed.is_ok(), valid, "{id}: {any_input:?} -> {parsed:?}");
        let Ok(p) = parsed else {
            checked += 1;
            continue;
        };
        match op {
            "parse_scan_data" => {
                assert_eq!(p.input_kind, InputKind::ScanData, "{id}");
                assert_eq!(p.bracketed(), str_of(expected, "bracketed"), "{id}");
                assert_eq!(
                    p.digital_link().as_deref(),
                    expected["dl_uri"].as_str(),
                    "{id}"
                );
                // Every scan-data rendering of the unit lands on the same data.
                for (_, other) in expected["scan_data"].as_object().unwrap() {
                    let q = parse_any(other.as_str().unwrap()).unwrap();
                    assert_eq!(q.ais(), p.ais(), "{id}");
                }
            }
            "parse_bracketed" => {
                assert_eq!(p.input_kind, InputKind::ElementString, "{id}");
                assert_eq!(p.bracketed(), str_of(expected, "bracketed"), "{id}");
            }
            "dl_to_element_string" => {
                assert_eq!(p.input_kind, InputKind::DigitalLink, "{id}");
                assert_eq!(p.bracketed(), str_of(expected, "bracketed"), "{id}");
                assert_eq!(
                    p.digital_link().as_deref(),
                    expected["canonical_dl"].as_str(),
                    "{id}"
                );
            }
            "element_string_to_dl" => {
                assert_eq!(
                    p.digital_link().as_deref(),
                    expected["canonical_dl"].as_str(),
                    "{id}"
                );
            }
            "compress_dl" => {
                // The compressed forms parse to the same data as the uncompressed URI.
                for key in ["compressed_unoptimised", "compressed_optimised"] {
                    if let Some(c) = expected[key].as_str() {
                        let q = parse_any(c).unwrap_or_else(|e| panic!("{id} {key}: {e}"));
                        // Compression may reorder the AIs; the data must be the same.
                        let mut a = q.ais().to_vec();
                        let mut b = p.ais().to_vec();
                        a.sort();
                        b.sort();
                        assert_eq!(a, b, "{id} {key}");
                    }
                }
            }
            "decompress_dl" => {
                assert_eq!(
                    p.digital_link().as_deref(),
                    expected["uri"].as_str(),
                    "{id}"
                );
            }
            "binary_to_epc_uri" => {
                let tag = p.tag.as_ref().expect("binary input keeps its tag");
                assert_eq!(tag.tag_uri(), str_of(expected, "tag_uri"), "{id}");
                assert_eq!(
                    p.epc_uri(&resolver).unwrap(),
                    str_of(expected, "pure_uri"),
                    "{id}"
                );
            }
            "epc_uri_to_dl" => {
                assert_eq!(p.input_kind, InputKind::EpcUri, "{id}");
                let want_dl = if id == "epc2dl-003" {
                    // Decision: SGLN extension 0 is "no extension" (see the module docs).
                    "https://id.gs1.org/414/4012345000016"
                } else {
                    str_of(expected, "canonical_dl")
                };
                assert_eq!(p.digital_link().as_deref(), Some(want_dl), "{id}");
                // And the Digital Link leads back to the same EPC URI.
                let back = parse_any(want_dl).unwrap();
                assert_eq!(back.epc_uri(&resolver).unwrap(), input, "{id}");
            }
            other => panic!("{id}: op {other} not handled by this test"),
        }
        checked += 1;
    }
    assert_eq!(checked, rows.len());
}
