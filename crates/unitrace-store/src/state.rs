//! Current state of a unit, and the pure rules that derive it from its events in event-time order.
//! Both backends and the reference model use these same rules.

use serde::{Deserialize, Serialize};

use crate::event::{Action, CaptureEvent, EpcRole, EventType};

/// The facts of one event that matter to unit state.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFacts {
    pub seq: i64,
    pub event_type: EventType,
    pub event_time: i64,
    pub action: Option<Action>,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    pub read_point: Option<String>,
    pub biz_location: Option<String>,
    pub pdisp_set: Vec<String>,
    pub pdisp_unset: Vec<String>,
    pub ilmd_lot: Option<String>,
    pub ilmd_expiry: Option<String>,
    pub parent_id: Option<String>,
    /// AggregationEvent DELETE with a parent and no children.
    pub empty_delete: bool,
}

impl EventFacts {
    pub fn of(ev: &CaptureEvent, seq: i64) -> Self {
        EventFacts {
            seq,
            event_type: ev.event_type,
            event_time: ev.event_time,
            action: ev.action,
            biz_step: ev.biz_step.clone(),
            disposition: ev.disposition.clone(),
            read_point: ev.read_point.clone(),
            biz_location: ev.biz_location.clone(),
            pdisp_set: ev.persistent_disposition_set.clone(),
            pdisp_unset: ev.persistent_disposition_unset.clone(),
            ilmd_lot: ev.ilmd_lot.clone(),
            ilmd_expiry: ev.ilmd_expiry.clone(),
            parent_id: ev.parent_id().map(str::to_string),
            empty_delete: ev.is_empty_delete(),
        }
    }

    fn key(&self) -> (i64, i64) {
        (self.event_time, self.seq)
    }
}

/// A set of [`EpcRole`]s, as a bit mask of their codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct RoleSet(pub u8);

impl RoleSet {
    pub fn with(self, r: EpcRole) -> Self {
        RoleSet(self.0 | (1 << r.code()))
    }
    pub fn has(self, r: EpcRole) -> bool {
        self.0 & (1 << r.code()) != 0
    }
    pub fn single(r: EpcRole) -> Self {
        RoleSet::default().with(r)
    }
}

/// Current state of one instance-level identifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitState {
    pub epc: String,
    /// Event time of the first ADD with bizStep commissioning, else of the first ADD.
    pub commissioned_at: Option<i64>,
    /// bizLocation (else readPoint) of that event.
    pub commissioned_where: Option<String>,
    /// Whether `commissioned_at` comes from a commissioning bizStep.
    pub commissioned_by_step: bool,
    pub last_event_time: i64,
    pub last_event_seq: i64,
    pub biz_location: Option<String>,
    /// Event time of the event that gave `biz_location`.
    pub location_time: Option<i64>,
    pub read_point: Option<String>,
    pub disposition: Option<String>,
    /// Sorted, without duplicates.
    pub persistent_dispositions: Vec<String>,
    pub lot: Option<String>,
    pub expiry: Option<String>,
    /// Current parent (AggregationEvent containment).
    pub parent: Option<String>,
    /// (event time, seq) of the event that set `parent`.
    pub parent_since: Option<(i64, i64)>,
}

impl UnitState {
    pub fn empty(epc: &str) -> Self {
        UnitState {
            epc: epc.to_string(),
            commissioned_at: None,
            commissioned_where: None,
            commissioned_by_step: false,
            last_event_time: i64::MIN,
            last_event_seq: 0,
            biz_location: None,
            location_time: None,
            read_point: None,
            disposition: None,
            persistent_dispositions: Vec::new(),
            lot: None,
            expiry: None,
            parent: None,
            parent_since: None,
        }
    }

    /// Whether an event at this time arrives late for this unit (state must be replayed).
    pub fn is_late(&self, event_time: i64) -> bool {
        event_time < self.last_event_time
    }
}

fn is_commissioning(step: Option<&str>) -> bool {
    match step {
        // Bare CBV name, web URI (https://ref.gs1.org/cbv/BizStep-commissioning) or URN form.
        Some(s) => {
            s == "commissioning"
                || s.ends_with("/BizStep-commissioning")
                || s.ends_with(":bizstep:commissioning")
        }
        None => false,
    }
}

/// Apply one event that names the unit (in the given roles), in event-time order.
pub fn apply_event(st: &mut UnitState, ev: &EventFacts, roles: RoleSet) {
    if ev.key() >= (st.last_event_time, st.last_event_seq) {
        st.last_event_time = ev.event_time;
        st.last_event_seq = ev.seq;
    }
    // Commissioning: first ADD with bizStep commissioning, else first ADD (or first transformation output).
    let adds = match ev.event_type {
        EventType::ObjectEvent => roles.has(EpcRole::Epc) && ev.action == Some(Action::Add),
        EventType::TransformationEvent => roles.has(EpcRole::OutputEpc),
        _ => false,
    };
    if adds {
        let by_step = is_commissioning(ev.biz_step.as_deref());
        if st.commissioned_at.is_none() || (by_step && !st.commissioned_by_step) {
            st.commissioned_at = Some(ev.event_time);
            st.commissioned_where = ev.biz_location.clone().or_else(|| ev.read_point.clone());
            st.commissioned_by_step = by_step;
        }
    }
    if let Some(l) = &ev.biz_location {
        st.biz_location = Some(l.clone());
        st.location_time = Some(ev.event_time);
    }
    if let Some(r) = &ev.read_point {
        st.read_point = Some(r.clone());
    }
    if let Some(d) = &ev.disposition {
        st.disposition = Some(d.clone());
    }
    for u in &ev.pdisp_unset {
        st.persistent_dispositions.retain(|x| x != u);
    }
    for s in &ev.pdisp_set {
        if let Err(pos) = st.persistent_dispositions.binary_search(s) {
            st.persistent_dispositions.insert(pos, s.clone());
        }
    }
    let ilmd_applies = match ev.event_type {
        EventType::ObjectEvent => roles.has(EpcRole::Epc),
        EventType::TransformationEvent => roles.has(EpcRole::OutputEpc),
        _ => false,
    };
    if ilmd_applies {
        if let Some(l) = &ev.ilmd_lot {
            st.lot = Some(l.clone());
        }
        if let Some(x) = &ev.ilmd_expiry {
            st.expiry = Some(x.clone());
        }
    }
    if ev.event_type == EventType::AggregationEvent && roles.has(EpcRole::ChildEpc) {
        match ev.action {
            Some(Action::Add) | Some(Action::Observe) => {
                if let Some(p) = &ev.parent_id {
                    st.parent = Some(p.clone());
                    st.parent_since = Some(ev.key());
                }
            }
            Some(Action::Delete) => {
                st.parent = None;
                st.parent_since = None;
            }
            None => {}
        }
    }
}

/// Apply an AggregationEvent DELETE without children on `parent` (it empties the parent).
pub fn apply_parent_emptied(st: &mut UnitState, parent: &str, ev_key: (i64, i64)) {
    if st.parent.as_deref() == Some(parent) && st.parent_since.is_none_or(|s| s < ev_key) {
        st.parent = None;
        st.parent_since = None;
    }
}

/// One event as seen from a unit it names, without its document: what detectors read for many
/// units at once (see [`crate::Store::event_heads`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EventHead {
    pub facts: EventFacts,
    /// The unit's roles in the event.
    pub roles: RoleSet,
    pub hash_id: String,
    pub record_time: i64,
}

/// One item of a unit's history: an event naming it, or an emptying of one of its parents.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryItem {
    Named(EventFacts, RoleSet),
    /// An empty AggregationEvent DELETE of this parent.
    ParentEmptied(EventFacts),
}

impl HistoryItem {
    fn key(&self) -> (i64, i64) {
        match self {
            HistoryItem::Named(f, _) | HistoryItem::ParentEmptied(f) => f.key(),
        }
    }
}

/// Parents a unit was ever aggregated into, from the events that name it.
pub fn parents_named(named: &[(EventFacts, RoleSet)]) -> Vec<String> {
    let mut out: Vec<String> = named
        .iter()
        .filter(|(f, r)| f.event_type == EventType::AggregationEvent && r.has(EpcRole::ChildEpc))
        .filter_map(|(f, _)| f.parent_id.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Recompute a unit's state from its whole history, in event-time order.
pub fn replay(epc: &str, mut items: Vec<HistoryItem>) -> Option<UnitState> {
    if !items.iter().any(|i| matches!(i, HistoryItem::Named(..))) {
        return None;
    }
    items.sort_by_key(HistoryItem::key);
    let mut st = UnitState::empty(epc);
    for it in &items {
        match it {
            HistoryItem::Named(f, r) => apply_event(&mut st, f, *r),
            HistoryItem::ParentEmptied(f) => {
                if let Some(p) = &f.parent_id {
                    apply_parent_emptied(&mut st, p, f.key());
                }
            }
        }
    }
    Some(st)
}

/// One period during which a unit was inside a parent: [from, to) in (event time, seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainmentPeriod {
    pub parent: String,
    pub from: (i64, i64),
    pub to: Option<(i64, i64)>,
}

/// A position in event order: (event time, seq).
pub type EventKey = (i64, i64);

impl ContainmentPeriod {
    /// The part of the period within the window (`lo`, `hi`) (bounds exclusive, None: open);
    /// None when nothing of it is left.
    pub fn within(
        &self,
        lo: Option<EventKey>,
        hi: Option<EventKey>,
    ) -> Option<(EventKey, Option<EventKey>)> {
        let from = match lo {
            Some(l) if l > self.from => l,
            _ => self.from,
        };
        let to = match (hi, self.to) {
            (Some(h), Some(t)) => Some(h.min(t)),
            (Some(h), None) => Some(h),
            (None, t) => t,
        };
        if to.is_some_and(|t| t <= from) {
            return None;
        }
        Some((from, to))
    }
}

/// The periods a unit spent inside parents, from its history.
pub fn containment_periods(epc: &str, mut items: Vec<HistoryItem>) -> Vec<ContainmentPeriod> {
    items.sort_by_key(HistoryItem::key);
    let mut st = UnitState::empty(epc);
    let mut out: Vec<ContainmentPeriod> = Vec::new();
    for it in &items {
        let before = st.parent.clone();
        match it {
            HistoryItem::Named(f, r) => apply_event(&mut st, f, *r),
            HistoryItem::ParentEmptied(f) => {
                if let Some(p) = &f.parent_id {
                    apply_parent_emptied(&mut st, p, f.key());
                }
            }
        }
        if before != st.parent {
            if before.is_some() {
                if let Some(last) = out.last_mut() {
                    last.to = Some(it.key());
                }
            }
            if let Some(p) = &st.parent {
                out.push(ContainmentPeriod {
                    parent: p.clone(),
                    from: it.key(),
                    to: None,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ContainmentPeriod;

    #[test]
    fn period_within_a_window() {
        let p = ContainmentPeriod {
            parent: "p".into(),
            from: (10, 1),
            to: Some((40, 7)),
        };
        assert_eq!(p.within(None, None), Some(((10, 1), Some((40, 7)))));
        assert_eq!(
            p.within(Some((20, 0)), None),
            Some(((20, 0), Some((40, 7))))
        );
        assert_eq!(
            p.within(Some((5, 0)), Some((30, 0))),
            Some(((10, 1), Some((30, 0))))
        );
        assert_eq!(p.within(Some((40, 7)), None), None);
        assert_eq!(p.within(None, Some((10, 1))), None);
        let open = ContainmentPeriod { to: None, ..p };
        assert_eq!(
            open.within(None, Some((99, 0))),
            Some(((10, 1), Some((99, 0))))
        );
        assert_eq!(open.within(None, None), Some(((10, 1), None)));
    }
}
