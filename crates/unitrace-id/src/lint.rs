//! GS1 Barcode Syntax Tests: the check routines ("linters") the AI dictionary names.
//!
//! Each routine takes the data of one AI component and returns `Err(message)` describing the
//! problem; callers prefix the message with the AI, e.g. `AI (01): check digit should be 2, found 3`.

use crate::ai::Linter;
use crate::check::verify_gs1_check_digit;

/// Runs one linter over a component's data.
#[allow(clippy::manual_is_multiple_of)] // keeps the MSRV (1.85)
pub fn lint(linter: Linter, data: &str) -> Result<(), String> {
    let b = data.as_bytes();
    match linter {
        Linter::Csum => csum(b),
        Linter::CsumAlpha => csum_alpha(b),
        Linter::GcpPos1 | Linter::Key => gcp_at(b, 0),
        Linter::GcpPos2 | Linter::KeyOff1 => gcp_at(b, 1),
        Linter::Mm => two_digit_range(b, 1, 12, "month"),
        Linter::MmOptSs => match b.len() {
            2 => two_digit_range(b, 0, 59, "minute"),
            4 => {
                two_digit_range(&b[..2], 0, 59, "minute")?;
                two_digit_range(&b[2..], 0, 59, "second")
            }
            _ => Err(format!("invalid minutes {data}")),
        },
        Linter::Yymmddhh => {
            if b.len() != 8 {
                return Err(format!("invalid date and hour {data}"));
            }
            date(&b[..6], false, false)?;
            two_digit_range(&b[6..], 0, 23, "hour")
        }
        Linter::Yyyymmd0 => date(b, true, true),
        Linter::Iso3166List => {
            if b.is_empty() || b.len() % 3 != 0 {
                return Err(format!(
                    "{data} is not a list of ISO 3166 numeric country codes"
                ));
            }
            for code in data.as_bytes().chunks(3) {
                let c = std::str::from_utf8(code).unwrap_or("");
                in_list(ISO3166, c, "ISO 3166 numeric country code")?;
            }
            Ok(())
        }
        Linter::LatLong => {
            if b.len() != 20 {
                return Err(format!("invalid latitude/longitude {data}"));
            }
            bounded_number(&b[..10], 1_800_000_000, "latitude")?;
            bounded_number(&b[10..], 3_600_000_000, "longitude")
        }
        Linter::HasNonDigit => {
            if b.iter().all(u8::is_ascii_digit) {
                Err("must contain at least one non-digit character".into())
            } else {
                Ok(())
            }
        }
        Linter::Hh => two_digit_range(b, 0, 23, "hour"),
        Linter::Mi => two_digit_range(b, 0, 59, "minute"),
        Linter::Ss => two_digit_range(b, 0, 59, "second"),
        Linter::Hhmi | Linter::Hhmm => hhmi(b),
        Linter::Hyphen => {
            if b.iter().all(|&c| c == b'-') {
                Ok(())
            } else {
                Err(format!("{data} should be a hyphen"))
            }
        }
        Linter::Iban => iban(b),
        Linter::ImporterIdx => {
            if b.len() == 1 && (b[0].is_ascii_alphanumeric() || b[0] == b'-' || b[0] == b'_') {
                Ok(())
            } else {
                Err(format!("invalid importer index {data}"))
            }
        }
        Linter::Iso3166 => in_list(ISO3166, data, "ISO 3166 numeric country code"),
        Linter::Iso3166999 => {
            if data == "999" {
                Ok(())
            } else {
                in_list(ISO3166, data, "ISO 3166 numeric country code (or 999)")
            }
        }
        Linter::Iso3166Alpha2 => in_list(ISO3166_ALPHA2, data, "ISO 3166 alpha-2 country code"),
        Linter::Iso4217 => in_list(ISO4217, data, "ISO 4217 numeric currency code"),
        Linter::Iso5218 => match data {
            "0" | "1" | "2" | "9" => Ok(()),
            _ => Err(format!(
                "{data} is not an ISO/IEC 5218 sex code (0, 1, 2 or 9)"
            )),
        },
        Linter::Latitude => bounded_number(b, 1_800_000_000, "latitude"),
        Linter::Longitude => bounded_number(b, 3_600_000_000, "longitude"),
        Linter::MediaType => match number(b) {
            Some(1..=10) | Some(80..=99) if b.len() == 2 => Ok(()),
            _ => Err(format!("{data} is not a valid AIDC media type")),
        },
        Linter::NonZero => {
            if b.iter().all(|&c| c == b'0') {
                Err("must not be zero".into())
            } else {
                Ok(())
            }
        }
        Linter::NoZeroPrefix => {
            if b.len() > 1 && b[0] == b'0' {
                Err("must not start with a zero".into())
            } else {
                Ok(())
            }
        }
        Linter::PackageType => package_type(b),
        Linter::PcEnc => pcenc(b),
        Linter::PieceOfTotal => piece_of_total(b),
        Linter::PosInSeqSlash => pos_in_seq_slash(data),
        Linter::Winding => match data {
            "0" | "1" | "9" => Ok(()),
            _ => Err(format!("{data} is not a winding direction (0, 1 or 9)")),
        },
        Linter::YesNo => match data {
            "0" | "1" => Ok(()),
            _ => Err(format!("{data} should be 0 or 1")),
        },
        Linter::Yymmd0 => date(b, false, true),
        Linter::Yymmdd => date(b, false, false),
        Linter::Yyyymmdd => date(b, true, false),
        Linter::Zero => {
            if data == "0" {
                Ok(())
            } else {
                Err(format!("{data} should be 0"))
            }
        }
        Linter::CouponCode => coupon_code(b),
        Linter::CouponPosOffer => coupon_pos_offer(b),
    }
}

fn all_digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

fn number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !all_digits(b) {
        return None;
    }
    Some(b.iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0')))
}

fn csum(b: &[u8]) -> Result<(), String> {
    if !all_digits(b) || b.is_empty() {
        return Err("check digit can only be computed over digits".into());
    }
    verify_gs1_check_digit(b).map_err(|(want, found)| {
        format!(
            "check digit should be {}, found {}",
            want as char, found as char
        )
    })
}

const CSET82: &[u8] =
    b"!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
const CSET32: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const PRIMES: [u32; 97] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193,
    197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269, 271, 277, 281, 283, 293, 307,
    311, 313, 317, 331, 337, 347, 349, 353, 359, 367, 373, 379, 383, 389, 397, 401, 409, 419, 421,
    431, 433, 439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499, 503, 509,
];

/// The GS1 alphanumeric check character pair (General Specifications 7.9.5).
fn csum_alpha(b: &[u8]) -> Result<(), String> {
    if b.len() < 2 {
        return Err("too short to hold a check character pair".into());
    }
    let body = &b[..b.len() - 2];
    if body.len() > PRIMES.len() {
        return Err("too long for the check character pair algorithm".into());
    }
    let mut sum = 0u32;
    for (i, &c) in body.iter().enumerate() {
        let v = CSET82
            .iter()
            .position(|&x| x == c)
            .ok_or_else(|| format!("invalid character {:?}", c as char))?;
        sum += v as u32 * PRIMES[body.len() - 1 - i];
    }
    sum %= 1021;
    let want = [CSET32[(sum >> 5) as usize], CSET32[(sum & 31) as usize]];
    let found = &b[b.len() - 2..];
    if found == want {
        Ok(())
    } else {
        Err(format!(
            "check character pair should be {}{}, found {}",
            want[0] as char,
            want[1] as char,
            String::from_utf8_lossy(found)
        ))
    }
}

/// A GS1 Company Prefix starts at `pos`: without a prefix table we can only require that the
/// shortest possible prefix (4 digits) is present there.
fn gcp_at(b: &[u8], pos: usize) -> Result<(), String> {
    match b.get(pos..pos + 4) {
        Some(p) if all_digits(p) => Ok(()),
        _ => Err("does not start with a GS1 Company Prefix".into()),
    }
}

fn two_digit_range(b: &[u8], lo: u64, hi: u64, what: &str) -> Result<(), String> {
    match number(b) {
        Some(n) if b.len() == 2 && (lo..=hi).contains(&n) => Ok(()),
        _ => Err(format!("invalid {what} {}", String::from_utf8_lossy(b))),
    }
}

fn hhmi(b: &[u8]) -> Result<(), String> {
    if b.len() != 4 {
        return Err("invalid time".into());
    }
    two_digit_range(&b[..2], 0, 23, "hour")?;
    two_digit_range(&b[2..], 0, 59, "minute")
}

#[allow(clippy::manual_is_multiple_of)] // keeps the MSRV (1.85)
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
        _ => 31,
    }
}

/// `YYMMDD` (or `YYYYMMDD`); with `day_zero` a day of `00` means "no particular day".
fn date(b: &[u8], four_digit_year: bool, day_zero: bool) -> Result<(), String> {
    let text = String::from_utf8_lossy(b);
    let ylen = if four_digit_year { 4 } else { 2 };
    if b.len() != ylen + 4 || !all_digits(b) {
        return Err(format!("invalid date {text}"));
    }
    let n = |s: &[u8]| s.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'));
    // Two-digit years: 2000-2099 for the leap-year rule (the century window never changes
    // whether a year divisible by 4 is a leap year, except 2100, which is decades away).
    let year = if four_digit_year {
        n(&b[..4])
    } else {
        2000 + n(&b[..2])
    };
    let month = n(&b[ylen..ylen + 2]);
    let day = n(&b[ylen + 2..]);
    if !(1..=12).contains(&month) {
        return Err(format!("invalid date {text}: month {month:02}"));
    }
    if (day == 0 && !day_zero) || day > days_in_month(year, month) {
        return Err(format!("invalid date {text}: day {day:02}"));
    }
    Ok(())
}

fn bounded_number(b: &[u8], max: u64, what: &str) -> Result<(), String> {
    match number(b) {
        Some(n) if n <= max => Ok(()),
        _ => Err(format!("invalid {what} {}", String::from_utf8_lossy(b))),
    }
}

fn in_list(list: &[&str], data: &str, what: &str) -> Result<(), String> {
    if list.binary_search(&data).is_ok() {
        Ok(())
    } else {
        Err(format!("{data} is not a valid {what}"))
    }
}

/// Percent-encoded data: every `%` is followed by two hex digits.
fn pcenc(b: &[u8]) -> Result<(), String> {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match b.get(i + 1..i + 3) {
                Some(h) if h.iter().all(u8::is_ascii_hexdigit) => i += 3,
                _ => return Err("invalid percent-encoding".into()),
            }
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[allow(clippy::manual_is_multiple_of)]
fn piece_of_total(b: &[u8]) -> Result<(), String> {
    if b.len() % 2 != 0 || b.is_empty() {
        return Err("invalid piece/total".into());
    }
    let (p, t) = b.split_at(b.len() / 2);
    match (number(p), number(t)) {
        (Some(p), Some(t)) if p >= 1 && t >= 1 && p <= t => Ok(()),
        (Some(0), _) => Err("piece number must not be zero".into()),
        (_, Some(0)) => Err("total number of pieces must not be zero".into()),
        (Some(_), Some(_)) => Err("piece number exceeds the total".into()),
        _ => Err("invalid piece/total".into()),
    }
}

fn pos_in_seq_slash(data: &str) -> Result<(), String> {
    let err = || format!("{data} is not a position in a sequence (e.g. 1/3)");
    let (p, t) = data.split_once('/').ok_or_else(err)?;
    match (number(p.as_bytes()), number(t.as_bytes())) {
        (Some(p), Some(t)) if p >= 1 && p <= t => Ok(()),
        _ => Err(err()),
    }
}

/// ISO 13616 IBAN: country code, two check digits, alphanumeric BBAN, mod 97 == 1.
fn iban(b: &[u8]) -> Result<(), String> {
    if b.len() < 5 {
        return Err("IBAN is too short".into());
    }
    let cc = std::str::from_utf8(&b[..2]).unwrap_or("");
    if in_list(ISO3166_ALPHA2, cc, "").is_err() {
        return Err(format!("IBAN country code {cc} is not valid"));
    }
    if !all_digits(&b[2..4]) {
        return Err("IBAN check digits must be numeric".into());
    }
    if !b[4..]
        .iter()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return Err("IBAN must contain only digits and upper-case letters".into());
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(c - b'A' + 10)) % 97;
        }
    }
    if rem == 1 {
        Ok(())
    } else {
        Err("IBAN check digits are incorrect".into())
    }
}

/// PackageTypeCode (UN/ECE Recommendation 21 and GS1 additions).
fn package_type(b: &[u8]) -> Result<(), String> {
    let s = std::str::from_utf8(b).unwrap_or("");
    if PACKAGE_TYPES.binary_search(&s).is_ok() {
        Ok(())
    } else {
        Err(format!("{s} is not a valid package type code"))
    }
}

/// A cursor over coupon data (North American coupon code, AI 8110 / 8112).
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or_else(|| format!("coupon data too short for {what}"))?;
        if !all_digits(s) {
            return Err(format!("coupon {what} must be numeric"));
        }
        self.pos += n;
        Ok(s)
    }
    fn digit(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0] - b'0')
    }
    /// A variable-length indicator `vli` in `range`, followed by `base + vli` digits.
    fn vli_field(
        &mut self,
        what: &str,
        range: std::ops::RangeInclusive<u8>,
        base: usize,
    ) -> Result<u8, String> {
        let v = self.digit(what)?;
        if !range.contains(&v) {
            return Err(format!("invalid length indicator {v} for coupon {what}"));
        }
        self.take(base + v as usize, what)?;
        Ok(v)
    }
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
}

/// AI (8112): paperless coupon code for POS offers.
fn coupon_pos_offer(b: &[u8]) -> Result<(), String> {
    let mut c = Cur { b, pos: 0 };
    let f = c.digit("format code")?;
    if f > 1 {
        return Err(format!("invalid coupon format code {f}"));
    }
    c.vli_field("funder ID", 0..=6, 6)?;
    c.take(6, "offer code")?;
    c.vli_field("serial number", 0..=9, 6)?;
    if !c.done() {
        return Err("coupon data has trailing characters".into());
    }
    Ok(())
}

/// AI (8110): North American coupon code.
fn coupon_code(b: &[u8]) -> Result<(), String> {
    let mut c = Cur { b, pos: 0 };
    c.vli_field("company prefix", 0..=6, 6)?;
    c.take(6, "offer code")?;
    c.vli_field("save value", 1..=5, 0)?;
    c.vli_field("primary purchase requirement", 1..=5, 0)?;
    let code = c.digit("purchase requirement code")?;
    if !matches!(code, 0..=4 | 9) {
        return Err(format!("invalid purchase requirement code {code}"));
    }
    c.take(3, "family code")?;
    let mut last = 0u8;
    let mut expiry: Option<&[u8]> = None;
    while !c.done() {
        let field = c.digit("optional field")?;
        if field <= last {
            return Err(format!("coupon optional field {field} out of order"));
        }
        last = field;
        match field {
            1 => {
                let rules = c.digit("additional purchase rules code")?;
                if rules > 3 {
                    return Err(format!("invalid additional purchase rules code {rules}"));
                }
                second_third_purchase(&mut c)?;
            }
            2 => second_third_purchase(&mut c)?,
            3 | 4 => {
                let d = c.take(6, "date")?;
                date(d, false, false)?;
                if field == 3 {
                    expiry = Some(d);
                } else if expiry.is_some_and(|e| e < d) {
                    return Err("coupon expiration date is before its start date".into());
                }
            }
            5 => {
                c.vli_field("serial number", 0..=9, 6)?;
            }
            6 => {
                c.vli_field("retailer ID", 1..=7, 6)?;
            }
            9 => {
                let v = c.digit("save value code")?;
                if !matches!(v, 0 | 1 | 2 | 5 | 6) {
                    return Err(format!("invalid save value code {v}"));
                }
                if c.digit("save value applies to item")? > 2 {
                    return Err("invalid save value applies-to-item".into());
                }
                c.digit("store coupon flag")?;
                if c.digit("don't multiply flag")? > 1 {
                    return Err("invalid don't multiply flag".into());
                }
            }
            _ => return Err(format!("unknown coupon optional field {field}")),
        }
    }
    Ok(())
}

fn second_third_purchase(c: &mut Cur<'_>) -> Result<(), String> {
    c.vli_field("purchase requirement", 1..=5, 0)?;
    let code = c.digit("purchase requirement code")?;
    if !matches!(code, 0..=4 | 9) {
        return Err(format!("invalid purchase requirement code {code}"));
    }
    c.take(3, "family code")?;
    let v = c.digit("company prefix length")?;
    match v {
        0..=6 => {
            c.take(6 + v as usize, "company prefix")?;
        }
        9 => {}
        _ => return Err(format!("invalid length indicator {v} for company prefix")),
    }
    Ok(())
}

/// PackageTypeCode values (sorted).
pub const PACKAGE_TYPES: &[&str] = &[
    "1A", "1B", "1D", "1F", "1G", "1W", "200", "201", "202", "203", "204", "205", "206", "210",
    "211", "212", "2C", "3A", "3H", "43", "44", "4A", "4B", "4C", "4D", "4F", "4G", "4H", "5H",
    "5L", "5M", "6H", "6P", "7A", "7B", "8", "8A", "8B", "8C", "9", "AA", "AB", "AC", "AD", "AF",
    "AG", "AH", "AI", "AJ", "AL", "AM", "AP", "APE", "AT", "AV", "B4", "BB", "BC", "BD", "BE",
    "BF", "BG", "BGE", "BH", "BI", "BJ", "BK", "BL", "BM", "BME", "BN", "BO", "BP", "BQ", "BR",
    "BRI", "BS", "BT", "BU", "BV", "BW", "BX", "BY", "BZ", "CA", "CB", "CBL", "CC", "CCE", "CD",
    "CE", "CF", "CG", "CH", "CI", "CJ", "CK", "CL", "CM", "CN", "CO", "CP", "CQ", "CR", "CS", "CT",
    "CU", "CV", "CW", "CX", "CY", "CZ", "DA", "DB", "DC", "DG", "DH", "DI", "DJ", "DK", "DL", "DM",
    "DN", "DP", "DPE", "DR", "DS", "DT", "DU", "DV", "DW", "DX", "DY", "E1", "E2", "E3", "EC",
    "ED", "EE", "EF", "EG", "EH", "EI", "EN", "FB", "FC", "FD", "FE", "FI", "FL", "FO", "FOB",
    "FP", "FPE", "FR", "FT", "FW", "FX", "GB", "GI", "GL", "GR", "GU", "GY", "GZ", "HA", "HB",
    "HC", "HG", "HN", "HR", "IA", "IB", "IC", "ID", "IE", "IF", "IG", "IH", "IK", "IL", "IN", "IZ",
    "JB", "JC", "JG", "JR", "JT", "JY", "KG", "KI", "LAB", "LE", "LG", "LT", "LU", "LV", "LZ",
    "MA", "MB", "MC", "ME", "MPE", "MR", "MS", "MT", "MW", "MX", "NA", "NE", "NF", "NG", "NS",
    "NT", "NU", "NV", "OA", "OB", "OC", "OD", "OE", "OF", "OK", "OPE", "OT", "OU", "P2", "PA",
    "PAE", "PB", "PC", "PD", "PE", "PF", "PG", "PH", "PI", "PJ", "PK", "PL", "PLP", "PN", "PO",
    "POP", "PP", "PPE", "PR", "PT", "PU", "PUE", "PV", "PX", "PY", "PZ", "QA", "QB", "QC", "QD",
    "QF", "QG", "QH", "QJ", "QK", "QL", "QM", "QN", "QP", "QQ", "QR", "QS", "RB1", "RB2", "RB3",
    "RCB", "RD", "RG", "RJ", "RK", "RL", "RO", "RT", "RZ", "S1", "SA", "SB", "SC", "SD", "SE",
    "SEC", "SH", "SI", "SK", "SL", "SM", "SO", "SP", "SS", "ST", "STL", "SU", "SV", "SW", "SX",
    "SY", "SZ", "T1", "TB", "TC", "TD", "TE", "TEV", "TG", "THE", "TI", "TK", "TL", "TN", "TO",
    "TR", "TRE", "TS", "TT", "TTE", "TU", "TV", "TW", "TWE", "TY", "TZ", "UC", "UN", "UUE", "VA",
    "VG", "VI", "VK", "VL", "VN", "VO", "VP", "VQ", "VR", "VS", "VY", "WA", "WB", "WC", "WD", "WF",
    "WG", "WH", "WJ", "WK", "WL", "WM", "WN", "WP", "WQ", "WR", "WRP", "WS", "WT", "WU", "WV",
    "WW", "WX", "WY", "WZ", "X11", "X12", "X15", "X16", "X17", "X18", "X19", "X20", "X3", "XA",
    "XB", "XC", "XD", "XF", "XG", "XH", "XJ", "XK", "YA", "YB", "YC", "YD", "YF", "YG", "YH", "YJ",
    "YK", "YL", "YM", "YN", "YP", "YQ", "YR", "YS", "YT", "YV", "YW", "YX", "YY", "YZ", "ZA", "ZB",
    "ZC", "ZD", "ZF", "ZG", "ZH", "ZJ", "ZK", "ZL", "ZM", "ZN", "ZP", "ZQ", "ZR", "ZS", "ZT", "ZU",
    "ZV", "ZW", "ZX", "ZY", "ZZ",
];

/// ISO 3166-1 numeric country codes (sorted).
pub const ISO3166: &[&str] = &[
    "004", "008", "010", "012", "016", "020", "024", "028", "031", "032", "036", "040", "044",
    "048", "050", "051", "052", "056", "060", "064", "068", "070", "072", "074", "076", "084",
    "086", "090", "092", "096", "100", "104", "108", "112", "116", "120", "124", "132", "136",
    "140", "144", "148", "152", "156", "158", "162", "166", "170", "174", "175", "178", "180",
    "184", "188", "191", "192", "196", "203", "204", "208", "212", "214", "218", "222", "226",
    "231", "232", "233", "234", "238", "239", "242", "246", "248", "250", "254", "258", "260",
    "262", "266", "268", "270", "275", "276", "288", "292", "296", "300", "304", "308", "312",
    "316", "320", "324", "328", "332", "334", "336", "340", "344", "348", "352", "356", "360",
    "364", "368", "372", "376", "380", "384", "388", "392", "398", "400", "404", "408", "410",
    "414", "417", "418", "422", "426", "428", "430", "434", "438", "440", "442", "446", "450",
    "454", "458", "462", "466", "470", "474", "478", "480", "484", "492", "496", "498", "499",
    "500", "504", "508", "512", "516", "520", "524", "528", "531", "533", "534", "535", "540",
    "548", "554", "558", "562", "566", "570", "574", "578", "580", "581", "583", "584", "585",
    "586", "591", "598", "600", "604", "608", "612", "616", "620", "624", "626", "630", "634",
    "638", "642", "643", "646", "652", "654", "659", "660", "662", "663", "666", "670", "674",
    "678", "682", "686", "688", "690", "694", "702", "703", "704", "705", "706", "710", "716",
    "724", "728", "729", "732", "740", "744", "748", "752", "756", "760", "762", "764", "768",
    "772", "776", "780", "784", "788", "792", "795", "796", "798", "800", "804", "807", "818",
    "826", "831", "832", "833", "834", "840", "850", "854", "858", "860", "862", "876", "882",
    "887", "894",
];

/// ISO 3166-1 alpha-2 country codes (sorted).
pub const ISO3166_ALPHA2: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// ISO 4217 numeric currency codes (sorted).
pub const ISO4217: &[&str] = &[
    "008", "012", "032", "036", "044", "048", "050", "051", "052", "060", "064", "068", "072",
    "084", "090", "096", "104", "108", "116", "124", "132", "136", "144", "152", "156", "170",
    "174", "188", "191", "192", "203", "208", "214", "222", "230", "232", "238", "242", "262",
    "270", "292", "320", "324", "328", "332", "340", "344", "348", "352", "356", "360", "364",
    "368", "376", "388", "392", "398", "400", "404", "408", "410", "414", "417", "418", "422",
    "426", "430", "434", "446", "454", "458", "462", "480", "484", "496", "498", "504", "512",
    "516", "524", "532", "533", "548", "554", "558", "566", "578", "586", "590", "598", "600",
    "604", "608", "634", "643", "646", "654", "682", "690", "694", "702", "704", "706", "710",
    "728", "748", "752", "756", "760", "764", "776", "780", "784", "788", "800", "807", "818",
    "826", "834", "840", "858", "860", "882", "886", "901", "925", "927", "928", "929", "930",
    "931", "932", "933", "934", "936", "938", "940", "941", "943", "944", "946", "947", "948",
    "949", "950", "951", "952", "953", "955", "956", "957", "958", "959", "960", "961", "962",
    "963", "964", "965", "967", "968", "969", "970", "971", "972", "973", "975", "976", "977",
    "978", "979", "980", "981", "984", "985", "986", "990", "994", "997", "999",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted() {
        for l in [ISO3166, ISO3166_ALPHA2, ISO4217, PACKAGE_TYPES] {
            assert!(l.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn linters() {
        assert!(lint(Linter::Csum, "09521234543213").is_ok());
        assert_eq!(
            lint(Linter::Csum, "09521234543214").unwrap_err(),
            "check digit should be 3, found 4"
        );
        assert!(lint(Linter::CsumAlpha, "1987654Ad4X4bL5ttr2310c2K").is_ok());
        assert!(lint(Linter::CsumAlpha, "1987654Ad4X4bL5ttr2310cXK").is_err());
        assert!(lint(Linter::CsumAlpha, "22").is_ok());
        assert!(lint(Linter::Yymmd0, "251200").is_ok());
        assert!(lint(Linter::Yymmdd, "251200").is_err());
        assert!(lint(Linter::Yymmdd, "240229").is_ok());
        assert!(lint(Linter::Yymmdd, "250229").is_err());
        assert!(lint(Linter::Yymmdd, "251301").is_err());
        assert!(lint(Linter::Yyyymmdd, "19000229").is_err());
        assert!(lint(Linter::Yyyymmdd, "20000229").is_ok());
        assert!(lint(Linter::Iso3166, "528").is_ok());
        assert!(lint(Linter::Iso3166, "999").is_err());
        assert!(lint(Linter::Iso3166999, "999").is_ok());
        assert!(lint(Linter::Iso4217, "978").is_ok());
        assert!(lint(Linter::Iban, "GB82WEST12345698765432").is_ok());
        assert!(lint(Linter::Iban, "GB82WEST12345698765433").is_err());
        assert!(lint(Linter::PieceOfTotal, "0102").is_ok());
        assert!(lint(Linter::PieceOfTotal, "0301").is_err());
        assert!(lint(Linter::PieceOfTotal, "0001").is_err());
        assert!(lint(Linter::PosInSeqSlash, "1/2").is_ok());
        assert!(lint(Linter::PosInSeqSlash, "3/2").is_err());
        assert!(lint(Linter::PcEnc, "A%20B").is_ok());
        assert!(lint(Linter::PcEnc, "A%2").is_err());
        assert!(lint(Linter::Hhmi, "2359").is_ok());
        assert!(lint(Linter::Hhmi, "2400").is_err());
        assert!(lint(Linter::Latitude, "1800000000").is_ok());
        assert!(lint(Linter::Latitude, "1800000001").is_err());
        assert!(lint(Linter::NoZeroPrefix, "0").is_ok());
        assert!(lint(Linter::NoZeroPrefix, "01").is_err());
        assert!(lint(Linter::CouponPosOffer, "109521231234560123456").is_ok());
        assert!(lint(Linter::CouponPosOffer, "201952123451234560").is_err());
        assert!(lint(Linter::CouponCode, "095212312345610101001").is_ok());
        // with expiration (3) and start (4) dates: start after expiry is an error
        assert!(lint(Linter::CouponCode, "09521231234561010100132512314250101").is_ok());
        assert!(lint(Linter::CouponCode, "09521231234561010100132501014251231").is_err());
        assert!(lint(Linter::CouponCode, "09521231234561010100185").is_err());
        assert!(lint(Linter::Yymmddhh, "25123123").is_ok());
        assert!(lint(Linter::Yymmddhh, "25123124").is_err());
        assert!(lint(Linter::Iso3166List, "528276").is_ok());
        assert!(lint(Linter::Iso3166List, "528999").is_err());
        assert!(lint(Linter::MmOptSs, "5959").is_ok());
        assert!(lint(Linter::MmOptSs, "60").is_err());
        assert!(lint(Linter::LatLong, "18000000003600000000").is_ok());
        assert!(lint(Linter::LatLong, "18000000013600000000").is_err());
        assert!(lint(Linter::Key, "9521A").is_ok());
        assert!(lint(Linter::KeyOff1, "0952A").is_err());
        for (name, l) in [("csum", Linter::Csum), ("yyyymmd0", Linter::Yyyymmd0)] {
            assert_eq!(Linter::from_name(name), Some(l));
            assert_eq!(l.name(), name);
        }
        assert!(lint(Linter::PackageType, "BX").is_ok());
        assert!(lint(Linter::PackageType, "QQQ").is_err());
        assert!(lint(Linter::MediaType, "10").is_ok());
        assert!(lint(Linter::MediaType, "11").is_err());
    }
}
