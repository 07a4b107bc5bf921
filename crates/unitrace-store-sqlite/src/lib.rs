//! unitrace event store on embedded SQLite.
//!
//! One file, WAL journal, `synchronous=FULL`: a capture is acknowledged only after its commit is
//! on disk. One writer thread owns the write connection and group-commits concurrent captures in
//! one transaction (each request still all-or-nothing through a savepoint). Reads use a small pool
//! of read connections on blocking threads.

mod ceiling;
mod query;
mod records;
mod schema;
mod tx;

pub use ceiling::ceiling_write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use tokio::sync::{mpsc, oneshot, Semaphore};
use unitrace_store::engine::{
    capture_group, check_request, load_containment_history, load_history, CaptureRequest,
};
use unitrace_store::limits::{
    MAX_CONTAINMENT_NODES, MAX_GROUP_EVENTS, MAX_GROUP_REQUESTS, MAX_HEADS_PER_UNIT,
    MAX_LIST_UNITS, PAGE_TOKEN_TTL_MS,
};
use unitrace_store::query::{location_page, Matcher, PageCursor};
use unitrace_store::state::RoleSet;
use unitrace_store::{
    check_head_units, CaptureEvent, CaptureMode, CaptureReport, Clock, EpcRole, EventHead,
    EventQuery, EventType, GenealogyDirection, HistoryItem, Location, LocationRole, OrderBy,
    OrderDirection, Party, Product, QueryPage, StockRow, Store, StoreError, StoreResult,
    StoredEvent, UnitFilter, UnitState,
};

use schema::db_err;
use tx::{finish_unit, unit_from_row, SqliteTx, UNIT_COLS};

/// Capture requests waiting for the writer; senders wait when it is full.
const WRITE_QUEUE: usize = 1024;
/// Reads running at once (each holds a connection on a blocking thread).
const MAX_READERS: usize = 8;
/// Idle read connections kept: all of them. Opening one parses the schema and starts with no
/// prepared statements; with fewer kept than run at once, concurrent reads (a timeline's levels)
/// opened and closed connections all the time.
const READ_POOL: usize = MAX_READERS;

enum MasterWrite {
    Location(Location),
    Product(Product),
    Party(Party),
}

/// What a write closure returns (downcast by [`SqliteStore::exec`]).
type ExecOut = StoreResult<Box<dyn std::any::Any + Send>>;
/// A write run by the writer thread inside the group transaction (under its own savepoint), with
/// the store clock's time; its reply is sent after the commit.
type ExecFn = Box<dyn FnOnce(&Connection, i64) -> ExecOut + Send>;

enum WriteMsg {
    Capture(CaptureRequest, oneshot::Sender<StoreResult<CaptureReport>>),
    Master(MasterWrite, oneshot::Sender<StoreResult<()>>),
    Exec(ExecFn, oneshot::Sender<ExecOut>),
}

struct Inner {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    writer: mpsc::Sender<WriteMsg>,
    readers: Mutex<Vec<Connection>>,
    read_slots: Arc<Semaphore>,
}

/// The SQLite store. Cheap to clone; the writer thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

fn open_conn(path: &Path, create: bool) -> StoreResult<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    // Plans that do not depend on bound values. Without this, a statement whose plan looked at a
    // bound value (any `LIMIT ?`, with the bundled build's STAT4) is compiled again on every
    // execution: a third of the server's CPU under load went to re-preparing.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(db_err)?;
    Ok(conn)
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path` and run its migrations.
    pub async fn open(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> StoreResult<SqliteStore> {
        Self::open_at_schema(path, clock, schema::LATEST).await
    }

    /// Open the store migrating its schema only up to `version`: for tests of upgrades, which
    /// write a database as an older release did and then open it with [`SqliteStore::open`].
    #[doc(hidden)]
    pub async fn open_at_schema(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
        version: usize,
    ) -> StoreResult<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            let mut conn = open_conn(&p, true)?;
            let mode: String = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .map_err(db_err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Unavailable(format!("{}: cannot use WAL (got {mode})", p.display())));
            }
            conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA wal_autocheckpoint=10000;")
                .map_err(db_err)?;
            conn.execute_batch(schema::WRITER_PRAGMAS).map_err(db_err)?;
            schema::migrate(&mut conn, version)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("open task failed: {e}")))??;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let writer_clock = clock.clone();
        std::thread::Builder::new()
            .name("unitrace-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, writer_clock))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                clock,
                writer: tx,
                readers: Mutex::new(Vec::new()),
                read_slots: Arc::new(Semaphore::new(MAX_READERS)),
            }),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` on a read connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = self.inner.clone();
        let permit = inner
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = inner.readers.lock().ok().and_then(|mut v| v.pop());
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = open_conn(&inner.path, false)?;
                    c.execute_batch("PRAGMA query_only=ON").map_err(db_err)?;
                    c
                }
            };
            let r = f(&conn);
            if let Ok(mut v) = inner.readers.lock() {
                if v.len() < READ_POOL {
                    v.push(conn);
                }
            }
            r
        })
        .await
        .map_err(|e| StoreError::Database(format!("read task failed: {e}")))?
    }

    /// Run `f` on the writer thread inside a group transaction; the answer comes after the commit.
    async fn exec<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, i64) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        let f: ExecFn =
            Box::new(move |c, now| f(c, now).map(|v| Box::new(v) as Box<dyn std::any::Any + Send>));
        self.inner
            .writer
            .send(WriteMsg::Exec(f, tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        let out = rx.await.map_err(|_| StoreError::Closed)??;
        out.downcast::<T>()
            .map(|b| *b)
            .map_err(|_| StoreError::Database("write closure answered with the wrong type".into()))
    }

    async fn master(&self, m: MasterWrite) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .writer
            .send(WriteMsg::Master(m, tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<WriteMsg>, clock: Arc<dyn Clock>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        let mut events = msg_events(&batch[0]);
        while batch.len() < MAX_GROUP_REQUESTS && events < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(m) => {
                    events += msg_events(&m);
                    batch.push(m);
                }
                Err(_) => break,
            }
        }
        write_batch(&mut conn, batch, clock.as_ref());
    }
}

fn msg_events(m: &WriteMsg) -> usize {
    match m {
        WriteMsg::Capture(r, _) => r.events.len().max(1),
        WriteMsg::Master(..) | WriteMsg::Exec(..) => 1,
    }
}

/// Per-request results of one batch: captures, master-data writes, then write closures.
type BatchResults = (
    Vec<StoreResult<CaptureReport>>,
    Vec<StoreResult<()>>,
    Vec<ExecOut>,
);

/// One group commit: every request of the batch in one transaction, replies after the commit.
fn write_batch(conn: &mut Connection, batch: Vec<WriteMsg>, clock: &dyn Clock) {
    let mut captures = Vec::new();
    let mut capture_replies = Vec::new();
    let mut masters = Vec::new();
    let mut execs = Vec::new();
    for m in batch {
        match m {
            WriteMsg::Capture(r, reply) => {
                captures.push(r);
                capture_replies.push(reply);
            }
            WriteMsg::Master(m, reply) => masters.push((m, reply)),
            WriteMsg::Exec(f, reply) => execs.push((Some(f), reply)),
        }
    }
    let result = (|| -> StoreResult<BatchResults> {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
        let body = (|| {
            let mut master_results = Vec::with_capacity(masters.len());
            for (m, _) in &masters {
                conn.execute_batch("SAVEPOINT m").map_err(db_err)?;
                let r = write_master(conn, m);
                if r.is_err() {
                    conn.execute_batch("ROLLBACK TO m").map_err(db_err)?;
                }
                conn.execute_batch("RELEASE m").map_err(db_err)?;
                master_results.push(r);
            }
            let now = clock.now_millis();
            let mut exec_results = Vec::with_capacity(execs.len());
            for (f, _) in &mut execs {
                let Some(f) = f.take() else { continue };
                conn.execute_batch("SAVEPOINT x").map_err(db_err)?;
                let r = f(conn, now);
                if r.is_err() {
                    conn.execute_batch("ROLLBACK TO x").map_err(db_err)?;
                }
                conn.execute_batch("RELEASE x").map_err(db_err)?;
                exec_results.push(r);
            }
            let mut tx = SqliteTx { conn };
            let capture_results = if captures.is_empty() {
                Vec::new()
            } else {
                capture_group(&mut tx, clock.now_millis(), &captures)?
            };
            Ok((capture_results, master_results, exec_results))
        })();
        match body {
            Ok(r) => {
                conn.execute_batch("COMMIT").map_err(db_err)?;
                Ok(r)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    })();
    match result {
        Ok((cr, mr, xr)) => {
            for ((_, reply), r) in execs.into_iter().zip(xr) {
                let _ = reply.send(r);
            }
            for (reply, r) in capture_replies.into_iter().zip(cr) {
                let _ = reply.send(r);
            }
            for ((_, reply), r) in masters.into_iter().zip(mr) {
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            // Nothing of this batch is stored; every caller learns why.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            let msg = e.to_string();
            for reply in capture_replies {
                let _ = reply.send(Err(StoreError::Database(msg.clone())));
            }
            for (_, reply) in masters {
                let _ = reply.send(Err(StoreError::Database(msg.clone())));
            }
            for (_, reply) in execs {
                let _ = reply.send(Err(StoreError::Database(msg.clone())));
            }
        }
    }
}

fn attrs_text(v: &serde_json::Value) -> Option<String> {
    if v.is_null() {
        None
    } else {
        Some(v.to_string())
    }
}

fn attrs_parse(s: Option<String>) -> StoreResult<serde_json::Value> {
    match s {
        None => Ok(serde_json::Value::Null),
        Some(s) => {
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))
        }
    }
}

fn write_master(conn: &Connection, m: &MasterWrite) -> StoreResult<()> {
    match m {
        MasterWrite::Location(l) => {
            // Refuse a parent link that would make a cycle.
            if let Some(p) = &l.parent_id {
                let cycle: bool = conn
                    .query_row(
                        "WITH RECURSIVE up(id, depth) AS (SELECT ?1, 0 UNION \
                         SELECT l.parent_id, up.depth + 1 FROM location l JOIN up ON l.id = up.id \
                         WHERE l.parent_id IS NOT NULL AND up.depth < 64) \
                         SELECT EXISTS (SELECT 1 FROM up WHERE id = ?2)",
                        params![p, l.id],
                        |r| r.get(0),
                    )
                    .map_err(db_err)?;
                if cycle {
                    return Err(StoreError::InvalidInput(format!(
                        "location {} under {p} would make a cycle",
                        l.id
                    )));
                }
            }
            conn.execute(
                "INSERT OR REPLACE INTO location (id, name, parent_id, latitude, longitude, attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![l.id, l.name, l.parent_id, l.latitude, l.longitude, attrs_text(&l.attributes)],
            )
            .map_err(db_err)?;
        }
        MasterWrite::Product(p) => {
            conn.execute(
                "INSERT OR REPLACE INTO product (gtin, name, owner, warranty, temp_min, temp_max, attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![p.gtin, p.name, p.owner, p.warranty, p.storage_temp_min_c, p.storage_temp_max_c, attrs_text(&p.attributes)],
            )
            .map_err(db_err)?;
        }
        MasterWrite::Party(p) => {
            conn.execute(
                "INSERT OR REPLACE INTO party (gln, name, attributes) VALUES (?1, ?2, ?3)",
                params![p.gln, p.name, attrs_text(&p.attributes)],
            )
            .map_err(db_err)?;
        }
    }
    Ok(())
}

const EVENT_COLS: &str =
    "e.seq, e.hash_id, e.event_id, e.event_type, e.event_time, e.record_time, e.document";

fn stored_from_row(r: &Row<'_>) -> rusqlite::Result<(StoredEvent, i64, String)> {
    Ok((
        StoredEvent {
            seq: r.get(0)?,
            hash_id: r.get(1)?,
            event_id: r.get(2)?,
            event_type: EventType::ObjectEvent,
            event_time: r.get(4)?,
            record_time: r.get(5)?,
            document: serde_json::Value::Null,
        },
        r.get(3)?,
        r.get(6)?,
    ))
}

fn finish_stored(raw: (StoredEvent, i64, String)) -> StoreResult<StoredEvent> {
    let (mut e, code, doc) = raw;
    e.event_type = EventType::from_code(code)
        .ok_or_else(|| StoreError::Corrupt(format!("event type code {code}")))?;
    e.document = serde_json::from_str(&doc)
        .map_err(|err| StoreError::Corrupt(format!("event {}: {err}", e.seq)))?;
    Ok(e)
}

fn collect_events(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<StoredEvent>> {
    let rows = stmt.query_map(params, stored_from_row).map_err(db_err)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(finish_stored(r.map_err(db_err)?)?);
    }
    Ok(out)
}

fn run_query(conn: &Connection, q: &EventQuery, now: i64) -> StoreResult<QueryPage> {
    let w = query::build_where(q)?;
    let cursor = match &q.next_page_token {
        Some(t) => Some(PageCursor::decode(t, q, now)?),
        None => None,
    };
    let snapshot = match cursor {
        Some(c) => c.snapshot_seq,
        None => conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM event", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(db_err)?,
    };
    let mut conds = w.conds.clone();
    let mut params = w.params.clone();
    conds.push("e.seq <= ?".into());
    params.push(Value::Integer(snapshot));
    if cursor.is_none() {
        if let Some(max) = q.max_event_count {
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM event e WHERE {} LIMIT {})",
                conds.join(" AND "),
                max.saturating_add(1).min(i64::MAX as u64)
            );
            let n: i64 = conn
                .query_row(&sql, rusqlite::params_from_iter(params.iter()), |r| {
                    r.get(0)
                })
                .map_err(db_err)?;
            if n as u64 > max {
                return Err(StoreError::QueryTooLarge { limit: max });
            }
        }
    }
    let key = match q.order_by {
        OrderBy::RecordTime => "e.record_time",
        OrderBy::EventTime => "e.event_time",
    };
    let (dir, cmp) = match q.order_direction {
        OrderDirection::Asc => ("ASC", ">"),
        OrderDirection::Desc => ("DESC", "<"),
    };
    if let Some(c) = cursor {
        conds.push(format!("({key}, e.seq) {cmp} (?, ?)"));
        params.push(Value::Integer(c.last_key));
        params.push(Value::Integer(c.last_seq));
    }
    let returned = cursor.map(|c| c.returned).unwrap_or(0);
    let mut page = u64::from(q.page_size());
    if let Some(limit) = q.event_count_limit {
        page = page.min(limit.saturating_sub(returned));
    }
    if page == 0 {
        return Ok(QueryPage {
            events: Vec::new(),
            next_page_token: None,
        });
    }
    let sql = format!(
        "SELECT {EVENT_COLS} FROM event e WHERE {} ORDER BY {key} {dir}, e.seq {dir} LIMIT {}",
        conds.join(" AND "),
        page + 1
    );
    let mut stmt = conn.prepare(&sql).map_err(db_err)?;
    let mut events = collect_events(&mut stmt, rusqlite::params_from_iter(params.iter()))?;
    let more = events.len() as u64 > page;
    events.truncate(page as usize);
    let total = returned + events.len() as u64;
    let limit_left = q.event_count_limit.is_none_or(|l| total < l);
    let next_page_token = match events.last() {
        Some(last) if more && limit_left => Some(
            PageCursor {
                fingerprint: q.fingerprint(),
                snapshot_seq: snapshot,
                last_key: match q.order_by {
                    OrderBy::RecordTime => last.record_time,
                    OrderBy::EventTime => last.event_time,
                },
                last_seq: last.seq,
                returned: total,
                expires_at: now.saturating_add(PAGE_TOKEN_TTL_MS),
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(QueryPage {
        events,
        next_page_token,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn capture(
        &self,
        events: Vec<CaptureEvent>,
        mode: CaptureMode,
    ) -> StoreResult<CaptureReport> {
        check_request(&events)?;
        if events.is_empty() {
            return Ok(CaptureReport {
                outcomes: Vec::new(),
            });
        }
        let request = CaptureRequest::new(events, mode);
        let (tx, rx) = oneshot::channel();
        self.inner
            .writer
            .send(WriteMsg::Capture(request, tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn query_events(&self, query: &EventQuery) -> StoreResult<QueryPage> {
        query.validate()?;
        let q = query.clone();
        let now = self.inner.clock.now_millis();
        self.read(move |c| run_query(c, &q, now)).await
    }

    async fn event_by_hash(&self, hash_id: &str) -> StoreResult<Option<StoredEvent>> {
        let h = hash_id.to_string();
        self.read(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM event e WHERE e.hash_id = ?1"
                ))
                .map_err(db_err)?;
            Ok(collect_events(&mut st, [h])?.pop())
        })
        .await
    }

    async fn unit_states(&self, epcs: &[String]) -> StoreResult<Vec<UnitState>> {
        if epcs.len() > MAX_LIST_UNITS as usize {
            return Err(StoreError::InvalidInput(format!(
                "unit_states of {} units: at most {MAX_LIST_UNITS} at once",
                epcs.len()
            )));
        }
        let epcs = epcs.to_vec();
        self.read(move |c| {
            let mut out = Vec::with_capacity(epcs.len());
            for chunk in epcs.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut st = c
                    .prepare_cached(&format!(
                        "SELECT {UNIT_COLS} FROM unit_state WHERE epc IN ({marks})"
                    ))
                    .map_err(db_err)?;
                let rows = st
                    .query_map(rusqlite::params_from_iter(chunk.iter()), unit_from_row)
                    .map_err(db_err)?;
                for r in rows {
                    out.push(finish_unit(r.map_err(db_err)?)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn unit_state(&self, epc: &str) -> StoreResult<Option<UnitState>> {
        let epc = epc.to_string();
        self.read(move |c| {
            let mut st = c
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
        })
        .await
    }

    async fn children(&self, epc: &str) -> StoreResult<Vec<String>> {
        let epc = epc.to_string();
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT epc FROM unit_state WHERE parent = ?1 ORDER BY epc LIMIT ?2",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map(params![epc, MAX_CONTAINMENT_NODES as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn list_units(&self, filter: &UnitFilter) -> StoreResult<Vec<UnitState>> {
        let f = filter.clone();
        self.read(move |c| {
            let mut conds = Vec::new();
            let mut ps: Vec<Value> = Vec::new();
            for (col, v) in [
                ("lot", &f.lot),
                ("biz_location", &f.biz_location),
                ("parent", &f.parent),
                ("disposition", &f.disposition),
            ] {
                if let Some(v) = v {
                    conds.push(format!("{col} = ?"));
                    ps.push(Value::Text(v.clone()));
                }
            }
            if let Some(p) = &f.epc_prefix {
                conds.push("epc >= ?".into());
                ps.push(Value::Text(p.clone()));
                if let Some(up) = Matcher::prefix_upper(p) {
                    conds.push("epc < ?".into());
                    ps.push(Value::Text(up));
                }
            }
            if let Some(a) = &f.after_epc {
                conds.push("epc > ?".into());
                ps.push(Value::Text(a.clone()));
            }
            let wh = if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            };
            let sql = format!(
                "SELECT {UNIT_COLS} FROM unit_state {wh} ORDER BY epc LIMIT {}",
                f.limit()
            );
            let mut st = c.prepare(&sql).map_err(db_err)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(ps.iter()), unit_from_row)
                .map_err(db_err)?;
            // Room for a full page at once (untouched capacity costs no memory): a 100,000-unit
            // recall page is not copied over and over as it grows.
            let mut out = Vec::with_capacity(f.limit() as usize);
            for r in rows {
                out.push(finish_unit(r.map_err(db_err)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn containment_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>> {
        let epc = epc.to_string();
        self.read(move |c| load_containment_history(&mut SqliteTx { conn: c }, &epc))
            .await
    }

    async fn unit_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>> {
        let epc = epc.to_string();
        self.read(move |c| load_history(&mut SqliteTx { conn: c }, &epc))
            .await
    }

    async fn event_heads(&self, epcs: &[String]) -> StoreResult<Vec<(String, EventHead)>> {
        check_head_units(epcs.len())?;
        let epcs = epcs.to_vec();
        self.read(move |c| {
            // One read transaction for all the units: one snapshot, and one lock of the WAL
            // instead of one per statement.
            let tx = c.unchecked_transaction().map_err(db_err)?;
            let mut st = tx
                .prepare_cached(&format!(
                    "SELECT {}, x.role, e.hash_id, e.record_time FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                     WHERE x.epc = ?1 ORDER BY x.event_time DESC, x.event_seq DESC LIMIT ?2",
                    tx::FACT_COLS
                ))
                .map_err(db_err)?;
            let mut out: Vec<(String, EventHead)> = Vec::new();
            for epc in epcs {
                let rows = st
                    .query_map(params![epc, (MAX_HEADS_PER_UNIT * 4) as i64], |r| {
                        Ok((
                            tx::facts_from_row(r)?,
                            r.get::<_, i64>(14)?,
                            r.get::<_, String>(15)?,
                            r.get::<_, i64>(16)?,
                        ))
                    })
                    .map_err(db_err)?;
                let mut mine: Vec<EventHead> = Vec::new();
                for row in rows {
                    let (raw, role, hash_id, record_time) = row.map_err(db_err)?;
                    let role = EpcRole::from_code(role)
                        .ok_or_else(|| StoreError::Corrupt(format!("role code {role}")))?;
                    let full = mine.len() == MAX_HEADS_PER_UNIT;
                    match mine.last_mut() {
                        Some(h) if h.facts.seq == raw.seq() => h.roles = h.roles.with(role),
                        _ if full => break,
                        _ => mine.push(EventHead {
                            facts: tx::finish_facts(raw)?,
                            roles: RoleSet::single(role),
                            hash_id,
                            record_time,
                        }),
                    }
                }
                out.extend(mine.into_iter().rev().map(|h| (epc.clone(), h)));
            }
            drop(st);
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
        .await
    }

    async fn events_naming(
        &self,
        epc: &str,
        after: Option<(i64, i64)>,
        before: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let epc = epc.to_string();
        self.read(move |c| {
            let (a0, a1) = after.unwrap_or((i64::MIN, i64::MIN));
            let (b0, b1) = before.unwrap_or((i64::MAX, i64::MAX));
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM event e WHERE e.seq IN (SELECT DISTINCT x.event_seq FROM event_epc x \
                     WHERE x.epc = ?1 AND (x.event_time, x.event_seq) > (?2, ?3) AND (x.event_time, x.event_seq) < (?4, ?5)) \
                     ORDER BY e.event_time, e.seq LIMIT ?6"
                ))
                .map_err(db_err)?;
            collect_events(&mut st, params![epc, a0, a1, b0, b1, limit.min(i64::MAX as usize) as i64])
        })
        .await
    }

    async fn transformation_links(
        &self,
        epc: &str,
        direction: GenealogyDirection,
    ) -> StoreResult<Vec<String>> {
        let epc = epc.to_string();
        let (from, to) = match direction {
            GenealogyDirection::Inputs => (EpcRole::OutputEpc, EpcRole::InputEpc),
            GenealogyDirection::Outputs => (EpcRole::InputEpc, EpcRole::OutputEpc),
        };
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT DISTINCT y.epc FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                     JOIN event_epc y ON y.event_seq = x.event_seq AND y.event_time = x.event_time \
                     WHERE x.epc = ?1 AND x.role = ?2 AND y.role = ?3 AND e.event_type = ?4 ORDER BY y.epc LIMIT ?5",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map(
                    params![epc, from.code(), to.code(), EventType::TransformationEvent.code(), MAX_CONTAINMENT_NODES as i64],
                    |r| r.get::<_, String>(0),
                )
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn class_stock(
        &self,
        epc_class: Option<&str>,
        location: Option<&str>,
    ) -> StoreResult<Vec<StockRow>> {
        let (cls, loc) = (epc_class.map(str::to_string), location.map(str::to_string));
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT epc_class, location, uom, quantity FROM class_stock \
                     WHERE (?1 IS NULL OR epc_class = ?1) AND (?2 IS NULL OR location = ?2) \
                     ORDER BY epc_class, location, uom LIMIT 100000",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map(params![cls, loc], |r| {
                    Ok(StockRow {
                        epc_class: r.get(0)?,
                        location: r.get(1)?,
                        uom: r.get(2)?,
                        quantity: r.get(3)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn list_event_locations(
        &self,
        role: LocationRole,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let Some((limit, first)) = location_page(after, limit)? else {
            return Ok(Vec::new());
        };
        // A loose index scan: one seek per distinct location (event_bizloc, event_readpoint).
        let col = role.column();
        let sql = format!(
            "WITH RECURSIVE l(v) AS (SELECT (SELECT min({col}) FROM event WHERE {col} {first} ?1) \
             UNION ALL SELECT (SELECT min({col}) FROM event WHERE {col} > l.v) FROM l \
             WHERE l.v IS NOT NULL LIMIT ?2) SELECT v FROM l WHERE v IS NOT NULL"
        );
        let after = after.unwrap_or("").to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = st
                .query_map(params![after, limit as i64], |r| r.get::<_, String>(0))
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn upsert_location(&self, location: &Location) -> StoreResult<()> {
        location.validate()?;
        self.master(MasterWrite::Location(location.clone())).await
    }

    async fn get_location(&self, id: &str) -> StoreResult<Option<Location>> {
        let id = id.to_string();
        self.read(move |c| {
            let raw = c
                .query_row(
                    "SELECT id, name, parent_id, latitude, longitude, attributes FROM location WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            Location {
                                id: r.get(0)?,
                                name: r.get(1)?,
                                parent_id: r.get(2)?,
                                latitude: r.get(3)?,
                                longitude: r.get(4)?,
                                attributes: serde_json::Value::Null,
                            },
                            r.get::<_, Option<String>>(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(db_err)?;
            match raw {
                Some((mut l, a)) => {
                    l.attributes = attrs_parse(a)?;
                    Ok(Some(l))
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn upsert_product(&self, product: &Product) -> StoreResult<()> {
        product.validate()?;
        self.master(MasterWrite::Product(product.clone())).await
    }

    async fn get_product(&self, gtin: &str) -> StoreResult<Option<Product>> {
        let gtin = gtin.to_string();
        self.read(move |c| {
            let raw = c
                .query_row(
                    "SELECT gtin, name, owner, warranty, temp_min, temp_max, attributes FROM product WHERE gtin = ?1",
                    [gtin],
                    |r| {
                        Ok((
                            Product {
                                gtin: r.get(0)?,
                                name: r.get(1)?,
                                owner: r.get(2)?,
                                warranty: r.get(3)?,
                                storage_temp_min_c: r.get(4)?,
                                storage_temp_max_c: r.get(5)?,
                                attributes: serde_json::Value::Null,
                            },
                            r.get::<_, Option<String>>(6)?,
                        ))
                    },
                )
                .optional()
                .map_err(db_err)?;
            match raw {
                Some((mut p, a)) => {
                    p.attributes = attrs_parse(a)?;
                    Ok(Some(p))
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn upsert_party(&self, party: &Party) -> StoreResult<()> {
        party.validate()?;
        self.master(MasterWrite::Party(party.clone())).await
    }

    async fn get_party(&self, gln: &str) -> StoreResult<Option<Party>> {
        let gln = gln.to_string();
        self.read(move |c| {
            let raw = c
                .query_row(
                    "SELECT gln, name, attributes FROM party WHERE gln = ?1",
                    [gln],
                    |r| {
                        Ok((
                            Party {
                                gln: r.get(0)?,
                                name: r.get(1)?,
                                attributes: serde_json::Value::Null,
                            },
                            r.get::<_, Option<String>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(db_err)?;
            match raw {
                Some((mut p, a)) => {
                    p.attributes = attrs_parse(a)?;
                    Ok(Some(p))
                }
                None => Ok(None),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// A statement with a bound `LIMIT` runs again without being compiled again.
    #[test]
    fn statements_are_not_reprepared_per_execution() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_conn(&dir.path().join("t.db"), true).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k TEXT, v INTEGER, PRIMARY KEY (k, v)) WITHOUT ROWID;
             INSERT INTO t VALUES ('a', 1), ('a', 2), ('b', 3);",
        )
        .unwrap();
        let mut st = conn
            .prepare_cached("SELECT v FROM t WHERE k = ?1 AND v > ?2 ORDER BY v DESC LIMIT ?3")
            .unwrap();
        for (k, lim) in [("a", 1), ("b", 5), ("a", 2), ("a", 7)] {
            let n = st
                .query_map(params![k, 0, lim], |r| r.get::<_, i64>(0))
                .unwrap()
                .count();
            assert!(n >= 1);
        }
        assert_eq!(st.get_status(StatementStatus::RePrepare), 0);
    }
}
