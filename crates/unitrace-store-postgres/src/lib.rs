//! unitrace event store on PostgreSQL, chosen by a `postgres://` URL.
//!
//! Captures go to one writer thread per process, which group-commits concurrent requests in one
//! transaction (each request all-or-nothing through a savepoint) under an advisory lock, so that
//! several unitrace nodes on one database keep recordTime monotonic and sequence numbers in commit
//! order. Each capture transaction sets `synchronous_commit = on`, so a commit is durable before it
//! returns, whatever the server default.
//! Reads run on a small pool of connections.

mod ceiling;
mod query;
mod records;
mod rows;
mod schema;
mod tx;

pub use ceiling::ceiling_write;

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls, Statement};
use unitrace_store::engine::{capture_group, check_history_len, check_request, CaptureRequest};
use unitrace_store::limits::{
    MAX_CONTAINMENT_NODES, MAX_GROUP_EVENTS, MAX_GROUP_REQUESTS, MAX_HEADS_PER_UNIT,
    MAX_LIST_UNITS, PAGE_TOKEN_TTL_MS,
};
use unitrace_store::query::{location_page, Matcher, PageCursor};
use unitrace_store::state::{parents_named, HistoryItem, RoleSet};
use unitrace_store::timeline_of;
use unitrace_store::{
    check_head_units, CaptureEvent, CaptureMode, CaptureReport, Clock, EpcRole, EventHead,
    EventQuery, EventType, GenealogyDirection, Location, LocationRole, OrderBy, OrderDirection,
    Party, Product, QueryPage, StockRow, Store, StoreError, StoreResult, StoredEvent,
    TimelineEntry, TimelineReads, UnitFilter, UnitState,
};

use query::{Param, Where};
use rows::{
    attrs_parse, attrs_text, event_cols, fact_cols, facts_from_row, stored_from_row, unit_cols,
    unit_from_row,
};
use schema::db_err;
use tx::{group_roles, PgTx};

/// Capture requests waiting for the writer; senders wait when it is full.
const WRITE_QUEUE: usize = 1024;
/// Idle read connections kept.
const READ_POOL: usize = 4;
/// Read connections open at once.
const MAX_READERS: usize = 16;
/// Advisory lock serializing capture transactions across nodes.
const WRITE_LOCK: i64 = 0x756e_6974_7772_6974; // "unitwrit"

// Containment queries say `x.role = 3 AND e.event_type = 2` (childEPCs of AggregationEvents).
const _: () = assert!(
    unitrace_store::EpcRole::ChildEpc.code() == 3
        && unitrace_store::EventType::AggregationEvent.code() == 2
);

enum MasterWrite {
    Location(Location),
    Product(Product),
    Party(Party),
}

enum WriteMsg {
    Capture(CaptureRequest, oneshot::Sender<StoreResult<CaptureReport>>),
    Master(MasterWrite, oneshot::Sender<StoreResult<()>>),
}

struct Inner {
    config: tokio_postgres::Config,
    clock: Arc<dyn Clock>,
    writer: mpsc::Sender<WriteMsg>,
    idle: Mutex<Vec<(Client, StmtCache)>>,
    readers: Arc<Semaphore>,
}

/// The PostgreSQL store. Cheap to clone; the writer thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

async fn connect(config: &tokio_postgres::Config) -> StoreResult<Client> {
    let (client, conn) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away; errors surface on the client.
        let _ = conn.await;
    });
    // Writes made on pooled connections (records) are durable when they return, whatever the
    // server's default.
    client
        // JIT compilation is for long analytical queries; it only adds latency to ours.
        .batch_execute("SET synchronous_commit = on; SET jit = off")
        .await
        .map_err(db_err)?;
    Ok(client)
}

/// Prepared statements of one read connection, by SQL text (at most [`STMT_CACHE`]).
type StmtCache = Mutex<HashMap<String, Statement>>;
/// Statements kept per read connection; the cache is emptied when it would grow beyond.
const STMT_CACHE: usize = 128;

/// A read connection, returned to the pool when dropped.
struct Pooled<'a> {
    client: Option<(Client, StmtCache)>,
    inner: &'a Inner,
    _permit: OwnedSemaphorePermit,
}

impl Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Present from creation until drop.
        &self
            .client
            .as_ref()
            .unwrap_or_else(|| unreachable!("pooled client taken before drop"))
            .0
    }
}

impl Pooled<'_> {
    /// The statement for `sql`, prepared once per connection (one round trip saved per query).
    async fn stmt(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        let cache = &self
            .client
            .as_ref()
            .unwrap_or_else(|| unreachable!("pooled client taken before drop"))
            .1;
        if let Some(s) = cache.lock().ok().and_then(|c| c.get(sql).cloned()) {
            return Ok(s);
        }
        let s = Client::prepare(self, sql).await?;
        if let Ok(mut c) = cache.lock() {
            if c.len() >= STMT_CACHE {
                c.clear();
            }
            c.insert(sql.to_string(), s.clone());
        }
        Ok(s)
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let st = self.stmt(sql).await?;
        Client::query(self, &st, params).await
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
        let st = self.stmt(sql).await?;
        Client::query_opt(self, &st, params).await
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.0.is_closed() {
                if let Ok(mut idle) = self.inner.idle.lock() {
                    if idle.len() < READ_POOL {
                        idle.push(c);
                    }
                }
            }
        }
    }
}

impl PostgresStore {
    /// Connect to the database at `url` (`postgres://...`) and run its migrations.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> StoreResult<PostgresStore> {
        Self::connect_at_schema(url, clock, schema::LATEST).await
    }

    /// Connect migrating the schema only up to `version`: for tests of upgrades, which write a
    /// database as an older release did and then connect with [`PostgresStore::connect`].
    #[doc(hidden)]
    pub async fn connect_at_schema(
        url: &str,
        clock: Arc<dyn Clock>,
        version: usize,
    ) -> StoreResult<PostgresStore> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::InvalidInput(format!("bad PostgreSQL URL: {e}")))?;
        let mut client = connect(&config).await?;
        schema::migrate(&mut client, version).await?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (wconfig, wclock) = (config.clone(), clock.clone());
        std::thread::Builder::new()
            .name("unitrace-pg-writer".into())
            .spawn(move || writer_thread(wconfig, rx, wclock, ready_tx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                config,
                clock,
                writer: tx,
                idle: Mutex::new(vec![(client, Mutex::new(HashMap::new()))]),
                readers: Arc::new(Semaphore::new(MAX_READERS)),
            }),
        })
    }

    async fn reader(&self) -> StoreResult<Pooled<'_>> {
        let permit = self
            .inner
            .readers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let idle = self.inner.idle.lock().ok().and_then(|mut v| v.pop());
        let client = match idle {
            Some(c) if !c.0.is_closed() => c,
            _ => (
                connect(&self.inner.config).await?,
                Mutex::new(HashMap::new()),
            ),
        };
        Ok(Pooled {
            client: Some(client),
            inner: &self.inner,
            _permit: permit,
        })
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

fn writer_thread(
    config: tokio_postgres::Config,
    mut rx: mpsc::Receiver<WriteMsg>,
    clock: Arc<dyn Clock>,
    ready: oneshot::Sender<StoreResult<()>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(StoreError::Unavailable(format!(
                "cannot start writer runtime: {e}"
            ))));
            return;
        }
    };
    let mut client = match rt.block_on(connect(&config)) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut stmts: HashMap<&'static str, Statement> = HashMap::new();
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
        if client.is_closed() {
            match rt.block_on(connect(&config)) {
                Ok(c) => {
                    client = c;
                    stmts.clear();
                }
                Err(e) => {
                    fail_batch(batch, &e.to_string());
                    continue;
                }
            }
        }
        write_batch(&rt, &client, &mut stmts, batch, clock.as_ref());
    }
}

fn msg_events(m: &WriteMsg) -> usize {
    match m {
        WriteMsg::Capture(r, _) => r.events.len().max(1),
        WriteMsg::Master(..) => 1,
    }
}

fn fail_batch(batch: Vec<WriteMsg>, msg: &str) {
    for m in batch {
        match m {
            WriteMsg::Capture(_, reply) => {
                let _ = reply.send(Err(StoreError::Unavailable(msg.to_string())));
            }
            WriteMsg::Master(_, reply) => {
                let _ = reply.send(Err(StoreError::Unavailable(msg.to_string())));
            }
        }
    }
}

/// Per-request results of one batch: captures, then master-data writes.
type BatchResults = (Vec<StoreResult<CaptureReport>>, Vec<StoreResult<()>>);

/// One group commit: every request of the batch in one transaction, replies after the commit.
fn write_batch(
    rt: &Runtime,
    client: &Client,
    stmts: &mut HashMap<&'static str, Statement>,
    batch: Vec<WriteMsg>,
    clock: &dyn Clock,
) {
    let mut captures = Vec::new();
    let mut capture_replies = Vec::new();
    let mut masters = Vec::new();
    for m in batch {
        match m {
            WriteMsg::Capture(r, reply) => {
                captures.push(r);
                capture_replies.push(reply);
            }
            WriteMsg::Master(m, reply) => masters.push((m, reply)),
        }
    }
    let events: usize = captures.iter().map(|r| r.events.len()).sum();
    let mut tx = PgTx::new(rt, client, stmts, events);
    let result = (|| -> StoreResult<BatchResults> {
        // Durable before acknowledged, whatever the server's default synchronous_commit is. These
        // go out with the group's first statement.
        tx.defer("BEGIN; SET LOCAL synchronous_commit = on");
        let body = (|| {
            tx.defer(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})"));
            let mut master_results = Vec::with_capacity(masters.len());
            for (m, _) in &masters {
                tx.batch("SAVEPOINT m")?;
                let r = rt.block_on(write_master(client, m));
                if r.is_err() {
                    tx.batch("ROLLBACK TO SAVEPOINT m")?;
                }
                tx.batch("RELEASE SAVEPOINT m")?;
                master_results.push(r);
            }
            let capture_results = if captures.is_empty() {
                Vec::new()
            } else {
                capture_group(&mut tx, clock.now_millis(), &captures)?
            };
            Ok((capture_results, master_results))
        })();
        match body {
            Ok(r) => {
                tx.batch("COMMIT")?;
                Ok(r)
            }
            Err(e) => {
                let _ = tx.abort();
                Err(e)
            }
        }
    })();
    match result {
        Ok((cr, mr)) => {
            for (reply, r) in capture_replies.into_iter().zip(cr) {
                let _ = reply.send(r);
            }
            for ((_, reply), r) in masters.into_iter().zip(mr) {
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            // Nothing of this batch is stored (or, if the connection died during COMMIT, the
            // outcome is unknown: a retry is safe, the store is idempotent by hash ID).
            let _ = tx.abort();
            for reply in capture_replies {
                let _ = reply.send(Err(clone_err(&e)));
            }
            for (_, reply) in masters {
                let _ = reply.send(Err(clone_err(&e)));
            }
        }
    }
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Database(other.to_string()),
    }
}

async fn write_master(client: &Client, m: &MasterWrite) -> StoreResult<()> {
    match m {
        MasterWrite::Location(l) => {
            if let Some(p) = &l.parent_id {
                let cycle: bool = client
                    .query_one(
                        "WITH RECURSIVE up(id, depth) AS (SELECT $1::text, 0 UNION \
                         SELECT l.parent_id, up.depth + 1 FROM location l JOIN up ON l.id = up.id \
                         WHERE l.parent_id IS NOT NULL AND up.depth < 64) \
                         SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)",
                        &[p, &l.id],
                    )
                    .await
                    .map_err(db_err)?
                    .try_get(0)
                    .map_err(db_err)?;
                if cycle {
                    return Err(StoreError::InvalidInput(format!(
                        "location {} under {p} would make a cycle",
                        l.id
                    )));
                }
            }
            client
                .execute(
                    "INSERT INTO location (id, name, parent_id, latitude, longitude, attributes) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id, \
                     latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, attributes = EXCLUDED.attributes",
                    &[&l.id, &l.name, &l.parent_id, &l.latitude, &l.longitude, &attrs_text(&l.attributes)],
                )
                .await
                .map_err(db_err)?;
        }
        MasterWrite::Product(p) => {
            client
                .execute(
                    "INSERT INTO product (gtin, name, owner, warranty, temp_min, temp_max, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (gtin) DO UPDATE SET name = EXCLUDED.name, owner = EXCLUDED.owner, warranty = EXCLUDED.warranty, \
                     temp_min = EXCLUDED.temp_min, temp_max = EXCLUDED.temp_max, attributes = EXCLUDED.attributes",
                    &[&p.gtin, &p.name, &p.owner, &p.warranty, &p.storage_temp_min_c, &p.storage_temp_max_c, &attrs_text(&p.attributes)],
                )
                .await
                .map_err(db_err)?;
        }
        MasterWrite::Party(p) => {
            client
                .execute(
                    "INSERT INTO party (gln, name, attributes) VALUES ($1, $2, $3) \
                     ON CONFLICT (gln) DO UPDATE SET name = EXCLUDED.name, attributes = EXCLUDED.attributes",
                    &[&p.gln, &p.name, &attrs_text(&p.attributes)],
                )
                .await
                .map_err(db_err)?;
        }
    }
    Ok(())
}

fn refs(params: &[Param]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params.iter().map(Param::as_sql).collect()
}

async fn run_query(client: &Client, q: &EventQuery, now: i64) -> StoreResult<QueryPage> {
    let mut w: Where = query::build_where(q)?;
    let cursor = match &q.next_page_token {
        Some(t) => Some(PageCursor::decode(t, q, now)?),
        None => None,
    };
    let snapshot: i64 = match cursor {
        Some(c) => c.snapshot_seq,
        None => client
            .query_one("SELECT COALESCE(MAX(seq), 0)::bigint FROM event", &[])
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?,
    };
    let p = w.bind(Param::Int(snapshot));
    w.conds.push(format!("e.seq <= {p}"));
    if cursor.is_none() {
        if let Some(max) = q.max_event_count {
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM event e WHERE {} LIMIT {}) AS c",
                w.conds.join(" AND "),
                max.saturating_add(1).min(i64::MAX as u64)
            );
            let n: i64 = client
                .query_one(&sql, &refs(&w.params))
                .await
                .map_err(db_err)?
                .try_get(0)
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
        let k = w.bind(Param::Int(c.last_key));
        let s = w.bind(Param::Int(c.last_seq));
        w.conds.push(format!("({key}, e.seq) {cmp} ({k}, {s})"));
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
        "SELECT {} FROM event e WHERE {} ORDER BY {key} {dir}, e.seq {dir} LIMIT {}",
        event_cols!(),
        w.conds.join(" AND "),
        page + 1
    );
    let rows = client.query(&sql, &refs(&w.params)).await.map_err(db_err)?;
    let mut events = rows
        .iter()
        .map(stored_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
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

/// Events naming `epc` within the bounds, on one connection (see [`Store::events_naming`]).
async fn events_naming_on(
    c: &Pooled<'_>,
    epc: &str,
    after: Option<(i64, i64)>,
    before: Option<(i64, i64)>,
    limit: usize,
) -> StoreResult<Vec<StoredEvent>> {
    let (a0, a1) = after.unwrap_or((i64::MIN, i64::MIN));
    let (b0, b1) = before.unwrap_or((i64::MAX, i64::MAX));
    let limit = limit.min(i64::MAX as usize) as i64;
    let rows = c
        .query(
            concat!(
                "SELECT ",
                event_cols!(),
                // The unit's events are found in event_epc's key, in order, and only those
                // rows of `event` are read: an array, not `IN (subquery)`, so that no plan
                // (a generic one of a prepared statement included) hash-joins the whole table.
                " FROM event e WHERE e.seq = ANY(ARRAY(SELECT x.event_seq FROM event_epc x \
                 WHERE x.epc = $1 AND (x.event_time, x.event_seq) > ($2, $3) AND (x.event_time, x.event_seq) < ($4, $5) \
                 ORDER BY x.event_time, x.event_seq LIMIT $6)) \
                 ORDER BY e.event_time, e.seq LIMIT $6"
            ),
            &[&epc, &a0, &a1, &b0, &b1, &limit],
        )
        .await
        .map_err(db_err)?;
    rows.iter().map(stored_from_row).collect()
}

/// AggregationEvents naming `epc` as a child and the emptyings of their parents, in one query
/// (see [`Store::containment_history`]).
async fn containment_history_on(c: &Pooled<'_>, epc: &str) -> StoreResult<Vec<HistoryItem>> {
    // Column 15 tells the parts apart: 0 the unit's aggregations, 1 emptyings of their parents.
    let rows = c
        .query(
            concat!(
                "WITH named AS (SELECT ",
                fact_cols!(),
                ", x.role, 0::bigint AS part FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc = $1 AND x.role = 3 AND e.event_type = 2 \
                 ORDER BY x.event_time, x.event_seq LIMIT 1000001) \
                 SELECT * FROM named UNION ALL (SELECT ",
                fact_cols!(),
                ", x.role, 1::bigint FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 WHERE x.epc IN (SELECT DISTINCT n.parent_id FROM named n WHERE n.parent_id IS NOT NULL) \
                 AND x.role = $2 AND e.empty_delete ORDER BY x.event_time, x.event_seq LIMIT 1000001)" // MAX_UNIT_HISTORY + 1
            ),
            &[&epc, &EpcRole::ParentId.code()],
        )
        .await
        .map_err(db_err)?;
    let mut named_rows = Vec::with_capacity(rows.len());
    let mut emptied = Vec::new();
    for r in rows {
        let part: i64 = r.try_get(15).map_err(db_err)?;
        if part == 0 {
            named_rows.push(r);
        } else {
            emptied.push(r);
        }
    }
    check_history_len(epc, named_rows.len())?;
    check_history_len(epc, emptied.len())?;
    let named = group_roles(&named_rows)?;
    let mut items = Vec::with_capacity(named.len() + emptied.len());
    for r in &emptied {
        items.push(HistoryItem::ParentEmptied(facts_from_row(r)?));
    }
    items.extend(named.into_iter().map(|(f, r)| HistoryItem::Named(f, r)));
    Ok(items)
}

#[async_trait]
impl TimelineReads for Pooled<'_> {
    async fn events_naming(
        &self,
        epc: &str,
        after: Option<(i64, i64)>,
        before: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        events_naming_on(self, epc, after, before, limit).await
    }

    async fn containment_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>> {
        containment_history_on(self, epc).await
    }
}

#[async_trait]
impl Store for PostgresStore {
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
        let now = self.inner.clock.now_millis();
        let c = self.reader().await?;
        run_query(&c, query, now).await
    }

    async fn event_by_hash(&self, hash_id: &str) -> StoreResult<Option<StoredEvent>> {
        let c = self.reader().await?;
        let row = c
            .query_opt(
                concat!(
                    "SELECT ",
                    event_cols!(),
                    " FROM event e WHERE e.hash_id = $1"
                ),
                &[&hash_id],
            )
            .await
            .map_err(db_err)?;
        row.as_ref().map(stored_from_row).transpose()
    }

    async fn unit_states(&self, epcs: &[String]) -> StoreResult<Vec<UnitState>> {
        if epcs.len() > MAX_LIST_UNITS as usize {
            return Err(StoreError::InvalidInput(format!(
                "unit_states of {} units: at most {MAX_LIST_UNITS} at once",
                epcs.len()
            )));
        }
        let c = self.reader().await?;
        let rows = c
            .query(
                concat!(
                    "SELECT ",
                    unit_cols!(),
                    " FROM unit_state WHERE epc = ANY($1)"
                ),
                &[&epcs],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(unit_from_row).collect()
    }

    async fn unit_state(&self, epc: &str) -> StoreResult<Option<UnitState>> {
        let c = self.reader().await?;
        let row = c
            .query_opt(
                concat!("SELECT ", unit_cols!(), " FROM unit_state WHERE epc = $1"),
                &[&epc],
            )
            .await
            .map_err(db_err)?;
        row.as_ref().map(unit_from_row).transpose()
    }

    async fn children(&self, epc: &str) -> StoreResult<Vec<String>> {
        let c = self.reader().await?;
        let rows = c
            .query(
                "SELECT epc FROM unit_state WHERE parent = $1 ORDER BY epc LIMIT $2",
                &[&epc, &(MAX_CONTAINMENT_NODES as i64)],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| r.try_get(0).map_err(db_err)).collect()
    }

    async fn list_units(&self, filter: &UnitFilter) -> StoreResult<Vec<UnitState>> {
        let mut w = Where::default();
        for (col, v) in [
            ("lot", &filter.lot),
            ("biz_location", &filter.biz_location),
            ("parent", &filter.parent),
            ("disposition", &filter.disposition),
        ] {
            if let Some(v) = v {
                let p = w.bind(Param::Text(v.clone()));
                w.conds.push(format!("{col} = {p}"));
            }
        }
        if let Some(pre) = &filter.epc_prefix {
            let p = w.bind(Param::Text(pre.clone()));
            w.conds.push(format!("epc >= {p}"));
            if let Some(up) = Matcher::prefix_upper(pre) {
                let p = w.bind(Param::Text(up));
                w.conds.push(format!("epc < {p}"));
            }
        }
        if let Some(a) = &filter.after_epc {
            let p = w.bind(Param::Text(a.clone()));
            w.conds.push(format!("epc > {p}"));
        }
        let wh = if w.conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", w.conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {} FROM unit_state {wh} ORDER BY epc LIMIT {}",
            unit_cols!(),
            filter.limit()
        );
        let c = self.reader().await?;
        let rows = c.query(&sql, &refs(&w.params)).await.map_err(db_err)?;
        rows.iter().map(unit_from_row).collect()
    }

    async fn containment_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>> {
        containment_history_on(&self.reader().await?, epc).await
    }

    async fn timeline(&self, epc: &str) -> StoreResult<Vec<TimelineEntry>> {
        // Every read on one connection: the reads of a containment level are pipelined.
        timeline_of(&self.reader().await?, epc).await
    }

    async fn unit_history(&self, epc: &str) -> StoreResult<Vec<HistoryItem>> {
        let c = self.reader().await?;
        let rows = c
            .query(
                concat!(
                    "SELECT ",
                    fact_cols!(),
                    ", x.role FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                     WHERE x.epc = $1 ORDER BY x.event_time, x.event_seq LIMIT 1000001" // MAX_UNIT_HISTORY + 1
                ),
                &[&epc],
            )
            .await
            .map_err(db_err)?;
        check_history_len(epc, rows.len())?;
        let named = group_roles(&rows)?;
        let mut items = Vec::with_capacity(named.len());
        for p in parents_named(&named) {
            let rows = c
                .query(
                    concat!(
                        "SELECT ",
                        fact_cols!(),
                        " FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                         WHERE x.epc = $1 AND x.role = $2 AND e.empty_delete ORDER BY x.event_time, x.event_seq LIMIT 1000001" // MAX_UNIT_HISTORY + 1
                    ),
                    &[&p, &EpcRole::ParentId.code()],
                )
                .await
                .map_err(db_err)?;
            check_history_len(&p, rows.len())?;
            for r in &rows {
                items.push(HistoryItem::ParentEmptied(facts_from_row(r)?));
            }
        }
        items.extend(named.into_iter().map(|(f, r)| HistoryItem::Named(f, r)));
        Ok(items)
    }

    async fn event_heads(&self, epcs: &[String]) -> StoreResult<Vec<(String, EventHead)>> {
        check_head_units(epcs.len())?;
        if epcs.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.reader().await?;
        // Newest first per unit (LIMIT counts rows: one per role), reversed below.
        let rows = c
            .query(
                concat!(
                    "SELECT h.*, u.o FROM unnest($1::text[]) WITH ORDINALITY u(epc, o) CROSS JOIN LATERAL (SELECT ",
                    fact_cols!(),
                    ", x.role, e.hash_id, e.record_time FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                     WHERE x.epc = u.epc ORDER BY x.event_time DESC, x.event_seq DESC LIMIT $2) h \
                     ORDER BY u.o, h.event_time DESC, h.seq DESC"
                ),
                &[&epcs, &((MAX_HEADS_PER_UNIT * 4) as i64)],
            )
            .await
            .map_err(db_err)?;
        let mut out: Vec<(String, EventHead)> = Vec::with_capacity(rows.len());
        let mut mine: Vec<EventHead> = Vec::new();
        let mut cur: Option<i64> = None;
        let flush =
            |out: &mut Vec<(String, EventHead)>, mine: &mut Vec<EventHead>, o: Option<i64>| {
                if let Some(o) = o {
                    let epc = &epcs[(o - 1) as usize];
                    out.extend(mine.drain(..).rev().map(|h| (epc.clone(), h)));
                }
            };
        for r in &rows {
            let o: i64 = r.try_get(17).map_err(db_err)?;
            if cur != Some(o) {
                flush(&mut out, &mut mine, cur);
                cur = Some(o);
            }
            let seq: i64 = r.try_get(0).map_err(db_err)?;
            let code: i64 = r.try_get(14).map_err(db_err)?;
            let role = EpcRole::from_code(code)
                .ok_or_else(|| StoreError::Corrupt(format!("role code {code}")))?;
            let full = mine.len() == MAX_HEADS_PER_UNIT;
            match mine.last_mut() {
                Some(h) if h.facts.seq == seq => h.roles = h.roles.with(role),
                _ if full => continue,
                _ => mine.push(EventHead {
                    facts: facts_from_row(r)?,
                    roles: RoleSet::single(role),
                    hash_id: r.try_get(15).map_err(db_err)?,
                    record_time: r.try_get(16).map_err(db_err)?,
                }),
            }
        }
        flush(&mut out, &mut mine, cur);
        Ok(out)
    }

    async fn events_naming(
        &self,
        epc: &str,
        after: Option<(i64, i64)>,
        before: Option<(i64, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        events_naming_on(&self.reader().await?, epc, after, before, limit).await
    }

    async fn transformation_links(
        &self,
        epc: &str,
        direction: GenealogyDirection,
    ) -> StoreResult<Vec<String>> {
        let (from, to) = match direction {
            GenealogyDirection::Inputs => (EpcRole::OutputEpc, EpcRole::InputEpc),
            GenealogyDirection::Outputs => (EpcRole::InputEpc, EpcRole::OutputEpc),
        };
        let c = self.reader().await?;
        let rows = c
            .query(
                "SELECT DISTINCT y.epc FROM event_epc x JOIN event e ON e.seq = x.event_seq \
                 JOIN event_epc y ON y.event_seq = x.event_seq AND y.event_time = x.event_time \
                 WHERE x.epc = $1 AND x.role = $2 AND y.role = $3 AND e.event_type = $4 ORDER BY y.epc LIMIT $5",
                &[
                    &epc,
                    &from.code(),
                    &to.code(),
                    &EventType::TransformationEvent.code(),
                    &(MAX_CONTAINMENT_NODES as i64),
                ],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| r.try_get(0).map_err(db_err)).collect()
    }

    async fn class_stock(
        &self,
        epc_class: Option<&str>,
        location: Option<&str>,
    ) -> StoreResult<Vec<StockRow>> {
        let c = self.reader().await?;
        let rows = c
            .query(
                "SELECT epc_class, location, uom, quantity FROM class_stock \
                 WHERE ($1::text IS NULL OR epc_class = $1) AND ($2::text IS NULL OR location = $2) \
                 ORDER BY epc_class, location, uom LIMIT 100000",
                &[&epc_class, &location],
            )
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(StockRow {
                    epc_class: r.try_get(0).map_err(db_err)?,
                    location: r.try_get(1).map_err(db_err)?,
                    uom: r.try_get(2).map_err(db_err)?,
                    quantity: r.try_get(3).map_err(db_err)?,
                })
            })
            .collect()
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
        // A loose index scan in byte order: one seek per distinct location (event_bizloc_c,
        // event_readpoint_c).
        let col = role.column();
        let sql = format!(
            "WITH RECURSIVE l(v) AS ((SELECT {col} COLLATE \"C\" FROM event \
             WHERE {col} COLLATE \"C\" {first} $1 ORDER BY 1 LIMIT 1) \
             UNION ALL SELECT (SELECT e.{col} COLLATE \"C\" FROM event e \
             WHERE e.{col} COLLATE \"C\" > l.v ORDER BY 1 LIMIT 1) FROM l WHERE l.v IS NOT NULL) \
             SELECT v FROM l WHERE v IS NOT NULL LIMIT $2"
        );
        let c = self.reader().await?;
        let rows = c
            .query(&sql, &[&after.unwrap_or(""), &(limit as i64)])
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| r.try_get(0).map_err(db_err)).collect()
    }

    async fn upsert_location(&self, location: &Location) -> StoreResult<()> {
        location.validate()?;
        self.master(MasterWrite::Location(location.clone())).await
    }

    async fn get_location(&self, id: &str) -> StoreResult<Option<Location>> {
        let c = self.reader().await?;
        let row = c
            .query_opt("SELECT id, name, parent_id, latitude, longitude, attributes FROM location WHERE id = $1", &[&id])
            .await
            .map_err(db_err)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(Location {
                id: r.try_get(0).map_err(db_err)?,
                name: r.try_get(1).map_err(db_err)?,
                parent_id: r.try_get(2).map_err(db_err)?,
                latitude: r.try_get(3).map_err(db_err)?,
                longitude: r.try_get(4).map_err(db_err)?,
                attributes: attrs_parse(r.try_get(5).map_err(db_err)?)?,
            })),
        }
    }

    async fn upsert_product(&self, product: &Product) -> StoreResult<()> {
        product.validate()?;
        self.master(MasterWrite::Product(product.clone())).await
    }

    async fn get_product(&self, gtin: &str) -> StoreResult<Option<Product>> {
        let c = self.reader().await?;
        let row = c
            .query_opt(
                "SELECT gtin, name, owner, warranty, temp_min, temp_max, attributes FROM product WHERE gtin = $1",
                &[&gtin],
            )
            .await
            .map_err(db_err)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(Product {
                gtin: r.try_get(0).map_err(db_err)?,
                name: r.try_get(1).map_err(db_err)?,
                owner: r.try_get(2).map_err(db_err)?,
                warranty: r.try_get(3).map_err(db_err)?,
                storage_temp_min_c: r.try_get(4).map_err(db_err)?,
                storage_temp_max_c: r.try_get(5).map_err(db_err)?,
                attributes: attrs_parse(r.try_get(6).map_err(db_err)?)?,
            })),
        }
    }

    async fn upsert_party(&self, party: &Party) -> StoreResult<()> {
        party.validate()?;
        self.master(MasterWrite::Party(party.clone())).await
    }

    async fn get_party(&self, gln: &str) -> StoreResult<Option<Party>> {
        let c = self.reader().await?;
        let row = c
            .query_opt(
                "SELECT gln, name, attributes FROM party WHERE gln = $1",
                &[&gln],
            )
            .await
            .map_err(db_err)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(Party {
                gln: r.try_get(0).map_err(db_err)?,
                name: r.try_get(1).map_err(db_err)?,
                attributes: attrs_parse(r.try_get(2).map_err(db_err)?)?,
            })),
        }
    }
}
