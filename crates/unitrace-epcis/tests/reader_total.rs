//! The JSON reader, validator and hasher are total: any bytes give a result, never a panic.

use proptest::prelude::*;

const SEED: &[u8] = br#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"ex":"https://ex.com/"}],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z","epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00.1234+01:00","eventTimeZoneOffset":"+01:00","epcList":["urn:epc:id:sgtin:0614141.107346.2017","https://id.gs1.org/01/09521234543213/21/x"],"action":"ADD","bizStep":"shipping","ilmd":{"ex:a":[1,{"b":null}]},"sensorElementList":[{"sensorReport":[{"type":"Temperature","value":1e3,"booleanValue":true}]}],"ex:x":"urn:epc:id:sscc:0614141.1234567890"}]}}"#;

fn exercise(bytes: &[u8]) {
    let _ = unitrace_epcis::validate_document(bytes);
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
    }

    #[test]
    fn arbitrary_strings_in_fields(s in ".{0,40}") {
        let text = String::from_utf8_lossy(SEED).replace("shipping", &s.replace(['"', '\\'], ""));
        exercise(text.as_bytes());
        let text = String::from_utf8_lossy(SEED).replace("2024-01-01T00:00:00.1234+01:00", &s.replace(['"', '\\'], ""));
        exercise(text.as_bytes());
        let text = String::from_utf8_lossy(SEED).replace("urn:epc:id:sgtin:0614141.107346.2017", &s.replace(['"', '\\'], ""));
        exercise(text.as_bytes());
    }
}
