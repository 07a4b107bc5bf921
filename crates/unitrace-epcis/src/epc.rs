//! EPC URN <-> GS1 Digital Link conversion as the event hash and the `GS1-EPC-Format` options
//! need it.
//!
//! This is the single seam where identifiers in EPC fields are normalised. URN -> DL needs no
//! company-prefix table (the URN carries the split); DL -> URN uses the GS1 Company Prefix length
//! table of `unitrace-id`.

/// The output form of identifiers in EPC fields (`GS1-EPC-Format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EpcFormat {
    /// Keep every identifier as written (`Never_Translates`).
    #[default]
    AsIs,
    /// EPC URNs where the identifier has one (`Always_EPC_URN`).
    Urn,
    /// Canonical GS1 Digital Link URIs (`Always_GS1_Digital_Link`).
    DigitalLink,
}

/// The GS1 mod-10 check digit of `body` (from `unitrace-id`).
fn check_digit(body: &str) -> Option<char> {
    unitrace_id::check::gs1_check_digit(body.as_bytes()).map(char::from)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Characters a GS1 Digital Link path must percent-encode beyond those an EPC URN already escapes.
fn dl_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    dl_escape_into(s, &mut out);
    out
}

fn dl_escape_into(s: &str, out: &mut String) {
    if !s
        .bytes()
        .any(|c| matches!(c, b'!' | b'(' | b')' | b'*' | b'+' | b',' | b':'))
    {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '!' => out.push_str("%21"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '*' => out.push_str("%2A"),
            '+' => out.push_str("%2B"),
            ',' => out.push_str("%2C"),
            ':' => out.push_str("%3A"),
            c => out.push(c),
        }
    }
}

/// The bytes an EPC URN component may hold unescaped: letters, digits and `!')(*+,.:;=_-`.
const URN_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'\''
                    | b')'
                    | b'('
                    | b'*'
                    | b'+'
                    | b','
                    | b'.'
                    | b':'
                    | b';'
                    | b'='
                    | b'_'
                    | b'-'
            );
        c += 1;
    }
    t
};

/// `a.b.rest` (at least two dots; `rest` may hold more), as `splitn(3, '.')` gives it.
fn split3(body: &str) -> Option<(&str, &str, &str)> {
    let b = body.as_bytes();
    let i = b.iter().position(|&c| c == b'.')?;
    let j = i + 1 + b[i + 1..].iter().position(|&c| c == b'.')?;
    Some((&body[..i], &body[i + 1..j], &body[j + 1..]))
}

fn urn_component_ok(s: &str, max: usize) -> bool {
    // GS1 AI encodable character set 82 as escaped in EPC URNs (TDS 2.x, table A-1).
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else if URN_CHAR[usize::from(c)] {
            i += 1;
        } else {
            return false;
        }
        n += 1;
    }
    n >= 1 && n <= max
}

/// `CP.REST` with a 6..=12 digit company prefix and `REST` digits of `total - len(CP)` length.
fn split_fixed(body: &str, total: usize) -> Option<(&str, &str)> {
    let (cp, rest) = body.split_once('.')?;
    if !(6..=12).contains(&cp.len()) || !all_digits(cp) || cp.len() + rest.len() != total {
        return None;
    }
    if !rest.is_empty() && !all_digits(rest) {
        return None;
    }
    Some((cp, rest))
}

/// `cp` is a 6..=12 digit company prefix and `rest` has `total - len(cp)` digits.
fn pair_ok(cp: &str, rest: &str, total: usize) -> bool {
    (6..=12).contains(&cp.len())
        && all_digits(cp)
        && cp.len() + rest.len() == total
        && (rest.is_empty() || all_digits(rest))
}

fn gtin_of(cp: &str, ir: &str) -> Option<String> {
    let (ind, item) = ir.split_at_checked(1)?;
    let mut body = String::with_capacity(14);
    body.push_str(ind);
    body.push_str(cp);
    body.push_str(item);
    let cd = check_digit(&body)?;
    body.push(cd);
    Some(body)
}

fn key_with_cd(mut body: String) -> Option<String> {
    let cd = check_digit(&body)?;
    body.push(cd);
    Some(body)
}

/// Converts an EPC pure-identity URN, EPC class URN (LGTIN) or EPC ID pattern URN into the
/// canonical GS1 Digital Link URI (`https://id.gs1.org/...`). `None` if `urn` is not such a URN.
/// Whether an EPC URN is well-formed, i.e. [`urn_to_dl`] converts it; without allocating for
/// the common SGTIN URN.
pub fn urn_is_well_formed(urn: &str) -> bool {
    if let Some(body) = urn.strip_prefix("urn:epc:id:sgtin:") {
        return match split3(body) {
            // `urn_to_dl` fails for an SGTIN exactly when these fail (the check digit of an
            // all-digit body always exists).
            Some((cp, ir, ser)) => pair_ok(cp, ir, 13) && urn_component_ok(ser, 20),
            None => false,
        };
    }
    if let Some(body) = urn.strip_prefix("urn:epc:id:sgln:") {
        return match split3(body) {
            // As in `urn_to_dl`: the GLN body is all digits, so its check digit exists.
            Some((cp, lr, ext)) => pair_ok(cp, lr, 12) && urn_component_ok(ext, 20),
            None => false,
        };
    }
    urn_to_dl(urn).is_some()
}

/// An EPC pure-identity URN to its canonical GS1 Digital Link through `unitrace-id` (URN ->
/// identity -> AIs -> element string -> Digital Link).
pub fn id_urn_to_dl(urn: &str) -> Option<String> {
    let uri = unitrace_id::parse_epc_uri(urn).ok()?;
    let es = unitrace_id::ElementString::from_ais(uri.identity.to_ais()).ok()?;
    unitrace_id::digital_link::to_digital_link(&es).ok()
}

/// Appends the canonical GS1 Digital Link of `urn` (see [`urn_to_dl`]) to `out` and returns true,
/// or returns false and leaves `out` as it was when `urn` is not such a URN. SGTIN and SGLN URNs
/// (nearly every EPC in practice) are written straight into `out` without an intermediate string.
pub fn urn_to_dl_into(urn: &str, out: &mut String) -> bool {
    let start = out.len();
    let ok = if let Some(body) = urn.strip_prefix("urn:epc:id:sgtin:") {
        match split3(body) {
            Some((cp, ir, ser)) if pair_ok(cp, ir, 13) && urn_component_ok(ser, 20) => {
                out.push_str("https://id.gs1.org/01/");
                let key = out.len();
                out.push_str(&ir[..1]);
                out.push_str(cp);
                out.push_str(&ir[1..]);
                push_check_digit(out, key) && {
                    out.push_str("/21/");
                    dl_escape_into(ser, out);
                    true
                }
            }
            _ => false,
        }
    } else if let Some(body) = urn.strip_prefix("urn:epc:id:sgln:") {
        match split3(body) {
            Some((cp, lr, ext)) if pair_ok(cp, lr, 12) && urn_component_ok(ext, 20) => {
                out.push_str("https://id.gs1.org/414/");
                let key = out.len();
                out.push_str(cp);
                out.push_str(lr);
                push_check_digit(out, key) && {
                    if ext != "0" {
                        out.push_str("/254/");
                        dl_escape_into(ext, out);
                    }
                    true
                }
            }
            _ => false,
        }
    } else {
        return match urn_to_dl(urn) {
            Some(dl) => {
                out.push_str(&dl);
                true
            }
            None => false,
        };
    };
    if !ok {
        out.truncate(start);
    }
    ok
}

/// Appends the GS1 check digit of `out[key..]`; false if it has none (not all digits).
fn push_check_digit(out: &mut String, key: usize) -> bool {
    match unitrace_id::check::gs1_check_digit(&out.as_bytes()[key..]) {
        Some(cd) => {
            out.push(char::from(cd));
            true
        }
        None => false,
    }
}

pub fn urn_to_dl(urn: &str) -> Option<String> {
    const DL: &str = "https://id.gs1.org";
    if let Some(body) = urn.strip_prefix("urn:epc:id:") {
        let (scheme, body) = body.split_once(':')?;
        let mut parts = body.splitn(3, '.');
        match scheme {
            "sgtin" | "sgln" => {
                let mut out = String::with_capacity(DL.len() + 24 + body.len());
                urn_to_dl_into(urn, &mut out).then_some(out)
            }
            "ginc" => {
                let (cp, r) = body.split_once('.')?;
                if !(6..=12).contains(&cp.len())
                    || !all_digits(cp)
                    || !urn_component_ok(r, 30 - cp.len())
                {
                    return None;
                }
                Some(format!("{DL}/401/{cp}{}", dl_escape(r)))
            }
            "gsin" => {
                let (cp, sr) = split_fixed(body, 16)?;
                Some(format!("{DL}/402/{}", key_with_cd(format!("{cp}{sr}"))?))
            }
            "itip" => {
                let mut p = body.splitn(5, '.');
                let (cp, ir, pp, tt, ser) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
                if !pair_ok(cp, ir, 13) {
                    return None;
                }
                if pp.len() != 2
                    || tt.len() != 2
                    || !all_digits(pp)
                    || !all_digits(tt)
                    || !urn_component_ok(ser, 20)
                {
                    return None;
                }
                Some(format!(
                    "{DL}/8006/{}{pp}{tt}/21/{}",
                    gtin_of(cp, ir)?,
                    dl_escape(ser)
                ))
            }
            "upui" => {
                let (cp, ir, tpx) = (parts.next()?, parts.next()?, parts.next()?);
                if !pair_ok(cp, ir, 13) {
                    return None;
                }
                if !urn_component_ok(tpx, 28) {
                    return None;
                }
                Some(format!(
                    "{DL}/01/{}/235/{}",
                    gtin_of(cp, ir)?,
                    dl_escape(tpx)
                ))
            }
            // Every other scheme through the identifier library (it agrees with the fast paths
            // above; GINC, GSIN, ITIP and UPUI are converted here because it lacks them).
            _ => id_urn_to_dl(urn),
        }
    } else if let Some(body) = urn.strip_prefix("urn:epc:class:lgtin:") {
        let mut parts = body.splitn(3, '.');
        let (cp, ir, lot) = (parts.next()?, parts.next()?, parts.next()?);
        if !pair_ok(cp, ir, 13) {
            return None;
        }
        if !urn_component_ok(lot, 20) {
            return None;
        }
        Some(format!(
            "{DL}/01/{}/10/{}",
            gtin_of(cp, ir)?,
            dl_escape(lot)
        ))
    } else if let Some(body) = urn.strip_prefix("urn:epc:idpat:") {
        let (scheme, body) = body.split_once(':')?;
        let body = body.strip_suffix(".*")?;
        match scheme {
            "sgtin" | "upui" => {
                let (cp, ir) = body.split_once('.')?;
                let _ = split_fixed(body, 13)?;
                Some(format!("{DL}/01/{}", gtin_of(cp, ir)?))
            }
            "grai" => {
                let (cp, at) = split_fixed(body, 12)?;
                Some(format!("{DL}/8003/{}", key_with_cd(format!("0{cp}{at}"))?))
            }
            "gdti" | "sgcn" => {
                let (cp, r) = split_fixed(body, 12)?;
                let ai = if scheme == "gdti" { "253" } else { "255" };
                Some(format!("{DL}/{ai}/{}", key_with_cd(format!("{cp}{r}"))?))
            }
            "itip" => {
                let mut p = body.splitn(4, '.');
                let (cp, ir, pp, tt) = (p.next()?, p.next()?, p.next()?, p.next()?);
                if !pair_ok(cp, ir, 13) {
                    return None;
                }
                if pp.len() != 2 || tt.len() != 2 || !all_digits(pp) || !all_digits(tt) {
                    return None;
                }
                Some(format!("{DL}/8006/{}{pp}{tt}", gtin_of(cp, ir)?))
            }
            "cpi" => {
                let (cp, cpref) = body.split_once('.')?;
                if !(6..=12).contains(&cp.len())
                    || !all_digits(cp)
                    || !urn_component_ok(cpref, 30 - cp.len())
                {
                    return None;
                }
                Some(format!("{DL}/8010/{}", dl_escape(&format!("{cp}{cpref}"))))
            }
            _ => None,
        }
    } else {
        None
    }
}

const KEY_AIS: &[(&str, &str)] = &[
    ("01", "01"),
    ("gtin", "01"),
    ("8006", "8006"),
    ("itip", "8006"),
    ("8010", "8010"),
    ("cpid", "8010"),
    ("414", "414"),
    ("gln", "414"),
    ("417", "417"),
    ("party", "417"),
    ("8017", "8017"),
    ("gsrnp", "8017"),
    ("8018", "8018"),
    ("gsrn", "8018"),
    ("255", "255"),
    ("gcn", "255"),
    ("00", "00"),
    ("sscc", "00"),
    ("253", "253"),
    ("gdti", "253"),
    ("401", "401"),
    ("ginc", "401"),
    ("402", "402"),
    ("gsin", "402"),
    ("8003", "8003"),
    ("grai", "8003"),
    ("8004", "8004"),
    ("giai", "8004"),
];

fn short_name_ai(seg: &str) -> &str {
    match seg {
        "cpv" => "22",
        "lot" => "10",
        "ser" => "21",
        s => KEY_AIS
            .iter()
            .find(|(n, _)| *n == s)
            .map_or(s, |(_, ai)| ai),
    }
}

fn dl_value_ok(s: &str, max: usize) -> bool {
    s.len() <= max
        && s.bytes().all(|c| {
            matches!(c, 0x22 | 0x27 | 0x2D | 0x2E | 0x30..=0x39 | 0x3B..=0x3F | 0x41..=0x5A | 0x5F | 0x61..=0x7A)
        })
}

/// Canonicalises a GS1 Digital Link URI to `https://id.gs1.org/{key AI}/{key}[/{qualifier AI}/{v}]`
/// with numeric AIs, a 14-digit GTIN, no query string, no CPV and only the finest level of
/// identification (serial over lot). `None` if `uri` is not a GS1 Digital Link URI with a key.
pub fn canonical_dl(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (_host, path) = rest.split_once('/')?;
    if !path
        .split('/')
        .any(|seg| KEY_AIS.iter().any(|(n, _)| *n == seg))
    {
        return None;
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // The primary key is the first segment naming a key AI followed by a value beginning with
    // 4 digits... or any value for the alphanumeric keys.
    let start = segs
        .iter()
        .position(|s| KEY_AIS.iter().any(|(n, _)| n == s))?;
    let segs = &segs[start..];
    if !matches!(segs.len(), 2 | 4 | 6) {
        return None;
    }
    let key_ai = short_name_ai(segs[0]);
    let mut key = segs[1].to_owned();
    if key_ai == "01" {
        if !all_digits(&key) {
            return None;
        }
        match key.len() {
            14 => {}
            8 | 12 | 13 => key = format!("{}{key}", "0".repeat(14 - key.len())),
            _ => return None,
        }
    }
    let mut quals: Vec<(&str, &str)> = segs[2..]
        .chunks(2)
        .map(|c| (short_name_ai(c[0]), c[1]))
        .filter(|(ai, _)| *ai != "22")
        .collect();
    if quals.iter().any(|(ai, _)| *ai == "21") {
        quals.retain(|(ai, _)| *ai != "10");
    }
    let ok = match (key_ai, quals.as_slice()) {
        ("00", []) => key.len() == 18 && all_digits(&key),
        ("01", []) => true,
        ("01", [("21" | "10", v)]) => dl_value_ok(v, 20),
        ("01", [("235", v)]) => dl_value_ok(v, 28),
        ("253", []) => key.len() >= 13 && all_digits(&key[..13]) && dl_value_ok(&key[13..], 17),
        ("255", []) => key.len() >= 13 && key.len() <= 25 && all_digits(&key),
        ("401" | "8004", []) => dl_value_ok(&key, 30),
        ("402", []) => key.len() == 17 && all_digits(&key),
        ("414", []) | ("417", []) => key.len() == 13 && all_digits(&key),
        ("414", [("254", v)]) => key.len() == 13 && all_digits(&key) && dl_value_ok(v, 20),
        ("8003", []) => key.len() >= 14 && all_digits(&key[..14]) && dl_value_ok(&key[14..], 16),
        ("8006", []) => key.len() == 18 && all_digits(&key),
        ("8006", [("21" | "10", v)]) => key.len() == 18 && all_digits(&key) && dl_value_ok(v, 20),
        ("8010", []) => {
            key.len() <= 30
                && key
                    .bytes()
                    .all(|c| matches!(c, b'#' | b'-' | b'/' | b'0'..=b'9' | b'A'..=b'Z'))
        }
        ("8010", [("8011", v)]) => v.len() <= 12 && v.bytes().all(|c| c.is_ascii_digit()),
        ("8017" | "8018", []) => key.len() == 18 && all_digits(&key),
        _ => false,
    };
    if !ok {
        return None;
    }
    let mut out = format!("https://id.gs1.org/{key_ai}/{key}");
    for (ai, v) in quals {
        out.push('/');
        out.push_str(ai);
        out.push('/');
        out.push_str(v);
    }
    Some(out)
}

/// The canonical GS1 Digital Link form of any identifier URI (EPC URN, class or pattern URN, or
/// Digital Link); `None` when the value is none of these.
pub fn normalise_to_dl(value: &str) -> Option<String> {
    if value.starts_with("urn:epc:") {
        urn_to_dl(value)
    } else {
        canonical_dl(value)
    }
}

/// [`normalise_to_dl`] appended to `out` (true), or nothing appended (false).
pub fn normalise_to_dl_into(value: &str, out: &mut String) -> bool {
    if value.starts_with("urn:epc:") {
        urn_to_dl_into(value, out)
    } else {
        match canonical_dl(value) {
            Some(dl) => {
                out.push_str(&dl);
                true
            }
            None => false,
        }
    }
}

/// Converts a GS1 Digital Link URI to the EPC URN of the same object (pure identity for
/// instance-level keys, LGTIN class or SGTIN pattern for class-level GTINs), using the GS1 Company
/// Prefix length table of `unitrace-id`. `None` if not convertible (unknown prefix length, key
/// without EPC scheme, characters a URN cannot carry).
pub fn dl_to_urn(uri: &str) -> Option<String> {
    let canon = canonical_dl(uri)?;
    let path = canon.strip_prefix("https://id.gs1.org/")?;
    let segs: Vec<&str> = path.split('/').collect();
    let gcp = |digits: &str| unitrace_id::gcp::table_gcp_len(digits);
    let urn_safe = |v: &str| {
        !v.contains('%')
            && v.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"'.;<=>?_-\"".contains(&c))
    };
    match segs.as_slice() {
        ["01", gtin, rest @ ..] => {
            let l = gcp(&gtin[1..])?;
            let (cp, ir) = (
                &gtin[1..1 + l],
                format!("{}{}", &gtin[..1], &gtin[1 + l..13]),
            );
            match rest {
                [] => Some(format!("urn:epc:idpat:sgtin:{cp}.{ir}.*")),
                ["21", ser] if urn_safe(ser) => {
                    Some(format!("urn:epc:id:sgtin:{cp}.{ir}.{}", urn_escape(ser)))
                }
                ["10", lot] if urn_safe(lot) => {
                    Some(format!("urn:epc:class:lgtin:{cp}.{ir}.{}", urn_escape(lot)))
                }
                _ => None,
            }
        }
        ["00", sscc] => {
            let l = gcp(&sscc[1..])?;
            Some(format!(
                "urn:epc:id:sscc:{}.{}{}",
                &sscc[1..1 + l],
                &sscc[..1],
                &sscc[1 + l..17]
            ))
        }
        ["414", gln, rest @ ..] => {
            let l = gcp(gln)?;
            let ext = match rest {
                [] => "0".to_owned(),
                ["254", e] if urn_safe(e) => urn_escape(e),
                _ => return None,
            };
            Some(format!(
                "urn:epc:id:sgln:{}.{}.{ext}",
                &gln[..l],
                &gln[l..12]
            ))
        }
        ["417", gln] => {
            let l = gcp(gln)?;
            Some(format!("urn:epc:id:pgln:{}.{}", &gln[..l], &gln[l..12]))
        }
        ["8003", grai] if grai.len() > 14 && urn_safe(&grai[14..]) => {
            let l = gcp(&grai[1..])?;
            Some(format!(
                "urn:epc:id:grai:{}.{}.{}",
                &grai[1..1 + l],
                &grai[1 + l..13],
                urn_escape(&grai[14..])
            ))
        }
        ["8004", giai] if urn_safe(giai) => {
            let l = gcp(giai)?;
            Some(format!(
                "urn:epc:id:giai:{}.{}",
                &giai[..l],
                urn_escape(&giai[l..])
            ))
        }
        _ => None,
    }
}

fn urn_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("%22"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '?' => out.push_str("%3F"),
            c => out.push(c),
        }
    }
    out
}

/// The form of an identifier as `format` asks for it; unconvertible values are kept as given.
pub fn to_format(value: &str, format: EpcFormat) -> Option<String> {
    match format {
        EpcFormat::AsIs => None,
        EpcFormat::DigitalLink if value.starts_with("urn:epc:") => urn_to_dl(value),
        EpcFormat::Urn if value.starts_with("http") => dl_to_urn(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urns_to_canonical_dl() {
        assert_eq!(
            urn_to_dl("urn:epc:id:sgtin:0614141.107346.2017").as_deref(),
            Some("https://id.gs1.org/01/10614141073464/21/2017")
        );
        assert_eq!(
            urn_to_dl("urn:epc:id:sscc:4012345.0000000333").as_deref(),
            Some("https://id.gs1.org/00/040123450000003338")
        );
        assert_eq!(
            urn_to_dl("urn:epc:id:sgln:0614141.07346.1234").as_deref(),
            Some("https://id.gs1.org/414/0614141073467/254/1234")
        );
        assert_eq!(
            urn_to_dl("urn:epc:id:sgln:4012345.00011.0").as_deref(),
            Some("https://id.gs1.org/414/4012345000115")
        );
        assert_eq!(urn_to_dl("urn:epc:id:sgtin:0614141.10734.2017"), None);
        assert_eq!(urn_to_dl("urn:epc:id:sgtin:0614141.107346.a b"), None);
    }

    #[test]
    fn dl_canonical_and_back() {
        assert_eq!(
            canonical_dl("https://example.com/gtin/614141073461/lot/L1/ser/7?x=1").as_deref(),
            Some("https://id.gs1.org/01/00614141073461/21/7")
        );
        assert_eq!(canonical_dl("https://example.com/foo"), None);
        assert_eq!(
            dl_to_urn("https://id.gs1.org/01/10614141073464/21/2017").as_deref(),
            Some("urn:epc:id:sgtin:0614141.107346.2017")
        );
        assert_eq!(
            dl_to_urn("https://id.gs1.org/414/0614141073467/254/1234").as_deref(),
            Some("urn:epc:id:sgln:0614141.07346.1234")
        );
    }
}
