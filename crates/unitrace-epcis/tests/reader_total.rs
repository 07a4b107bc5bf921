//! The JSON reader, validator and hasher are total: any bytes give a result, never a panic.

use proptest::prelude::*;

const SEED: &[u8] = br#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"ex":"https://ex.com/"}],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z","epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00.1234+01:00","eventTimeZoneOffset":"+01:00","epcList":["urn:epc:id:sgtin:0614141.107346.2017","https://id.gs1.org/01/09521234543213/21/x"],"action":"ADD","bizStep":"shipping","ilmd":{"ex:a":[1,{"b":null}]},"sensorElementList":[{"sensorReport":[{"type":"Temperature","value":1e3,"booleanValue":true}]}],"ex:x":"urn:epc:id:sscc:0614141.1234567890"}]}}"#;

/// Plain ObjectEvents (the shape `validate_and_hash` reads without `serde_json::Value`).
const SEED_PLAIN: &[u8] = br#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"ex":"https://ex.com/"}],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z","epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00.1234+01:00","eventTimeZoneOffset":"+01:00","epcList":["urn:epc:id:sgtin:0614141.107346.2017","urn:epc:id:sgtin:0614141.107346.2018"],"action":"ADD","bizStep":"shipping","disposition":"in_transit","readPoint":{"id":"urn:epc:id:sgln:0614141.07346.1234"}},{"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","epcList":["urn:epc:id:sgtin:0614141.107346.2017"],"action":"OBSERVE","bizStep":"shipping","disposition":"in_transit"}]}}"#;

fn exercise(bytes: &[u8]) {
    // One pass (with its fast path for plain events) agrees with validation and hashing apart.
    let want = match unitrace_epcis::validate_document(bytes) {
        Ok(()) => Ok(unitrace_epcis::hash_document(bytes).expect("a valid document hashes")),
        Err(p) => Err(p),
    };
    assert_eq!(unitrace_epcis::validate_and_hash(bytes), want);
    let _ = unitrace_epcis::hash_document(bytes);
    let _ = unitrace_epcis::read_document(bytes);
    let _ = unitrace_epcis::convert(
        bytes,
        unitrace_epcis::Format::Json,
        unitrace_epcis::EpcFormat::Urn,
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_documents(pos in 0..SEED.len(), len in 0..8usize, byte in any::<u8>(), cut in 0..SEED.len()) {
        let mut v = SEED.to_vec();
        let end = (pos + len).min(v.len());
        for b in &mut v[pos..end] {
            *b = byte;
        }
        exercise(&v);
        exercise(&SEED[..cut]);
        let mut v = SEED_PLAIN.to_vec();
        let pos = pos % v.len();
        let end = (pos + len).min(v.len());
        for b in &mut v[pos..end] {
            *b = byte;
        }
        exercise(&v);
        exercise(&SEED_PLAIN[..cut % SEED_PLAIN.len()]);
    }

    #[test]
    fn arbitrary_strings_in_fields(s in ".{0,40}") {
        let text = String::from_utf8_lossy(SEED).replace("shipping", &s.replace(['"', '\\'], ""));
        exercise(text.as_bytes());
        let text = String::from_utf8_lossy(SEED).replace("2024-01-01T00:00:00.1234+01:00", &s.replace(['"', '\\'], ""));
        exercise(text.as_bytes());
        let text = String::from_utf8_lossy(SEED).replace("urn:epc:id:sgtin:0614141.107346.2017", &s.replace(['"', '\\'], ""));
        exercise(text.as_bytes());
        for field in ["shipping", "2024-01-01T00:00:00Z", "+01:00", "urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgln:0614141.07346.1234", "OBSERVE"] {
            let text = String::from_utf8_lossy(SEED_PLAIN).replacen(field, &s.replace(['"', '\\'], ""), 1);
            exercise(text.as_bytes());
        }
    }
}

#[test]
fn plain_seed_is_valid() {
    assert_eq!(
        unitrace_epcis::validate_and_hash(SEED_PLAIN).map(|h| h.len()),
        Ok(2)
    );
}
