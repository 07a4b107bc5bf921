//! GS1 Digital Link URIs: parsing (any domain, any path prefix), canonical and custom-stem
//! writing, and the compressed form (see [`compress`]).

pub mod compress;

use crate::ai::{self, AiEntry};
use crate::element::ElementString;
use crate::IdError;

/// The canonical GS1 Digital Link domain.
pub const CANONICAL_STEM: &str = "https://id.gs1.org";

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn is_uri_char(c: u8) -> bool {
    is_unreserved(c)
        || matches!(
            c,
            b':' | b'/'
                | b'?'
                | b'#'
                | b'['
                | b']'
                | b'@'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
        )
}

/// Percent-encodes per the Digital Link rules: unreserved characters kept, everything else
/// `%XX` with upper-case hex.
pub fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in s.as_bytes() {
        if is_unreserved(c) {
            out.push(c as char);
        } else {
            out.push('%');
            out.push(HEX[(c >> 4) as usize] as char);
            out.push(HEX[(c & 15) as usize] as char);
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `%XX` escapes; fails on malformed escapes or non-UTF-8 results.
pub fn percent_decode(s: &str) -> Result<String, IdError> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_val);
            let lo = b.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err(IdError::syntax("invalid percent-encoding in URI")),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| IdError::syntax("percent-encoding is not valid UTF-8"))
}

/// The parts of a Digital Link URI after the scheme check.
pub(crate) struct Split<'a> {
    pub(crate) stem_end: usize,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
}

pub(crate) fn split_uri(uri: &str) -> Result<Split<'_>, IdError> {
    if let Some(p) = uri.bytes().position(|c| !is_uri_char(c)) {
        return Err(IdError::syntax(format!(
            "URI contains an illegal character at position {}",
            p + 1
        )));
    }
    let lower_starts = |p: &str| {
        uri.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    let after_scheme = if lower_starts("https://") {
        8
    } else if lower_starts("http://") {
        7
    } else {
        return Err(IdError::syntax(
            "a Digital Link URI must start with http:// or https://",
        ));
    };
    let rest = &uri[after_scheme..];
    let rest = rest.split('#').next().unwrap_or("");
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    if host_end == 0 {
        return Err(IdError::syntax("URI has no host"));
    }
    let (path, query) = match rest[host_end..].split_once('?') {
        Some((p, q)) => (p, q),
        None => (&rest[host_end..], ""),
    };
    Ok(Split {
        stem_end: after_scheme + host_end,
        path,
        query,
    })
}

/// GS1 Digital Link short names ("convenience alphas", GS1 DL URI Syntax 1.1) accepted in
/// place of the numeric AIs of primary keys and key qualifiers. Output always uses AIs.
pub const SHORT_NAMES: &[(&str, &str)] = &[
    ("cpid", "8010"),
    ("cpsn", "8011"),
    ("cpv", "22"),
    ("gcn", "255"),
    ("gdti", "253"),
    ("giai", "8004"),
    ("ginc", "401"),
    ("gln", "414"),
    ("glnx", "254"),
    ("gmn", "8013"),
    ("grai", "8003"),
    ("gsin", "402"),
    ("gsrn", "8018"),
    ("gsrnp", "8017"),
    ("gtin", "01"),
    ("itip", "8006"),
    ("lot", "10"),
    ("party", "417"),
    ("payTo", "415"),
    ("ser", "21"),
    ("srin", "8019"),
    ("sscc", "00"),
];

/// The AI a path segment or query key names: its digits, or a short name.
fn ai_of(name: &str) -> Option<&'static AiEntry> {
    if name.bytes().all(|c| c.is_ascii_digit()) {
        return ai::lookup(name);
    }
    SHORT_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, a)| ai::lookup(a))
}

/// Whether `quals` (in path order) follow one of the key's ordered qualifier sequences.
fn valid_qualifiers(key: &AiEntry, quals: &[&str]) -> bool {
    let Some(seqs) = key.dl_pkey else {
        return false;
    };
    if quals.is_empty() {
        return true;
    }
    seqs.iter().any(|seq| {
        let mut it = seq.iter();
        quals.iter().all(|q| it.any(|s| s == q))
    })
}

/// Parsed path information: where the key starts, and the AIs (decoded).
fn parse_path(path: &str) -> Result<Vec<(String, String)>, IdError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // Walk (AI, value) pairs from the right while the AI is known; the leftmost primary key
    // among them starts the GS1 path; anything before it is the URI's own path prefix.
    let mut key_at = None;
    let mut j = segs.len();
    while j >= 2 {
        let Some(e) = ai_of(segs[j - 2]) else {
            break;
        };
        if e.dl_pkey.is_some() {
            key_at = Some(j - 2);
        }
        j -= 2;
    }
    let Some(k) = key_at else {
        return Err(IdError::syntax(
            "no GS1 Digital Link primary key found in the URI path",
        ));
    };
    let key = ai_of(segs[k]).ok_or_else(|| IdError::syntax("no primary key"))?;
    let quals: Vec<&str> = segs[k + 2..]
        .iter()
        .step_by(2)
        .map(|q| ai_of(q).map_or(*q, |e| e.ai))
        .collect();
    if !valid_qualifiers(key, &quals) {
        return Err(IdError::syntax(format!(
            "the AIs in the path ({}) are not a valid key-qualifier sequence for key AI ({})",
            quals.join(", "),
            key.ai
        )));
    }
    let mut out = Vec::with_capacity(1 + quals.len());
    for pair in segs[k..].chunks(2) {
        if let [a, v] = pair {
            let a = ai_of(a).map_or(*a, |e| e.ai);
            out.push((a.to_string(), percent_decode(v)?));
        }
    }
    Ok(out)
}

fn parse_query(query: &str, out: &mut Vec<(String, String)>) -> Result<(), IdError> {
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = param.split_once('=').unwrap_or((param, ""));
        let numeric = !k.is_empty() && k.bytes().all(|c| c.is_ascii_digit());
        let e = match ai_of(k) {
            Some(e) => e,
            None if numeric => {
                return Err(IdError::syntax(format!(
                    "unrecognised AI ({k}) in the query string"
                )))
            }
            None => continue, // not an AI: linkType, context, other application parameters
        };
        let k = e.ai;
        if !e.dl_data_attr {
            return Err(IdError::ai(
                k,
                "is not allowed as a Digital Link data attribute",
            ));
        }
        if v.is_empty() {
            return Err(IdError::ai(k, "value is empty"));
        }
        out.push((k.to_string(), percent_decode(v)?));
    }
    Ok(())
}

/// Parses a GS1 Digital Link URI into a validated element string: path AIs first, then
/// query-string data attributes in the order given. Non-AI query parameters (`linkType`, ...)
/// are ignored. A compressed Digital Link (one base64url path segment) is decompressed.
pub fn parse(uri: &str) -> Result<ElementString, IdError> {
    let sp = split_uri(uri)?;
    let mut ais = match parse_path(sp.path) {
        Ok(ais) => ais,
        Err(e) => {
            // A compressed Digital Link: one base64url segment in place of the AI path.
            let last = sp.path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
            match compress::decompress_segment(last) {
                Ok((ais, _)) if last.len() >= 4 => ais,
                _ => return Err(e),
            }
        }
    };
    parse_query(sp.query, &mut ais)?;
    ElementString::from_ais(ais)
}

/// The scheme and host of a URI (e.g. `https://example.com`), as given.
pub fn stem_of(uri: &str) -> Result<&str, IdError> {
    let sp = split_uri(uri)?;
    Ok(&uri[..sp.stem_end])
}

/// The path and query of a Digital Link for `es`: primary key, key qualifiers in their defined
/// order, then the other AIs as query parameters in element-string order.
fn dl_path(es: &ElementString) -> Result<String, IdError> {
    let ais = es.ais();
    let (ki, key) = ais
        .iter()
        .enumerate()
        .find_map(|(i, (a, _))| {
            ai::lookup(a)
                .filter(|e| e.dl_pkey.is_some())
                .map(|e| (i, e))
        })
        .ok_or_else(|| IdError::syntax("the data holds no GS1 Digital Link primary key"))?;
    let seqs = key.dl_pkey.unwrap_or(&[]);
    let present = |q: &str| ais.iter().any(|(a, _)| a == q);
    // The qualifier sequence that covers most of the data (first on ties).
    let mut best_seq: &[&str] = &[];
    let mut best_n = 0;
    for seq in seqs {
        let n = seq.iter().filter(|q| present(q)).count();
        if n > best_n {
            best_n = n;
            best_seq = seq;
        }
    }
    let mut s = String::new();
    let mut used = vec![false; ais.len()];
    used[ki] = true;
    s.push('/');
    s.push_str(key.ai);
    s.push('/');
    percent_encode(&ais[ki].1, &mut s);
    for q in best_seq {
        if let Some(i) = ais.iter().position(|(a, _)| a == q) {
            used[i] = true;
            s.push('/');
            s.push_str(q);
            s.push('/');
            percent_encode(&ais[i].1, &mut s);
        }
    }
    let mut first = true;
    for (i, (a, v)) in ais.iter().enumerate() {
        if used[i] {
            continue;
        }
        // a duplicate of an AI already written
        if ais[..i].iter().any(|(a2, _)| a2 == a) {
            continue;
        }
        let e = ai::lookup(a).ok_or_else(|| IdError::syntax(format!("unrecognised AI ({a})")))?;
        if !e.dl_data_attr {
            return Err(IdError::ai(
                a.clone(),
                format!(
                    "cannot be expressed in a Digital Link with key AI ({}): not a qualifier of the key and not a data attribute",
                    key.ai
                ),
            ));
        }
        s.push(if first { '?' } else { '&' });
        first = false;
        s.push_str(a);
        s.push('=');
        percent_encode(v, &mut s);
    }
    Ok(s)
}

/// The canonical Digital Link URI on `https://id.gs1.org`.
pub fn to_digital_link(es: &ElementString) -> Result<String, IdError> {
    to_digital_link_with_stem(es, CANONICAL_STEM)
}

/// A Digital Link URI on a custom stem such as `https://example.com/x`.
pub fn to_digital_link_with_stem(es: &ElementString, stem: &str) -> Result<String, IdError> {
    let path = dl_path(es)?;
    let mut s = String::with_capacity(stem.len() + path.len());
    s.push_str(stem.trim_end_matches('/'));
    s.push_str(&path);
    Ok(s)
}

impl ElementString {
    /// Parses an (uncompressed) GS1 Digital Link URI.
    pub fn parse_digital_link(uri: &str) -> Result<Self, IdError> {
        parse(uri)
    }
    /// The canonical Digital Link URI on `https://id.gs1.org`.
    pub fn to_digital_link(&self) -> Result<String, IdError> {
        to_digital_link(self)
    }
    /// A Digital Link URI on a custom stem such as `https://example.com/x`.
    pub fn to_digital_link_with_stem(&self, stem: &str) -> Result<String, IdError> {
        to_digital_link_with_stem(self, stem)
    }
}
