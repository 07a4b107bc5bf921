//! Property tests: every valid identity round-trips through every form (AIs, element string /
//! canonical key, pure URI, tag URI and hex for each scheme it fits); every parser is total.

use proptest::prelude::*;
use unitrace_id::epc::{
    decode_hex, format_pure, parse_epc_uri, parse_tag_uri, EpcPattern, EpcTag, Lgtin, Scheme,
};
use unitrace_id::gcp::{table_gcp_len, GcpResolver};
use unitrace_id::identity::{Gid, Identity, Kind};

const KINDS: [Kind; 12] = [
    Kind::Sgtin,
    Kind::Sscc,
    Kind::Sgln,
    Kind::Pgln,
    Kind::Grai,
    Kind::Giai,
    Kind::Gsrn,
    Kind::Gsrnp,
    Kind::Gdti,
    Kind::Sgcn,
    Kind::Cpi,
    Kind::Gid,
];

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, n)
        .prop_map(|v| v.iter().map(|d| char::from(b'0' + d)).collect())
}

/// A serial: numeric (fits -96 schemes) or any GS1 set-82 string.
fn serial() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..1 << 38).prop_map(|v| v.to_string()),
        "[!\"%&'()*+,\\-./0-9:;<=>?A-Z_a-z]{1,20}",
    ]
}

fn identity() -> impl Strategy<Value = (Identity, usize)> {
    let gid = (0u64..1 << 28, 0u64..1 << 24, 0u64..1 << 36)
        .prop_map(|(m, c, s)| (Identity::Gid(Gid::new(m, c, s).unwrap()), 0usize));
    let gs1 = (0usize..11, 6usize..=12)
        .prop_flat_map(|(k, l)| {
            let kind = KINDS[k];
            let rd = match kind {
                Kind::Sgtin => 13 - l,
                Kind::Sscc | Kind::Gsrn | Kind::Gsrnp => 17 - l,
                Kind::Giai => 0,
                Kind::Cpi => 1,
                _ => 12 - l,
            };
            (
                Just(kind),
                digits(l),
                prop_oneof![digits(rd), "[0-9A-Z#/-]{1,5}"],
                serial(),
                "[0-9]{1,12}",
                "[!\"%&'()*+,\\-./0-9:;<=>?A-Z_a-z]{1,10}",
            )
        })
        .prop_filter_map(
            "valid parts",
            |(kind, gcp, reference, serial, num, giai)| {
                let (reference, serial) = match kind {
                    Kind::Sgcn | Kind::Cpi => (reference, num),
                    Kind::Sscc | Kind::Gsrn | Kind::Gsrnp | Kind::Pgln => {
                        (reference, String::new())
                    }
                    Kind::Giai => (String::new(), giai),
                    Kind::Grai => (reference, serial.chars().take(16).collect()),
                    Kind::Gdti => (reference, serial.chars().take(17).collect()),
                    _ => (reference, serial),
                };
                let l = gcp.len();
                Identity::from_epc_parts(kind, &gcp, &reference, &serial)
                    .ok()
                    .map(|id| (id, l))
            },
        );
    prop_oneof![1 => gid, 10 => gs1]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn identity_round_trips_through_every_form((id, l) in identity(), filter in 0u8..8) {
        // AIs and canonical key.
        if id.kind() != Kind::Gid {
            let ais = id.to_ais();
            prop_assert_eq!(Identity::from_ais(&ais).unwrap(), Some(id.clone()));
            prop_assert!(id.canonical_key().starts_with('('));
        } else {
            prop_assert!(id.to_ais().is_empty());
            prop_assert_eq!(parse_epc_uri(&id.canonical_key()).unwrap().identity, id.clone());
        }
        // Pure URI, directly and through a resolver that knows the prefix.
        let uri = format_pure(&id, l).unwrap();
        let parsed = parse_epc_uri(&uri).unwrap();
        prop_assert_eq!(&parsed.identity, &id);
        prop_assert_eq!(parsed.gcp_len, l);
        prop_assert_eq!(parsed.to_uri(), uri.clone());
        if let Some(d) = id.gcp_digits() {
            let r = GcpResolver::with_prefixes([&d[..l]]).unwrap().without_table();
            prop_assert_eq!(id.to_epc_uri(&r).unwrap(), uri.clone());
        }
        // Every scheme that fits: tag URI and hex both ways.
        let mut fitted = 0;
        for scheme in Scheme::for_kind(id.kind()) {
            let Ok(tag) = EpcTag::new(scheme, filter, id.clone(), l) else { continue };
            fitted += 1;
            let hex = tag.hex();
            prop_assert!(hex.len() <= scheme.hex_len() && hex.len() % 4 == 0);
            let back = decode_hex(&hex).unwrap();
            prop_assert_eq!(&back, &tag);
            prop_assert_eq!(decode_hex(&hex.to_lowercase()).unwrap(), tag.clone());
            prop_assert_eq!(back.pure_uri(), uri.clone());
            let t = parse_tag_uri(&tag.tag_uri()).unwrap();
            prop_assert_eq!(&t, &tag);
            prop_assert_eq!(t.identity(), &id);
        }
        // Every identity fits at least one scheme, except CPI serials with leading zeros
        // (CPI binary serials are integers).
        let fits_some = match &id {
            Identity::Cpi { serial, .. } => serial.as_str() == "0" || !serial.as_str().starts_with('0'),
            Identity::Giai(g) => g.as_str().len() - l <= 30 - l,
            // No TDS binary scheme carries a party GLN.
            Identity::Pgln(_) => false,
            _ => true,
        };
        if fits_some {
            prop_assert!(fitted > 0, "{} fits no scheme", uri);
        }
    }

    #[test]
    fn parsers_are_total(s in "\\PC{0,80}") {
        let _ = parse_epc_uri(&s);
        let _ = parse_tag_uri(&s);
        let _ = decode_hex(&s);
        let _ = Lgtin::parse_class_uri(&s);
        let _ = Lgtin::parse_class_uri(&format!("urn:epc:class:lgtin:{s}"));
        let _ = EpcPattern::parse(&s);
        let _ = EpcPattern::parse(&format!("urn:epc:idpat:sgtin:{s}"));
        let _ = table_gcp_len(&s);
        let _ = GcpResolver::new().gtin_company_prefix(&s);
        let _ = Identity::from_ais(&[("01".into(), s.clone()), ("21".into(), s.clone())]);
        for ai in ["00", "414", "254", "8003", "8004", "8018", "8017", "253", "255", "8010", "8011"] {
            let _ = Identity::from_ais(&[(ai.into(), s.clone()), ("254".into(), s.clone()), ("8011".into(), s.clone())]);
        }
    }

    #[test]
    fn uri_parsers_are_total_on_near_misses(
        kind in "(sgtin|sscc|sgln|grai|giai|gsrn|gsrnp|gdti|sgcn|cpi|gid)",
        scheme in "(sgtin-96|sgtin-198|sscc-96|sgln-96|sgln-195|grai-96|grai-170|giai-96|giai-202|gsrn-96|gsrnp-96|gdti-96|gdti-174|sgcn-96|gid-96)",
        body in "[0-9.%A-Za-z/#-]{0,40}",
    ) {
        let _ = parse_epc_uri(&format!("urn:epc:id:{kind}:{body}"));
        let _ = parse_tag_uri(&format!("urn:epc:tag:{scheme}:{body}"));
        let _ = EpcPattern::parse(&format!("urn:epc:idpat:{kind}:{body}"));
        let _ = Lgtin::parse_class_uri(&format!("urn:epc:class:lgtin:{body}"));
    }

    #[test]
    fn hex_decoder_is_total(scheme_ix in 0usize..17, bytes in proptest::collection::vec(any::<u8>(), 32), cut in 0usize..64) {
        let scheme = Scheme::all()[scheme_ix];
        let mut b = bytes;
        b[0] = scheme.header();
        let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
        let len = if scheme == Scheme::CpiVar { cut.max(2) } else { scheme.hex_len() };
        let hex = &hex[..len];
        if let Ok(tag) = decode_hex(hex) {
            // Whatever decodes re-encodes to the same bits.
            prop_assert_eq!(tag.hex(), hex);
            let again = EpcTag::new(tag.scheme(), tag.filter(), tag.identity().clone(), tag.gcp_len()).unwrap();
            prop_assert_eq!(again.hex(), hex);
        }
    }
}
