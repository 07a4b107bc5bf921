//! Known answers for schemes the shared vectors do not cover (examples from GS1 EPC TDS,
//! Appendix E), and the errors a caller must get.

use unitrace_id::epc::{decode_hex, parse_epc_uri, parse_tag_uri, EpcTag, Scheme};
use unitrace_id::gcp::GcpResolver;
use unitrace_id::identity::Identity;

/// pure URI, scheme, filter, hex, element string.
const KNOWN: &[(&str, &str, u8, &str, &str)] = &[
    (
        "urn:epc:id:sgcn:4012345.67890.04711",
        "sgcn-96",
        3,
        "3F74F4E4E612640000019907",
        "(255)401234567890104711",
    ),
    (
        "urn:epc:id:gdti:4012345.98765.ABCDefgh012345678",
        "gdti-174",
        3,
        "3E74F4E4E7039B061438997367D0C18B266D1AB66EE0",
        "(253)4012345987652ABCDefgh012345678",
    ),
    (
        "urn:epc:id:gdti:0614141.12345.ABCD1234%2F",
        "gdti-174",
        0,
        "3E14257BF460730614388C593368BC00000000000000",
        "(253)0614141123452ABCD1234/",
    ),
    (
        "urn:epc:id:gsrnp:0614141.1234567890",
        "gsrnp-96",
        3,
        "2E74257BF4499602D2000000",
        "(8017)061414112345678902",
    ),
    (
        "urn:epc:id:cpi:0614141.98765.12345",
        "cpi-96",
        3,
        "3C74257BF400C0E680003039",
        "(8010)061414198765(8011)12345",
    ),
    (
        "urn:epc:id:cpi:0614141.123456.0",
        "cpi-96",
        1,
        "3C34257BF400F12000000000",
        "(8010)0614141123456(8011)0",
    ),
    // TDS gives the 132 bits of this example; padded to 16-bit words it ends in 000.
    (
        "urn:epc:id:cpi:0614141.5PQ7%2FZ43.12345",
        "cpi-var",
        3,
        "3D74257BF75411DEF6B4CC00000003039000",
        "(8010)06141415PQ7/Z43(8011)12345",
    ),
    (
        "urn:epc:id:cpi:0614141.12-456.123456789",
        "cpi-var",
        0,
        "3D14257BF71CADD35D8000075BCD1500",
        "(8010)061414112-456(8011)123456789",
    ),
];

#[test]
fn tds_examples_both_ways() {
    for &(uri, scheme, filter, hex, es) in KNOWN {
        let scheme = Scheme::from_name(scheme).unwrap();
        let u = parse_epc_uri(uri).unwrap();
        assert_eq!(u.identity.element_string(), es, "{uri}");
        let tag = EpcTag::new(scheme, filter, u.identity.clone(), u.gcp_len).unwrap();
        assert_eq!(tag.hex(), hex, "{uri}");
        let d = decode_hex(hex).unwrap();
        assert_eq!(d.pure_uri(), uri);
        assert_eq!(d.filter(), filter);
        assert_eq!(d.scheme(), scheme);
        assert_eq!(d.hex(), hex);
        // From the element string's AIs via the GCP table to the same URI.
        assert_eq!(u.identity.to_epc_uri(&GcpResolver::new()).unwrap(), uri);
    }
}

#[test]
fn cpi_and_gid_pure_uris() {
    // TDS example: a CPI part reference with '/' written %2F.
    let u = parse_epc_uri("urn:epc:id:cpi:0614141.5PQ7%2FZ43.12345").unwrap();
    assert_eq!(
        u.identity.element_string(),
        "(8010)06141415PQ7/Z43(8011)12345"
    );
    assert_eq!(u.to_uri(), "urn:epc:id:cpi:0614141.5PQ7%2FZ43.12345");
    let g = parse_epc_uri("urn:epc:id:gid:31231.11.12").unwrap();
    assert_eq!(g.identity.canonical_key(), "urn:epc:id:gid:31231.11.12");
    assert!(g.identity.to_ais().is_empty());
    assert!(parse_epc_uri("urn:epc:id:gid:031231.11.12").is_err());
    assert!(parse_epc_uri("urn:epc:id:gid:268435456.0.0").is_err());
    assert!(parse_tag_uri("urn:epc:tag:gid-96:31231.11.12").is_ok());
}

#[test]
fn escapes_and_canonical_key() {
    let u = parse_epc_uri("urn:epc:id:sgtin:0614141.812345.A%2fb%22%25%26%3C%3E%3F").unwrap();
    let Identity::Sgtin { serial, .. } = &u.identity else {
        panic!()
    };
    assert_eq!(serial.as_str(), "A/b\"%&<>?");
    // Written back with upper-case escapes.
    assert_eq!(
        u.to_uri(),
        "urn:epc:id:sgtin:0614141.812345.A%2Fb%22%25%26%3C%3E%3F"
    );
    // Unescaped specials and non-set-82 characters are rejected.
    for bad in [
        "urn:epc:id:sgtin:0614141.812345.A/b",
        "urn:epc:id:sgtin:0614141.812345.A%2",
        "urn:epc:id:sgtin:0614141.812345.A%7E",
        "urn:epc:id:sgtin:0614141.812345.A#",
        "urn:epc:id:sgtin:0614141.812345.",
        "urn:epc:id:sgtin:0614141.812345",
        "urn:epc:id:sgtin:0614141.812345.123456789012345678901",
    ] {
        assert!(parse_epc_uri(bad).is_err(), "{bad}");
    }
    // '(' in a value is escaped in the key so the key stays unambiguous.
    let u = parse_epc_uri("urn:epc:id:sgtin:0614141.812345.A(21)B").unwrap();
    assert_eq!(u.identity.canonical_key(), "(01)80614141123458(21)A\\(21)B");
}

#[test]
fn binary_errors_are_clear() {
    let e = |h: &str| decode_hex(h).unwrap_err().to_string();
    assert!(e("3074257BF7194E4000001A8").contains("96 bits"));
    assert!(e("3074257BF7194E4000001A8500").contains("96 bits"));
    assert!(e("FF74257BF7194E4000001A85").contains("header"));
    assert!(e("30FC257BF7194E4000001A85").contains("partition"));
    assert!(e("3074257BF7194E4000001A8G").contains("hex"));
    // SSCC-96 reserved bits must be zero.
    assert!(e("3114257BF4499602D2000001").contains("reserved"));
    // CPI-var: the length must match the content exactly.
    assert!(decode_hex("3D74257BF75411DEF6B4CC00000003039").is_err());
    assert!(decode_hex("3D74257BF75411DEF6B4CC000000030390000000").is_err());
    // CPI-96 part reference with a leading zero cannot be an integer.
    let u = parse_epc_uri("urn:epc:id:cpi:0614141.0123.1").unwrap();
    assert!(EpcTag::new(Scheme::Cpi96, 0, u.identity.clone(), u.gcp_len).is_err());
    assert!(EpcTag::new(Scheme::CpiVar, 0, u.identity, u.gcp_len).is_ok());
    // Lower case is accepted, output is upper case.
    assert_eq!(
        decode_hex("3074257bf7194e4000001a85").unwrap().hex(),
        "3074257BF7194E4000001A85"
    );
    // SGTIN-198 with a character after the terminating zero.
    assert!(decode_hex("3674257BF7194E60C286BFC31000000000000000000000000001").is_err());
}

#[test]
fn encode_errors_are_clear() {
    let u = parse_epc_uri("urn:epc:id:sgtin:0614141.812345.0123").unwrap();
    let err = EpcTag::new(Scheme::Sgtin96, 3, u.identity.clone(), u.gcp_len)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sgtin-96") && err.contains("leading zeros"),
        "{err}"
    );
    assert!(EpcTag::new(Scheme::Sgtin198, 3, u.identity.clone(), u.gcp_len).is_ok());
    assert!(EpcTag::new(Scheme::Sgtin96, 8, u.identity.clone(), u.gcp_len).is_err());
    let err = EpcTag::new(Scheme::Sscc96, 0, u.identity.clone(), u.gcp_len)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot encode"), "{err}");
    assert!(parse_tag_uri("urn:epc:tag:sgtin-96:3.0614141.812345.0123").is_err());
    assert!(parse_tag_uri("urn:epc:tag:sgtin-96:8.0614141.812345.1").is_err());
    assert!(parse_tag_uri("urn:epc:tag:sgtin-97:3.0614141.812345.1").is_err());
    // Unknown company prefix: said so, no guess.
    let id = Identity::from_ais(&[
        ("01".to_string(), "09521234543213".to_string()),
        ("21".to_string(), "1".to_string()),
    ])
    .unwrap()
    .unwrap();
    let none = GcpResolver::with_prefixes(["4000001"])
        .unwrap()
        .without_table();
    let err = EpcTag::encode(id.clone(), Scheme::Sgtin96, 1, &none)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown"), "{err}");
    let tag = EpcTag::encode(id, Scheme::Sgtin96, 1, &GcpResolver::new()).unwrap();
    assert_eq!(tag.tag_uri(), "urn:epc:tag:sgtin-96:1.9521234.054321.1");
}

#[test]
fn ais_to_identity() {
    let p = |a: &str, v: &str| (a.to_string(), v.to_string());
    // No serial: no individual identity.
    assert_eq!(
        Identity::from_ais(&[p("01", "09521234543213")]).unwrap(),
        None
    );
    assert_eq!(
        Identity::from_ais(&[p("8003", "00614141123452")]).unwrap(),
        None
    );
    assert_eq!(
        Identity::from_ais(&[p("253", "0614141123452")]).unwrap(),
        None
    );
    // Bad check digit names the AI.
    let err = Identity::from_ais(&[p("01", "09521234543214"), p("21", "1")])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "AI (01): check digit should be 3, found 4");
    // Two identities are ambiguous.
    assert!(Identity::from_ais(&[p("00", "106141412345678908"), p("8004", "0614141X")]).is_err());
    // GTIN-13 is normalised to 14 digits by Gtin::parse_any.
    let g = unitrace_id::identity::Gtin::parse_any("9521234543213").unwrap();
    assert_eq!(g.as_str(), "09521234543213");
}
