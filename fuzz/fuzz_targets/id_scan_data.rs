//! Barcode scan data: never panics; what parses writes out and parses back identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use unitrace_id::{ElementString, Symbology};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(es) = ElementString::parse_scan_data(s) else { return };
    let again = ElementString::parse_scan_data(&es.to_scan_data(Symbology::DataMatrix))
        .expect("own scan data parses");
    assert_eq!(again.ais(), es.ais());
    let again = ElementString::parse_bracketed(&es.to_bracketed()).expect("own bracketed parses");
    assert_eq!(again.ais(), es.ais());
});
