//! The GS1 Application Identifier table.
//!
//! The table itself (`table.rs`) is generated from the GS1 Barcode Syntax Dictionary by
//! [`gen::generate`]; regenerate it with
//! `cargo run -p unitrace-id --example gen_ai_table` (reads `../shared/gs1-syntax/gs1-syntax-dictionary.txt`).
//! The test `tests/ai_table_current.rs` fails when the checked-in table is stale.

pub mod gen;
#[rustfmt::skip]
mod table;

pub use table::{AI_KEYS, AI_PREFIX_START, AI_TABLE, DICTIONARY_RELEASE};

/// Character set of one component of an AI's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Digits only.
    N,
    /// GS1 AI encodable character set 82.
    X,
    /// GS1 AI encodable character set 39.
    Y,
    /// GS1 AI encodable character set 64 (base64url, with `=` padding).
    Z,
}

/// One component of an AI's value, e.g. `N13,csum` or `[X..17]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub charset: Charset,
    /// Minimum length (equal to `max` for fixed-length components).
    pub min: u8,
    pub max: u8,
    /// Optional components may be absent once the data is exhausted.
    pub optional: bool,
    pub linters: &'static [Linter],
}

impl Component {
    pub fn is_fixed(&self) -> bool {
        self.min == self.max
    }
}

/// One Application Identifier as the dictionary defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AiEntry {
    pub ai: &'static str,
    pub title: &'static str,
    /// Whether an FNC1 separator must follow this AI when another AI follows it
    /// (false for AIs of predefined length, flag `*`).
    pub fnc1: bool,
    /// Allowed as a GS1 Digital Link data attribute (flag `?`).
    pub dl_data_attr: bool,
    pub components: &'static [Component],
    /// Each `req=` attribute: one of its alternatives must be satisfied; an alternative is a
    /// `+`-joined group of AIs or patterns (`nn`/`n` match any digit), all of which must be present.
    pub req: &'static [&'static [&'static [&'static str]]],
    /// AIs or patterns this AI must not appear with.
    pub ex: &'static [&'static str],
    /// `Some` when this AI is a Digital Link primary key; the inner slices are the alternative
    /// ordered key-qualifier sequences (empty when the key takes no qualifiers).
    pub dl_pkey: Option<&'static [&'static [&'static str]]>,
}

impl AiEntry {
    /// Minimum total value length (mandatory components).
    pub fn min_len(&self) -> usize {
        self.components
            .iter()
            .filter(|c| !c.optional)
            .map(|c| c.min as usize)
            .sum()
    }
    /// Maximum total value length.
    pub fn max_len(&self) -> usize {
        self.components.iter().map(|c| c.max as usize).sum()
    }
    /// True when the value has a single fixed length (all components fixed and mandatory).
    pub fn fixed_len(&self) -> Option<usize> {
        if self.components.iter().all(|c| c.is_fixed() && !c.optional) {
            Some(self.max_len())
        } else {
            None
        }
    }
}

/// Check routines ("linters") named in the dictionary. Some (`key`, `keyoff1`, `hhmm`,
/// `yymmddhh`, `iso3166list`, `mm`, `mmoptss`, `latlong`, `yyyymmd0`) are named only by other
/// releases of the dictionary; they are implemented so that regenerating the table from those
/// releases works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linter {
    CouponCode,
    CouponPosOffer,
    Csum,
    CsumAlpha,
    GcpPos1,
    GcpPos2,
    HasNonDigit,
    Hh,
    Hhmi,
    Hhmm,
    Hyphen,
    Iban,
    ImporterIdx,
    Key,
    KeyOff1,
    LatLong,
    Iso3166,
    Iso3166999,
    Iso3166Alpha2,
    Iso3166List,
    Iso4217,
    Iso5218,
    Latitude,
    Longitude,
    MediaType,
    Mi,
    Mm,
    MmOptSs,
    NonZero,
    NoZeroPrefix,
    PackageType,
    PcEnc,
    PieceOfTotal,
    PosInSeqSlash,
    Ss,
    Winding,
    YesNo,
    Yymmd0,
    Yymmdd,
    Yymmddhh,
    Yyyymmd0,
    Yyyymmdd,
    Zero,
}

const LINTER_NAMES: &[(&str, Linter)] = &[
    ("couponcode", Linter::CouponCode),
    ("couponposoffer", Linter::CouponPosOffer),
    ("csum", Linter::Csum),
    ("csumalpha", Linter::CsumAlpha),
    ("gcppos1", Linter::GcpPos1),
    ("gcppos2", Linter::GcpPos2),
    ("hasnondigit", Linter::HasNonDigit),
    ("hh", Linter::Hh),
    ("hhmi", Linter::Hhmi),
    ("hhmm", Linter::Hhmm),
    ("hyphen", Linter::Hyphen),
    ("iban", Linter::Iban),
    ("importeridx", Linter::ImporterIdx),
    ("key", Linter::Key),
    ("keyoff1", Linter::KeyOff1),
    ("latlong", Linter::LatLong),
    ("iso3166", Linter::Iso3166),
    ("iso3166999", Linter::Iso3166999),
    ("iso3166alpha2", Linter::Iso3166Alpha2),
    ("iso3166list", Linter::Iso3166List),
    ("iso4217", Linter::Iso4217),
    ("iso5218", Linter::Iso5218),
    ("latitude", Linter::Latitude),
    ("longitude", Linter::Longitude),
    ("mediatype", Linter::MediaType),
    ("mi", Linter::Mi),
    ("mm", Linter::Mm),
    ("mmoptss", Linter::MmOptSs),
    ("nonzero", Linter::NonZero),
    ("nozeroprefix", Linter::NoZeroPrefix),
    ("packagetype", Linter::PackageType),
    ("pcenc", Linter::PcEnc),
    ("pieceoftotal", Linter::PieceOfTotal),
    ("posinseqslash", Linter::PosInSeqSlash),
    ("ss", Linter::Ss),
    ("winding", Linter::Winding),
    ("yesno", Linter::YesNo),
    ("yymmd0", Linter::Yymmd0),
    ("yymmdd", Linter::Yymmdd),
    ("yymmddhh", Linter::Yymmddhh),
    ("yyyymmd0", Linter::Yyyymmd0),
    ("yyyymmdd", Linter::Yyyymmdd),
    ("zero", Linter::Zero),
];

impl Linter {
    /// The linter for a dictionary name such as `csum`.
    pub fn from_name(name: &str) -> Option<Linter> {
        LINTER_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, l)| l)
    }
    /// The dictionary name of this linter.
    pub fn name(self) -> &'static str {
        LINTER_NAMES
            .iter()
            .find(|(_, l)| *l == self)
            .map(|&(n, _)| n)
            .unwrap_or("?")
    }
}

/// The search key of an AI of 2 to 4 digits: the AI right-padded with zeros to four digits,
/// times ten, plus its length. Keys sort like the AI strings (AIs are prefix-free).
pub fn ai_key(ai: &[u8]) -> Option<u32> {
    if !(2..=4).contains(&ai.len()) {
        return None;
    }
    let mut n = 0u32;
    for &c in ai {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    for _ in ai.len()..4 {
        n *= 10;
    }
    Some(n * 10 + ai.len() as u32)
}

/// The table range of the AIs starting with the two digits `ai[0..2]`.
fn prefix_range(ai: &[u8]) -> Option<(usize, usize)> {
    let (d0, d1) = (ai.first()?, ai.get(1)?);
    if !d0.is_ascii_digit() || !d1.is_ascii_digit() {
        return None;
    }
    let p = usize::from(d0 - b'0') * 10 + usize::from(d1 - b'0');
    let start = usize::from(*AI_PREFIX_START.get(p)?);
    let end = usize::from(*AI_PREFIX_START.get(p + 1)?);
    (start < end).then_some((start, end))
}

fn lookup_in(ai: &[u8], start: usize, end: usize) -> Option<&'static AiEntry> {
    let key = ai_key(ai)?;
    let keys = AI_KEYS.get(start..end)?;
    keys.binary_search(&key)
        .ok()
        .and_then(|i| AI_TABLE.get(start + i))
}

/// Looks up an AI by its exact digits, e.g. `"01"` or `"3103"`.
pub fn lookup(ai: &str) -> Option<&'static AiEntry> {
    let (start, end) = prefix_range(ai.as_bytes())?;
    lookup_in(ai.as_bytes(), start, end)
}

/// Finds the AI that `data` begins with. The first two digits of an AI determine its length.
pub fn lookup_prefix(data: &str) -> Option<&'static AiEntry> {
    let b = data.as_bytes();
    let (start, end) = prefix_range(b)?;
    let len = AI_TABLE.get(start)?.ai.len();
    lookup_in(b.get(..len)?, start, end)
}

/// Whether `ai` matches a dictionary pattern such as `01`, `310n` or `31nn` (`n` = any digit).
pub fn matches_pattern(pattern: &str, ai: &str) -> bool {
    pattern.len() == ai.len()
        && pattern
            .bytes()
            .zip(ai.bytes())
            .all(|(p, a)| p == a || (p == b'n' && a.is_ascii_digit()))
}
