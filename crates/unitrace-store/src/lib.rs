//! unitrace event store: the backend-neutral part.
//!
//! - [`Store`]: the storage trait every backend implements (object safe: `Arc<dyn Store>`).
//! - [`CaptureEvent`]: the flat projection of one EPCIS event that capture takes.
//! - [`engine`]: the capture engine shared by backends (validation, idempotency, recordTime,
//!   unit state in the same transaction, late events replayed in event-time order).
//! - [`state`]: the pure rules of unit state.
//! - [`EventQuery`]: the EPCIS 2.0 query parameters.
//! - [`RecordStore`]: durable records of workflows (a supertrait of [`Store`]).
//! - `conformance` (feature `conformance`): the test suite every backend runs.

pub mod clock;
pub mod engine;
mod error;
pub mod event;
pub mod limits;
pub mod master;
pub mod query;
pub mod records;
pub mod state;
pub mod units;

#[cfg(feature = "conformance")]
pub mod conformance;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{StoreError, StoreResult};
pub use event::{
    Action, CaptureEvent, CaptureMode, CaptureOutcome, CaptureReport, EpcRole, ErrorDeclaration,
    EventField, EventType, FieldScope, QuantityRole, QuantityRow, SensorReport, StoredEvent,
};
pub use master::{Location, Party, Product};
pub use query::{
    CmpOp, Containment, ContainmentNode, CurrentLocation, EventQuery, FieldCond, FieldFilter,
    Genealogy, GenealogyDirection, GenealogyNode, LocationRole, OrderBy, OrderDirection, QueryPage,
    SensorField, SensorValueFilter, StockRow, TimelineEntry, UnitFilter,
};
pub use records::{Record, RecordItem, RecordStore};
pub use state::{EventHead, HistoryItem, UnitState};

/// What a backend's bulk-path ceiling (the store benchmark's reference) wrote, and how long its
/// transaction took, from BEGIN to durable COMMIT (building the rows in memory is not counted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CeilingRun {
    pub epc_rows: u64,
    pub secs: f64,
}

use limits::{MAX_CONTAINMENT_DEPTH, MAX_CONTAINMENT_NODES, MAX_TIMELINE_EVENTS};

/// The event store. Every method is safe to call concurrently.
#[async_trait]
pub trait Store: RecordStore + Send + Sync {
    /// Capture a document of events. Returns once the outcome is durable. `Err` only for faults of
    /// the store or a request over a limit; bad events are reported per event in the report.
    async fn capture(
        &self,
        events: Vec<CaptureEvent>,
        mode: CaptureMode,
    ) -> StoreResult<CaptureReport>;

    /// Run an EPCIS event query; one page of results.
    async fn query_events(&self, query: &EventQuery) -> StoreResult<QueryPage>;

    async fn event_by_hash(&self, hash_id: &str) -> StoreResult<Option<StoredEvent>>;

    /// Current state of one unit; None if no event names it.
    async fn unit_state(&self, epc: &str) -> StoreResult<Option<UnitState>>;

    /// Units currently inside `epc` (at most the containment node limit), sorted.
    async fn children(&self, epc: &str) -> StoreResult<Vec<String>>;

    /// States of the given units that exist (any order); at most the list limit at once.
    async fn unit_states(&self, epcs: &[String]) -> StoreResult<Vec<UnitState>>;

    /// Units matching a filter, ordered by EPC.
    async fn list_units(&self, filter: &UnitFilter) -> StoreResult<Vec<UnitState>>;

    /// Everything needed to replay a unit's state: events naming it and emptyings of its parents.
    async fn unit_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>>;

    /// What decides a unit's containment: AggregationEvents naming it as a child and emptyings of
    /// those parents (a subset of [`Store::unit_history`]; backends select it directly).
    async fn containment_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>> {
        Ok(self
            .unit_history(epc)
            .await?
            .into_iter()
            .filter(|i| match i {
                HistoryItem::Named(f, r) => {
                    f.event_type == EventType::AggregationEvent && r.has(EpcRole::ChildEpc)
                }
                HistoryItem::ParentEmptied(_) => true,
            })
            .collect())
    }

    /// Events naming `epc` (any role) with (eventTime, seq) strictly between the bounds, in
    /// event-time order, at most `limit`.
    async fn events_naming(
        &self,
        epc: &str,
        after: Option<(i64, i64)>,
        before: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The events naming each of `epcs` (any role), as heads without documents: `(epc, head)`
    /// pairs grouped by epc in the order asked, each group in (eventTime, seq) order and holding
    /// the latest [`limits::MAX_HEADS_PER_UNIT`] events of that unit. At most
    /// [`limits::MAX_HEAD_UNITS`] epcs per call.
    async fn event_heads(&self, epcs: &[String]) -> StoreResult<Vec<(String, EventHead)>>;

    /// One step of genealogy: the units on the other side of every TransformationEvent that names
    /// `epc` as an output (direction Inputs) or as an input (direction Outputs); sorted, distinct.
    async fn transformation_links(
        &self,
        epc: &str,
        direction: GenealogyDirection,
    ) -> StoreResult<Vec<String>>;

    /// Class-level stock, optionally for one class and/or one location.
    async fn class_stock(
        &self,
        epc_class: Option<&str>,
        location: Option<&str>,
    ) -> StoreResult<Vec<StockRow>>;

    /// The distinct location IDs that appear as bizLocation (or readPoint) of stored events,
    /// ascending (byte order), greater than `after`, at most `limit` (capped at
    /// [`limits::MAX_LOCATION_PAGE`]). Page on with the last ID as `after`.
    async fn list_event_locations(
        &self,
        role: LocationRole,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>>;

    async fn upsert_location(&self, location: &Location) -> StoreResult<()>;
    async fn get_location(&self, id: &str) -> StoreResult<Option<Location>>;
    async fn upsert_product(&self, product: &Product) -> StoreResult<()>;
    async fn get_product(&self, gtin: &str) -> StoreResult<Option<Product>>;
    async fn upsert_party(&self, party: &Party) -> StoreResult<()>;
    async fn get_party(&self, gln: &str) -> StoreResult<Option<Party>>;

    /// The timeline of one unit: every event naming it, plus (marked inferred) the events of every
    /// container it was inside at the time, recursively up to the containment depth limit.
    async fn timeline(&self, epc: &str) -> StoreResult<Vec<TimelineEntry>> {
        timeline_of(&StoreReads(self), epc).await
    }

    /// Genealogy of one unit through TransformationEvents, in one direction, recursively.
    async fn genealogy(&self, epc: &str, direction: GenealogyDirection) -> StoreResult<Genealogy> {
        let mut nodes = Vec::new();
        let mut truncated = false;
        let mut seen: HashSet<String> = HashSet::new();
        seen.insert(epc.to_string());
        let mut frontier = vec![epc.to_string()];
        for depth in 1..=MAX_CONTAINMENT_DEPTH {
            let mut next = Vec::new();
            for unit in &frontier {
                for linked in self.transformation_links(unit, direction).await? {
                    if !seen.insert(linked.clone()) {
                        continue;
                    }
                    if nodes.len() >= MAX_CONTAINMENT_NODES {
                        truncated = true;
                        break;
                    }
                    nodes.push(GenealogyNode {
                        epc: linked.clone(),
                        via: unit.clone(),
                        depth,
                    });
                    next.push(linked);
                }
            }
            if next.is_empty() {
                break;
            }
            if depth == MAX_CONTAINMENT_DEPTH {
                truncated = true;
            }
            frontier = next;
        }
        Ok(Genealogy {
            epc: epc.to_string(),
            direction,
            nodes,
            truncated,
        })
    }

    /// Where a unit is now: the newest bizLocation known for it or for any container it is
    /// currently (transitively) inside; a container moved after packing carries its contents.
    async fn current_location(&self, epc: &str) -> StoreResult<Option<CurrentLocation>> {
        let Some(st) = self.unit_state(epc).await? else {
            return Ok(None);
        };
        let mut chain: HashMap<String, UnitState> = HashMap::new();
        let mut parent = st.parent.clone();
        while let Some(p) = parent {
            if p == epc || chain.contains_key(&p) || chain.len() >= MAX_CONTAINMENT_DEPTH {
                break;
            }
            let Some(ps) = self.unit_state(&p).await? else {
                break;
            };
            parent = ps.parent.clone();
            chain.insert(p, ps);
        }
        Ok(locate(&st, |e| chain.get(e)))
    }

    /// Units matching a filter, each with its current location through its containers (as
    /// [`Store::current_location`]), reading the containers in batches (for recalls).
    async fn locate_units(
        &self,
        filter: &UnitFilter,
    ) -> StoreResult<Vec<(UnitState, Option<CurrentLocation>)>> {
        let units = self.list_units(filter).await?;
        let mut known: HashMap<String, UnitState> = HashMap::new();
        let mut frontier: Vec<String> = units.iter().filter_map(|u| u.parent.clone()).collect();
        for _ in 0..MAX_CONTAINMENT_DEPTH {
            frontier.sort();
            frontier.dedup();
            frontier.retain(|p| !known.contains_key(p));
            if frontier.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for chunk in frontier.chunks(limits::MAX_LIST_UNITS as usize) {
                for st in self.unit_states(chunk).await? {
                    if let Some(p) = &st.parent {
                        next.push(p.clone());
                    }
                    known.insert(st.epc.clone(), st);
                }
            }
            frontier = next;
        }
        Ok(units
            .into_iter()
            .map(|u| {
                let loc = locate(&u, |e| known.get(e));
                (u, loc)
            })
            .collect())
    }

    /// Containment of one unit: its chain of parents upwards and all its descendants.
    async fn containment_tree(&self, epc: &str) -> StoreResult<Containment> {
        let mut parents = Vec::new();
        let mut visited: HashSet<String> = HashSet::new();
        visited.insert(epc.to_string());
        let mut cur = self.unit_state(epc).await?.and_then(|s| s.parent);
        while let Some(p) = cur {
            if !visited.insert(p.clone()) || parents.len() >= MAX_CONTAINMENT_DEPTH {
                break;
            }
            parents.push(p.clone());
            cur = self.unit_state(&p).await?.and_then(|s| s.parent);
        }
        let mut children = Vec::new();
        let mut truncated = false;
        let mut frontier = vec![epc.to_string()];
        let mut seen: HashSet<String> = HashSet::new();
        seen.insert(epc.to_string());
        for depth in 1..=MAX_CONTAINMENT_DEPTH {
            let mut next = Vec::new();
            for parent in &frontier {
                for c in self.children(parent).await? {
                    if !seen.insert(c.clone()) {
                        continue;
                    }
                    if children.len() >= MAX_CONTAINMENT_NODES {
                        truncated = true;
                        break;
                    }
                    children.push(ContainmentNode {
                        epc: c.clone(),
                        parent: parent.clone(),
                        depth,
                    });
                    next.push(c);
                }
            }
            if next.is_empty() {
                break;
            }
            if depth == MAX_CONTAINMENT_DEPTH {
                truncated = true;
            }
            frontier = next;
        }
        Ok(Containment {
            epc: epc.to_string(),
            parents,
            children,
            truncated,
        })
    }
}

/// Refuse an [`Store::event_heads`] call over [`limits::MAX_HEAD_UNITS`] units.
pub fn check_head_units(n: usize) -> StoreResult<()> {
    if n > limits::MAX_HEAD_UNITS {
        return Err(StoreError::InvalidInput(format!(
            "{n} units asked for event heads at once; the limit is {}",
            limits::MAX_HEAD_UNITS
        )));
    }
    Ok(())
}

/// The two reads a timeline is made of. [`timeline_of`] issues the reads of one containment
/// level at once, so a backend may run them concurrently or pipeline them on one connection.
#[async_trait]
pub trait TimelineReads: Sync {
    /// As [`Store::events_naming`].
    async fn events_naming(
        &self,
        epc: &str,
        after: Option<(i64, i64)>,
        before: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// As [`Store::containment_history`].
    async fn containment_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>>;
}

/// A store's own reads, for the default [`Store::timeline`].
struct StoreReads<'a, S: ?Sized>(&'a S);

#[async_trait]
impl<S: Store + ?Sized> TimelineReads for StoreReads<'_, S> {
    async fn events_naming(
        &self,
        epc: &str,
        after: Option<(i64, i64)>,
        before: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.0.events_naming(epc, after, before, limit).await
    }
    async fn containment_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>> {
        self.0.containment_history(epc).await
    }
}

/// [`Store::timeline`] through `reads`: one containment level at a time (the unit, its
/// containers, theirs, ...), the reads of a level issued together. An event reached through
/// several containers is inferred via the nearest one.
pub async fn timeline_of<R: TimelineReads + ?Sized>(
    reads: &R,
    epc: &str,
) -> StoreResult<Vec<TimelineEntry>> {
    let (mut named, history) = try_join2(
        vec![reads.events_naming(epc, None, None, MAX_TIMELINE_EVENTS)],
        vec![reads.containment_history(epc)],
    )
    .await?;
    let (Some(named), Some(history)) = (named.pop(), history.into_iter().next()) else {
        return Err(StoreError::Database(
            "timeline reads answered nothing".into(),
        ));
    };
    let mut out: Vec<TimelineEntry> = named
        .into_iter()
        .map(|event| TimelineEntry {
            event,
            inferred_via: None,
        })
        .collect();
    let mut seen: HashSet<i64> = out.iter().map(|e| e.event.seq).collect();
    // One level: (unit, window after, window before, containment history of the unit).
    type Bound = Option<(i64, i64)>;
    type Window = (Bound, Bound);
    let mut level: Vec<(String, Window, Vec<HistoryItem>)> =
        vec![(epc.to_string(), (None, None), history)];
    for depth in 0..MAX_CONTAINMENT_DEPTH {
        if level.is_empty() || out.len() >= MAX_TIMELINE_EVENTS {
            break;
        }
        // The periods of this level's units inside their parents, within the windows.
        let mut periods: Vec<(String, (i64, i64), Bound)> = Vec::new();
        for (unit, (lo, hi), history) in level {
            for p in state::containment_periods(&unit, history) {
                let Some((from, to)) = p.within(lo, hi) else {
                    continue;
                };
                periods.push((p.parent, from, to));
            }
        }
        let room = MAX_TIMELINE_EVENTS.saturating_sub(out.len());
        let deeper = depth + 1 < MAX_CONTAINMENT_DEPTH;
        let mut parents: Vec<&str> = periods
            .iter()
            .map(|(p, _, _)| p.as_str())
            .filter(|p| deeper && *p != epc)
            .collect();
        parents.sort_unstable();
        parents.dedup();
        let (events, histories) = try_join2(
            periods
                .iter()
                .map(|(p, from, to)| reads.events_naming(p, Some(*from), *to, room))
                .collect(),
            parents
                .iter()
                .map(|p| reads.containment_history(p))
                .collect(),
        )
        .await?;
        for ((parent, _, _), events) in periods.iter().zip(events) {
            for event in events {
                if out.len() >= MAX_TIMELINE_EVENTS {
                    break;
                }
                if seen.insert(event.seq) {
                    out.push(TimelineEntry {
                        event,
                        inferred_via: Some(parent.clone()),
                    });
                }
            }
        }
        let histories: HashMap<&str, Vec<HistoryItem>> =
            parents.iter().copied().zip(histories).collect();
        level = periods
            .iter()
            .filter_map(|(p, from, to)| {
                let h = histories.get(p.as_str())?;
                Some((p.clone(), (Some(*from), *to), h.clone()))
            })
            .collect();
    }
    out.sort_by_key(|e| (e.event.event_time, e.event.seq));
    Ok(out)
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// Run two lists of futures concurrently; their answers in order, or the first error.
async fn try_join2<'a, A, B>(
    a: Vec<BoxFut<'a, A>>,
    b: Vec<BoxFut<'a, B>>,
) -> StoreResult<(Vec<A>, Vec<B>)> {
    fn poll_all<T>(
        cx: &mut std::task::Context<'_>,
        futs: &mut [Option<BoxFut<'_, T>>],
        out: &mut [Option<T>],
    ) -> StoreResult<bool> {
        let mut done = true;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(r) => {
                        *o = Some(r?);
                        *f = None;
                    }
                    Poll::Pending => done = false,
                }
            }
        }
        Ok(done)
    }
    let mut fa: Vec<Option<BoxFut<'a, A>>> = a.into_iter().map(Some).collect();
    let mut fb: Vec<Option<BoxFut<'a, B>>> = b.into_iter().map(Some).collect();
    let mut oa: Vec<Option<A>> = fa.iter().map(|_| None).collect();
    let mut ob: Vec<Option<B>> = fb.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let da = poll_all(cx, &mut fa, &mut oa)?;
        let db = poll_all(cx, &mut fb, &mut ob)?;
        if da && db {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await?;
    Ok((
        oa.into_iter().flatten().collect(),
        ob.into_iter().flatten().collect(),
    ))
}

/// The newest bizLocation of a unit or of its current containers, found through `lookup`.
fn locate<'a>(
    st: &'a UnitState,
    lookup: impl Fn(&str) -> Option<&'a UnitState>,
) -> Option<CurrentLocation> {
    let mut best = match (&st.biz_location, st.location_time) {
        (Some(l), Some(t)) => Some(CurrentLocation {
            biz_location: l.clone(),
            since: t,
            via: None,
        }),
        _ => None,
    };
    let mut visited: HashSet<&str> = HashSet::new();
    visited.insert(st.epc.as_str());
    let mut parent = st.parent.as_deref();
    while let Some(p) = parent {
        if !visited.insert(p) || visited.len() > MAX_CONTAINMENT_DEPTH {
            break;
        }
        let Some(ps) = lookup(p) else { break };
        if let (Some(l), Some(t)) = (&ps.biz_location, ps.location_time) {
            if best.as_ref().is_none_or(|b| t > b.since) {
                best = Some(CurrentLocation {
                    biz_location: l.clone(),
                    since: t,
                    via: Some(p.to_string()),
                });
            }
        }
        parent = ps.parent.as_deref();
    }
    best
}
