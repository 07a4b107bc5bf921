//! Compressed GS1 Digital Link URIs (GS1 Digital Link: compression, as in the GS1 DL toolkit
//! and the `gs1-compression` reference): the AIs and values are packed into a bit string and
//! written as one base64url path segment.
//!
//! Layout, per AI: the AI's digits as 4-bit nibbles, then its value per the AI's format:
//! a fixed-length numeric part as a binary integer of `ceil(n * log2 10)` bits; a
//! variable-length numeric part as a length (bits enough for the maximum length) then the
//! integer; an alphanumeric part as a 3-bit encoding (0 digits, 1 lower-case hex, 2 upper-case
//! hex, 3 base64url, 4 7-bit ASCII), the length (variable parts only), then the characters.
//! AIs are written in ascending order. With optimisation, a two-hex-digit code from the
//! optimisation table replaces a whole sequence of AI numbers (e.g. `1A` = 01, 10, 21, 17);
//! the values of that sequence come first, in ascending AI order. Non-GS1 key-value pairs are flagged by nibble `F`.

use crate::ai::{self, AiEntry, Charset};
use crate::element::ElementString;
use crate::IdError;

/// The optimisation table: code -> the AI sequence it stands for.
pub const OPTIMISATIONS: &[(&str, &[&str])] = &[
    ("0A", &["01", "22"]),
    ("0B", &["01", "10"]),
    ("0C", &["01", "21"]),
    ("0D", &["01", "17"]),
    ("0E", &["01", "7003"]),
    ("0F", &["01", "30"]),
    ("1A", &["01", "10", "21", "17"]),
    ("1B", &["01", "15"]),
    ("1C", &["01", "11"]),
    ("1D", &["01", "16"]),
    ("1E", &["01", "91"]),
    ("1F", &["01", "10", "15"]),
    ("2A", &["01", "3100"]),
    ("2B", &["01", "3101"]),
    ("2C", &["01", "3102"]),
    ("2D", &["01", "3103"]),
    ("2E", &["01", "3104"]),
    ("2F", &["01", "3105"]),
    ("3A", &["01", "3200"]),
    ("3B", &["01", "3201"]),
    ("3C", &["01", "3202"]),
    ("3D", &["01", "3203"]),
    ("3E", &["01", "3204"]),
    ("3F", &["01", "3205"]),
    ("9A", &["8010", "8011"]),
    ("9B", &["8017", "8019"]),
    ("9C", &["8018", "8019"]),
    ("9D", &["414", "254"]),
    ("A0", &["01", "3920"]),
    ("A1", &["01", "3921"]),
    ("A2", &["01", "3922"]),
    ("A3", &["01", "3923"]),
    ("A4", &["01", "3924"]),
    ("A5", &["01", "3925"]),
    ("A6", &["01", "3926"]),
    ("A7", &["01", "3927"]),
    ("A8", &["01", "3928"]),
    ("A9", &["01", "3929"]),
    ("C0", &["255", "3900"]),
    ("C1", &["255", "3901"]),
    ("C2", &["255", "3902"]),
    ("C3", &["255", "3903"]),
    ("C4", &["255", "3904"]),
    ("C5", &["255", "3905"]),
    ("C6", &["255", "3906"]),
    ("C7", &["255", "3907"]),
    ("C8", &["255", "3908"]),
    ("C9", &["255", "3909"]),
    ("CA", &["255", "3940"]),
    ("CB", &["255", "3941"]),
    ("CC", &["255", "3942"]),
    ("CD", &["255", "3943"]),
];

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A part of an AI value as the compression format sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    numeric: bool,
    /// Fixed length, or maximum length when `variable`.
    len: usize,
    variable: bool,
}

/// Derives the compression parts from the dictionary components: consecutive mandatory
/// fixed-length parts of the same kind merge; optional parts after them form one
/// variable-length part.
fn parts(entry: &AiEntry) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::with_capacity(2);
    let mut optional_tail: Option<Part> = None;
    for c in entry.components {
        let numeric = c.charset == Charset::N;
        if c.optional {
            match &mut optional_tail {
                Some(p) => {
                    p.len += c.max as usize;
                    p.numeric &= numeric;
                }
                None => {
                    optional_tail = Some(Part {
                        numeric,
                        len: c.max as usize,
                        variable: true,
                    })
                }
            }
            continue;
        }
        let p = Part {
            numeric,
            len: c.max as usize,
            variable: !c.is_fixed(),
        };
        match out.last_mut() {
            Some(last) if !last.variable && !p.variable && last.numeric == p.numeric => {
                last.len += p.len
            }
            _ => out.push(p),
        }
    }
    out.extend(optional_tail);
    out
}

/// `ceil(n * log2(10) + 0.01)`: bits for an n-digit number, exactly as the reference
/// implementations compute it (the 0.01 matters for n = 59, where n * log2(10) = 195.994).
fn value_bits(n: usize) -> usize {
    ((n as u128 * 3_321_928_094_887 + 10_000_000_000).div_ceil(1_000_000_000_000)) as usize
}

/// Bits for a length up to `max`.
fn length_bits(max: usize) -> usize {
    (usize::BITS - max.leading_zeros()) as usize
}

/// An optimisation sequence in ascending AI order.
fn sorted(seq: &[&'static str]) -> Vec<&'static str> {
    let mut v = seq.to_vec();
    v.sort_unstable();
    v
}

struct BitWriter {
    bits: Vec<bool>,
}

impl BitWriter {
    fn push(&mut self, v: u64, n: usize) {
        for i in (0..n).rev() {
            self.bits.push(v >> i & 1 == 1);
        }
    }
    /// A decimal digit string as a big binary integer of `n` bits.
    fn push_decimal(&mut self, digits: &str, n: usize) {
        // little-endian base-2^32 limbs
        let mut limbs: Vec<u32> = vec![0];
        for d in digits.bytes() {
            let mut carry = u64::from(d - b'0');
            for l in limbs.iter_mut() {
                let x = u64::from(*l) * 10 + carry;
                *l = x as u32;
                carry = x >> 32;
            }
            if carry > 0 {
                limbs.push(carry as u32);
            }
        }
        for i in (0..n).rev() {
            let bit = limbs.get(i / 32).is_some_and(|l| l >> (i % 32) & 1 == 1);
            self.bits.push(bit);
        }
    }
    fn to_base64(&self) -> String {
        self.bits
            .chunks(6)
            .map(|c| {
                let mut v = 0usize;
                for i in 0..6 {
                    v = v << 1 | usize::from(c.get(i).copied().unwrap_or(false));
                }
                B64[v] as char
            })
            .collect()
    }
}

fn encoding_of(s: &str) -> u8 {
    let b = s.as_bytes();
    if b.iter().all(u8::is_ascii_digit) {
        0
    } else if b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        1
    } else if b.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')) {
        2
    } else if b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
    {
        3
    } else {
        4
    }
}

fn write_chars(w: &mut BitWriter, s: &str, len_bits: Option<usize>) {
    let enc = encoding_of(s);
    w.push(u64::from(enc), 3);
    if let Some(lb) = len_bits {
        w.push(s.len() as u64, lb);
    }
    match enc {
        0 => w.push_decimal(s, value_bits(s.len())),
        1 | 2 => {
            for c in s.bytes() {
                w.push(u64::from((c as char).to_digit(16).unwrap_or(0)), 4);
            }
        }
        3 => {
            for c in s.bytes() {
                let v = B64.iter().position(|&x| x == c).unwrap_or(0);
                w.push(v as u64, 6);
            }
        }
        _ => {
            for c in s.bytes() {
                w.push(u64::from(c & 0x7f), 7);
            }
        }
    }
}

fn write_value(w: &mut BitWriter, entry: &AiEntry, value: &str) -> Result<(), IdError> {
    let mut rest = value;
    for p in parts(entry) {
        let take = if p.variable {
            rest.len()
        } else {
            p.len.min(rest.len())
        };
        let (s, r) = rest.split_at(take);
        rest = r;
        if p.variable && s.is_empty() {
            // an absent optional tail still needs its (zero) length for numeric parts
            if p.numeric {
                w.push(0, length_bits(p.len));
            } else {
                w.push(0, 3);
                w.push(0, length_bits(p.len));
            }
            continue;
        }
        match (p.numeric, p.variable) {
            (true, false) => w.push_decimal(s, value_bits(p.len)),
            (true, true) => {
                w.push(s.len() as u64, length_bits(p.len));
                w.push_decimal(s, value_bits(s.len()));
            }
            (false, false) => write_chars(w, s, None),
            (false, true) => write_chars(w, s, Some(length_bits(p.len))),
        }
    }
    if !rest.is_empty() {
        return Err(IdError::ai(
            entry.ai,
            "value does not fit the compression format",
        ));
    }
    Ok(())
}

fn write_ai(w: &mut BitWriter, ai: &str) {
    for c in ai.bytes() {
        w.push(u64::from(c - b'0'), 4);
    }
}

/// Compresses the AIs of an element string; returns the base64url path segment.
pub fn compress_ais(es: &ElementString, optimise: bool) -> Result<String, IdError> {
    let mut ais: Vec<(&str, &str)> = Vec::new();
    for (a, v) in es.ais() {
        if !ais.iter().any(|(x, _)| *x == a.as_str()) {
            ais.push((a.as_str(), v.as_str()));
        }
    }
    ais.sort_by(|x, y| x.0.cmp(y.0));
    let mut w = BitWriter { bits: Vec::new() };
    if optimise {
        loop {
            let best = OPTIMISATIONS
                .iter()
                .filter(|(_, seq)| seq.iter().all(|s| ais.iter().any(|(a, _)| a == s)))
                .max_by(|x, y| {
                    let n = |s: &[&str]| s.iter().map(|a| a.len()).sum::<usize>();
                    // first in table order on ties
                    n(x.1).cmp(&n(y.1)).then(std::cmp::Ordering::Greater)
                });
            let Some((code, seq)) = best else { break };
            for c in code.bytes() {
                w.push(u64::from((c as char).to_digit(16).unwrap_or(0)), 4);
            }
            // the values follow in ascending AI order (as the reference encoders write them)
            for s in sorted(seq) {
                let i = ais.iter().position(|(a, _)| *a == s).unwrap_or(0);
                let (a, v) = ais.remove(i);
                let e = ai::lookup(a).ok_or_else(|| IdError::syntax("unknown AI"))?;
                write_value(&mut w, e, v)?;
            }
        }
    }
    for (a, v) in ais {
        let e = ai::lookup(a).ok_or_else(|| IdError::syntax(format!("unrecognised AI ({a})")))?;
        write_ai(&mut w, a);
        write_value(&mut w, e, v)?;
    }
    Ok(w.to_base64())
}

/// Compresses a GS1 Digital Link URI, keeping its scheme and host.
///
/// Query parameters that are not AIs (`linkType=...`) are kept, uncompressed, as the query.
pub fn compress(uri: &str, optimise: bool) -> Result<String, IdError> {
    let es = super::parse(uri)?;
    let sp = super::split_uri(uri)?;
    let mut out = format!("{}/{}", &uri[..sp.stem_end], compress_ais(&es, optimise)?);
    append_other_params(&mut out, sp.query);
    Ok(out)
}

/// Appends the query parameters whose keys are not AIs.
fn append_other_params(out: &mut String, query: &str) {
    let mut first = !out.contains('?');
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let key = param.split('=').next().unwrap_or("");
        if key.bytes().all(|c| c.is_ascii_digit()) {
            continue;
        }
        out.push(if first { '?' } else { '&' });
        first = false;
        out.push_str(param);
    }
}

/// Compresses an element string onto a stem such as `https://id.gs1.org`.
pub fn compress_element_string(
    es: &ElementString,
    stem: &str,
    optimise: bool,
) -> Result<String, IdError> {
    Ok(format!(
        "{}/{}",
        stem.trim_end_matches('/'),
        compress_ais(es, optimise)?
    ))
}

struct BitReader {
    bits: Vec<bool>,
    pos: usize,
}

impl BitReader {
    fn remaining(&self) -> usize {
        self.bits.len() - self.pos
    }
    fn read(&mut self, n: usize) -> Result<u64, IdError> {
        if n > 64 || self.remaining() < n {
            return Err(IdError::syntax("compressed Digital Link is truncated"));
        }
        let mut v = 0u64;
        for _ in 0..n {
            v = v << 1 | u64::from(self.bits[self.pos]);
            self.pos += 1;
        }
        Ok(v)
    }
    /// Reads an `n`-bit integer and writes it as `digits` decimal digits.
    fn read_decimal(&mut self, n: usize, digits: usize) -> Result<String, IdError> {
        if digits == 0 {
            return Ok(String::new());
        }
        if self.remaining() < n {
            return Err(IdError::syntax("compressed Digital Link is truncated"));
        }
        // big-endian bits into little-endian base-10^9 limbs
        let mut limbs: Vec<u64> = vec![0];
        for _ in 0..n {
            let mut carry = u64::from(self.bits[self.pos]);
            self.pos += 1;
            for l in limbs.iter_mut() {
                let x = *l * 2 + carry;
                *l = x % 1_000_000_000;
                carry = x / 1_000_000_000;
            }
            if carry > 0 {
                limbs.push(carry);
            }
        }
        let mut s = String::new();
        for (i, l) in limbs.iter().rev().enumerate() {
            if i == 0 {
                s.push_str(&l.to_string());
            } else {
                s.push_str(&format!("{l:09}"));
            }
        }
        let s = s.trim_start_matches('0');
        if s.len() > digits {
            return Err(IdError::syntax(
                "compressed Digital Link holds a number too large for its field",
            ));
        }
        Ok(format!("{s:0>digits$}"))
    }
}

fn read_chars(
    r: &mut BitReader,
    len: Option<usize>,
    max_len_bits: usize,
) -> Result<String, IdError> {
    let enc = r.read(3)?;
    let n = match len {
        Some(n) => n,
        None => r.read(max_len_bits)? as usize,
    };
    let mut s = String::with_capacity(n);
    match enc {
        0 => s = r.read_decimal(value_bits(n), n)?,
        1 | 2 => {
            for _ in 0..n {
                let v = r.read(4)? as u8;
                let c = if v < 10 {
                    b'0' + v
                } else if enc == 1 {
                    b'a' + v - 10
                } else {
                    b'A' + v - 10
                };
                s.push(c as char);
            }
        }
        3 => {
            for _ in 0..n {
                s.push(B64[r.read(6)? as usize] as char);
            }
        }
        4 => {
            for _ in 0..n {
                s.push(r.read(7)? as u8 as char);
            }
        }
        _ => return Err(IdError::syntax(format!("unknown value encoding {enc}"))),
    }
    Ok(s)
}

fn read_value(r: &mut BitReader, entry: &AiEntry) -> Result<String, IdError> {
    let mut v = String::new();
    for p in parts(entry) {
        match (p.numeric, p.variable) {
            (true, false) => v.push_str(&r.read_decimal(value_bits(p.len), p.len)?),
            (true, true) => {
                let n = r.read(length_bits(p.len))? as usize;
                v.push_str(&r.read_decimal(value_bits(n), n)?);
            }
            (false, false) => v.push_str(&read_chars(r, Some(p.len), 0)?),
            (false, true) => v.push_str(&read_chars(r, None, length_bits(p.len))?),
        }
    }
    Ok(v)
}

fn nibble_ai(r: &mut BitReader, first: u64, second: u64) -> Result<&'static AiEntry, IdError> {
    let mut ai = format!("{first}{second}");
    loop {
        if let Some(e) = ai::lookup(&ai) {
            return Ok(e);
        }
        if ai.len() >= 4 {
            return Err(IdError::syntax(format!(
                "compressed Digital Link holds unknown AI ({ai})"
            )));
        }
        let d = r.read(4)?;
        if d > 9 {
            return Err(IdError::syntax(
                "compressed Digital Link holds an invalid AI",
            ));
        }
        ai.push((b'0' + d as u8) as char);
    }
}

/// Decodes the base64url segment of a compressed Digital Link into AIs; non-GS1 key-value
/// pairs are returned separately.
#[allow(clippy::type_complexity)]
pub fn decompress_segment(
    seg: &str,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), IdError> {
    let mut bits = Vec::with_capacity(seg.len() * 6);
    for c in seg.bytes() {
        let v = B64
            .iter()
            .position(|&x| x == c)
            .ok_or_else(|| IdError::syntax("compressed Digital Link is not base64url"))?;
        for i in (0..6).rev() {
            bits.push(v >> i & 1 == 1);
        }
    }
    let mut r = BitReader { bits, pos: 0 };
    let mut ais = Vec::new();
    let mut other = Vec::new();
    while r.remaining() >= 8 {
        let h1 = r.read(4)?;
        if h1 == 0xF {
            let klen = r.read(7)? as usize;
            let mut key = String::new();
            for _ in 0..klen {
                key.push(B64[r.read(6)? as usize] as char);
            }
            let val = read_chars(&mut r, None, 7)?;
            other.push((key, val));
            continue;
        }
        let h2 = r.read(4)?;
        if h1 <= 9 && h2 <= 9 {
            let e = nibble_ai(&mut r, h1, h2)?;
            let v = read_value(&mut r, e)?;
            ais.push((e.ai.to_string(), v));
        } else {
            let code = format!("{h1:X}{h2:X}");
            let seq = OPTIMISATIONS
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, s)| *s)
                .ok_or_else(|| {
                    IdError::syntax(format!(
                        "unknown optimisation code {code} in compressed Digital Link"
                    ))
                })?;
            for a in sorted(seq) {
                let e = ai::lookup(a).ok_or_else(|| IdError::syntax("unknown AI"))?;
                let v = read_value(&mut r, e)?;
                ais.push((e.ai.to_string(), v));
            }
        }
    }
    if r.bits[r.pos..].iter().any(|&b| b) {
        return Err(IdError::syntax(
            "compressed Digital Link has non-zero padding",
        ));
    }
    if ais.is_empty() {
        return Err(IdError::syntax("compressed Digital Link holds no AIs"));
    }
    Ok((ais, other))
}

/// Decompresses a compressed Digital Link URI into a validated element string.
pub fn decompress(uri: &str) -> Result<ElementString, IdError> {
    let sp = super::split_uri(uri)?;
    let seg = sp
        .path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .ok_or_else(|| IdError::syntax("URI has no compressed path segment"))?;
    let (ais, _other) = decompress_segment(seg)?;
    ElementString::from_ais(ais)
}

/// Decompresses a compressed Digital Link URI into the uncompressed URI on the same scheme
/// and host.
///
/// Non-AI query parameters of the input, and non-GS1 key-value pairs compressed into the
/// segment, become query parameters of the output.
pub fn decompress_to_uri(uri: &str) -> Result<String, IdError> {
    let sp = super::split_uri(uri)?;
    let seg = sp
        .path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .ok_or_else(|| IdError::syntax("URI has no compressed path segment"))?;
    let (ais, other) = decompress_segment(seg)?;
    let es = ElementString::from_ais(ais)?;
    let mut out = super::to_digital_link_with_stem(&es, &uri[..sp.stem_end])?;
    for (k, v) in &other {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        super::percent_encode(v, &mut out);
    }
    append_other_params(&mut out, sp.query);
    Ok(out)
}
