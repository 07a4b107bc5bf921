//! The `unitrace` binary as a user runs it: exit codes, stdout and stderr contracts.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn unitrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unitrace"))
        .args(args)
        .env_remove("UNITRACE_COMPANY_PREFIXES")
        .output()
        .expect("run unitrace")
}

fn unitrace_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unitrace"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unitrace");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json_ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// Asserts the bad-input contract: status 1, nothing on stdout, one line on stderr.
fn bad(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err}");
    err
}

const DATAMATRIX: &str = "]d20180614141123458216789";
const DIGITAL_LINK: &str = "https://id.gs1.org/01/80614141123458/21/6789";
const RFID: &str = "hex:3074257BF7194E4000001A85";

#[test]
fn datamatrix_digital_link_and_rfid_give_one_identity() {
    // The README's example: one unit, three forms.
    let dm = json_ok(&unitrace(&["id", "parse", "--json", DATAMATRIX]));
    let dl = json_ok(&unitrace(&["id", "parse", "--json", DIGITAL_LINK]));
    let hex = json_ok(&unitrace(&["id", "parse", "--json", RFID]));
    assert_eq!(dm["input_kind"], "scan_data");
    assert_eq!(dl["input_kind"], "digital_link");
    assert_eq!(hex["input_kind"], "epc_binary");
    for v in [&dm, &dl, &hex] {
        assert_eq!(v["epc_uri"], "urn:epc:id:sgtin:0614141.812345.6789", "{v}");
        assert_eq!(v["bracketed"], "(01)80614141123458(21)6789", "{v}");
        assert_eq!(v["digital_link"], DIGITAL_LINK, "{v}");
        assert_eq!(
            v["ais"],
            serde_json::json!([["01", "80614141123458"], ["21", "6789"]])
        );
    }
    assert_eq!(hex["scheme"], "sgtin-96");
    assert_eq!(hex["filter"], 3);
    assert_eq!(hex["tag_uri"], "urn:epc:tag:sgtin-96:3.0614141.812345.6789");
    assert_eq!(hex["hex"], "3074257BF7194E4000001A85");
    assert!(dm.get("scheme").is_none(), "no tag fields for a barcode");
}

#[test]
fn encode_gives_tag_uri_and_hex() {
    let out = json_ok(&unitrace(&[
        "id",
        "encode",
        "--scheme",
        "sgtin-96",
        "--filter",
        "3",
        DIGITAL_LINK,
    ]));
    assert_eq!(out["tag_uri"], "urn:epc:tag:sgtin-96:3.0614141.812345.6789");
    assert_eq!(out["hex"], "3074257BF7194E4000001A85");
    // A serial that SGTIN-96 cannot hold fits SGTIN-198.
    let out = json_ok(&unitrace(&[
        "id",
        "encode",
        "--scheme",
        "sgtin-198",
        "--filter",
        "1",
        "(01)80614141123458(21)AB/1",
    ]));
    assert_eq!(
        out["tag_uri"],
        "urn:epc:tag:sgtin-198:1.0614141.812345.AB%2F1"
    );
    let err = bad(&unitrace(&[
        "id",
        "encode",
        "--scheme",
        "sgtin-96",
        "(01)80614141123458(21)AB",
    ]));
    assert!(err.contains("sgtin-96"), "{err}");
    let err = bad(&unitrace(&[
        "id",
        "encode",
        "--scheme",
        "nope-96",
        DIGITAL_LINK,
    ]));
    assert!(err.contains("unknown scheme"), "{err}");
}

#[test]
fn product_without_serial_has_no_epc_and_says_why() {
    let out = json_ok(&unitrace(&[
        "id",
        "parse",
        "--json",
        "(01)80614141123458(10)LOT9",
    ]));
    assert_eq!(out["epc_uri"], Value::Null);
    assert!(out["epc_uri_error"]
        .as_str()
        .unwrap()
        .contains("no serialised unit"));
    // GID has no GS1 key: no Digital Link.
    let gid = json_ok(&unitrace(&[
        "id",
        "parse",
        "--json",
        "urn:epc:id:gid:31231.11.12",
    ]));
    assert_eq!(gid["digital_link"], Value::Null);
    assert_eq!(gid["epc_uri"], "urn:epc:id:gid:31231.11.12");
}

#[test]
fn configured_company_prefix_wins_over_the_table() {
    let out = json_ok(&unitrace(&[
        "id",
        "parse",
        "--json",
        "--company-prefix",
        "061414112",
        "(01)80614141123458(21)6789",
    ]));
    assert_eq!(out["epc_uri"], "urn:epc:id:sgtin:061414112.8345.6789");
}

#[test]
fn bad_input_exits_1_with_one_line_naming_the_part() {
    let err = bad(&unitrace(&[
        "id",
        "parse",
        "--json",
        "(01)80614141123457(21)6789",
    ]));
    assert!(
        err.contains("AI (01): check digit should be 8, found 7"),
        "{err}"
    );
    let err = bad(&unitrace(&["id", "parse", "hex:3074257BF7194E4000001A8"]));
    assert!(err.starts_with("error: "), "{err}");
    bad(&unitrace(&[
        "id",
        "parse",
        "urn:epc:id:sgtin:0614141.81234.6789",
    ]));
    bad(&unitrace(&[
        "id",
        "parse",
        "https://id.gs1.org/01/80614141123458/21/X/10/Y",
    ]));
    bad(&unitrace(&["id", "parse", ""]));
}

#[test]
fn never_panics_on_odd_input() {
    let odd: &[&str] = &[
        "]",
        "]d",
        "]d2",
        "]d2\u{1d}",
        "^",
        "^^^",
        "(",
        "()",
        "(01",
        "(01)",
        "hex:",
        "hex:G",
        "hex:00",
        "urn:epc:id:",
        "urn:epc:id:sgtin:",
        "urn:epc:id:sgtin:...",
        "urn:epc:tag:x:1.2",
        "https://",
        "https://id.gs1.org/",
        "https://id.gs1.org/01/",
        "http://x/01/%ZZ",
        "(01)\u{1F600}",
        "]Q3\u{1d}\u{1d}01",
        "urn:epc:id:gid:1.1.99999999999999999999",
    ];
    for input in odd {
        let out = unitrace(&["id", "parse", "--json", input]);
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "{input:?}: status {:?}, stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{input:?}"
        );
    }
}

#[test]
fn reads_scan_data_with_gs_from_stdin() {
    let out = unitrace_stdin(
        &["id", "parse", "--json", "-"],
        b"]d2010952123454321310ABC\x1d21XYZ\n",
    );
    let v = json_ok(&out);
    assert_eq!(v["bracketed"], "(01)09521234543213(10)ABC(21)XYZ");
    assert_eq!(v["input_kind"], "scan_data");
}

// ---- unitrace epcis ----

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

fn shared(path: &str) -> String {
    let p = format!("{SHARED}/{path}");
    assert!(
        std::path::Path::new(&p).exists(),
        "{p} is missing: the shared reference data must sit beside the project (../shared)"
    );
    p
}

#[test]
fn epcis_hash_prints_the_reference_hashes_for_json_and_xml() {
    let base = "epcis-event-hash-vectors/examples/epcisDocWithVariousEventTypes";
    let want = std::fs::read_to_string(shared(&format!("{base}.hashes"))).unwrap();
    for ext in ["jsonld", "xml"] {
        let out = unitrace(&["epcis", "hash", &shared(&format!("{base}.{ext}"))]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want.trim(),
            "{ext}"
        );
    }
}

#[test]
fn epcis_validate_accepts_a_valid_document_and_lists_problems_of_a_bad_one() {
    let good = shared("gs1-epcis/examples/JSON/Example_9.6.1-ObjectEvent.jsonld");
    let out = unitrace(&["epcis", "validate", &good]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty() && out.stderr.is_empty());

    let text = std::fs::read_to_string(&good).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["epcisBody"]["eventList"][1]["action"] = Value::from("MOVE");
    doc["epcisBody"]["eventList"][0]["eventTimeZoneOffset"] = Value::from("6 hours");
    let bad_doc = serde_json::to_vec(&doc).unwrap();
    let out = unitrace_stdin(&["epcis", "validate", "-"], &bad_doc);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "one line per problem: {err}");
    assert!(err.contains("/epcisBody/eventList/1/action"), "{err}");
    assert!(
        err.contains("/epcisBody/eventList/0/eventTimeZoneOffset"),
        "{err}"
    );
}

#[test]
fn epcis_convert_keeps_every_event_hash_both_ways() {
    let src = shared("gs1-epcis/examples/JSON/Example_9.6.1-ObjectEvent.jsonld");
    let hashes = |bytes: &[u8]| {
        let out = unitrace_stdin(&["epcis", "hash", "-"], bytes);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let original = hashes(&std::fs::read(&src).unwrap());
    assert_eq!(original.lines().count(), 2);
    let xml = unitrace(&["epcis", "convert", "--to", "xml", &src]);
    assert!(
        xml.status.success(),
        "{}",
        String::from_utf8_lossy(&xml.stderr)
    );
    assert!(xml.stdout.starts_with(b"<?xml"));
    assert_eq!(hashes(&xml.stdout), original);
    let json = unitrace_stdin(&["epcis", "convert", "--to", "json", "-"], &xml.stdout);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    assert_eq!(hashes(&json.stdout), original);
    // Digital Link output: the EPC URNs become https://id.gs1.org links; the hash does not move.
    let dl = unitrace(&[
        "epcis",
        "convert",
        "--to",
        "json",
        "--epc-format",
        "dl",
        &src,
    ]);
    let text = String::from_utf8(dl.stdout).unwrap();
    assert!(text.contains("https://id.gs1.org/01/"), "{text}");
    assert!(!text.contains("urn:epc:id:sgtin"), "{text}");
    assert_eq!(hashes(text.as_bytes()), original);
}

#[test]
fn epcis_bad_input_never_panics() {
    for input in [
        &b""[..],
        b"{",
        b"<",
        b"<x/>",
        b"{\"type\":\"EPCISDocument\"}",
        b"\xff\xfe",
        b"[]",
    ] {
        for verb in ["validate", "hash"] {
            let out = unitrace_stdin(&["epcis", verb, "-"], input);
            assert_eq!(out.status.code(), Some(1), "{verb} {input:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !err.contains("panicked") && !err.is_empty(),
                "{verb} {input:?}: {err}"
            );
        }
    }
    let out = unitrace(&["epcis", "hash", "/nonexistent/file.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/file.json"));
}
