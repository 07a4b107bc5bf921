//! Property tests: round trips of generated valid data, and totality of every parser.

use proptest::prelude::*;
use unitrace_id::check::gs1_check_digit;
use unitrace_id::digital_link::{self, compress};
use unitrace_id::element::{ElementString, Symbology};

fn gtin() -> impl Strategy<Value = String> {
    "[0-9]{13}".prop_map(|body| {
        let cd = gs1_check_digit(body.as_bytes()).unwrap() as char;
        format!("{body}{cd}")
    })
}

/// CSET 82 text of 1..=20 characters.
fn cset82(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[!\"%&'()*+,\\-./0-9:;<=>?A-Z_a-z]{{1,{max}}}"))
        .unwrap()
}

fn date() -> impl Strategy<Value = String> {
    (0u32..100, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| format!("{y:02}{m:02}{d:02}"))
}

fn valid_ais() -> impl Strategy<Value = Vec<(String, String)>> {
    (
        gtin(),
        proptest::option::of(cset82(20)),
        proptest::option::of(cset82(20)),
        proptest::option::of(date()),
        proptest::option::of("[0-9]{6}"),
        proptest::option::of("[0-9]{1,8}"),
    )
        .prop_map(|(g, lot, ser, exp, weight, count)| {
            let mut v = vec![("01".to_string(), g)];
            if let Some(x) = exp {
                v.push(("17".into(), x));
            }
            if let Some(x) = weight {
                v.push(("3103".into(), x));
            }
            if let Some(x) = lot {
                v.push(("10".into(), x));
            }
            if let Some(x) = count {
                v.push(("30".into(), x));
            }
            if let Some(x) = ser {
                v.push(("21".into(), x));
            }
            v
        })
}

proptest! {
    #[test]
    fn bracketed_round_trip(ais in valid_ais()) {
        let es = ElementString::from_ais(ais.clone()).unwrap();
        let back = ElementString::parse_bracketed(&es.to_bracketed()).unwrap();
        prop_assert_eq!(back.ais(), &ais[..]);
        for s in Symbology::ALL {
            let sd = ElementString::parse_scan_data(&es.to_scan_data(s)).unwrap();
            prop_assert_eq!(sd.ais(), &ais[..]);
        }
        let caret = ElementString::parse_scan_data(&es.to_caret()).unwrap();
        prop_assert_eq!(caret.ais(), &ais[..]);
    }

    #[test]
    fn digital_link_round_trip(ais in valid_ais(), optimise in any::<bool>()) {
        let es = ElementString::from_ais(ais).unwrap();
        let uri = es.to_digital_link().unwrap();
        let back = digital_link::parse(&uri).unwrap();
        prop_assert_eq!(back.to_digital_link().unwrap(), uri.clone());
        let mut want: Vec<_> = es.ais().to_vec();
        want.sort();
        let c = compress::compress(&uri, optimise).unwrap();
        let mut got: Vec<_> = compress::decompress(&c).unwrap().ais().to_vec();
        got.sort();
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(digital_link::parse(&c).unwrap().ais().len(), want.len());
        // compression reorders the AIs (optimised sequences first, then ascending), so only the
        // set of AIs survives, and the key and qualifiers stay in the path
        let back_uri = compress::decompress_to_uri(&c).unwrap();
        let path = |u: &str| u.split('?').next().unwrap().to_string();
        prop_assert_eq!(path(&back_uri), path(&uri));
        let mut again: Vec<_> = digital_link::parse(&back_uri).unwrap().ais().to_vec();
        again.sort();
        prop_assert_eq!(again, want);
    }

    #[test]
    fn parsers_are_total_on_strings(s in "\\PC{0,60}") {
        let _ = ElementString::parse_scan_data(&s);
        let _ = ElementString::parse_bracketed(&s);
        let _ = digital_link::parse(&s);
        let _ = compress::decompress(&s);
        let _ = ElementString::parse_scan_data(&format!("]d2{s}"));
        let _ = ElementString::parse_bracketed(&format!("(01){s}"));
        let _ = digital_link::parse(&format!("https://x.y/01/{s}"));
        let _ = compress::decompress(&format!("https://x.y/{s}"));
    }

    #[test]
    fn parsers_are_total_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..60)) {
        let s = String::from_utf8_lossy(&b);
        let _ = ElementString::parse_scan_data(&s);
        let _ = ElementString::parse_bracketed(&s);
        let _ = digital_link::parse(&s);
        let _ = ElementString::parse_scan_data(&format!("]C1{s}"));
        let _ = ElementString::parse_scan_data(&format!("^{s}"));
    }

    #[test]
    fn parsers_are_total_on_ai_like_data(
        parts in proptest::collection::vec(("(0[0-9]|1[0-7]|2[0-5]|3[0-9]{2,3}|4[0-3][0-9]|7[0-2][0-9]{2}|80[0-4][0-9])", "[0-9A-Za-z\\x1d^%/()-]{0,25}"), 1..5)
    ) {
        let mut bracketed = String::new();
        let mut gs = String::from("]d2");
        let mut uri = String::from("https://id.gs1.org");
        for (a, v) in &parts {
            bracketed.push_str(&format!("({a}){v}"));
            gs.push_str(&format!("{a}{v}\u{1d}"));
            uri.push_str(&format!("/{a}/{v}"));
        }
        let _ = ElementString::parse_bracketed(&bracketed);
        let _ = ElementString::parse_scan_data(&gs);
        let _ = digital_link::parse(&uri);
        if let Ok(es) = ElementString::parse_bracketed(&bracketed) {
            // whatever parses writes back to something that parses the same
            prop_assert_eq!(ElementString::parse_bracketed(&es.to_bracketed()).unwrap(), es.clone());
            prop_assert_eq!(ElementString::parse_scan_data(&es.to_scan_data(Symbology::DataMatrix)).unwrap(), es.clone());
            if let Ok(u) = es.to_digital_link() {
                let mut a: Vec<_> = digital_link::parse(&u).unwrap().ais().to_vec();
                let mut b: Vec<_> = es.ais().to_vec();
                a.sort();
                a.dedup();
                b.sort();
                b.dedup();
                prop_assert_eq!(a, b);
            }
        }
    }
}
