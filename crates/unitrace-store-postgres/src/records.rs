//! [`RecordStore`] on PostgreSQL. Every operation is one statement on a pooled connection, so it
//! is atomic on its own; counters and serial claims stay exclusive across nodes through row locks
//! and the unique key.

use async_trait::async_trait;
use serde_json::Value;
use tokio_postgres::Row;
use unitrace_store::records::check;
use unitrace_store::{Record, RecordItem, RecordStore, StoreError, StoreResult};

use crate::schema::db_err;
use crate::PostgresStore;

const RECORD_COLS: &str = "kind, key, version, created_ms, updated_ms, body";

fn record_from_row(r: &Row) -> StoreResult<Record> {
    let text: String = r.try_get(5).map_err(db_err)?;
    Ok(Record {
        kind: r.try_get(0).map_err(db_err)?,
        key: r.try_get(1).map_err(db_err)?,
        version: r.try_get(2).map_err(db_err)?,
        created_ms: r.try_get(3).map_err(db_err)?,
        updated_ms: r.try_get(4).map_err(db_err)?,
        body: check::parse(&text)?,
    })
}

fn item_from_row(r: &Row) -> StoreResult<RecordItem> {
    let text: String = r.try_get(1).map_err(db_err)?;
    Ok(RecordItem {
        item: r.try_get(0).map_err(db_err)?,
        body: check::parse(&text)?,
    })
}

/// The SQLSTATE of a unique violation.
fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|d| d.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

impl PostgresStore {
    async fn query_records(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let c = self.reader().await?;
        c.query(sql, params).await.map_err(db_err)
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_millis()
    }
}

#[async_trait]
impl RecordStore for PostgresStore {
    async fn create_record(&self, kind: &str, key: &str, body: &Value) -> StoreResult<Record> {
        check::kind_key(kind, key)?;
        let text = check::body(body)?;
        let rows = self
            .query_records(
                &format!(
                    "INSERT INTO record (kind, key, version, created_ms, updated_ms, body)
                     VALUES ($1, $2, 1, $3, $3, $4) ON CONFLICT DO NOTHING RETURNING {RECORD_COLS}"
                ),
                &[&kind, &key, &self.now(), &text],
            )
            .await?;
        match rows.first() {
            Some(r) => record_from_row(r),
            None => Err(StoreError::Conflict(format!(
                "{kind} {key:?} exists already"
            ))),
        }
    }

    async fn update_record(
        &self,
        kind: &str,
        key: &str,
        version: i64,
        body: &Value,
    ) -> StoreResult<Record> {
        check::kind_key(kind, key)?;
        let text = check::body(body)?;
        let rows = self
            .query_records(
                &format!(
                    "UPDATE record SET version = version + 1, updated_ms = GREATEST(updated_ms, $4), body = $5
                     WHERE kind = $1 AND key = $2 AND version = $3 RETURNING {RECORD_COLS}"
                ),
                &[&kind, &key, &version, &self.now(), &text],
            )
            .await?;
        if let Some(r) = rows.first() {
            return record_from_row(r);
        }
        match self.get_record(kind, key).await? {
            None => Err(StoreError::NotFound(format!("no {kind} {key:?}"))),
            Some(r) => Err(StoreError::Conflict(format!(
                "{kind} {key:?} is at version {}, not {version}: it changed since it was read",
                r.version
            ))),
        }
    }

    async fn get_record(&self, kind: &str, key: &str) -> StoreResult<Option<Record>> {
        check::kind_key(kind, key)?;
        let rows = self
            .query_records(
                &format!("SELECT {RECORD_COLS} FROM record WHERE kind = $1 AND key = $2"),
                &[&kind, &key],
            )
            .await?;
        rows.first().map(record_from_row).transpose()
    }

    async fn list_records(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Record>> {
        check::name("record kind", kind)?;
        let limit = check::page(limit)? as i64;
        let after = after.unwrap_or("");
        let rows = self
            .query_records(
                &format!(
                    "SELECT {RECORD_COLS} FROM record WHERE kind = $1 AND key > $2 ORDER BY key LIMIT $3"
                ),
                &[&kind, &after, &limit],
            )
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn delete_record(&self, kind: &str, key: &str) -> StoreResult<bool> {
        check::kind_key(kind, key)?;
        let rows = self
            .query_records(
                "WITH items AS (DELETE FROM record_item WHERE kind = $1 AND key = $2)
                 DELETE FROM record WHERE kind = $1 AND key = $2 RETURNING 1",
                &[&kind, &key],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn put_record_items(
        &self,
        kind: &str,
        key: &str,
        items: &[RecordItem],
    ) -> StoreResult<()> {
        check::kind_key(kind, key)?;
        let items = check::items(items)?;
        if items.is_empty() {
            return match self.get_record(kind, key).await? {
                Some(_) => Ok(()),
                None => Err(StoreError::NotFound(format!("no {kind} {key:?}"))),
            };
        }
        let (names, bodies): (Vec<String>, Vec<String>) = items.into_iter().unzip();
        // The record is locked (FOR KEY SHARE) so that a concurrent delete cannot leave items
        // behind; no record, no rows inserted.
        let rows = self
            .query_records(
                "WITH r AS (SELECT 1 FROM record WHERE kind = $1 AND key = $2 FOR KEY SHARE)
                 INSERT INTO record_item (kind, key, item, body)
                 SELECT $1, $2, i, b FROM unnest($3::text[], $4::text[]) AS t(i, b)
                 WHERE EXISTS (SELECT 1 FROM r)
                 ON CONFLICT (kind, key, item) DO UPDATE SET body = EXCLUDED.body
                 RETURNING 1",
                &[&kind, &key, &names, &bodies],
            )
            .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(format!("no {kind} {key:?}")));
        }
        Ok(())
    }

    async fn get_record_items(
        &self,
        kind: &str,
        key: &str,
        items: &[String],
    ) -> StoreResult<Vec<RecordItem>> {
        check::kind_key(kind, key)?;
        check::names("record item", items)?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .query_records(
                "SELECT item, body FROM record_item WHERE kind = $1 AND key = $2 AND item = ANY($3)
                 ORDER BY item",
                &[&kind, &key, &items],
            )
            .await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn list_record_items(
        &self,
        kind: &str,
        key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<RecordItem>> {
        check::kind_key(kind, key)?;
        let limit = check::page(limit)? as i64;
        let after = after.unwrap_or("");
        let rows = self
            .query_records(
                "SELECT item, body FROM record_item WHERE kind = $1 AND key = $2 AND item > $3
                 ORDER BY item LIMIT $4",
                &[&kind, &key, &after, &limit],
            )
            .await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn bump_counter(&self, name: &str, n: i64) -> StoreResult<i64> {
        check::counter(name, n)?;
        let rows = self
            .query_records(
                "INSERT INTO counter (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = counter.value + EXCLUDED.value
                 RETURNING value",
                &[&name, &n],
            )
            .await?;
        let after: i64 = rows
            .first()
            .ok_or_else(|| StoreError::Database("counter upsert returned no row".into()))?
            .try_get(0)
            .map_err(db_err)?;
        Ok(after - n)
    }

    async fn claim_serials(
        &self,
        gtin: &str,
        serials: &[String],
        allocation: &str,
    ) -> StoreResult<Vec<String>> {
        check::serials(gtin, serials, allocation)?;
        if serials.is_empty() {
            return Ok(Vec::new());
        }
        // One statement: a unique violation on any serial aborts all of it.
        let c = self.reader().await?;
        let st = c
            .stmt(
                "INSERT INTO serial_claim (gtin, serial, allocation)
                 SELECT $1, s, $3 FROM unnest($2::text[]) AS t(s)",
            )
            .await
            .map_err(db_err)?;
        match tokio_postgres::Client::execute(&c, &st, &[&gtin, &serials, &allocation]).await {
            Ok(_) => Ok(Vec::new()),
            Err(e) if is_unique_violation(&e) => {
                drop(c);
                let taken: Vec<String> = self
                    .serial_claims(gtin, serials)
                    .await?
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                if taken.is_empty() {
                    // Taken and released in between cannot happen (claims are never deleted).
                    return Err(StoreError::Database(
                        "serial claim conflicted but no claim is visible".into(),
                    ));
                }
                Ok(taken)
            }
            Err(e) => Err(db_err(e)),
        }
    }

    async fn serial_claims(
        &self,
        gtin: &str,
        serials: &[String],
    ) -> StoreResult<Vec<(String, String)>> {
        check::name("gtin", gtin)?;
        check::names("serial", serials)?;
        if serials.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .query_records(
                "SELECT serial, allocation FROM serial_claim WHERE gtin = $1 AND serial = ANY($2)
                 ORDER BY serial COLLATE \"C\"",
                &[&gtin, &serials],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
            .collect()
    }
}
