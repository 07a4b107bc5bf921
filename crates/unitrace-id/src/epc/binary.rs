//! EPC binary encodings (GS1 EPC TDS, the 1.x schemes), hex in and out.
//!
//! Layout of the partitioned schemes: 8-bit header, 3-bit filter, 3-bit partition, company prefix
//! and reference (sizes from the partition table), then the serial field. Numeric serials
//! (`-96` schemes) are integers without leading zeros below 2^bits; string serials (`-198`, `-195`,
//! `-170`, `-202`, `-174`) are 7-bit characters, zero-padded; SGCN-96 uses the "numeric string"
//! method (a '1' is prefixed so leading zeros survive). Hex is padded to a 16-bit word boundary.
//! Decoding is exact: the hex must have the scheme's length, every padding or reserved bit must be
//! zero, every digit field must be in range.

use super::uri::format_tag;
use crate::gcp::GcpResolver;
use crate::identity::{is_cset39, is_cset82, Gid, Gtin, Identity, Kind, Serial};
use crate::IdError;

/// An EPC binary coding scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sgtin96,
    Sgtin198,
    Sscc96,
    Sgln96,
    Sgln195,
    Grai96,
    Grai170,
    Giai96,
    Giai202,
    Gsrn96,
    Gsrnp96,
    Gdti96,
    Gdti174,
    Sgcn96,
    Gid96,
    Cpi96,
    /// CPI-var: variable length (its part reference is 6-bit characters).
    CpiVar,
}

/// How the field after company prefix and reference is encoded.
#[derive(Clone, Copy)]
enum Tail {
    /// Integer, no leading zeros, below 2^bits.
    Int(u32),
    /// 7-bit characters in a field of `bits`.
    Str(u32),
    /// SGCN "numeric string": '1' + digits as an integer.
    NumStr(u32),
    /// Reserved zero bits.
    Zero(u32),
    /// GIAI-96: integer in what the partition leaves of 82 bits.
    GiaiInt,
    /// GIAI-202: 7-bit string in what the partition leaves of 188 bits.
    GiaiStr,
    /// CPI-96: integer part reference (size by partition), 31-bit serial.
    Cpi96,
    /// CPI-var: 6-bit part reference ended by six zero bits, 40-bit serial.
    CpiVar,
}

/// CPI-96 part reference (bits, max digits) per partition.
const CPI96_PART: [(u32, usize); 7] = [
    (11, 3),
    (14, 4),
    (17, 5),
    (21, 6),
    (24, 7),
    (27, 8),
    (31, 9),
];

/// Company prefix bits per partition (digits = 12 - partition).
const GCP_BITS: [u32; 7] = [40, 37, 34, 30, 27, 24, 20];

const ALL: [Scheme; 17] = [
    Scheme::Sgtin96,
    Scheme::Sgtin198,
    Scheme::Sscc96,
    Scheme::Sgln96,
    Scheme::Sgln195,
    Scheme::Grai96,
    Scheme::Grai170,
    Scheme::Giai96,
    Scheme::Giai202,
    Scheme::Gsrn96,
    Scheme::Gsrnp96,
    Scheme::Gdti96,
    Scheme::Gdti174,
    Scheme::Sgcn96,
    Scheme::Gid96,
    Scheme::Cpi96,
    Scheme::CpiVar,
];

impl Scheme {
    /// Every scheme.
    pub fn all() -> &'static [Scheme] {
        &ALL
    }

    /// Its name in tag URIs (`sgtin-96`).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sgtin96 => "sgtin-96",
            Scheme::Sgtin198 => "sgtin-198",
            Scheme::Sscc96 => "sscc-96",
            Scheme::Sgln96 => "sgln-96",
            Scheme::Sgln195 => "sgln-195",
            Scheme::Grai96 => "grai-96",
            Scheme::Grai170 => "grai-170",
            Scheme::Giai96 => "giai-96",
            Scheme::Giai202 => "giai-202",
            Scheme::Gsrn96 => "gsrn-96",
            Scheme::Gsrnp96 => "gsrnp-96",
            Scheme::Gdti96 => "gdti-96",
            Scheme::Gdti174 => "gdti-174",
            Scheme::Sgcn96 => "sgcn-96",
            Scheme::Gid96 => "gid-96",
            Scheme::Cpi96 => "cpi-96",
            Scheme::CpiVar => "cpi-var",
        }
    }

    /// From its tag-URI name.
    pub fn from_name(s: &str) -> Option<Scheme> {
        ALL.iter().copied().find(|x| x.name() == s)
    }

    /// The 8-bit header.
    pub fn header(self) -> u8 {
        match self {
            Scheme::Sgtin96 => 0x30,
            Scheme::Sscc96 => 0x31,
            Scheme::Sgln96 => 0x32,
            Scheme::Grai96 => 0x33,
            Scheme::Giai96 => 0x34,
            Scheme::Gid96 => 0x35,
            Scheme::Sgtin198 => 0x36,
            Scheme::Grai170 => 0x37,
            Scheme::Giai202 => 0x38,
            Scheme::Sgln195 => 0x39,
            Scheme::Gdti96 => 0x2C,
            Scheme::Gsrn96 => 0x2D,
            Scheme::Gsrnp96 => 0x2E,
            Scheme::Gdti174 => 0x3E,
            Scheme::Sgcn96 => 0x3F,
            Scheme::Cpi96 => 0x3C,
            Scheme::CpiVar => 0x3D,
        }
    }

    /// From the 8-bit header.
    pub fn from_header(h: u8) -> Option<Scheme> {
        ALL.iter().copied().find(|x| x.header() == h)
    }

    /// The scheme's length in bits (before padding to 16-bit words); for CPI-var, the maximum.
    pub fn bits(self) -> u32 {
        match self {
            Scheme::CpiVar => 244,
            Scheme::Sgtin198 => 198,
            Scheme::Sgln195 => 195,
            Scheme::Grai170 => 170,
            Scheme::Giai202 => 202,
            Scheme::Gdti174 => 174,
            _ => 96,
        }
    }

    /// Hex digits of an encoding (bits padded to whole 16-bit words); for CPI-var, the maximum.
    pub fn hex_len(self) -> usize {
        (self.bits() as usize).div_ceil(16) * 4
    }

    /// The identity kind it encodes.
    pub fn kind(self) -> Kind {
        match self {
            Scheme::Sgtin96 | Scheme::Sgtin198 => Kind::Sgtin,
            Scheme::Sscc96 => Kind::Sscc,
            Scheme::Sgln96 | Scheme::Sgln195 => Kind::Sgln,
            Scheme::Grai96 | Scheme::Grai170 => Kind::Grai,
            Scheme::Giai96 | Scheme::Giai202 => Kind::Giai,
            Scheme::Gsrn96 => Kind::Gsrn,
            Scheme::Gsrnp96 => Kind::Gsrnp,
            Scheme::Gdti96 | Scheme::Gdti174 => Kind::Gdti,
            Scheme::Sgcn96 => Kind::Sgcn,
            Scheme::Gid96 => Kind::Gid,
            Scheme::Cpi96 | Scheme::CpiVar => Kind::Cpi,
        }
    }

    /// Whether it has filter and partition fields (all but GID-96).
    pub fn has_filter(self) -> bool {
        self != Scheme::Gid96
    }

    /// Schemes able to carry `kind`.
    pub fn for_kind(kind: Kind) -> impl Iterator<Item = Scheme> {
        ALL.iter().copied().filter(move |s| s.kind() == kind)
    }

    /// (bits of company prefix + reference, digits of company prefix + reference).
    fn table(self) -> (u32, usize) {
        match self.kind() {
            Kind::Sgtin => (44, 13),
            Kind::Sscc | Kind::Gsrn | Kind::Gsrnp => (58, 17),
            Kind::Grai => (44, 12),
            Kind::Sgln | Kind::Gdti | Kind::Sgcn => (41, 12),
            Kind::Giai => (0, 12),
            // No TDS binary scheme carries a PGLN.
            Kind::Cpi | Kind::Gid | Kind::Pgln => (0, 0),
        }
    }

    fn tail(self) -> Tail {
        match self {
            Scheme::Sgtin96 | Scheme::Grai96 => Tail::Int(38),
            Scheme::Sgln96 | Scheme::Gdti96 => Tail::Int(41),
            Scheme::Sgtin198 | Scheme::Sgln195 => Tail::Str(140),
            Scheme::Grai170 => Tail::Str(112),
            Scheme::Gdti174 => Tail::Str(119),
            Scheme::Sgcn96 => Tail::NumStr(41),
            Scheme::Sscc96 | Scheme::Gsrn96 | Scheme::Gsrnp96 => Tail::Zero(24),
            Scheme::Giai96 => Tail::GiaiInt,
            Scheme::Giai202 => Tail::GiaiStr,
            Scheme::Gid96 => Tail::Zero(0),
            Scheme::Cpi96 => Tail::Cpi96,
            Scheme::CpiVar => Tail::CpiVar,
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// A 256-bit big-endian bit buffer.
struct Bits {
    buf: [u8; 48],
    pos: u32,
}

impl Bits {
    fn new() -> Self {
        Bits {
            buf: [0; 48],
            pos: 0,
        }
    }
    /// Writes the low `n` (<= 64) bits of `v`.
    fn put(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            if (v >> i) & 1 == 1 {
                let p = self.pos as usize;
                self.buf[p / 8] |= 0x80 >> (p % 8);
            }
            self.pos += 1;
        }
    }
    /// Reads `n` (<= 64) bits.
    fn get(&mut self, n: u32) -> u64 {
        if n == 0 {
            return 0;
        }
        let byte = (self.pos / 8) as usize;
        let mut w = [0u8; 16];
        w.copy_from_slice(&self.buf[byte..byte + 16]);
        let x = u128::from_be_bytes(w);
        let off = self.pos % 8;
        self.pos += n;
        ((x << off) >> (128 - n)) as u64
    }
}

/// A decoded or encodable EPC tag: scheme, filter, identity and company prefix length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EpcTag {
    scheme: Scheme,
    filter: u8,
    identity: Identity,
    gcp_len: usize,
    bits: [u8; 32],
    hex_len: usize,
}

fn int_serial(s: &str, bits: u32, what: &str, scheme: Scheme) -> Result<u64, IdError> {
    let ok = !s.is_empty()
        && s.len() <= 19
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'));
    let v = if ok { s.parse::<u64>().ok() } else { None };
    match v {
        Some(v) if v < 1u64 << bits => Ok(v),
        _ => Err(IdError::syntax(format!(
            "{what} {s:?} does not fit {scheme}: it needs a number without leading zeros below {}",
            1u64 << bits
        ))),
    }
}

fn put_str(
    b: &mut Bits,
    s: &str,
    bits: u32,
    max_chars: usize,
    what: &str,
    scheme: Scheme,
) -> Result<(), IdError> {
    if s.len() > max_chars {
        return Err(IdError::syntax(format!(
            "{what} {s:?} does not fit {scheme}: at most {max_chars} characters, found {}",
            s.len()
        )));
    }
    if s.is_empty() {
        return Err(IdError::syntax(format!("{what} is empty")));
    }
    for c in s.bytes() {
        if !is_cset82(c) {
            return Err(IdError::syntax(format!(
                "{what}: character {:?} cannot be encoded",
                char::from(c)
            )));
        }
        b.put(u64::from(c), 7);
    }
    b.pos += bits - 7 * s.len() as u32;
    Ok(())
}

fn get_str(b: &mut Bits, bits: u32, what: &str) -> Result<String, IdError> {
    let n = bits / 7;
    let end = b.pos + bits;
    let mut s = String::with_capacity(n as usize);
    let mut ended = false;
    for _ in 0..n {
        let c = b.get(7) as u8;
        if c == 0 {
            ended = true;
        } else if ended {
            return Err(IdError::syntax(format!(
                "EPC binary: {what} has characters after its end"
            )));
        } else if is_cset82(c) {
            s.push(char::from(c));
        } else {
            return Err(IdError::syntax(format!(
                "EPC binary: {what} holds byte 0x{c:02X}, not a GS1 character"
            )));
        }
    }
    let rest = end - b.pos;
    if b.get(rest) != 0 {
        return Err(IdError::syntax(format!(
            "EPC binary: {what} padding bits are not zero"
        )));
    }
    if s.is_empty() {
        return Err(IdError::syntax(format!("EPC binary: {what} is empty")));
    }
    Ok(s)
}

/// Stack buffer for zero-padded digits.
struct Digits {
    buf: [u8; 20],
    len: usize,
}
impl Digits {
    fn new(mut v: u64, n: usize) -> Self {
        let mut buf = [b'0'; 20];
        for i in (0..n).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        Digits { buf, len: n }
    }
    /// `v` in decimal without leading zeros.
    fn number(v: u64) -> Self {
        let n = (1..20).find(|&d| v < POW10[d]).unwrap_or(20);
        Digits::new(v, n)
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl EpcTag {
    /// A tag for `identity` with a company prefix of `gcp_len` digits (ignored for GID), checking
    /// that it fits `scheme`.
    pub fn new(
        scheme: Scheme,
        filter: u8,
        identity: Identity,
        gcp_len: usize,
    ) -> Result<EpcTag, IdError> {
        if filter > 7 {
            return Err(IdError::syntax(format!(
                "filter value {filter}: must be 0 to 7"
            )));
        }
        if identity.kind() != scheme.kind() {
            return Err(IdError::syntax(format!(
                "{scheme} cannot encode an {} identity",
                identity.kind().name().to_uppercase()
            )));
        }
        let gcp_len = if scheme.has_filter() { gcp_len } else { 0 };
        let (bits, hex_len) = encode_bits(scheme, filter, &identity, gcp_len)?;
        Ok(EpcTag {
            scheme,
            filter: if scheme.has_filter() { filter } else { 0 },
            identity,
            gcp_len,
            bits,
            hex_len,
        })
    }

    /// Encodes `identity` with its GCP length from `resolver`.
    pub fn encode(
        identity: Identity,
        scheme: Scheme,
        filter: u8,
        resolver: &GcpResolver,
    ) -> Result<EpcTag, IdError> {
        let len = identity.gcp_len(resolver)?;
        EpcTag::new(scheme, filter, identity, len)
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The filter value (0 for GID-96, which has none).
    pub fn filter(&self) -> u8 {
        self.filter
    }
    /// The partition (`None` for GID-96).
    pub fn partition(&self) -> Option<u8> {
        self.scheme
            .has_filter()
            .then(|| 12u8.saturating_sub(self.gcp_len as u8))
    }
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    pub fn into_identity(self) -> Identity {
        self.identity
    }
    /// Company prefix digits (0 for GID).
    pub fn gcp_len(&self) -> usize {
        self.gcp_len
    }
    /// The EPC pure identity URI.
    pub fn pure_uri(&self) -> String {
        super::uri::format_pure(&self.identity, self.gcp_len).unwrap_or_default()
    }
    /// The EPC tag URI.
    pub fn tag_uri(&self) -> String {
        format_tag(self)
    }
    /// The binary as upper-case hex, padded to 16-bit words.
    pub fn hex(&self) -> String {
        const H: &[u8; 16] = b"0123456789ABCDEF";
        let n = self.hex_len;
        let mut s = String::with_capacity(n);
        for i in 0..n {
            let byte = self.bits[i / 2];
            let nib = if i % 2 == 0 { byte >> 4 } else { byte & 0xf };
            s.push(char::from(H[usize::from(nib)]));
        }
        s
    }
    /// The binary, padded to 16-bit words.
    pub fn bytes(&self) -> &[u8] {
        &self.bits[..self.hex_len / 2]
    }
}

fn encode_bits(
    scheme: Scheme,
    filter: u8,
    id: &Identity,
    gcp_len: usize,
) -> Result<([u8; 32], usize), IdError> {
    let mut b = Bits::new();
    b.put(u64::from(scheme.header()), 8);
    if let Identity::Gid(g) = id {
        b.put(u64::from(g.manager()), 28);
        b.put(u64::from(g.class()), 24);
        b.put(g.serial(), 36);
    } else {
        let p = id.epc_parts(gcp_len)?;
        let partition = 12 - gcp_len;
        let gcp_bits = GCP_BITS[partition];
        let (total_bits, total_digits) = scheme.table();
        b.put(u64::from(filter), 3);
        b.put(partition as u64, 3);
        b.put(p.gcp.parse::<u64>().unwrap_or(0), gcp_bits);
        if total_bits > 0 {
            let rd = total_digits - gcp_len;
            if p.reference.len() != rd {
                return Err(IdError::syntax(format!(
                    "reference {:?} does not fit {scheme}: needs {rd} digits",
                    p.reference
                )));
            }
            let r = if rd == 0 {
                0
            } else {
                p.reference.parse::<u64>().unwrap_or(0)
            };
            b.put(r, total_bits - gcp_bits);
        }
        match scheme.tail() {
            Tail::Int(n) => b.put(int_serial(p.serial, n, "serial", scheme)?, n),
            Tail::Str(n) => put_str(&mut b, p.serial, n, (n / 7) as usize, "serial", scheme)?,
            Tail::NumStr(n) => {
                let s = p.serial;
                if s.is_empty() || s.len() > 12 || !s.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(IdError::syntax(format!(
                        "serial component {s:?} does not fit {scheme}: 1 to 12 digits"
                    )));
                }
                let v = POW10[s.len()] + s.parse::<u64>().unwrap_or(0);
                b.put(v, n);
            }
            Tail::Zero(n) => b.pos += n,
            Tail::GiaiInt => {
                let n = 82 - gcp_bits;
                b.put(int_serial(p.serial, n, "asset reference", scheme)?, n);
            }
            Tail::Cpi96 => {
                let (n, d) = CPI96_PART[partition];
                let r = &p.reference;
                if r.len() > d {
                    return Err(IdError::syntax(format!(
                        "part reference {r:?} does not fit {scheme}: at most {d} digits with a {gcp_len}-digit company prefix"
                    )));
                }
                b.put(int_serial(r, n, "part reference", scheme)?, n);
                b.put(int_serial(p.serial, 31, "serial", scheme)?, 31);
            }
            Tail::CpiVar => {
                for c in p.reference.bytes() {
                    b.put(u64::from(c & 0x3f), 6);
                }
                b.pos += 6;
                b.put(int_serial(p.serial, 40, "serial", scheme)?, 40);
            }
            Tail::GiaiStr => {
                let n = 188 - gcp_bits;
                put_str(&mut b, p.serial, n, 30 - gcp_len, "asset reference", scheme)?;
            }
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&b.buf[..32]);
    Ok((out, (b.pos as usize).div_ceil(16) * 4))
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes an EPC binary given as hex (either case; no prefix). The length must be exactly the
/// scheme's, padded to 16-bit words.
pub fn decode_hex(hex: &str) -> Result<EpcTag, IdError> {
    let h = hex.as_bytes();
    if h.len() < 2 {
        return Err(IdError::syntax("EPC binary: too short for a header"));
    }
    let header = match (hex_nibble(h[0]), hex_nibble(h[1])) {
        (Some(a), Some(b)) => a << 4 | b,
        _ => return Err(IdError::syntax("EPC binary: not hexadecimal")),
    };
    let scheme = Scheme::from_header(header).ok_or_else(|| {
        IdError::syntax(format!(
            "EPC binary: unknown or unsupported header 0x{header:02X}"
        ))
    })?;
    if h.len() > scheme.hex_len() || (scheme != Scheme::CpiVar && h.len() != scheme.hex_len()) {
        return Err(IdError::syntax(format!(
            "EPC binary: {scheme} needs {} bits ({} hex digits), found {} bits",
            scheme.bits(),
            scheme.hex_len(),
            h.len() * 4
        )));
    }
    let mut b = Bits::new();
    for (i, pair) in h.chunks(2).enumerate() {
        match (
            hex_nibble(pair[0]),
            pair.get(1).copied().and_then(hex_nibble),
        ) {
            (Some(a), Some(c)) => b.buf[i] = a << 4 | c,
            _ => return Err(IdError::syntax("EPC binary: not hexadecimal")),
        }
    }
    decode_bits(scheme, &mut b, h.len())
}

fn decode_bits(scheme: Scheme, b: &mut Bits, hex_len: usize) -> Result<EpcTag, IdError> {
    let raw = {
        let mut r = [0u8; 32];
        r.copy_from_slice(&b.buf[..32]);
        r
    };
    b.pos = 8;
    let (filter, gcp_len, identity) = if scheme == Scheme::Gid96 {
        let m = b.get(28);
        let c = b.get(24);
        let s = b.get(36);
        (0, 0, Identity::Gid(Gid::new(m, c, s)?))
    } else {
        let filter = b.get(3) as u8;
        let partition = b.get(3) as usize;
        if partition > 6 {
            return Err(IdError::syntax(format!(
                "EPC binary: invalid partition {partition} (must be 0 to 6)"
            )));
        }
        let gcp_len = 12 - partition;
        let gcp_bits = GCP_BITS[partition];
        let gcp = b.get(gcp_bits);
        if gcp >= POW10[gcp_len] {
            return Err(IdError::syntax(format!(
                "EPC binary: company prefix {gcp} has more than {gcp_len} digits"
            )));
        }
        let gcp = Digits::new(gcp, gcp_len);
        let (total_bits, total_digits) = scheme.table();
        let rd = total_digits.saturating_sub(gcp_len);
        let reference = if total_bits > 0 {
            let r = b.get(total_bits - gcp_bits);
            if r >= POW10[rd] {
                return Err(IdError::syntax(format!(
                    "EPC binary: reference {r} has more than {rd} digits"
                )));
            }
            Digits::new(r, rd)
        } else {
            Digits::new(0, 0)
        };
        let tmp: Digits;
        let owned: String;
        let mut cpi_part: Option<String> = None;
        let serial: &str = match scheme.tail() {
            Tail::Int(n) => {
                tmp = Digits::number(b.get(n));
                tmp.as_str()
            }
            Tail::Str(n) => {
                owned = get_str(b, n, "serial")?;
                &owned
            }
            Tail::NumStr(n) => {
                let v = b.get(n);
                let digits = (1..=12).find(|&d| v >= POW10[d] && v < 2 * POW10[d]);
                match digits {
                    Some(d) => {
                        tmp = Digits::new(v - POW10[d], d);
                        tmp.as_str()
                    }
                    None => {
                        return Err(IdError::syntax(format!(
                            "EPC binary: {v} is not a numeric-string serial component"
                        )))
                    }
                }
            }
            Tail::Zero(n) => {
                if b.get(n) != 0 {
                    return Err(IdError::syntax("EPC binary: reserved bits are not zero"));
                }
                ""
            }
            Tail::GiaiInt => {
                tmp = Digits::number(b.get(82 - gcp_bits));
                tmp.as_str()
            }
            Tail::Cpi96 => {
                let (n, d) = CPI96_PART[partition];
                let v = b.get(n);
                if v >= POW10[d] {
                    return Err(IdError::syntax(format!(
                        "EPC binary: CPI part reference {v} has more than {d} digits"
                    )));
                }
                cpi_part = Some(Digits::number(v).as_str().to_string());
                tmp = Digits::number(b.get(31));
                tmp.as_str()
            }
            Tail::CpiVar => {
                let mut part = String::new();
                loop {
                    let c = b.get(6) as u8;
                    if c == 0 {
                        break;
                    }
                    let ch = if c < 32 { c + 64 } else { c };
                    if !is_cset39(ch) || part.len() >= 30 - gcp_len {
                        return Err(IdError::syntax("EPC binary: bad CPI-var part reference"));
                    }
                    part.push(char::from(ch));
                }
                cpi_part = Some(part);
                let v = b.get(40);
                if v >= POW10[12] {
                    return Err(IdError::syntax("EPC binary: CPI serial above 12 digits"));
                }
                tmp = Digits::number(v);
                tmp.as_str()
            }
            Tail::GiaiStr => {
                owned = get_str(b, 188 - gcp_bits, "asset reference")?;
                if owned.len() > 30 - gcp_len {
                    return Err(IdError::syntax(
                        "EPC binary: asset reference longer than a GIAI allows",
                    ));
                }
                &owned
            }
        };
        let id = if scheme.kind() == Kind::Sgtin {
            // Fast path (the common RFID read): build the GTIN digits in place.
            let mut body = [0u8; 13];
            body[0] = reference.buf[0];
            body[1..1 + gcp_len].copy_from_slice(&gcp.buf[..gcp_len]);
            body[1 + gcp_len..].copy_from_slice(&reference.buf[1..rd]);
            let gtin = Gtin::from_body(body)
                .ok_or_else(|| IdError::syntax("EPC binary: bad GTIN digits"))?;
            Identity::Sgtin {
                gtin,
                serial: Serial::new(serial)?,
            }
        } else {
            let r = cpi_part.as_deref().unwrap_or(reference.as_str());
            Identity::from_epc_parts(scheme.kind(), gcp.as_str(), r, serial)?
        };
        (filter, gcp_len, id)
    };
    if scheme == Scheme::CpiVar && (b.pos as usize).div_ceil(16) * 4 != hex_len {
        return Err(IdError::syntax(format!(
            "EPC binary: this cpi-var needs {} hex digits, found {hex_len}",
            (b.pos as usize).div_ceil(16) * 4
        )));
    }
    // Padding to the 16-bit word must be zero.
    let end = (hex_len * 4) as u32;
    while b.pos < end {
        let n = (end - b.pos).min(64);
        if b.get(n) != 0 {
            return Err(IdError::syntax("EPC binary: padding bits are not zero"));
        }
    }
    Ok(EpcTag {
        scheme,
        filter,
        identity,
        gcp_len,
        bits: raw,
        hex_len,
    })
}
