//! GS1 element strings: Application Identifiers with their values, as bracketed text, raw
//! element strings with FNC1 (ASCII GS) separators, or barcode scan data with a symbology
//! identifier.

use crate::ai::{self, AiEntry, Charset};
use crate::check::verify_gs1_check_digit;
use crate::lint;
use crate::IdError;

/// ASCII GS, which stands for FNC1 in scan data.
pub const GS: char = '\u{1d}';

/// Symbology identifiers of carriers that hold GS1 AI element strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbology {
    /// `]C1` GS1-128.
    Gs1_128,
    /// `]e0` GS1 DataBar and GS1 Composite.
    DataBar,
    /// `]d2` GS1 DataMatrix.
    DataMatrix,
    /// `]Q3` GS1 QR Code.
    Qr,
    /// `]J1` GS1 DotCode.
    DotCode,
}

impl Symbology {
    pub const ALL: [Symbology; 5] = [
        Symbology::Gs1_128,
        Symbology::DataBar,
        Symbology::DataMatrix,
        Symbology::Qr,
        Symbology::DotCode,
    ];
    /// The three-character symbology identifier, e.g. `]d2`.
    pub fn id(self) -> &'static str {
        match self {
            Symbology::Gs1_128 => "]C1",
            Symbology::DataBar => "]e0",
            Symbology::DataMatrix => "]d2",
            Symbology::Qr => "]Q3",
            Symbology::DotCode => "]J1",
        }
    }
    /// The symbology for an identifier such as `]d2`, if it carries GS1 AI data.
    pub fn from_id(id: &str) -> Option<Symbology> {
        Symbology::ALL.into_iter().find(|s| s.id() == id)
    }
}

/// A validated GS1 element string: AIs and values in their original order. Serializes as a
/// list of `[ai, value]` pairs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ElementString {
    ais: Vec<(String, String)>,
}

fn in_cset82(c: u8) -> bool {
    matches!(c, b'!' | b'"' | b'%'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}
fn in_cset39(c: u8) -> bool {
    matches!(c, b'#' | b'-' | b'/' | b'0'..=b'9' | b'A'..=b'Z')
}
fn in_cset64(c: u8) -> bool {
    matches!(c, b'-' | b'0'..=b'9' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

fn check_charset(ai: &str, cs: Charset, data: &[u8], offset: usize) -> Result<(), IdError> {
    let (ok, name): (fn(u8) -> bool, &str) = match cs {
        Charset::N => (|c: u8| c.is_ascii_digit(), "a digit"),
        Charset::X => (in_cset82, "a CSET 82 character"),
        Charset::Y => (in_cset39, "a CSET 39 character"),
        Charset::Z => (in_cset64, "a CSET 64 (base64url) character"),
    };
    let mut end = data.len();
    if cs == Charset::Z {
        // base64url padding: up to two '=' at the very end
        let pad = data.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return Err(IdError::ai(ai, "too much base64 padding"));
        }
        end -= pad;
    }
    if let Some(p) = data[..end].iter().position(|&c| !ok(c)) {
        let ch = data[p] as char;
        return Err(IdError::ai(
            ai,
            format!(
                "invalid character {ch:?} at position {}: expected {name}",
                offset + p + 1
            ),
        ));
    }
    Ok(())
}

/// Validates one AI value against its dictionary entry: length, components, character sets
/// and check routines.
pub fn validate_value(entry: &AiEntry, value: &str) -> Result<(), IdError> {
    let ai = entry.ai;
    let b = value.as_bytes();
    if b.is_empty() {
        return Err(IdError::ai(ai, "value is empty"));
    }
    if b.len() < entry.min_len() {
        return Err(IdError::ai(
            ai,
            format!(
                "value is too short: {} characters, at least {} expected",
                b.len(),
                entry.min_len()
            ),
        ));
    }
    if b.len() > entry.max_len() {
        return Err(IdError::ai(
            ai,
            format!(
                "value is too long: {} characters, at most {} allowed",
                b.len(),
                entry.max_len()
            ),
        ));
    }
    // Fast path for the commonest case: one numeric component with a check digit.
    if let [c] = entry.components {
        if c.charset == Charset::N && c.linters.first() == Some(&crate::ai::Linter::Csum) {
            if let Some(p) = b.iter().position(|c| !c.is_ascii_digit()) {
                return Err(IdError::ai(
                    ai,
                    format!(
                        "invalid character {:?} at position {}: expected a digit",
                        b[p] as char,
                        p + 1
                    ),
                ));
            }
            verify_gs1_check_digit(b).map_err(|(want, found)| {
                IdError::ai(
                    ai,
                    format!(
                        "check digit should be {}, found {}",
                        want as char, found as char
                    ),
                )
            })?;
            for &l in &c.linters[1..] {
                lint::lint(l, value).map_err(|m| IdError::ai(ai, m))?;
            }
            return Ok(());
        }
    }
    let mut pos = 0usize;
    for c in entry.components {
        let rest = b.len() - pos;
        if rest == 0 {
            if c.optional {
                break;
            }
            return Err(IdError::ai(ai, "value is too short"));
        }
        let n = if c.is_fixed() {
            c.max as usize
        } else {
            rest.min(c.max as usize)
        };
        if n > rest {
            return Err(IdError::ai(ai, "value is too short"));
        }
        let part = &b[pos..pos + n];
        check_charset(ai, c.charset, part, pos)?;
        // all charsets are ASCII, so this slice is on char boundaries
        let text = value.get(pos..pos + n).unwrap_or("");
        for &l in c.linters {
            lint::lint(l, text).map_err(|m| IdError::ai(ai, m))?;
        }
        pos += n;
    }
    if pos < b.len() {
        return Err(IdError::ai(ai, "value is too long"));
    }
    Ok(())
}

fn any_matches(ais: &[(String, String)], pattern: &str, except: Option<&str>) -> Option<usize> {
    ais.iter()
        .position(|(a, _)| Some(a.as_str()) != except && ai::matches_pattern(pattern, a))
}

/// Checks the whole message: every AI known and valid, no conflicting duplicates, mandatory
/// associations (`req`) and invalid pairings (`ex`).
pub fn validate_ais(ais: &[(String, String)]) -> Result<(), IdError> {
    if ais.is_empty() {
        return Err(IdError::syntax("no AIs"));
    }
    let mut entries: Vec<&AiEntry> = Vec::with_capacity(ais.len());
    for (a, v) in ais {
        let e = ai::lookup(a).ok_or_else(|| IdError::syntax(format!("unrecognised AI ({a})")))?;
        validate_value(e, v)?;
        entries.push(e);
    }
    for (i, (a, v)) in ais.iter().enumerate() {
        for (a2, v2) in &ais[..i] {
            if a == a2 && v != v2 {
                return Err(IdError::ai(
                    a.clone(),
                    "appears more than once with different values",
                ));
            }
        }
    }
    for (e, (a, _)) in entries.iter().zip(ais) {
        for pat in e.ex {
            if let Some(j) = any_matches(ais, pat, Some(a)) {
                return Err(IdError::ai(
                    a.clone(),
                    format!("must not appear together with AI ({})", ais[j].0),
                ));
            }
        }
        for alts in e.req {
            let ok = alts
                .iter()
                .any(|group| group.iter().all(|p| any_matches(ais, p, None).is_some()));
            if !ok {
                let want: Vec<String> = alts.iter().map(|g| g.join("+")).collect();
                return Err(IdError::ai(
                    a.clone(),
                    format!("requires one of these AIs: {}", want.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

/// Splits unbracketed AI data on `sep` (FNC1) into AIs and values.
fn split_element_string(data: &str, sep: u8) -> Result<Vec<(String, String)>, IdError> {
    let b = data.as_bytes();
    let mut pos = 0usize;
    let mut out = Vec::with_capacity(4);
    while pos < b.len() {
        let rest = data.get(pos..).unwrap_or("");
        let entry = ai::lookup_prefix(rest).ok_or_else(|| {
            let shown: String = rest.chars().take(4).collect();
            IdError::syntax(format!(
                "unrecognised AI at position {}: {shown:?}",
                pos + 1
            ))
        })?;
        pos += entry.ai.len();
        let start = pos;
        let end = if !entry.fnc1 {
            // predefined length: no separator needed
            let n = entry.max_len();
            let end = start + n;
            if end > b.len() || b[start..end].contains(&sep) {
                return Err(IdError::ai(
                    entry.ai,
                    format!("value is too short: {n} characters expected"),
                ));
            }
            end
        } else {
            b[start..]
                .iter()
                .position(|&c| c == sep)
                .map_or(b.len(), |p| start + p)
        };
        let value = data
            .get(start..end)
            .ok_or_else(|| IdError::syntax("invalid UTF-8 in data"))?;
        if value.is_empty() {
            return Err(IdError::ai(entry.ai, "value is empty"));
        }
        out.push((entry.ai.to_string(), value.to_string()));
        pos = end;
        if b.get(pos) == Some(&sep) {
            pos += 1;
            if pos == b.len() {
                return Err(IdError::syntax("data ends with an FNC1 separator"));
            }
        }
    }
    if out.is_empty() {
        return Err(IdError::syntax("no AI data"));
    }
    Ok(out)
}

impl ElementString {
    /// The element string with no AIs: what a non-GS1 identity (an EPC GID) has.
    pub fn empty() -> Self {
        ElementString { ais: Vec::new() }
    }

    /// Builds a validated element string from AIs and values, in order.
    pub fn from_ais(ais: Vec<(String, String)>) -> Result<Self, IdError> {
        validate_ais(&ais)?;
        Ok(ElementString { ais })
    }

    /// Parses bracketed text such as `(01)09521234543213(21)ABC`. A literal `(` inside a value is
    /// written `\(`.
    pub fn parse_bracketed(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        if b.first() != Some(&b'(') {
            return Err(IdError::syntax(
                "bracketed data must start with '(' and an AI",
            ));
        }
        let mut ais = Vec::new();
        let mut pos = 0usize;
        while pos < b.len() {
            // b[pos] == '('
            let close = b[pos..]
                .iter()
                .position(|&c| c == b')')
                .map(|p| pos + p)
                .ok_or_else(|| IdError::syntax("missing ')' after AI"))?;
            let a = &s[pos + 1..close];
            if a.is_empty() || a.len() > 4 || !a.bytes().all(|c| c.is_ascii_digit()) {
                return Err(IdError::syntax(format!("invalid AI ({a})")));
            }
            let mut value = String::new();
            let mut i = close + 1;
            while i < b.len() && b[i] != b'(' {
                if b[i] == b'\\' && b.get(i + 1) == Some(&b'(') {
                    value.push('(');
                    i += 2;
                } else {
                    let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
                    value.push(ch);
                    i += ch.len_utf8();
                }
            }
            ais.push((a.to_string(), value));
            pos = i;
        }
        Self::from_ais(ais)
    }

    /// Parses barcode scan data: a symbology identifier (`]C1`, `]e0`, `]d2`, `]Q3`, `]J1`)
    /// followed by AI data with ASCII GS as FNC1; `]E0` (EAN-13) and `]E4` (EAN-8) become AI (01);
    /// `]Q1`, `]d1` or `]z0` followed by a GS1 Digital Link URI is parsed as that URI; or
    /// unbracketed data starting with `^`, where `^` stands for FNC1. Any other symbology
    /// identifier is an error that names it.
    pub fn parse_scan_data(s: &str) -> Result<Self, IdError> {
        if let Some(rest) = s.strip_prefix('^') {
            return Self::from_ais(split_element_string(rest, b'^')?);
        }
        if !s.starts_with(']') {
            return Err(IdError::syntax(
                "scan data must start with a symbology identifier (]C1, ]e0, ]d2, ]Q3, ]J1) or ^ for FNC1",
            ));
        }
        let id = s
            .get(..3)
            .ok_or_else(|| IdError::syntax("truncated symbology identifier"))?;
        let data = &s[3..];
        match id {
            "]E0" | "]E4" => {
                let want = if id == "]E0" { 13 } else { 8 };
                if data.len() != want || !data.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(IdError::syntax(format!("{id} data must be {want} digits")));
                }
                let gtin = format!("{:0>14}", data);
                return Self::from_ais(vec![("01".to_string(), gtin)]);
            }
            _ => {}
        }
        // A plain QR Code / Data Matrix / Aztec holding a GS1 Digital Link URI.
        if matches!(id, "]Q1" | "]d1" | "]z0") {
            let lower = data
                .get(..8)
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            if lower.starts_with("https://") || lower.starts_with("http://") {
                return crate::digital_link::parse(data);
            }
        }
        if Symbology::from_id(id).is_none() {
            return Err(IdError::syntax(format!(
                "symbology identifier {id} does not carry GS1 AI data"
            )));
        }
        // Some scanners transmit the leading FNC1 as GS: tolerate it.
        let data = data.strip_prefix(GS).unwrap_or(data);
        Self::from_ais(split_element_string(data, GS as u8)?)
    }

    /// AIs and values, in order.
    pub fn ais(&self) -> &[(String, String)] {
        &self.ais
    }

    /// The value of the first occurrence of `ai`.
    pub fn get(&self, ai: &str) -> Option<&str> {
        self.ais
            .iter()
            .find(|(a, _)| a == ai)
            .map(|(_, v)| v.as_str())
    }

    /// Bracketed form, e.g. `(01)09521234543213(21)ABC`.
    pub fn to_bracketed(&self) -> String {
        let mut s = String::new();
        for (a, v) in &self.ais {
            s.push('(');
            s.push_str(a);
            s.push(')');
            for ch in v.chars() {
                if ch == '(' {
                    s.push('\\');
                }
                s.push(ch);
            }
        }
        s
    }

    /// Element string with GS (FNC1) separators only where needed: after a variable-length
    /// (not predefined-length) AI that is not the last.
    pub fn to_gs(&self) -> String {
        self.join_with(GS)
    }

    fn join_with(&self, sep: char) -> String {
        let mut s = String::new();
        let n = self.ais.len();
        for (i, (a, v)) in self.ais.iter().enumerate() {
            s.push_str(a);
            s.push_str(v);
            if i + 1 < n && ai::lookup(a).is_none_or(|e| e.fnc1) {
                s.push(sep);
            }
        }
        s
    }

    /// Unbracketed form with `^` standing for FNC1, e.g. `^010952123454321310ABC^21XYZ`.
    pub fn to_caret(&self) -> String {
        let mut s = String::from("^");
        s.push_str(&self.join_with('^'));
        s
    }

    /// Scan data as a reader would transmit it, e.g. `]d2010952...`.
    pub fn to_scan_data(&self, symbology: Symbology) -> String {
        let mut s = String::from(symbology.id());
        s.push_str(&self.to_gs());
        s
    }

    /// Human-readable interpretation lines, e.g. `(01) 09521234543213`.
    pub fn hri(&self) -> Vec<String> {
        self.ais.iter().map(|(a, v)| format!("({a}) {v}")).collect()
    }
}

impl std::fmt::Display for ElementString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_bracketed())
    }
}

impl std::str::FromStr for ElementString {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.starts_with('(') {
            Self::parse_bracketed(s)
        } else {
            Self::parse_scan_data(s)
        }
    }
}
