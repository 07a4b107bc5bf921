//! The capture engine's operations on one open SQLite write transaction.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row, ToSql};
use unitrace_store::engine::{check_history_len, CaptureTx};
use unitrace_store::limits::MAX_UNIT_HISTORY;
use unitrace_store::state::{EventFacts, RoleSet};
use unitrace_store::{
    Action, CaptureEvent, EpcRole, EventType, StoreError, StoreResult, UnitState,
};

use crate::schema::db_err;

// Containment queries say `x.role = 3 AND e.event_type = 2` (childEPCs of AggregationEvents).
const _: () = assert!(
    unitrace_store::EpcRole::ChildEpc.code() == 3
        && unitrace_store::EventType::AggregationEvent.code() == 2
);

pub(crate) struct SqliteTx<'c> {
    pub conn: &'c Connection,
}

fn json_list(v: &[String]) -> Option<String> {
    if v.is_empty() {
        None
    } else {
        serde_json::to_string(v).ok()
    }
}

fn parse_list(s: Option<String>) -> StoreResult<Vec<String>> {
    match s {
        None => Ok(Vec::new()),
        Some(s) => {
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("stored list: {e}")))
        }
    }
}

/// Row counts of the multi-row INSERTs [`insert_rows`] uses, largest first: each is one cached
/// statement per table, and any row count is a sum of them (500 = 7 x 64 + 3 x 16 + 4).
const ROW_CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// `INSERT INTO table (cols) VALUES (?, ...), ...` of `params.len() / cols` rows, in multi-row
/// statements of [`ROW_CHUNKS`] rows (one statement per row costs about as much again as the
/// B-tree insert itself).
fn insert_rows(
    conn: &Connection,
    head: &str,
    cols: usize,
    params: &[&dyn ToSql],
) -> StoreResult<()> {
    insert_rows_counted(conn, head, cols, params).map_err(|(_, e)| db_err(e))
}

/// [`insert_rows`]; on an error, also how many rows went in before it (the failing statement
/// itself is undone by SQLite).
fn insert_rows_counted(
    conn: &Connection,
    head: &str,
    cols: usize,
    params: &[&dyn ToSql],
) -> Result<(), (usize, rusqlite::Error)> {
    let rows = params.len() / cols;
    let one = format!("({})", vec!["?"; cols].join(","));
    let mut at = 0;
    for chunk in ROW_CHUNKS {
        if rows - at < chunk {
            continue;
        }
        let sql = format!("{head} VALUES {}", vec![one.as_str(); chunk].join(","));
        let mut st = conn.prepare_cached(&sql).map_err(|e| (at, e))?;
        while rows - at >= chunk {
            st.execute(rusqlite::params_from_iter(
                params[at * cols..(at + chunk) * cols].iter(),
            ))
            .map_err(|e| (at, e))?;
            at += chunk;
        }
    }
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// Columns of `event` that make [`EventFacts`], in this order.
pub(crate) const FACT_COLS: &str = "e.seq, e.event_type, e.event_time, e.action, e.biz_step, e.disposition, \
     e.read_point, e.biz_location, e.pdisp_set, e.pdisp_unset, e.ilmd_lot, e.ilmd_expiry, e.parent_id, e.empty_delete";

/// An `event` row as read, before its codes and lists are decoded.
pub(crate) struct RawFacts {
    facts: EventFacts,
    type_code: i64,
    action_code: Option<i64>,
    pdisp_set: Option<String>,
    pdisp_unset: Option<String>,
}

impl RawFacts {
    pub(crate) fn seq(&self) -> i64 {
        self.facts.seq
    }
}

pub(crate) fn facts_from_row(r: &Row<'_>) -> rusqlite::Result<RawFacts> {
    Ok(RawFacts {
        facts: EventFacts {
            seq: r.get(0)?,
            event_type: EventType::ObjectEvent,
            event_time: r.get(2)?,
            action: None,
            biz_step: r.get(4)?,
            disposition: r.get(5)?,
            read_point: r.get(6)?,
            biz_location: r.get(7)?,
            pdisp_set: Vec::new(),
            pdisp_unset: Vec::new(),
            ilmd_lot: r.get(10)?,
            ilmd_expiry: r.get(11)?,
            parent_id: r.get(12)?,
            empty_delete: r.get::<_, i64>(13)? != 0,
        },
        type_code: r.get(1)?,
        action_code: r.get(3)?,
        pdisp_set: r.get(8)?,
        pdisp_unset: r.get(9)?,
    })
}

/// Finish a row read by [`facts_from_row`]: decode lists and codes.
pub(crate) fn finish_facts(raw: RawFacts) -> StoreResult<EventFacts> {
    let mut f = raw.facts;
    f.event_type = EventType::from_code(raw.type_code)
        .ok_or_else(|| StoreError::Corrupt(format!("event type code {}", raw.type_code)))?;
    f.action = match raw.action_code {
        None => None,
        Some(c) => Some(
            Action::from_code(c).ok_or_else(|| StoreError::Corrupt(format!("action code {c}")))?,
        ),
    };
    f.pdisp_set = parse_list(raw.pdisp_set)?;
    f.pdisp_unset = parse_list(raw.pdisp_unset)?;
    Ok(f)
}

pub(crate) const UNIT_COLS: &str = "epc, commissioned_at, commissioned_where, commissioned_by_step, last_event_time, \
     last_event_seq, biz_location, read_point, disposition, pdisps, lot, expiry, parent, parent_since_time, parent_since_seq, location_time";

pub(crate) fn unit_from_row(r: &Row<'_>) -> rusqlite::Result<(UnitState, Option<String>)> {
    let pst: Option<i64> = r.get(13)?;
    let pss: Option<i64> = r.get(14)?;
    Ok((
        UnitState {
            epc: r.get(0)?,
            commissioned_at: r.get(1)?,
            commissioned_where: r.get(2)?,
            commissioned_by_step: r.get::<_, i64>(3)? != 0,
            last_event_time: r.get(4)?,
            last_event_seq: r.get(5)?,
            biz_location: r.get(6)?,
            read_point: r.get(7)?,
            disposition: r.get(8)?,
            persistent_dispositions: Vec::new(),
            lot: r.get(10)?,
            expiry: r.get(11)?,
            parent: r.get(12)?,
            parent_since: pst.zip(pss),
            location_time: r.get(15)?,
        },
        r.get(9)?,
    ))
}

pub(crate) fn finish_unit(raw: (UnitState, Option<String>)) -> StoreResult<UnitState> {
    let (mut u, p) = raw;
    u.persistent_dispositions = parse_list(p)?;
    Ok(u)
}

/// The columns of `unit_state` after `epc`, in [`UNIT_COLS`] order.
const UNIT_VALUE_COLS: [&str; 15] = [
    "commissioned_at",
    "commissioned_where",
    "commissioned_by_step",
    "last_event_time",
    "last_event_seq",
    "biz_location",
    "read_point",
    "disposition",
    "pdisps",
    "lot",
    "expiry",
    "parent",
    "parent_since_time",
    "parent_since_seq",
    "location_time",
];

/// The values of one unit's row that are computed, not borrowed from its state.
struct UnitRow<'u> {
    s: &'u UnitState,
    step: i64,
    pdisps: Option<String>,
    since_time: Option<i64>,
    since_seq: Option<i64>,
}

impl<'u> UnitRow<'u> {
    fn of(s: &'u UnitState) -> Self {
        UnitRow {
            s,
            step: s.commissioned_by_step as i64,
            pdisps: json_list(&s.persistent_dispositions),
            since_time: s.parent_since.map(|p| p.0),
            since_seq: s.parent_since.map(|p| p.1),
        }
    }

    /// The values of [`UNIT_VALUE_COLS`], borrowed (no copy of the unit's strings).
    fn values(&self) -> [&dyn ToSql; 15] {
        let s = self.s;
        [
            &s.commissioned_at,
            &s.commissioned_where,
            &self.step,
            &s.last_event_time,
            &s.last_event_seq,
            &s.biz_location,
            &s.read_point,
            &s.disposition,
            &self.pdisps,
            &s.lot,
            &s.expiry,
            &s.parent,
            &self.since_time,
            &self.since_seq,
            &s.location_time,
        ]
    }
}

/// Bit i set: column i of [`UNIT_VALUE_COLS`] differs between `a` and `b`.
fn changed_columns(a: &UnitState, b: &UnitState) -> u16 {
    let bits = [
        a.commissioned_at != b.commissioned_at,
        a.commissioned_where != b.commissioned_where,
        a.commissioned_by_step != b.commissioned_by_step,
        a.last_event_time != b.last_event_time,
        a.last_event_seq != b.last_event_seq,
        a.biz_location != b.biz_location,
        a.read_point != b.read_point,
        a.disposition != b.disposition,
        a.persistent_dispositions != b.persistent_dispositions,
        a.lot != b.lot,
        a.expiry != b.expiry,
        a.parent != b.parent,
        a.parent_since.map(|p| p.0) != b.parent_since.map(|p| p.0),
        a.parent_since.map(|p| p.1) != b.parent_since.map(|p| p.1),
        a.location_time != b.location_time,
    ];
    bits.iter()
        .enumerate()
        .fold(0, |m, (i, c)| if *c { m | (1 << i) } else { m })
}

impl CaptureTx for SqliteTx<'_> {
    fn last_record_time(&mut self) -> StoreResult<Option<i64>> {
        self.conn
            .query_row("SELECT MAX(record_time) FROM event", [], |r| r.get(0))
            .map_err(db_err)
    }

    fn savepoint(&mut self) -> StoreResult<()> {
        self.conn.execute_batch("SAVEPOINT req").map_err(db_err)
    }

    fn rollback_to_savepoint(&mut self) -> StoreResult<()> {
        self.conn.execute_batch("ROLLBACK TO req").map_err(db_err)
    }

    fn release_savepoint(&mut self) -> StoreResult<()> {
        self.conn.execute_batch("RELEASE req").map_err(db_err)
    }

    fn hash_exists(&mut self, hash_id: &str) -> StoreResult<bool> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM event WHERE hash_id = ?1")
            .map_err(db_err)?;
        st.exists([hash_id]).map_err(db_err)
    }

    fn hash_of_event_id(&mut self, event_id: &str) -> StoreResult<Option<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT hash_id FROM event WHERE event_id = ?1")
            .map_err(db_err)?;
        st.query_row([event_id], |r| r.get(0))
            .optional()
            .map_err(db_err)
    }

    fn insert_event(
        &mut self,
        ev: &CaptureEvent,
        document: &str,
        record_time: i64,
    ) -> StoreResult<Option<i64>> {
        let c = self.conn;
        {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO event (hash_id, event_id, event_type, event_time, tz_offset, record_time, action, \
                     biz_step, disposition, read_point, biz_location, transformation_id, parent_id, empty_delete, \
                     pdisp_set, pdisp_unset, ilmd_lot, ilmd_expiry, err_time, err_reason, document) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21) \
                     ON CONFLICT DO NOTHING",
                )
                .map_err(db_err)?;
            // Stored already (its hash ID or eventID): nothing is written.
            let inserted = st
                .execute(params![
                    ev.hash_id,
                    ev.event_id,
                    ev.event_type.code(),
                    ev.event_time,
                    ev.event_time_zone_offset,
                    record_time,
                    ev.action.map(Action::code),
                    ev.biz_step,
                    ev.disposition,
                    ev.read_point,
                    ev.biz_location,
                    ev.transformation_id,
                    ev.parent_id(),
                    ev.is_empty_delete() as i64,
                    json_list(&ev.persistent_disposition_set),
                    json_list(&ev.persistent_disposition_unset),
                    ev.ilmd_lot,
                    ev.ilmd_expiry,
                    ev.error_declaration.as_ref().map(|e| e.declaration_time),
                    ev.error_declaration.as_ref().and_then(|e| e.reason.clone()),
                    document,
                ])
                .map_err(db_err)?;
            if inserted == 0 {
                return Ok(None);
            }
        }
        let seq = c.last_insert_rowid();
        if !ev.epcs.is_empty() {
            let roles: Vec<i64> = ev.epcs.iter().map(|(r, _)| r.code()).collect();
            let mut p: Vec<&dyn ToSql> = Vec::with_capacity(ev.epcs.len() * 4);
            for ((_, epc), role) in ev.epcs.iter().zip(&roles) {
                p.extend([epc as &dyn ToSql, &ev.event_time, &seq, role]);
            }
            insert_rows(
                c,
                "INSERT INTO event_epc (epc, event_time, event_seq, role)",
                4,
                &p,
            )?;
        }
        if !ev.quantities.is_empty() {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO event_quantity (event_seq, role, epc_class, quantity, uom, base_uom, b_quantity) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db_err)?;
            for q in &ev.quantities {
                let (base, bq) = unitrace_store::units::quantity_in_base(q);
                st.execute(params![
                    seq,
                    q.role.code(),
                    q.epc_class,
                    q.quantity,
                    q.uom,
                    base,
                    bq
                ])
                .map_err(db_err)?;
            }
        }
        if !ev.persistent_disposition_set.is_empty() || !ev.persistent_disposition_unset.is_empty()
        {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO event_pdisp (event_seq, op, value) VALUES (?1, ?2, ?3)",
                )
                .map_err(db_err)?;
            for v in &ev.persistent_disposition_set {
                st.execute(params![seq, 0i64, v]).map_err(db_err)?;
            }
            for v in &ev.persistent_disposition_unset {
                st.execute(params![seq, 1i64, v]).map_err(db_err)?;
            }
        }
        let tx_rows = ev.biz_transactions.len() + ev.sources.len() + ev.destinations.len();
        if tx_rows > 0 {
            let mut st = c
                .prepare_cached("INSERT INTO event_biztx (event_seq, kind, type, value) VALUES (?1, ?2, ?3, ?4)")
                .map_err(db_err)?;
            for (kind, list) in [
                (0i64, &ev.biz_transactions),
                (1, &ev.sources),
                (2, &ev.destinations),
            ] {
                for (ty, v) in list {
                    st.execute(params![seq, kind, ty, v]).map_err(db_err)?;
                }
            }
        }
        if let Some(e) = &ev.error_declaration {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO event_corrective (event_seq, event_id) VALUES (?1, ?2)",
                )
                .map_err(db_err)?;
            for id in &e.corrective_event_ids {
                st.execute(params![seq, id]).map_err(db_err)?;
            }
        }
        if !ev.sensor_reports.is_empty() {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO event_sensor (event_seq, type, device_id, value, min_value, max_value, mean_value, uom, time, \
                     base_uom, b_value, b_min, b_max, b_mean) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .map_err(db_err)?;
            for s in &ev.sensor_reports {
                let (base, b) = unitrace_store::units::report_in_base(s);
                st.execute(params![
                    seq,
                    s.report_type,
                    s.device_id,
                    s.value,
                    s.min_value,
                    s.max_value,
                    s.mean_value,
                    s.uom,
                    s.time,
                    base,
                    b[0],
                    b[1],
                    b[2],
                    b[3]
                ])
                .map_err(db_err)?;
            }
        }
        if !ev.sensor_periods.is_empty() {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO event_sensor_period (event_seq, start_time, end_time) VALUES (?1, ?2, ?3)",
                )
                .map_err(db_err)?;
            for (start, end) in &ev.sensor_periods {
                st.execute(params![seq, start, end]).map_err(db_err)?;
            }
        }
        if !ev.fields.is_empty() {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO event_field (event_seq, scope, inner_field, name, text_value, num_value) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db_err)?;
            for f in &ev.fields {
                st.execute(params![
                    seq,
                    f.scope.code(),
                    f.inner as i64,
                    f.name,
                    f.text,
                    f.number
                ])
                .map_err(db_err)?;
            }
        }
        Ok(Some(seq))
    }

    fn load_unit(&mut self, epc: &str) -> StoreResult<Option<UnitState>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {UNIT_COLS} FROM unit_state WHERE epc = ?1"
            ))
            .map_err(db_err)?;
        match st
            .query_row([epc], unit_from_row)
            .optional()
            .map_err(db_err)?
        {
            Some(raw) => finish_unit(raw).map(Some),
            None => Ok(None),
        }
    }

    fn save_unit(&mut self, s: &UnitState) -> StoreResult<()> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO unit_state ({UNIT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
            ))
            .map_err(db_err)?;
        st.execute(params![
            s.epc,
            s.commissioned_at,
            s.commissioned_where,
            s.commissioned_by_step as i64,
            s.last_event_time,
            s.last_event_seq,
            s.biz_location,
            s.read_point,
            s.disposition,
            json_list(&s.persistent_dispositions),
            s.lot,
            s.expiry,
            s.parent,
            s.parent_since.map(|p| p.0),
            s.parent_since.map(|p| p.1),
            s.location_time,
        ])
        .map_err(db_err)?;
        Ok(())
    }

    fn insert_units_if_new(&mut self, states: &[UnitState]) -> StoreResult<bool> {
        let rows: Vec<UnitRow> = states.iter().map(UnitRow::of).collect();
        let mut p: Vec<&dyn ToSql> = Vec::with_capacity(rows.len() * 16);
        for u in &rows {
            p.push(&u.s.epc);
            p.extend(u.values());
        }
        match insert_rows_counted(
            self.conn,
            &format!("INSERT INTO unit_state ({UNIT_COLS})"),
            16,
            &p,
        ) {
            Ok(()) => Ok(true),
            Err((done, e)) if is_unique_violation(&e) => {
                // The rows that went in were new: deleting them restores the store exactly.
                if done > 0 {
                    let list = serde_json::to_string(
                        &states[..done].iter().map(|s| &s.epc).collect::<Vec<_>>(),
                    )
                    .map_err(|e| StoreError::Database(format!("EPC list: {e}")))?;
                    self.conn
                        .prepare_cached(
                            "DELETE FROM unit_state WHERE epc IN (SELECT value FROM json_each(?1))",
                        )
                        .and_then(|mut st| st.execute([list]))
                        .map_err(db_err)?;
                }
                Ok(false)
            }
            Err((_, e)) => Err(db_err(e)),
        }
    }

    fn load_units(&mut self, epcs: &[&str]) -> StoreResult<Vec<Option<UnitState>>> {
        if epcs.len() <= 1 {
            return epcs.iter().map(|e| self.load_unit(e)).collect();
        }
        // One statement for the whole list, whatever its length (the EPCs as one JSON array).
        let list = serde_json::to_string(epcs)
            .map_err(|e| StoreError::Database(format!("EPC list: {e}")))?;
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {UNIT_COLS} FROM unit_state WHERE epc IN (SELECT value FROM json_each(?1))"
            ))
            .map_err(db_err)?;
        let rows = st.query_map([list], unit_from_row).map_err(db_err)?;
        let mut found: HashMap<String, UnitState> = HashMap::new();
        for r in rows {
            let u = finish_unit(r.map_err(db_err)?)?;
            found.insert(u.epc.clone(), u);
        }
        Ok(epcs.iter().map(|e| found.remove(*e)).collect())
    }

    fn save_units(
        &mut self,
        states: &[UnitState],
        before: &[Option<UnitState>],
    ) -> StoreResult<()> {
        if before.len() != states.len() {
            return states.iter().try_for_each(|s| self.save_unit(s));
        }
        // New units: plain inserts. Known units: an UPDATE of the changed columns only, so that
        // indexes over unchanged columns (lot, parent, bizLocation) are not rewritten.
        let mut by_mask: HashMap<u16, Vec<&UnitState>> = HashMap::new();
        let mut new_units: Vec<UnitRow> = Vec::new();
        for (s, b) in states.iter().zip(before) {
            match b {
                None => new_units.push(UnitRow::of(s)),
                Some(b) => {
                    let mask = changed_columns(b, s);
                    if mask != 0 {
                        by_mask.entry(mask).or_default().push(s);
                    }
                }
            }
        }
        if !new_units.is_empty() {
            let mut p: Vec<&dyn ToSql> = Vec::with_capacity(new_units.len() * 16);
            for u in &new_units {
                p.push(&u.s.epc);
                p.extend(u.values());
            }
            insert_rows(
                self.conn,
                &format!("INSERT INTO unit_state ({UNIT_COLS})"),
                16,
                &p,
            )?;
        }
        for (mask, group) in by_mask {
            let mut sets = Vec::new();
            for (i, col) in UNIT_VALUE_COLS.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    sets.push(format!("{col} = ?{}", sets.len() + 2));
                }
            }
            let mut st = self
                .conn
                .prepare_cached(&format!(
                    "UPDATE unit_state SET {} WHERE epc = ?1",
                    sets.join(", ")
                ))
                .map_err(db_err)?;
            for s in group {
                let row = UnitRow::of(s);
                st.execute(rusqlite::params_from_iter(
                    std::iter::once(&s.epc as &dyn ToSql).chain(
                        row.values()
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << i) != 0)
                            .map(|(_, x)| x),
                    ),
                ))
                .map_err(db_err)?;
            }
        }
        Ok(())
    }

    fn unit_events(&mut self, epc: &str) -> StoreResult<Vec<(EventFacts, RoleSet)>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {FACT_COLS}, x.role FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc = ?1 ORDER BY x.event_time, x.event_seq LIMIT {}",
                MAX_UNIT_HISTORY + 1
            ))
            .map_err(db_err)?;
        let rows = st
            .query_map([epc], |r| Ok((facts_from_row(r)?, r.get::<_, i64>(14)?)))
            .map_err(db_err)?;
        let mut out: Vec<(EventFacts, RoleSet)> = Vec::new();
        let mut n = 0;
        for row in rows {
            n += 1;
            check_history_len(epc, n)?;
            let (raw, role) = row.map_err(db_err)?;
            let role = EpcRole::from_code(role)
                .ok_or_else(|| StoreError::Corrupt(format!("role code {role}")))?;
            match out.last_mut() {
                Some((f, r)) if f.seq == raw.facts.seq => *r = r.with(role),
                _ => out.push((finish_facts(raw)?, RoleSet::single(role))),
            }
        }
        Ok(out)
    }

    fn child_aggregations(&mut self, epc: &str) -> StoreResult<Vec<(EventFacts, RoleSet)>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {FACT_COLS}, x.role FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc = ?1 AND x.role = 3 AND e.event_type = 2 ORDER BY x.event_time, x.event_seq LIMIT {}",
                MAX_UNIT_HISTORY + 1
            ))
            .map_err(db_err)?;
        let rows = st
            .query_map([epc], |r| Ok((facts_from_row(r)?, r.get::<_, i64>(14)?)))
            .map_err(db_err)?;
        let mut out: Vec<(EventFacts, RoleSet)> = Vec::new();
        let mut n = 0;
        for row in rows {
            n += 1;
            check_history_len(epc, n)?;
            let (raw, role) = row.map_err(db_err)?;
            let role = EpcRole::from_code(role)
                .ok_or_else(|| StoreError::Corrupt(format!("role code {role}")))?;
            match out.last_mut() {
                Some((f, r)) if f.seq == raw.facts.seq => *r = r.with(role),
                _ => out.push((finish_facts(raw)?, RoleSet::single(role))),
            }
        }
        Ok(out)
    }

    fn empty_deletes(&mut self, parent: &str) -> StoreResult<Vec<EventFacts>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {FACT_COLS} FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc = ?1 AND x.role = ?2 AND e.empty_delete = 1 ORDER BY x.event_time, x.event_seq LIMIT {}",
                MAX_UNIT_HISTORY + 1
            ))
            .map_err(db_err)?;
        let rows = st
            .query_map(params![parent, EpcRole::ParentId.code()], facts_from_row)
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(finish_facts(row.map_err(db_err)?)?);
            check_history_len(parent, out.len())?;
        }
        Ok(out)
    }

    fn emptied_after(&mut self, parent: &str, key: (i64, i64)) -> StoreResult<bool> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT 1 FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc = ?1 AND x.role = ?2 AND (x.event_time, x.event_seq) > (?3, ?4) AND e.empty_delete = 1 LIMIT 1",
            )
            .map_err(db_err)?;
        st.exists(params![parent, EpcRole::ParentId.code(), key.0, key.1])
            .map_err(db_err)
    }

    fn empty_parent(&mut self, parent: &str, key: (i64, i64)) -> StoreResult<()> {
        let mut st = self
            .conn
            .prepare_cached(
                "UPDATE unit_state SET parent = NULL, parent_since_time = NULL, parent_since_seq = NULL \
                 WHERE parent = ?1 AND (parent_since_time IS NULL OR (parent_since_time, parent_since_seq) < (?2, ?3))",
            )
            .map_err(db_err)?;
        st.execute(params![parent, key.0, key.1]).map_err(db_err)?;
        Ok(())
    }

    fn add_stock(
        &mut self,
        epc_class: &str,
        location: &str,
        uom: &str,
        delta: f64,
    ) -> StoreResult<()> {
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT INTO class_stock (epc_class, location, uom, quantity) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (epc_class, location, uom) DO UPDATE SET quantity = quantity + excluded.quantity",
            )
            .map_err(db_err)?;
        st.execute(params![epc_class, location, uom, delta])
            .map_err(db_err)?;
        Ok(())
    }
}
