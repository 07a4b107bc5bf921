//! [`RecordStore`] on SQLite: writes go through the writer thread (group commit), reads use the
//! read pool.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::Value;
use unitrace_store::records::check;
use unitrace_store::{Record, RecordItem, RecordStore, StoreError, StoreResult};

use crate::schema::db_err;
use crate::SqliteStore;

const RECORD_COLS: &str = "kind, key, version, created_ms, updated_ms, body";

fn record_from_row(r: &Row<'_>) -> rusqlite::Result<(Record, String)> {
    Ok((
        Record {
            kind: r.get(0)?,
            key: r.get(1)?,
            version: r.get(2)?,
            created_ms: r.get(3)?,
            updated_ms: r.get(4)?,
            body: Value::Null,
        },
        r.get(5)?,
    ))
}

fn finish(raw: (Record, String)) -> StoreResult<Record> {
    let (mut rec, text) = raw;
    rec.body = check::parse(&text)?;
    Ok(rec)
}

fn get(c: &Connection, kind: &str, key: &str) -> StoreResult<Option<Record>> {
    c.prepare_cached(&format!(
        "SELECT {RECORD_COLS} FROM record WHERE kind = ?1 AND key = ?2"
    ))
    .map_err(db_err)?
    .query_row(params![kind, key], record_from_row)
    .optional()
    .map_err(db_err)?
    .map(finish)
    .transpose()
}

fn items_from(
    rows: impl Iterator<Item = rusqlite::Result<(String, String)>>,
) -> StoreResult<Vec<RecordItem>> {
    rows.map(|r| {
        let (item, text) = r.map_err(db_err)?;
        Ok(RecordItem {
            item,
            body: check::parse(&text)?,
        })
    })
    .collect()
}

/// `?3, ?4, ...` for a list bound after two fixed parameters.
fn placeholders(n: usize) -> String {
    (0..n)
        .map(|i| format!("?{}", i + 3))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_params(a: &str, b: &str, rest: &[String]) -> Vec<SqlValue> {
    let mut p = vec![SqlValue::Text(a.into()), SqlValue::Text(b.into())];
    p.extend(rest.iter().map(|s| SqlValue::Text(s.clone())));
    p
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn create_record(&self, kind: &str, key: &str, body: &Value) -> StoreResult<Record> {
        check::kind_key(kind, key)?;
        let text = check::body(body)?;
        let (kind, key) = (kind.to_string(), key.to_string());
        self.exec(move |c, now| {
            let n = c
                .prepare_cached(
                    "INSERT INTO record (kind, key, version, created_ms, updated_ms, body)
                     VALUES (?1, ?2, 1, ?3, ?3, ?4) ON CONFLICT DO NOTHING",
                )
                .map_err(db_err)?
                .execute(params![kind, key, now, text])
                .map_err(db_err)?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "{kind} {key:?} exists already"
                )));
            }
            get(c, &kind, &key)?
                .ok_or_else(|| StoreError::Database("created record vanished".into()))
        })
        .await
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
        let (kind, key) = (kind.to_string(), key.to_string());
        self.exec(move |c, now| {
            let n = c
                .prepare_cached(
                    "UPDATE record SET version = version + 1, updated_ms = max(updated_ms, ?4), body = ?5
                     WHERE kind = ?1 AND key = ?2 AND version = ?3",
                )
                .map_err(db_err)?
                .execute(params![kind, key, version, now, text])
                .map_err(db_err)?;
            if n == 1 {
                return get(c, &kind, &key)?
                    .ok_or_else(|| StoreError::Database("updated record vanished".into()));
            }
            match get(c, &kind, &key)? {
                None => Err(StoreError::NotFound(format!("no {kind} {key:?}"))),
                Some(r) => Err(StoreError::Conflict(format!(
                    "{kind} {key:?} is at version {}, not {version}: it changed since it was read",
                    r.version
                ))),
            }
        })
        .await
    }

    async fn get_record(&self, kind: &str, key: &str) -> StoreResult<Option<Record>> {
        check::kind_key(kind, key)?;
        let (kind, key) = (kind.to_string(), key.to_string());
        self.read(move |c| get(c, &kind, &key)).await
    }

    async fn list_records(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Record>> {
        check::name("record kind", kind)?;
        let limit = check::page(limit)? as i64;
        let (kind, after) = (kind.to_string(), after.unwrap_or("").to_string());
        self.read(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {RECORD_COLS} FROM record WHERE kind = ?1 AND key > ?2 ORDER BY key LIMIT ?3"
                ))
                .map_err(db_err)?;
            let rows = st
                .query_map(params![kind, after, limit], record_from_row)
                .map_err(db_err)?;
            rows.map(|r| finish(r.map_err(db_err)?)).collect()
        })
        .await
    }

    async fn delete_record(&self, kind: &str, key: &str) -> StoreResult<bool> {
        check::kind_key(kind, key)?;
        let (kind, key) = (kind.to_string(), key.to_string());
        self.exec(move |c, _| {
            c.prepare_cached("DELETE FROM record_item WHERE kind = ?1 AND key = ?2")
                .map_err(db_err)?
                .execute(params![kind, key])
                .map_err(db_err)?;
            let n = c
                .prepare_cached("DELETE FROM record WHERE kind = ?1 AND key = ?2")
                .map_err(db_err)?
                .execute(params![kind, key])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn put_record_items(
        &self,
        kind: &str,
        key: &str,
        items: &[RecordItem],
    ) -> StoreResult<()> {
        check::kind_key(kind, key)?;
        let items = check::items(items)?;
        let (kind, key) = (kind.to_string(), key.to_string());
        self.exec(move |c, _| {
            if get(c, &kind, &key)?.is_none() {
                return Err(StoreError::NotFound(format!("no {kind} {key:?}")));
            }
            let mut st = c
                .prepare_cached(
                    "INSERT INTO record_item (kind, key, item, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (kind, key, item) DO UPDATE SET body = excluded.body",
                )
                .map_err(db_err)?;
            for (item, body) in &items {
                st.execute(params![kind, key, item, body]).map_err(db_err)?;
            }
            Ok(())
        })
        .await
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
        let p = list_params(kind, key, items);
        self.read(move |c| {
            let sql = format!(
                "SELECT item, body FROM record_item WHERE kind = ?1 AND key = ?2 AND item IN ({}) ORDER BY item",
                placeholders(p.len() - 2)
            );
            let mut st = c.prepare(&sql).map_err(db_err)?;
            let rows = st
                .query_map(params_from_iter(p), |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_err)?;
            items_from(rows)
        })
        .await
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
        let (kind, key, after) = (
            kind.to_string(),
            key.to_string(),
            after.unwrap_or("").to_string(),
        );
        self.read(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT item, body FROM record_item WHERE kind = ?1 AND key = ?2 AND item > ?3
                     ORDER BY item LIMIT ?4",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map(params![kind, key, after, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db_err)?;
            items_from(rows)
        })
        .await
    }

    async fn bump_counter(&self, name: &str, n: i64) -> StoreResult<i64> {
        check::counter(name, n)?;
        let name = name.to_string();
        self.exec(move |c, _| {
            let after: i64 = c
                .prepare_cached(
                    "INSERT INTO counter (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = value + excluded.value
                     RETURNING value",
                )
                .map_err(db_err)?
                .query_row(params![name, n], |r| r.get(0))
                .map_err(db_err)?;
            Ok(after - n)
        })
        .await
    }

    async fn claim_serials(
        &self,
        gtin: &str,
        serials: &[String],
        allocation: &str,
    ) -> StoreResult<Vec<String>> {
        check::serials(gtin, serials, allocation)?;
        let (gtin, allocation, serials) =
            (gtin.to_string(), allocation.to_string(), serials.to_vec());
        self.exec(move |c, _| {
            // The writer thread is the only writer: what is not taken now cannot be taken before
            // this savepoint commits.
            let taken = claims(c, &gtin, &serials)?;
            if !taken.is_empty() {
                return Ok(taken.into_iter().map(|(s, _)| s).collect());
            }
            let mut st = c
                .prepare_cached(
                    "INSERT INTO serial_claim (gtin, serial, allocation) VALUES (?1, ?2, ?3)",
                )
                .map_err(db_err)?;
            for s in &serials {
                st.execute(params![gtin, s, allocation]).map_err(db_err)?;
            }
            Ok(Vec::new())
        })
        .await
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
        let (gtin, serials) = (gtin.to_string(), serials.to_vec());
        self.read(move |c| claims(c, &gtin, &serials)).await
    }
}

fn claims(c: &Connection, gtin: &str, serials: &[String]) -> StoreResult<Vec<(String, String)>> {
    if serials.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT serial, allocation FROM serial_claim WHERE gtin = ?1 AND ?2 = ?2 AND serial IN ({}) ORDER BY serial",
        placeholders(serials.len())
    );
    let mut st = c.prepare(&sql).map_err(db_err)?;
    let rows = st
        .query_map(params_from_iter(list_params(gtin, "", serials)), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}
