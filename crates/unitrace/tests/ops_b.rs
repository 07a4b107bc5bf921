//! `unitrace recall|receive|count` as a user runs them, on a SQLite database filled by
//! `unitrace demo` (started on port 0 and stopped once it serves).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn demo_db(dir: &std::path::Path) -> String {
    let db = format!("sqlite:{}", dir.join("demo.sqlite").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_unitrace"))
        .args(["demo", "--db", &db, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start unitrace demo");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let mut serving = false;
    for l in lines.by_ref() {
        if l.expect("demo output").starts_with("unitrace serving") {
            serving = true;
            break;
        }
    }
    // Stop it (SIGKILL is fine: every capture was acknowledged, so it is durable).
    let _ = child.kill();
    let _ = child.wait();
    assert!(serving, "unitrace demo did not start serving");
    db
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unitrace"))
        .args(args)
        .env_remove("UNITRACE_DB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unitrace");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &str) -> Value {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// Status 1, nothing on stdout, one line on stderr.
fn bad(args: &[&str]) -> String {
    let out = run(args, "");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

#[test]
fn recall_receive_and_count_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let demo = unitrace_demo::generate(&Default::default());
    let lot = &demo.stories.recalled_lot;

    // Recall.
    let r = ok(
        &[
            "recall",
            "create",
            "--db",
            &db,
            "--gtin",
            &lot.gtin,
            "--lot",
            &lot.lot,
            "--reason",
            "dissolution",
        ],
        "",
    );
    assert_eq!(r["affected_count"], 400);
    let id = r["id"].as_str().unwrap().to_string();
    let page = ok(&["recall", "units", "--db", &db, &id, "--limit", "10"], "");
    assert_eq!(page["units"].as_array().unwrap().len(), 10);
    let next = page["next"].as_str().unwrap().to_string();
    let page2 = ok(
        &[
            "recall", "units", "--db", &db, &id, "--limit", "10", "--after", &next,
        ],
        "",
    );
    assert!(page2["units"][0]["epc_uri"].as_str().unwrap() > next.as_str());
    let shown = ok(&["recall", "show", "--db", &db, &id], "");
    assert_eq!(shown["progress"]["outstanding"], 400);
    let held = ok(&["recall", "hold", "--db", &db, &id], "");
    assert_eq!(held["status"], "held");
    let e = bad(&["recall", "hold", "--db", &db, &id]);
    assert!(e.contains("held once"), "{e}");
    let out = run(
        &["recall", "export", "--db", &db, &id, "--format", "csv"],
        "",
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 401);
    let out = run(
        &["recall", "export", "--db", &db, &id, "--format", "epcis"],
        "",
    );
    assert!(out.status.success());
    unitrace_epcis::validate_and_hash(&out.stdout).expect("valid EPCIS");
    let e = bad(&["recall", "create", "--db", &db]);
    assert!(e.contains("empty"), "{e}");
    let e = bad(&["recall", "show", &id]);
    assert!(e.contains("--db"), "{e}");

    // Receiving: the expected list from standard input, scans as arguments.
    let loc = &demo.stories.moved_without_scan.actual_location;
    let s = ok(
        &[
            "receive",
            "open",
            "--db",
            &db,
            "--location",
            loc,
            "--expected",
            "-",
        ],
        &format!("{}\n{}\n", lot.units[0], lot.units[1]),
    );
    let sid = s["id"].as_str().unwrap().to_string();
    ok(
        &[
            "receive",
            "scan",
            "--db",
            &db,
            &sid,
            &lot.units[0],
            &lot.units[0],
        ],
        "",
    );
    let st = ok(&["receive", "status", "--db", &db, &sid], "");
    assert_eq!(st["counts"]["received"], 1);
    assert_eq!(st["counts"]["missing"], 1);
    assert_eq!(st["counts"]["duplicate_scan"], 1);
    let closed = ok(&["receive", "close", "--db", &db, &sid], "");
    assert_eq!(closed["status"], "closed");
    bad(&["receive", "close", "--db", &db, &sid]);
    let e = bad(&["receive", "scan", "--db", &db, &sid, "nonsense"]);
    assert!(e.contains("scan 1"), "{e}");

    // Cycle count of the Berlin shelf where the moved pack should be.
    let m = &demo.stories.moved_without_scan;
    let c = ok(
        &[
            "count",
            "open",
            "--db",
            &db,
            "--location",
            &m.recorded_location,
        ],
        "",
    );
    let cid = c["id"].as_str().unwrap().to_string();
    ok(
        &["count", "scan", "--db", &db, &cid],
        &format!("{}\n", lot.units[2]),
    );
    let closed = ok(&["count", "close", "--db", &db, &cid], "");
    let missing: Vec<&str> = closed["outcome"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(missing.contains(&m.epc.as_str()));
    let acc = ok(
        &["count", "accuracy", "--db", &db, &m.recorded_location],
        "",
    );
    assert_eq!(acc["accuracy"].as_array().unwrap().len(), 1);
}
