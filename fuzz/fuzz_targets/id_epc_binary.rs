//! RFID binary EPCs: never panics; a decoded tag re-encodes to the same bits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use unitrace_id::epc::{decode_hex, EpcTag};

fuzz_target!(|data: &[u8]| {
    let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
    for input in [hex.as_str(), std::str::from_utf8(data).unwrap_or("")] {
        let Ok(tag) = decode_hex(input) else { continue };
        let again = EpcTag::new(tag.scheme(), tag.filter(), tag.identity().clone(), tag.gcp_len())
            .expect("a decoded tag re-encodes");
        assert_eq!(again.hex(), tag.hex());
    }
});
