//! Cycle counts and inventory accuracy over time.
//!
//! A count (record kind [`KIND`]) is opened for a location; it covers the location and its
//! sub-locations in the master-data hierarchy. Scans stream in like a receiving's (one per line
//! or per request; a scanned SSCC counts its known contents). Closing compares:
//!
//! - **expected**: the units our records place (through their containers) at the location or
//!   below, still in stock (not in transit, sold, dispensed, destroyed or decommissioned);
//! - **counted**: expected and found;
//! - **missing**: expected, not found (shrinkage candidates);
//! - **unexpected**: found, not expected (misplaced: our records put them elsewhere, or in
//!   another state; or never commissioned).
//!
//! Adjusting events (one capture, all or nothing): counted units get an ObjectEvent OBSERVE with
//! bizStep `cycle_counting` and readPoint the counted location, without a bizLocation, so that a
//! unit recorded on a shelf below the counted room keeps its shelf; unexpected units that our
//! records know get the same event with bizLocation the counted location, which moves them here.
//! Missing units are not moved and keep their disposition by default: one count does not prove a
//! loss (the unit may be misplaced elsewhere in the store, as the demo's moved pack is), so they
//! are recorded as exceptions of the count; when the count is opened with `missing_disposition`
//! (e.g. `unknown` or `stolen`), they get an OBSERVE with that disposition too.
//!
//! Inventory accuracy = counted / (expected + unexpected): the share of the records that matched
//! the shelf (1 when both are zero). Every closed count adds a point to the location's series
//! (record kind [`KIND_ACCURACY`], key the location).
//!
//! The sub-locations of a location are found from the events: every bizLocation at or below it
//! (EPCIS `WD_bizLocation`), reading at most [`MAX_DISCOVERY_EVENTS`] events.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use unitrace_store::limits::{MAX_LIST_UNITS, MAX_RECORD_PAGE};
use unitrace_store::{EventQuery, RecordItem, Store, StoreError, UnitFilter};

use crate::emit::{self, ObjectEventSpec};
use crate::receiving::{
    condition, expand, items_with_prefix, load, location_epc, new_id, observations, parse_scans,
    place, put_items, save, states_of, Observation, Placed, Places,
};
use crate::{OpsError, OpsResult};

/// Record kind of counts (key: count id). Items: `s:<seq>` observations, `r:<list>:<epc>` the
/// outcome once closed.
pub const KIND: &str = "count";
/// Record kind of accuracy series (key: location). Items `t:<closed ms>:<count id>`.
pub const KIND_ACCURACY: &str = "count-accuracy";
/// Most events read to find the sub-locations of a location.
pub const MAX_DISCOVERY_EVENTS: usize = 200_000;
/// Most units expected at one counted location.
pub const MAX_EXPECTED_UNITS: usize = 200_000;

fn invalid(m: impl Into<String>) -> OpsError {
    OpsError::Invalid(m.into())
}

/// The location and every location below it that an event names as bizLocation.
pub async fn sub_locations(store: &dyn Store, root: &str) -> OpsResult<Vec<String>> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    found.insert(root.to_string());
    let mut q = EventQuery {
        wd_biz_location: vec![root.to_string()],
        per_page: Some(10_000),
        ..Default::default()
    };
    let mut read = 0usize;
    loop {
        let page = store.query_events(&q).await?;
        read += page.events.len();
        for e in &page.events {
            if let Some(l) = e
                .document
                .pointer("/bizLocation/id")
                .and_then(Value::as_str)
            {
                found.insert(unitrace_capture::normalise_epc(l));
            }
        }
        if read > MAX_DISCOVERY_EVENTS {
            return Err(invalid(format!(
                "more than {MAX_DISCOVERY_EVENTS} events at {root} and below; choose a smaller \
                 location"
            )));
        }
        match page.next_page_token {
            Some(t) => q.next_page_token = Some(t),
            None => break,
        }
    }
    Ok(found.into_iter().collect())
}

/// Every unit whose current location (through its containers) is `root` or below, placed.
pub async fn units_under(store: &dyn Store, root: &str, max: usize) -> OpsResult<Vec<Placed>> {
    let too_many = || {
        invalid(format!(
            "more than {max} units at {root} and below; choose a smaller location"
        ))
    };
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for loc in sub_locations(store, root).await? {
        let mut f = UnitFilter {
            biz_location: Some(loc),
            limit: Some(MAX_LIST_UNITS),
            ..Default::default()
        };
        loop {
            let page = store.list_units(&f).await?;
            let n = page.len();
            f.after_epc = page.last().map(|u| u.epc.clone());
            for u in page {
                if u.epc.starts_with("urn:epc:id:sscc:") {
                    for c in store.containment_tree(&u.epc).await?.children {
                        candidates.insert(c.epc);
                    }
                }
                candidates.insert(u.epc);
            }
            if candidates.len() > max {
                return Err(too_many());
            }
            if n < MAX_LIST_UNITS as usize {
                break;
            }
        }
    }
    let list: Vec<String> = candidates.into_iter().collect();
    let placed = place(store, states_of(store, &list).await?).await?;
    let mut places = Places::new(store);
    let mut out = Vec::new();
    for p in placed {
        if let Some(l) = &p.location {
            if places.within(l, root).await? {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Opening a count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenCount {
    /// The counted location (SGLN in any form); its sub-locations are included.
    pub location: String,
    /// Disposition given to missing units at the close (default: none, exceptions only).
    #[serde(default)]
    pub missing_disposition: Option<String>,
}

/// Counts of a closed count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CountResult {
    pub expected: usize,
    pub counted: usize,
    pub missing: usize,
    pub unexpected: usize,
    pub observations: usize,
    pub accuracy: f64,
}

/// A stored count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub id: String,
    pub location: String,
    /// `open`, `closing`, `closed`.
    pub status: String,
    pub created_ms: i64,
    #[serde(default)]
    pub missing_disposition: Option<String>,
    #[serde(default)]
    pub closed_ms: Option<i64>,
    #[serde(default)]
    pub result: Option<CountResult>,
    #[serde(default)]
    pub event_hash_ids: Vec<String>,
}

/// An unexpected unit: where our records put it and in what state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Misplaced {
    pub epc: String,
    pub known: bool,
    pub recorded_location: Option<String>,
    pub state: Option<String>,
}

/// The outcome of a count, lists sorted by EPC.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    pub counted: Vec<String>,
    pub missing: Vec<String>,
    pub unexpected: Vec<Misplaced>,
}

/// Splits expected and found units (pure): (counted, missing, unexpected).
pub fn compare(
    expected: &BTreeSet<String>,
    found: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        expected.intersection(found).cloned().collect(),
        expected.difference(found).cloned().collect(),
        found.difference(expected).cloned().collect(),
    )
}

/// Inventory accuracy: counted / (expected + unexpected); 1 when there was nothing to count.
pub fn accuracy(counted: usize, expected: usize, unexpected: usize) -> f64 {
    let all = expected + unexpected;
    if all == 0 {
        1.0
    } else {
        counted as f64 / all as f64
    }
}

pub async fn open(store: &dyn Store, req: &OpenCount, now_ms: i64) -> OpsResult<Count> {
    let location = location_epc("location", &req.location)?;
    let missing_disposition = match &req.missing_disposition {
        None => None,
        Some(d) => {
            let d = unitrace_capture::normalise_cbv(
                unitrace_epcis::vocab::VocabKind::Disposition,
                d.trim(),
            );
            let allowed = ["unknown", "stolen", "non_sellable_other", "damaged"];
            if !allowed.contains(&d.as_str()) {
                return Err(invalid(format!(
                    "missing_disposition {d:?}: one of {}",
                    allowed.join(", ")
                )));
            }
            Some(d)
        }
    };
    let id = new_id(store, KIND, "CNT").await?;
    let count = Count {
        id: id.clone(),
        location,
        status: "open".into(),
        created_ms: now_ms,
        missing_disposition,
        closed_ms: None,
        result: None,
        event_hash_ids: Vec::new(),
    };
    let body = serde_json::to_value(&count).map_err(|e| invalid(e.to_string()))?;
    store.create_record(KIND, &id, &body).await?;
    Ok(count)
}

pub async fn get(store: &dyn Store, id: &str) -> OpsResult<Count> {
    Ok(load::<Count>(store, KIND, "count", id).await?.1)
}

/// What a count's scan request recorded: (scans, observations).
pub async fn scan(store: &dyn Store, id: &str, inputs: &[String]) -> OpsResult<(usize, usize)> {
    let scans = parse_scans(inputs)?;
    let c = get(store, id).await?;
    if c.status != "open" {
        return Err(OpsError::Conflict(format!(
            "count {id} is {}; it takes no more scans",
            c.status
        )));
    }
    let obs: Vec<Observation> = expand(store, &scans)
        .await?
        .into_iter()
        .map(|(epc, via)| Observation {
            seq: 0,
            epc,
            via,
            known: false,
            elsewhere: None,
        })
        .collect();
    let n = obs.len();
    crate::receiving::append(store, KIND, id, obs).await?;
    if get(store, id).await?.status != "open" {
        return Err(OpsError::Conflict(format!(
            "count {id} was closed during this request; these scans were not counted"
        )));
    }
    Ok((scans.len(), n))
}

/// Closes a count: compares, writes the adjusting events and the outcome, adds the accuracy point.
pub async fn close(store: &dyn Store, id: &str, now_ms: i64) -> OpsResult<(Count, Outcome)> {
    let (rec, mut count) = load::<Count>(store, KIND, "count", id).await?;
    if count.status != "open" {
        return Err(OpsError::Conflict(format!(
            "count {id} is already {}",
            count.status
        )));
    }
    count.status = "closing".into();
    let conflict = format!("count {id} is being closed by another request");
    let rec = save(store, &rec, &count, &conflict).await?;
    let done = async {
        let obs = observations(store, KIND, id, None).await?;
        let found: BTreeSet<String> = obs.iter().map(|o| o.epc.clone()).collect();
        let expected: BTreeSet<String> = units_under(store, &count.location, MAX_EXPECTED_UNITS)
            .await?
            .into_iter()
            .filter(|p| condition(p.disposition.as_deref()) == "in_stock")
            .map(|p| p.state.epc)
            .collect();
        let (counted, missing, unexpected) = compare(&expected, &found);
        let placed: HashMap<String, Placed> = place(store, states_of(store, &unexpected).await?)
            .await?
            .into_iter()
            .map(|p| (p.state.epc.clone(), p))
            .collect();
        let misplaced: Vec<Misplaced> = unexpected
            .iter()
            .map(|e| {
                let p = placed.get(e);
                Misplaced {
                    epc: e.clone(),
                    known: p.is_some(),
                    recorded_location: p.and_then(|p| p.location.clone()),
                    state: p.map(|p| condition(p.disposition.as_deref()).to_string()),
                }
            })
            .collect();
        let base = ObjectEventSpec {
            event_time_ms: now_ms,
            action: "OBSERVE",
            biz_step: Some("cycle_counting".into()),
            read_point: Some(count.location.clone()),
            fields: vec![("count".into(), json!(id))],
            ..Default::default()
        };
        let mut specs = Vec::new();
        if !counted.is_empty() {
            specs.push(ObjectEventSpec {
                epcs: counted.clone(),
                ..base.clone()
            });
        }
        let moved: Vec<String> = misplaced
            .iter()
            .filter(|m| m.known)
            .map(|m| m.epc.clone())
            .collect();
        if !moved.is_empty() {
            specs.push(ObjectEventSpec {
                epcs: moved,
                biz_location: Some(count.location.clone()),
                ..base.clone()
            });
        }
        if let (Some(d), false) = (&count.missing_disposition, missing.is_empty()) {
            specs.push(ObjectEventSpec {
                epcs: missing.clone(),
                disposition: Some(d.clone()),
                ..base.clone()
            });
        }
        let mut items: Vec<RecordItem> = Vec::new();
        for e in &counted {
            items.push(RecordItem {
                item: format!("r:c:{e}"),
                body: json!({}),
            });
        }
        for e in &missing {
            items.push(RecordItem {
                item: format!("r:m:{e}"),
                body: json!({}),
            });
        }
        for m in &misplaced {
            items.push(RecordItem {
                item: format!("r:u:{}", m.epc),
                body: serde_json::to_value(m).map_err(|e| invalid(e.to_string()))?,
            });
        }
        put_items(store, KIND, id, items).await?;
        let hashes = if specs.is_empty() {
            Vec::new()
        } else {
            emit::capture(store, &specs, now_ms).await?.hash_ids
        };
        let result = CountResult {
            expected: expected.len(),
            counted: counted.len(),
            missing: missing.len(),
            unexpected: misplaced.len(),
            observations: obs.len(),
            accuracy: accuracy(counted.len(), expected.len(), misplaced.len()),
        };
        Ok::<_, OpsError>((
            result,
            hashes,
            Outcome {
                counted,
                missing,
                unexpected: misplaced,
            },
        ))
    }
    .await;
    let (result, hashes, outcome) = match done {
        Ok(x) => x,
        Err(e) => {
            count.status = "open".into();
            let _ = save(store, &rec, &count, &conflict).await;
            return Err(e);
        }
    };
    count.status = "closed".into();
    count.closed_ms = Some(now_ms);
    count.result = Some(result);
    count.event_hash_ids = hashes;
    save(store, &rec, &count, &conflict).await?;
    match store
        .create_record(KIND_ACCURACY, &count.location, &json!({}))
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let point = json!({
        "count": id,
        "at": crate::receiving::time_text(now_ms),
        "at_ms": now_ms,
        "expected": result.expected,
        "counted": result.counted,
        "missing": result.missing,
        "unexpected": result.unexpected,
        "accuracy": result.accuracy,
    });
    store
        .put_record_items(
            KIND_ACCURACY,
            &count.location,
            &[RecordItem {
                item: format!("t:{now_ms:015}:{id}"),
                body: point,
            }],
        )
        .await?;
    Ok((count, outcome))
}

/// The outcome of a closed count (lists cut to `limit`), or the scans so far of an open one.
pub async fn outcome(store: &dyn Store, id: &str, limit: usize) -> OpsResult<(Count, Value)> {
    let c = get(store, id).await?;
    if c.status != "closed" {
        let obs = observations(store, KIND, id, None).await?;
        let distinct: BTreeSet<&str> = obs.iter().map(|o| o.epc.as_str()).collect();
        return Ok((
            c,
            json!({"observations": obs.len(), "units_scanned": distinct.len()}),
        ));
    }
    let mut lists = json!({});
    for (p, name) in [
        ("r:c:", "counted"),
        ("r:m:", "missing"),
        ("r:u:", "unexpected"),
    ] {
        let items = items_with_prefix(store, KIND, id, p, MAX_EXPECTED_UNITS * 2).await?;
        let v: Vec<Value> = items
            .into_iter()
            .take(limit)
            .map(|it| {
                if name == "unexpected" {
                    it.body
                } else {
                    json!(&it.item[p.len()..])
                }
            })
            .collect();
        lists[name] = json!(v);
    }
    Ok((c, lists))
}

/// Counts in id order after `after`.
pub async fn list(store: &dyn Store, after: Option<&str>, limit: usize) -> OpsResult<Vec<Count>> {
    crate::receiving::list_bodies(store, KIND, after, limit).await
}

/// The accuracy series of a location, oldest first (at most `limit` points after `after_ms`).
pub async fn accuracy_series(
    store: &dyn Store,
    location: &str,
    limit: usize,
) -> OpsResult<Vec<Value>> {
    let location = location_epc("location", location)?;
    let items = store
        .list_record_items(
            KIND_ACCURACY,
            &location,
            None,
            limit.clamp(1, MAX_RECORD_PAGE),
        )
        .await?;
    Ok(items.into_iter().map(|it| it.body).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accuracy_values() {
        assert_eq!(accuracy(0, 0, 0), 1.0);
        assert_eq!(accuracy(9, 10, 0), 0.9);
        assert_eq!(accuracy(9, 10, 2), 0.75);
        assert_eq!(accuracy(0, 0, 3), 0.0);
    }

    proptest! {
        #[test]
        fn compare_partitions(e in proptest::collection::btree_set(0u8..40, 0..30),
                              f in proptest::collection::btree_set(0u8..40, 0..30)) {
            let e: BTreeSet<String> = e.into_iter().map(|x| x.to_string()).collect();
            let f: BTreeSet<String> = f.into_iter().map(|x| x.to_string()).collect();
            let (c, m, u) = compare(&e, &f);
            prop_assert_eq!(c.len() + m.len(), e.len());
            prop_assert_eq!(c.len() + u.len(), f.len());
            for x in &c { prop_assert!(e.contains(x) && f.contains(x)); }
            for x in &m { prop_assert!(e.contains(x) && !f.contains(x)); }
            for x in &u { prop_assert!(!e.contains(x) && f.contains(x)); }
            let a = accuracy(c.len(), e.len(), u.len());
            prop_assert!((0.0..=1.0).contains(&a));
            prop_assert_eq!(a == 1.0, m.is_empty() && u.is_empty());
        }
    }
}
