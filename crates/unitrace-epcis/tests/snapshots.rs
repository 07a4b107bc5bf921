//! Snapshot tests of the JSON and XML writers: representative documents (from
//! `../shared/gs1-epcis/examples` and this crate's fixtures) are converted and compared byte for
//! byte with the expected outputs under `tests/snapshots/`.
//!
//! After an intended change of the writers' output, regenerate with
//! `UPDATE_SNAPSHOTS=1 cargo test -p unitrace-epcis --test snapshots` and review the diff.

use std::path::{Path, PathBuf};

use unitrace_epcis::{convert, hash_document, EpcFormat, Format};

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/gs1-epcis/examples"
);

/// (input, output format, identifier form, snapshot file)
const CASES: &[(&str, Format, EpcFormat, &str)] = &[
    (
        "JSON/Example_9.6.1-ObjectEvent.jsonld",
        Format::Json,
        EpcFormat::AsIs,
        "object_event.json",
    ),
    (
        "JSON/Example_9.6.1-ObjectEvent.jsonld",
        Format::Xml,
        EpcFormat::AsIs,
        "object_event.xml",
    ),
    (
        "JSON/Example_9.6.1-ObjectEvent.jsonld",
        Format::Json,
        EpcFormat::DigitalLink,
        "object_event.dl.json",
    ),
    (
        "JSON/WithFullCombinationOfFields/aggregation_event_all_possible_fields.jsonld",
        Format::Xml,
        EpcFormat::AsIs,
        "aggregation_event_all_fields.xml",
    ),
    (
        "JSON/WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld",
        Format::Json,
        EpcFormat::AsIs,
        "transformation_event_all_fields.json",
    ),
    (
        "XML/WithSensorData/SensorDataExamples.xml",
        Format::Json,
        EpcFormat::AsIs,
        "sensor_data.json",
    ),
    (
        "XML/WithSensorData/SensorDataExamples.xml",
        Format::Xml,
        EpcFormat::Urn,
        "sensor_data.urn.xml",
    ),
    (
        "fixture:epcis12_all_types.xml",
        Format::Xml,
        EpcFormat::AsIs,
        "epcis12_up_converted.xml",
    ),
];

fn input(rel: &str) -> PathBuf {
    if let Some(f) = rel.strip_prefix("fixture:") {
        return Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/xml")
            .join(f);
    }
    let base = Path::new(EXAMPLES);
    assert!(
        base.is_dir(),
        "reference data missing: {} (the tests read ../shared/gs1-epcis next to the project)",
        base.display()
    );
    base.join(rel)
}

#[test]
fn writers_match_their_snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut failures = Vec::new();
    for (rel, to, epc, name) in CASES {
        let src = std::fs::read(input(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let out = convert(&src, *to, *epc).unwrap_or_else(|e| panic!("{rel} -> {name}: {e}"));
        // The output reads back with the same number of events, and with the same hashes when
        // the format stays the same (the reference hash treats some XML values differently from
        // JSON ones, e.g. prefixed values and booleans, so a format change may change hashes).
        let before = hash_document(&src).unwrap();
        let after = hash_document(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(before.len(), after.len(), "{name}: event count changed");
        if unitrace_epcis::detect_format(&src) == Some(*to) {
            assert_eq!(before, after, "{name}: event hashes changed");
        }
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &out).unwrap();
            continue;
        }
        match std::fs::read(&path) {
            Ok(expected) if expected == out => {}
            Ok(expected) => {
                let (e, o) = (
                    String::from_utf8_lossy(&expected),
                    String::from_utf8_lossy(&out),
                );
                let line = e
                    .lines()
                    .zip(o.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(e.lines().count().min(o.lines().count()));
                failures.push(format!(
                    "{name}: differs from the snapshot at line {}:\n  expected: {}\n  got:      {}",
                    line + 1,
                    e.lines().nth(line).unwrap_or("<end>"),
                    o.lines().nth(line).unwrap_or("<end>")
                ));
            }
            Err(e) => failures.push(format!(
                "{name}: no snapshot ({e}); run with UPDATE_SNAPSHOTS=1"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(regenerate with UPDATE_SNAPSHOTS=1 after an intended change)",
        failures.join("\n")
    );
}

#[test]
fn xml_writer_indents_by_default() {
    let src = std::fs::read(input("JSON/Example_9.6.1-ObjectEvent.jsonld")).unwrap();
    let out = String::from_utf8(convert(&src, Format::Xml, EpcFormat::AsIs).unwrap()).unwrap();
    assert!(out.lines().count() > 10, "{out}");
    assert!(out.contains("\n  "), "not indented:\n{out}");
}
