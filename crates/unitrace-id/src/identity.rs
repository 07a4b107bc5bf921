//! One typed identity per unit.
//!
//! [`Identity`] is the serialised identity of one physical unit (SGTIN = GTIN + serial, SSCC, SGLN,
//! GRAI, GIAI, GSRN, GSRNP, GDTI, SGCN, CPI, GID). Its parts are newtypes that validate on
//! construction, so an `Identity` value is always valid and has exactly one canonical form.
//!
//! Conversions: Application Identifier pairs ([`Identity::from_ais`], [`Identity::to_ais`]), the
//! bracketed element string, EPC pure identity URIs ([`Identity::to_epc_uri`],
//! [`crate::epc::parse_epc_uri`]) and EPC tag URIs / binary ([`crate::epc`]).
//!
//! # Canonical key
//!
//! [`Identity::canonical_key`] is the storage key: the bracketed GS1 element string of the
//! identity's AIs in fixed order (`(01)09521234543213(21)ABC`), and the EPC pure URI for GID (which
//! has no AIs). It is chosen over the EPC pure URI because it does not depend on the GS1 Company
//! Prefix length: the same unit gets the same key whether or not its GCP is known, and a GCP table
//! update can never change a stored key. `(` inside a value is written `\(` (as the GS1 Barcode
//! Syntax Engine does) so the key is unambiguous. The EPC pure URI is derived from it on demand.
//!
//! # SGLN extension "0"
//!
//! TDS (SGLN, §7.4): a GLN without extension has SGLN extension `0`, and extension `0` means
//! "no extension". So `(414)X`, `(414)X(254)0` and `urn:epc:id:sgln:…​.0` are one identity, held as
//! `extension: None`, and [`Identity::to_ais`] emits no `(254)` for it.

use crate::check::{gs1_check_digit, verify_gs1_check_digit};
use crate::gcp::GcpResolver;
use crate::IdError;
use std::fmt;

/// GS1 AI encodable character set 82.
pub(crate) fn is_cset82(b: u8) -> bool {
    matches!(b,
        b'!' | b'"' | b'%'..=b'/' | b'0'..=b'9' | b':'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

/// GS1 AI encodable character set 39.
pub(crate) fn is_cset39(b: u8) -> bool {
    matches!(b, b'#' | b'-' | b'/' | b'0'..=b'9' | b'A'..=b'Z')
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn check_digits(ai: &str, v: &str, len: usize) -> Result<(), IdError> {
    if v.len() != len || !all_digits(v) {
        return Err(IdError::ai(
            ai,
            format!("must be {len} digits, found {v:?}"),
        ));
    }
    verify_gs1_check_digit(v.as_bytes()).map_err(|(e, f)| {
        IdError::ai(
            ai,
            format!(
                "check digit should be {}, found {}",
                char::from(e),
                char::from(f)
            ),
        )
    })
}

fn check_cset82(ai: &str, what: &str, v: &str, max: usize) -> Result<(), IdError> {
    if v.is_empty() || v.len() > max {
        return Err(IdError::ai(
            ai,
            format!("{what} must be 1 to {max} characters, found {}", v.len()),
        ));
    }
    if let Some(c) = v.bytes().find(|&b| !is_cset82(b)) {
        return Err(IdError::ai(
            ai,
            format!(
                "{what}: character {:?} is not allowed (GS1 character set 82)",
                char::from(c)
            ),
        ));
    }
    Ok(())
}

macro_rules! digit_key {
    ($(#[$m:meta])* $name:ident, $len:expr, $ai:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Validates length, digits and check digit.
            pub fn new(s: &str) -> Result<Self, IdError> {
                check_digits($ai, s, $len)?;
                let mut a = [0u8; $len];
                a.copy_from_slice(s.as_bytes());
                Ok($name(a))
            }
            /// The digits.
            pub fn as_str(&self) -> &str {
                std::str::from_utf8(&self.0).unwrap_or("")
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.as_str())
            }
        }
    };
}

digit_key!(
    /// A GTIN, always held as 14 digits (GTIN-8/12/13 are left-padded with zeros).
    Gtin,
    14,
    "01"
);
digit_key!(
    /// A Serial Shipping Container Code (18 digits).
    Sscc,
    18,
    "00"
);
digit_key!(
    /// A Global Location Number (13 digits).
    Gln,
    13,
    "414"
);
digit_key!(
    /// A Global Service Relation Number (18 digits), for GSRN (provider) and GSRNP (recipient).
    Gsrn,
    18,
    "8018"
);

impl Gtin {
    /// From 13 digits without the check digit (indicator first), computing the check digit.
    pub(crate) fn from_body(body: [u8; 13]) -> Option<Self> {
        let c = gs1_check_digit(&body)?;
        let mut a = [0u8; 14];
        a[..13].copy_from_slice(&body);
        a[13] = c;
        Some(Gtin(a))
    }

    /// Accepts GTIN-8, -12, -13 or -14 and normalises to 14 digits.
    pub fn parse_any(s: &str) -> Result<Self, IdError> {
        match s.len() {
            8 | 12 | 13 => Gtin::new(&format!("{:0>14}", s)),
            _ => Gtin::new(s),
        }
    }
}

/// Builds a 13/14/18-digit key from its digits without the check digit, appending it.
pub(crate) fn with_check(body: &str) -> Option<String> {
    let c = gs1_check_digit(body.as_bytes())?;
    let mut s = String::with_capacity(body.len() + 1);
    s.push_str(body);
    s.push(char::from(c));
    Some(s)
}

macro_rules! string_part {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);
        impl $name {
            /// The value (unescaped).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_part!(
    /// A GTIN serial number, AI (21): 1 to 20 characters of GS1 character set 82.
    Serial
);
impl Serial {
    pub fn new(s: &str) -> Result<Self, IdError> {
        check_cset82("21", "serial", s, 20)?;
        Ok(Serial(s.to_string()))
    }
}

string_part!(
    /// A GLN extension component, AI (254): 1 to 20 characters of set 82, never "0" (which means
    /// "no extension", see the module documentation).
    GlnExtension
);
impl GlnExtension {
    /// `Ok(None)` for "0" (no extension).
    pub fn new(s: &str) -> Result<Option<Self>, IdError> {
        check_cset82("254", "GLN extension", s, 20)?;
        Ok((s != "0").then(|| GlnExtension(s.to_string())))
    }
}

string_part!(
    /// A serialised Global Returnable Asset Identifier, the value of AI (8003): '0', 12 digits,
    /// check digit, then a serial of 1 to 16 characters.
    Grai
);
impl Grai {
    pub fn new(s: &str) -> Result<Self, IdError> {
        if s.len() < 14 || !s.as_bytes()[..14].iter().all(u8::is_ascii_digit) {
            return Err(IdError::ai("8003", "must start with 14 digits"));
        }
        if !s.starts_with('0') {
            return Err(IdError::ai("8003", "the first digit must be 0"));
        }
        check_digits("8003", &s[1..14], 13)?;
        let serial = &s[14..];
        if serial.is_empty() {
            return Err(IdError::ai(
                "8003",
                "GRAI without serial number is not an individual asset",
            ));
        }
        check_cset82("8003", "serial", serial, 16)?;
        Ok(Grai(s.to_string()))
    }
    /// The serial number.
    pub fn serial(&self) -> &str {
        &self.0[14..]
    }
}

string_part!(
    /// A Global Individual Asset Identifier, AI (8004): company prefix then asset reference,
    /// 1 to 30 characters of set 82, starting with a digit.
    Giai
);
impl Giai {
    pub fn new(s: &str) -> Result<Self, IdError> {
        check_cset82("8004", "GIAI", s, 30)?;
        if !s.as_bytes()[0].is_ascii_digit() {
            return Err(IdError::ai(
                "8004",
                "must start with the GS1 Company Prefix digits",
            ));
        }
        Ok(Giai(s.to_string()))
    }
}

string_part!(
    /// A serialised Global Document Type Identifier, AI (253): 13 digits with check digit, then a
    /// serial of 1 to 17 characters.
    Gdti
);
impl Gdti {
    pub fn new(s: &str) -> Result<Self, IdError> {
        if s.len() < 13 || !s.as_bytes()[..13].iter().all(u8::is_ascii_digit) {
            return Err(IdError::ai("253", "must start with 13 digits"));
        }
        check_digits("253", &s[..13], 13)?;
        let serial = &s[13..];
        if serial.is_empty() {
            return Err(IdError::ai(
                "253",
                "GDTI without serial component is not an individual document",
            ));
        }
        check_cset82("253", "serial", serial, 17)?;
        Ok(Gdti(s.to_string()))
    }
    /// The serial component.
    pub fn serial(&self) -> &str {
        &self.0[13..]
    }
}

string_part!(
    /// A serialised Global Coupon Number, AI (255): 13 digits with check digit, then a serial
    /// component of 1 to 12 digits.
    Sgcn
);
impl Sgcn {
    pub fn new(s: &str) -> Result<Self, IdError> {
        if s.len() < 13 || !s.as_bytes()[..13].iter().all(u8::is_ascii_digit) {
            return Err(IdError::ai("255", "must start with 13 digits"));
        }
        check_digits("255", &s[..13], 13)?;
        let serial = &s[13..];
        if serial.is_empty() || serial.len() > 12 || !all_digits(serial) {
            return Err(IdError::ai(
                "255",
                "serial component must be 1 to 12 digits",
            ));
        }
        Ok(Sgcn(s.to_string()))
    }
    /// The serial component.
    pub fn serial(&self) -> &str {
        &self.0[13..]
    }
}

string_part!(
    /// A Component / Part Identifier, AI (8010): 1 to 30 characters of set 39, starting with the
    /// GS1 Company Prefix digits.
    CpiPart
);
impl CpiPart {
    pub fn new(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 30 {
            return Err(IdError::ai("8010", "must be 1 to 30 characters"));
        }
        if let Some(c) = s.bytes().find(|&b| !is_cset39(b)) {
            return Err(IdError::ai(
                "8010",
                format!(
                    "character {:?} is not allowed (GS1 character set 39)",
                    char::from(c)
                ),
            ));
        }
        if !s.as_bytes()[0].is_ascii_digit() {
            return Err(IdError::ai(
                "8010",
                "must start with the GS1 Company Prefix digits",
            ));
        }
        Ok(CpiPart(s.to_string()))
    }
}

string_part!(
    /// A Component / Part serial number, AI (8011): 1 to 12 digits.
    CpiSerial
);
impl CpiSerial {
    pub fn new(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 12 || !all_digits(s) {
            return Err(IdError::ai("8011", "must be 1 to 12 digits"));
        }
        Ok(CpiSerial(s.to_string()))
    }
}

/// A General Identifier (GID): manager number < 2^28, object class < 2^24, serial < 2^36.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gid {
    manager: u32,
    class: u32,
    serial: u64,
}
impl Gid {
    pub fn new(manager: u64, class: u64, serial: u64) -> Result<Self, IdError> {
        if manager >= 1 << 28 || class >= 1 << 24 || serial >= 1 << 36 {
            return Err(IdError::syntax(
                "GID: manager number must be < 2^28, object class < 2^24, serial < 2^36",
            ));
        }
        Ok(Gid {
            manager: manager as u32,
            class: class as u32,
            serial,
        })
    }
    pub fn manager(&self) -> u32 {
        self.manager
    }
    pub fn class(&self) -> u32 {
        self.class
    }
    pub fn serial(&self) -> u64 {
        self.serial
    }
}

/// The serialised identity of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// Serialised GTIN: (01) + (21).
    Sgtin { gtin: Gtin, serial: Serial },
    /// (00).
    Sscc(Sscc),
    /// (414) with optional (254); `None` = no extension = EPC extension "0".
    Sgln {
        gln: Gln,
        extension: Option<GlnExtension>,
    },
    /// (417): a party (PGLN). Not a unit, but EPCIS names parties (source/destination owning
    /// party) by `urn:epc:id:pgln:`.
    Pgln(Gln),
    /// (8003) with serial.
    Grai(Grai),
    /// (8004).
    Giai(Giai),
    /// (8018).
    Gsrn(Gsrn),
    /// (8017).
    Gsrnp(Gsrn),
    /// (253) with serial.
    Gdti(Gdti),
    /// (255) with serial component.
    Sgcn(Sgcn),
    /// (8010) + (8011).
    Cpi { part: CpiPart, serial: CpiSerial },
    /// General Identifier (no AIs).
    Gid(Gid),
}

/// The kind of an [`Identity`], named as in EPC URIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sgtin,
    Sscc,
    Sgln,
    Pgln,
    Grai,
    Giai,
    Gsrn,
    Gsrnp,
    Gdti,
    Sgcn,
    Cpi,
    Gid,
}

impl Kind {
    /// The EPC URI name (`sgtin`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sgtin => "sgtin",
            Kind::Sscc => "sscc",
            Kind::Sgln => "sgln",
            Kind::Pgln => "pgln",
            Kind::Grai => "grai",
            Kind::Giai => "giai",
            Kind::Gsrn => "gsrn",
            Kind::Gsrnp => "gsrnp",
            Kind::Gdti => "gdti",
            Kind::Sgcn => "sgcn",
            Kind::Cpi => "cpi",
            Kind::Gid => "gid",
        }
    }
    /// From the EPC URI name.
    pub fn from_name(s: &str) -> Option<Kind> {
        Some(match s {
            "sgtin" => Kind::Sgtin,
            "sscc" => Kind::Sscc,
            "sgln" => Kind::Sgln,
            "pgln" => Kind::Pgln,
            "grai" => Kind::Grai,
            "giai" => Kind::Giai,
            "gsrn" => Kind::Gsrn,
            "gsrnp" => Kind::Gsrnp,
            "gdti" => Kind::Gdti,
            "sgcn" => Kind::Sgcn,
            "cpi" => Kind::Cpi,
            "gid" => Kind::Gid,
            _ => return None,
        })
    }
}

/// An identity split at its company prefix, as in EPC URIs and binary: `gcp`, then `reference`
/// (item reference with indicator, serial reference with extension digit, location reference,
/// asset type, ...; empty for GIAI's whole asset reference which goes into `serial`), then the
/// unescaped `serial` (empty when the kind has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpcParts<'a> {
    pub kind: Kind,
    pub gcp: &'a str,
    pub reference: std::borrow::Cow<'a, str>,
    pub serial: &'a str,
}

fn one<'a>(pairs: &'a [(String, String)], ai: &str) -> Result<Option<&'a str>, IdError> {
    let mut found: Option<&str> = None;
    for (a, v) in pairs {
        if a == ai {
            if let Some(prev) = found {
                if prev != v {
                    return Err(IdError::ai(ai, "appears twice with different values"));
                }
            }
            found = Some(v);
        }
    }
    Ok(found)
}

impl Identity {
    /// The identity's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Identity::Sgtin { .. } => Kind::Sgtin,
            Identity::Sscc(_) => Kind::Sscc,
            Identity::Sgln { .. } => Kind::Sgln,
            Identity::Grai(_) => Kind::Grai,
            Identity::Giai(_) => Kind::Giai,
            Identity::Gsrn(_) => Kind::Gsrn,
            Identity::Gsrnp(_) => Kind::Gsrnp,
            Identity::Gdti(_) => Kind::Gdti,
            Identity::Sgcn(_) => Kind::Sgcn,
            Identity::Cpi { .. } => Kind::Cpi,
            Identity::Pgln(_) => Kind::Pgln,
            Identity::Gid(_) => Kind::Gid,
        }
    }

    /// The serialised identity held by these AI pairs, `None` when they hold none (e.g. a GTIN
    /// without serial, a GRAI without serial), an error when a key's value is invalid or when more
    /// than one identity is present.
    pub fn from_ais(pairs: &[(String, String)]) -> Result<Option<Identity>, IdError> {
        let mut found: Vec<Identity> = Vec::new();
        if let Some(g) = one(pairs, "01")? {
            let gtin = Gtin::new(g)?;
            if let Some(s) = one(pairs, "21")? {
                found.push(Identity::Sgtin {
                    gtin,
                    serial: Serial::new(s)?,
                });
            }
        }
        if let Some(v) = one(pairs, "00")? {
            found.push(Identity::Sscc(Sscc::new(v)?));
        }
        if let Some(v) = one(pairs, "414")? {
            let extension = match one(pairs, "254")? {
                Some(e) => GlnExtension::new(e)?,
                None => None,
            };
            found.push(Identity::Sgln {
                gln: Gln::new(v)?,
                extension,
            });
        }
        if let Some(v) = one(pairs, "8003")? {
            if v.len() > 14 {
                found.push(Identity::Grai(Grai::new(v)?));
            } else {
                check_digits("8003", v.get(1..).unwrap_or(""), 13)?;
            }
        }
        if let Some(v) = one(pairs, "8004")? {
            found.push(Identity::Giai(Giai::new(v)?));
        }
        if let Some(v) = one(pairs, "8018")? {
            found.push(Identity::Gsrn(Gsrn::new(v)?));
        }
        if let Some(v) = one(pairs, "8017")? {
            check_digits("8017", v, 18)?;
            found.push(Identity::Gsrnp(Gsrn::new(v)?));
        }
        if let Some(v) = one(pairs, "253")? {
            if v.len() > 13 {
                found.push(Identity::Gdti(Gdti::new(v)?));
            } else {
                check_digits("253", v, 13)?;
            }
        }
        if let Some(v) = one(pairs, "255")? {
            if v.len() > 13 {
                found.push(Identity::Sgcn(Sgcn::new(v)?));
            } else {
                check_digits("255", v, 13)?;
            }
        }
        if let Some(v) = one(pairs, "8010")? {
            let part = CpiPart::new(v)?;
            if let Some(s) = one(pairs, "8011")? {
                found.push(Identity::Cpi {
                    part,
                    serial: CpiSerial::new(s)?,
                });
            }
        }
        // A party GLN is the identity only of data that names nothing else.
        if found.is_empty() {
            if let Some(v) = one(pairs, "417")? {
                found.push(Identity::Pgln(Gln::new(v)?));
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(IdError::syntax(format!(
                "more than one identity in the data: {}",
                found
                    .iter()
                    .map(|i| i.kind().name().to_uppercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The AI pairs of this identity, in element-string order. GID has none.
    pub fn to_ais(&self) -> Vec<(String, String)> {
        let p = |a: &str, v: &str| (a.to_string(), v.to_string());
        match self {
            Identity::Sgtin { gtin, serial } => {
                vec![p("01", gtin.as_str()), p("21", serial.as_str())]
            }
            Identity::Sscc(s) => vec![p("00", s.as_str())],
            Identity::Sgln { gln, extension } => {
                let mut v = vec![p("414", gln.as_str())];
                if let Some(e) = extension {
                    v.push(p("254", e.as_str()));
                }
                v
            }
            Identity::Pgln(g) => vec![p("417", g.as_str())],
            Identity::Grai(g) => vec![p("8003", g.as_str())],
            Identity::Giai(g) => vec![p("8004", g.as_str())],
            Identity::Gsrn(g) => vec![p("8018", g.as_str())],
            Identity::Gsrnp(g) => vec![p("8017", g.as_str())],
            Identity::Gdti(g) => vec![p("253", g.as_str())],
            Identity::Sgcn(g) => vec![p("255", g.as_str())],
            Identity::Cpi { part, serial } => {
                vec![p("8010", part.as_str()), p("8011", serial.as_str())]
            }
            Identity::Gid(_) => Vec::new(),
        }
    }

    /// The bracketed element string, e.g. `(01)09521234543213(21)ABC`; `(` in values is written
    /// `\(`. Empty for GID.
    pub fn element_string(&self) -> String {
        let mut s = String::new();
        for (ai, v) in self.to_ais() {
            s.push('(');
            s.push_str(&ai);
            s.push(')');
            for c in v.chars() {
                if c == '(' {
                    s.push('\\');
                }
                s.push(c);
            }
        }
        s
    }

    /// The storage key: the element string, or the EPC pure URI for GID. See the module docs.
    pub fn canonical_key(&self) -> String {
        match self {
            Identity::Gid(g) => format!("urn:epc:id:gid:{}.{}.{}", g.manager, g.class, g.serial),
            _ => self.element_string(),
        }
    }

    /// The digits from which the GCP length is looked up (the key from where the company prefix
    /// starts). `None` for GID.
    pub fn gcp_digits(&self) -> Option<&str> {
        Some(match self {
            Identity::Sgtin { gtin, .. } => &gtin.as_str()[1..],
            Identity::Sscc(s) => &s.as_str()[1..],
            Identity::Sgln { gln, .. } => gln.as_str(),
            Identity::Pgln(gln) => gln.as_str(),
            Identity::Grai(g) => &g.as_str()[1..],
            Identity::Giai(g) => g.as_str(),
            Identity::Gsrn(g) | Identity::Gsrnp(g) => g.as_str(),
            Identity::Gdti(g) => g.as_str(),
            Identity::Sgcn(g) => g.as_str(),
            Identity::Cpi { part, .. } => part.as_str(),
            Identity::Gid(_) => return None,
        })
    }

    /// The GCP length of this identity per `resolver` (0 for GID, which has none).
    pub fn gcp_len(&self, resolver: &GcpResolver) -> Result<usize, IdError> {
        match self.gcp_digits() {
            None => Ok(0),
            Some(d) => resolver.gcp_len(d),
        }
    }

    /// Splits the identity at a company prefix of `gcp_len` digits (6 to 12). Not for GID.
    pub fn epc_parts(&self, gcp_len: usize) -> Result<EpcParts<'_>, IdError> {
        use std::borrow::Cow;
        let l = gcp_len;
        if !(6..=12).contains(&l) {
            return Err(IdError::syntax(format!(
                "GS1 Company Prefix length {l}: EPC needs 6 to 12 digits"
            )));
        }
        let kind = self.kind();
        fn mk<'b>(
            kind: Kind,
            gcp: &'b str,
            reference: Cow<'b, str>,
            serial: &'b str,
        ) -> EpcParts<'b> {
            EpcParts {
                kind,
                gcp,
                reference,
                serial,
            }
        }
        let parts = |gcp, reference, serial| mk(kind, gcp, reference, serial);
        Ok(match self {
            Identity::Sgtin { gtin, serial } => {
                let g = gtin.as_str();
                let mut r = String::with_capacity(13 - l);
                r.push_str(&g[..1]);
                r.push_str(&g[1 + l..13]);
                parts(&g[1..1 + l], Cow::Owned(r), serial.as_str())
            }
            Identity::Sscc(s) => {
                let g = s.as_str();
                let mut r = String::with_capacity(17 - l);
                r.push_str(&g[..1]);
                r.push_str(&g[1 + l..17]);
                parts(&g[1..1 + l], Cow::Owned(r), "")
            }
            Identity::Sgln { gln, extension } => {
                let g = gln.as_str();
                parts(
                    &g[..l],
                    Cow::Borrowed(&g[l..12]),
                    extension.as_ref().map_or("0", |e| e.as_str()),
                )
            }
            Identity::Pgln(gln) => {
                let g = gln.as_str();
                parts(&g[..l], Cow::Borrowed(&g[l..12]), "")
            }
            Identity::Grai(v) => {
                let g = v.as_str();
                parts(&g[1..1 + l], Cow::Borrowed(&g[1 + l..13]), &g[14..])
            }
            Identity::Giai(v) => {
                let g = v.as_str();
                if g.len() <= l || !all_digits(&g[..l]) {
                    return Err(IdError::ai(
                        "8004",
                        format!("no asset reference after a {l}-digit company prefix"),
                    ));
                }
                parts(&g[..l], Cow::Borrowed(""), &g[l..])
            }
            Identity::Gsrn(v) | Identity::Gsrnp(v) => {
                let g = v.as_str();
                parts(&g[..l], Cow::Borrowed(&g[l..17]), "")
            }
            Identity::Gdti(v) => {
                let g = v.as_str();
                parts(&g[..l], Cow::Borrowed(&g[l..12]), &g[13..])
            }
            Identity::Sgcn(v) => {
                let g = v.as_str();
                parts(&g[..l], Cow::Borrowed(&g[l..12]), &g[13..])
            }
            Identity::Cpi { part, serial } => {
                let g = part.as_str();
                if g.len() <= l || !all_digits(&g[..l]) {
                    return Err(IdError::ai(
                        "8010",
                        format!("no part reference after a {l}-digit company prefix"),
                    ));
                }
                parts(&g[..l], Cow::Borrowed(&g[l..]), serial.as_str())
            }
            Identity::Gid(_) => return Err(IdError::syntax("GID has no company prefix")),
        })
    }

    /// Builds an identity from EPC parts (as read from a pure URI or binary): `gcp` (6 to 12
    /// digits), `reference` and unescaped `serial` as in [`EpcParts`]. Not for GID.
    pub fn from_epc_parts(
        kind: Kind,
        gcp: &str,
        reference: &str,
        serial: &str,
    ) -> Result<Identity, IdError> {
        let name = kind.name();
        if !(6..=12).contains(&gcp.len()) || !all_digits(gcp) {
            return Err(IdError::syntax(format!(
                "EPC {name}: company prefix must be 6 to 12 digits, found {gcp:?}"
            )));
        }
        let digits_ref = |total: usize| -> Result<(), IdError> {
            if gcp.len() + reference.len() != total || !all_digits(reference) {
                return Err(IdError::syntax(format!(
                    "EPC {name}: company prefix + reference must be {total} digits, found {gcp}.{reference}"
                )));
            }
            Ok(())
        };
        let key = |body: String| with_check(&body).unwrap_or_default();
        Ok(match kind {
            Kind::Sgtin => {
                digits_ref(13)?;
                let body = format!("{}{}{}", &reference[..1], gcp, &reference[1..]);
                Identity::Sgtin {
                    gtin: Gtin::new(&key(body))?,
                    serial: Serial::new(serial)?,
                }
            }
            Kind::Sscc => {
                digits_ref(17)?;
                let body = format!("{}{}{}", &reference[..1], gcp, &reference[1..]);
                Identity::Sscc(Sscc::new(&key(body))?)
            }
            Kind::Sgln => {
                digits_ref(12)?;
                Identity::Sgln {
                    gln: Gln::new(&key(format!("{gcp}{reference}")))?,
                    extension: GlnExtension::new(serial)?,
                }
            }
            Kind::Pgln => {
                digits_ref(12)?;
                if !serial.is_empty() {
                    return Err(IdError::syntax("EPC pgln: unexpected third field"));
                }
                Identity::Pgln(Gln::new(&key(format!("{gcp}{reference}")))?)
            }
            Kind::Grai => {
                digits_ref(12)?;
                let k = key(format!("0{gcp}{reference}"));
                Identity::Grai(Grai::new(&format!("{k}{serial}"))?)
            }
            Kind::Giai => {
                if !reference.is_empty() {
                    return Err(IdError::syntax("EPC giai: unexpected reference"));
                }
                if serial.is_empty() {
                    return Err(IdError::syntax("EPC giai: empty asset reference"));
                }
                Identity::Giai(Giai::new(&format!("{gcp}{serial}"))?)
            }
            Kind::Gsrn | Kind::Gsrnp => {
                digits_ref(17)?;
                let g = Gsrn::new(&key(format!("{gcp}{reference}")))?;
                if kind == Kind::Gsrn {
                    Identity::Gsrn(g)
                } else {
                    Identity::Gsrnp(g)
                }
            }
            Kind::Gdti => {
                digits_ref(12)?;
                let k = key(format!("{gcp}{reference}"));
                Identity::Gdti(Gdti::new(&format!("{k}{serial}"))?)
            }
            Kind::Sgcn => {
                digits_ref(12)?;
                let k = key(format!("{gcp}{reference}"));
                Identity::Sgcn(Sgcn::new(&format!("{k}{serial}"))?)
            }
            Kind::Cpi => {
                if reference.is_empty() {
                    return Err(IdError::syntax("EPC cpi: empty component/part reference"));
                }
                Identity::Cpi {
                    part: CpiPart::new(&format!("{gcp}{reference}"))?,
                    serial: CpiSerial::new(serial)?,
                }
            }
            Kind::Gid => return Err(IdError::syntax("GID has no company prefix")),
        })
    }

    /// The EPC pure identity URI, with the GCP length from `resolver`.
    pub fn to_epc_uri(&self, resolver: &GcpResolver) -> Result<String, IdError> {
        let len = self.gcp_len(resolver)?;
        self.to_epc_uri_with_gcp_len(len)
    }

    /// The EPC pure identity URI with a known GCP length (ignored for GID).
    pub fn to_epc_uri_with_gcp_len(&self, gcp_len: usize) -> Result<String, IdError> {
        crate::epc::uri::format_pure(self, gcp_len)
    }
}
