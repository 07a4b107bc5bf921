//! Durable records: the state of workflows and of the server that is not an EPCIS event.
//!
//! Named queries, subscriptions and their watermarks, capture jobs, serial allocations, receiving
//! sessions, cycle counts, recalls, alerts and verifications are kept here, in the same database as
//! the events, so that every unitrace node on one database sees the same ones.
//!
//! A record is a JSON body under `(kind, key)` with a version for optimistic concurrency. A record
//! may own many items `(kind, key, item)`, each with a JSON body (the expected list of a receiving
//! session, the units of a recall), listed in item order. Counters and serial claims are atomic
//! across processes.

use async_trait::async_trait;
use serde_json::Value;

use crate::limits::{MAX_ID_LEN, MAX_RECORD_BYTES, MAX_RECORD_ITEMS_PER_CALL, MAX_RECORD_PAGE};
use crate::{StoreError, StoreResult};

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: String,
    pub key: String,
    /// 1 when created, +1 on every update.
    pub version: i64,
    /// Store clock, milliseconds since the epoch.
    pub created_ms: i64,
    pub updated_ms: i64,
    pub body: Value,
}

/// One item of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordItem {
    pub item: String,
    pub body: Value,
}

/// Storage of records, items, counters and serial claims. Every backend implements it; it is a
/// supertrait of [`crate::Store`], so `Arc<dyn Store>` has these methods.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Create a record (version 1). `StoreError::Conflict` if `(kind, key)` exists.
    async fn create_record(&self, kind: &str, key: &str, body: &Value) -> StoreResult<Record>;

    /// Replace a record's body if its stored version is `version`; returns the new record.
    /// `StoreError::NotFound` if there is no such record, `StoreError::Conflict` if the version
    /// differs (someone else updated it first: read again and retry).
    async fn update_record(
        &self,
        kind: &str,
        key: &str,
        version: i64,
        body: &Value,
    ) -> StoreResult<Record>;

    async fn get_record(&self, kind: &str, key: &str) -> StoreResult<Option<Record>>;

    /// Records of one kind in key order with key > `after`, at most `limit` (at most
    /// [`MAX_RECORD_PAGE`]).
    async fn list_records(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Record>>;

    /// Delete a record and all its items; false if there was none.
    async fn delete_record(&self, kind: &str, key: &str) -> StoreResult<bool>;

    /// Insert or replace items of an existing record (at most [`MAX_RECORD_ITEMS_PER_CALL`] per
    /// call, all or nothing). `StoreError::NotFound` if the record does not exist.
    async fn put_record_items(
        &self,
        kind: &str,
        key: &str,
        items: &[RecordItem],
    ) -> StoreResult<()>;

    /// The given items of a record that exist, in item order.
    async fn get_record_items(
        &self,
        kind: &str,
        key: &str,
        items: &[String],
    ) -> StoreResult<Vec<RecordItem>>;

    /// Items of a record in item order with item > `after`, at most `limit` (at most
    /// [`MAX_RECORD_PAGE`]).
    async fn list_record_items(
        &self,
        kind: &str,
        key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<RecordItem>>;

    /// Atomically add `n` (at least 1) to the counter `name` (which starts at 0); returns the
    /// value before. Safe across processes sharing the database: no two callers get overlapping
    /// ranges `[before, before + n)`.
    async fn bump_counter(&self, name: &str, n: i64) -> StoreResult<i64>;

    /// Claim serials of one GTIN for an allocation, all or nothing. If any is already claimed (by
    /// any allocation), nothing is claimed and the ones already taken are returned, sorted; an
    /// empty answer means every serial is now claimed. Safe across processes.
    async fn claim_serials(
        &self,
        gtin: &str,
        serials: &[String],
        allocation: &str,
    ) -> StoreResult<Vec<String>>;

    /// For the given serials of a GTIN, the allocation that claimed each (claimed ones only), as
    /// (serial, allocation) sorted by serial.
    async fn serial_claims(
        &self,
        gtin: &str,
        serials: &[String],
    ) -> StoreResult<Vec<(String, String)>>;
}

/// Checks shared by every backend; call before touching the database.
pub mod check {
    use super::*;

    pub fn name(what: &str, s: &str) -> StoreResult<()> {
        if s.is_empty() || s.len() > MAX_ID_LEN {
            return Err(StoreError::InvalidInput(format!(
                "{what} must be 1 to {MAX_ID_LEN} bytes, got {}",
                s.len()
            )));
        }
        Ok(())
    }

    pub fn kind_key(kind: &str, key: &str) -> StoreResult<()> {
        name("record kind", kind)?;
        name("record key", key)
    }

    /// The body as stored text, within [`MAX_RECORD_BYTES`].
    pub fn body(body: &Value) -> StoreResult<String> {
        let text = body.to_string();
        if text.len() > MAX_RECORD_BYTES {
            return Err(StoreError::InvalidInput(format!(
                "record body is {} bytes, more than the limit of {MAX_RECORD_BYTES}",
                text.len()
            )));
        }
        Ok(text)
    }

    pub fn page(limit: usize) -> StoreResult<usize> {
        if limit == 0 || limit > MAX_RECORD_PAGE {
            return Err(StoreError::InvalidInput(format!(
                "page limit must be 1 to {MAX_RECORD_PAGE}, got {limit}"
            )));
        }
        Ok(limit)
    }

    /// Items as (item, body text) pairs; rejects too many, bad names and repeated items.
    pub fn items(items: &[RecordItem]) -> StoreResult<Vec<(String, String)>> {
        if items.len() > MAX_RECORD_ITEMS_PER_CALL {
            return Err(StoreError::InvalidInput(format!(
                "{} items in one call, more than the limit of {MAX_RECORD_ITEMS_PER_CALL}",
                items.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            name("record item", &it.item)?;
            if !seen.insert(it.item.as_str()) {
                return Err(StoreError::InvalidInput(format!(
                    "record item {:?} appears twice in one call",
                    it.item
                )));
            }
            out.push((it.item.clone(), body(&it.body)?));
        }
        Ok(out)
    }

    /// A list of names (items or serials) within the per-call limit.
    pub fn names(what: &str, names: &[String]) -> StoreResult<()> {
        if names.len() > MAX_RECORD_ITEMS_PER_CALL {
            return Err(StoreError::InvalidInput(format!(
                "{} {what}s in one call, more than the limit of {MAX_RECORD_ITEMS_PER_CALL}",
                names.len()
            )));
        }
        for n in names {
            name(what, n)?;
        }
        Ok(())
    }

    /// Serials to claim: valid, distinct, within the limit.
    pub fn serials(gtin: &str, serials: &[String], allocation: &str) -> StoreResult<()> {
        name("gtin", gtin)?;
        name("allocation", allocation)?;
        names("serial", serials)?;
        let mut seen = std::collections::HashSet::with_capacity(serials.len());
        for s in serials {
            if !seen.insert(s.as_str()) {
                return Err(StoreError::InvalidInput(format!(
                    "serial {s:?} appears twice in one claim"
                )));
            }
        }
        Ok(())
    }

    pub fn counter(name_: &str, n: i64) -> StoreResult<()> {
        name("counter name", name_)?;
        if n < 1 {
            return Err(StoreError::InvalidInput(format!(
                "a counter is bumped by at least 1, got {n}"
            )));
        }
        Ok(())
    }

    /// Parse a stored body back.
    pub fn parse(text: &str) -> StoreResult<Value> {
        serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("stored record body is not JSON: {e}")))
    }
}
