//! LGTIN class URIs and EPC identity patterns.

use unitrace_id::epc::{parse_epc_uri, EpcPattern, Lgtin};

#[test]
fn lgtin_class_uri_round_trip() {
    let (l, len) = Lgtin::parse_class_uri("urn:epc:class:lgtin:4012345.012345.998877").unwrap();
    assert_eq!(len, 7);
    assert_eq!(l.gtin().as_str(), "04012345123456");
    assert_eq!(l.lot(), "998877");
    assert_eq!(
        l.to_ais(),
        vec![
            ("01".to_string(), "04012345123456".to_string()),
            ("10".to_string(), "998877".to_string())
        ]
    );
    assert_eq!(
        l.to_class_uri(7).unwrap(),
        "urn:epc:class:lgtin:4012345.012345.998877"
    );
    assert_eq!(Lgtin::from_ais(&l.to_ais()).unwrap(), Some(l));
    let (e, _) = Lgtin::parse_class_uri("urn:epc:class:lgtin:4012345.012345.A%2FB.C").unwrap();
    assert_eq!(e.lot(), "A/B.C");
    assert_eq!(
        e.to_class_uri(7).unwrap(),
        "urn:epc:class:lgtin:4012345.012345.A%2FB.C"
    );
    for bad in [
        "urn:epc:class:lgtin:4012345.01234.1",
        "urn:epc:class:lgtin:4012345.012345.",
        "urn:epc:class:lgtin:4012345.012345",
        "urn:epc:class:lgtin:4012345.012345.123456789012345678901",
        "urn:epc:class:sgtin:4012345.012345.1",
    ] {
        assert!(Lgtin::parse_class_uri(bad).is_err(), "{bad}");
    }
}

#[test]
fn identity_patterns() {
    let a = parse_epc_uri("urn:epc:id:sgtin:0614141.812345.6789").unwrap();
    let b = parse_epc_uri("urn:epc:id:sgtin:0614141.812346.6789").unwrap();
    let c = parse_epc_uri("urn:epc:id:sscc:0614141.1234567890").unwrap();
    let p = EpcPattern::parse("urn:epc:idpat:sgtin:0614141.812345.*").unwrap();
    assert!(p.matches(&a) && !p.matches(&b) && !p.matches(&c));
    let p = EpcPattern::parse("urn:epc:idpat:sgtin:0614141.*.*").unwrap();
    assert!(p.matches(&a) && p.matches(&b));
    assert_eq!(p.to_string(), "urn:epc:idpat:sgtin:0614141.*.*");
    let p = EpcPattern::parse("urn:epc:idpat:sgtin:*.*.*").unwrap();
    assert!(p.matches(&a) && !p.matches(&c));
    let p = EpcPattern::parse("urn:epc:idpat:sgtin:0614141.812345.6789").unwrap();
    assert!(p.matches(&a) && !p.matches(&b));
    // A different GCP split of the same GTIN is a different pattern.
    let p = EpcPattern::parse("urn:epc:idpat:sgtin:061414.8123451.*").unwrap();
    assert!(!p.matches(&a));
    let p = EpcPattern::parse("urn:epc:idpat:sscc:0614141.*").unwrap();
    assert!(p.matches(&c));
    for bad in [
        "urn:epc:idpat:sgtin:*.812345.6789",
        "urn:epc:idpat:sgtin:0614141.*.6789",
        "urn:epc:idpat:sgtin:0614141.81234.*",
        "urn:epc:idpat:sgtin:061.*.*",
        "urn:epc:idpat:sgtin:0614141.*",
        "urn:epc:idpat:foo:*.*.*",
        "urn:epc:id:sgtin:*.*.*",
    ] {
        assert!(EpcPattern::parse(bad).is_err(), "{bad}");
    }
}
