//! Receiving against an expected list, with live reconciliation.
//!
//! A receiving session (record kind [`KIND`]) is opened at a location with an expected list: units
//! and SSCCs in any identifier form, or the units of the sender's shipping events (found by a
//! business transaction such as a despatch advice, or by event IDs). An expected SSCC brings its
//! known contents (containment tree) onto the list. Scans arrive one per line or one per request;
//! scanning an SSCC receives its known contents by inference. Every observation is its own record
//! item under a sequence number from an atomic counter, so concurrent clients never overwrite each
//! other's scans. The reconciliation ([`reconcile`], pure) is computed from the stored items
//! whenever it is read; closing freezes it (the sequence number of the last observation counted),
//! writes `receiving` ObjectEvents for the received units and refuses a second close.
//!
//! The helpers shared with cycle counts and recalls live here too: identifier parsing for scans,
//! placement of units through their containers ([`place`]), the location hierarchy ([`Places`]),
//! the condition of a unit ([`condition`]) and the scan ingestion of sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use unitrace_id::identity::Kind;
use unitrace_id::GcpResolver;
use unitrace_store::limits::{
    MAX_CONTAINMENT_DEPTH, MAX_LIST_UNITS, MAX_RECORD_ITEMS_PER_CALL, MAX_RECORD_PAGE,
};
use unitrace_store::{EventQuery, Record, RecordItem, Store, StoreError, UnitState};

use crate::emit::{self, ObjectEventSpec};
use crate::{OpsError, OpsResult};

/// Record kind of receiving sessions (key: session id). Items: `e:<epc>` expected units,
/// `s:<seq>` observations.
pub const KIND: &str = "receiving";
/// Most units on one expected list (after SSCC contents are added).
pub const MAX_EXPECTED: usize = 100_000;
/// Most scans in one request (lines of a text body).
pub const MAX_SCANS_PER_REQUEST: usize = MAX_RECORD_ITEMS_PER_CALL;
/// Most observations (scans and units inferred from SSCC contents) in one request: one
/// all-or-nothing write.
pub const MAX_OBSERVATIONS_PER_REQUEST: usize = MAX_RECORD_ITEMS_PER_CALL;
/// Most observations in one session (receiving or count).
pub const MAX_OBSERVATIONS_PER_SESSION: u64 = 200_000;
/// Most shipping events an expected list is taken from.
pub const MAX_SHIPPING_EVENTS: usize = 10_000;
/// Most distinct locations looked up by one operation.
pub const MAX_PLACES: usize = 100_000;
/// Most entries of each list in a reconciliation answer (counts are always complete).
pub const MAX_LIST_IN_ANSWER: usize = 10_000;

fn invalid(m: impl Into<String>) -> OpsError {
    OpsError::Invalid(m.into())
}

// ------------------------------------------------------------------------------------------
// Identifiers

fn resolver() -> &'static GcpResolver {
    static R: OnceLock<GcpResolver> = OnceLock::new();
    R.get_or_init(GcpResolver::new)
}

/// The EPC URI and kind of a serialised unit (item or logistic unit) given in any identifier
/// form; the error says what is wrong with the input.
pub fn unit_epc(input: &str) -> Result<(String, Kind), String> {
    let input = input.trim();
    let p = unitrace_id::parse_any(input)
        .map_err(|e| format!("{input:?} is not a valid identifier: {e}"))?;
    let kind = match &p.identity {
        Some(i) => i.kind(),
        None => {
            return Err(format!(
                "{input:?} names no serialised unit (a GTIN needs a serial, AI (21))"
            ))
        }
    };
    if matches!(kind, Kind::Sgln | Kind::Pgln) {
        return Err(format!("{input:?} is a location or party, not a unit"));
    }
    let epc = p
        .epc_uri(resolver())
        .map_err(|e| format!("{input:?}: {e}"))?;
    Ok((epc, kind))
}

/// A location (SGLN EPC URI, GLN element string with extension, Digital Link) as its SGLN EPC
/// URI; `what` names the field in the error.
pub fn location_epc(what: &str, input: &str) -> OpsResult<String> {
    let input = input.trim();
    let p = unitrace_id::parse_any(input)
        .map_err(|e| invalid(format!("{what}: {input:?} is not a valid identifier: {e}")))?;
    match &p.identity {
        Some(i) if i.kind() == Kind::Sgln => p
            .epc_uri(resolver())
            .map_err(|e| invalid(format!("{what}: {input:?}: {e}"))),
        _ => Err(invalid(format!(
            "{what}: {input:?} is not a location (an SGLN, or a GLN (414) with extension (254))"
        ))),
    }
}

/// Parses every scan line; all or nothing: the error names each bad line (1-based, at most 20).
pub fn parse_scans(inputs: &[String]) -> OpsResult<Vec<(String, Kind)>> {
    if inputs.is_empty() {
        return Err(invalid("no scans given"));
    }
    if inputs.len() > MAX_SCANS_PER_REQUEST {
        return Err(invalid(format!(
            "{} scans in one request, more than the limit of {MAX_SCANS_PER_REQUEST}",
            inputs.len()
        )));
    }
    let mut out = Vec::with_capacity(inputs.len());
    let mut bad = Vec::new();
    for (i, s) in inputs.iter().enumerate() {
        match unit_epc(s) {
            Ok(x) => out.push(x),
            Err(e) => bad.push(format!("scan {}: {e}", i + 1)),
        }
    }
    if !bad.is_empty() {
        let n = bad.len();
        bad.truncate(20);
        return Err(invalid(format!(
            "{n} scan(s) not readable, nothing was recorded: {}",
            bad.join("; ")
        )));
    }
    Ok(out)
}

/// Scan lines of a text body: one identifier per line, blank lines ignored.
pub fn scan_lines(body: &str) -> Vec<String> {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Time in an RFC 3339 text -> milliseconds since the epoch.
pub fn time_ms(what: &str, s: &str) -> OpsResult<i64> {
    unitrace_epcis::time::parse_instant(s.trim())
        .map(|(i, _)| i.unix_millis())
        .map_err(|e| invalid(format!("{what}: {s:?} is not an RFC 3339 time: {e}")))
}

/// RFC 3339 text of epoch milliseconds.
pub fn time_text(ms: i64) -> String {
    unitrace_epcis::time::Instant::format_millis(ms.div_euclid(1000), ms.rem_euclid(1000) as u32)
}

fn cbv(kind: unitrace_epcis::vocab::VocabKind, s: &str) -> String {
    unitrace_capture::normalise_cbv(kind, s)
}

// ------------------------------------------------------------------------------------------
// Where a unit is and in what condition

/// What a unit's disposition says about it, in the words of a recall or a count.
pub fn condition(disposition: Option<&str>) -> &'static str {
    let d = disposition.map(|d| cbv(unitrace_epcis::vocab::VocabKind::Disposition, d));
    match d.as_deref() {
        Some("dispensed" | "partially_dispensed") => "dispensed",
        Some("retail_sold") => "sold",
        Some("destroyed" | "disposed") => "destroyed",
        Some("inactive") => "decommissioned",
        Some("stolen") => "stolen",
        Some("unknown") => "unaccounted",
        Some("in_transit") => "in_transit",
        _ => "in_stock",
    }
}

/// Whether a disposition marks the unit as recalled (current or persistent).
pub fn is_recalled(st: &UnitState) -> bool {
    let r = |d: &str| cbv(unitrace_epcis::vocab::VocabKind::Disposition, d) == "recalled";
    st.disposition.as_deref().is_some_and(r) || st.persistent_dispositions.iter().any(|d| r(d))
}

/// A unit with where it is and its disposition, through its current containers.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub state: UnitState,
    /// Newest bizLocation of the unit or its containers.
    pub location: Option<String>,
    /// Newest disposition of the unit or its containers (by their latest events).
    pub disposition: Option<String>,
    /// The unit or container whose events gave `disposition`.
    pub disposition_holder: String,
    /// Containers holding it now, nearest first.
    pub containers: Vec<String>,
}

/// Placement of one unit, reading its containers through `lookup` (pure).
pub fn placed<'a>(st: &'a UnitState, lookup: impl Fn(&str) -> Option<&'a UnitState>) -> Placed {
    let mut chain: Vec<&UnitState> = vec![st];
    let mut parent = st.parent.as_deref();
    while let Some(p) = parent {
        if chain.len() > MAX_CONTAINMENT_DEPTH || chain.iter().any(|c| c.epc == p) {
            break;
        }
        let Some(ps) = lookup(p) else { break };
        chain.push(ps);
        parent = ps.parent.as_deref();
    }
    let mut loc: Option<(&str, i64)> = None;
    let mut disp: Option<(&UnitState, (i64, i64))> = None;
    for c in &chain {
        if let (Some(l), Some(t)) = (&c.biz_location, c.location_time) {
            if loc.is_none_or(|(_, b)| t > b) {
                loc = Some((l, t));
            }
        }
        if c.disposition.is_some() {
            let k = (c.last_event_time, c.last_event_seq);
            if disp.is_none_or(|(_, b)| k > b) {
                disp = Some((c, k));
            }
        }
    }
    Placed {
        location: loc.map(|(l, _)| l.to_string()),
        disposition: disp.and_then(|(c, _)| c.disposition.clone()),
        disposition_holder: disp.map_or_else(|| st.epc.clone(), |(c, _)| c.epc.clone()),
        containers: chain[1..].iter().map(|c| c.epc.clone()).collect(),
        state: st.clone(),
    }
}

/// States of the given units that exist, read in batches.
pub async fn states_of(store: &dyn Store, epcs: &[String]) -> OpsResult<Vec<UnitState>> {
    let mut out = Vec::with_capacity(epcs.len());
    for chunk in epcs.chunks(MAX_LIST_UNITS as usize) {
        out.extend(store.unit_states(chunk).await?);
    }
    Ok(out)
}

/// Places units: reads their containers (and theirs) in batches, then [`placed`].
pub async fn place(store: &dyn Store, units: Vec<UnitState>) -> OpsResult<Vec<Placed>> {
    let mut known: HashMap<String, UnitState> = HashMap::new();
    let mut frontier: Vec<String> = units.iter().filter_map(|u| u.parent.clone()).collect();
    for _ in 0..MAX_CONTAINMENT_DEPTH {
        frontier.sort();
        frontier.dedup();
        frontier.retain(|p| !known.contains_key(p));
        if frontier.is_empty() {
            break;
        }
        let found = states_of(store, &frontier).await?;
        frontier = found.iter().filter_map(|s| s.parent.clone()).collect();
        known.extend(found.into_iter().map(|s| (s.epc.clone(), s)));
    }
    Ok(units.iter().map(|u| placed(u, |e| known.get(e))).collect())
}

/// A location's name and parent in the master data.
type NameParent = (Option<String>, Option<String>);

/// The location hierarchy (master data), read once per location and cached.
pub struct Places<'a> {
    store: &'a dyn Store,
    /// id -> (name, parent); None when the location has no master data.
    known: HashMap<String, Option<NameParent>>,
}

impl<'a> Places<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        Places {
            store,
            known: HashMap::new(),
        }
    }

    async fn get(&mut self, id: &str) -> OpsResult<Option<NameParent>> {
        if let Some(v) = self.known.get(id) {
            return Ok(v.clone());
        }
        if self.known.len() >= MAX_PLACES {
            return Err(invalid(format!(
                "more than {MAX_PLACES} distinct locations in one operation"
            )));
        }
        let v = self
            .store
            .get_location(id)
            .await?
            .map(|l| (l.name, l.parent_id));
        self.known.insert(id.to_string(), v.clone());
        Ok(v)
    }

    /// Whether `loc` is `root` or below it in the hierarchy.
    pub async fn within(&mut self, loc: &str, root: &str) -> OpsResult<bool> {
        let mut cur = loc.to_string();
        for _ in 0..=MAX_CONTAINMENT_DEPTH {
            if cur == root {
                return Ok(true);
            }
            match self.get(&cur).await? {
                Some((_, Some(p))) => cur = p,
                _ => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Whether `loc` is within any of `roots`.
    pub async fn within_any(&mut self, loc: &str, roots: &[String]) -> OpsResult<bool> {
        for r in roots {
            if self.within(loc, r).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The top of the hierarchy above `loc` (the site), `loc` itself without master data.
    pub async fn site(&mut self, loc: &str) -> OpsResult<String> {
        let mut cur = loc.to_string();
        for _ in 0..MAX_CONTAINMENT_DEPTH {
            match self.get(&cur).await? {
                Some((_, Some(p))) if p != cur => cur = p,
                _ => break,
            }
        }
        Ok(cur)
    }

    /// The name in the master data.
    pub async fn name(&mut self, loc: &str) -> OpsResult<Option<String>> {
        Ok(self.get(loc).await?.and_then(|(n, _)| n))
    }
}

// ------------------------------------------------------------------------------------------
// Sessions (receiving and counts): records with a status and observations as items

pub(crate) fn seq_item(seq: u64) -> String {
    format!("s:{seq:012}")
}

/// Every item of a record whose name starts with `prefix`, in item order (at most `max`).
pub(crate) async fn items_with_prefix(
    store: &dyn Store,
    kind: &str,
    key: &str,
    prefix: &str,
    max: usize,
) -> OpsResult<Vec<RecordItem>> {
    let mut out = Vec::new();
    let mut after = prefix.to_string();
    loop {
        let page = store
            .list_record_items(kind, key, Some(&after), MAX_RECORD_PAGE)
            .await?;
        let n = page.len();
        for it in page {
            if !it.item.starts_with(prefix) {
                return Ok(out);
            }
            if out.len() >= max {
                return Err(invalid(format!(
                    "{kind} {key} has more than {max} {prefix} items"
                )));
            }
            after = it.item.clone();
            out.push(it);
        }
        if n < MAX_RECORD_PAGE {
            return Ok(out);
        }
    }
}

/// Puts items in calls of at most the per-call limit.
pub(crate) async fn put_items(
    store: &dyn Store,
    kind: &str,
    key: &str,
    items: Vec<RecordItem>,
) -> OpsResult<()> {
    for chunk in items.chunks(MAX_RECORD_ITEMS_PER_CALL) {
        store.put_record_items(kind, key, chunk).await?;
    }
    Ok(())
}

/// A new id `<prefix>-<8 digits>` from the counter of `kind`.
pub(crate) async fn new_id(store: &dyn Store, kind: &str, prefix: &str) -> OpsResult<String> {
    let n = store.bump_counter(&format!("{kind}-id"), 1).await?;
    Ok(format!("{prefix}-{:08}", n + 1))
}

/// A session record and its body; NotFound for a missing one or one still being created.
pub(crate) async fn load<T: for<'de> Deserialize<'de>>(
    store: &dyn Store,
    kind: &str,
    what: &str,
    id: &str,
) -> OpsResult<(Record, T)> {
    let not_found = || OpsError::NotFound(format!("no {what} {id}"));
    if id.is_empty() || id.len() > 64 {
        return Err(not_found());
    }
    let rec = store.get_record(kind, id).await?.ok_or_else(not_found)?;
    if rec.body.get("status").and_then(Value::as_str) == Some("creating") {
        return Err(not_found());
    }
    let body = serde_json::from_value(rec.body.clone())
        .map_err(|e| OpsError::Store(StoreError::Corrupt(format!("{what} {id}: {e}"))))?;
    Ok((rec, body))
}

/// Replace a record's body if it is still at `version`; a concurrent change is a conflict.
pub(crate) async fn save<T: Serialize>(
    store: &dyn Store,
    rec: &Record,
    body: &T,
    conflict: &str,
) -> OpsResult<Record> {
    let v = serde_json::to_value(body)
        .map_err(|e| invalid(format!("cannot write {}: {e}", rec.kind)))?;
    match store
        .update_record(&rec.kind, &rec.key, rec.version, &v)
        .await
    {
        Err(StoreError::Conflict(_)) => Err(OpsError::Conflict(conflict.to_string())),
        r => Ok(r?),
    }
}

/// One observation of a unit in a session: scanned, or inferred from a scanned container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub seq: u64,
    pub epc: String,
    /// The scanned container this unit was inferred from; None for a scan of the unit itself.
    #[serde(default)]
    pub via: Option<String>,
    /// Whether any event names the unit (as the records stood at the scan).
    #[serde(default)]
    pub known: bool,
    /// Where our records put it, when that is outside the session's location.
    #[serde(default)]
    pub elsewhere: Option<String>,
}

/// Scanned units with the known contents of scanned SSCCs: (epc, via).
pub(crate) async fn expand(
    store: &dyn Store,
    scans: &[(String, Kind)],
) -> OpsResult<Vec<(String, Option<String>)>> {
    let mut out = Vec::with_capacity(scans.len());
    for (epc, kind) in scans {
        out.push((epc.clone(), None));
        if *kind == Kind::Sscc {
            let tree = store.containment_tree(epc).await?;
            out.extend(
                tree.children
                    .into_iter()
                    .map(|c| (c.epc, Some(epc.clone()))),
            );
        }
        if out.len() > MAX_OBSERVATIONS_PER_REQUEST {
            return Err(invalid(format!(
                "these scans stand for more than {MAX_OBSERVATIONS_PER_REQUEST} units (with the \
                 contents of the scanned SSCCs); send fewer scans per request"
            )));
        }
    }
    Ok(out)
}

/// Appends observations (all or nothing) under fresh sequence numbers; returns the first.
pub(crate) async fn append(
    store: &dyn Store,
    kind: &str,
    id: &str,
    mut obs: Vec<Observation>,
) -> OpsResult<u64> {
    let n = obs.len() as i64;
    let first = store.bump_counter(&format!("{kind}-scan:{id}"), n).await? as u64;
    if first + obs.len() as u64 > MAX_OBSERVATIONS_PER_SESSION {
        return Err(invalid(format!(
            "{kind} {id} would have more than {MAX_OBSERVATIONS_PER_SESSION} observations; \
             close it and open another"
        )));
    }
    let mut items = Vec::with_capacity(obs.len());
    for (i, o) in obs.iter_mut().enumerate() {
        o.seq = first + i as u64 + 1;
        items.push(RecordItem {
            item: seq_item(o.seq),
            body: serde_json::to_value(&*o).map_err(|e| invalid(e.to_string()))?,
        });
    }
    store.put_record_items(kind, id, &items).await?;
    Ok(first + 1)
}

/// Every observation of a session with a sequence number up to `through` (all when None).
pub(crate) async fn observations(
    store: &dyn Store,
    kind: &str,
    id: &str,
    through: Option<u64>,
) -> OpsResult<Vec<Observation>> {
    let items = items_with_prefix(
        store,
        kind,
        id,
        "s:",
        MAX_OBSERVATIONS_PER_SESSION as usize + MAX_OBSERVATIONS_PER_REQUEST,
    )
    .await?;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let o: Observation = serde_json::from_value(it.body).map_err(|e| {
            OpsError::Store(StoreError::Corrupt(format!("{kind} {id} {}: {e}", it.item)))
        })?;
        if through.is_none_or(|t| o.seq <= t) {
            out.push(o);
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Reconciliation (pure)

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unexpected {
    pub epc: String,
    /// `unknown` (never commissioned anywhere we know), `elsewhere` (our records put it at
    /// another location) or `not_on_list`.
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateScan {
    pub epc: String,
    /// How many times the unit itself was scanned.
    pub scans: u64,
}

/// The outcome of a receiving: every list sorted by EPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Expected and observed.
    pub received: Vec<String>,
    /// Expected, not observed.
    pub missing: Vec<String>,
    /// Observed, not on the list (`unknown` and `elsewhere` are the ones of these with that reason).
    pub unexpected: Vec<Unexpected>,
    /// Units scanned more than once.
    pub duplicate_scan: Vec<DuplicateScan>,
    /// Unexpected units no event names.
    pub unknown: Vec<String>,
    /// Unexpected units our records place at another location: (epc, that location).
    pub elsewhere: Vec<(String, String)>,
}

/// Reconciles observations against the expected list. The first observation of a unit (lowest
/// sequence number) gives its facts; scanning a unit more than once is a duplicate scan;
/// observing it again through a scanned container is not.
pub fn reconcile(expected: &BTreeSet<String>, obs: &[Observation]) -> Reconciliation {
    let mut sorted: Vec<&Observation> = obs.iter().collect();
    sorted.sort_by_key(|o| o.seq);
    let mut first: BTreeMap<&str, &Observation> = BTreeMap::new();
    let mut direct: BTreeMap<&str, u64> = BTreeMap::new();
    for o in sorted {
        first.entry(o.epc.as_str()).or_insert(o);
        if o.via.is_none() {
            *direct.entry(o.epc.as_str()).or_insert(0) += 1;
        }
    }
    let mut r = Reconciliation::default();
    for (epc, o) in &first {
        if expected.contains(*epc) {
            r.received.push(epc.to_string());
            continue;
        }
        let (reason, at) = if !o.known {
            r.unknown.push(epc.to_string());
            ("unknown", None)
        } else if let Some(l) = &o.elsewhere {
            r.elsewhere.push((epc.to_string(), l.clone()));
            ("elsewhere", Some(l.clone()))
        } else {
            ("not_on_list", None)
        };
        r.unexpected.push(Unexpected {
            epc: epc.to_string(),
            reason,
            recorded_location: at,
        });
    }
    r.missing = expected
        .iter()
        .filter(|e| !first.contains_key(e.as_str()))
        .cloned()
        .collect();
    r.duplicate_scan = direct
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(e, n)| DuplicateScan {
            epc: e.to_string(),
            scans: n,
        })
        .collect();
    r
}

impl Reconciliation {
    pub fn counts(&self, expected: usize, observations: usize) -> Counts {
        Counts {
            expected,
            observations,
            received: self.received.len(),
            missing: self.missing.len(),
            unexpected: self.unexpected.len(),
            duplicate_scan: self.duplicate_scan.len(),
            unknown: self.unknown.len(),
            elsewhere: self.elsewhere.len(),
        }
    }

    /// As JSON with every list cut to `limit` entries (`truncated` says whether any was cut).
    pub fn to_json(&self, limit: usize) -> Value {
        fn cut<T: Serialize>(v: &[T], limit: usize) -> Value {
            json!(&v[..v.len().min(limit)])
        }
        let elsewhere: Vec<Value> = self
            .elsewhere
            .iter()
            .take(limit)
            .map(|(e, l)| json!({"epc": e, "recorded_location": l}))
            .collect();
        let longest = [
            self.received.len(),
            self.missing.len(),
            self.unexpected.len(),
            self.duplicate_scan.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        json!({
            "received": cut(&self.received, limit),
            "missing": cut(&self.missing, limit),
            "unexpected": cut(&self.unexpected, limit),
            "duplicate_scan": cut(&self.duplicate_scan, limit),
            "unknown": cut(&self.unknown, limit),
            "elsewhere": elsewhere,
            "truncated": longest > limit,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub expected: usize,
    pub observations: usize,
    pub received: usize,
    pub missing: usize,
    pub unexpected: usize,
    pub duplicate_scan: usize,
    pub unknown: usize,
    pub elsewhere: usize,
}

// ------------------------------------------------------------------------------------------
// Receiving sessions

/// Where the expected list comes from: the sender's shipping events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentRef {
    /// A business transaction of the shipping events (e.g. the despatch advice URI).
    #[serde(default)]
    pub biz_transaction: Option<String>,
    /// Its type as a CBV word (`desadv`, `po`, `inv`, ...); default `desadv`.
    #[serde(default)]
    pub biz_transaction_type: Option<String>,
    /// Event IDs or event hash IDs (`ni:///...`) of the shipping events.
    #[serde(default)]
    pub event_ids: Vec<String>,
}

/// Opening a receiving session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenReceiving {
    /// Where the goods are received (SGLN in any form).
    pub location: String,
    /// Expected units and SSCCs in any identifier form.
    #[serde(default)]
    pub expected: Vec<String>,
    /// Or: take the expected list from the sender's shipping events.
    #[serde(default)]
    pub shipment: Option<ShipmentRef>,
    /// Disposition of the received units: `in_progress` (default) or `sellable_not_accessible`.
    #[serde(default)]
    pub disposition: Option<String>,
}

/// A stored receiving session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub location: String,
    /// `creating`, `open`, `closing` or `closed`.
    pub status: String,
    pub created_ms: i64,
    pub disposition: String,
    /// How the expected list was given.
    pub source: Value,
    pub expected_count: usize,
    /// Business transactions written on the receiving events: (type, value).
    #[serde(default)]
    pub biz_transactions: Vec<(String, String)>,
    #[serde(default)]
    pub closed_ms: Option<i64>,
    /// The last observation counted by the close.
    #[serde(default)]
    pub closed_through: Option<u64>,
    #[serde(default)]
    pub counts: Option<Counts>,
    #[serde(default)]
    pub event_hash_ids: Vec<String>,
}

/// Adds a unit and, for an SSCC, its known contents to the expected map.
async fn add_expected(
    store: &dyn Store,
    out: &mut BTreeMap<String, Option<String>>,
    epc: String,
    kind: Kind,
) -> OpsResult<()> {
    if kind == Kind::Sscc {
        for c in store.containment_tree(&epc).await?.children {
            out.entry(c.epc).or_insert_with(|| Some(epc.clone()));
        }
    }
    out.insert(epc, None);
    if out.len() > MAX_EXPECTED {
        return Err(invalid(format!(
            "the expected list holds more than {MAX_EXPECTED} units (with SSCC contents)"
        )));
    }
    Ok(())
}

/// The EPCs a stored event names in epcList, parentID and childEPCs.
fn event_epcs(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["epcList", "childEPCs"] {
        if let Some(a) = doc.get(k).and_then(Value::as_array) {
            out.extend(a.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    if let Some(p) = doc.get("parentID").and_then(Value::as_str) {
        out.push(p.to_string());
    }
    out
}

/// The shipping events a shipment reference names.
async fn shipping_events(store: &dyn Store, s: &ShipmentRef) -> OpsResult<Vec<Value>> {
    let mut docs = Vec::new();
    if let Some(bt) = &s.biz_transaction {
        let ty = s.biz_transaction_type.as_deref().unwrap_or("desadv");
        let ty = cbv(unitrace_epcis::vocab::VocabKind::BizTransactionType, ty);
        let mut q = EventQuery {
            eq_biz_step: vec!["shipping".into()],
            eq_biz_transaction: vec![(ty.clone(), vec![bt.trim().to_string()])],
            per_page: Some(1000),
            ..Default::default()
        };
        loop {
            let page = store.query_events(&q).await?;
            docs.extend(page.events.into_iter().map(|e| e.document));
            if docs.len() > MAX_SHIPPING_EVENTS {
                return Err(invalid(format!(
                    "more than {MAX_SHIPPING_EVENTS} shipping events carry {ty} {bt}"
                )));
            }
            match page.next_page_token {
                Some(t) => q.next_page_token = Some(t),
                None => break,
            }
        }
        if docs.is_empty() {
            return Err(OpsError::NotFound(format!(
                "no shipping event carries the business transaction {ty} {bt}"
            )));
        }
    }
    if s.event_ids.len() > MAX_SHIPPING_EVENTS {
        return Err(invalid(format!(
            "more than {MAX_SHIPPING_EVENTS} event IDs in shipment.event_ids"
        )));
    }
    for id in &s.event_ids {
        let ev = if id.starts_with("ni:///") {
            store.event_by_hash(id).await?
        } else {
            let q = EventQuery {
                eq_event_id: vec![id.clone()],
                per_page: Some(1),
                ..Default::default()
            };
            store.query_events(&q).await?.events.into_iter().next()
        };
        let ev = ev.ok_or_else(|| OpsError::NotFound(format!("no event {id}")))?;
        docs.push(ev.document);
    }
    Ok(docs)
}

/// Opens a receiving session with its expected list.
pub async fn open(store: &dyn Store, req: &OpenReceiving, now_ms: i64) -> OpsResult<Session> {
    let location = location_epc("location", &req.location)?;
    let disposition = match req
        .disposition
        .as_deref()
        .map(|d| cbv(unitrace_epcis::vocab::VocabKind::Disposition, d.trim()))
    {
        None => "in_progress".to_string(),
        Some(d) if d == "in_progress" || d == "sellable_not_accessible" => d,
        Some(d) => {
            return Err(invalid(format!(
                "disposition {d:?}: a receiving leaves units in_progress or sellable_not_accessible"
            )))
        }
    };
    let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut bts = Vec::new();
    let source = match (&req.shipment, req.expected.is_empty()) {
        (Some(_), false) => return Err(invalid(
            "give either expected (a list) or shipment (the sender's shipping events), not both",
        )),
        (None, true) => {
            return Err(invalid(
                "an expected list is needed: expected (units and SSCCs) or shipment",
            ))
        }
        (None, false) => {
            if req.expected.len() > MAX_EXPECTED {
                return Err(invalid(format!(
                    "expected: {} entries, more than the limit of {MAX_EXPECTED}",
                    req.expected.len()
                )));
            }
            let mut bad = Vec::new();
            let mut parsed = Vec::new();
            for (i, s) in req.expected.iter().enumerate() {
                match unit_epc(s) {
                    Ok(p) => parsed.push(p),
                    Err(e) => bad.push(format!("expected[{i}]: {e}")),
                }
            }
            if !bad.is_empty() {
                bad.truncate(20);
                return Err(invalid(bad.join("; ")));
            }
            for (epc, kind) in parsed {
                add_expected(store, &mut expected, epc, kind).await?;
            }
            json!({"kind": "list", "entries": req.expected.len()})
        }
        (Some(s), true) => {
            if s.biz_transaction.is_none() && s.event_ids.is_empty() {
                return Err(invalid(
                    "shipment: give biz_transaction (with biz_transaction_type) or event_ids",
                ));
            }
            let docs = shipping_events(store, s).await?;
            for (i, d) in docs.iter().enumerate() {
                for x in event_epcs(d) {
                    let (epc, kind) =
                        unit_epc(&x).map_err(|e| invalid(format!("shipping event {i}: {e}")))?;
                    add_expected(store, &mut expected, epc, kind).await?;
                }
            }
            if let Some(bt) = &s.biz_transaction {
                let ty = s.biz_transaction_type.as_deref().unwrap_or("desadv");
                bts.push((
                    cbv(unitrace_epcis::vocab::VocabKind::BizTransactionType, ty),
                    bt.trim().to_string(),
                ));
            }
            json!({"kind": "shipment", "shipment": s, "events": docs.len()})
        }
    };
    let id = new_id(store, KIND, "RCV").await?;
    let mut session = Session {
        id: id.clone(),
        location,
        status: "creating".into(),
        created_ms: now_ms,
        disposition,
        source,
        expected_count: expected.len(),
        biz_transactions: bts,
        closed_ms: None,
        closed_through: None,
        counts: None,
        event_hash_ids: Vec::new(),
    };
    let body = serde_json::to_value(&session).map_err(|e| invalid(e.to_string()))?;
    let rec = store.create_record(KIND, &id, &body).await?;
    let items: Vec<RecordItem> = expected
        .into_iter()
        .map(|(epc, via)| RecordItem {
            item: format!("e:{epc}"),
            body: json!({ "via": via }),
        })
        .collect();
    let written = async {
        put_items(store, KIND, &id, items).await?;
        session.status = "open".into();
        save(
            store,
            &rec,
            &session,
            "the session changed while it was created",
        )
        .await
    }
    .await;
    if let Err(e) = written {
        let _ = store.delete_record(KIND, &id).await;
        return Err(e);
    }
    Ok(session)
}

/// The expected units of a session.
async fn expected_set(store: &dyn Store, id: &str) -> OpsResult<BTreeSet<String>> {
    Ok(items_with_prefix(store, KIND, id, "e:", MAX_EXPECTED)
        .await?
        .into_iter()
        .map(|it| it.item[2..].to_string())
        .collect())
}

/// What a scan request recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReply {
    /// Scans taken.
    pub scans: usize,
    /// Observations recorded (scans and the units inferred from scanned SSCCs).
    pub observations: usize,
    /// Sequence number of the first observation.
    pub first_seq: u64,
    /// Per scan, in order: the unit, whether it is on the list, known, where our records put it
    /// if elsewhere, and how many units its contents added.
    pub results: Vec<Value>,
}

/// Takes scans into an open session.
pub async fn scan(store: &dyn Store, id: &str, inputs: &[String]) -> OpsResult<ScanReply> {
    let scans = parse_scans(inputs)?;
    let (_, session) = load::<Session>(store, KIND, "receiving session", id).await?;
    if session.status != "open" {
        return Err(OpsError::Conflict(format!(
            "receiving session {id} is {}; it takes no more scans",
            session.status
        )));
    }
    let obs = expand(store, &scans).await?;
    let mut distinct: Vec<String> = obs.iter().map(|(e, _)| e.clone()).collect();
    distinct.sort();
    distinct.dedup();
    let states = states_of(store, &distinct).await?;
    let placed: HashMap<String, Placed> = place(store, states)
        .await?
        .into_iter()
        .map(|p| (p.state.epc.clone(), p))
        .collect();
    let mut places = Places::new(store);
    let mut elsewhere: HashMap<String, String> = HashMap::new();
    for (epc, p) in &placed {
        if let Some(l) = &p.location {
            if !places.within(l, &session.location).await? {
                elsewhere.insert(epc.clone(), l.clone());
            }
        }
    }
    let mut on_list: BTreeSet<String> = BTreeSet::new();
    for chunk in distinct.chunks(MAX_RECORD_ITEMS_PER_CALL) {
        let names: Vec<String> = chunk.iter().map(|e| format!("e:{e}")).collect();
        for it in store.get_record_items(KIND, id, &names).await? {
            on_list.insert(it.item[2..].to_string());
        }
    }
    let records: Vec<Observation> = obs
        .iter()
        .map(|(epc, via)| Observation {
            seq: 0,
            epc: epc.clone(),
            via: via.clone(),
            known: placed.contains_key(epc),
            elsewhere: elsewhere.get(epc).cloned(),
        })
        .collect();
    let n = records.len();
    let first_seq = append(store, KIND, id, records).await?;
    let (_, now) = load::<Session>(store, KIND, "receiving session", id).await?;
    if now.status != "open" {
        return Err(OpsError::Conflict(format!(
            "receiving session {id} was closed during this request; these scans were not counted"
        )));
    }
    let mut inferred: HashMap<&str, usize> = HashMap::new();
    for (_, via) in &obs {
        if let Some(v) = via {
            *inferred.entry(v.as_str()).or_default() += 1;
        }
    }
    let results = scans
        .iter()
        .map(|(epc, _)| {
            json!({
                "epc": epc,
                "expected": on_list.contains(epc),
                "known": placed.contains_key(epc),
                "elsewhere": elsewhere.get(epc),
                "contents": inferred.get(epc.as_str()).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(ScanReply {
        scans: scans.len(),
        observations: n,
        first_seq,
        results,
    })
}

/// A session with its reconciliation (live while open, frozen once closed).
pub async fn status(store: &dyn Store, id: &str) -> OpsResult<(Session, Reconciliation, Counts)> {
    let (_, session) = load::<Session>(store, KIND, "receiving session", id).await?;
    let through = if session.status == "closed" {
        Some(session.closed_through.unwrap_or(0))
    } else {
        None
    };
    let expected = expected_set(store, id).await?;
    let obs = observations(store, KIND, id, through).await?;
    let r = reconcile(&expected, &obs);
    let c = r.counts(expected.len(), obs.len());
    Ok((session, r, c))
}

/// Closes a session: freezes the reconciliation, writes `receiving` events for the received
/// units at the session's location, records the counts. A second close is a conflict.
pub async fn close(
    store: &dyn Store,
    id: &str,
    now_ms: i64,
) -> OpsResult<(Session, Reconciliation, Counts)> {
    let (rec, mut session) = load::<Session>(store, KIND, "receiving session", id).await?;
    if session.status != "open" {
        return Err(OpsError::Conflict(format!(
            "receiving session {id} is already {}",
            session.status
        )));
    }
    session.status = "closing".into();
    let conflict = format!("receiving session {id} is being closed by another request");
    let rec = save(store, &rec, &session, &conflict).await?;
    let done = async {
        let expected = expected_set(store, id).await?;
        let obs = observations(store, KIND, id, None).await?;
        let through = obs.iter().map(|o| o.seq).max().unwrap_or(0);
        let r = reconcile(&expected, &obs);
        let c = r.counts(expected.len(), obs.len());
        let mut hashes = Vec::new();
        if !r.received.is_empty() {
            let spec = ObjectEventSpec {
                event_time_ms: now_ms,
                action: "OBSERVE",
                epcs: r.received.clone(),
                biz_step: Some("receiving".into()),
                disposition: Some(session.disposition.clone()),
                read_point: Some(session.location.clone()),
                biz_location: Some(session.location.clone()),
                biz_transactions: session.biz_transactions.clone(),
                fields: vec![("receiving".into(), json!(id))],
                ..Default::default()
            };
            hashes = emit::capture(store, &[spec], now_ms).await?.hash_ids;
        }
        Ok::<_, OpsError>((r, c, through, hashes))
    }
    .await;
    match done {
        Ok((r, c, through, hashes)) => {
            session.status = "closed".into();
            session.closed_ms = Some(now_ms);
            session.closed_through = Some(through);
            session.counts = Some(c);
            session.event_hash_ids = hashes;
            save(store, &rec, &session, &conflict).await?;
            Ok((session, r, c))
        }
        Err(e) => {
            session.status = "open".into();
            let _ = save(store, &rec, &session, &conflict).await;
            Err(e)
        }
    }
}

/// Sessions in id order after `after`.
pub async fn list(store: &dyn Store, after: Option<&str>, limit: usize) -> OpsResult<Vec<Session>> {
    list_bodies(store, KIND, after, limit).await
}

/// Records of a kind in key order after `after`, as their bodies (ones still being created, or
/// unreadable, left out).
pub(crate) async fn list_bodies<T: for<'de> Deserialize<'de>>(
    store: &dyn Store,
    kind: &str,
    after: Option<&str>,
    limit: usize,
) -> OpsResult<Vec<T>> {
    let recs = store
        .list_records(kind, after, limit.clamp(1, MAX_RECORD_PAGE))
        .await?;
    Ok(recs
        .into_iter()
        .filter(|r| r.body.get("status").and_then(Value::as_str) != Some("creating"))
        .filter_map(|r| serde_json::from_value::<T>(r.body).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(
        epc: &str,
        parent: Option<&str>,
        loc: Option<(&str, i64)>,
        disp: Option<&str>,
        t: i64,
    ) -> UnitState {
        let mut s = UnitState::empty(epc);
        s.parent = parent.map(str::to_string);
        s.biz_location = loc.map(|(l, _)| l.to_string());
        s.location_time = loc.map(|(_, t)| t);
        s.disposition = disp.map(str::to_string);
        s.last_event_time = t;
        s
    }

    #[test]
    fn placement_takes_the_newest_of_unit_and_containers() {
        let unit = st(
            "u",
            Some("case"),
            Some(("A", 10)),
            Some("sellable_accessible"),
            10,
        );
        let case = st(
            "case",
            Some("pallet"),
            Some(("B", 5)),
            Some("in_progress"),
            5,
        );
        let pallet = st("pallet", None, Some(("C", 20)), Some("in_transit"), 20);
        let all = [case.clone(), pallet.clone()];
        let p = placed(&unit, |e| all.iter().find(|s| s.epc == e));
        assert_eq!(p.location.as_deref(), Some("C"));
        assert_eq!(p.disposition.as_deref(), Some("in_transit"));
        assert_eq!(p.disposition_holder, "pallet");
        assert_eq!(p.containers, vec!["case", "pallet"]);
        // Without the pallet's state, the unit's own facts win over the older case.
        let p = placed(&unit, |e| [&case].into_iter().find(|s| s.epc == e));
        assert_eq!(p.location.as_deref(), Some("A"));
        assert_eq!(p.disposition.as_deref(), Some("sellable_accessible"));
        // A cycle in containment ends the walk.
        let a = st("a", Some("b"), None, None, 1);
        let b = st("b", Some("a"), None, None, 2);
        let p = placed(&a, |e| [&b, &a].into_iter().find(|s| s.epc == e));
        assert_eq!(p.containers, vec!["b"]);
    }

    #[test]
    fn conditions() {
        for (d, c) in [
            (Some("dispensed"), "dispensed"),
            (Some("https://ref.gs1.org/cbv/Disp-retail_sold"), "sold"),
            (Some("urn:epcglobal:cbv:disp:destroyed"), "destroyed"),
            (Some("disposed"), "destroyed"),
            (Some("inactive"), "decommissioned"),
            (Some("in_transit"), "in_transit"),
            (Some("stolen"), "stolen"),
            (Some("unknown"), "unaccounted"),
            (Some("sellable_accessible"), "in_stock"),
            (Some("recalled"), "in_stock"),
            (None, "in_stock"),
        ] {
            assert_eq!(condition(d), c, "{d:?}");
        }
    }

    #[test]
    fn scan_parsing_names_bad_lines() {
        let lines = scan_lines(
            "urn:epc:id:sgtin:0614141.020001.A1\n\n  (01)00614141200016(21)A2 \nnonsense\n(01)00614141200016\n",
        );
        assert_eq!(lines.len(), 4);
        let e = parse_scans(&lines).unwrap_err().to_string();
        assert!(e.contains("scan 3") && e.contains("scan 4"), "{e}");
        assert!(!e.contains("scan 1:") && !e.contains("scan 2:"), "{e}");
        let ok = parse_scans(&lines[..2]).unwrap();
        assert_eq!(ok[1].0, "urn:epc:id:sgtin:0614141.020001.A2");
        assert!(parse_scans(&[]).is_err());
        assert!(unit_epc("urn:epc:id:sgln:0614141.00001.0").is_err());
        assert!(location_epc("location", "urn:epc:id:sgtin:0614141.020001.A1").is_err());
    }

    fn obs(
        seq: u64,
        epc: &str,
        via: Option<&str>,
        known: bool,
        elsewhere: Option<&str>,
    ) -> Observation {
        Observation {
            seq,
            epc: epc.into(),
            via: via.map(str::to_string),
            known,
            elsewhere: elsewhere.map(str::to_string),
        }
    }

    #[test]
    fn reconcile_cases() {
        let expected: BTreeSet<String> =
            ["a", "b", "c", "p"].iter().map(|s| s.to_string()).collect();
        let o = vec![
            obs(3, "a", None, true, Some("X")),
            obs(1, "p", None, true, None),
            obs(2, "b", Some("p"), true, None),
            obs(4, "a", None, true, None),
            obs(5, "b", None, true, None),
            obs(6, "z", None, false, None),
            obs(7, "y", None, true, Some("Y")),
            obs(8, "w", None, true, None),
            obs(9, "w", Some("p"), true, None),
        ];
        let r = reconcile(&expected, &o);
        assert_eq!(r.received, vec!["a", "b", "p"]);
        assert_eq!(r.missing, vec!["c"]);
        assert_eq!(r.unknown, vec!["z"]);
        assert_eq!(r.elsewhere, vec![("y".to_string(), "Y".to_string())]);
        let reasons: Vec<(&str, &str)> = r
            .unexpected
            .iter()
            .map(|u| (u.epc.as_str(), u.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![("w", "not_on_list"), ("y", "elsewhere"), ("z", "unknown")]
        );
        // a scanned twice; b once directly (once inferred) is no duplicate; w once directly.
        assert_eq!(
            r.duplicate_scan,
            vec![DuplicateScan {
                epc: "a".into(),
                scans: 2
            }]
        );
        let c = r.counts(expected.len(), o.len());
        assert_eq!(
            (c.received, c.missing, c.unexpected, c.duplicate_scan),
            (3, 1, 3, 1)
        );
    }

    proptest::proptest! {
        #[test]
        fn reconcile_partitions(
            exp in proptest::collection::btree_set(0u8..30, 0..20),
            raw in proptest::collection::vec((0u8..40, proptest::option::of(0u8..40), proptest::bool::ANY, proptest::option::of(0u8..3)), 0..60),
        ) {
            let expected: BTreeSet<String> = exp.iter().map(|x| x.to_string()).collect();
            let o: Vec<Observation> = raw.iter().enumerate().map(|(i, (e, via, known, els))| Observation {
                seq: (raw.len() - i) as u64,
                epc: e.to_string(),
                via: via.map(|v| v.to_string()),
                known: *known,
                elsewhere: els.map(|l| l.to_string()),
            }).collect();
            let r = reconcile(&expected, &o);
            let seen: BTreeSet<String> = o.iter().map(|x| x.epc.clone()).collect();
            // received and missing split the list; received and unexpected split what was seen.
            proptest::prop_assert_eq!(r.received.len() + r.missing.len(), expected.len());
            proptest::prop_assert_eq!(r.received.len() + r.unexpected.len(), seen.len());
            for x in &r.received { proptest::prop_assert!(expected.contains(x) && seen.contains(x)); }
            for x in &r.missing { proptest::prop_assert!(expected.contains(x) && !seen.contains(x)); }
            for u in &r.unexpected { proptest::prop_assert!(!expected.contains(&u.epc) && seen.contains(&u.epc)); }
            proptest::prop_assert_eq!(r.unknown.len() + r.elsewhere.len(), r.unexpected.iter().filter(|u| u.reason != "not_on_list").count());
            for d in &r.duplicate_scan {
                let n = o.iter().filter(|x| x.epc == d.epc && x.via.is_none()).count() as u64;
                proptest::prop_assert!(n > 1 && n == d.scans);
            }
            // The order observations are given in does not matter, only their sequence numbers.
            let mut rev = o.clone();
            rev.reverse();
            proptest::prop_assert_eq!(reconcile(&expected, &rev), r);
        }
    }
}
