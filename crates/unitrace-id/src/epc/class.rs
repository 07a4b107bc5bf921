//! EPC class URIs for lots (`urn:epc:class:lgtin:...`) and EPC identity patterns
//! (`urn:epc:idpat:...`), as used in EPCIS quantity lists and queries.

use super::uri::{escape_into, parse_fields, unescape_gs3a3, write_fields, EpcUri};
use crate::identity::{is_cset82, Gtin, Identity, Kind};
use crate::IdError;

const CLASS_PREFIX: &str = "urn:epc:class:lgtin:";
const PAT_PREFIX: &str = "urn:epc:idpat:";

/// A GTIN + batch/lot (LGTIN), AIs (01) + (10).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lgtin {
    gtin: Gtin,
    lot: String,
}

impl Lgtin {
    /// Validates the lot: 1 to 20 characters of GS1 set 82.
    pub fn new(gtin: Gtin, lot: &str) -> Result<Self, IdError> {
        if lot.is_empty() || lot.len() > 20 || !lot.bytes().all(is_cset82) {
            return Err(IdError::ai(
                "10",
                "batch/lot must be 1 to 20 characters of GS1 character set 82",
            ));
        }
        Ok(Lgtin {
            gtin,
            lot: lot.to_string(),
        })
    }
    pub fn gtin(&self) -> &Gtin {
        &self.gtin
    }
    pub fn lot(&self) -> &str {
        &self.lot
    }
    /// AIs (01) and (10).
    pub fn to_ais(&self) -> Vec<(String, String)> {
        vec![
            ("01".to_string(), self.gtin.as_str().to_string()),
            ("10".to_string(), self.lot.clone()),
        ]
    }
    /// The LGTIN in these AI pairs, `None` when there is no (01) + (10).
    pub fn from_ais(pairs: &[(String, String)]) -> Result<Option<Lgtin>, IdError> {
        let get = |ai: &str| pairs.iter().find(|(a, _)| a == ai).map(|(_, v)| v.as_str());
        match (get("01"), get("10")) {
            (Some(g), Some(l)) => Ok(Some(Lgtin::new(Gtin::new(g)?, l)?)),
            _ => Ok(None),
        }
    }
    /// `urn:epc:class:lgtin:CompanyPrefix.ItemRefAndIndicator.Lot`.
    pub fn to_class_uri(&self, gcp_len: usize) -> Result<String, IdError> {
        if !(6..=12).contains(&gcp_len) {
            return Err(IdError::syntax(format!(
                "GS1 Company Prefix length {gcp_len}: EPC needs 6 to 12 digits"
            )));
        }
        let g = self.gtin.as_str();
        let mut s = String::with_capacity(64);
        s.push_str(CLASS_PREFIX);
        s.push_str(&g[1..1 + gcp_len]);
        s.push('.');
        s.push_str(&g[..1]);
        s.push_str(&g[1 + gcp_len..13]);
        s.push('.');
        escape_into(&mut s, &self.lot);
        Ok(s)
    }
    /// Parses a class URI; returns the LGTIN and its company prefix length.
    pub fn parse_class_uri(s: &str) -> Result<(Lgtin, usize), IdError> {
        let rest = s
            .strip_prefix(CLASS_PREFIX)
            .ok_or_else(|| IdError::syntax("EPC class URI must start with urn:epc:class:lgtin:"))?;
        let lot_start = rest
            .match_indices('.')
            .nth(1)
            .map(|(i, _)| i)
            .ok_or_else(|| IdError::syntax("EPC class URI: expected 3 dot-separated fields"))?;
        let lot = unescape_gs3a3(&rest[lot_start + 1..], "lot")?;
        // Reuse the SGTIN rules for the GTIN part, with the lot as a stand-in serial when it fits.
        let EpcUri { identity, gcp_len } =
            parse_fields(Kind::Sgtin, &format!("{}.1", &rest[..lot_start]))?;
        let Identity::Sgtin { gtin, .. } = identity else {
            return Err(IdError::syntax("EPC class URI: not a GTIN"));
        };
        Ok((Lgtin::new(gtin, &lot)?, gcp_len))
    }
}

/// An EPC identity pattern, `urn:epc:idpat:<kind>:` with trailing fields replaced by `*`
/// (e.g. `urn:epc:idpat:sgtin:0614141.812345.*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EpcPattern {
    kind: Kind,
    /// Fields before the first `*`, in canonical (escaped) form.
    fixed: Vec<String>,
    fields: usize,
}

fn field_count(kind: Kind) -> usize {
    match kind {
        Kind::Sscc | Kind::Gsrn | Kind::Gsrnp | Kind::Pgln | Kind::Giai => 2,
        _ => 3,
    }
}

impl EpcPattern {
    /// Parses a pattern. Fields after the first `*` must all be `*`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let rest = s
            .strip_prefix(PAT_PREFIX)
            .ok_or_else(|| IdError::syntax("EPC pattern must start with urn:epc:idpat:"))?;
        let (name, body) = rest
            .split_once(':')
            .ok_or_else(|| IdError::syntax("EPC pattern: missing ':' after the scheme"))?;
        let kind = Kind::from_name(name)
            .ok_or_else(|| IdError::syntax(format!("EPC pattern: unknown scheme {name:?}")))?;
        let n = field_count(kind);
        let parts: Vec<&str> = body.splitn(n, '.').collect();
        if parts.len() != n {
            return Err(IdError::syntax(format!(
                "EPC pattern: expected {n} dot-separated fields"
            )));
        }
        let stars = parts.iter().position(|p| *p == "*").unwrap_or(n);
        if parts[stars..].iter().any(|p| *p != "*") {
            return Err(IdError::syntax(
                "EPC pattern: only trailing fields may be '*'",
            ));
        }
        if stars == n {
            // No wildcard: must be a valid pure URI; keep its canonical form.
            let u = parse_fields(kind, body)?;
            let mut f = String::new();
            write_fields(&mut f, &u.identity, u.gcp_len)?;
            let fixed = f.splitn(n, '.').map(str::to_string).collect();
            return Ok(EpcPattern {
                kind,
                fixed,
                fields: n,
            });
        }
        // Fixed fields before a wildcard: the company prefix (or GID manager number), then the
        // numeric reference whose length completes the key.
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let bad = || IdError::syntax(format!("EPC pattern: bad fields in {body:?}"));
        if let Some(first) = parts[..stars].first() {
            let ok = if kind == Kind::Gid {
                digits(first) && (first.len() == 1 || !first.starts_with('0'))
            } else {
                digits(first) && (6..=12).contains(&first.len())
            };
            if !ok {
                return Err(bad());
            }
        }
        if let Some(second) = parts[..stars].get(1) {
            let total = match kind {
                Kind::Sgtin => Some(13),
                Kind::Sgln | Kind::Grai | Kind::Gdti | Kind::Sgcn => Some(12),
                _ => None,
            };
            let ok = match (kind, total) {
                (Kind::Gid, _) => digits(second) && (second.len() == 1 || !second.starts_with('0')),
                (_, Some(t)) => digits(second) && parts[0].len() + second.len() == t,
                // CPI part reference: compared in its escaped canonical form.
                _ => second.bytes().all(|b| {
                    b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'-' || b == b'%'
                }),
            };
            if !ok || second.is_empty() {
                return Err(bad());
            }
        }
        Ok(EpcPattern {
            kind,
            fixed: parts[..stars].iter().map(|p| p.to_string()).collect(),
            fields: n,
        })
    }

    /// Whether the pure identity matches the pattern.
    pub fn matches(&self, uri: &EpcUri) -> bool {
        if uri.identity.kind() != self.kind {
            return false;
        }
        let mut f = String::new();
        if write_fields(&mut f, &uri.identity, uri.gcp_len).is_err() {
            return false;
        }
        f.splitn(self.fields, '.')
            .zip(&self.fixed)
            .all(|(a, b)| a == b)
    }
}

impl std::fmt::Display for EpcPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PAT_PREFIX}{}:", self.kind.name())?;
        for i in 0..self.fields {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(self.fixed.get(i).map_or("*", String::as_str))?;
        }
        Ok(())
    }
}
