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

#[test]
fn json_model_json_keeps_every_event_hash() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in json_examples() {
        let rel = f.strip_prefix(EXAMPLES).unwrap().display().to_string();
        if expected_invalid(&rel).is_some() {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        let before = unitrace_epcis::hash_document(&bytes).unwrap();
        let doc = match unitrace_epcis::read_document(&bytes) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{rel}: {e}"));
                continue;
            }
        };
        assert_eq!(doc.events().len(), before.len(), "{rel}");
        let mut out = Vec::new();
        doc.write_json(&mut out).unwrap();
        let after = unitrace_epcis::hash_document(&out).unwrap();
        if before != after {
            failures.push(format!(
                "{rel}: hashes changed\n{}",
                String::from_utf8_lossy(&out)
            ));
        }
        // The written document is valid again and reads back to the same model.
        if let Err(p) = unitrace_epcis::validate_document(&out) {
            failures.push(format!("{rel}: written document invalid: {p:?}"));
        }
        let again = unitrace_epcis::read_document(&out).unwrap();
        if again != doc {
            failures.push(format!("{rel}: model changed after a round trip"));
        }
        checked += 1;
    }
    eprintln!("{checked} JSON examples round-tripped");
    assert!(checked >= 80);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn convert_json_keeps_hashes_and_epc_forms_convert() {
    use unitrace_epcis::{convert, hash_document, EpcFormat, Format};
    let f = Path::new(EXAMPLES).join("JSON/Example_9.6.1-ObjectEvent.jsonld");
    let bytes = std::fs::read(f).unwrap();
    let before = hash_document(&bytes).unwrap();
    for fmt in [EpcFormat::AsIs, EpcFormat::DigitalLink, EpcFormat::Urn] {
        let out = convert(&bytes, Format::Json, fmt).unwrap();
        assert_eq!(hash_document(&out).unwrap(), before, "{fmt:?}");
        let text = String::from_utf8(out).unwrap();
        match fmt {
            EpcFormat::DigitalLink => assert!(!text.contains("urn:epc:id:sgtin"), "{text}"),
            EpcFormat::Urn => assert!(text.contains("urn:epc:id:sgtin"), "{text}"),
            EpcFormat::AsIs => {}
        }
    }
}

#[test]
fn hand_made_invalid_documents_are_rejected_with_event_and_pointer() {
    let doc = br#"{"@context":"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
      "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z",
      "epcisBody":{"eventList":[
        {"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","epcList":[],"action":"OBSERVE"},
        {"type":"ObjectEvent","eventID":"ni:///sha-256;abc?ver=CBV2.0","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","epcList":[],"action":"MOVE"}]}}"#;
    let p = unitrace_epcis::validate_document(doc).unwrap_err();
    let lines: Vec<String> = p.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["event 1 (ni:///sha-256;abc?ver=CBV2.0): /epcisBody/eventList/1/action: must be ADD, OBSERVE or DELETE, found \"MOVE\""]
    );
    for bad in [
        &b"{"[..],
        b"",
        b"[1]",
        b"<x",
        b"{\"type\":\"EPCISDocument\"}",
    ] {
        assert!(unitrace_epcis::validate_document(bad).is_err());
        assert!(unitrace_epcis::hash_document(bad).is_err() || bad.starts_with(b"{\"type"));
    }
}

fn xml_examples() -> Vec<PathBuf> {
    fn walk_xml(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk_xml(&p, out);
            } else if p.extension().is_some_and(|x| x == "xml") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk_xml(&Path::new(EXAMPLES).join("XML"), &mut v);
    v.sort();
    v
}

/// XML examples that are not valid EPCIS 2.0 event documents, with the reason.
fn xml_expected_invalid(rel: &str) -> Option<&'static str> {
    let rel = rel.replace('\\', "/");
    Some(match rel.as_str() {
        // Master-data documents and capture-job responses are not event documents.
        "XML/CBV/CBV-11.4-2020-06-16a.xml"
        | "XML/Mimasu/Example-masterData.xml"
        | "XML/CaptureJob/Example-CaptureJobRunning.xml"
        | "XML/CaptureJob/Example-CaptureJobSuccess.xml"
        | "XML/CaptureJob/Example-CaptureJobWithErrorFile.xml"
        | "XML/CaptureJob/Example-CaptureJobWithErrors.xml" => {
            "not an EPCISDocument or EPCISQueryDocument"
        }
        // Measurement types of a draft vocabulary (gs1:EffectiveDoseRate, gs1:Molar_concentration)
        // that the GS1 Web Vocabulary does not define.
        "XML/WithExtension/TransactionEvent.xml" | "XML/WithSensorData/SensorDataExamples.xml" => {
            "is not a standard measurement type"
        }
        _ => return None,
    })
}

#[test]
fn xml_examples_validate_through_the_xml_reader() {
    let mut failures = Vec::new();
    let mut valid = 0;
    let files = xml_examples();
    for f in &files {
        let rel = f.strip_prefix(EXAMPLES).unwrap().display().to_string();
        let bytes = std::fs::read(f).unwrap();
        match (
            xml_expected_invalid(&rel),
            unitrace_epcis::validate_document(&bytes),
        ) {
            (None, Ok(())) => valid += 1,
            (None, Err(p)) => failures.push(format!(
                "{rel}:\n  {}",
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )),
            (Some(why), Ok(())) => failures.push(format!("{rel}: accepted, but {why}")),
            (Some(why), Err(p)) => {
                if !p.iter().all(|x| x.to_string().contains(why)) {
                    failures.push(format!("{rel}: rejected for another reason: {p:?}"));
                }
            }
        }
    }
    eprintln!("{valid}/{} XML examples valid", files.len());
    assert!(files.len() >= 30, "found only {} XML examples", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
