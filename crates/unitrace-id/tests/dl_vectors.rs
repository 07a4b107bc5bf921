//! Shared identifier vectors: GS1 Digital Link parsing, writing and compression.
//!
//! Reads `../shared/identifier-vectors/identifier-vectors.jsonl` and checks every case of ops
//! `dl_to_element_string`, `element_string_to_dl`, `compress_dl` and `decompress_dl`
//! (including the `bad-*` ones): validity must agree and expected values must agree exactly.
//!
//! Decisions on the cases where implementations disagree (the `note` fields):
//! - dl-007 (`/8004/9521234ABC-1`) and dl-011 (`/01/.../235/TPX1`): valid. GIAI is a DL primary
//!   key and AI (235) is a key qualifier of (01) in the dictionary's `dlpkey=22,10,21|235`;
//!   digital-link.js 1.4.3 predates both.
//! - dl-013 (`HTTPS://ID.GS1.ORG/...`): valid. RFC 3986 §3.1 and §3.2.2: scheme and host are
//!   case-insensitive, so upper case must be accepted (the syntax engine agrees).
//! - dlc-003 (SSCC compression): `https://id.gs1.org/ABeRcNGJhW2Q` is right: 106141411234567897
//!   needs 60 bits exactly; digital-link.js loses precision in JavaScript doubles. We use exact
//!   integer arithmetic. (No optimised form is expected: there is no optimisation for (00).)
//! - bad-019 (`/01/9521234543213`, 13 digits) and bad-020 (wrong check digit): invalid. biip
//!   zero-pads GTIN-13 and only warns on check digits, but a Digital Link carries the GTIN in its
//!   14-digit form (GS1 DL URI Syntax) and the key must be valid.

use serde_json::Value;
use unitrace_id::digital_link::{self, compress};
use unitrace_id::element::ElementString;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/identifier-vectors/identifier-vectors.jsonl"
);

fn cases(ops: &[&str]) -> Vec<Value> {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| {
        panic!("the shared identifier vectors are missing at {VECTORS} ({e}); see shared/README.md")
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("valid JSON line"))
        .filter(|v| ops.contains(&v["op"].as_str().unwrap_or("")))
        .collect()
}

/// The AI an oracle's error message names first, e.g. `01` in "AI (01): The numeric check digit
/// is incorrect"; our message must name the same AI (the text itself may differ).
fn named_ai(msg: &str) -> Option<&str> {
    let start = msg.find("AI (")? + 4;
    let len = msg[start..].find(')')?;
    Some(&msg[start..start + len])
}

fn ais_json(es: &ElementString) -> Value {
    Value::Array(
        es.ais()
            .iter()
            .map(|(a, v)| Value::Array(vec![a.clone().into(), v.clone().into()]))
            .collect(),
    )
}

#[test]
fn digital_link_vectors() {
    let cases = cases(&[
        "dl_to_element_string",
        "element_string_to_dl",
        "compress_dl",
        "decompress_dl",
    ]);
    assert_eq!(cases.len(), 29, "the vector file changed");
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in &cases {
        let id = c["id"].as_str().unwrap();
        let input = c["input"].as_str().unwrap();
        let valid = c["valid"].as_bool().unwrap();
        let e = &c["expected"];
        let mut check = |what: &str, got: Value| {
            if e[what] != got {
                failures.push(format!("{id}: {what}: got {got}, want {}", e[what]));
            }
        };
        let outcome: Result<(), String> = match c["op"].as_str().unwrap() {
            "dl_to_element_string" => digital_link::parse(input)
                .map(|es| {
                    check("ais", ais_json(&es));
                    check("bracketed", es.to_bracketed().into());
                    check("element_string_gs", es.to_gs().into());
                    check("canonical_dl", es.to_digital_link().unwrap().into());
                })
                .map_err(|e| e.to_string()),
            "element_string_to_dl" => ElementString::parse_bracketed(input)
                .and_then(|es| {
                    check("ais", ais_json(&es));
                    check("canonical_dl", es.to_digital_link()?.into());
                    check(
                        "dl_custom_stem",
                        es.to_digital_link_with_stem("https://example.com/x")?
                            .into(),
                    );
                    Ok(())
                })
                .map_err(|e| e.to_string()),
            "compress_dl" => (|| {
                check(
                    "compressed_unoptimised",
                    compress::compress(input, false)?.into(),
                );
                if !e["compressed_optimised"].is_null() {
                    let opt = compress::compress(input, true)?;
                    check("compressed_optimised", opt.clone().into());
                    // and both forms decompress back to the canonical input
                    let back = compress::decompress_to_uri(&opt)?;
                    check("compressed_optimised", Value::from(opt));
                    if back != input {
                        return Err(unitrace_id::IdError::syntax(format!("round trip {back}")));
                    }
                }
                let back = compress::decompress_to_uri(&compress::compress(input, false)?)?;
                if back != input {
                    return Err(unitrace_id::IdError::syntax(format!("round trip {back}")));
                }
                Ok(())
            })()
            .map_err(|e| e.to_string()),
            "decompress_dl" => compress::decompress_to_uri(input)
                .map(|u| check("uri", u.into()))
                .map_err(|e| e.to_string()),
            op => panic!("unexpected op {op}"),
        };
        checked += 1;
        match (outcome, valid) {
            (Ok(()), true) => {}
            (Err(ours), false) => {
                if let Some(ai) = named_ai(c["error"].as_str().unwrap_or("")) {
                    if !ours.contains(&format!("({ai})")) {
                        failures.push(format!("{id}: error {ours:?} does not name AI ({ai})"));
                    }
                }
            }
            (Ok(()), false) => failures.push(format!("{id}: accepted invalid input")),
            (Err(err), true) => failures.push(format!("{id}: rejected valid input: {err}")),
        }
    }
    assert_eq!(checked, 29);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn compression_keeps_other_parameters() {
    let uri = "https://id.gs1.org/01/09521234543213/21/12345?linkType=gs1:pip&17=261231";
    let c = compress::compress(uri, true).unwrap();
    assert!(c.ends_with("?linkType=gs1:pip"), "{c}");
    assert_eq!(
        compress::decompress_to_uri(&c).unwrap(),
        "https://id.gs1.org/01/09521234543213/21/12345?17=261231&linkType=gs1:pip"
    );
    // a compressed URI is also accepted by the ordinary parser
    let es = digital_link::parse(&c).unwrap();
    assert_eq!(es.get("17"), Some("261231"));
    // garbage in the compressed segment is an error, not a panic
    assert!(compress::decompress("https://id.gs1.org/AAAA").is_err());
    assert!(compress::decompress("https://id.gs1.org/%%%").is_err());
}

#[test]
fn short_names() {
    let es = digital_link::parse(
        "https://example.com/gtin/09521234543213/lot/ABC/ser/S1?17=261231&linkType=gs1:pip",
    )
    .unwrap();
    assert_eq!(
        es.to_bracketed(),
        "(01)09521234543213(10)ABC(21)S1(17)261231"
    );
    assert_eq!(
        es.to_digital_link().unwrap(),
        "https://id.gs1.org/01/09521234543213/10/ABC/21/S1?17=261231"
    );
    let es = digital_link::parse("https://example.com/sscc/106141411234567897").unwrap();
    assert_eq!(es.to_bracketed(), "(00)106141411234567897");
    // short names follow the same qualifier order rules
    assert!(digital_link::parse("https://example.com/gtin/09521234543213/ser/S1/lot/A").is_err());
}

#[test]
fn path_prefix_order_and_query() {
    let es = digital_link::parse(
        "http://example.com/a/b/01/09521234543213/10/L1?linkType=all&17=251200#frag",
    )
    .unwrap();
    assert_eq!(es.to_bracketed(), "(01)09521234543213(10)L1(17)251200");
    // key qualifiers out of order, or mixing alternative sequences
    assert!(digital_link::parse("https://id.gs1.org/01/09521234543213/21/x/10/z").is_err());
    assert!(digital_link::parse("https://id.gs1.org/01/09521234543213/22/x/235/z").is_err());
    // AI not allowed as a data attribute
    assert!(digital_link::parse("https://id.gs1.org/01/09521234543213?21=x").is_err());
    // no primary key in the element string
    let e = ElementString::parse_bracketed("(400)PO1").unwrap();
    assert!(e.to_digital_link().is_err());
    // percent-encoding on output
    let es = ElementString::parse_bracketed("(01)09521234543213(21)A/B%C").unwrap();
    assert_eq!(
        es.to_digital_link().unwrap(),
        "https://id.gs1.org/01/09521234543213/21/A%2FB%25C"
    );
}
