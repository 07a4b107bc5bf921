//! Serial provisioning (sequential, pattern, random) and commissioning.
//!
//! Every allocated serial is claimed in the store ([`RecordStore::claim_serials`]), whatever the
//! method, so that serials are unique per GTIN across methods, requests and server processes, and
//! so that [`is_allocated`] is one lookup. Sequential and pattern serials take their numbers from an
//! atomic counter per (GTIN, prefix, width) ([`RecordStore::bump_counter`]); random serials are
//! drawn from the operating system's CSPRNG. An allocation is a record (`serial-allocation`) with
//! its id, GTIN, method, count, who, when and the serials; a GTIN with at least one allocation has
//! a `serial-gtin` record, which turns on the "foreign serial" checks of verification and alerts.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use unitrace_id::identity::{Gtin, Serial};
use unitrace_id::{GcpResolver, Identity};
use unitrace_store::limits::MAX_RECORD_ITEMS_PER_CALL;
use unitrace_store::{RecordStore, Store, StoreError};

use crate::emit::{self, ObjectEventSpec};
use crate::{OpsError, OpsResult};

/// Record kind of allocations (key: allocation id).
pub const KIND_ALLOCATION: &str = "serial-allocation";
/// Record kind marking a GTIN that has allocations (key: GTIN, 14 digits).
pub const KIND_GTIN: &str = "serial-gtin";
/// Most serials in one allocation (one all-or-nothing claim).
pub const MAX_ALLOCATION: usize = MAX_RECORD_ITEMS_PER_CALL;
/// Most units in one commissioning request.
pub const MAX_COMMISSION: usize = MAX_RECORD_ITEMS_PER_CALL;
/// Longest serial, AI (21).
pub const MAX_SERIAL_LEN: usize = 20;
/// Alphabet of random serials: digits and capitals without 0/O, 1/I (32 symbols, all in GS1
/// character set 82 and safe in EPC URIs and Digital Links without escaping).
pub const RANDOM_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// EU FMD: the chance of guessing a valid serial must stay below 1 in this.
pub const GUESS_FACTOR: u128 = 10_000;
/// Length of the random part when none is asked for.
pub const DEFAULT_RANDOM_LEN: usize = 12;

/// How serials are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// Decimal numbers 1, 2, 3, ... (no padding), from one counter per GTIN.
    Sequential,
    /// `prefix` followed by a decimal number zero-padded to `width` digits, from one counter per
    /// (GTIN, prefix, width): `LOT7-000001`, `LOT7-000002`, ...
    Pattern { prefix: String, width: usize },
    /// `prefix` followed by `length` symbols of [`RANDOM_ALPHABET`] from the OS CSPRNG.
    Random {
        #[serde(default)]
        prefix: String,
        #[serde(default = "default_random_len")]
        length: usize,
    },
}

fn default_random_len() -> usize {
    DEFAULT_RANDOM_LEN
}

/// A request for serials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationRequest {
    /// GTIN-8/12/13/14.
    pub gtin: String,
    pub count: usize,
    #[serde(flatten)]
    pub method: Method,
}

/// A stored allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub id: String,
    pub gtin: String,
    #[serde(flatten)]
    pub method: Method,
    pub count: usize,
    pub requested_by: String,
    pub created_ms: i64,
    /// For counter methods: the first and last number of the range.
    pub range: Option<(u64, u64)>,
    pub serials: Vec<String>,
}

impl Allocation {
    /// The allocation without its serial list (for listings).
    pub fn summary(&self) -> Value {
        json!({
            "id": self.id,
            "gtin": self.gtin,
            "method": self.method,
            "count": self.count,
            "requested_by": self.requested_by,
            "created_ms": self.created_ms,
            "range": self.range,
            "first": self.serials.first(),
            "last": self.serials.last(),
        })
    }
}

fn invalid(m: impl Into<String>) -> OpsError {
    OpsError::Invalid(m.into())
}

/// 8, 12, 13 or 14 digits with a good check digit -> 14 digits.
pub fn normalise_gtin(g: &str) -> OpsResult<String> {
    Gtin::parse_any(g.trim())
        .map(|g| g.as_str().to_string())
        .map_err(|e| invalid(format!("gtin {g:?}: {e}")))
}

/// Checks a serial against AI (21): 1 to 20 characters of GS1 character set 82.
pub fn check_serial(s: &str) -> OpsResult<()> {
    Serial::new(s)
        .map(|_| ())
        .map_err(|e| invalid(format!("serial {s:?}: {e}")))
}

/// Whether `length` random symbols of an alphabet of `alphabet` symbols leave the chance of
/// guessing one of `issued` serials below 1 in [`GUESS_FACTOR`] (space >= factor * issued).
pub fn random_space_ok(alphabet: usize, length: usize, issued: u128) -> bool {
    let mut space: u128 = 1;
    for _ in 0..length {
        space = match space.checked_mul(alphabet as u128) {
            Some(s) => s,
            None => return true,
        };
    }
    issued
        .checked_mul(GUESS_FACTOR)
        .is_some_and(|need| space >= need)
}

/// Checks the shape of a method (lengths, characters) before anything is counted or claimed.
pub fn check_method(m: &Method, count: usize) -> OpsResult<()> {
    if count == 0 || count > MAX_ALLOCATION {
        return Err(invalid(format!(
            "count must be 1 to {MAX_ALLOCATION}, got {count} (ask again for more)"
        )));
    }
    match m {
        Method::Sequential => Ok(()),
        Method::Pattern { prefix, width } => {
            if *width == 0 || prefix.len() + width > MAX_SERIAL_LEN {
                return Err(invalid(format!(
                    "pattern: width must be at least 1 and prefix + width at most \
                     {MAX_SERIAL_LEN} characters (AI 21), got prefix {} + width {width}",
                    prefix.len()
                )));
            }
            if !prefix.is_empty() {
                check_serial(prefix).map_err(|e| invalid(format!("pattern prefix: {e}")))?;
            }
            Ok(())
        }
        Method::Random { prefix, length } => {
            if *length == 0 || prefix.len() + length > MAX_SERIAL_LEN {
                return Err(invalid(format!(
                    "random: length must be at least 1 and prefix + length at most \
                     {MAX_SERIAL_LEN} characters (AI 21), got prefix {} + length {length}",
                    prefix.len()
                )));
            }
            if !prefix.is_empty() {
                check_serial(prefix).map_err(|e| invalid(format!("random prefix: {e}")))?;
            }
            if !random_space_ok(RANDOM_ALPHABET.len(), *length, count as u128) {
                return Err(invalid(format!(
                    "random: {length} symbols give too few serials for {count} (EU FMD: the \
                     serial space must be at least {GUESS_FACTOR} times the number issued)"
                )));
            }
            Ok(())
        }
    }
}

/// The serial of number `n` of a counter method.
pub fn counter_serial(m: &Method, n: u64) -> Option<String> {
    match m {
        Method::Sequential => Some(n.to_string()),
        Method::Pattern { prefix, width } => {
            let digits = n.to_string();
            (digits.len() <= *width).then(|| format!("{prefix}{digits:0>width$}"))
        }
        Method::Random { .. } => None,
    }
}

/// Highest number a counter method can write.
fn counter_max(m: &Method) -> u64 {
    match m {
        Method::Pattern { width, .. } if *width < 20 => 10u64.pow(*width as u32) - 1,
        _ => u64::MAX / 2,
    }
}

/// `count` random serials (distinct among themselves).
fn random_serials(prefix: &str, length: usize, count: usize) -> OpsResult<Vec<String>> {
    let mut out = std::collections::BTreeSet::new();
    let mut buf = vec![0u8; length];
    while out.len() < count {
        getrandom::fill(&mut buf)
            .map_err(|e| OpsError::Invalid(format!("no random numbers from the system: {e}")))?;
        // 256 is a multiple of 32: masking keeps the symbols uniform.
        let s: String = buf
            .iter()
            .map(|b| char::from(RANDOM_ALPHABET[usize::from(b & 31)]))
            .collect();
        out.insert(format!("{prefix}{s}"));
    }
    Ok(out.into_iter().collect())
}

fn counter_name(gtin: &str, m: &Method) -> String {
    match m {
        Method::Sequential => format!("serial-seq:{gtin}"),
        Method::Pattern { prefix, width } => format!("serial-pattern:{gtin}:{width}:{prefix}"),
        Method::Random { prefix, length } => format!("serial-random:{gtin}:{length}:{prefix}"),
    }
}

/// Allocate serials: count them out or draw them, claim them all or nothing, record the
/// allocation. Unique per GTIN also under concurrent requests on one database.
pub async fn allocate(
    store: &dyn Store,
    req: &AllocationRequest,
    who: &str,
    now_ms: i64,
) -> OpsResult<Allocation> {
    let gtin = normalise_gtin(&req.gtin)?;
    check_method(&req.method, req.count)?;
    let n = req.count as i64;
    let id = format!(
        "SA{:08}",
        store.bump_counter("serial-allocation-id", 1).await? + 1
    );
    let (serials, range) = match &req.method {
        Method::Random { prefix, length } => {
            // The guessing rule counts every serial ever issued under this shape.
            let before = store
                .bump_counter(&counter_name(&gtin, &req.method), n)
                .await?;
            let issued = before as u128 + req.count as u128;
            if !random_space_ok(RANDOM_ALPHABET.len(), *length, issued) {
                return Err(invalid(format!(
                    "random: {issued} serials of {length} symbols for GTIN {gtin} would make \
                     guessing one likelier than 1 in {GUESS_FACTOR} (EU FMD); use a longer length"
                )));
            }
            let mut serials = random_serials(prefix, *length, req.count)?;
            let mut tries = 0;
            loop {
                let taken = store.claim_serials(&gtin, &serials, &id).await?;
                if taken.is_empty() {
                    break;
                }
                tries += 1;
                if tries > 5 {
                    return Err(OpsError::Conflict(format!(
                        "random serials of GTIN {gtin} kept colliding with claimed ones"
                    )));
                }
                serials.retain(|s| !taken.contains(s));
                let more = random_serials(prefix, *length, taken.len())?;
                serials.extend(more);
                serials.sort();
                serials.dedup();
                if serials.len() < req.count {
                    let extra = random_serials(prefix, *length, req.count - serials.len())?;
                    serials.extend(extra);
                    serials.sort();
                    serials.dedup();
                }
            }
            (serials, None)
        }
        m => {
            // A range taken by a counter may still collide with serials claimed by another
            // method (a pattern without prefix looks like a sequential number): try new ranges.
            let mut tries = 0;
            loop {
                let before = store.bump_counter(&counter_name(&gtin, m), n).await? as u64;
                let (first, last) = (before + 1, before + req.count as u64);
                if last > counter_max(m) {
                    return Err(OpsError::Conflict(format!(
                        "the serial range of GTIN {gtin} for this pattern is exhausted \
                         (next would be {first}, the pattern holds up to {})",
                        counter_max(m)
                    )));
                }
                let serials: Vec<String> = (first..=last)
                    .filter_map(|i| counter_serial(m, i))
                    .collect();
                let taken = store.claim_serials(&gtin, &serials, &id).await?;
                if taken.is_empty() {
                    break (serials, Some((first, last)));
                }
                tries += 1;
                if tries > 5 {
                    return Err(OpsError::Conflict(format!(
                        "serials {}.. of GTIN {gtin} are already claimed by other allocations",
                        taken[0]
                    )));
                }
            }
        }
    };
    let alloc = Allocation {
        id: id.clone(),
        gtin: gtin.clone(),
        method: req.method.clone(),
        count: serials.len(),
        requested_by: who.to_string(),
        created_ms: now_ms,
        range,
        serials,
    };
    let body = serde_json::to_value(&alloc)
        .map_err(|e| invalid(format!("cannot write the allocation: {e}")))?;
    store.create_record(KIND_ALLOCATION, &id, &body).await?;
    match store
        .create_record(KIND_GTIN, &gtin, &json!({"first_allocation": id}))
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(alloc)
}

/// One allocation.
pub async fn get_allocation(store: &dyn RecordStore, id: &str) -> OpsResult<Allocation> {
    let rec = store
        .get_record(KIND_ALLOCATION, id)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("no serial allocation {id:?}")))?;
    serde_json::from_value(rec.body)
        .map_err(|e| OpsError::Store(StoreError::Corrupt(format!("allocation {id}: {e}"))))
}

/// Allocations in id order after `after`, at most `limit`, optionally of one GTIN.
pub async fn list_allocations(
    store: &dyn RecordStore,
    gtin: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> OpsResult<Vec<Allocation>> {
    let gtin = gtin.map(normalise_gtin).transpose()?;
    let mut out = Vec::new();
    let mut cursor = after.map(str::to_string);
    // Bounded scan: at most 20 pages of records for one answer.
    for _ in 0..20 {
        let page = store
            .list_records(KIND_ALLOCATION, cursor.as_deref(), 500)
            .await?;
        let done = page.len() < 500;
        for rec in page {
            cursor = Some(rec.key.clone());
            let a: Allocation = serde_json::from_value(rec.body).map_err(|e| {
                OpsError::Store(StoreError::Corrupt(format!("allocation {}: {e}", rec.key)))
            })?;
            if gtin.as_deref().is_none_or(|g| g == a.gtin) {
                out.push(a);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        if done {
            break;
        }
    }
    Ok(out)
}

/// Whether the GTIN has any allocation (then serials outside them are foreign).
pub async fn gtin_has_allocations(store: &dyn RecordStore, gtin: &str) -> OpsResult<bool> {
    Ok(store.get_record(KIND_GTIN, gtin).await?.is_some())
}

/// The allocation that holds `serial` of `gtin` (14 digits), if any.
pub async fn is_allocated(
    store: &dyn RecordStore,
    gtin: &str,
    serial: &str,
) -> OpsResult<Option<String>> {
    let claims = store.serial_claims(gtin, &[serial.to_string()]).await?;
    Ok(claims.into_iter().next().map(|(_, a)| a))
}

/// A unit named in any identifier form: its store key and, for an SGTIN, GTIN and serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitId {
    /// EPC pure identity URI (the store key).
    pub epc: String,
    pub sgtin: Option<(String, String)>,
    /// The AI pairs of the input (lot (10) and expiry (17) when scanned with them).
    pub ais: Vec<(String, String)>,
}

/// Parse any identifier form (Digital Link, EPC URI, element string, scan data, hex).
pub fn identify(input: &str) -> OpsResult<UnitId> {
    let input = input.trim();
    let p = unitrace_id::parse_any(input)
        .map_err(|e| invalid(format!("{input:?} is not a valid identifier: {e}")))?;
    let epc = p
        .epc_uri(&GcpResolver::new())
        .map_err(|e| invalid(format!("{input:?} names no unit with an EPC: {e}")))?;
    let sgtin = match &p.identity {
        Some(Identity::Sgtin { gtin, serial }) => {
            Some((gtin.as_str().to_string(), serial.as_str().to_string()))
        }
        _ => None,
    };
    Ok(UnitId {
        epc,
        sgtin,
        ais: p.ais().to_vec(),
    })
}

/// The EPC URI of a serial of a GTIN.
pub fn sgtin_epc(gtin: &str, serial: &str) -> OpsResult<String> {
    let id = Identity::Sgtin {
        gtin: Gtin::new(gtin).map_err(|e| invalid(format!("gtin {gtin}: {e}")))?,
        serial: Serial::new(serial).map_err(|e| invalid(format!("serial {serial:?}: {e}")))?,
    };
    id.to_epc_uri(&GcpResolver::new())
        .map_err(|e| invalid(format!("GTIN {gtin}: {e}")))
}

/// A location in any form (SGLN EPC URI, GLN element string, Digital Link) -> SGLN EPC URI.
pub fn location_id(input: &str) -> OpsResult<String> {
    let u = identify(input).map_err(|e| invalid(format!("location: {e}")))?;
    if !u.epc.starts_with("urn:epc:id:sgln:") {
        return Err(invalid(format!(
            "location {input:?} is not a location (GLN / SGLN)"
        )));
    }
    Ok(u.epc)
}

/// What to commission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CommissionRequest {
    /// Commission serials of this allocation (all of them when `units` is empty).
    #[serde(default)]
    pub allocation: Option<String>,
    /// Units in any identifier form, or bare serials when `allocation` or `gtin` is given.
    #[serde(default)]
    pub units: Vec<String>,
    #[serde(default)]
    pub gtin: Option<String>,
    pub lot: Option<String>,
    /// `YYYY-MM-DD`.
    pub expiry: Option<String>,
    /// Where (SGLN in any form): bizLocation and readPoint of the event.
    pub location: String,
}

/// The outcome of a commissioning.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commissioned {
    pub epcs: Vec<String>,
    pub event_hash_ids: Vec<String>,
}

/// `YYYY-MM-DD` with a real day.
pub fn check_date(what: &str, d: &str) -> OpsResult<()> {
    crate::verify::date_days(d)
        .map(|_| ())
        .ok_or_else(|| invalid(format!("{what} must be a date YYYY-MM-DD, got {d:?}")))
}

/// Commission units: ObjectEvent ADD, bizStep commissioning, disposition active, lot and
/// expiry in the ILMD. Refuses serials outside the GTIN's allocations (when it has any), serials of
/// another allocation than the one named, and units already commissioned.
pub async fn commission(
    store: &dyn Store,
    req: &CommissionRequest,
    now_ms: i64,
) -> OpsResult<Commissioned> {
    let location = location_id(&req.location)?;
    if let Some(l) = &req.lot {
        unitrace_id::identity::Serial::new(l)
            .map_err(|e| invalid(format!("lot {l:?}: {e}").replace("serial", "lot")))?;
    }
    if let Some(x) = &req.expiry {
        check_date("expiry", x)?;
    }
    let alloc = match &req.allocation {
        Some(a) => Some(get_allocation(store, a).await?),
        None => None,
    };
    let gtin_hint = match (&alloc, &req.gtin) {
        (Some(a), Some(g)) if normalise_gtin(g)? != a.gtin => {
            return Err(invalid(format!(
                "gtin {g} differs from the GTIN {} of allocation {}",
                a.gtin, a.id
            )))
        }
        (Some(a), _) => Some(a.gtin.clone()),
        (None, Some(g)) => Some(normalise_gtin(g)?),
        (None, None) => None,
    };
    let inputs: Vec<String> = match (&alloc, req.units.is_empty()) {
        (Some(a), true) => a.serials.clone(),
        (None, true) => return Err(invalid("no units to commission: give units or allocation")),
        _ => req.units.clone(),
    };
    if inputs.len() > MAX_COMMISSION {
        return Err(invalid(format!(
            "{} units in one commissioning, more than {MAX_COMMISSION}",
            inputs.len()
        )));
    }
    // (epc, gtin, serial)
    let mut units: Vec<(String, String, String)> = Vec::with_capacity(inputs.len());
    let mut seen = std::collections::HashSet::new();
    for (i, u) in inputs.iter().enumerate() {
        let looks_like_id = u.contains(':') || u.starts_with('(') || u.starts_with(']');
        let (epc, g, s) = match (&gtin_hint, looks_like_id) {
            (Some(g), false) => {
                check_serial(u).map_err(|e| invalid(format!("units[{i}]: {e}")))?;
                (sgtin_epc(g, u)?, g.clone(), u.clone())
            }
            _ => {
                let id = identify(u).map_err(|e| invalid(format!("units[{i}]: {e}")))?;
                let Some((g, s)) = id.sgtin else {
                    return Err(invalid(format!(
                        "units[{i}]: {u:?} is not a serialised trade item (SGTIN)"
                    )));
                };
                if let Some(h) = &gtin_hint {
                    if *h != g {
                        return Err(invalid(format!(
                            "units[{i}]: GTIN {g} differs from the GTIN {h} of this request"
                        )));
                    }
                }
                (id.epc, g, s)
            }
        };
        if !seen.insert(epc.clone()) {
            return Err(invalid(format!("units[{i}]: {epc} appears twice")));
        }
        units.push((epc, g, s));
    }
    // Serials must be allocated (by the named allocation) when their GTIN has allocations.
    let mut by_gtin: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (_, g, s) in &units {
        by_gtin.entry(g.as_str()).or_default().push(s.clone());
    }
    for (g, serials) in &by_gtin {
        let claims = store.serial_claims(g, serials).await?;
        if let Some(a) = &alloc {
            if let Some((s, other)) = claims.iter().find(|(_, c)| *c != a.id) {
                return Err(OpsError::Conflict(format!(
                    "serial {s} of GTIN {g} belongs to allocation {other}, not {}",
                    a.id
                )));
            }
        }
        let claimed: std::collections::HashSet<&str> =
            claims.iter().map(|(s, _)| s.as_str()).collect();
        let missing: Vec<&String> = serials
            .iter()
            .filter(|s| !claimed.contains(s.as_str()))
            .collect();
        if !missing.is_empty() && (alloc.is_some() || gtin_has_allocations(store, g).await?) {
            return Err(invalid(format!(
                "{} serial(s) of GTIN {g} were never allocated, e.g. {:?}: allocate them first \
                 (POST /serials)",
                missing.len(),
                missing[0]
            )));
        }
    }
    let epcs: Vec<String> = units.iter().map(|(e, _, _)| e.clone()).collect();
    let mut already = Vec::new();
    for chunk in epcs.chunks(1000) {
        for st in store.unit_states(chunk).await? {
            if st.commissioned_at.is_some() {
                already.push(st.epc);
            }
        }
    }
    if !already.is_empty() {
        already.sort();
        return Err(OpsError::Conflict(format!(
            "{} unit(s) already commissioned, e.g. {}",
            already.len(),
            already[0]
        )));
    }
    let mut fields = Vec::new();
    if let Some(a) = &alloc {
        fields.push(("allocation".to_string(), json!(a.id)));
    }
    let spec = ObjectEventSpec {
        event_time_ms: now_ms,
        action: "ADD",
        epcs: epcs.clone(),
        biz_step: Some("commissioning".into()),
        disposition: Some("active".into()),
        read_point: Some(location.clone()),
        biz_location: Some(location),
        lot: req.lot.clone(),
        expiry: req.expiry.clone(),
        fields,
        ..Default::default()
    };
    let res = emit::capture(store, &[spec], now_ms).await?;
    Ok(Commissioned {
        epcs,
        event_hash_ids: res.hash_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessing_rule() {
        // 32^3 = 32768 serials: 3 may be issued (30,000 <= 32,768), 4 may not.
        assert!(random_space_ok(32, 3, 3));
        assert!(!random_space_ok(32, 3, 4));
        assert!(random_space_ok(32, 20, u64::MAX as u128));
        assert!(!random_space_ok(32, 0, 1));
    }

    #[test]
    fn counter_serials() {
        assert_eq!(counter_serial(&Method::Sequential, 42).unwrap(), "42");
        let p = Method::Pattern {
            prefix: "L7-".into(),
            width: 4,
        };
        assert_eq!(counter_serial(&p, 42).unwrap(), "L7-0042");
        assert_eq!(counter_serial(&p, 10_000), None);
        assert_eq!(counter_max(&p), 9999);
    }

    #[test]
    fn method_shapes() {
        assert!(check_method(&Method::Sequential, 0).is_err());
        assert!(check_method(&Method::Sequential, MAX_ALLOCATION + 1).is_err());
        let long = Method::Pattern {
            prefix: "ABCDEFGHIJKLMNOP".into(),
            width: 5,
        };
        assert!(check_method(&long, 1).is_err());
        let bad = Method::Pattern {
            prefix: "A B".into(),
            width: 5,
        };
        assert!(check_method(&bad, 1).is_err());
        let short = Method::Random {
            prefix: String::new(),
            length: 3,
        };
        assert!(check_method(&short, 3).is_ok());
        assert!(check_method(&short, 4).is_err());
    }

    #[test]
    fn random_serials_are_valid_and_distinct() {
        let s = random_serials("X", 12, 1000).unwrap();
        assert_eq!(s.len(), 1000);
        for x in &s {
            assert_eq!(x.len(), 13);
            check_serial(x).unwrap();
        }
    }
}
