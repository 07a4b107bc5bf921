//! EPCIS JSON-LD documents: reading, validating and hashing never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if !data.first().is_some_and(|b| *b == b'{') {
        return;
    }
    let _ = unitrace_epcis::validate_document(data);
    let _ = unitrace_epcis::hash_document(data);
    let _ = unitrace_epcis::read_document(data);
});
