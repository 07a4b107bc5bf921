//! GS1 Company Prefix (GCP) length resolution.
//!
//! Turning a GTIN, SSCC, GLN, ... into an EPC URI needs the length of the GS1 Company Prefix at the
//! start of the key. [`GcpResolver`] answers it from the company prefixes the user configured first,
//! then from GS1's prefix-length table (`../shared/gs1-gcp/gcp-length.tsv`), embedded compactly in
//! the binary. When neither knows, the answer is an error saying so: never a guess.
//!
//! # The embedded table (`gcp_table.bin`)
//!
//! The TSV maps 170,843 prefixes to a length; the rule is "longest matching prefix wins". Every
//! prefix of `n` digits covers the interval `[p * 10^(12-n), (p+1) * 10^(12-n))` of the 12-digit key
//! space (no prefix is longer than 12 digits). Painting the prefixes from shortest to longest and
//! merging neighbours with the same answer leaves ~62,000 intervals, each stored as its start
//! (delta from the previous start, written as `mantissa * 10^exp`) and its length:
//!
//! ```text
//! "GCPT" u32:entries u32:blocks  blocks x (u64 start, u32 byte offset)  entries...
//! entry = u8 (length | exp << 4), LEB128 mantissa
//! ```
//!
//! A block index (every [`BLOCK`] entries) makes lookup a binary search plus a short scan.
//! Length 0 (and any gap) means "unknown".
//!
//! Regenerate after the TSV changes with
//! `UNITRACE_REGEN_GCP=1 cargo test -p unitrace-id --test gcp_table`
//! (the same test fails when the checked-in file is not what the TSV encodes to).

use crate::IdError;

/// The embedded, encoded table. See the module documentation.
static TABLE: &[u8] = include_bytes!("gcp_table.bin");

/// Digits of key space covered by the table (its longest prefix).
const WIDTH: usize = 12;
/// Entries per block-index entry.
pub const BLOCK: usize = 64;
const MAGIC: &[u8; 4] = b"GCPT";

const POW10: [u64; 13] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
];

/// Size in bytes of the embedded table.
pub fn embedded_table_size() -> usize {
    TABLE.len()
}

/// Encodes the TSV (`prefix<TAB>length` rows, `#` comments) into the embedded table format.
/// Used to generate `gcp_table.bin` and by the test that checks it is current.
pub fn encode_table(tsv: &str) -> Result<Vec<u8>, IdError> {
    use std::collections::HashMap;
    let mut rows: HashMap<String, u8> = HashMap::new();
    for (n, line) in tsv.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (p, l) = line
            .split_once('\t')
            .ok_or_else(|| IdError::syntax(format!("GCP table line {}: no tab", n + 1)))?;
        if p.is_empty() || p.len() > WIDTH || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::syntax(format!(
                "GCP table line {}: bad prefix {p:?}",
                n + 1
            )));
        }
        let len: u8 = l
            .trim()
            .parse()
            .ok()
            .filter(|&v: &u8| usize::from(v) <= WIDTH)
            .ok_or_else(|| {
                IdError::syntax(format!("GCP table line {}: bad length {l:?}", n + 1))
            })?;
        rows.insert(p.to_string(), len);
    }
    // Interval boundaries: every prefix's start and end.
    let mut bounds: Vec<u64> = vec![0];
    for p in rows.keys() {
        let v: u64 = p.parse().unwrap_or(0);
        let scale = POW10[WIDTH - p.len()];
        bounds.push(v * scale);
        bounds.push((v + 1) * scale);
    }
    bounds.sort_unstable();
    bounds.dedup();
    let longest = |k: u64| -> u8 {
        let s = format!("{k:012}");
        (1..=WIDTH)
            .rev()
            .find_map(|l| rows.get(&s[..l]).copied())
            .unwrap_or(0)
    };
    let mut intervals: Vec<(u64, u8)> = Vec::new();
    for &b in bounds.iter().filter(|&&b| b < POW10[WIDTH]) {
        let v = longest(b);
        if intervals.last().map(|&(_, pv)| pv) != Some(v) {
            intervals.push((b, v));
        }
    }
    let mut stream = Vec::new();
    let mut index = Vec::new();
    let mut prev = 0u64;
    for (i, &(start, len)) in intervals.iter().enumerate() {
        if i % BLOCK == 0 {
            index.push((start, stream.len() as u32));
        }
        let mut delta = start - prev;
        prev = start;
        let mut exp = 0u8;
        while delta != 0 && delta == delta / 10 * 10 {
            delta /= 10;
            exp += 1;
        }
        stream.push(len | (exp << 4));
        loop {
            let byte = (delta & 0x7f) as u8;
            delta >>= 7;
            if delta == 0 {
                stream.push(byte);
                break;
            }
            stream.push(byte | 0x80);
        }
    }
    let mut out = Vec::with_capacity(12 + index.len() * 12 + stream.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(intervals.len() as u32).to_le_bytes());
    out.extend_from_slice(&(index.len() as u32).to_le_bytes());
    for (s, o) in index {
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&o.to_le_bytes());
    }
    out.extend_from_slice(&stream);
    Ok(out)
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Finds the interval holding `key` (a 12-digit value): returns (interval number, length).
fn table_interval(key: u64) -> Option<(usize, u8)> {
    let t = TABLE;
    if t.get(..4)? != MAGIC {
        return None;
    }
    let entries = read_u32(t, 4)? as usize;
    let blocks = read_u32(t, 8)? as usize;
    let index_at = 12;
    let stream_at = index_at + blocks * 12;
    // Last block whose start <= key.
    let (mut lo, mut hi) = (0usize, blocks);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if read_u64(t, index_at + mid * 12)? <= key {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let block_start = read_u64(t, index_at + lo * 12)?;
    if block_start > key {
        return None;
    }
    let mut pos = stream_at + read_u32(t, index_at + lo * 12 + 8)? as usize;
    let first = lo * BLOCK;
    let last = entries.min(first + BLOCK);
    let mut start = 0u64;
    let mut found = None;
    for i in first..last {
        let head = *t.get(pos)?;
        pos += 1;
        let mut mant = 0u64;
        let mut shift = 0;
        loop {
            let b = *t.get(pos)?;
            pos += 1;
            mant |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 56 {
                break;
            }
        }
        start = if i == first {
            block_start
        } else {
            start + mant * POW10[usize::from(head >> 4).min(WIDTH)]
        };
        if start > key {
            break;
        }
        found = Some((i, head & 0x0f));
    }
    found
}

/// The GCP length the GS1 table gives for `digits`, the key's digits starting where the company
/// prefix starts (a GTIN-13 body, a GLN, an SSCC without its extension digit, ...). Non-digits end
/// the usable digits. `None` when the table does not know (length 0 or no matching prefix), or
/// when the digits present are too few to decide.
pub fn table_gcp_len(digits: &str) -> Option<usize> {
    let mut v = 0u64;
    let mut n = 0usize;
    for b in digits.bytes().take(WIDTH) {
        if !b.is_ascii_digit() {
            break;
        }
        v = v * 10 + u64::from(b - b'0');
        n += 1;
    }
    if n == 0 {
        return None;
    }
    let scale = POW10[WIDTH - n];
    let lo = v * scale;
    let hi = lo + scale - 1;
    let (i, len) = table_interval(lo)?;
    if scale > 1 {
        // Fewer than 12 digits: the answer must not depend on the missing ones.
        let (j, _) = table_interval(hi)?;
        if i != j {
            return None;
        }
    }
    let len = usize::from(len);
    (len != 0 && len <= n).then_some(len)
}

/// Resolves GCP lengths: configured company prefixes first (longest match), then the GS1 table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcpResolver {
    configured: Vec<String>,
    no_table: bool,
}

impl GcpResolver {
    /// A resolver that uses the embedded GS1 table only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A resolver that knows these company prefixes (4 to 12 digits each) before the table.
    pub fn with_prefixes<I, S>(prefixes: I) -> Result<Self, IdError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut configured = Vec::new();
        for p in prefixes {
            let p = p.as_ref();
            if !(4..=12).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(IdError::syntax(format!(
                    "company prefix {p:?}: must be 4 to 12 digits"
                )));
            }
            configured.push(p.to_string());
        }
        // Longest first, so the first match is the longest match.
        configured.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        configured.dedup();
        Ok(GcpResolver {
            configured,
            no_table: false,
        })
    }

    /// Do not fall back to the GS1 table: only configured prefixes are known.
    pub fn without_table(mut self) -> Self {
        self.no_table = true;
        self
    }

    /// The configured company prefixes, longest first.
    pub fn configured(&self) -> &[String] {
        &self.configured
    }

    /// The GCP length for `digits` (the key's digits starting where the company prefix starts),
    /// or `None` when unknown.
    pub fn lookup(&self, digits: &str) -> Option<usize> {
        if let Some(p) = self
            .configured
            .iter()
            .find(|p| digits.starts_with(p.as_str()))
        {
            return Some(p.len());
        }
        if self.no_table {
            return None;
        }
        table_gcp_len(digits)
    }

    /// As [`lookup`](Self::lookup), but an error naming the key when unknown.
    pub fn gcp_len(&self, digits: &str) -> Result<usize, IdError> {
        self.lookup(digits).ok_or_else(|| {
            IdError::syntax(format!(
                "GS1 Company Prefix length unknown for {digits}: not in the GS1 table nor configured; configure the company prefix"
            ))
        })
    }

    /// The company prefix of a GTIN-8, -12, -13 or -14 (skipping a GTIN-14's indicator digit and
    /// reading a GTIN-12 as a GTIN-13 with a leading '0').
    pub fn gtin_company_prefix(&self, gtin: &str) -> Result<String, IdError> {
        if !gtin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::syntax(format!("GTIN {gtin:?}: not all digits")));
        }
        let body = match gtin.len() {
            8 => format!("00000{gtin}"),
            12 => format!("0{gtin}"),
            13 => gtin.to_string(),
            14 => gtin[1..].to_string(),
            n => {
                return Err(IdError::syntax(format!(
                    "GTIN {gtin:?}: {n} digits, expected 8, 12, 13 or 14"
                )))
            }
        };
        let len = self.gcp_len(&body)?;
        Ok(body[..len].to_string())
    }
}
