//! The plainest bulk path PostgreSQL has, for the store benchmark's ceiling: the rows capture
//! writes for a batch of new events (event, event_epc, unit_state) through COPY in one
//! transaction, into the store's real tables and indexes, with none of the engine's work.

use std::fmt::Write as _;
use std::time::Instant;

use futures_util::SinkExt;
use tokio_postgres::NoTls;
use unitrace_store::{Action, CaptureEvent, CeilingRun, StoreError, StoreResult};

use crate::rows::copy_field as field;
use crate::schema::{self, db_err};

/// One `COPY ... FROM STDIN` (text format) of `data`.
async fn copy(tx: &tokio_postgres::Transaction<'_>, sql: &str, data: String) -> StoreResult<()> {
    let sink = tx.copy_in::<_, bytes::Bytes>(sql).await.map_err(db_err)?;
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::from(data)).await.map_err(db_err)?;
    sink.finish().await.map_err(db_err)?;
    Ok(())
}

/// Write `events` (new, distinct units per commissioning) into the database at `url` (migrated if
/// needed) with COPY in one transaction (committed durably: synchronous_commit as configured).
/// The COPY data is built first; only the transaction (BEGIN to durable COMMIT) is timed.
pub async fn ceiling_write(
    url: &str,
    events: &[CaptureEvent],
    record_time: i64,
) -> StoreResult<CeilingRun> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::InvalidInput(format!("bad PostgreSQL URL: {e}")))?;
    let (mut client, conn) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
    let conn_task = tokio::spawn(async move {
        let _ = conn.await;
    });
    schema::migrate(&mut client, schema::LATEST).await?;
    let row = client
        .query_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM event", &[])
        .await
        .map_err(db_err)?;
    let first: i64 = row.try_get(0).map_err(db_err)?;
    let (mut ev, mut epc, mut unit) = (String::new(), String::new(), String::new());
    let mut n = 0u64;
    for (i, e) in events.iter().enumerate() {
        let seq = first + i as i64;
        let doc = serde_json::to_string(&e.document)
            .map_err(|err| StoreError::InvalidInput(err.to_string()))?;
        let action = e.action.map(|a| Action::code(a).to_string());
        let _ = write!(ev, "{seq}\t");
        field(&mut ev, Some(&e.hash_id));
        ev.push('\t');
        field(&mut ev, e.event_id.as_deref());
        let _ = write!(ev, "\t{}\t{}\t", e.event_type.code(), e.event_time);
        field(&mut ev, Some(&e.event_time_zone_offset));
        let _ = write!(ev, "\t{record_time}\t");
        field(&mut ev, action.as_deref());
        for v in [&e.biz_step, &e.disposition, &e.read_point, &e.biz_location] {
            ev.push('\t');
            field(&mut ev, v.as_deref());
        }
        ev.push('\t');
        ev.push_str(if e.is_empty_delete() { "t" } else { "f" });
        for v in [&e.ilmd_lot, &e.ilmd_expiry] {
            ev.push('\t');
            field(&mut ev, v.as_deref());
        }
        ev.push('\t');
        field(&mut ev, Some(&doc));
        ev.push('\n');
        for (role, u) in &e.epcs {
            n += 1;
            field(&mut epc, Some(u));
            let _ = writeln!(epc, "\t{}\t{seq}\t{}", e.event_time, role.code());
            field(&mut unit, Some(u));
            let _ = write!(unit, "\t{}\t", e.event_time);
            field(&mut unit, e.biz_location.as_deref());
            let _ = write!(unit, "\tt\t{}\t{seq}", e.event_time);
            for v in [
                &e.biz_location,
                &e.read_point,
                &e.disposition,
                &e.ilmd_lot,
                &e.ilmd_expiry,
            ] {
                unit.push('\t');
                field(&mut unit, v.as_deref());
            }
            let _ = writeln!(unit, "\t{}", e.event_time);
        }
    }
    let started = Instant::now();
    let tx = client.transaction().await.map_err(db_err)?;
    copy(
        &tx,
        "COPY event (seq, hash_id, event_id, event_type, event_time, tz_offset, record_time, action, \
         biz_step, disposition, read_point, biz_location, empty_delete, ilmd_lot, ilmd_expiry, document) FROM STDIN",
        ev,
    )
    .await?;
    copy(
        &tx,
        "COPY event_epc (epc, event_time, event_seq, role) FROM STDIN",
        epc,
    )
    .await?;
    copy(
        &tx,
        "COPY unit_state (epc, commissioned_at, commissioned_where, commissioned_by_step, \
         last_event_time, last_event_seq, biz_location, read_point, disposition, lot, expiry, location_time) FROM STDIN",
        unit,
    )
    .await?;
    tx.commit().await.map_err(db_err)?;
    let secs = started.elapsed().as_secs_f64();
    drop(client);
    let _ = conn_task.await;
    Ok(CeilingRun { epc_rows: n, secs })
}
