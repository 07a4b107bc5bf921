//! Conformance against the GS1 EPCIS 2.0 example documents in `../shared/gs1-epcis/examples`.

use std::path::{Path, PathBuf};

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/gs1-epcis/examples"
);

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonld" || x == "json") {
            out.push(p);
        }
    }
}

fn json_examples() -> Vec<PathBuf> {
    let base = Path::new(EXAMPLES);
    assert!(
        base.is_dir(),
        "reference data missing: {} (the tests read ../shared/gs1-epcis next to the project)",
        base.display()
    );
    let mut v = Vec::new();
    for sub in ["JSON", "JSON-simple-context"] {
        walk(&base.join(sub), &mut v);
    }
    v.sort();
    v
}

/// Examples that break the official EPCIS 2.0 JSON schema (all in the older simple-context set,
/// whose full-context twins are valid), with the reason the validator must give.
fn expected_invalid(rel: &str) -> Option<&'static str> {
    let rel = rel.replace('\\', "/");
    let name = rel.strip_prefix("JSON-simple-context/")?;
    Some(match name {
        // sourceList / destinationList given as a single object instead of an array.
        "Example-TransactionEvents-2020_07_03y.jsonld" => "/sourceList: must be an array",
        // `id` instead of `eventID` on the events.
        "PersistentDisposition-example.jsonld" => "/epcisBody/eventList/0/id: unknown member",
        // a `type` member on sensorElement, which the schema does not allow.
        "WithFullCombinationOfFields/aggregation_event_all_possible_fields.jsonld"
        | "WithFullCombinationOfFields/association_event_all_possible_fields.jsonld"
        | "WithFullCombinationOfFields/transaction_event_all_possible_fields.jsonld"
        | "WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld"
        | "WithSensorData/SensorDataExample14.jsonld"
        | "WithSensorData/SensorDataExample15.jsonld" => {
            "/sensorElementList/0/type: unknown member"
        }
        // ILMD on an OBSERVE event (and the sensorElement `type`).
        "WithFullCombinationOfFields/object_event_all_possible_fields.jsonld" => {
            "/ilmd: ILMD is only allowed when action is ADD"
        }
        // schemaVersion and creationDate missing.
        "WithSensorData/SensorDataExample12.jsonld" => "schemaVersion is required",
        // schemaVersion given as a number.
        "WithSensorData/SensorDataExample17.jsonld" => "/schemaVersion: must be a version",
        _ => return None,
    })
}

#[test]
fn every_valid_json_example_validates() {
    let files = json_examples();
    assert!(
        files.len() >= 90,
        "found only {} JSON examples",
        files.len()
    );
    let mut failures = Vec::new();
    let mut valid = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let rel = f.strip_prefix(EXAMPLES).unwrap().display().to_string();
        let res = unitrace_epcis::validate_document(&bytes);
        match (expected_invalid(&rel), res) {
            (None, Ok(())) => valid += 1,
            (None, Err(p)) => failures.push(format!(
                "{rel}:\n  {}",
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )),
            (Some(why), Ok(())) => {
                failures.push(format!("{rel}: accepted, but it is invalid ({why})"))
            }
            (Some(why), Err(p)) => {
                if !p.iter().any(|x| x.to_string().contains(why)) {
                    failures.push(format!("{rel}: rejected for the wrong reason: {p:?}"));
                }
            }
        }
    }
    eprintln!("{valid}/{} JSON examples valid", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
