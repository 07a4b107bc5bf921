//! EPC pure identity and tag URIs: never panics; what parses formats back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use unitrace_id::epc::{parse_epc_uri, parse_tag_uri};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(uri) = parse_epc_uri(s) {
        let again = parse_epc_uri(&uri.to_uri()).expect("own EPC URI parses");
        assert_eq!(again, uri);
    }
    if let Ok(tag) = parse_tag_uri(s) {
        let again = parse_tag_uri(&tag.tag_uri()).expect("own tag URI parses");
        assert_eq!(again.hex(), tag.hex());
    }
});
