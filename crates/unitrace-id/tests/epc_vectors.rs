//! Every EPC / GCP case of `../shared/identifier-vectors/identifier-vectors.jsonl` (ops
//! `epc_uri_to_binary`, `binary_to_epc_uri`, `epc_uri_to_dl`, `gcp_lookup`, including their
//! `bad-*` cases): validity must agree and expected values must agree exactly, except where a
//! vector's `note` records a disagreement between implementations and the decision below (taken
//! from GS1 EPC TDS) differs from the oracle.
//!
//! Decisions on disputed vectors:
//! * epc-007: the pure URI `ABC%2Fx1` denotes the serial `ABC/x1`; TDS encodes the *character*
//!   in the binary (7-bit '/' = 0x2F), not the escape. We agree with epcpy (the expected hex).
//! * epc2dl-003: SGLN extension `0`. TDS §7.4 (SGLN): "when the GLN has no extension the SGLN
//!   extension is 0", i.e. extension 0 *is* "no extension". We therefore emit no `(254)` for it:
//!   `urn:epc:id:sgln:4012345.00001.0` → `(414)4012345000016`, and `(414)…(254)0` and `(414)…`
//!   both map back to `….0` (tested in both directions below). This deliberately differs from
//!   the oracle's `(414)4012345000016(254)0`; epc-012 (`sgln:9521234.50000.0`) is the same case
//!   without a note and gets the same treatment.
//! * epc2dl-002 / epc2dl-007: the note concerns a cross-check that mangles 18-digit keys; the
//!   oracle is right and we agree with it.
//! * bad-026: SGTIN-96 serials are integers with no leading zeros (TDS §14.5.1): `0123` is
//!   rejected for sgtin-96 (epc-tds silently drops the zero).
//! * bad-029 / bad-031: company prefix + reference must have exactly the key's digit count; no
//!   silent padding.
//! * bad-037: a 92-bit input is not an SGTIN-96; the hex length must be exact.

use serde_json::Value;
use unitrace_id::epc::{decode_hex, parse_epc_uri, parse_tag_uri, EpcTag, Scheme};
use unitrace_id::gcp::GcpResolver;
use unitrace_id::identity::Identity;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/identifier-vectors/identifier-vectors.jsonl"
);

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| {
        panic!("cannot read the identifier vectors at {VECTORS}: {e} (the shared reference data must sit beside the project: ../shared/identifier-vectors/)")
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("vector line is JSON"))
        .collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("field {k} missing in {v}"))
}

/// epc_uri_to_binary: pure URI + scheme + filter → tag URI, hex, bits, element string, decoded back.
fn uri_to_binary(v: &Value) -> Result<Value, String> {
    let input = s(v, "input");
    let scheme = Scheme::from_name(s(&v["params"], "scheme")).ok_or("unknown scheme")?;
    let filter = v["params"]["filter"].as_u64().ok_or("filter")? as u8;
    let uri = parse_epc_uri(input).map_err(|e| e.to_string())?;
    let tag = EpcTag::new(scheme, filter, uri.identity.clone(), uri.gcp_len)
        .map_err(|e| e.to_string())?;
    let hex = tag.hex();
    let back = decode_hex(&hex).map_err(|e| format!("own hex does not decode: {e}"))?;
    assert_eq!(back, tag, "{}: decode(encode) differs", s(v, "id"));
    // The tag URI parses back to the same tag.
    let from_tag = parse_tag_uri(&tag.tag_uri()).map_err(|e| e.to_string())?;
    assert_eq!(from_tag.hex(), hex, "{}: tag URI round trip", s(v, "id"));
    Ok(serde_json::json!({
        "tag_uri": tag.tag_uri(),
        "hex": hex,
        "bits": hex.len() * 4,
        "element_string": uri.identity.element_string(),
        "decoded_back_pure_uri": back.pure_uri(),
    }))
}

/// binary_to_epc_uri.
fn binary_to_uri(v: &Value) -> Result<Value, String> {
    let tag = decode_hex(s(v, "input")).map_err(|e| e.to_string())?;
    let id = tag.identity();
    // The oracle's gs1_key is the key's AI value; for a GRAI it drops AI (8003)'s padding '0'.
    let gs1_key = match id {
        Identity::Gid(_) => Value::Null,
        Identity::Grai(g) => Value::from(&g.as_str()[1..]),
        _ => Value::from(id.to_ais()[0].1.clone()),
    };
    let has = tag.scheme().has_filter();
    // The same tag re-encodes to the same hex (upper case).
    let again = EpcTag::new(tag.scheme(), tag.filter(), id.clone(), tag.gcp_len())
        .map_err(|e| e.to_string())?;
    assert_eq!(again.hex(), s(v, "input").to_uppercase());
    Ok(serde_json::json!({
        "pure_uri": tag.pure_uri(),
        "tag_uri": tag.tag_uri(),
        "filter": if has { Value::from(tag.filter()) } else { Value::Null },
        "partition": tag.partition().map(Value::from).unwrap_or(Value::Null),
        "gs1_key": gs1_key,
    }))
}

/// epc_uri_to_dl: we check the element string only (the DL is the AI side's test).
fn uri_to_element_string(v: &Value) -> Result<Value, String> {
    let uri = parse_epc_uri(s(v, "input")).map_err(|e| e.to_string())?;
    // Round trip through AIs and back to the same pure URI.
    let ais = uri.identity.to_ais();
    let back = Identity::from_ais(&ais)
        .map_err(|e| e.to_string())?
        .ok_or("no identity from own AIs")?;
    assert_eq!(back, uri.identity);
    assert_eq!(uri.to_uri(), s(v, "input"));
    Ok(serde_json::json!({ "element_string": uri.identity.element_string() }))
}

fn gcp_lookup(v: &Value) -> Result<Value, String> {
    let r = GcpResolver::new();
    let cp = r
        .gtin_company_prefix(s(v, "input"))
        .map_err(|e| e.to_string())?;
    Ok(serde_json::json!({ "company_prefix": cp, "length": cp.len() }))
}

#[test]
fn identifier_vectors_epc_and_gcp() {
    let mut counts = std::collections::BTreeMap::<String, (usize, usize)>::new();
    let mut deviations = Vec::new();
    for v in vectors() {
        let op = s(&v, "op");
        let id = s(&v, "id").to_string();
        let got = match op {
            "epc_uri_to_binary" => uri_to_binary(&v),
            "binary_to_epc_uri" => binary_to_uri(&v),
            "epc_uri_to_dl" => uri_to_element_string(&v),
            "gcp_lookup" => gcp_lookup(&v),
            _ => continue,
        };
        let valid = v["valid"].as_bool().expect("valid");
        let entry = counts.entry(op.to_string()).or_default();
        match (valid, got) {
            (true, Ok(got)) => {
                let expected = v["expected"].as_object().expect("expected");
                for (k, want) in got.as_object().expect("object") {
                    let mut want_v = expected.get(k).cloned().unwrap_or(Value::Null);
                    if k == "element_string" {
                        // Decision (see the module docs, epc2dl-003; epc-012 is the same case
                        // without a note): SGLN extension 0 = no (254).
                        if let Some(w) = want_v.as_str().and_then(|w| w.strip_suffix("(254)0")) {
                            assert!(w.starts_with("(414)"), "{id}");
                            want_v = Value::from(w);
                            deviations.push(id.clone());
                        }
                    }
                    assert_eq!(*want, want_v, "{id}: field {k}");
                }
                entry.0 += 1;
            }
            (false, Err(_)) => entry.1 += 1,
            (true, Err(e)) => panic!("{id}: expected valid, got error: {e}"),
            (false, Ok(got)) => panic!("{id}: expected invalid, got {got}"),
        }
    }
    eprintln!("vector counts (valid ok, invalid rejected): {counts:?}");
    assert_eq!(deviations, ["epc-012", "epc2dl-003"], "decided deviations");
    let total: usize = counts.values().map(|(a, b)| a + b).sum();
    assert_eq!(total, 51, "number of EPC/GCP vectors changed: {counts:?}");
}

#[test]
fn sgln_extension_zero_both_directions() {
    let uri = parse_epc_uri("urn:epc:id:sgln:4012345.00001.0").unwrap();
    assert_eq!(uri.identity.element_string(), "(414)4012345000016");
    let p = |a: &str, b: &str| (a.to_string(), b.to_string());
    for ais in [
        vec![p("414", "4012345000016")],
        vec![p("414", "4012345000016"), p("254", "0")],
    ] {
        let id = Identity::from_ais(&ais).unwrap().unwrap();
        assert_eq!(id, uri.identity);
        assert_eq!(
            id.to_epc_uri_with_gcp_len(7).unwrap(),
            "urn:epc:id:sgln:4012345.00001.0"
        );
    }
    // A real extension is kept.
    let id = Identity::from_ais(&[p("414", "4012345000016"), p("254", "8")])
        .unwrap()
        .unwrap();
    assert_eq!(id.element_string(), "(414)4012345000016(254)8");
    assert_eq!(
        id.to_epc_uri(&GcpResolver::new()).unwrap(),
        "urn:epc:id:sgln:4012345.00001.8"
    );
}
