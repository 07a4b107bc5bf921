//! A small RFC 3339 / ISO 8601 `dateTime` parser: the original text plus the UTC instant.

use std::fmt;

/// A timestamp as written in the document, with its parsed UTC instant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    raw: String,
    instant: Instant,
}

/// A UTC instant: seconds since the Unix epoch plus nanoseconds, and whether the text carried an
/// explicit offset (`Z` or `+hh:mm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instant {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds within the second (truncated to nanosecond precision).
    pub nanos: u32,
}

/// Why a timestamp did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeError(pub &'static str);

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for TimeError {}

impl Timestamp {
    /// Parses `YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)`. A missing offset is read as UTC
    /// (the standard requires one; validation reports its absence separately).
    pub fn parse(s: &str) -> Result<Timestamp, TimeError> {
        let (instant, _) = parse_instant(s)?;
        Ok(Timestamp {
            raw: s.to_owned(),
            instant,
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The UTC instant.
    pub fn instant(&self) -> Instant {
        self.instant
    }

    /// Milliseconds since the Unix epoch (UTC), truncated.
    pub fn unix_millis(&self) -> i64 {
        self.instant.unix_millis()
    }
}

impl Instant {
    /// Milliseconds since the Unix epoch, truncated towards negative infinity.
    pub fn unix_millis(&self) -> i64 {
        self.secs * 1000 + i64::from(self.nanos / 1_000_000)
    }

    /// `YYYY-MM-DDThh:mm:ss.mmmZ` with the given milliseconds (0..=999).
    pub fn format_millis(secs: i64, millis: u32) -> String {
        let mut out = String::with_capacity(24);
        Self::format_millis_into(secs, millis, &mut out);
        out
    }

    /// [`Instant::format_millis`] appended to `out`.
    pub fn format_millis_into(secs: i64, millis: u32, out: &mut String) {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            use fmt::Write;
            let _ = write!(out, "{y:04}");
            let mut t = *b"-MM-DDThh:mm:ss.mmmZ";
            fill(&mut t, m, d, sod, millis);
            out.push_str(std::str::from_utf8(&t).unwrap_or_default());
            return;
        }
        // Written into bytes: this runs for every time of every hashed event.
        let mut t = *b"YYYY-MM-DDThh:mm:ss.mmmZ";
        put2(&mut t[0..2], y / 100);
        put2(&mut t[2..4], y % 100);
        fill(&mut t[4..], m, d, sod, millis);
        out.push_str(std::str::from_utf8(&t).unwrap_or_default());
    }
}

/// Two decimal digits of `v` (0..=99) into `at`.
fn put2(at: &mut [u8], v: i64) {
    at[0] = b'0' + (v / 10 % 10) as u8;
    at[1] = b'0' + (v % 10) as u8;
}

/// `-MM-DDThh:mm:ss.mmmZ` filled in.
fn fill(t: &mut [u8], m: i64, d: i64, sod: i64, millis: u32) {
    put2(&mut t[1..3], m);
    put2(&mut t[4..6], d);
    put2(&mut t[7..9], sod / 3600);
    put2(&mut t[10..12], (sod % 3600) / 60);
    put2(&mut t[13..15], sod % 60);
    let ms = i64::from(millis.min(999));
    t[16] = b'0' + (ms / 100) as u8;
    put2(&mut t[17..19], ms % 100);
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, TimeError> {
    let part = b.get(at..at + n).ok_or(TimeError("timestamp too short"))?;
    let mut v = 0i64;
    for &c in part {
        if !c.is_ascii_digit() {
            return Err(TimeError("expected a digit"));
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Ok(v)
}

/// Parses a `dateTime`; returns the instant and the offset in seconds if one was given.
pub fn parse_instant(s: &str) -> Result<(Instant, Option<i32>), TimeError> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(TimeError("expected YYYY-MM-DD"));
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T') | Some(b't')) {
        return Err(TimeError("expected 'T' between date and time"));
    }
    let hour = digits(b, 11, 2)?;
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return Err(TimeError("expected hh:mm:ss"));
    }
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(TimeError("date out of range"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(TimeError("time out of range"));
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000_000u32;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return Err(TimeError("expected digits after '.'"));
        }
    }
    let offset = match b.get(i) {
        None => None,
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => Some(0),
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(TimeError("time-zone offset out of range"));
            }
            let o = (oh * 3600 + om * 60) as i32;
            Some(if sign == b'-' { -o } else { o })
        }
        _ => return Err(TimeError("expected 'Z' or a time-zone offset [+-]hh:mm")),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - i64::from(offset.unwrap_or(0));
    Ok((Instant { secs, nanos }, offset))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's civil date algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Is `s` a time-zone offset `[+-]hh:mm` with hh in 00..=14 (and 14 only with :00)?
pub fn is_valid_tz_offset(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
        return false;
    }
    match (digits(b, 1, 2), digits(b, 4, 2)) {
        (Ok(h), Ok(m)) => m <= 59 && (h < 14 || (h == 14 && m == 0)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let t = Timestamp::parse("2020-03-04T11:00:30.999+01:00").unwrap();
        assert_eq!(
            Instant::format_millis(t.instant().secs, t.instant().nanos / 1_000_000),
            "2020-03-04T10:00:30.999Z"
        );
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:00Z")
                .unwrap()
                .unix_millis(),
            0
        );
        assert_eq!(
            Timestamp::parse("1969-12-31T23:59:59.5Z")
                .unwrap()
                .unix_millis(),
            -500
        );
        for (secs, millis, want) in [
            (-62_167_219_200, 0, "0000-01-01T00:00:00.000Z"),
            (253_402_300_799, 999, "9999-12-31T23:59:59.999Z"),
            (253_402_300_800, 5, "10000-01-01T00:00:00.005Z"),
            (-62_167_219_201, 50, "-001-12-31T23:59:59.050Z"),
            (951_782_400, 1000, "2000-02-29T00:00:00.999Z"),
        ] {
            assert_eq!(Instant::format_millis(secs, millis), want);
        }
        assert!(Timestamp::parse("2020-02-30T00:00:00Z").is_err());
        assert!(Timestamp::parse("2020-02-10T00:00:00+1:00").is_err());
        assert!(Timestamp::parse("2020-02-10").is_err());
        assert!(is_valid_tz_offset("-06:00"));
        assert!(!is_valid_tz_offset("06:00"));
        assert!(!is_valid_tz_offset("+15:00"));
    }
}
