//! Asynchronous capture jobs: a bounded in-process queue of prepared documents, and the job
//! records (`capture.job/<id>`) in the store, so that any node of one database, or this one after
//! a restart, answers `GET /capture/{id}` for them.
//!
//! Job IDs come from the store counter `capture.job` (unique across nodes). Finished jobs are
//! kept up to `Config::jobs_kept`: when job `n` is accepted, job `n - jobs_kept` is deleted if it
//! has finished.
//!
//! A job is stored by the node that accepted it (its queue is in that node's memory). Each node
//! holds a lease record (`capture.node/<node>`), renewed every [`LEASE_RENEW`] for [`LEASE`]; a
//! job still `running` whose node's lease has lapsed (the node died, or was killed, before it
//! finished) is settled by whoever reads it: finished, not successful, with an error saying its
//! outcome is unknown. Capture is idempotent (events are recognised by their hash), so capturing
//! the document again is safe and stores exactly what is missing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use unitrace_capture::{CaptureMode, Prepared};
use unitrace_store::{Store, StoreError, StoreResult};

use crate::problem::{ApiError, ApiResult};
use crate::{lock, now_ms};

/// Record kind of capture jobs.
pub const JOB_KIND: &str = "capture.job";
/// Record kind of node leases (key: node id; body: [`Lease`]).
pub const NODE_KIND: &str = "capture.node";
/// How long a node's lease lasts without renewal.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a node renews its lease.
pub const LEASE_RENEW: std::time::Duration = std::time::Duration::from_secs(5);
/// Jobs of earlier versions (no node recorded) still running after this long are settled.
const UNOWNED_AFTER_MS: i64 = 3_600_000;
const JOB_COUNTER: &str = "capture.job";
/// Most bytes of per-event errors kept in one job record (the rest is counted).
const MAX_ERROR_BYTES: usize = 256 * 1024;

/// One asynchronous capture job, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub running: bool,
    pub success: bool,
    /// `rollback` or `proceed`.
    pub mode: String,
    pub events: usize,
    pub stored: usize,
    /// Per-event errors (as many as fit in the record).
    pub errors: Vec<Value>,
    /// Number of failed events, also those not listed in `errors`.
    #[serde(default)]
    pub error_count: usize,
    /// The node that accepted the job (and stores it).
    #[serde(default)]
    pub node: Option<String>,
}

/// A node's lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub node: String,
    pub expires_ms: i64,
}

/// A fresh node id: 64 random bits from the standard library's per-process random hash keys,
/// mixed with the time and process id.
fn new_node_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_ms());
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// The record key of a job: zero-padded, so that key order is ID order.
pub fn key(id: u64) -> String {
    format!("{id:020}")
}

pub(crate) type JobMsg = (u64, Prepared, CaptureMode);

/// The queue of this node and the job records.
pub struct Jobs {
    pub(crate) tx: Mutex<Option<mpsc::Sender<JobMsg>>>,
    pub(crate) rx: Mutex<Option<mpsc::Receiver<JobMsg>>>,
    kept: u64,
    /// Jobs accepted by this node and not finished yet.
    pending: AtomicUsize,
    /// This node's id (see [`Lease`]).
    pub node: String,
}

fn mode_name(m: CaptureMode) -> &'static str {
    match m {
        CaptureMode::Rollback => "rollback",
        CaptureMode::Proceed => "proceed",
    }
}

/// The errors that fit in [`MAX_ERROR_BYTES`], in order.
fn bounded_errors(errors: Vec<Value>) -> Vec<Value> {
    let mut used = 0usize;
    errors
        .into_iter()
        .take_while(|e| {
            used += e.to_string().len() + 1;
            used <= MAX_ERROR_BYTES
        })
        .collect()
}

impl Jobs {
    pub fn new(queue_len: usize, kept: usize) -> Jobs {
        let (tx, rx) = mpsc::channel(queue_len.max(1));
        Jobs {
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(Some(rx)),
            kept: kept.max(1) as u64,
            pending: AtomicUsize::new(0),
            node: new_node_id(),
        }
    }

    /// Write or renew this node's lease until `now + LEASE`.
    pub(crate) async fn renew_lease(&self, store: &dyn Store) -> StoreResult<()> {
        let lease = Lease {
            node: self.node.clone(),
            expires_ms: now_ms() + LEASE.as_millis() as i64,
        };
        let body = serde_json::to_value(&lease)
            .map_err(|e| StoreError::InvalidInput(format!("lease: {e}")))?;
        for _ in 0..5 {
            match store.get_record(NODE_KIND, &self.node).await? {
                None => match store.create_record(NODE_KIND, &self.node, &body).await {
                    Err(StoreError::Conflict(_)) => continue,
                    r => return r.map(|_| ()),
                },
                Some(r) => match store
                    .update_record(NODE_KIND, &self.node, r.version, &body)
                    .await
                {
                    Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => continue,
                    r => return r.map(|_| ()),
                },
            }
        }
        Err(StoreError::Conflict(format!(
            "the lease of node {} kept changing",
            self.node
        )))
    }

    /// Give the lease up (at shutdown, once every accepted job is stored).
    pub(crate) async fn drop_lease(&self, store: &dyn Store) {
        let _ = store.delete_record(NODE_KIND, &self.node).await;
    }

    /// The lease loop of this node: renew every [`LEASE_RENEW`] until `stop` turns true.
    pub(crate) async fn keep_lease(
        &self,
        store: &dyn Store,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.renew_lease(store).await {
                tracing::warn!(error = %e, node = %self.node, "node lease not renewed");
            }
            tokio::select! {
                _ = tokio::time::sleep(LEASE_RENEW) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Jobs accepted by this node and not finished.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Records a job and queues it: 503 when the queue is full or the server is stopping.
    pub(crate) async fn submit(
        &self,
        store: &dyn Store,
        prepared: Prepared,
        mode: CaptureMode,
    ) -> ApiResult<u64> {
        let tx = lock(&self.tx)
            .clone()
            .ok_or_else(|| ApiError::unavailable("the server is shutting down"))?;
        let permit = tx
            .try_reserve_owned()
            .map_err(|_| ApiError::unavailable("the capture queue is full; retry later"))?;
        let id = u64::try_from(store.bump_counter(JOB_COUNTER, 1).await? + 1)
            .map_err(|_| ApiError::internal("the job counter is negative"))?;
        let job = Job {
            id,
            created_at: now_ms(),
            finished_at: None,
            running: true,
            success: true,
            mode: mode_name(mode).into(),
            events: prepared.events.len(),
            stored: 0,
            errors: Vec::new(),
            error_count: 0,
            node: Some(self.node.clone()),
        };
        store
            .create_record(JOB_KIND, &key(id), &body(&job)?)
            .await?;
        self.pending.fetch_add(1, Ordering::Relaxed);
        permit.send((id, prepared, mode));
        if id > self.kept {
            self.prune(store, id - self.kept).await;
        }
        Ok(id)
    }

    /// Deletes job `old` if it has finished.
    async fn prune(&self, store: &dyn Store, old: u64) {
        if let Ok(Some(r)) = store.get_record(JOB_KIND, &key(old)).await {
            if r.body.get("running") == Some(&Value::Bool(false)) {
                let _ = store.delete_record(JOB_KIND, &key(old)).await;
            }
        }
    }

    /// Writes a job's outcome (retried while the store is unavailable).
    pub(crate) async fn finish(
        &self,
        store: &dyn Store,
        id: u64,
        stored: usize,
        errors: Vec<Value>,
        error_count: usize,
    ) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
        for attempt in 0..5u32 {
            match finish_once(store, id, stored, errors.clone(), error_count).await {
                Ok(()) => return,
                Err(e @ (StoreError::Unavailable(_) | StoreError::Conflict(_))) => {
                    tracing::warn!(job = id, error = %e, "job outcome not written yet; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
                Err(e) => {
                    tracing::error!(job = id, error = %e, "job outcome not written");
                    return;
                }
            }
        }
    }
}

fn body(job: &Job) -> StoreResult<Value> {
    serde_json::to_value(job).map_err(|e| StoreError::InvalidInput(format!("job {}: {e}", job.id)))
}

async fn finish_once(
    store: &dyn Store,
    id: u64,
    stored: usize,
    errors: Vec<Value>,
    error_count: usize,
) -> StoreResult<()> {
    let r = store
        .get_record(JOB_KIND, &key(id))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("capture job {id}")))?;
    let mut job = from_record(&r.body)?;
    job.running = false;
    job.finished_at = Some(now_ms());
    job.success = error_count == 0;
    job.stored = stored;
    job.errors = bounded_errors(errors);
    job.error_count = error_count;
    store
        .update_record(JOB_KIND, &key(id), r.version, &body(&job)?)
        .await
        .map(|_| ())
}

fn from_record(v: &Value) -> StoreResult<Job> {
    serde_json::from_value(v.clone())
        .map_err(|e| StoreError::Corrupt(format!("capture job record: {e}")))
}

/// The error of a job settled because its node is gone.
pub const ORPHANED: &str = "the node that accepted this capture job stopped before it finished \
     storing it; which of its events were stored is unknown. Capture the document again: events \
     already stored are recognised by their hash and reported as duplicates, the rest are stored";

/// Whether a running job's node is gone (lease lapsed or given up), as of `now`.
async fn orphaned(store: &dyn Store, job: &Job, me: &str, now: i64) -> StoreResult<bool> {
    if !job.running {
        return Ok(false);
    }
    let Some(node) = &job.node else {
        return Ok(now - job.created_at > UNOWNED_AFTER_MS);
    };
    if node == me {
        return Ok(false);
    }
    Ok(match store.get_record(NODE_KIND, node).await? {
        None => true,
        Some(r) => serde_json::from_value::<Lease>(r.body).map_or(true, |l| l.expires_ms < now),
    })
}

/// A job as read, settled as failed if its node is gone (written back, so that it is pruned).
async fn settle(store: &dyn Store, version: i64, mut job: Job, me: &str) -> StoreResult<Job> {
    let now = now_ms();
    if !orphaned(store, &job, me, now).await? {
        return Ok(job);
    }
    job.running = false;
    job.success = false;
    job.finished_at = Some(now);
    job.error_count = job.events.saturating_sub(job.stored).max(1);
    job.errors =
        vec![serde_json::json!({ "exception": "ImplementationException", "message": ORPHANED })];
    match store
        .update_record(JOB_KIND, &key(job.id), version, &body(&job)?)
        .await
    {
        // Another reader settled it, or its node finished after all: read what is there now.
        Err(StoreError::Conflict(_)) => match store.get_record(JOB_KIND, &key(job.id)).await? {
            Some(r) => from_record(&r.body),
            None => Ok(job),
        },
        r => r.map(|_| job),
    }
}

/// One job; `None` if there is no such job (or it was pruned). `me`: the asking node's id.
pub async fn get(store: &dyn Store, id: u64, me: &str) -> StoreResult<Option<Job>> {
    match store.get_record(JOB_KIND, &key(id)).await? {
        Some(r) => {
            let job = from_record(&r.body)?;
            settle(store, r.version, job, me).await.map(Some)
        }
        None => Ok(None),
    }
}

/// Jobs with ID greater than `after`, in ID order, at most `limit`.
pub async fn list(store: &dyn Store, after: u64, limit: usize, me: &str) -> StoreResult<Vec<Job>> {
    let mut out = Vec::new();
    for r in store
        .list_records(JOB_KIND, Some(&key(after)), limit)
        .await?
    {
        let job = from_record(&r.body)?;
        out.push(settle(store, r.version, job, me).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_as_ids() {
        let mut ids = [10u64, 9, 100, 1, u64::MAX];
        let mut keys: Vec<String> = ids.iter().map(|i| key(*i)).collect();
        keys.sort();
        ids.sort();
        assert_eq!(keys, ids.iter().map(|i| key(*i)).collect::<Vec<_>>());
    }

    #[test]
    fn errors_are_bounded_in_bytes() {
        let e = serde_json::json!({"message": "x".repeat(1000)});
        let kept = bounded_errors(vec![e; 1000]);
        assert!(!kept.is_empty() && kept.len() < 1000);
        let bytes: usize = kept.iter().map(|e| e.to_string().len() + 1).sum();
        assert!(bytes <= MAX_ERROR_BYTES);
    }
}
