//! The plainest bulk path SQLite has, for the store benchmark's ceiling: the rows capture writes for
//! a batch of new events (event, event_epc, unit_state) through prepared multi-row INSERTs in one
//! transaction, into the store's real tables and indexes, with none of the engine's work
//! (no idempotency checks, no state replay, no group commit).

use std::path::Path;
use std::time::Instant;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use unitrace_store::{Action, CaptureEvent, CeilingRun, StoreError, StoreResult};

use crate::schema::{self, db_err};

/// Rows per multi-row statement.
const CHUNK: usize = 200;

fn exec_multi(conn: &Connection, head: &str, cols: usize, rows: &[Vec<Value>]) -> StoreResult<()> {
    let one = format!("({})", vec!["?"; cols].join(","));
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "{head} VALUES {}",
            vec![one.as_str(); chunk.len()].join(",")
        );
        let mut st = conn.prepare_cached(&sql).map_err(db_err)?;
        st.execute(params_from_iter(chunk.iter().flatten()))
            .map_err(db_err)?;
    }
    Ok(())
}

fn text(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::Text(s.clone()))
}

/// Write `events` (new, distinct units per commissioning) into the store at `path` (created and
/// migrated if needed) in one durable transaction (WAL, synchronous=FULL). The rows are built
/// first; only the transaction (BEGIN to durable COMMIT) is timed, so the figure is the engine's
/// own bulk speed, not ours.
pub fn ceiling_write(
    path: &Path,
    events: &[CaptureEvent],
    record_time: i64,
) -> StoreResult<CeilingRun> {
    let mut conn = Connection::open(path).map_err(db_err)?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
        .map_err(db_err)?;
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=10000;")
        .map_err(db_err)?;
    conn.execute_batch(schema::WRITER_PRAGMAS).map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    schema::migrate(&mut conn, schema::LATEST)?;
    let first: i64 = conn
        .query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM event", [], |r| {
            r.get(0)
        })
        .map_err(db_err)?;
    let mut ev_rows = Vec::with_capacity(events.len());
    let mut epc_rows = Vec::new();
    let mut unit_rows = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let seq = first + i as i64;
        let doc = serde_json::to_string(&ev.document)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        ev_rows.push(vec![
            Value::Integer(seq),
            Value::Text(ev.hash_id.clone()),
            text(&ev.event_id),
            Value::Integer(ev.event_type.code()),
            Value::Integer(ev.event_time),
            Value::Text(ev.event_time_zone_offset.clone()),
            Value::Integer(record_time),
            ev.action
                .map_or(Value::Null, |a| Value::Integer(Action::code(a))),
            text(&ev.biz_step),
            text(&ev.disposition),
            text(&ev.read_point),
            text(&ev.biz_location),
            Value::Integer(ev.is_empty_delete() as i64),
            text(&ev.ilmd_lot),
            text(&ev.ilmd_expiry),
            Value::Text(doc),
        ]);
        for (role, epc) in &ev.epcs {
            epc_rows.push(vec![
                Value::Text(epc.clone()),
                Value::Integer(ev.event_time),
                Value::Integer(seq),
                Value::Integer(role.code()),
            ]);
            unit_rows.push(vec![
                Value::Text(epc.clone()),
                Value::Integer(ev.event_time),
                text(&ev.biz_location),
                Value::Integer(1),
                Value::Integer(ev.event_time),
                Value::Integer(seq),
                text(&ev.biz_location),
                text(&ev.read_point),
                text(&ev.disposition),
                text(&ev.ilmd_lot),
                text(&ev.ilmd_expiry),
                Value::Integer(ev.event_time),
            ]);
        }
    }
    let started = Instant::now();
    let tx = conn.transaction().map_err(db_err)?;
    exec_multi(
        &tx,
        "INSERT INTO event (seq, hash_id, event_id, event_type, event_time, tz_offset, record_time, action, \
         biz_step, disposition, read_point, biz_location, empty_delete, ilmd_lot, ilmd_expiry, document)",
        16,
        &ev_rows,
    )?;
    exec_multi(
        &tx,
        "INSERT INTO event_epc (epc, event_time, event_seq, role)",
        4,
        &epc_rows,
    )?;
    exec_multi(
        &tx,
        "INSERT OR REPLACE INTO unit_state (epc, commissioned_at, commissioned_where, commissioned_by_step, \
         last_event_time, last_event_seq, biz_location, read_point, disposition, lot, expiry, location_time)",
        12,
        &unit_rows,
    )?;
    tx.commit().map_err(db_err)?;
    Ok(CeilingRun {
        epc_rows: epc_rows.len() as u64,
        secs: started.elapsed().as_secs_f64(),
    })
}
