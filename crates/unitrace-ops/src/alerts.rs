//! Clone and impossible-state detection, kept as alerts.
//!
//! [`detect`] tails the events of the store by recordTime from a watermark kept in a record, so it
//! sees every event whatever path captured it (HTTP capture, `POST /events`, workflows, other
//! nodes on the same database). Events are examined in groups naming about [`GROUP_UNITS`] units:
//! the heads of all those units' events (and, level by level, of their containers') are read at
//! once with [`Store::event_heads`], without documents; each unit's history (its own events and,
//! while it was inside them, its containers', as the timeline makes it: [`history_from_heads`])
//! is built once per group, and the pure rules of [`findings`] run per event and unit. Documents
//! are read only for the few events whose head says they may carry a unitrace field (alert events,
//! reactivations). A unit's history holds its latest [`unitrace_store::limits::MAX_HEADS_PER_UNIT`]
//! events. The rules:
//!
//! - `seen_after_decommission`: the unit is seen after an event that took it out of the chain for
//!   good (disposition destroyed, disposed, dispensed, stolen or inactive), with no reactivation in
//!   between. (`retail_sold` is not final: sold goods come back as returns.)
//! - `impossible_travel`: two sightings, neighbours in event time, at locations further apart than
//!   [`JITTER_KM`] and farther than [`MAX_SPEED_KMH`] allows in the time between them. Locations
//!   take their coordinates from master data (their own, else their nearest ancestor's).
//! - `foreign_serial`: an SGTIN whose GTIN has serial allocations here but whose serial is not
//!   allocated (GTINs without allocations never alarm).
//! - `not_commissioned`: an allocated serial seen before any commissioning of it.
//! - `double_receiving`: received at one site, then at another, with no shipping in between.
//!
//! Alerts are records under an id derived from the finding only (its trigger recordTime and a
//! digest of rule and events), so several nodes, or a restart that re-reads events, never raise
//! one twice: creating it again is a conflict, i.e. "already raised". Each alert is indexed per
//! unit (`alert-unit` record, one item per alert with its status) for verification ("suspect" =
//! an open alert on the unit), and is written as an EPCIS ObjectEvent OBSERVE, bizStep
//! `inspecting`, no disposition (the unit's state does not change), with a `unitrace:alert`
//! field: every EPCIS subscription whose query matches it (e.g. `EQ_bizStep=inspecting` or
//! `EXISTS_unitrace:alert`... on the unit) receives it, which is how alerts are pushed.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use unitrace_store::state::{containment_periods, EventFacts};
use unitrace_store::{
    Action, EpcRole, EventHead, EventQuery, EventType, HistoryItem, OrderBy, OrderDirection,
    RecordItem, RecordStore, Store, StoreError, StoredEvent,
};

use crate::emit::{self, ObjectEventSpec, UNITRACE_NS};
use crate::verify::cbv_word;
use crate::{OpsError, OpsResult};

/// Record kind of alerts (key: alert id).
pub const KIND_ALERT: &str = "alert";
/// Record kind of the per-unit alert index (key: EPC; items: alert ids with rule and status).
pub const KIND_ALERT_UNIT: &str = "alert-unit";
/// Record kind of the detector's watermark (key [`WATERMARK_KEY`]).
pub const KIND_WATERMARK: &str = "ops-watermark";
pub const WATERMARK_KEY: &str = "alerts";
/// Fastest plausible transport between two sightings (airliner cruise speed), km/h.
pub const MAX_SPEED_KMH: f64 = 900.0;
/// Sightings closer than this are the same place (site size, GPS and master-data jitter), km.
pub const JITTER_KM: f64 = 25.0;
/// Dispositions after which a unit must not be seen again (without a reactivation).
pub const FINAL: &[&str] = &["destroyed", "disposed", "dispensed", "stolen", "inactive"];
/// Events read per detection page, and per [`detect`] call at most.
pub const PAGE: u32 = 50;
pub const MAX_EVENTS_PER_PASS: usize = 2_000;
/// Units examined per [`detect`] call, about (the pass ends after the group that reaches it).
pub const MAX_UNITS_PER_PASS: usize = 20_000;
/// Units examined between two yields to the runtime (so serving is not held up).
const YIELD_EVERY: usize = 256;
/// Units of one event examined (an event naming more is examined for its first ones).
pub const MAX_UNITS_PER_EVENT: usize = 20_000;
/// Units whose histories are read together (a group of events naming about this many).
pub const GROUP_UNITS: usize = 2_000;
/// Units (named ones and their containers) whose heads one group reads at most.
pub const MAX_HEAD_MAP_UNITS: usize = 50_000;
/// Most alerts in one listing.
pub const MAX_LIST: usize = 1_000;
/// Field of the reactivation event written by `decommission::reactivate`.
pub const REACTIVATION_FIELD: &str = "reactivates";

/// The rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    SeenAfterDecommission,
    ImpossibleTravel,
    ForeignSerial,
    NotCommissioned,
    DoubleReceiving,
}

impl Rule {
    pub const ALL: [Rule; 5] = [
        Rule::SeenAfterDecommission,
        Rule::ImpossibleTravel,
        Rule::ForeignSerial,
        Rule::NotCommissioned,
        Rule::DoubleReceiving,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SeenAfterDecommission => "seen_after_decommission",
            Rule::ImpossibleTravel => "impossible_travel",
            Rule::ForeignSerial => "foreign_serial",
            Rule::NotCommissioned => "not_commissioned",
            Rule::DoubleReceiving => "double_receiving",
        }
    }
    pub fn parse(s: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One event of a unit's history, as the rules see it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sighting {
    pub hash: String,
    pub event_time: i64,
    pub record_time: i64,
    pub seq: i64,
    pub action: Option<String>,
    /// Bare CBV words.
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    /// bizLocation, else readPoint.
    pub location: Option<String>,
    /// Top of the location's hierarchy.
    pub site: Option<String>,
    /// (latitude, longitude) of the location or its nearest ancestor with them.
    pub coords: Option<(f64, f64)>,
    /// A reactivation written by unitrace.
    pub reactivation: bool,
}

impl Sighting {
    fn key(&self) -> (i64, i64) {
        (self.event_time, self.seq)
    }
    fn is_final(&self) -> bool {
        self.disposition
            .as_deref()
            .is_some_and(|d| FINAL.contains(&d))
            || (self.action.as_deref() == Some("DELETE")
                && self.biz_step.as_deref() == Some("destroying"))
    }
    fn is_commissioning(&self) -> bool {
        self.biz_step.as_deref() == Some("commissioning") && self.action.as_deref() == Some("ADD")
    }
    fn is_shipping(&self) -> bool {
        matches!(self.biz_step.as_deref(), Some("shipping" | "departing"))
    }
}

/// What is known about the unit's serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SerialFacts {
    pub gtin_has_allocations: bool,
    pub allocated: bool,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    /// What makes it unique: rule, unit and the events in conflict.
    pub key: String,
    /// recordTime that orders the alert (the same whichever node or pass finds it).
    pub trigger_record_time: i64,
    /// Hash IDs of the events in conflict.
    pub events: Vec<String>,
    pub sentence: String,
}

/// Great-circle distance, km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let dp = p2 - p1;
    let dl = (b.1 - a.1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().min(1.0).asin()
}

/// Whether travelling `km` in `ms` milliseconds is impossible.
pub fn travel_impossible(km: f64, ms: i64) -> bool {
    if km <= JITTER_KM {
        return false;
    }
    let hours = ms.unsigned_abs() as f64 / 3_600_000.0;
    km > MAX_SPEED_KMH * hours
}

fn minutes(ms: i64) -> String {
    let m = ms.unsigned_abs() as f64 / 60_000.0;
    if m < 120.0 {
        format!("{m:.0} minutes")
    } else {
        format!("{:.1} hours", m / 60.0)
    }
}

/// The rules for one event (`target`, a hash in `history`) of one unit. `history` holds every
/// event of the unit (any order); pure.
pub fn findings(
    unit: &str,
    target_hash: &str,
    history: &[Sighting],
    serial: SerialFacts,
) -> Vec<Finding> {
    let mut hist: Vec<&Sighting> = history.iter().collect();
    hist.sort_by_key(|s| s.key());
    let Some(ti) = hist.iter().position(|s| s.hash == target_hash) else {
        return Vec::new();
    };
    let t = hist[ti];
    let mut out = Vec::new();
    // Seen (somewhere: an event with a location) after a final decommissioning, no
    // reactivation since. Bookkeeping without a place (a recall naming a whole lot) is no sighting.
    if !t.reactivation && t.location.is_some() {
        let mut last_final: Option<&Sighting> = None;
        for s in &hist[..ti] {
            if s.reactivation {
                last_final = None;
            } else if s.is_final() {
                last_final = Some(s);
            }
        }
        if let Some(d) = last_final {
            out.push(Finding {
                rule: Rule::SeenAfterDecommission,
                key: format!("{}|{unit}|{}", Rule::SeenAfterDecommission.as_str(), d.hash),
                trigger_record_time: d.record_time,
                events: vec![d.hash.clone(), t.hash.clone()],
                sentence: format!(
                    "{unit} was seen ({}) after it was decommissioned ({}) by an earlier event",
                    t.biz_step.as_deref().unwrap_or("an event"),
                    d.disposition
                        .as_deref()
                        .or(d.biz_step.as_deref())
                        .unwrap_or("destroyed"),
                ),
            });
        }
    }
    // Impossible travel against the neighbours in event time that have coordinates.
    if let Some(tc) = t.coords {
        let prev = hist[..ti].iter().rev().find(|s| s.coords.is_some());
        let next = hist[ti + 1..].iter().find(|s| s.coords.is_some());
        for n in [prev, next].into_iter().flatten().copied() {
            let Some(nc) = n.coords else { continue };
            let km = distance_km(tc, nc);
            let dt = t.event_time - n.event_time;
            if travel_impossible(km, dt) {
                let (a, b) = if n.hash < t.hash { (n, t) } else { (t, n) };
                let (first, second) = if n.key() < t.key() { (n, t) } else { (t, n) };
                out.push(Finding {
                    rule: Rule::ImpossibleTravel,
                    key: format!(
                        "{}|{unit}|{}|{}",
                        Rule::ImpossibleTravel.as_str(),
                        a.hash,
                        b.hash
                    ),
                    trigger_record_time: a.record_time.max(b.record_time),
                    events: vec![first.hash.clone(), second.hash.clone()],
                    sentence: format!(
                        "{unit} was seen at {} and {} apart at {}: {km:.0} km, more than \
                         {MAX_SPEED_KMH:.0} km/h allows",
                        first.location.as_deref().unwrap_or("?"),
                        minutes(dt),
                        second.location.as_deref().unwrap_or("?"),
                    ),
                });
            }
        }
    }
    // Serials of a GTIN with allocations.
    if serial.gtin_has_allocations {
        let first = hist[0];
        if !serial.allocated {
            out.push(Finding {
                rule: Rule::ForeignSerial,
                key: format!("{}|{unit}", Rule::ForeignSerial.as_str()),
                trigger_record_time: hist.iter().map(|s| s.record_time).min().unwrap_or(0),
                events: vec![first.hash.clone()],
                sentence: format!(
                    "{unit} appears in events but its serial was never allocated, although its \
                     GTIN's serials are allocated here"
                ),
            });
        } else if !t.is_commissioning() && !hist[..=ti].iter().any(|s| s.is_commissioning()) {
            out.push(Finding {
                rule: Rule::NotCommissioned,
                key: format!("{}|{unit}", Rule::NotCommissioned.as_str()),
                trigger_record_time: t.record_time,
                events: vec![t.hash.clone()],
                sentence: format!(
                    "{unit} is seen ({}) but was never commissioned before",
                    t.biz_step.as_deref().unwrap_or("an event")
                ),
            });
        }
    }
    // Received twice at different sites without a shipping in between.
    if t.biz_step.as_deref() == Some("receiving") {
        if let Some(ts) = &t.site {
            for s in hist[..ti].iter().rev() {
                if s.is_shipping() {
                    break;
                }
                if s.biz_step.as_deref() == Some("receiving") {
                    if let Some(ss) = &s.site {
                        if ss != ts {
                            out.push(Finding {
                                rule: Rule::DoubleReceiving,
                                key: format!(
                                    "{}|{unit}|{}|{}",
                                    Rule::DoubleReceiving.as_str(),
                                    s.hash,
                                    t.hash
                                ),
                                trigger_record_time: s.record_time.max(t.record_time),
                                events: vec![s.hash.clone(), t.hash.clone()],
                                sentence: format!(
                                    "{unit} was received at {ss} and then at {ts} with no \
                                     shipping in between"
                                ),
                            });
                        }
                    }
                    break;
                }
            }
        }
    }
    out
}

/// FNV-1a 64.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The alert id of a finding: ordered by its trigger recordTime, unique by its key.
pub fn alert_id(f: &Finding) -> String {
    format!("{:013}-{:016x}", f.trigger_record_time.max(0), fnv(&f.key))
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub rule: Rule,
    pub unit: String,
    /// Hash IDs of the events in conflict.
    pub events: Vec<String>,
    pub sentence: String,
    /// `open` or `acknowledged`.
    pub status: String,
    pub raised_ms: i64,
    pub trigger_record_time: i64,
    pub key: String,
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    #[serde(default)]
    pub acknowledged_ms: Option<i64>,
    #[serde(default)]
    pub note: Option<String>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> OpsError {
    OpsError::Store(StoreError::Corrupt(format!("{what}: {e}")))
}

fn parse_alert(body: Value) -> OpsResult<Alert> {
    serde_json::from_value(body).map_err(|e| corrupt("alert", e))
}

/// Raise an alert for a finding; false when it was raised before (by this or another node).
pub async fn raise(store: &dyn Store, unit: &str, f: &Finding, now_ms: i64) -> OpsResult<bool> {
    let id = alert_id(f);
    let alert = Alert {
        id: id.clone(),
        rule: f.rule,
        unit: unit.to_string(),
        events: f.events.clone(),
        sentence: f.sentence.clone(),
        status: "open".into(),
        raised_ms: now_ms,
        trigger_record_time: f.trigger_record_time,
        key: f.key.clone(),
        acknowledged_by: None,
        acknowledged_ms: None,
        note: None,
    };
    let body = serde_json::to_value(&alert).map_err(|e| corrupt("alert", e))?;
    let (new, stored) = match store.create_record(KIND_ALERT, &id, &body).await {
        Ok(_) => (true, alert),
        Err(StoreError::Conflict(_)) => match store.get_record(KIND_ALERT, &id).await? {
            Some(r) => (false, parse_alert(r.body)?),
            None => return Ok(false),
        },
        Err(e) => return Err(e.into()),
    };
    // Index and event are idempotent: a crash after the create is repaired by the next pass.
    index(store, &stored).await?;
    let spec = ObjectEventSpec {
        event_time_ms: stored.trigger_record_time,
        action: "OBSERVE",
        epcs: vec![unit.to_string()],
        biz_step: Some("inspecting".into()),
        fields: vec![(
            "alert".into(),
            json!({ "id": stored.id, "rule": stored.rule, "events": stored.events }),
        )],
        ..Default::default()
    };
    if unit.starts_with("urn:epc:id:") || unit.starts_with("http") {
        emit::capture(store, &[spec], now_ms).await?;
    }
    Ok(new)
}

async fn index(store: &dyn RecordStore, a: &Alert) -> OpsResult<()> {
    let item = RecordItem {
        item: a.id.clone(),
        body: json!({"rule": a.rule, "status": a.status}),
    };
    match store
        .put_record_items(KIND_ALERT_UNIT, &a.unit, std::slice::from_ref(&item))
        .await
    {
        Err(StoreError::NotFound(_)) => {
            match store
                .create_record(KIND_ALERT_UNIT, &a.unit, &json!({"unit": a.unit}))
                .await
            {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            store
                .put_record_items(KIND_ALERT_UNIT, &a.unit, &[item])
                .await?;
        }
        r => r?,
    }
    Ok(())
}

/// Rules of the open alerts on a unit.
pub async fn open_alerts(store: &dyn RecordStore, epc: &str) -> OpsResult<Vec<String>> {
    let items = store
        .list_record_items(KIND_ALERT_UNIT, epc, None, 100)
        .await?;
    Ok(items
        .into_iter()
        .filter(|i| i.body["status"] == "open")
        .filter_map(|i| i.body["rule"].as_str().map(str::to_string))
        .collect())
}

pub async fn get_alert(store: &dyn RecordStore, id: &str) -> OpsResult<Alert> {
    let r = store
        .get_record(KIND_ALERT, id)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("no alert {id:?}")))?;
    parse_alert(r.body)
}

/// Acknowledge an alert (it stops making its unit `suspect`).
pub async fn acknowledge(
    store: &dyn RecordStore,
    id: &str,
    by: &str,
    note: Option<&str>,
    now_ms: i64,
) -> OpsResult<Alert> {
    for _ in 0..5 {
        let r = store
            .get_record(KIND_ALERT, id)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("no alert {id:?}")))?;
        let mut a = parse_alert(r.body)?;
        if a.status != "open" {
            return Err(OpsError::Conflict(format!(
                "alert {id} is already {} (by {})",
                a.status,
                a.acknowledged_by.as_deref().unwrap_or("?")
            )));
        }
        a.status = "acknowledged".into();
        a.acknowledged_by = Some(by.chars().take(256).collect());
        a.acknowledged_ms = Some(now_ms);
        a.note = note.map(|n| n.chars().take(2000).collect());
        let body = serde_json::to_value(&a).map_err(|e| corrupt("alert", e))?;
        match store.update_record(KIND_ALERT, id, r.version, &body).await {
            Ok(_) => {
                index(store, &a).await?;
                return Ok(a);
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OpsError::Conflict(format!(
        "alert {id} kept changing while it was acknowledged; try again"
    )))
}

/// Filters of an alert listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub rule: Option<Rule>,
    pub unit: Option<String>,
    pub status: Option<String>,
}

/// Alerts in id order (= trigger recordTime) after `after`, at most `limit`; the second value
/// is the cursor of the next page when there may be more.
pub async fn list_alerts(
    store: &dyn RecordStore,
    filter: &AlertFilter,
    after: Option<&str>,
    limit: usize,
) -> OpsResult<(Vec<Alert>, Option<String>)> {
    let limit = limit.clamp(1, MAX_LIST);
    let keep = |a: &Alert| {
        filter.rule.is_none_or(|r| r == a.rule)
            && filter.status.as_deref().is_none_or(|s| s == a.status)
            && filter.unit.as_deref().is_none_or(|u| u == a.unit)
    };
    let mut out = Vec::new();
    if let Some(unit) = &filter.unit {
        let items = store
            .list_record_items(KIND_ALERT_UNIT, unit, after, limit)
            .await?;
        let more = items.len() == limit;
        let mut last = None;
        for i in items {
            last = Some(i.item.clone());
            if let Some(r) = store.get_record(KIND_ALERT, &i.item).await? {
                let a = parse_alert(r.body)?;
                if keep(&a) {
                    out.push(a);
                }
            }
        }
        return Ok((out, if more { last } else { None }));
    }
    let mut cursor = after.map(str::to_string);
    // Bounded scan: at most 20 pages of 500 records per answer.
    for _ in 0..20 {
        let page = store
            .list_records(KIND_ALERT, cursor.as_deref(), 500)
            .await?;
        let done = page.len() < 500;
        for r in page {
            cursor = Some(r.key.clone());
            let a = parse_alert(r.body)?;
            if keep(&a) {
                out.push(a);
                if out.len() >= limit {
                    return Ok((out, cursor));
                }
            }
        }
        if done {
            return Ok((out, None));
        }
    }
    Ok((out, cursor))
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Watermark {
    record_time: i64,
    seq: i64,
}

/// Where a location is: coordinates (own or nearest ancestor's) and its site (top ancestor).
#[derive(Debug, Clone, Default)]
struct Place {
    coords: Option<(f64, f64)>,
    site: Option<String>,
}

/// Master data read during one pass.
#[derive(Default)]
struct Cache {
    places: HashMap<String, Place>,
    gtins: HashMap<String, bool>,
    /// (alert event, reactivation) by event seq.
    flags: HashMap<i64, (bool, bool)>,
    /// Whether the GTIN has allocations, by SGTIN class prefix.
    classes: HashMap<String, bool>,
}

/// The class part of an SGTIN EPC URI (`urn:epc:id:sgtin:0614141.107346.` of
/// `urn:epc:id:sgtin:0614141.107346.2017`), None for other identifiers.
fn sgtin_class(epc: &str) -> Option<&str> {
    const P: &str = "urn:epc:id:sgtin:";
    let rest = epc.strip_prefix(P)?;
    let i = rest.find('.')?;
    let j = rest[i + 1..].find('.')?;
    Some(&epc[..P.len() + i + 1 + j + 1])
}

impl Cache {
    async fn place(&mut self, store: &dyn Store, id: &str) -> OpsResult<Place> {
        if let Some(p) = self.places.get(id) {
            return Ok(p.clone());
        }
        let mut place = Place::default();
        let mut cur = Some(id.to_string());
        for _ in 0..unitrace_store::limits::MAX_CONTAINMENT_DEPTH {
            let Some(c) = cur.take() else { break };
            match store.get_location(&c).await? {
                Some(l) => {
                    if place.coords.is_none() {
                        if let (Some(a), Some(b)) = (l.latitude, l.longitude) {
                            place.coords = Some((a, b));
                        }
                    }
                    place.site = Some(l.id.clone());
                    cur = l.parent_id.clone();
                }
                None => {
                    if place.site.is_none() {
                        place.site = Some(c);
                    }
                }
            }
        }
        self.places.insert(id.to_string(), place.clone());
        Ok(place)
    }

    /// Whether the GTIN of an SGTIN class (`urn:epc:id:sgtin:CP.IR.`, see [`sgtin_class`]) has
    /// serial allocations; the EPC is parsed once per class.
    async fn class_has(&mut self, store: &dyn Store, class: &str) -> OpsResult<bool> {
        if let Some(b) = self.classes.get(class) {
            return Ok(*b);
        }
        let probe = format!("{class}0");
        let b = match crate::serials::identify(&probe)
            .ok()
            .and_then(|id| id.sgtin)
        {
            Some((g, _)) => self.gtin_has(store, &g).await?,
            None => false,
        };
        self.classes.insert(class.to_string(), b);
        Ok(b)
    }

    async fn gtin_has(&mut self, store: &dyn Store, gtin: &str) -> OpsResult<bool> {
        if let Some(b) = self.gtins.get(gtin) {
            return Ok(*b);
        }
        let b = crate::serials::gtin_has_allocations(store, gtin).await?;
        self.gtins.insert(gtin.to_string(), b);
        Ok(b)
    }
}

fn str_at<'a>(d: &'a Value, k: &str) -> Option<&'a str> {
    d.get(k).and_then(Value::as_str)
}

/// Whether an event is one of our alert events (never examined).
fn is_alert_event(d: &Value) -> bool {
    has_field(d, "alert")
}

/// Whether the event carries the unitrace field `name` (`unitrace:<name>` or its full IRI).
fn has_field(d: &Value, name: &str) -> bool {
    d.as_object().is_some_and(|m| {
        m.contains_key(&format!("unitrace:{name}"))
            || m.contains_key(&format!("{UNITRACE_NS}{name}"))
    })
}

/// Whether a stored event may be an alert event or a reactivation, judged from its head; only
/// those have their document read (to look for the unitrace field).
fn maybe_flagged(f: &EventFacts) -> bool {
    let step = f.biz_step.as_deref().map(cbv_word);
    f.action == Some(Action::Observe)
        && matches!(
            (step, f.disposition.as_deref().map(cbv_word)),
            (Some("inspecting"), None) | (Some("stocking"), Some("active"))
        )
}

/// (alert event, reactivation) of an event document.
fn flags_of(d: &Value) -> (bool, bool) {
    (is_alert_event(d), has_field(d, REACTIVATION_FIELD))
}

/// The flags of an event by its head: from the events of the pass, else its document.
async fn flags(store: &dyn Store, cache: &mut Cache, h: &EventHead) -> OpsResult<(bool, bool)> {
    if !maybe_flagged(&h.facts) {
        return Ok((false, false));
    }
    if let Some(f) = cache.flags.get(&h.facts.seq) {
        return Ok(*f);
    }
    let f = match store.event_by_hash(&h.hash_id).await? {
        Some(e) => flags_of(&e.document),
        None => (false, false),
    };
    cache.flags.insert(h.facts.seq, f);
    Ok(f)
}

async fn sighting(
    store: &dyn Store,
    cache: &mut Cache,
    h: &EventHead,
    reactivation: bool,
) -> OpsResult<Sighting> {
    let f = &h.facts;
    let location = f
        .biz_location
        .as_deref()
        .or(f.read_point.as_deref())
        .map(unitrace_capture::normalise_epc);
    let place = match &location {
        Some(l) => cache.place(store, l).await?,
        None => Place::default(),
    };
    Ok(Sighting {
        hash: h.hash_id.clone(),
        event_time: f.event_time,
        record_time: h.record_time,
        seq: f.seq,
        action: f.action.map(|a| a.as_str().to_string()),
        biz_step: f.biz_step.as_deref().map(|s| cbv_word(s).to_string()),
        disposition: f.disposition.as_deref().map(|s| cbv_word(s).to_string()),
        location,
        site: place.site,
        coords: place.coords,
        reactivation,
    })
}

/// Instance-level identifiers an event names.
fn named_units(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["epcList", "childEPCs", "inputEPCList", "outputEPCList"] {
        if let Some(a) = d.get(k).and_then(Value::as_array) {
            out.extend(
                a.iter()
                    .filter_map(Value::as_str)
                    .map(unitrace_capture::normalise_epc),
            );
        }
    }
    if let Some(p) = str_at(d, "parentID") {
        out.push(unitrace_capture::normalise_epc(p));
    }
    out.sort();
    out.dedup();
    out.truncate(MAX_UNITS_PER_EVENT);
    out
}

/// How many identifiers an event names (roughly: for grouping).
fn named_count(d: &Value) -> usize {
    ["epcList", "childEPCs", "inputEPCList", "outputEPCList"]
        .iter()
        .filter_map(|k| d.get(*k).and_then(Value::as_array))
        .map(Vec::len)
        .sum::<usize>()
        + usize::from(d.get("parentID").is_some())
}

/// Heads of units, by unit.
pub type HeadMap = HashMap<String, Vec<EventHead>>;

/// Parents a unit was aggregated into, by its heads.
fn parents_in(heads: &[EventHead]) -> impl Iterator<Item = &str> {
    heads
        .iter()
        .filter(|h| {
            h.facts.event_type == EventType::AggregationEvent && h.roles.has(EpcRole::ChildEpc)
        })
        .filter_map(|h| h.facts.parent_id.as_deref())
}

/// Read the heads of `units` and, level by level, of the containers they were ever in (at most
/// [`MAX_HEAD_MAP_UNITS`] units in all: beyond, containers are left out).
pub async fn load_heads(store: &dyn Store, units: Vec<String>) -> OpsResult<HeadMap> {
    let mut map = HeadMap::new();
    let mut need = units;
    for _ in 0..=unitrace_store::limits::MAX_CONTAINMENT_DEPTH {
        need.sort_unstable();
        need.dedup();
        need.retain(|u| !map.contains_key(u));
        need.truncate(MAX_HEAD_MAP_UNITS.saturating_sub(map.len()));
        if need.is_empty() {
            break;
        }
        for chunk in need.chunks(unitrace_store::limits::MAX_HEAD_UNITS) {
            for u in chunk {
                map.insert(u.clone(), Vec::new());
            }
            for (u, h) in store.event_heads(chunk).await? {
                if let Some(v) = map.get_mut(&u) {
                    v.push(h);
                }
            }
        }
        need = need
            .iter()
            .flat_map(|u| parents_in(&map[u]))
            .map(str::to_string)
            .collect();
    }
    Ok(map)
}

/// A unit's history from heads, as [`Store::timeline`] makes it: its own events and, while it
/// was inside them, its containers' (and theirs), each event once; in no particular order. Pure.
pub fn history_from_heads<'a>(unit: &str, heads: &'a HeadMap) -> Vec<&'a EventHead> {
    type Bound = Option<(i64, i64)>;
    let Some(own) = heads.get(unit) else {
        return Vec::new();
    };
    let mut out: Vec<&EventHead> = own.iter().collect();
    let mut seen: HashSet<i64> = out.iter().map(|h| h.facts.seq).collect();
    let mut level: Vec<(&str, Bound, Bound)> = vec![(unit, None, None)];
    for _ in 0..unitrace_store::limits::MAX_CONTAINMENT_DEPTH {
        let mut next = Vec::new();
        for (u, lo, hi) in level {
            let Some(mine) = heads.get(u) else { continue };
            if parents_in(mine).next().is_none() {
                continue;
            }
            let mut items: Vec<HistoryItem> = mine
                .iter()
                .map(|h| HistoryItem::Named(h.facts.clone(), h.roles))
                .collect();
            let mut parents: Vec<&str> = parents_in(mine).collect();
            parents.sort_unstable();
            parents.dedup();
            for p in &parents {
                for h in heads.get(*p).into_iter().flatten() {
                    if h.facts.empty_delete
                        && h.roles.has(EpcRole::ParentId)
                        && h.facts.parent_id.as_deref() == Some(*p)
                    {
                        items.push(HistoryItem::ParentEmptied(h.facts.clone()));
                    }
                }
            }
            for period in containment_periods(u, items) {
                let Some((from, to)) = period.within(lo, hi) else {
                    continue;
                };
                if period.parent == unit {
                    continue;
                }
                let Some((p, ph)) = heads.get_key_value(&period.parent) else {
                    continue;
                };
                for h in ph {
                    let k = (h.facts.event_time, h.facts.seq);
                    if k > from && to.is_none_or(|t| k < t) && seen.insert(h.facts.seq) {
                        out.push(h);
                    }
                }
                next.push((p.as_str(), Some(from), to));
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    out
}

/// Examine one event; returns the alerts newly raised.
pub async fn examine(store: &dyn Store, e: &StoredEvent, now_ms: i64) -> OpsResult<Vec<Alert>> {
    let mut cache = Cache::default();
    examine_group(store, &mut cache, &[e], now_ms).await
}

/// Examine events together: the heads of all the units they name (and of their containers) are
/// read at once, each unit's history is made once, then the rules run per event and unit.
async fn examine_group(
    store: &dyn Store,
    cache: &mut Cache,
    events: &[&StoredEvent],
    now_ms: i64,
) -> OpsResult<Vec<Alert>> {
    let mut targets: Vec<(&StoredEvent, Vec<String>)> = Vec::new();
    for e in events {
        cache.flags.insert(e.seq, flags_of(&e.document));
        if !is_alert_event(&e.document) {
            targets.push((e, named_units(&e.document)));
        }
    }
    let all: Vec<String> = targets
        .iter()
        .flat_map(|(_, u)| u.iter().cloned())
        .collect();
    if all.is_empty() {
        return Ok(Vec::new());
    }
    let heads = load_heads(store, all).await?;
    let mut histories: HashMap<&str, Vec<Sighting>> = HashMap::new();
    let mut raised = Vec::new();
    let mut done = 0usize;
    for (e, units) in &targets {
        for unit in units {
            done += 1;
            if done.is_multiple_of(YIELD_EVERY) {
                tokio::task::yield_now().await;
            }
            let gtin_has = match sgtin_class(unit) {
                Some(class) => cache.class_has(store, class).await?,
                None => false,
            };
            // Named by this event alone and of a GTIN without allocations: no rule can fire.
            if !gtin_has
                && heads
                    .get(unit.as_str())
                    .is_none_or(|h| h.len() <= 1 && parents_in(h).next().is_none())
                && !histories.contains_key(unit.as_str())
            {
                continue;
            }
            if !histories.contains_key(unit.as_str()) {
                let mut history = Vec::new();
                for h in history_from_heads(unit, &heads) {
                    let (alert, reactivation) = flags(store, cache, h).await?;
                    if !alert {
                        history.push(sighting(store, cache, h, reactivation).await?);
                    }
                }
                histories.insert(unit.as_str(), history);
            }
            let history = &histories[unit.as_str()];
            let mut serial = SerialFacts::default();
            if gtin_has {
                if let Ok(id) = crate::serials::identify(unit) {
                    if let Some((g, s)) = id.sgtin {
                        serial.gtin_has_allocations = true;
                        serial.allocated =
                            crate::serials::is_allocated(store, &g, &s).await?.is_some();
                    }
                }
            }
            for f in findings(unit, &e.hash_id, history, serial) {
                if raise(store, unit, &f, now_ms).await? {
                    raised.push(get_alert(store, &alert_id(&f)).await?);
                }
            }
        }
    }
    Ok(raised)
}

/// What one [`detect`] call did.
#[derive(Debug, Default)]
pub struct Pass {
    /// Events examined.
    pub events: usize,
    /// Units those events name.
    pub units: usize,
    /// Alerts newly raised.
    pub raised: Vec<Alert>,
    /// The pass stopped at its bounds with events left: call again.
    pub more: bool,
}

/// One pass of the detector: examine the events recorded since the watermark (at most
/// [`MAX_EVENTS_PER_PASS`] events and about [`MAX_UNITS_PER_PASS`] units), raise alerts, move
/// the watermark. Call it again while [`Pass::more`].
pub async fn detect(store: &dyn Store, now_ms: i64) -> OpsResult<Pass> {
    let rec = store.get_record(KIND_WATERMARK, WATERMARK_KEY).await?;
    let wm: Watermark = match &rec {
        Some(r) => serde_json::from_value(r.body.clone()).map_err(|e| corrupt("watermark", e))?,
        None => Watermark {
            record_time: i64::MIN / 4,
            seq: 0,
        },
    };
    let mut q = EventQuery {
        ge_record_time: Some(wm.record_time),
        order_by: OrderBy::RecordTime,
        order_direction: OrderDirection::Asc,
        per_page: Some(PAGE),
        ..Default::default()
    };
    let mut cache = Cache::default();
    let mut pass = Pass::default();
    let mut last = wm;
    'pages: loop {
        let page = store.query_events(&q).await?;
        // Groups of events naming about GROUP_UNITS units (an event naming more is alone).
        let fresh: Vec<&StoredEvent> = page
            .events
            .iter()
            .filter(|e| (e.record_time, e.seq) > (wm.record_time, wm.seq))
            .collect();
        let mut group: Vec<&StoredEvent> = Vec::new();
        let mut units = 0usize;
        for (i, e) in fresh.iter().enumerate() {
            group.push(e);
            units += named_count(&e.document);
            if units >= GROUP_UNITS || i + 1 == fresh.len() {
                pass.raised
                    .extend(examine_group(store, &mut cache, &group, now_ms).await?);
                pass.events += group.len();
                pass.units += units;
                group.clear();
                units = 0;
                last = Watermark {
                    record_time: e.record_time,
                    seq: e.seq,
                };
                if pass.units >= MAX_UNITS_PER_PASS && i + 1 < fresh.len() {
                    pass.more = true;
                    break 'pages;
                }
            }
        }
        match page.next_page_token {
            Some(t) if pass.events < MAX_EVENTS_PER_PASS && pass.units < MAX_UNITS_PER_PASS => {
                q.next_page_token = Some(t)
            }
            Some(_) => {
                pass.more = true;
                break;
            }
            None => break,
        }
    }
    if last != wm {
        save_watermark(store, last).await?;
    }
    Ok(pass)
}

async fn save_watermark(store: &dyn RecordStore, wm: Watermark) -> OpsResult<()> {
    let body = serde_json::to_value(wm).map_err(|e| corrupt("watermark", e))?;
    for _ in 0..5 {
        match store.get_record(KIND_WATERMARK, WATERMARK_KEY).await? {
            None => match store
                .create_record(KIND_WATERMARK, WATERMARK_KEY, &body)
                .await
            {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            },
            Some(r) => {
                let cur: Watermark =
                    serde_json::from_value(r.body).map_err(|e| corrupt("watermark", e))?;
                if (cur.record_time, cur.seq) >= (wm.record_time, wm.seq) {
                    return Ok(()); // another node is ahead
                }
                match store
                    .update_record(KIND_WATERMARK, WATERMARK_KEY, r.version, &body)
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

/// The alert as JSON for the API.
pub fn alert_json(a: &Alert) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(hash: &str, t_min: i64) -> Sighting {
        Sighting {
            hash: hash.into(),
            event_time: t_min * 60_000,
            record_time: 1000 + t_min,
            seq: t_min,
            action: Some("OBSERVE".into()),
            ..Default::default()
        }
    }

    const HAMBURG: (f64, f64) = (53.5503, 10.0007);
    const MUNICH: (f64, f64) = (48.1351, 11.5820);

    #[test]
    fn travel() {
        let km = distance_km(HAMBURG, MUNICH);
        assert!((600.0..620.0).contains(&km), "{km}");
        assert!(travel_impossible(km, 7 * 60_000));
        assert!(!travel_impossible(km, 60 * 60_000));
        assert!(!travel_impossible(JITTER_KM, 0), "same-site jitter");
        assert!(travel_impossible(JITTER_KM + 1.0, 0));
        let mut a = s("a", 0);
        a.coords = Some(HAMBURG);
        a.location = Some("H".into());
        let mut b = s("b", 7);
        b.coords = Some(MUNICH);
        b.location = Some("M".into());
        let h = vec![a.clone(), b.clone()];
        let f = findings("u", "b", &h, SerialFacts::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, Rule::ImpossibleTravel);
        assert_eq!(f[0].events, vec!["a".to_string(), "b".to_string()]);
        // Found from either side (late arrival), same key.
        let g = findings("u", "a", &h, SerialFacts::default());
        assert_eq!(g[0].key, f[0].key);
        assert_eq!(alert_id(&g[0]), alert_id(&f[0]));
        // A day apart: fine.
        b.event_time = 24 * 3_600_000;
        assert!(findings("u", "b", &[a, b], SerialFacts::default()).is_empty());
    }

    #[test]
    fn after_decommission() {
        let mut d = s("d", 1);
        d.disposition = Some("dispensed".into());
        let mut seen = s("x", 5);
        seen.location = Some("L".into());
        let f = findings(
            "u",
            "x",
            &[s("c", 0), d.clone(), seen.clone()],
            SerialFacts::default(),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, Rule::SeenAfterDecommission);
        assert_eq!(f[0].events, vec!["d".to_string(), "x".to_string()]);
        let mut r = s("r", 3);
        r.reactivation = true;
        assert!(findings(
            "u",
            "x",
            &[d.clone(), r, seen.clone()],
            SerialFacts::default()
        )
        .is_empty());
        let mut sold = d.clone();
        sold.disposition = Some("retail_sold".into());
        assert!(findings("u", "x", &[sold, seen.clone()], SerialFacts::default()).is_empty());
        let nowhere = s("x", 5);
        assert!(findings("u", "x", &[d.clone(), nowhere], SerialFacts::default()).is_empty());
        let mut destroyed = s("d", 1);
        destroyed.action = Some("DELETE".into());
        destroyed.biz_step = Some("destroying".into());
        assert_eq!(
            findings("u", "x", &[destroyed, seen], SerialFacts::default()).len(),
            1
        );
    }

    #[test]
    fn serial_rules() {
        let mut c = s("c", 0);
        c.action = Some("ADD".into());
        c.biz_step = Some("commissioning".into());
        let o = s("o", 1);
        let foreign = SerialFacts {
            gtin_has_allocations: true,
            allocated: false,
        };
        let f = findings("u", "o", &[c.clone(), o.clone()], foreign);
        assert_eq!(f[0].rule, Rule::ForeignSerial);
        let ok = SerialFacts {
            gtin_has_allocations: true,
            allocated: true,
        };
        assert!(findings("u", "o", &[c.clone(), o.clone()], ok).is_empty());
        assert!(findings("u", "c", &[c.clone()], ok).is_empty());
        let f = findings("u", "o", std::slice::from_ref(&o), ok);
        assert_eq!(f[0].rule, Rule::NotCommissioned);
        // No allocations for the GTIN: never an alarm.
        assert!(findings("u", "o", &[o], SerialFacts::default()).is_empty());
    }

    fn head(
        seq: i64,
        t: i64,
        ty: EventType,
        action: Action,
        parent: Option<&str>,
        role: EpcRole,
    ) -> EventHead {
        EventHead {
            facts: EventFacts {
                seq,
                event_type: ty,
                event_time: t,
                action: Some(action),
                biz_step: None,
                disposition: None,
                read_point: None,
                biz_location: None,
                pdisp_set: Vec::new(),
                pdisp_unset: Vec::new(),
                ilmd_lot: None,
                ilmd_expiry: None,
                parent_id: parent.map(str::to_string),
                empty_delete: false,
            },
            roles: unitrace_store::state::RoleSet::single(role),
            hash_id: format!("h{seq}"),
            record_time: seq,
        }
    }

    #[test]
    fn history_through_containers() {
        use Action::*;
        use EventType::*;
        let (obj, agg) = (ObjectEvent, AggregationEvent);
        let mut m = HeadMap::new();
        // The unit: commissioned, packed into the case at 10, unpacked at 40, seen at 45.
        m.insert(
            "u".into(),
            vec![
                head(1, 0, obj, Add, None, EpcRole::Epc),
                head(3, 10, agg, Add, Some("case"), EpcRole::ChildEpc),
                head(7, 40, agg, Delete, Some("case"), EpcRole::ChildEpc),
                head(9, 45, obj, Observe, None, EpcRole::Epc),
            ],
        );
        // The case: seen at 5 (before), packed onto the pallet at 20, seen at 35, 50 (after).
        m.insert(
            "case".into(),
            vec![
                head(2, 5, obj, Observe, None, EpcRole::Epc),
                head(3, 10, agg, Add, Some("case"), EpcRole::ParentId),
                head(4, 20, agg, Add, Some("pallet"), EpcRole::ChildEpc),
                head(6, 35, obj, Observe, None, EpcRole::Epc),
                head(7, 40, agg, Delete, Some("case"), EpcRole::ParentId),
                head(10, 50, obj, Observe, None, EpcRole::Epc),
            ],
        );
        // The pallet: seen at 30 (with the case on it) and at 60.
        m.insert(
            "pallet".into(),
            vec![
                head(4, 20, agg, Add, Some("pallet"), EpcRole::ParentId),
                head(5, 30, obj, Observe, None, EpcRole::Epc),
                head(11, 60, obj, Observe, None, EpcRole::Epc),
            ],
        );
        let mut got: Vec<i64> = history_from_heads("u", &m)
            .iter()
            .map(|h| h.facts.seq)
            .collect();
        got.sort_unstable();
        assert_eq!(got, vec![1, 3, 4, 5, 6, 7, 9]);
        // An empty DELETE of the case at 25 ends the unit's stay: 5 and 6 are no longer its.
        let mut empty = head(8, 25, agg, Delete, Some("case"), EpcRole::ParentId);
        empty.facts.empty_delete = true;
        m.get_mut("case").unwrap().push(empty);
        let mut got: Vec<i64> = history_from_heads("u", &m)
            .iter()
            .map(|h| h.facts.seq)
            .collect();
        got.sort_unstable();
        assert_eq!(got, vec![1, 3, 4, 7, 9]);
        assert!(history_from_heads("nobody", &m).is_empty());
    }

    #[test]
    fn sgtin_classes() {
        assert_eq!(
            sgtin_class("urn:epc:id:sgtin:0614141.107346.2017"),
            Some("urn:epc:id:sgtin:0614141.107346.")
        );
        assert_eq!(sgtin_class("urn:epc:id:sscc:0614141.1234567890"), None);
        assert_eq!(sgtin_class("urn:epc:id:sgtin:0614141"), None);
    }

    #[test]
    fn flagged_heads() {
        let mut h = head(
            1,
            0,
            EventType::ObjectEvent,
            Action::Observe,
            None,
            EpcRole::Epc,
        );
        assert!(!maybe_flagged(&h.facts));
        h.facts.biz_step = Some("https://ref.gs1.org/cbv/BizStep-inspecting".into());
        assert!(maybe_flagged(&h.facts));
        h.facts.disposition = Some("active".into());
        assert!(!maybe_flagged(&h.facts));
        h.facts.biz_step = Some("urn:epcglobal:cbv:bizstep:stocking".into());
        assert!(maybe_flagged(&h.facts));
        h.facts.action = Some(Action::Add);
        assert!(!maybe_flagged(&h.facts));
    }

    #[test]
    fn double_receiving() {
        let mut r1 = s("r1", 0);
        r1.biz_step = Some("receiving".into());
        r1.site = Some("A".into());
        let mut r2 = s("r2", 60 * 24);
        r2.biz_step = Some("receiving".into());
        r2.site = Some("B".into());
        let f = findings("u", "r2", &[r1.clone(), r2.clone()], SerialFacts::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, Rule::DoubleReceiving);
        let mut ship = s("sh", 60);
        ship.biz_step = Some("shipping".into());
        assert!(findings(
            "u",
            "r2",
            &[r1.clone(), ship, r2.clone()],
            SerialFacts::default()
        )
        .is_empty());
        let mut same = r2.clone();
        same.site = Some("A".into());
        assert!(findings("u", "r2", &[r1, same], SerialFacts::default()).is_empty());
    }
}
