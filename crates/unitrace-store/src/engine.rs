//! The backend-neutral capture engine: validation, idempotency, conflicts, recordTime, state upkeep.
//! A backend implements [`CaptureTx`] (plain SQL on one open transaction) and calls [`capture_group`].

use std::collections::HashMap;

use crate::clock::next_record_time;
use crate::event::{
    Action, CaptureEvent, CaptureMode, CaptureOutcome, CaptureReport, EpcRole, EventType,
    QuantityRole,
};
use crate::limits::*;
use crate::state::{
    apply_event, parents_named, replay, EventFacts, HistoryItem, RoleSet, UnitState,
};
use crate::{StoreError, StoreResult};

/// What [`CaptureTx::insert_commissioning`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commissioned {
    /// Nothing: an event with this hash ID or eventID is stored already.
    Refused,
    /// The event and the states of all its units, which were all new.
    Stored,
    /// The event (with this sequence number) but none of its units' states: some were known.
    EventOnly(i64),
}

/// The operations the engine needs, on one open write transaction.
pub trait CaptureTx {
    /// Highest recordTime stored so far.
    fn last_record_time(&mut self) -> StoreResult<Option<i64>>;
    fn savepoint(&mut self) -> StoreResult<()>;
    fn rollback_to_savepoint(&mut self) -> StoreResult<()>;
    fn release_savepoint(&mut self) -> StoreResult<()>;
    fn hash_exists(&mut self, hash_id: &str) -> StoreResult<bool>;
    /// The hash ID stored under this eventID, if any.
    fn hash_of_event_id(&mut self, event_id: &str) -> StoreResult<Option<String>>;
    /// Insert the event and all its child rows and return its sequence number; or, if an event
    /// with its hash ID or its eventID is stored already, write nothing and return None.
    fn insert_event(
        &mut self,
        ev: &CaptureEvent,
        document: &str,
        record_time: i64,
    ) -> StoreResult<Option<i64>>;
    /// [`CaptureTx::insert_event`], then (if it inserted) [`CaptureTx::load_units`] of `epcs`
    /// (units the insert does not touch); a backend may send both in one round trip.
    fn insert_event_and_load_units(
        &mut self,
        ev: &CaptureEvent,
        document: &str,
        record_time: i64,
        epcs: &[&str],
    ) -> StoreResult<Option<(i64, Vec<Option<UnitState>>)>> {
        match self.insert_event(ev, document, record_time)? {
            Some(seq) => Ok(Some((seq, self.load_units(epcs)?))),
            None => Ok(None),
        }
    }
    /// Insert an event that commissions units (an ObjectEvent ADD) as
    /// [`CaptureTx::insert_event`] does, together with the states of its units, presumed new:
    /// `states` gives them for the event's sequence number. If any of them is stored already,
    /// none of their states is written ([`Commissioned::EventOnly`]). A backend may send it all
    /// in one round trip.
    fn insert_commissioning(
        &mut self,
        ev: &CaptureEvent,
        document: &str,
        record_time: i64,
        states: &dyn Fn(i64) -> Vec<UnitState>,
    ) -> StoreResult<Commissioned> {
        let Some(seq) = self.insert_event(ev, document, record_time)? else {
            return Ok(Commissioned::Refused);
        };
        Ok(if self.insert_units_if_new(&states(seq))? {
            Commissioned::Stored
        } else {
            Commissioned::EventOnly(seq)
        })
    }
    /// Insert the states of units believed new and return true; or, if any of them is already
    /// stored, write none of them and return false (the engine then reads and updates them as
    /// usual). A backend without a cheaper way than reading first may always return false.
    fn insert_units_if_new(&mut self, states: &[UnitState]) -> StoreResult<bool> {
        let _ = states;
        Ok(false)
    }
    fn load_unit(&mut self, epc: &str) -> StoreResult<Option<UnitState>>;
    fn save_unit(&mut self, st: &UnitState) -> StoreResult<()>;
    /// Load several units at once (a backend may do it in one statement); in the order given.
    fn load_units(&mut self, epcs: &[&str]) -> StoreResult<Vec<Option<UnitState>>> {
        epcs.iter().map(|e| self.load_unit(e)).collect()
    }
    /// Save several distinct units at once (a backend may do it in one statement). `before[i]` is
    /// the stored state of `states[i]` as [`CaptureTx::load_units`] gave it (None: a new unit),
    /// so that a backend may insert new units and write only the changed columns of others.
    fn save_units(
        &mut self,
        states: &[UnitState],
        before: &[Option<UnitState>],
    ) -> StoreResult<()> {
        let _ = before;
        states.iter().try_for_each(|s| self.save_unit(s))
    }
    /// Every stored event naming the unit, with the roles it has in each.
    fn unit_events(&mut self, epc: &str) -> StoreResult<Vec<(EventFacts, RoleSet)>>;
    /// The stored AggregationEvents naming the unit as a child (a backend may select them directly).
    fn child_aggregations(&mut self, epc: &str) -> StoreResult<Vec<(EventFacts, RoleSet)>> {
        Ok(self
            .unit_events(epc)?
            .into_iter()
            .filter(|(f, r)| {
                f.event_type == EventType::AggregationEvent && r.has(EpcRole::ChildEpc)
            })
            .collect())
    }
    /// Every stored empty AggregationEvent DELETE of this parent.
    fn empty_deletes(&mut self, parent: &str) -> StoreResult<Vec<EventFacts>>;
    /// Whether an empty AggregationEvent DELETE of `parent` is stored after `key` (eventTime, seq).
    fn emptied_after(&mut self, parent: &str, key: (i64, i64)) -> StoreResult<bool>;
    /// Clear `parent` of every unit whose parent it is and whose `parent_since` is before `key`.
    fn empty_parent(&mut self, parent: &str, key: (i64, i64)) -> StoreResult<()>;
    /// Add `delta` to the stock of a class at a location ("" when unknown) in a unit of measure ("" when none).
    fn add_stock(
        &mut self,
        epc_class: &str,
        location: &str,
        uom: &str,
        delta: f64,
    ) -> StoreResult<()>;
}

fn check_id(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(format!("{what} is longer than {MAX_ID_LEN} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{what} contains a control character"));
    }
    Ok(())
}

fn check_opt(what: &str, s: &Option<String>) -> Result<(), String> {
    match s {
        Some(s) => check_id(what, s),
        None => Ok(()),
    }
}

fn check_len(what: &str, n: usize, max: usize) -> Result<(), String> {
    if n > max {
        return Err(format!(
            "{what} has {n} entries, more than the limit of {max}"
        ));
    }
    Ok(())
}

fn check_time(what: &str, t: i64) -> Result<(), String> {
    if !(MIN_TIME_MS..=MAX_TIME_MS).contains(&t) {
        return Err(format!("{what} {t} ms is outside years 1..=9999"));
    }
    Ok(())
}

fn check_num(what: &str, v: Option<f64>) -> Result<(), String> {
    match v {
        Some(x) if !x.is_finite() => Err(format!("{what} is not a finite number")),
        _ => Ok(()),
    }
}

fn check_tz(tz: &str) -> Result<(), String> {
    let b = tz.as_bytes();
    let ok = tz == "Z"
        || (b.len() == 6
            && (b[0] == b'+' || b[0] == b'-')
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && b[3] == b':'
            && b[4].is_ascii_digit()
            && b[5].is_ascii_digit()
            && (b[1] - b'0') * 10 + (b[2] - b'0') <= 14
            && (b[4] - b'0') * 10 + (b[5] - b'0') < 60);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "eventTimeZoneOffset {tz:?} is not of the form +HH:MM"
        ))
    }
}

/// Check one event; on success return its JSON document text.
pub fn validate_event(ev: &CaptureEvent) -> Result<String, String> {
    check_id("hash ID", &ev.hash_id)?;
    if !ev.hash_id.starts_with("ni:///") {
        return Err(format!("hash ID {:?} is not an ni:/// URI", ev.hash_id));
    }
    check_opt("eventID", &ev.event_id)?;
    check_time("eventTime", ev.event_time)?;
    check_tz(&ev.event_time_zone_offset)?;
    let t = ev.event_type;
    match (t, ev.action) {
        (EventType::TransformationEvent, Some(_)) => {
            return Err("TransformationEvent has no action".into());
        }
        (EventType::TransformationEvent, None) => {}
        (_, None) => return Err(format!("{} requires an action", t.as_str())),
        _ => {}
    }
    check_opt("bizStep", &ev.biz_step)?;
    check_opt("disposition", &ev.disposition)?;
    check_opt("readPoint", &ev.read_point)?;
    check_opt("bizLocation", &ev.biz_location)?;
    check_opt("transformationID", &ev.transformation_id)?;
    check_opt("ILMD lot", &ev.ilmd_lot)?;
    check_opt("ILMD expiry", &ev.ilmd_expiry)?;
    check_len(
        "persistentDisposition set",
        ev.persistent_disposition_set.len(),
        MAX_LIST_LEN,
    )?;
    check_len(
        "persistentDisposition unset",
        ev.persistent_disposition_unset.len(),
        MAX_LIST_LEN,
    )?;
    for p in ev
        .persistent_disposition_set
        .iter()
        .chain(&ev.persistent_disposition_unset)
    {
        check_id("persistentDisposition", p)?;
    }
    check_len("EPC lists", ev.epcs.len(), MAX_EPCS_PER_EVENT)?;
    let mut parents = 0;
    for (role, epc) in &ev.epcs {
        check_id("EPC", epc)?;
        let allowed = match t {
            EventType::ObjectEvent => *role == EpcRole::Epc,
            EventType::AggregationEvent | EventType::AssociationEvent => {
                matches!(role, EpcRole::ParentId | EpcRole::ChildEpc)
            }
            EventType::TransactionEvent => matches!(role, EpcRole::ParentId | EpcRole::Epc),
            EventType::TransformationEvent => {
                matches!(role, EpcRole::InputEpc | EpcRole::OutputEpc)
            }
        };
        if !allowed {
            return Err(format!(
                "{} cannot carry an EPC in role {role:?} ({epc})",
                t.as_str()
            ));
        }
        if *role == EpcRole::ParentId {
            parents += 1;
        }
    }
    if parents > 1 {
        return Err("more than one parentID".into());
    }
    if matches!(t, EventType::AggregationEvent | EventType::AssociationEvent)
        && matches!(ev.action, Some(Action::Add) | Some(Action::Delete))
        && parents == 0
    {
        return Err(format!(
            "{} with action ADD or DELETE requires a parentID",
            t.as_str()
        ));
    }
    if ev.epcs.len() > 1 {
        let mut seen: HashMap<(EpcRole, &str), ()> = HashMap::with_capacity(ev.epcs.len());
        for (role, epc) in &ev.epcs {
            if seen.insert((*role, epc.as_str()), ()).is_some() {
                return Err(format!("EPC {epc} is listed twice in role {role:?}"));
            }
        }
    }
    check_len("quantity lists", ev.quantities.len(), MAX_LIST_LEN)?;
    for q in &ev.quantities {
        check_id("epcClass", &q.epc_class)?;
        check_num("quantity", q.quantity)?;
        check_opt("uom", &q.uom)?;
        let allowed = match t {
            EventType::ObjectEvent | EventType::TransactionEvent => {
                q.role == QuantityRole::Quantity
            }
            EventType::AggregationEvent | EventType::AssociationEvent => {
                q.role == QuantityRole::ChildQuantity
            }
            EventType::TransformationEvent => {
                matches!(
                    q.role,
                    QuantityRole::InputQuantity | QuantityRole::OutputQuantity
                )
            }
        };
        if !allowed {
            return Err(format!(
                "{} cannot carry a quantity in role {:?}",
                t.as_str(),
                q.role
            ));
        }
    }
    for (what, list) in [
        ("bizTransactionList", &ev.biz_transactions),
        ("sourceList", &ev.sources),
        ("destinationList", &ev.destinations),
    ] {
        check_len(what, list.len(), MAX_LIST_LEN)?;
        for (ty, v) in list {
            if ty.len() > MAX_ID_LEN {
                return Err(format!("{what} type is longer than {MAX_ID_LEN} bytes"));
            }
            if ty.chars().any(char::is_control) {
                return Err(format!("{what} type contains a control character"));
            }
            check_id(what, v)?;
        }
    }
    if let Some(e) = &ev.error_declaration {
        check_time("errorDeclaration declarationTime", e.declaration_time)?;
        check_opt("errorDeclaration reason", &e.reason)?;
        check_len(
            "correctiveEventIDs",
            e.corrective_event_ids.len(),
            MAX_LIST_LEN,
        )?;
        for c in &e.corrective_event_ids {
            check_id("correctiveEventID", c)?;
        }
    }
    check_len("sensor reports", ev.sensor_reports.len(), MAX_LIST_LEN)?;
    check_len("sensor elements", ev.sensor_periods.len(), MAX_LIST_LEN)?;
    for s in &ev.sensor_reports {
        check_opt("sensor type", &s.report_type)?;
        check_opt("sensor deviceID", &s.device_id)?;
        check_opt("sensor uom", &s.uom)?;
        for (w, v) in [
            ("value", s.value),
            ("minValue", s.min_value),
            ("maxValue", s.max_value),
            ("meanValue", s.mean_value),
        ] {
            check_num(w, v)?;
        }
        if let Some(t) = s.time {
            check_time("sensor time", t)?;
        }
    }
    check_len("fields", ev.fields.len(), MAX_LIST_LEN)?;
    for f in &ev.fields {
        check_id("field name", &f.name)?;
        if let Some(t) = &f.text {
            if t.len() > MAX_TEXT_LEN {
                return Err(format!(
                    "field {} value is longer than {MAX_TEXT_LEN} bytes",
                    f.name
                ));
            }
            // Text may hold line breaks and tabs, but no store keeps a NUL in a text column.
            if t.contains('\0') {
                return Err(format!("field {} value contains a NUL character", f.name));
            }
        }
        check_num("field number", f.number)?;
    }
    if !ev.document.is_object() {
        return Err("document is not a JSON object".into());
    }
    let doc = serde_json::to_string(&ev.document)
        .map_err(|e| format!("document cannot be serialized: {e}"))?;
    if doc.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "document is larger than {MAX_DOCUMENT_BYTES} bytes"
        ));
    }
    Ok(doc)
}

/// Check the size of a whole capture request before it is queued.
pub fn check_request(events: &[CaptureEvent]) -> StoreResult<()> {
    if events.len() > MAX_EVENTS_PER_CAPTURE {
        return Err(StoreError::InvalidInput(format!(
            "capture of {} events is over the limit of {MAX_EVENTS_PER_CAPTURE}",
            events.len()
        )));
    }
    let epcs: usize = events.iter().map(|e| e.epcs.len()).sum();
    if epcs > MAX_EPCS_PER_CAPTURE {
        return Err(StoreError::InvalidInput(format!(
            "capture of {epcs} EPCs is over the limit of {MAX_EPCS_PER_CAPTURE}"
        )));
    }
    Ok(())
}

/// One capture request inside a group commit.
pub struct CaptureRequest {
    pub events: Vec<CaptureEvent>,
    pub mode: CaptureMode,
    /// Per event: its JSON document text, or why it is invalid.
    docs: Vec<Result<String, String>>,
}

impl CaptureRequest {
    /// Validate and serialize the events (on the caller's thread, so the single writer only writes).
    pub fn new(events: Vec<CaptureEvent>, mode: CaptureMode) -> Self {
        let docs = events.iter().map(validate_event).collect();
        CaptureRequest { events, mode, docs }
    }
}

/// Capture a group of requests on one open transaction; each request is all-or-nothing in
/// rollback mode (a savepoint each). The caller commits, durably, and only then replies.
pub fn capture_group<T: CaptureTx>(
    tx: &mut T,
    now: i64,
    requests: &[CaptureRequest],
) -> StoreResult<Vec<StoreResult<CaptureReport>>> {
    let record_time = next_record_time(now, tx.last_record_time()?);
    let mut out = Vec::with_capacity(requests.len());
    for req in requests {
        tx.savepoint()?;
        match capture_request(tx, record_time, req) {
            Ok((report, keep)) => {
                if keep {
                    tx.release_savepoint()?;
                } else {
                    tx.rollback_to_savepoint()?;
                    tx.release_savepoint()?;
                }
                out.push(Ok(report));
            }
            Err(e) => {
                tx.rollback_to_savepoint()?;
                tx.release_savepoint()?;
                out.push(Err(e));
            }
        }
    }
    Ok(out)
}

fn capture_request<T: CaptureTx>(
    tx: &mut T,
    record_time: i64,
    req: &CaptureRequest,
) -> StoreResult<(CaptureReport, bool)> {
    let docs = &req.docs;
    let mut outcomes = Vec::with_capacity(req.events.len());
    if req.mode == CaptureMode::Rollback && docs.iter().any(Result::is_err) {
        for d in docs {
            outcomes.push(match d {
                Ok(_) => CaptureOutcome::RolledBack,
                Err(e) => CaptureOutcome::Invalid(e.clone()),
            });
        }
        return Ok((CaptureReport { outcomes }, false));
    }
    let mut failed = false;
    for (ev, doc) in req.events.iter().zip(docs) {
        let o = match doc {
            Err(e) => CaptureOutcome::Invalid(e.clone()),
            Ok(doc) => capture_one(tx, ev, doc, record_time)?,
        };
        if o.is_failure() && req.mode == CaptureMode::Rollback {
            failed = true;
        }
        outcomes.push(o);
    }
    if failed {
        // Events stored before the failure are undone; duplicates stay reported as such.
        for o in outcomes.iter_mut() {
            if matches!(o, CaptureOutcome::Stored { .. }) {
                *o = CaptureOutcome::RolledBack;
            }
        }
        return Ok((CaptureReport { outcomes }, false));
    }
    Ok((CaptureReport { outcomes }, true))
}

/// Refuse to replay a unit whose history is over the limit (the backend reads one row more).
pub fn check_history_len(epc: &str, rows: usize) -> StoreResult<()> {
    if rows > MAX_UNIT_HISTORY {
        return Err(StoreError::InvalidInput(format!(
            "unit {epc} has more than {MAX_UNIT_HISTORY} history rows; its state cannot be replayed"
        )));
    }
    Ok(())
}

/// Load a unit's whole history (events naming it, and emptyings of its parents).
pub fn load_history<T: CaptureTx>(tx: &mut T, epc: &str) -> StoreResult<Vec<HistoryItem>> {
    let named = tx.unit_events(epc)?;
    let mut items = Vec::with_capacity(named.len());
    for p in parents_named(&named) {
        for f in tx.empty_deletes(&p)? {
            items.push(HistoryItem::ParentEmptied(f));
        }
    }
    items.extend(named.into_iter().map(|(f, r)| HistoryItem::Named(f, r)));
    Ok(items)
}

/// Load what decides a unit's containment: AggregationEvents naming it as a child, and
/// emptyings of those parents.
pub fn load_containment_history<T: CaptureTx>(
    tx: &mut T,
    epc: &str,
) -> StoreResult<Vec<HistoryItem>> {
    let named = tx.child_aggregations(epc)?;
    let mut items = Vec::with_capacity(named.len());
    for p in parents_named(&named) {
        for f in tx.empty_deletes(&p)? {
            items.push(HistoryItem::ParentEmptied(f));
        }
    }
    items.extend(named.into_iter().map(|(f, r)| HistoryItem::Named(f, r)));
    Ok(items)
}

fn capture_one<T: CaptureTx>(
    tx: &mut T,
    ev: &CaptureEvent,
    doc: &str,
    record_time: i64,
) -> StoreResult<CaptureOutcome> {
    // Group roles per EPC (an EPC may appear in several lists of one event).
    let mut units: Vec<(&str, RoleSet)> = Vec::with_capacity(ev.epcs.len());
    if ev.epcs.len() <= 1 {
        units.extend(
            ev.epcs
                .iter()
                .map(|(r, e)| (e.as_str(), RoleSet::single(*r))),
        );
    } else {
        let mut idx: HashMap<&str, usize> = HashMap::with_capacity(ev.epcs.len());
        for (r, e) in &ev.epcs {
            match idx.get(e.as_str()) {
                Some(&i) => units[i].1 = units[i].1.with(*r),
                None => {
                    idx.insert(e.as_str(), units.len());
                    units.push((e.as_str(), RoleSet::single(*r)));
                }
            }
        }
    }
    let epcs: Vec<&str> = units.iter().map(|(e, _)| *e).collect();
    // An ObjectEvent ADD nearly always commissions units never seen before: their states are
    // written at once, without reading them first. If any of them is stored already, none is
    // written, and they are read and updated as for any other event.
    let commissions = ev.event_type == EventType::ObjectEvent && ev.action == Some(Action::Add);
    let (seq, loaded) = if commissions && !units.is_empty() {
        let fresh = |seq: i64| {
            let facts = EventFacts::of(ev, seq);
            units
                .iter()
                .map(|(epc, roles)| new_unit(epc, &facts, *roles))
                .collect()
        };
        match tx.insert_commissioning(ev, doc, record_time, &fresh)? {
            Commissioned::Refused => return refused(tx, ev),
            Commissioned::Stored => {
                add_class_stock(tx, ev)?;
                return Ok(CaptureOutcome::Stored { record_time });
            }
            Commissioned::EventOnly(seq) => (seq, tx.load_units(&epcs)?),
        }
    } else {
        match tx.insert_event_and_load_units(ev, doc, record_time, &epcs)? {
            Some(inserted) => inserted,
            None => return refused(tx, ev),
        }
    };
    let facts = EventFacts::of(ev, seq);
    // Packing into a parent that a later (in event time) empty DELETE already emptied: the
    // children's state must come from replay, which sees that emptying.
    let packs = ev.event_type == EventType::AggregationEvent
        && matches!(ev.action, Some(Action::Add) | Some(Action::Observe));
    let force_replay = match (&facts.parent_id, packs) {
        (Some(p), true) => tx.emptied_after(p, (facts.event_time, facts.seq))?,
        _ => false,
    };
    if loaded.len() != units.len() {
        return Err(StoreError::Database(format!(
            "loaded {} unit states for {} units",
            loaded.len(),
            units.len()
        )));
    }
    let mut states = Vec::with_capacity(units.len());
    for ((epc, roles), loaded) in units.into_iter().zip(&loaded) {
        let st = match loaded {
            Some(st) if !force_replay && !st.is_late(ev.event_time) => {
                let mut st = st.clone();
                apply_event(&mut st, &facts, roles);
                st
            }
            None => new_unit(epc, &facts, roles),
            Some(_) => {
                // Late event: state follows event time, so replay the unit's whole history.
                let items = load_history(tx, epc)?;
                match replay(epc, items) {
                    Some(st) => st,
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "unit {epc} has state but no stored events"
                        )))
                    }
                }
            }
        };
        states.push(st);
    }
    tx.save_units(&states, &loaded)?;
    if facts.empty_delete {
        if let Some(p) = &facts.parent_id {
            tx.empty_parent(p, (facts.event_time, facts.seq))?;
        }
    }
    add_class_stock(tx, ev)?;
    Ok(CaptureOutcome::Stored { record_time })
}

/// Why the store refused to insert an event: it is stored already (a duplicate), or its eventID
/// is stored with another hash ID (a conflict).
fn refused<T: CaptureTx>(tx: &mut T, ev: &CaptureEvent) -> StoreResult<CaptureOutcome> {
    if tx.hash_exists(&ev.hash_id)? {
        return Ok(CaptureOutcome::Duplicate);
    }
    if let Some(id) = &ev.event_id {
        if let Some(stored) = tx.hash_of_event_id(id)? {
            return Ok(CaptureOutcome::Conflict {
                event_id: id.clone(),
                stored_hash_id: stored,
            });
        }
    }
    Err(StoreError::Database(format!(
        "the store refused event {} as already stored, but holds neither its hash ID nor its eventID",
        ev.hash_id
    )))
}

/// The state of a unit first seen in this event.
fn new_unit(epc: &str, facts: &EventFacts, roles: RoleSet) -> UnitState {
    let mut st = UnitState::empty(epc);
    apply_event(&mut st, facts, roles);
    st
}

/// Class-level stock: ObjectEvent ADD adds, DELETE removes; TransformationEvent consumes inputs
/// and produces outputs; at the event's bizLocation ("" when it has none).
fn add_class_stock<T: CaptureTx>(tx: &mut T, ev: &CaptureEvent) -> StoreResult<()> {
    let location = ev.biz_location.as_deref().unwrap_or("");
    for q in &ev.quantities {
        let Some(n) = q.quantity else { continue };
        let sign = match (ev.event_type, ev.action, q.role) {
            (EventType::ObjectEvent, Some(Action::Add), QuantityRole::Quantity) => 1.0,
            (EventType::ObjectEvent, Some(Action::Delete), QuantityRole::Quantity) => -1.0,
            (EventType::TransformationEvent, _, QuantityRole::InputQuantity) => -1.0,
            (EventType::TransformationEvent, _, QuantityRole::OutputQuantity) => 1.0,
            _ => continue,
        };
        tx.add_stock(
            &q.epc_class,
            location,
            q.uom.as_deref().unwrap_or(""),
            sign * n,
        )?;
    }
    Ok(())
}
