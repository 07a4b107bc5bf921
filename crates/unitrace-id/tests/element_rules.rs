//! Dictionary rules applied to element strings: components, linters, req/ex pairings.

use unitrace_id::element::ElementString;

fn ok(s: &str) {
    if let Err(e) = ElementString::parse_bracketed(s) {
        panic!("{s} should be valid: {e}");
    }
}

fn bad(s: &str, needle: &str) {
    match ElementString::parse_bracketed(s) {
        Ok(es) => panic!("{s} should be invalid, parsed as {es}"),
        Err(e) => assert!(
            e.to_string().contains(needle),
            "{s}: error {e} does not contain {needle:?}"
        ),
    }
}

const G: &str = "(01)09521234543213";

#[test]
fn optional_components() {
    ok("(253)9521234500001");
    ok("(253)9521234500001ABC");
    bad("(253)9521234500002ABC", "AI (253): check digit");
    ok(&format!("{G}(7007)251231"));
    ok(&format!("{G}(7007)251231260101"));
    bad(&format!("{G}(7007)251231260"), "AI (7007)");
    bad(&format!("{G}(7007)251231261301"), "AI (7007): invalid date");
    ok("(00)095212340000000013(4330)001234");
    ok("(00)095212340000000013(4330)001234-");
    bad("(00)095212340000000013(4330)001234X", "AI (4330)");
    ok("(8003)09521234543213");
    ok("(8003)09521234543213ABC");
    bad("(8003)19521234543213", "AI (8003)");
}

#[test]
fn linters_in_context() {
    ok(&format!("{G}(8001)12345678901201"));
    bad(&format!("{G}(8001)00005678901201"), "AI (8001)");
    bad(&format!("{G}(8001)12345678901251"), "AI (8001)");
    ok("(8013)1987654Ad4X4bL5ttr2310c2K");
    bad(
        "(8013)1987654Ad4X4bL5ttr2310cXK",
        "AI (8013): check character pair",
    );
    ok(&format!("{G}(21)1(8014)1987654Ad4X4bL5ttr2310c2K"));
    ok("(8030)ABCDabcd0123-_==(00)095212340000000013");
    bad("(8030)ABC+(00)095212340000000013", "AI (8030)");
    ok("(415)9521234500001(8020)INV1(3910)978123");
    bad("(415)9521234500001(8020)INV1(3910)000123", "AI (3910)");
    ok("(8006)095212345432130102(7240)X");
    bad("(8006)095212345432130302", "AI (8006)");
    ok("(415)9521234500001(8020)INV1(8007)GB82WEST12345698765432");
    bad(
        "(415)9521234500001(8020)INV1(8007)GB82WEST12345698765431",
        "AI (8007)",
    );
    ok("(00)095212340000000013(4321)1");
    bad("(00)095212340000000013(4321)2", "AI (4321)");
    ok("(00)095212340000000013(4307)NL");
    bad("(00)095212340000000013(4307)XX", "AI (4307)");
    ok("(00)095212340000000013(4309)02790858483015297971");
    bad(
        "(00)095212340000000013(4309)19000000000000000000",
        "AI (4309)",
    );
    ok("(00)095212340000000013(7041)BX");
    bad("(00)095212340000000013(7041)QQQ", "AI (7041)");
    ok("(8010)9521234ABC(8011)123");
    bad("(8010)9521234ABC(8011)0123", "AI (8011)");
    bad("(8010)95#", "AI (8010)");
    ok("(8018)952123450000000005(7259)BABY(7258)1/2");
    bad("(8018)952123450000000005(7259)BABY(7258)3/2", "AI (7258)");
    ok("(8110)095212312345610101001");
}

#[test]
fn pairing_rules() {
    // req with a + group: 7004 needs 01 together with 10
    ok(&format!("{G}(10)L1(7004)12"));
    bad(&format!("{G}(7004)12"), "AI (7004)");
    // ex with a pattern: 3100 excludes 310n, but not itself
    ok(&format!("{G}(3100)000100(3100)000100"));
    bad(&format!("{G}(3100)000100(3101)000010"), "AI (3100)");
    // two req attributes: 250 needs (01 or 8006) and 21
    bad(&format!("{G}(250)X"), "AI (250)");
    ok(&format!("{G}(21)S(250)X"));
    // 3920 needs 01 and one of 30, 31nn, 32nn, 35nn, 36nn
    bad(&format!("{G}(3920)100"), "AI (3920)");
    ok(&format!("{G}(3103)000100(3920)100"));
    // 21 and 235 exclude each other
    bad(&format!("{G}(21)A(235)B"), "AI (21)");
    // unknown AI
    bad("(89)123", "unrecognised AI (89)");
    bad("(01)", "AI (01): value is empty");
    bad("01)09521234543213", "must start with '('");
}
