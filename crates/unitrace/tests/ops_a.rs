//! `unitrace serials | commission | verify | alerts | decommission | reactivate` on a SQLite file.

use std::process::{Command, Output};

use serde_json::Value;

fn unitrace(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unitrace"))
        .args(args)
        .args(["--db", db])
        .env_remove("UNITRACE_DB")
        .output()
        .expect("run unitrace")
}

fn json_ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Status 1, nothing on stdout, one line on stderr naming the problem.
fn bad(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    e
}

const SITE: &str = "urn:epc:id:sgln:0614141.00777.0";
const OTHER: &str = "urn:epc:id:sgln:0614141.00888.0";

#[test]
fn allocate_commission_verify_decommission() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("cli.sqlite").display());
    let db = db.as_str();

    let a = json_ok(&unitrace(
        db,
        &[
            "serials",
            "allocate",
            "--gtin",
            "00614141999996",
            "--count",
            "3",
            "--method",
            "random",
            "--length",
            "10",
        ],
    ));
    let id = a["id"].as_str().unwrap().to_string();
    let serials: Vec<String> = a["serials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(serials.len(), 3);
    let shown = json_ok(&unitrace(db, &["serials", "show", &id]));
    assert_eq!(shown["serials"], a["serials"]);
    let list = json_ok(&unitrace(db, &["serials", "list"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    let e = bad(&unitrace(
        db,
        &["serials", "allocate", "--gtin", "123", "--count", "1"],
    ));
    assert!(e.contains("gtin"), "{e}");

    let c = json_ok(&unitrace(
        db,
        &[
            "commission",
            "--allocation",
            &id,
            "--lot",
            "L9",
            "--expiry",
            "2031-05-31",
            "--location",
            SITE,
        ],
    ));
    assert_eq!(c["commissioned"], 3);
    let e = bad(&unitrace(
        db,
        &["commission", "--allocation", &id, "--location", SITE],
    ));
    assert!(e.contains("already commissioned"), "{e}");

    let unit = format!("(01)00614141999996(21){}", serials[0]);
    let v = json_ok(&unitrace(db, &["verify", &unit, "--lot", "L9"]));
    assert_eq!(v["verdict"], "authentic", "{v}");
    let v = json_ok(&unitrace(db, &["verify", &unit, "--expiry", "310530"]));
    assert_eq!(v["verdict"], "data_mismatch", "{v}");
    let v = json_ok(&unitrace(db, &["verify", "(01)00614141999996(21)NOTOURS"]));
    assert_eq!(v["verdict"], "unknown", "{v}");
    let e = bad(&unitrace(db, &["verify", "nonsense"]));
    assert!(e.contains("not a valid identifier"), "{e}");

    json_ok(&unitrace(
        db,
        &[
            "decommission",
            "--reason",
            "dispensed",
            "--location",
            SITE,
            &unit,
        ],
    ));
    let v = json_ok(&unitrace(db, &["verify", &unit]));
    assert_eq!(v["verdict"], "decommissioned", "{v}");
    let e = bad(&unitrace(db, &["reactivate", "--location", OTHER, &unit]));
    assert!(e.contains("same_location"), "{e}");
    json_ok(&unitrace(db, &["reactivate", "--location", SITE, &unit]));
    let v = json_ok(&unitrace(db, &["verify", &unit]));
    assert_eq!(v["verdict"], "authentic", "{v}");

    // The detector over this history (commissioning, dispensing, reactivation, a GTIN without
    // allocations): nothing to raise.
    json_ok(&unitrace(
        db,
        &[
            "commission",
            "--location",
            SITE,
            "urn:epc:id:sgtin:4012345.099999.ELSE",
        ],
    ));
    let d = json_ok(&unitrace(db, &["alerts", "detect"]));
    assert!(d["events_examined"].as_u64().unwrap() >= 4, "{d}");
    assert_eq!(d["raised"].as_array().unwrap().len(), 0, "{d}");
    let alerts = json_ok(&unitrace(db, &["alerts"]));
    assert_eq!(alerts.as_array().unwrap().len(), 0);
    let e = bad(&unitrace(db, &["alerts", "--rule", "bogus"]));
    assert!(e.contains("impossible_travel"), "{e}");
}
