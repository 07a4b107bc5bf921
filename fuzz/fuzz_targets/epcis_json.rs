//! EPCIS JSON-LD documents: reading, validating and hashing never panic, and the one-pass
//! `validate_and_hash` (with its fast path for plain ObjectEvents) agrees with validation and
//! hashing done apart.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if !data.first().is_some_and(|b| *b == b'{') {
        return;
    }
    let want = match unitrace_epcis::validate_document(data) {
        Ok(()) => Ok(unitrace_epcis::hash_document(data).expect("a valid document hashes")),
        Err(p) => Err(p),
    };
    assert_eq!(unitrace_epcis::validate_and_hash(data), want);
    let _ = unitrace_epcis::read_document(data);
});
