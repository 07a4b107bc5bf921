//! GS1 Digital Link URIs (plain and compressed): never panics; canonical output is a fixpoint.
#![no_main]
use libfuzzer_sys::fuzz_target;
use unitrace_id::digital_link;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(es) = digital_link::parse(s) else { return };
    if let Ok(uri) = es.to_digital_link() {
        let again = digital_link::parse(&uri).expect("canonical Digital Link parses");
        assert_eq!(again.to_digital_link().ok().as_deref(), Some(uri.as_str()));
    }
});
