//! EPCIS XML documents (2.0 and 1.2): reading and writing back never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = unitrace_epcis::read_document_value(data) {
        let _ = unitrace_epcis::write_document_value(&value);
    }
    let _ = unitrace_epcis::validate_document(data);
    let _ = unitrace_epcis::hash_document(data);
});
