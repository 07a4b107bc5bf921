//! The capture engine's operations on one open PostgreSQL write transaction. The writer thread
//! drives its own single-threaded runtime, so each operation blocks on its query.

use std::collections::HashMap;

use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use unitrace_store::engine::{check_history_len, CaptureTx, Commissioned};
use unitrace_store::state::{EventFacts, RoleSet};
use unitrace_store::{Action, CaptureEvent, EpcRole, StoreError, StoreResult, UnitState};

use crate::rows::{
    copy_field, fact_cols, facts_from_row, json_list, unit_cols, unit_from_row, unit_upsert_set,
};
use crate::schema::db_err;

pub(crate) struct PgTx<'a> {
    pub rt: &'a Runtime,
    pub client: &'a Client,
    pub stmts: &'a mut HashMap<&'static str, Statement>,
    /// Simple-query statements whose results nobody waits for (BEGIN, the write lock, SAVEPOINT,
    /// RELEASE, ROLLBACK TO), sent in the same round trip as the next statement (pipelined) or
    /// prefixed to the next batch. An error in them surfaces there, and the caller rolls back.
    pending: String,
    /// Savepoints taken by [`CaptureTx::insert_commissioning`] in this transaction.
    unit_savepoints: usize,
    /// Events this transaction expects to insert: [`CaptureTx::last_record_time`] reserves as
    /// many sequence numbers.
    expected_events: usize,
    /// Sequence numbers reserved for this transaction's events, the next one last.
    seqs: Vec<i64>,
}

/// At most this many presumed-new `COPY`s under a savepoint per transaction, after which units
/// are read first as for other events: each savepoint is a subtransaction, and PostgreSQL keeps
/// only 64 of a transaction's subtransactions in shared memory before every concurrent reader
/// must look them up on disk.
const MAX_UNIT_SAVEPOINTS: usize = 32;

// The history queries below say `LIMIT 1000001` (MAX_UNIT_HISTORY + 1) in their SQL text.
const _: () = assert!(unitrace_store::limits::MAX_UNIT_HISTORY == 1_000_000);

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// The start of [`INSERT_EVENT`]: the event (its sequence number `$24` reserved beforehand),
/// unless its hash ID or eventID is stored already, and its `event_epc` rows (arrays: one
/// multi-row insert for any number of EPCs), written only if the event is.
macro_rules! insert_event_ctes {
    () => {
        "WITH e AS (INSERT INTO event (seq, hash_id, event_id, event_type, event_time, tz_offset, record_time, action, \
         biz_step, disposition, read_point, biz_location, transformation_id, parent_id, empty_delete, \
         pdisp_set, pdisp_unset, ilmd_lot, ilmd_expiry, err_time, err_reason, document) OVERRIDING SYSTEM VALUE \
         VALUES ($24, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
         ON CONFLICT DO NOTHING RETURNING seq), \
         x AS (INSERT INTO event_epc (epc, event_time, event_seq, role) \
         SELECT u.epc, $4, e.seq, u.role FROM e, UNNEST($22::text[], $23::bigint[]) AS u(epc, role))"
    };
}

/// An event and its `event_epc` rows in one statement; returns its sequence number, or no row if
/// it is stored already.
const INSERT_EVENT: &str = concat!(insert_event_ctes!(), " SELECT seq FROM e");

/// [`INSERT_EVENT`] with the state of its one unit, presumed new (`$25`..`$40`, the columns of
/// `unit_cols!()`), written only if the event is and the unit is not stored yet; returns how many
/// unit rows it wrote (0 or 1), or no row if the event is stored already.
const INSERT_EVENT_NEW_UNIT: &str = concat!(
    insert_event_ctes!(),
    ", u AS (INSERT INTO unit_state (",
    unit_cols!(),
    ") SELECT $25::text, $26::bigint, $27::text, $28::boolean, $29::bigint, $30::bigint, $31::text, $32::text, \
     $33::text, $34::text, $35::text, $36::text, $37::text, $38::bigint, $39::bigint, $40::bigint FROM e \
     ON CONFLICT (epc) DO NOTHING RETURNING 1) \
     SELECT (SELECT COUNT(*) FROM u) FROM e"
);

const LOAD_UNITS: &str = concat!(
    "SELECT ",
    unit_cols!(),
    " FROM unit_state WHERE epc = ANY($1)"
);

/// The values of [`INSERT_EVENT`] that are computed from the event (the rest are borrowed).
struct EventRow<'e> {
    type_code: i64,
    action: Option<i64>,
    parent: Option<&'e str>,
    empty_delete: bool,
    pset: Option<String>,
    punset: Option<String>,
    err_time: Option<i64>,
    err_reason: Option<String>,
    epcs: Vec<&'e str>,
    roles: Vec<i64>,
}

impl<'e> EventRow<'e> {
    /// The event's row, and its EPC rows for [`INSERT_EVENT`] to write.
    fn of(ev: &'e CaptureEvent) -> Self {
        let mut row = Self::bare(ev);
        row.epcs = ev.epcs.iter().map(|(_, e)| e.as_str()).collect();
        row.roles = ev.epcs.iter().map(|(r, _)| r.code()).collect();
        row
    }

    /// The event's row only: [`INSERT_EVENT`] writes no EPC rows.
    fn bare(ev: &'e CaptureEvent) -> Self {
        EventRow {
            type_code: ev.event_type.code(),
            action: ev.action.map(Action::code),
            parent: ev.parent_id(),
            empty_delete: ev.is_empty_delete(),
            pset: json_list(&ev.persistent_disposition_set),
            punset: json_list(&ev.persistent_disposition_unset),
            err_time: ev.error_declaration.as_ref().map(|e| e.declaration_time),
            err_reason: ev.error_declaration.as_ref().and_then(|e| e.reason.clone()),
            epcs: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// `$1`..`$24` of [`INSERT_EVENT`].
    fn params<'s>(
        &'s self,
        ev: &'s CaptureEvent,
        document: &'s &str,
        record_time: &'s i64,
        seq: &'s i64,
    ) -> [&'s (dyn ToSql + Sync); 24] {
        [
            &ev.hash_id,
            &ev.event_id,
            &self.type_code,
            &ev.event_time,
            &ev.event_time_zone_offset,
            record_time,
            &self.action,
            &ev.biz_step,
            &ev.disposition,
            &ev.read_point,
            &ev.biz_location,
            &ev.transformation_id,
            &self.parent,
            &self.empty_delete,
            &self.pset,
            &self.punset,
            &ev.ilmd_lot,
            &ev.ilmd_expiry,
            &self.err_time,
            &self.err_reason,
            document,
            &self.epcs,
            &self.roles,
            seq,
        ]
    }
}

/// The values of one unit's row that are computed, not borrowed from its state.
struct UnitRow<'u> {
    s: &'u UnitState,
    pdisps: Option<String>,
    since_time: Option<i64>,
    since_seq: Option<i64>,
}

impl<'u> UnitRow<'u> {
    fn of(s: &'u UnitState) -> Self {
        UnitRow {
            s,
            pdisps: json_list(&s.persistent_dispositions),
            since_time: s.parent_since.map(|p| p.0),
            since_seq: s.parent_since.map(|p| p.1),
        }
    }

    /// `$1`..`$16`: the columns of `unit_cols!()`.
    fn params(&self) -> [&(dyn ToSql + Sync); 16] {
        let s = self.s;
        [
            &s.epc,
            &s.commissioned_at,
            &s.commissioned_where,
            &s.commissioned_by_step,
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

/// The sequence number [`INSERT_EVENT`] returned, or None if it inserted nothing.
fn seq_of(row: Option<Row>) -> StoreResult<Option<i64>> {
    row.map(|r| r.try_get(0).map_err(db_err)).transpose()
}

const UNITS_COPY: &str = concat!("COPY unit_state (", unit_cols!(), ") FROM STDIN");

const EPCS_COPY: &str = "COPY event_epc (epc, event_time, event_seq, role) FROM STDIN";

/// One `COPY ... FROM STDIN` (text format, prepared: no Parse round trip) of the rows `data`
/// builds. Its first poll sends the COPY; it then yields, so that the connection task writes it
/// out behind what was sent before it, and builds the rows while the server works through that.
async fn copy_rows(
    client: &Client,
    stmt: Statement,
    data: impl FnOnce() -> String,
) -> Result<u64, tokio_postgres::Error> {
    use futures_util::SinkExt;
    use std::future::Future as _;
    use std::task::Poll;
    let start = client.copy_in::<_, bytes::Bytes>(&stmt);
    futures_util::pin_mut!(start);
    let early = std::future::poll_fn(|cx| Poll::Ready(start.as_mut().poll(cx))).await;
    tokio::task::yield_now().await;
    let data = data();
    let sink = match early {
        Poll::Ready(r) => r?,
        Poll::Pending => start.await?,
    };
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::from(data)).await?;
    sink.finish().await
}

/// An event's `event_epc` rows as the text data of [`EPCS_COPY`].
fn epc_copy_data(ev: &CaptureEvent, seq: i64) -> String {
    use std::fmt::Write as _;
    let mut data = String::with_capacity(ev.epcs.len() * 64);
    for (role, epc) in &ev.epcs {
        copy_field(&mut data, Some(epc));
        let _ = writeln!(data, "\t{}\t{seq}\t{}", ev.event_time, role.code());
    }
    data
}

/// Unit rows as the text data of [`UNITS_COPY`].
fn copy_data<S: std::borrow::Borrow<UnitState>>(states: &[S]) -> String {
    use std::fmt::Write as _;
    let mut data = String::with_capacity(states.len() * 256);
    let opt = |out: &mut String, v: Option<i64>| match v {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push_str("\\N"),
    };
    for s in states {
        let s = s.borrow();
        copy_field(&mut data, Some(&s.epc));
        data.push('\t');
        opt(&mut data, s.commissioned_at);
        data.push('\t');
        copy_field(&mut data, s.commissioned_where.as_deref());
        let _ = write!(
            data,
            "\t{}\t{}\t{}\t",
            if s.commissioned_by_step { 't' } else { 'f' },
            s.last_event_time,
            s.last_event_seq
        );
        let pd = json_list(&s.persistent_dispositions);
        for v in [
            s.biz_location.as_deref(),
            s.read_point.as_deref(),
            s.disposition.as_deref(),
            pd.as_deref(),
            s.lot.as_deref(),
            s.expiry.as_deref(),
            s.parent.as_deref(),
        ] {
            copy_field(&mut data, v);
            data.push('\t');
        }
        opt(&mut data, s.parent_since.map(|p| p.0));
        data.push('\t');
        opt(&mut data, s.parent_since.map(|p| p.1));
        data.push('\t');
        opt(&mut data, s.location_time);
        data.push('\n');
    }
    data
}

/// Unit states read by [`LOAD_UNITS`], in the order of `epcs` (None: no such unit).
fn units_in_order(rows: &[Row], epcs: &[&str]) -> StoreResult<Vec<Option<UnitState>>> {
    let mut found: HashMap<String, UnitState> = HashMap::with_capacity(rows.len());
    for r in rows {
        let u = unit_from_row(r)?;
        found.insert(u.epc.clone(), u);
    }
    Ok(epcs.iter().map(|e| found.remove(*e)).collect())
}

impl<'a> PgTx<'a> {
    pub(crate) fn new(
        rt: &'a Runtime,
        client: &'a Client,
        stmts: &'a mut HashMap<&'static str, Statement>,
        expected_events: usize,
    ) -> Self {
        PgTx {
            rt,
            client,
            stmts,
            pending: String::new(),
            unit_savepoints: 0,
            expected_events,
            seqs: Vec::new(),
        }
    }

    /// The next reserved sequence number (reserving one more if none is left).
    fn next_seq(&mut self) -> StoreResult<i64> {
        if let Some(s) = self.seqs.pop() {
            return Ok(s);
        }
        // `event_seq_seq`: the sequence of the identity column `event.seq`, by PostgreSQL's rule.
        let r = self.query_opt("SELECT nextval('event_seq_seq')", &[])?;
        match r {
            Some(r) => r.try_get(0).map_err(db_err),
            None => Err(StoreError::Database("nextval returned no row".into())),
        }
    }

    /// Queue a simple-query statement (with its `;`) to go out with the next one.
    pub(crate) fn defer(&mut self, sql: &str) {
        self.pending.push_str(sql);
        self.pending.push(';');
    }

    /// Run `f` (a statement already encoded against `self.client`), preceded in the same round
    /// trip by the deferred statements, if any. tokio-postgres sends requests in the order their
    /// futures are first polled, and `join` polls the deferred batch first.
    fn run<T>(
        &mut self,
        f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        let pending = std::mem::take(&mut self.pending);
        let client = self.client;
        self.rt
            .block_on(async {
                if pending.is_empty() {
                    return f.await;
                }
                let (a, b) = futures_util::future::join(client.batch_execute(&pending), f).await;
                a?;
                b
            })
            .map_err(db_err)
    }

    /// Send the deferred statements on their own.
    fn flush(&mut self) -> StoreResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.rt
            .block_on(self.client.batch_execute(&pending))
            .map_err(db_err)
    }

    fn stmt(&mut self, sql: &'static str) -> StoreResult<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        // Preparing is rare (once per connection and statement): the deferred statements go
        // first, so that it sees the transaction in the state they leave.
        self.flush()?;
        let s = self.rt.block_on(self.client.prepare(sql)).map_err(db_err)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    /// The deferred statements and `sql`, as one simple query.
    pub(crate) fn batch(&mut self, sql: &str) -> StoreResult<()> {
        self.pending.push_str(sql);
        self.flush()
    }

    /// `ROLLBACK`, dropping the deferred statements (they may fail in an aborted transaction
    /// and would then keep the ROLLBACK from running).
    pub(crate) fn abort(&mut self) -> StoreResult<()> {
        self.pending.clear();
        self.rt
            .block_on(self.client.batch_execute("ROLLBACK"))
            .map_err(db_err)
    }

    fn exec(&mut self, sql: &'static str, params: Params<'_>) -> StoreResult<u64> {
        let s = self.stmt(sql)?;
        let client = self.client;
        self.run(client.execute(&s, params))
    }

    fn query(&mut self, sql: &'static str, params: Params<'_>) -> StoreResult<Vec<Row>> {
        let s = self.stmt(sql)?;
        let client = self.client;
        self.run(client.query(&s, params))
    }

    /// The deferred statements, as one future to poll first (ready at once if there are none).
    fn send_pending(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), tokio_postgres::Error>> + 'a {
        let client = self.client;
        let pending = std::mem::take(&mut self.pending);
        async move {
            if pending.is_empty() {
                return Ok(());
            }
            client.batch_execute(&pending).await
        }
    }

    /// Inserts units known to be new (no row yet): COPY, which PostgreSQL writes in batches,
    /// where an INSERT from arrays costs about twice as much per row.
    fn insert_new_units(&mut self, states: &[&UnitState]) -> StoreResult<()> {
        let stmt = self.stmt(UNITS_COPY)?;
        let pending = self.send_pending();
        let copy = copy_rows(self.client, stmt, || copy_data(states));
        let (a, n) = self.rt.block_on(futures_util::future::join(pending, copy));
        a.map_err(db_err)?;
        let n = n.map_err(db_err)?;
        if n != states.len() as u64 {
            return Err(StoreError::Database(format!(
                "COPY stored {n} of {} new units",
                states.len()
            )));
        }
        Ok(())
    }

    /// What [`INSERT_EVENT`] did with the sequence number `seq` reserved for it: `got` is the
    /// number it returned, None if it inserted nothing (then `seq` is kept for the next event).
    fn inserted(
        &mut self,
        ev: &CaptureEvent,
        seq: i64,
        got: Option<i64>,
    ) -> StoreResult<Option<i64>> {
        match got {
            Some(s) if s == seq => {
                self.insert_event_children(ev, seq)?;
                Ok(Some(seq))
            }
            Some(s) => Err(StoreError::Database(format!(
                "event inserted as {s}, not as its reserved sequence number {seq}"
            ))),
            None => {
                self.seqs.push(seq);
                Ok(None)
            }
        }
    }

    /// Writes units that may exist (INSERT ... ON CONFLICT DO UPDATE): one statement, columns
    /// as arrays.
    fn upsert_units(&mut self, states: &[&UnitState]) -> StoreResult<()> {
        match states {
            [] => return Ok(()),
            [one] => return self.save_unit(one),
            _ => {}
        }
        let epc: Vec<&str> = states.iter().map(|s| s.epc.as_str()).collect();
        let cat: Vec<Option<i64>> = states.iter().map(|s| s.commissioned_at).collect();
        let cwhere: Vec<Option<&str>> = states
            .iter()
            .map(|s| s.commissioned_where.as_deref())
            .collect();
        let cstep: Vec<bool> = states.iter().map(|s| s.commissioned_by_step).collect();
        let let_: Vec<i64> = states.iter().map(|s| s.last_event_time).collect();
        let les: Vec<i64> = states.iter().map(|s| s.last_event_seq).collect();
        let loc: Vec<Option<&str>> = states.iter().map(|s| s.biz_location.as_deref()).collect();
        let rp: Vec<Option<&str>> = states.iter().map(|s| s.read_point.as_deref()).collect();
        let disp: Vec<Option<&str>> = states.iter().map(|s| s.disposition.as_deref()).collect();
        let pd: Vec<Option<String>> = states
            .iter()
            .map(|s| json_list(&s.persistent_dispositions))
            .collect();
        let lot: Vec<Option<&str>> = states.iter().map(|s| s.lot.as_deref()).collect();
        let exp: Vec<Option<&str>> = states.iter().map(|s| s.expiry.as_deref()).collect();
        let parent: Vec<Option<&str>> = states.iter().map(|s| s.parent.as_deref()).collect();
        let pst: Vec<Option<i64>> = states.iter().map(|s| s.parent_since.map(|p| p.0)).collect();
        let pss: Vec<Option<i64>> = states.iter().map(|s| s.parent_since.map(|p| p.1)).collect();
        let lt: Vec<Option<i64>> = states.iter().map(|s| s.location_time).collect();
        self.exec(
            concat!(
                "INSERT INTO unit_state (",
                unit_cols!(),
                ") SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::boolean[], $5::bigint[], $6::bigint[], \
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::bigint[], $16::bigint[])",
                unit_upsert_set!()
            ),
            &[&epc, &cat, &cwhere, &cstep, &let_, &les, &loc, &rp, &disp, &pd, &lot, &exp, &parent, &pst, &pss, &lt],
        )?;
        Ok(())
    }

    fn query_opt(&mut self, sql: &'static str, params: Params<'_>) -> StoreResult<Option<Row>> {
        let s = self.stmt(sql)?;
        let client = self.client;
        self.run(client.query_opt(&s, params))
    }
}

impl CaptureTx for PgTx<'_> {
    /// Also reserves the sequence numbers of the events this transaction expects (under the
    /// write lock, so that sequence numbers follow commit order across nodes), so that an event's
    /// rows can be sent before its INSERT has answered.
    fn last_record_time(&mut self) -> StoreResult<Option<i64>> {
        let n = self.expected_events as i64;
        let r = self.query_opt(
            "SELECT (SELECT MAX(record_time) FROM event), \
             ARRAY(SELECT nextval('event_seq_seq') FROM generate_series(1, $1::bigint))",
            &[&n],
        )?;
        let Some(r) = r else {
            return Err(StoreError::Database(
                "SELECT MAX(record_time) returned no row".into(),
            ));
        };
        let mut seqs: Vec<i64> = r.try_get(1).map_err(db_err)?;
        // Next one last.
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        self.seqs = seqs;
        r.try_get(0).map_err(db_err)
    }

    fn savepoint(&mut self) -> StoreResult<()> {
        self.defer("SAVEPOINT req");
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> StoreResult<()> {
        self.defer("ROLLBACK TO SAVEPOINT req");
        Ok(())
    }

    fn release_savepoint(&mut self) -> StoreResult<()> {
        self.defer("RELEASE SAVEPOINT req");
        Ok(())
    }

    fn hash_exists(&mut self, hash_id: &str) -> StoreResult<bool> {
        Ok(self
            .query_opt("SELECT 1 FROM event WHERE hash_id = $1", &[&hash_id])?
            .is_some())
    }

    fn hash_of_event_id(&mut self, event_id: &str) -> StoreResult<Option<String>> {
        match self.query_opt(
            "SELECT hash_id FROM event WHERE event_id = $1",
            &[&event_id],
        )? {
            Some(r) => Ok(Some(r.try_get(0).map_err(db_err)?)),
            None => Ok(None),
        }
    }

    fn insert_event(
        &mut self,
        ev: &CaptureEvent,
        document: &str,
        record_time: i64,
    ) -> StoreResult<Option<i64>> {
        let seq = self.next_seq()?;
        let row = EventRow::of(ev);
        let params = row.params(ev, &document, &record_time, &seq);
        let r = self.query_opt(INSERT_EVENT, &params)?;
        self.inserted(ev, seq, seq_of(r)?)
    }

    fn insert_event_and_load_units(
        &mut self,
        ev: &CaptureEvent,
        document: &str,
        record_time: i64,
        epcs: &[&str],
    ) -> StoreResult<Option<(i64, Vec<Option<UnitState>>)>> {
        if epcs.is_empty() {
            return Ok(self
                .insert_event(ev, document, record_time)?
                .map(|seq| (seq, Vec::new())));
        }
        // Both requests go out before either answer is awaited (pipelined).
        let seq = self.next_seq()?;
        let ins = self.stmt(INSERT_EVENT)?;
        let load = self.stmt(LOAD_UNITS)?;
        let row = EventRow::of(ev);
        let params = row.params(ev, &document, &record_time, &seq);
        let client = self.client;
        let (r, rows) = self.run(futures_util::future::try_join(
            client.query_opt(&ins, &params),
            client.query(&load, &[&epcs]),
        ))?;
        match self.inserted(ev, seq, seq_of(r)?)? {
            Some(seq) => Ok(Some((seq, units_in_order(&rows, epcs)?))),
            None => Ok(None),
        }
    }

    /// One round trip: the event, its EPC rows and its units' states, the two by COPY under a
    /// savepoint (one unit: all in one statement, the unit `ON CONFLICT DO NOTHING`).
    fn insert_commissioning(
        &mut self,
        ev: &CaptureEvent,
        document: &str,
        record_time: i64,
        states: &dyn Fn(i64) -> Vec<UnitState>,
    ) -> StoreResult<Commissioned> {
        let seq = self.next_seq()?;
        if ev.epcs.len() == 1 {
            let row = EventRow::of(ev);
            let params = row.params(ev, &document, &record_time, &seq);
            let fresh = states(seq);
            let [one] = fresh.as_slice() else {
                return Err(StoreError::Database(format!(
                    "{} unit states for an event of one EPC",
                    fresh.len()
                )));
            };
            let unit = UnitRow::of(one);
            let all: Vec<&(dyn ToSql + Sync)> =
                params.iter().copied().chain(unit.params()).collect();
            let r = self.query_opt(INSERT_EVENT_NEW_UNIT, &all)?;
            let units: Option<i64> = r.map(|r| r.try_get(0)).transpose().map_err(db_err)?;
            return Ok(match units {
                None => {
                    self.seqs.push(seq);
                    Commissioned::Refused
                }
                Some(n) => {
                    self.insert_event_children(ev, seq)?;
                    if n == 1 {
                        Commissioned::Stored
                    } else {
                        Commissioned::EventOnly(seq)
                    }
                }
            });
        }
        // COPY cannot skip conflicts: a savepoint undoes it on one (and the event with it).
        if self.unit_savepoints >= MAX_UNIT_SAVEPOINTS || ev.epcs.is_empty() {
            self.seqs.push(seq);
            return Ok(match self.insert_event(ev, document, record_time)? {
                Some(seq) => Commissioned::EventOnly(seq),
                None => Commissioned::Refused,
            });
        }
        self.unit_savepoints += 1;
        let ins = self.stmt(INSERT_EVENT)?;
        let epc_copy = self.stmt(EPCS_COPY)?;
        let unit_copy = self.stmt(UNITS_COPY)?;
        self.defer("SAVEPOINT units");
        let row = EventRow::bare(ev);
        let params = row.params(ev, &document, &record_time, &seq);
        // Rows are built while the server works through what was sent before them.
        let units = std::cell::Cell::new(0u64);
        let unit_data = || {
            let fresh = states(seq);
            units.set(fresh.len() as u64);
            copy_data(&fresh)
        };
        let client = self.client;
        let pending = self.send_pending();
        let (sent, r, epcs, copied) = self.rt.block_on(futures_util::future::join4(
            pending,
            client.query_opt(&ins, &params),
            copy_rows(client, epc_copy, || epc_copy_data(ev, seq)),
            copy_rows(client, unit_copy, unit_data),
        ));
        sent.map_err(db_err)?;
        let units = units.get();
        let undo = |tx: &mut Self| {
            tx.defer("ROLLBACK TO SAVEPOINT units");
            tx.defer("RELEASE SAVEPOINT units");
        };
        let Some(r) = r.map_err(db_err)? else {
            // Stored already: whatever the COPY did is undone.
            undo(self);
            self.seqs.push(seq);
            return Ok(Commissioned::Refused);
        };
        let _: i64 = r.try_get(0).map_err(db_err)?;
        let epcs = epcs.map_err(db_err)?;
        if epcs != ev.epcs.len() as u64 {
            return Err(StoreError::Database(format!(
                "COPY stored {epcs} of {} EPC rows",
                ev.epcs.len()
            )));
        }
        match copied {
            Ok(n) if n == units => {
                self.defer("RELEASE SAVEPOINT units");
                self.insert_event_children(ev, seq)?;
                Ok(Commissioned::Stored)
            }
            Ok(n) => Err(StoreError::Database(format!(
                "COPY stored {n} of {units} new units"
            ))),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                // Some units are known: the event is written again on its own, with the same
                // sequence number, and the engine reads and updates the units.
                undo(self);
                self.seqs.push(seq);
                match self.insert_event(ev, document, record_time)? {
                    Some(seq) => Ok(Commissioned::EventOnly(seq)),
                    None => Err(StoreError::Database(format!(
                        "event {} was refused after it had been inserted",
                        ev.hash_id
                    ))),
                }
            }
            Err(e) => Err(db_err(e)),
        }
    }

    fn load_unit(&mut self, epc: &str) -> StoreResult<Option<UnitState>> {
        match self.query_opt(
            concat!("SELECT ", unit_cols!(), " FROM unit_state WHERE epc = $1"),
            &[&epc],
        )? {
            Some(r) => unit_from_row(&r).map(Some),
            None => Ok(None),
        }
    }

    fn save_unit(&mut self, s: &UnitState) -> StoreResult<()> {
        let row = UnitRow::of(s);
        self.exec(
            concat!(
                "INSERT INTO unit_state (",
                unit_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                unit_upsert_set!()
            ),
            &row.params(),
        )?;
        Ok(())
    }

    fn load_units(&mut self, epcs: &[&str]) -> StoreResult<Vec<Option<UnitState>>> {
        if epcs.len() <= 1 {
            return epcs.iter().map(|e| self.load_unit(e)).collect();
        }
        let rows = self.query(LOAD_UNITS, &[&epcs])?;
        units_in_order(&rows, epcs)
    }

    fn save_units(
        &mut self,
        states: &[UnitState],
        before: &[Option<UnitState>],
    ) -> StoreResult<()> {
        if before.len() != states.len() {
            return self.upsert_units(&states.iter().collect::<Vec<_>>());
        }
        // New units are copied in; known units are written only if something changed.
        let (mut new, mut changed) = (Vec::new(), Vec::new());
        for (s, b) in states.iter().zip(before) {
            match b {
                None => new.push(s),
                Some(b) if b != s => changed.push(s),
                Some(_) => {}
            }
        }
        match new.len() {
            0 => {}
            1 => self.save_unit(new[0])?,
            _ => self.insert_new_units(&new)?,
        }
        self.upsert_units(&changed)
    }
    fn unit_events(&mut self, epc: &str) -> StoreResult<Vec<(EventFacts, RoleSet)>> {
        let rows = self.query(
            concat!(
                "SELECT ",
                fact_cols!(),
                ", x.role FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc = $1 ORDER BY x.event_time, x.event_seq LIMIT 1000001" // MAX_UNIT_HISTORY + 1
            ),
            &[&epc],
        )?;
        check_history_len(epc, rows.len())?;
        group_roles(&rows)
    }

    fn empty_deletes(&mut self, parent: &str) -> StoreResult<Vec<EventFacts>> {
        let rows = self.query(
            concat!(
                "SELECT ",
                fact_cols!(),
                " FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc = $1 AND x.role = $2 AND e.empty_delete ORDER BY x.event_time, x.event_seq LIMIT 1000001" // MAX_UNIT_HISTORY + 1
            ),
            &[&parent, &EpcRole::ParentId.code()],
        )?;
        check_history_len(parent, rows.len())?;
        rows.iter().map(facts_from_row).collect()
    }

    fn emptied_after(&mut self, parent: &str, key: (i64, i64)) -> StoreResult<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc = $1 AND x.role = $2 AND (x.event_time, x.event_seq) > ($3, $4) AND e.empty_delete LIMIT 1",
                &[&parent, &EpcRole::ParentId.code(), &key.0, &key.1],
            )?
            .is_some())
    }

    fn empty_parent(&mut self, parent: &str, key: (i64, i64)) -> StoreResult<()> {
        self.exec(
            "UPDATE unit_state SET parent = NULL, parent_since_time = NULL, parent_since_seq = NULL \
             WHERE parent = $1 AND (parent_since_time IS NULL OR (parent_since_time, parent_since_seq) < ($2, $3))",
            &[&parent, &key.0, &key.1],
        )?;
        Ok(())
    }

    fn add_stock(
        &mut self,
        epc_class: &str,
        location: &str,
        uom: &str,
        delta: f64,
    ) -> StoreResult<()> {
        self.exec(
            "INSERT INTO class_stock (epc_class, location, uom, quantity) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (epc_class, location, uom) DO UPDATE SET quantity = class_stock.quantity + EXCLUDED.quantity",
            &[&epc_class, &location, &uom, &delta],
        )?;
        Ok(())
    }
}

/// Rows of (facts..., role), ordered by event: one entry per event with all its roles.
pub(crate) fn group_roles(rows: &[Row]) -> StoreResult<Vec<(EventFacts, RoleSet)>> {
    let mut out: Vec<(EventFacts, RoleSet)> = Vec::new();
    for row in rows {
        let seq: i64 = row.try_get(0).map_err(db_err)?;
        let code: i64 = row.try_get(14).map_err(db_err)?;
        let role = EpcRole::from_code(code)
            .ok_or_else(|| StoreError::Corrupt(format!("role code {code}")))?;
        match out.last_mut() {
            Some((f, r)) if f.seq == seq => *r = r.with(role),
            _ => out.push((facts_from_row(row)?, RoleSet::single(role))),
        }
    }
    Ok(out)
}

impl PgTx<'_> {
    /// The rows of an event other than `event` and `event_epc` ([`INSERT_EVENT`] writes those).
    fn insert_event_children(&mut self, ev: &CaptureEvent, seq: i64) -> StoreResult<()> {
        for q in &ev.quantities {
            let (base, bq) = unitrace_store::units::quantity_in_base(q);
            self.exec(
                "INSERT INTO event_quantity (event_seq, role, epc_class, quantity, uom, base_uom, b_quantity) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&seq, &q.role.code(), &q.epc_class, &q.quantity, &q.uom, &base, &bq],
            )?;
        }
        for (op, list) in [
            (0i64, &ev.persistent_disposition_set),
            (1, &ev.persistent_disposition_unset),
        ] {
            for v in list {
                self.exec(
                    "INSERT INTO event_pdisp (event_seq, op, value) VALUES ($1, $2, $3)",
                    &[&seq, &op, v],
                )?;
            }
        }
        for (kind, list) in [
            (0i64, &ev.biz_transactions),
            (1, &ev.sources),
            (2, &ev.destinations),
        ] {
            for (ty, v) in list {
                self.exec(
                    "INSERT INTO event_biztx (event_seq, kind, type, value) VALUES ($1, $2, $3, $4)",
                    &[&seq, &kind, ty, v],
                )?;
            }
        }
        if let Some(e) = &ev.error_declaration {
            for id in &e.corrective_event_ids {
                self.exec(
                    "INSERT INTO event_corrective (event_seq, event_id) VALUES ($1, $2)",
                    &[&seq, id],
                )?;
            }
        }
        for s in &ev.sensor_reports {
            let (base, b) = unitrace_store::units::report_in_base(s);
            self.exec(
                "INSERT INTO event_sensor (event_seq, type, device_id, value, min_value, max_value, mean_value, uom, time, \
                 base_uom, b_value, b_min, b_max, b_mean) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    &seq, &s.report_type, &s.device_id, &s.value, &s.min_value, &s.max_value, &s.mean_value, &s.uom, &s.time,
                    &base, &b[0], &b[1], &b[2], &b[3],
                ],
            )?;
        }
        for (start, end) in &ev.sensor_periods {
            self.exec(
                "INSERT INTO event_sensor_period (event_seq, start_time, end_time) VALUES ($1, $2, $3)",
                &[&seq, start, end],
            )?;
        }
        for f in &ev.fields {
            self.exec(
                "INSERT INTO event_field (event_seq, scope, inner_field, name, text_value, num_value) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&seq, &f.scope.code(), &i64::from(f.inner), &f.name, &f.text, &f.number],
            )?;
        }
        Ok(())
    }
}
