//! Any string through the identifier entry point: never panics; whatever parses renders every
//! other form and parses back to the same unit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use unitrace_id::{parse_any, GcpResolver};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(p) = parse_any(s) else { return };
    let resolver = GcpResolver::new();
    let bracketed = p.bracketed();
    if let Some(dl) = p.digital_link() {
        let back = parse_any(&dl).expect("own Digital Link parses");
        assert_eq!(back.identity, p.identity);
    }
    if let Ok(uri) = p.epc_uri(&resolver) {
        let back = parse_any(&uri).expect("own EPC URI parses");
        assert_eq!(back.identity, p.identity);
    }
    if !p.ais().is_empty() {
        let back = parse_any(&bracketed).expect("own element string parses");
        assert_eq!(back.ais(), p.ais());
    }
});
