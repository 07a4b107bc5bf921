//! Recalls: the exact affected units, where each is now and in what state, the hold, progress and
//! export.
//!
//! Criteria combine with AND (values inside one criterion are alternatives): a GTIN, lots, serial
//! ranges of that GTIN, a commissioning time window, a production location (where the units were
//! commissioned, with its sub-locations), a current location (with its sub-locations), and
//! upstream inputs (component units or component lots: the units made from them, through
//! TransformationEvents and assembly aggregation, recursively; a lot also where a
//! TransformationEvent consumed it as a quantity, with that event's output units and output
//! lots). At least one criterion must
//! select units by an index (GTIN, lot, serial range, input or current location); a time window or
//! production location alone would read every unit and is refused.
//!
//! A recall is a record (kind [`KIND`]) with one item per affected unit (`u:<epc>`, its state at
//! creation). States are read live for the unit list, progress and export. A unit is
//! **retrieved** when it is destroyed (or disposed) or when it is (through its containers) at one
//! of the recall's return locations or below; every other unit is outstanding. The hold writes
//! ObjectEvents (bizStep `holding`, disposition `recalled`, persistent disposition `recalled`)
//! for the affected units still in the supply chain (in stock or in transit, not yet recalled);
//! units already sold, dispensed, destroyed or decommissioned keep their state.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use unitrace_id::epc::Lgtin;
use unitrace_id::identity::{Gtin, Serial};
use unitrace_id::Identity;
use unitrace_store::limits::{MAX_CONTAINMENT_DEPTH, MAX_LIST_UNITS, MAX_RECORD_PAGE};
use unitrace_store::{EventQuery, GenealogyDirection, RecordItem, Store, UnitFilter, UnitState};

use crate::counts::units_under;
use crate::emit::{self, ObjectEventSpec, EPCS_PER_EVENT};
use crate::receiving::{
    condition, is_recalled, load, location_epc, new_id, place, put_items, save, states_of, time_ms,
    unit_epc, Placed, Places,
};
use crate::{OpsError, OpsResult};

/// Record kind of recalls (key: recall id); items `u:<epc>`.
pub const KIND: &str = "recall";
/// Most affected units of one recall.
pub const MAX_RECALL_UNITS: usize = 500_000;
/// Most values in one criterion list.
pub const MAX_CRITERIA_VALUES: usize = 1_000;
/// Most in-transit holders whose shipping event is read to tell the destination, per call.
pub const MAX_DESTINATION_LOOKUPS: usize = 2_000;
/// Largest page of the unit list.
pub const MAX_UNITS_PAGE: usize = 10_000;

fn invalid(m: impl Into<String>) -> OpsError {
    OpsError::Invalid(m.into())
}

/// A range of serials, both ends included. Decimal serials (all three decimal) compare as
/// numbers, others in byte order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialRange {
    pub from: String,
    pub to: String,
}

/// A component lot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputLot {
    pub gtin: String,
    pub lot: String,
}

/// What a recall covers (AND of the given criteria).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// GTIN-8/12/13/14.
    #[serde(default)]
    pub gtin: Option<String>,
    #[serde(default)]
    pub lots: Vec<String>,
    /// Serial ranges of `gtin`.
    #[serde(default)]
    pub serial_ranges: Vec<SerialRange>,
    /// Commissioned at or after (RFC 3339).
    #[serde(default)]
    pub commissioned_from: Option<String>,
    /// Commissioned before (RFC 3339).
    #[serde(default)]
    pub commissioned_to: Option<String>,
    /// Commissioned at this location or below (SGLN in any form).
    #[serde(default)]
    pub production_location: Option<String>,
    /// Now at this location or below, through containers (SGLN in any form).
    #[serde(default)]
    pub location: Option<String>,
    /// Upstream component units (any identifier form).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Upstream component lots.
    #[serde(default)]
    pub input_lots: Vec<InputLot>,
}

/// Creating a recall.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRecall {
    pub criteria: Criteria,
    #[serde(default)]
    pub reason: Option<String>,
    /// Where recalled units are brought back (SGLNs in any form); units there are retrieved.
    #[serde(default)]
    pub return_locations: Vec<String>,
}

/// Criteria checked and normalised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// `urn:epc:id:sgtin:<company>.<item>.`
    pub prefix: Option<String>,
    pub lots: Vec<String>,
    pub ranges: Vec<(String, String)>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub production_location: Option<String>,
    pub location: Option<String>,
    pub inputs: Vec<String>,
    /// (EPC prefix, lot)
    pub input_lots: Vec<(String, String)>,
}

fn gtin_prefix(what: &str, g: &str) -> OpsResult<String> {
    let gtin = Gtin::parse_any(g.trim()).map_err(|e| invalid(format!("{what} {g:?}: {e}")))?;
    let id = Identity::Sgtin {
        gtin,
        serial: Serial::new("0").map_err(|e| invalid(e.to_string()))?,
    };
    let epc = id
        .to_epc_uri(&unitrace_id::GcpResolver::new())
        .map_err(|e| invalid(format!("{what} {g:?}: {e}")))?;
    Ok(epc[..epc.len() - 1].to_string())
}

/// Order key of a serial: decimal serials by value, others by bytes.
fn serial_key(s: &str, numeric: bool) -> (usize, &str) {
    if numeric {
        let t = s.trim_start_matches('0');
        (t.len(), t)
    } else {
        (0, s)
    }
}

fn decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `serial` lies in `[from, to]` (pure).
pub fn serial_in_range(serial: &str, from: &str, to: &str) -> bool {
    let numeric = decimal(serial) && decimal(from) && decimal(to);
    let k = serial_key(serial, numeric);
    serial_key(from, numeric) <= k && k <= serial_key(to, numeric)
}

fn check_list<T>(what: &str, v: &[T]) -> OpsResult<()> {
    if v.len() > MAX_CRITERIA_VALUES {
        return Err(invalid(format!(
            "criteria.{what}: {} values, more than the limit of {MAX_CRITERIA_VALUES}",
            v.len()
        )));
    }
    Ok(())
}

/// Checks the criteria and normalises identifiers and times.
pub fn resolve(c: &Criteria) -> OpsResult<Resolved> {
    check_list("lots", &c.lots)?;
    check_list("serial_ranges", &c.serial_ranges)?;
    check_list("inputs", &c.inputs)?;
    check_list("input_lots", &c.input_lots)?;
    let mut r = Resolved::default();
    if let Some(g) = &c.gtin {
        r.prefix = Some(gtin_prefix("criteria.gtin", g)?);
    }
    for (i, l) in c.lots.iter().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.len() > 20 {
            return Err(invalid(format!(
                "criteria.lots[{i}]: a lot (AI 10) has 1 to 20 characters"
            )));
        }
        r.lots.push(l.to_string());
    }
    for (i, s) in c.serial_ranges.iter().enumerate() {
        if r.prefix.is_none() {
            return Err(invalid("criteria.serial_ranges needs criteria.gtin"));
        }
        for (end, v) in [("from", &s.from), ("to", &s.to)] {
            Serial::new(v)
                .map_err(|e| invalid(format!("criteria.serial_ranges[{i}].{end}: {e}")))?;
        }
        if !serial_in_range(&s.from, &s.from, &s.to) {
            return Err(invalid(format!(
                "criteria.serial_ranges[{i}]: from {:?} comes after to {:?}",
                s.from, s.to
            )));
        }
        r.ranges.push((s.from.clone(), s.to.clone()));
    }
    if let Some(t) = &c.commissioned_from {
        r.from_ms = Some(time_ms("criteria.commissioned_from", t)?);
    }
    if let Some(t) = &c.commissioned_to {
        r.to_ms = Some(time_ms("criteria.commissioned_to", t)?);
    }
    if let (Some(a), Some(b)) = (r.from_ms, r.to_ms) {
        if a >= b {
            return Err(invalid(
                "criteria.commissioned_from must come before criteria.commissioned_to",
            ));
        }
    }
    if let Some(l) = &c.production_location {
        r.production_location = Some(location_epc("criteria.production_location", l)?);
    }
    if let Some(l) = &c.location {
        r.location = Some(location_epc("criteria.location", l)?);
    }
    for (i, s) in c.inputs.iter().enumerate() {
        let (epc, _) = unit_epc(s).map_err(|e| invalid(format!("criteria.inputs[{i}]: {e}")))?;
        r.inputs.push(epc);
    }
    for (i, l) in c.input_lots.iter().enumerate() {
        let p = gtin_prefix(&format!("criteria.input_lots[{i}].gtin"), &l.gtin)?;
        if l.lot.trim().is_empty() {
            return Err(invalid(format!("criteria.input_lots[{i}].lot is empty")));
        }
        r.input_lots.push((p, l.lot.trim().to_string()));
    }
    let selects = r.prefix.is_some()
        || !r.lots.is_empty()
        || r.location.is_some()
        || !r.inputs.is_empty()
        || !r.input_lots.is_empty();
    if !selects {
        let empty = r.from_ms.is_none() && r.to_ms.is_none() && r.production_location.is_none();
        return Err(invalid(if empty {
            "criteria are empty: give at least one of gtin, lots, serial_ranges, location, inputs, \
             input_lots"
        } else {
            "a commissioning window or production_location alone would read every unit: add gtin, \
             lots, location, inputs or input_lots"
        }));
    }
    Ok(r)
}

/// Whether a unit passes the criteria that need no location lookups (pure).
pub fn matches_plain(r: &Resolved, st: &UnitState) -> bool {
    if st.epc.starts_with("urn:epc:id:sscc:") {
        return false;
    }
    if let Some(p) = &r.prefix {
        if !st.epc.starts_with(p.as_str()) {
            return false;
        }
    }
    if !r.lots.is_empty() && !st.lot.as_ref().is_some_and(|l| r.lots.contains(l)) {
        return false;
    }
    if !r.ranges.is_empty() {
        let serial = st.epc.rsplit('.').next().unwrap_or("");
        if !r.ranges.iter().any(|(a, b)| serial_in_range(serial, a, b)) {
            return false;
        }
    }
    if r.from_ms.is_some() || r.to_ms.is_some() {
        let Some(t) = st.commissioned_at else {
            return false;
        };
        if r.from_ms.is_some_and(|f| t < f) || r.to_ms.is_some_and(|e| t >= e) {
            return false;
        }
    }
    true
}

/// Every unit matching a filter, in pages (at most `MAX_RECALL_UNITS`).
async fn list_all(store: &dyn Store, mut f: UnitFilter) -> OpsResult<Vec<UnitState>> {
    let mut out = Vec::new();
    loop {
        f.limit = Some(MAX_LIST_UNITS);
        let page = store.list_units(&f).await?;
        let n = page.len();
        f.after_epc = page.last().map(|u| u.epc.clone());
        out.extend(page);
        if out.len() > MAX_RECALL_UNITS {
            return Err(invalid(format!(
                "the criteria select more than {MAX_RECALL_UNITS} units; narrow them"
            )));
        }
        if n < MAX_LIST_UNITS as usize {
            return Ok(out);
        }
    }
}

/// Units made from `starts`, through TransformationEvents (outputs) and assembly aggregation
/// (a parent that is not an SSCC), recursively; the starts themselves are not included.
pub async fn downstream(store: &dyn Store, starts: &[String]) -> OpsResult<Vec<String>> {
    let mut seen: BTreeSet<String> = starts.iter().cloned().collect();
    let mut out = Vec::new();
    let mut frontier: Vec<String> = starts.to_vec();
    for _ in 0..MAX_CONTAINMENT_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for x in &frontier {
            for y in store
                .transformation_links(x, GenealogyDirection::Outputs)
                .await?
            {
                if seen.insert(y.clone()) {
                    next.push(y);
                }
            }
        }
        for st in states_of(store, &frontier).await? {
            if let Some(p) = st.parent {
                if !p.starts_with("urn:epc:id:sscc:") && seen.insert(p.clone()) {
                    next.push(p);
                }
            }
        }
        out.extend(next.iter().cloned());
        if out.len() > MAX_RECALL_UNITS {
            return Err(invalid(format!(
                "the inputs lead to more than {MAX_RECALL_UNITS} units; narrow the criteria"
            )));
        }
        frontier = next;
    }
    Ok(out)
}

/// Most lots followed from the input lots of a recall through TransformationEvents that consume
/// them as quantities (their output lots, recursively).
pub const MAX_FOLLOWED_LOTS: usize = 10_000;
/// Most TransformationEvents read while following consumed lots.
pub const MAX_CONSUMING_EVENTS: usize = 100_000;

/// The LGTIN class URI of a lot of the GTIN whose SGTIN prefix is `prefix`
/// (`urn:epc:id:sgtin:<company>.<item>.`), as the store keeps classes.
fn lot_class(prefix: &str, lot: &str) -> OpsResult<String> {
    let body = prefix
        .strip_prefix("urn:epc:id:sgtin:")
        .and_then(|b| b.strip_suffix('.'))
        .ok_or_else(|| invalid(format!("{prefix:?} is not an SGTIN prefix")))?;
    let (company, item) = body
        .split_once('.')
        .ok_or_else(|| invalid(format!("{prefix:?} is not an SGTIN prefix")))?;
    // GTIN-14 = indicator (first digit of the item reference) + company + rest of the item +
    // check digit.
    let body13 = format!(
        "{}{company}{}",
        item.get(..1).unwrap_or(""),
        item.get(1..).unwrap_or("")
    );
    let check = unitrace_id::check::gs1_check_digit(body13.as_bytes())
        .ok_or_else(|| invalid(format!("{prefix:?} is not an SGTIN prefix")))?;
    let gtin = Gtin::new(&format!("{body13}{}", char::from(check)))
        .map_err(|e| invalid(format!("{prefix:?}: {e}")))?;
    Lgtin::new(gtin, lot)
        .and_then(|l| l.to_class_uri(company.len()))
        .map_err(|e| invalid(format!("lot {lot:?}: {e}")))
}

/// The SGTIN prefix and lot of an LGTIN class URI (the form the store keeps); None for others.
fn class_lot(class: &str) -> Option<(String, String)> {
    let (lgtin, gcp_len) = Lgtin::parse_class_uri(class).ok()?;
    let body = class.strip_prefix("urn:epc:class:lgtin:")?;
    let item_end = body.get(gcp_len + 1..)?.find('.')? + gcp_len + 1;
    Some((
        format!("urn:epc:id:sgtin:{}.", &body[..item_end]),
        lgtin.lot().to_string(),
    ))
}

/// The units made from the given lots where they were consumed as quantities (a
/// TransformationEvent's `inputQuantityList`): each such event's output EPCs, and, through its
/// output lots, the serialised units of those lots and what was made from them in turn.
/// Returns (the units made, the units to follow with [`downstream`]: those made and the
/// serialised units of every lot reached).
async fn consumed_lots(
    store: &dyn Store,
    lots: &[(String, String)],
) -> OpsResult<(Vec<String>, Vec<String>)> {
    let mut seen: BTreeSet<(String, String)> = lots.iter().cloned().collect();
    let mut queue: Vec<(String, String)> = lots.to_vec();
    let mut outputs = Vec::new();
    let mut lot_units = Vec::new();
    let mut read = 0usize;
    let mut i = 0;
    while i < queue.len() {
        let (p, lot) = queue[i].clone();
        i += 1;
        let f = UnitFilter {
            lot: Some(lot.clone()),
            epc_prefix: Some(p.clone()),
            ..Default::default()
        };
        let units = list_all(store, f).await?;
        // The serialised units of an output lot are affected themselves; those of the recall's
        // own input lots are components, not affected.
        if i > lots.len() {
            lot_units.extend(units.iter().map(|u| u.epc.clone()));
        }
        outputs.extend(units.into_iter().map(|u| (u.epc, false)));
        let mut q = EventQuery {
            event_types: vec![unitrace_store::EventType::TransformationEvent],
            match_input_epc_class: vec![lot_class(&p, &lot)?],
            per_page: Some(1_000),
            ..Default::default()
        };
        loop {
            let page = store.query_events(&q).await?;
            read += page.events.len();
            for e in &page.events {
                let list = |key: &str| {
                    e.document
                        .get(key)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                };
                for v in list("outputEPCList") {
                    if let Some(epc) = v.as_str() {
                        outputs.push((unitrace_capture::normalise_epc(epc), true));
                    }
                }
                for q in list("outputQuantityList") {
                    let Some(c) = q.get("epcClass").and_then(Value::as_str) else {
                        continue;
                    };
                    if let Some(next) = class_lot(&unitrace_capture::normalise_class(c)) {
                        if seen.insert(next.clone()) {
                            queue.push(next);
                        }
                    }
                }
            }
            if read > MAX_CONSUMING_EVENTS || queue.len() > MAX_FOLLOWED_LOTS {
                return Err(invalid(format!(
                    "the input lots were consumed by more than {MAX_CONSUMING_EVENTS} events or \
                     lead to more than {MAX_FOLLOWED_LOTS} lots; narrow the criteria"
                )));
            }
            match page.next_page_token {
                Some(t) => q.next_page_token = Some(t),
                None => break,
            }
        }
    }
    let made: Vec<String> = outputs
        .iter()
        .filter(|(_, made)| *made)
        .map(|(e, _)| e.clone())
        .chain(lot_units)
        .collect();
    let starts: Vec<String> = outputs.into_iter().map(|(e, _)| e).collect();
    Ok((made, starts))
}

/// The affected units: placed, sorted by EPC.
pub async fn scope(store: &dyn Store, r: &Resolved) -> OpsResult<Vec<Placed>> {
    let candidates: Vec<UnitState> = if !r.inputs.is_empty() || !r.input_lots.is_empty() {
        let mut starts = r.inputs.clone();
        let (mut made, lot_starts) = consumed_lots(store, &r.input_lots).await?;
        starts.extend(lot_starts);
        made.extend(downstream(store, &starts).await?);
        made.sort();
        made.dedup();
        states_of(store, &made).await?
    } else if r.prefix.is_some() || !r.lots.is_empty() {
        let mut all = Vec::new();
        let lots: Vec<Option<String>> = if r.lots.is_empty() {
            vec![None]
        } else {
            r.lots.iter().cloned().map(Some).collect()
        };
        for lot in lots {
            let f = UnitFilter {
                lot,
                epc_prefix: r.prefix.clone(),
                ..Default::default()
            };
            all.extend(list_all(store, f).await?);
            if all.len() > MAX_RECALL_UNITS {
                return Err(invalid(format!(
                    "the criteria select more than {MAX_RECALL_UNITS} units; narrow them"
                )));
            }
        }
        all
    } else if let Some(l) = &r.location {
        let under = units_under(store, l, MAX_RECALL_UNITS).await?;
        under.into_iter().map(|p| p.state).collect()
    } else {
        return Err(invalid("the criteria select no units"));
    };
    let plain: Vec<UnitState> = candidates
        .into_iter()
        .filter(|u| matches_plain(r, u))
        .collect();
    let mut placed = place(store, plain).await?;
    if r.location.is_some() || r.production_location.is_some() {
        let mut places = Places::new(store);
        let mut keep = Vec::with_capacity(placed.len());
        for p in placed {
            if let Some(l) = &r.location {
                match &p.location {
                    Some(at) if places.within(at, l).await? => {}
                    _ => continue,
                }
            }
            if let Some(l) = &r.production_location {
                match &p.state.commissioned_where {
                    Some(at) if places.within(at, l).await? => {}
                    _ => continue,
                }
            }
            keep.push(p);
        }
        placed = keep;
    }
    placed.sort_by(|a, b| a.state.epc.cmp(&b.state.epc));
    placed.dedup_by(|a, b| a.state.epc == b.state.epc);
    Ok(placed)
}

/// One affected unit: where it is now and in what state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedUnit {
    pub epc_uri: String,
    /// `in_stock`, `in_transit`, `sold`, `dispensed`, `destroyed`, `decommissioned`, `stolen`,
    /// `unaccounted`.
    pub state: String,
    pub disposition: Option<String>,
    /// Recalled disposition (current or persistent).
    pub held: bool,
    pub retrieved: bool,
    pub lot: Option<String>,
    pub location: Option<String>,
    pub location_name: Option<String>,
    /// The top of the location hierarchy (the site: warehouse, store, pharmacy).
    pub site: Option<String>,
    pub site_name: Option<String>,
    /// Containers holding it now, nearest first.
    pub containers: Vec<String>,
    /// For units in transit: the destination of the shipping event.
    pub destination: Option<String>,
}

/// Whether a unit counts as retrieved (pure): destroyed, or at a return location.
pub fn is_retrieved(state: &str, at_return_location: bool) -> bool {
    state == "destroyed" || at_return_location
}

fn destination_of(doc: &Value) -> Option<String> {
    let list = doc.get("destinationList")?.as_array()?;
    let pick = |want_location: bool| {
        list.iter().find_map(|d| {
            let ty = d.get("type").and_then(Value::as_str).unwrap_or("");
            (ty.ends_with("location") == want_location)
                .then(|| d.get("destination").and_then(Value::as_str))
                .flatten()
                .map(str::to_string)
        })
    };
    pick(true).or_else(|| pick(false))
}

/// Describes placed units (names, sites, destinations of units in transit, retrieval).
pub async fn describe(
    store: &dyn Store,
    placed: Vec<Placed>,
    return_locations: &[String],
) -> OpsResult<Vec<AffectedUnit>> {
    let mut places = Places::new(store);
    let mut dest: HashMap<String, Option<String>> = HashMap::new();
    let mut holders: HashMap<String, UnitState> = HashMap::new();
    let mut out = Vec::with_capacity(placed.len());
    for p in placed {
        let state = condition(p.disposition.as_deref());
        let (mut location_name, mut site, mut site_name, mut at_return) = (None, None, None, false);
        if let Some(l) = &p.location {
            location_name = places.name(l).await?;
            let s = places.site(l).await?;
            site_name = places.name(&s).await?;
            site = Some(s);
            at_return = places.within_any(l, return_locations).await?;
        }
        let mut destination = None;
        if state == "in_transit" {
            let h = p.disposition_holder.clone();
            if !dest.contains_key(&h) && dest.len() < MAX_DESTINATION_LOOKUPS {
                let hs = match holders.get(&h) {
                    Some(s) => Some(s.clone()),
                    None => store.unit_state(&h).await?,
                };
                let d = match hs {
                    Some(s) => {
                        holders.insert(h.clone(), s.clone());
                        let after = Some((s.last_event_time, s.last_event_seq - 1));
                        store
                            .events_naming(&h, after, None, 1)
                            .await?
                            .first()
                            .and_then(|e| destination_of(&e.document))
                    }
                    None => None,
                };
                dest.insert(h.clone(), d);
            }
            destination = dest.get(&h).cloned().flatten();
        }
        out.push(AffectedUnit {
            epc_uri: p.state.epc.clone(),
            state: state.to_string(),
            disposition: p.disposition.clone(),
            held: is_recalled(&p.state),
            retrieved: is_retrieved(state, at_return),
            lot: p.state.lot.clone(),
            location: p.location.clone(),
            location_name,
            site,
            site_name,
            containers: p.containers.clone(),
            destination,
        });
    }
    Ok(out)
}

/// A stored recall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    pub id: String,
    /// `creating`, `open`, `holding`, `held`.
    pub status: String,
    pub created_ms: i64,
    pub reason: Option<String>,
    pub criteria: Criteria,
    pub return_locations: Vec<String>,
    pub affected_count: usize,
    /// Affected units per state when the recall was made.
    pub states_at_creation: BTreeMap<String, usize>,
    #[serde(default)]
    pub held_ms: Option<i64>,
    /// Units the hold put on `recalled`.
    #[serde(default)]
    pub held_count: usize,
    #[serde(default)]
    pub hold_event_hash_ids: Vec<String>,
}

/// Progress of a recall, from the units' current states.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    pub retrieved: usize,
    pub outstanding: usize,
    pub held: usize,
    /// Units per current state.
    pub by_state: BTreeMap<String, usize>,
}

fn state_counts(units: &[AffectedUnit]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for u in units {
        *m.entry(u.state.clone()).or_insert(0) += 1;
    }
    m
}

/// Resolves the criteria, records the recall and its units.
pub async fn create(
    store: &dyn Store,
    req: &CreateRecall,
    now_ms: i64,
) -> OpsResult<(Recall, Vec<AffectedUnit>)> {
    let r = resolve(&req.criteria)?;
    if req.return_locations.len() > MAX_CRITERIA_VALUES {
        return Err(invalid("return_locations: too many"));
    }
    let mut returns = Vec::new();
    for (i, l) in req.return_locations.iter().enumerate() {
        returns.push(location_epc(&format!("return_locations[{i}]"), l)?);
    }
    if let Some(t) = &req.reason {
        if t.len() > 8192 {
            return Err(invalid("reason: longer than 8192 bytes"));
        }
    }
    let placed = scope(store, &r).await?;
    let units = describe(store, placed, &returns).await?;
    let id = new_id(store, KIND, "RCL").await?;
    let mut recall = Recall {
        id: id.clone(),
        status: "creating".into(),
        created_ms: now_ms,
        reason: req.reason.clone(),
        criteria: req.criteria.clone(),
        return_locations: returns,
        affected_count: units.len(),
        states_at_creation: state_counts(&units),
        held_ms: None,
        held_count: 0,
        hold_event_hash_ids: Vec::new(),
    };
    let body = serde_json::to_value(&recall).map_err(|e| invalid(e.to_string()))?;
    let rec = store.create_record(KIND, &id, &body).await?;
    let items: Vec<RecordItem> = units
        .iter()
        .map(|u| {
            Ok(RecordItem {
                item: format!("u:{}", u.epc_uri),
                body: serde_json::to_value(u).map_err(|e| invalid(e.to_string()))?,
            })
        })
        .collect::<OpsResult<_>>()?;
    let written = async {
        put_items(store, KIND, &id, items).await?;
        recall.status = "open".into();
        save(
            store,
            &rec,
            &recall,
            "the recall changed while it was created",
        )
        .await
    }
    .await;
    if let Err(e) = written {
        let _ = store.delete_record(KIND, &id).await;
        return Err(e);
    }
    Ok((recall, units))
}

pub async fn get(store: &dyn Store, id: &str) -> OpsResult<Recall> {
    Ok(load::<Recall>(store, KIND, "recall", id).await?.1)
}

/// Recalls in id order after `after`.
pub async fn list(store: &dyn Store, after: Option<&str>, limit: usize) -> OpsResult<Vec<Recall>> {
    crate::receiving::list_bodies(store, KIND, after, limit).await
}

/// EPCs of a recall's units after `after` (item order = EPC order), at most `limit`.
async fn unit_page(
    store: &dyn Store,
    id: &str,
    after: Option<&str>,
    limit: usize,
) -> OpsResult<Vec<String>> {
    let from = format!("u:{}", after.unwrap_or(""));
    let items = store
        .list_record_items(KIND, id, Some(&from), limit.clamp(1, MAX_RECORD_PAGE))
        .await?;
    Ok(items
        .into_iter()
        .filter_map(|it| it.item.strip_prefix("u:").map(str::to_string))
        .collect())
}

/// Current state of the given units of a recall (a unit with no state any more is reported as
/// its stored state at creation would not be: it is `unaccounted`).
async fn current(
    store: &dyn Store,
    recall: &Recall,
    epcs: &[String],
) -> OpsResult<Vec<AffectedUnit>> {
    let states = states_of(store, epcs).await?;
    let mut by_epc: HashMap<String, UnitState> =
        states.into_iter().map(|s| (s.epc.clone(), s)).collect();
    let ordered: Vec<UnitState> = epcs
        .iter()
        .map(|e| by_epc.remove(e).unwrap_or_else(|| UnitState::empty(e)))
        .collect();
    let placed = place(store, ordered).await?;
    describe(store, placed, &recall.return_locations).await
}

/// One page of a recall's units with their current state; the EPC to continue after.
pub async fn units(
    store: &dyn Store,
    id: &str,
    after: Option<&str>,
    limit: usize,
) -> OpsResult<(Vec<AffectedUnit>, Option<String>)> {
    let recall = get(store, id).await?;
    let limit = limit.clamp(1, MAX_UNITS_PAGE);
    let epcs = unit_page(store, id, after, limit + 1).await?;
    let more = epcs.len() > limit;
    let page = &epcs[..epcs.len().min(limit)];
    let list = current(store, &recall, page).await?;
    let next = if more { page.last().cloned() } else { None };
    Ok((list, next))
}

/// Walks every unit of a recall in pages with its current state.
async fn each_page(
    store: &dyn Store,
    recall: &Recall,
    mut f: impl FnMut(Vec<AffectedUnit>),
) -> OpsResult<()> {
    let mut after: Option<String> = None;
    loop {
        let epcs = unit_page(store, &recall.id, after.as_deref(), MAX_UNITS_PAGE).await?;
        let n = epcs.len();
        after = epcs.last().cloned();
        f(current(store, recall, &epcs).await?);
        if n < MAX_UNITS_PAGE {
            return Ok(());
        }
    }
}

/// Progress from the current state of every affected unit.
pub async fn progress(store: &dyn Store, id: &str) -> OpsResult<(Recall, Progress)> {
    let recall = get(store, id).await?;
    let mut p = Progress::default();
    each_page(store, &recall, |units| {
        for u in units {
            if u.retrieved {
                p.retrieved += 1;
            } else {
                p.outstanding += 1;
            }
            if u.held {
                p.held += 1;
            }
            *p.by_state.entry(u.state).or_insert(0) += 1;
        }
    })
    .await?;
    Ok((recall, p))
}

/// Puts the affected units still in the supply chain on hold (once; a second hold is a conflict).
pub async fn hold(store: &dyn Store, id: &str, now_ms: i64) -> OpsResult<Recall> {
    let (rec, mut recall) = load::<Recall>(store, KIND, "recall", id).await?;
    if recall.status != "open" {
        return Err(OpsError::Conflict(format!(
            "recall {id} is {}; a recall is held once",
            recall.status
        )));
    }
    recall.status = "holding".into();
    let conflict = format!("recall {id} is being held by another request");
    let rec = save(store, &rec, &recall, &conflict).await?;
    let done = async {
        let mut epcs = Vec::new();
        each_page(store, &recall, |units| {
            epcs.extend(
                units
                    .into_iter()
                    .filter(|u| !u.held && (u.state == "in_stock" || u.state == "in_transit"))
                    .map(|u| u.epc_uri),
            )
        })
        .await?;
        let mut hashes = Vec::new();
        if !epcs.is_empty() {
            let spec = ObjectEventSpec {
                event_time_ms: now_ms,
                action: "OBSERVE",
                epcs: epcs.clone(),
                biz_step: Some("holding".into()),
                disposition: Some("recalled".into()),
                persistent_disposition_set: vec!["recalled".into()],
                fields: vec![("recall".into(), json!(id))],
                ..Default::default()
            };
            hashes = emit::capture(store, &[spec], now_ms).await?.hash_ids;
        }
        Ok::<_, OpsError>((epcs.len(), hashes))
    }
    .await;
    match done {
        Ok((n, hashes)) => {
            recall.status = "held".into();
            recall.held_ms = Some(now_ms);
            recall.held_count = n;
            recall.hold_event_hash_ids = hashes;
            save(store, &rec, &recall, &conflict).await?;
            Ok(recall)
        }
        Err(e) => {
            recall.status = "open".into();
            let _ = save(store, &rec, &recall, &conflict).await;
            Err(e)
        }
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Epcis,
}

impl Format {
    pub fn parse(s: &str) -> OpsResult<Format> {
        match s {
            "csv" => Ok(Format::Csv),
            "epcis" => Ok(Format::Epcis),
            _ => Err(invalid(format!("format {s:?}: expected csv or epcis"))),
        }
    }
}

const CSV_HEADER: &str = "epc_uri,state,disposition,held,retrieved,lot,location,location_name,site,site_name,containers,destination\n";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV line of a unit.
pub fn csv_line(u: &AffectedUnit) -> String {
    let o = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{}\n",
        csv_field(&u.epc_uri),
        csv_field(&u.state),
        o(&u.disposition),
        u.held,
        u.retrieved,
        o(&u.lot),
        o(&u.location),
        o(&u.location_name),
        o(&u.site),
        o(&u.site_name),
        csv_field(&u.containers.join(" ")),
        o(&u.destination),
    )
}

/// The EPCIS document's text before and after its events.
fn epcis_frame(created_ms: i64) -> (String, String) {
    let doc = emit::document(Vec::new(), created_ms).to_string();
    match doc.rfind("[]") {
        Some(i) => (doc[..=i].to_string(), doc[i + 1..].to_string()),
        None => (doc, String::new()),
    }
}

/// One chunk of an export: call with `after = None` first, then with the returned cursor until
/// it is None. CSV: a header line, then one line per unit with its current state. EPCIS: one
/// document of ObjectEvents (OBSERVE, bizStep `holding`, disposition `recalled`, at the recall's
/// creation time, `unitrace:recall` = its id) naming the affected units, for partners to hold them.
pub async fn export_chunk(
    store: &dyn Store,
    id: &str,
    format: Format,
    after: Option<&str>,
) -> OpsResult<(Vec<u8>, Option<String>)> {
    let recall = get(store, id).await?;
    let page = match format {
        Format::Csv => MAX_UNITS_PAGE,
        Format::Epcis => EPCS_PER_EVENT,
    };
    let epcs = unit_page(store, id, after, page).await?;
    let last = epcs.len() < page;
    let next = if last { None } else { epcs.last().cloned() };
    let mut out = String::new();
    match format {
        Format::Csv => {
            if after.is_none() {
                out.push_str(CSV_HEADER);
            }
            for u in current(store, &recall, &epcs).await? {
                out.push_str(&csv_line(&u));
            }
        }
        Format::Epcis => {
            let (head, tail) = epcis_frame(recall.created_ms);
            if after.is_none() {
                out.push_str(&head);
            }
            if !epcs.is_empty() {
                let mut fields = vec![("recall".to_string(), json!(recall.id))];
                if let Some(r) = &recall.reason {
                    fields.push(("recallReason".into(), json!(r)));
                }
                let spec = ObjectEventSpec {
                    event_time_ms: recall.created_ms,
                    action: "OBSERVE",
                    epcs,
                    biz_step: Some("holding".into()),
                    disposition: Some("recalled".into()),
                    fields,
                    ..Default::default()
                };
                for ev in emit::object_events(&spec) {
                    if after.is_some() {
                        out.push(',');
                    }
                    out.push_str(&ev.to_string());
                }
            }
            if last {
                out.push_str(&tail);
            }
        }
    }
    Ok((out.into_bytes(), next))
}

/// The whole export in memory (for the CLI and tests; the server streams chunks).
pub async fn export(store: &dyn Store, id: &str, format: Format) -> OpsResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (chunk, next) = export_chunk(store, id, format, after.as_deref()).await?;
        out.extend(chunk);
        match next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_ranges() {
        assert!(serial_in_range("5", "1", "10"));
        assert!(serial_in_range("010", "9", "10"));
        assert!(!serial_in_range("11", "1", "10"));
        assert!(serial_in_range("B", "A", "C"));
        assert!(!serial_in_range("D", "A", "C"));
        // Mixed: byte order.
        assert!(serial_in_range("1A", "1", "2"));
        assert!(!serial_in_range("A", "1", "9"));
    }

    #[test]
    fn criteria_checks() {
        let e = resolve(&Criteria::default()).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let c = Criteria {
            commissioned_from: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert!(resolve(&c).unwrap_err().to_string().contains("every unit"));
        let c = Criteria {
            serial_ranges: vec![SerialRange {
                from: "1".into(),
                to: "2".into(),
            }],
            ..Default::default()
        };
        assert!(resolve(&c)
            .unwrap_err()
            .to_string()
            .contains("needs criteria.gtin"));
        let c = Criteria {
            gtin: Some("00614141200016".into()),
            serial_ranges: vec![SerialRange {
                from: "9".into(),
                to: "2".into(),
            }],
            ..Default::default()
        };
        assert!(resolve(&c).unwrap_err().to_string().contains("comes after"));
        let c = Criteria {
            gtin: Some("00614141200017".into()),
            ..Default::default()
        };
        assert!(resolve(&c)
            .unwrap_err()
            .to_string()
            .contains("criteria.gtin"));
        let c = Criteria {
            gtin: Some("00614141200016".into()),
            lots: vec!["AMX25A02".into()],
            ..Default::default()
        };
        let r = resolve(&c).unwrap();
        assert_eq!(
            r.prefix.as_deref(),
            Some("urn:epc:id:sgtin:0614141.020001.")
        );
    }

    #[test]
    fn plain_matching() {
        let r = Resolved {
            prefix: Some("urn:epc:id:sgtin:0614141.020001.".into()),
            lots: vec!["L1".into()],
            ranges: vec![("10".into(), "20".into())],
            from_ms: Some(100),
            to_ms: Some(200),
            ..Default::default()
        };
        let mut u = UnitState::empty("urn:epc:id:sgtin:0614141.020001.15");
        u.lot = Some("L1".into());
        u.commissioned_at = Some(150);
        assert!(matches_plain(&r, &u));
        let mut v = u.clone();
        v.lot = Some("L2".into());
        assert!(!matches_plain(&r, &v));
        let mut v = u.clone();
        v.commissioned_at = Some(200);
        assert!(!matches_plain(&r, &v));
        let mut v = u.clone();
        v.epc = "urn:epc:id:sgtin:0614141.020001.21".into();
        assert!(!matches_plain(&r, &v));
        let mut v = u.clone();
        v.epc = "urn:epc:id:sgtin:0614141.020002.15".into();
        assert!(!matches_plain(&r, &v));
        v.epc = "urn:epc:id:sscc:0614141.0000000001".into();
        assert!(!matches_plain(&Resolved::default(), &v));
    }

    #[test]
    fn lot_classes() {
        let p = "urn:epc:id:sgtin:0614141.107346.";
        let c = lot_class(p, "L/1").unwrap();
        assert_eq!(c, "urn:epc:class:lgtin:0614141.107346.L%2F1");
        assert_eq!(class_lot(&c), Some((p.to_string(), "L/1".to_string())));
        let p12 = "urn:epc:id:sgtin:061414112345.0.";
        let c = lot_class(p12, "A").unwrap();
        assert_eq!(c, "urn:epc:class:lgtin:061414112345.0.A");
        assert_eq!(class_lot(&c), Some((p12.to_string(), "A".to_string())));
        assert_eq!(class_lot("urn:epc:id:sgtin:0614141.107346.1"), None);
        assert!(lot_class("urn:epc:id:sscc:0614141.1234567890", "A").is_err());
        assert!(lot_class(p, "").is_err());
    }

    #[test]
    fn csv_quotes() {
        let u = AffectedUnit {
            epc_uri: "urn:epc:id:sgtin:0614141.020001.A".into(),
            state: "in_stock".into(),
            disposition: None,
            held: false,
            retrieved: false,
            lot: Some("L,1".into()),
            location: None,
            location_name: Some("Shelf \"A\"".into()),
            site: None,
            site_name: None,
            containers: vec!["c1".into(), "c2".into()],
            destination: None,
        };
        assert_eq!(
            csv_line(&u),
            "urn:epc:id:sgtin:0614141.020001.A,in_stock,,false,false,\"L,1\",,\"Shelf \"\"A\"\"\",,,c1 c2,\n"
        );
        assert_eq!(CSV_HEADER.split(',').count(), 12);
    }
}
