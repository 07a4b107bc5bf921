//! EPC pure identity URIs (`urn:epc:id:...`) and tag URIs (`urn:epc:tag:...`), GS1 EPC TDS 2.x.
//!
//! Serial components use the TDS URI escapes: `"` `%` `&` `/` `<` `>` `?` are written `%22` `%25`
//! `%26` `%2F` `%3C` `%3E` `%3F` (and `#` `/` as `%23` `%2F` in a CPI part reference). The value
//! held in an [`Identity`] is always unescaped; URIs are always written with upper-case escapes.

use super::binary::{EpcTag, Scheme};
use crate::identity::{is_cset39, is_cset82, Gid, Identity, Kind};
use crate::IdError;
use std::fmt::Write as _;

const ID_PREFIX: &str = "urn:epc:id:";
const TAG_PREFIX: &str = "urn:epc:tag:";

/// Appends `s` with TDS escapes for GS3A3 components.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' | '%' | '&' | '/' | '<' | '>' | '?' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            _ => out.push(c),
        }
    }
}

fn escape_cpi_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '#' | '/' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            _ => out.push(c),
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Undoes URI escapes. `literal` says which bytes may appear unescaped, `escaped` which may appear
/// as `%HH`.
fn unescape(
    s: &str,
    what: &str,
    literal: fn(u8) -> bool,
    escaped: fn(u8) -> bool,
) -> Result<String, IdError> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let v = match (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            ) {
                (Some(h), Some(l)) => h * 16 + l,
                _ => {
                    return Err(IdError::syntax(format!(
                        "EPC URI {what}: '%' must start a %HH escape"
                    )))
                }
            };
            if !escaped(v) {
                return Err(IdError::syntax(format!(
                    "EPC URI {what}: escape %{:02X} is not an allowed character",
                    v
                )));
            }
            out.push(char::from(v));
            i += 3;
        } else if literal(c) {
            out.push(char::from(c));
            i += 1;
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            return Err(IdError::syntax(format!(
                "EPC URI {what}: character {ch:?} is not allowed"
            )));
        }
    }
    Ok(out)
}

fn gs3a3_literal(b: u8) -> bool {
    is_cset82(b) && !matches!(b, b'"' | b'%' | b'&' | b'/' | b'<' | b'>' | b'?')
}
fn cpi_literal(b: u8) -> bool {
    is_cset39(b) && b != b'#' && b != b'/'
}

/// Unescapes a GS3A3 (set 82) component.
pub(crate) fn unescape_gs3a3(s: &str, what: &str) -> Result<String, IdError> {
    unescape(s, what, gs3a3_literal, is_cset82)
}

/// Writes the fields after `urn:epc:id:<kind>:` (shared by pure and tag URIs).
pub(crate) fn write_fields(out: &mut String, id: &Identity, gcp_len: usize) -> Result<(), IdError> {
    if let Identity::Gid(g) = id {
        let _ = write!(out, "{}.{}.{}", g.manager(), g.class(), g.serial());
        return Ok(());
    }
    let p = id.epc_parts(gcp_len)?;
    out.push_str(p.gcp);
    match p.kind {
        Kind::Giai => {
            out.push('.');
            escape_into(out, p.serial);
        }
        Kind::Sscc | Kind::Gsrn | Kind::Gsrnp | Kind::Pgln => {
            out.push('.');
            out.push_str(&p.reference);
        }
        Kind::Sgcn => {
            out.push('.');
            out.push_str(&p.reference);
            out.push('.');
            out.push_str(p.serial);
        }
        Kind::Cpi => {
            out.push('.');
            escape_cpi_into(out, &p.reference);
            out.push('.');
            out.push_str(p.serial);
        }
        _ => {
            out.push('.');
            out.push_str(&p.reference);
            out.push('.');
            escape_into(out, p.serial);
        }
    }
    Ok(())
}

/// The EPC pure identity URI of `id` with a company prefix of `gcp_len` digits.
pub fn format_pure(id: &Identity, gcp_len: usize) -> Result<String, IdError> {
    let mut s = String::with_capacity(64);
    s.push_str(ID_PREFIX);
    s.push_str(id.kind().name());
    s.push(':');
    write_fields(&mut s, id, gcp_len)?;
    Ok(s)
}

/// A parsed EPC pure identity URI: the identity and where its company prefix ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EpcUri {
    pub identity: Identity,
    /// Digits of GS1 Company Prefix (0 for GID).
    pub gcp_len: usize,
}

impl std::fmt::Display for EpcUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match format_pure(&self.identity, self.gcp_len) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(std::fmt::Error),
        }
    }
}

impl EpcUri {
    /// The URI string.
    pub fn to_uri(&self) -> String {
        format_pure(&self.identity, self.gcp_len).unwrap_or_default()
    }
}

fn decimal_no_leading_zeros(s: &str, what: &str) -> Result<u64, IdError> {
    if s.is_empty()
        || s.len() > 19
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(IdError::syntax(format!(
            "EPC gid: {what} must be a decimal number without leading zeros, found {s:?}"
        )));
    }
    s.parse()
        .map_err(|_| IdError::syntax(format!("EPC gid: {what} out of range")))
}

/// Parses the fields after `<kind>:`.
pub(crate) fn parse_fields(kind: Kind, rest: &str) -> Result<EpcUri, IdError> {
    let name = kind.name();
    let n = match kind {
        Kind::Sscc | Kind::Gsrn | Kind::Gsrnp | Kind::Pgln | Kind::Giai => 2,
        _ => 3,
    };
    let f: Vec<&str> = rest.splitn(n, '.').collect();
    if f.len() != n {
        return Err(IdError::syntax(format!(
            "EPC {name} URI: expected {n} dot-separated fields, found {rest:?}"
        )));
    }
    if kind == Kind::Gid {
        let g = Gid::new(
            decimal_no_leading_zeros(f[0], "manager number")?,
            decimal_no_leading_zeros(f[1], "object class")?,
            decimal_no_leading_zeros(f[2], "serial number")?,
        )?;
        return Ok(EpcUri {
            identity: Identity::Gid(g),
            gcp_len: 0,
        });
    }
    let gcp = f[0];
    let identity = match kind {
        Kind::Giai => {
            let r = unescape_gs3a3(f[1], "asset reference")?;
            Identity::from_epc_parts(kind, gcp, "", &r)?
        }
        Kind::Sscc | Kind::Gsrn | Kind::Gsrnp | Kind::Pgln => {
            Identity::from_epc_parts(kind, gcp, f[1], "")?
        }
        Kind::Sgcn => Identity::from_epc_parts(kind, gcp, f[1], f[2])?,
        Kind::Cpi => {
            let r = unescape(f[1], "part reference", cpi_literal, is_cset39)?;
            Identity::from_epc_parts(kind, gcp, &r, f[2])?
        }
        _ => {
            let s = unescape_gs3a3(f[2], "serial")?;
            Identity::from_epc_parts(kind, gcp, f[1], &s)?
        }
    };
    Ok(EpcUri {
        identity,
        gcp_len: gcp.len(),
    })
}

/// Parses an EPC pure identity URI such as `urn:epc:id:sgtin:0614141.812345.6789`.
pub fn parse_epc_uri(s: &str) -> Result<EpcUri, IdError> {
    let rest = s
        .strip_prefix(ID_PREFIX)
        .ok_or_else(|| IdError::syntax("EPC URI must start with urn:epc:id:"))?;
    let (kind, fields) = rest
        .split_once(':')
        .ok_or_else(|| IdError::syntax("EPC URI: missing ':' after the scheme"))?;
    let kind = Kind::from_name(kind)
        .ok_or_else(|| IdError::syntax(format!("EPC URI: unknown scheme {kind:?}")))?;
    parse_fields(kind, fields)
}

/// Parses an EPC tag URI such as `urn:epc:tag:sgtin-96:3.0614141.812345.6789`, checking that the
/// identity fits the scheme.
pub fn parse_tag_uri(s: &str) -> Result<EpcTag, IdError> {
    let rest = s
        .strip_prefix(TAG_PREFIX)
        .ok_or_else(|| IdError::syntax("EPC tag URI must start with urn:epc:tag:"))?;
    let (name, fields) = rest
        .split_once(':')
        .ok_or_else(|| IdError::syntax("EPC tag URI: missing ':' after the scheme"))?;
    let scheme = Scheme::from_name(name)
        .ok_or_else(|| IdError::syntax(format!("EPC tag URI: unknown scheme {name:?}")))?;
    let (filter, fields) = if scheme.has_filter() {
        let (f, r) = fields
            .split_once('.')
            .ok_or_else(|| IdError::syntax("EPC tag URI: missing filter value"))?;
        let filter = match f.as_bytes() {
            [d @ b'0'..=b'7'] => d - b'0',
            _ => {
                return Err(IdError::syntax(format!(
                    "EPC tag URI: filter must be a digit 0 to 7, found {f:?}"
                )))
            }
        };
        (filter, r)
    } else {
        (0, fields)
    };
    let uri = parse_fields(scheme.kind(), fields)?;
    EpcTag::new(scheme, filter, uri.identity, uri.gcp_len)
}

/// The tag URI of `tag` (assumed valid).
pub(crate) fn format_tag(tag: &EpcTag) -> String {
    let mut s = String::with_capacity(72);
    s.push_str(TAG_PREFIX);
    s.push_str(tag.scheme().name());
    s.push(':');
    if tag.scheme().has_filter() {
        s.push(char::from(b'0' + tag.filter()));
        s.push('.');
    }
    let _ = write_fields(&mut s, tag.identity(), tag.gcp_len());
    s
}
