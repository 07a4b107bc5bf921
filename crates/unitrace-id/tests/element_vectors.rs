//! Shared identifier vectors: element strings and scan data.
//!
//! Reads `../shared/identifier-vectors/identifier-vectors.jsonl` and checks every case of ops
//! `parse_scan_data` and `parse_bracketed` (including the `bad-*` ones): validity must agree and
//! every expected value must agree exactly.
//!
//! Where the cross-check oracle (biip) disagrees with the syntax engine, we follow the standard:
//! bad-014 (wrong GTIN check digit) is invalid (GS1 General Specifications: the check digit is
//! part of the key); bad-016 (`(10)` alone) is invalid because the dictionary's `req=` rule for
//! AI (10) demands a trade item key; biip reports the first as a warning and skips the second.

use serde_json::Value;
use unitrace_id::element::{ElementString, Symbology};

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
fn element_string_vectors() {
    let cases = cases(&["parse_scan_data", "parse_bracketed"]);
    assert_eq!(cases.len(), 41, "the vector file changed");
    let mut failures = Vec::new();
    for c in &cases {
        let id = c["id"].as_str().unwrap();
        let input = c["input"].as_str().unwrap();
        let res = match c["op"].as_str().unwrap() {
            "parse_scan_data" => ElementString::parse_scan_data(input),
            _ => ElementString::parse_bracketed(input),
        };
        // bad-017 (`]E00952123454321`): EAN-13 scan data whose check digit is wrong (1, should
        // be 4); we map ]E0 to AI (01) and reject it on the check digit like the syntax engine
        // (see `error_messages_name_the_ai`).
        let valid = c["valid"].as_bool().unwrap();
        match (&res, valid) {
            (Ok(es), true) => {
                let e = &c["expected"];
                let mut check = |what: &str, got: Value| {
                    if e[what] != got {
                        failures.push(format!("{id}: {what}: got {got}, want {}", e[what]));
                    }
                };
                check("ais", ais_json(es));
                check("bracketed", es.to_bracketed().into());
                check("element_string_gs", es.to_gs().into());
                check(
                    "hri",
                    Value::Array(es.hri().into_iter().map(Value::from).collect()),
                );
                let mut sd = serde_json::Map::new();
                for s in [
                    Symbology::DataMatrix,
                    Symbology::Gs1_128,
                    Symbology::Qr,
                    Symbology::DataBar,
                ] {
                    sd.insert(s.id().to_string(), es.to_scan_data(s).into());
                }
                check("scan_data", Value::Object(sd));
                match es.to_digital_link() {
                    Ok(u) => {
                        check("dl_uri", u.into());
                        check("dl_error", Value::Null);
                    }
                    Err(err) => {
                        if e["dl_error"].is_null() {
                            failures.push(format!("{id}: unexpected DL error {err}"));
                        }
                    }
                }
                // the scan data we write parses back to the same AIs
                for s in Symbology::ALL {
                    let back = ElementString::parse_scan_data(&es.to_scan_data(s));
                    if back.as_ref() != Ok(es) {
                        failures.push(format!("{id}: {} round trip: {back:?}", s.id()));
                    }
                }
            }
            (Err(err), false) => {
                let ours = err.to_string();
                if let Some(ai) = named_ai(c["error"].as_str().unwrap_or("")) {
                    if !ours.contains(&format!("({ai})")) {
                        failures.push(format!("{id}: error {ours:?} does not name AI ({ai})"));
                    }
                }
            }
            (Ok(es), false) => failures.push(format!("{id}: accepted invalid input as {es}")),
            (Err(err), true) => failures.push(format!("{id}: rejected valid input: {err}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_messages_name_the_ai() {
    let e = ElementString::parse_bracketed("(01)09521234543214").unwrap_err();
    assert_eq!(e.to_string(), "AI (01): check digit should be 3, found 4");
    let e = ElementString::parse_bracketed("(01)09521234543213(17)251332").unwrap_err();
    assert!(
        e.to_string().starts_with("AI (17): invalid date 251332"),
        "{e}"
    );
    let e = ElementString::parse_scan_data("]E00952123454321").unwrap_err();
    assert_eq!(e.to_string(), "AI (01): check digit should be 4, found 1");
    let es = ElementString::parse_scan_data("]E09521234543213").unwrap();
    assert_eq!(es.to_bracketed(), "(01)09521234543213");
    // a Digital Link in a plain QR Code
    let es =
        ElementString::parse_scan_data("]Q1https://id.gs1.org/01/09521234543213/21/A").unwrap();
    assert_eq!(es.to_bracketed(), "(01)09521234543213(21)A");
    assert_eq!(
        serde_json::to_string(&es).unwrap(),
        r#"[["01","09521234543213"],["21","A"]]"#
    );
    assert!(ElementString::parse_scan_data("]Q1hello").is_err());
    let e = ElementString::parse_scan_data("]X0123").unwrap_err();
    assert!(e.to_string().contains("]X0"), "{e}");
}

#[test]
fn caret_and_gs_forms() {
    let es = ElementString::parse_scan_data("^010952123454321310ABC123^21XYZ").unwrap();
    assert_eq!(es.to_bracketed(), "(01)09521234543213(10)ABC123(21)XYZ");
    assert_eq!(es.to_caret(), "^010952123454321310ABC123^21XYZ");
    // a superfluous FNC1 after a predefined-length AI is tolerated
    let es2 = ElementString::parse_scan_data("]C101095212345432131\u{1d}0ABC123\u{1d}21XYZ");
    assert!(es2.is_err());
    let es3 =
        ElementString::parse_scan_data("]C10109521234543213\u{1d}10ABC123\u{1d}21XYZ").unwrap();
    assert_eq!(es3, es);
    // duplicates with the same value are fine, different values are not
    assert!(ElementString::parse_bracketed("(01)09521234543213(21)A(21)A").is_ok());
    assert!(ElementString::parse_bracketed("(01)09521234543213(21)A(21)B").is_err());
    // literal '(' in a value round-trips through the bracketed form
    let es4 = ElementString::parse_bracketed("(01)09521234543213(21)A\\(B").unwrap();
    assert_eq!(es4.get("21"), Some("A(B"));
    assert_eq!(es4.to_bracketed(), "(01)09521234543213(21)A\\(B");
}
