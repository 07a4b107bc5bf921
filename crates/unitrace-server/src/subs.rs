//! Named queries and webhook subscriptions, kept as records in the store
//! ([`unitrace_store::RecordStore`]) so that every unitrace node on one database serves the same
//! ones and a restart loses nothing.
//!
//! Records: a named query is `epcis.query/<name>` (`{"query": {...}}`); a subscription is
//! `epcis.subscription/<id>` (the [`Subscription`] with its watermark and delivery lease). IDs of
//! subscriptions come from the store counter `epcis.subscription`, so they are unique across
//! nodes.
//!
//! Delivery: every half second each node lists the subscriptions; for each due one it runs the
//! named query from the watermark, without writing anything. When there is something to send, it
//! takes the subscription's delivery lease (owner node and expiry, by a versioned update: of two
//! nodes only one succeeds, the other gets a conflict and leaves it), POSTs one
//! EPCISQueryDocument to `dest`, signed with HMAC-SHA256 of the body when the subscription has a
//! `secret` (header `GS1-Signature: sha256=<hex>`), and then, in one versioned update, releases
//! the lease and, on a 2xx answer only, advances the watermark. The watermark is the (recordTime,
//! store sequence number) of the last event delivered, so nothing is lost and nothing is sent
//! twice. Failures are retried with exponential backoff (1 s doubling to 5 min).
//!
//! Limits and assumptions: a lease lasts [`LEASE_MS`] and a delivery is sent only while at least
//! [`SEND_TIMEOUT`] plus a margin of it remains, so nodes' clocks must agree to within that margin
//! (NTP). A node that dies after the receiver answered 2xx and before the watermark is written
//! makes the next node send those events again: the one case where a receiver sees an event
//! twice (webhooks cannot be exactly-once across that crash; receivers can deduplicate by
//! eventID / hash). Such a node's lease expires after [`LEASE_MS`].
//!
//! The JSON state file of earlier versions (`Config::state_file`) is read once at start, its
//! queries and subscriptions imported as records, and renamed to `<file>.imported`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use unitrace_store::limits::MAX_EVENTS_PER_CAPTURE;
use unitrace_store::{Record, StoreError, StoreResult, StoredEvent};

use crate::params::{pairs_of_json, to_event_query};
use crate::problem::{ApiError, ApiResult};
use crate::{lock, now_ms, rfc3339, AppState};

/// Subscriptions kept at most.
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// Record kind of named queries.
pub const QUERY_KIND: &str = "epcis.query";
/// Record kind of subscriptions.
pub const SUB_KIND: &str = "epcis.subscription";
/// Counter giving subscription IDs.
const SUB_COUNTER: &str = "epcis.subscription";
/// Counter giving node IDs (the owners of delivery leases).
const NODE_COUNTER: &str = "server.node";
/// Events in one delivery.
const DELIVERY_EVENTS: u32 = 500;
const MAX_BACKOFF_MS: i64 = 300_000;
/// How long a delivery lease lasts.
pub const LEASE_MS: i64 = 60_000;
/// Longest wait for a webhook's answer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Lease time that must remain (beyond [`SEND_TIMEOUT`]) when a delivery is sent.
const LEASE_MARGIN_MS: i64 = 20_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub query_name: String,
    pub dest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub report_if_empty: bool,
    pub created_at: i64,
    /// recordTime (ms) of the newest event delivered (or the initial record time).
    pub watermark: i64,
    /// Store sequence number of the newest event delivered, 0 for none: events recorded at
    /// `watermark` with a larger number are still to be delivered.
    #[serde(default)]
    pub watermark_seq: i64,
    /// State files of earlier versions: the hash IDs delivered at the watermark (read, never
    /// written; turned into `watermark_seq` on import).
    #[serde(default, skip_serializing)]
    pub delivered_at_watermark: Vec<String>,
    pub deliveries: u64,
    pub failures: u32,
    pub next_attempt: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// None: a stream subscription (delivered as events arrive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The last second (Unix) a schedule was checked up to.
    #[serde(default)]
    pub schedule_checked: i64,
    /// The node delivering now, until `lease_until` (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    #[serde(default)]
    pub lease_until: i64,
}
/// An EPCIS query schedule: per field, a list of values and `[a-b]` ranges. An omitted field
/// matches every value, except `second`, which is 0 when omitted, and `minute`, which is 0 when
/// omitted while `hour` or a larger field is given (so `{"hour": "2"}` runs once, at 02:00:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// second, minute, hour, dayOfMonth, month, dayOfWeek (1 = Monday): allowed (from, to) ranges.
    pub fields: [Option<Vec<(u32, u32)>>; 6],
    /// The schedule as given.
    pub given: Value,
}

const FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("dayOfMonth", 1, 31),
    ("month", 1, 12),
    ("dayOfWeek", 1, 7),
];

impl Schedule {
    pub fn parse(v: &Value) -> Result<Schedule, String> {
        let obj = v.as_object().ok_or("schedule must be an object")?;
        for k in obj.keys() {
            if !FIELDS.iter().any(|(n, ..)| n == k) {
                return Err(format!("schedule: unknown field {k:?}"));
            }
        }
        let mut fields: [Option<Vec<(u32, u32)>>; 6] = Default::default();
        for (i, (name, lo, hi)) in FIELDS.iter().enumerate() {
            let Some(val) = obj.get(*name) else { continue };
            let text = val
                .as_str()
                .ok_or_else(|| format!("schedule.{name} must be a string"))?;
            let mut ranges = Vec::new();
            for part in text.split(',').map(str::trim).take(64) {
                let num = |t: &str| -> Result<u32, String> {
                    t.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (*lo..=*hi).contains(n))
                        .ok_or_else(|| format!("schedule.{name}: {t:?} is not in {lo}..={hi}"))
                };
                let r = match part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
                    Some(inner) => {
                        let (a, b) = inner
                            .split_once('-')
                            .ok_or_else(|| format!("schedule.{name}: bad range {part:?}"))?;
                        (num(a)?, num(b)?)
                    }
                    None => {
                        let n = num(part)?;
                        (n, n)
                    }
                };
                if r.0 > r.1 {
                    return Err(format!("schedule.{name}: empty range {part:?}"));
                }
                ranges.push(r);
            }
            fields[i] = Some(ranges);
        }
        if fields[0].is_none() {
            fields[0] = Some(vec![(0, 0)]);
        }
        if fields[1].is_none() && fields[2..].iter().any(Option::is_some) {
            fields[1] = Some(vec![(0, 0)]);
        }
        Ok(Schedule {
            fields,
            given: v.clone(),
        })
    }

    /// Whether the schedule fires at this Unix second (UTC).
    pub fn matches(&self, unix_s: i64) -> bool {
        let days = unix_s.div_euclid(86_400);
        let sod = unix_s.rem_euclid(86_400) as u32;
        let (_, month, day) = civil(days);
        let dow = ((days + 3).rem_euclid(7) + 1) as u32; // 1970-01-01 was a Thursday (4)
        let vals = [sod % 60, sod / 60 % 60, sod / 3600, day, month, dow];
        self.fields.iter().zip(vals).all(|(f, v)| match f {
            None => true,
            Some(rs) => rs.iter().any(|(a, b)| (*a..=*b).contains(&v)),
        })
    }
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl Subscription {
    pub fn public_json(&self) -> Value {
        json!({
            "subscriptionID": self.id,
            "queryName": self.query_name,
            "dest": self.dest,
            "stream": self.schedule.is_none(),
            "schedule": self.schedule.as_ref().map(|s| s.given.clone()),
            "reportIfEmpty": self.report_if_empty,
            "createdAt": rfc3339(self.created_at),
            "watermark": rfc3339(self.watermark),
            "deliveries": self.deliveries,
            "failures": self.failures,
            "lastError": self.last_error,
            "signed": self.secret.is_some(),
        })
    }

    fn from_record(r: &Record) -> StoreResult<Subscription> {
        serde_json::from_value(r.body.clone())
            .map_err(|e| StoreError::Corrupt(format!("subscription record {}: {e}", r.key)))
    }

    fn body(&self) -> StoreResult<Value> {
        serde_json::to_value(self)
            .map_err(|e| StoreError::InvalidInput(format!("subscription {}: {e}", self.id)))
    }
}

// ---------------------------------------------------------------------------------------------
// The state file of earlier versions

/// What the state file of earlier versions holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    pub queries: BTreeMap<String, Value>,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub next_subscription: u64,
}

/// Reads a state file of an earlier version, if there is one.
pub fn read_state_file(file: Option<&Path>) -> std::io::Result<Option<Persisted>> {
    let Some(f) = file.filter(|f| f.exists()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(f)?;
    serde_json::from_str(&text).map(Some).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", f.display()),
        )
    })
}

/// Imports a state file's queries and subscriptions as records (ones that exist already are
/// kept as they are), then renames the file to `<file>.imported` so that it is read only once.
pub async fn import_state_file(
    state: &AppState,
    file: &Path,
    old: Persisted,
) -> std::io::Result<()> {
    let io = |e: StoreError| std::io::Error::other(format!("importing {}: {e}", file.display()));
    let store = state.store.as_ref();
    for (name, query) in &old.queries {
        match store
            .create_record(QUERY_KIND, name, &json!({ "query": query }))
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(io(e)),
        }
    }
    let mut highest = old.next_subscription;
    for (id, mut sub) in old.subscriptions {
        // The hash IDs delivered at the watermark become the newest one's sequence number.
        for h in std::mem::take(&mut sub.delivered_at_watermark) {
            if let Some(e) = store.event_by_hash(&h).await.map_err(io)? {
                if e.record_time == sub.watermark {
                    sub.watermark_seq = sub.watermark_seq.max(e.seq);
                }
            }
        }
        sub.lease_owner = None;
        sub.lease_until = 0;
        if let Some(n) = id.strip_prefix("sub").and_then(|n| n.parse::<u64>().ok()) {
            highest = highest.max(n);
        }
        match store
            .create_record(SUB_KIND, &id, &sub.body().map_err(io)?)
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(io(e)),
        }
    }
    // New subscription IDs continue after the imported ones.
    let highest = i64::try_from(highest).unwrap_or(i64::MAX / 2);
    let before = store.bump_counter(SUB_COUNTER, 1).await.map_err(io)?;
    if before + 1 < highest {
        store
            .bump_counter(SUB_COUNTER, highest - before - 1)
            .await
            .map_err(io)?;
    }
    let mut done = file.as_os_str().to_owned();
    done.push(".imported");
    std::fs::rename(file, PathBuf::from(done))?;
    tracing::info!(file = %file.display(), "state file imported into the store");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Named queries and subscriptions in the store

/// A named query's parameters; `NoSuchResourceException` when there is none.
pub async fn named_query(state: &AppState, name: &str) -> ApiResult<Value> {
    let r = state
        .store
        .get_record(QUERY_KIND, name)
        .await?
        .ok_or_else(|| ApiError::no_such_name(format!("no query named {name:?}")))?;
    Ok(r.body.get("query").cloned().unwrap_or(Value::Null))
}

/// The named queries, by name (at most `max`).
pub async fn named_queries(state: &AppState, max: usize) -> ApiResult<Vec<(String, Value)>> {
    let limit = max.clamp(1, unitrace_store::limits::MAX_RECORD_PAGE);
    Ok(state
        .store
        .list_records(QUERY_KIND, None, limit)
        .await?
        .into_iter()
        .map(|r| {
            let q = r.body.get("query").cloned().unwrap_or(Value::Null);
            (r.key, q)
        })
        .collect())
}

/// Stores a new named query; 409 if the name is taken, 507 beyond `max` queries. (Several nodes
/// creating queries at the same moment may pass the count together: the limit is approximate
/// across nodes, exact on one.)
pub async fn create_query(
    state: &AppState,
    name: &str,
    query: &Value,
    max: usize,
) -> ApiResult<()> {
    if named_queries(state, max + 1).await?.len() >= max {
        return Err(ApiError::new(
            axum::http::StatusCode::INSUFFICIENT_STORAGE,
            "ValidationException",
            format!("at most {max} named queries"),
        ));
    }
    match state
        .store
        .create_record(QUERY_KIND, name, &json!({ "query": query }))
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "ResourceAlreadyExistsException",
            format!("a query named {name:?} exists; DELETE it first"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a named query and its subscriptions; false if there was none.
pub async fn delete_query(state: &AppState, name: &str) -> ApiResult<bool> {
    if !state.store.delete_record(QUERY_KIND, name).await? {
        return Ok(false);
    }
    for (_, s) in all_subscriptions(state).await? {
        if s.query_name == name {
            state.store.delete_record(SUB_KIND, &s.id).await?;
        }
    }
    Ok(true)
}

/// Every subscription with its record version, by ID.
pub async fn all_subscriptions(state: &AppState) -> StoreResult<Vec<(i64, Subscription)>> {
    const PAGE: usize = 1000;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    // Bounded: at most ten pages (the limit is MAX_SUBSCRIPTIONS; nodes racing may pass it).
    for _ in 0..10 {
        let page = state
            .store
            .list_records(SUB_KIND, after.as_deref(), PAGE)
            .await?;
        let full = page.len() == PAGE;
        after = page.last().map(|r| r.key.clone());
        for r in &page {
            match Subscription::from_record(r) {
                Ok(s) => out.push((r.version, s)),
                Err(e) => tracing::error!(error = %e, "subscription record skipped"),
            }
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// One subscription of a query.
pub async fn subscription(state: &AppState, query: &str, id: &str) -> ApiResult<Subscription> {
    let missing = || ApiError::no_such_name(format!("no subscription {id} of query {query}"));
    if id.is_empty() || id.len() > 128 {
        return Err(missing());
    }
    let r = state
        .store
        .get_record(SUB_KIND, id)
        .await?
        .ok_or_else(missing)?;
    let s = Subscription::from_record(&r)?;
    if s.query_name != query {
        return Err(missing());
    }
    Ok(s)
}

/// What a client gives to subscribe.
pub struct NewSubscription {
    pub query_name: String,
    pub dest: String,
    pub secret: Option<String>,
    pub report_if_empty: bool,
    pub watermark: i64,
    pub schedule: Option<Schedule>,
}

/// Stores a new subscription with an ID unique across nodes; 507 beyond [`MAX_SUBSCRIPTIONS`].
pub async fn create_subscription(state: &AppState, n: NewSubscription) -> ApiResult<Subscription> {
    let count = state
        .store
        .list_records(SUB_KIND, None, MAX_SUBSCRIPTIONS)
        .await?
        .len();
    if count >= MAX_SUBSCRIPTIONS {
        return Err(ApiError::new(
            axum::http::StatusCode::INSUFFICIENT_STORAGE,
            "ValidationException",
            format!("at most {MAX_SUBSCRIPTIONS} subscriptions"),
        ));
    }
    let now = now_ms();
    let number = state.store.bump_counter(SUB_COUNTER, 1).await? + 1;
    let sub = Subscription {
        id: format!("sub{number}"),
        query_name: n.query_name,
        dest: n.dest,
        secret: n.secret,
        report_if_empty: n.report_if_empty,
        created_at: now,
        watermark: n.watermark,
        watermark_seq: 0,
        delivered_at_watermark: Vec::new(),
        deliveries: 0,
        failures: 0,
        next_attempt: now,
        last_error: None,
        schedule: n.schedule,
        schedule_checked: now.div_euclid(1000),
        lease_owner: None,
        lease_until: 0,
    };
    state
        .store
        .create_record(SUB_KIND, &sub.id, &sub.body()?)
        .await?;
    Ok(sub)
}

/// Deletes a subscription of a query; false if there was none.
pub async fn delete_subscription(state: &AppState, query: &str, id: &str) -> ApiResult<bool> {
    match subscription(state, query, id).await {
        Ok(_) => Ok(state.store.delete_record(SUB_KIND, id).await?),
        Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => Ok(false),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a delivery stands: the (recordTime, sequence number) of the last event delivered.
pub type Watermark = (i64, i64);

/// Up to [`DELIVERY_EVENTS`] events of a named query after `watermark`, in recordTime order.
/// Events recorded in the watermark's millisecond that were delivered already are passed over
/// by following page tokens (they all come from one capture, so at most a capture's worth).
pub async fn events_since(
    state: &AppState,
    query: &Value,
    watermark: Watermark,
) -> Result<Vec<StoredEvent>, String> {
    let mut pairs = pairs_of_json(query).map_err(|e| e.detail)?;
    pairs.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "GE_recordTime" | "orderBy" | "orderDirection" | "perPage" | "nextPageToken"
        )
    });
    pairs.push(("GE_recordTime".into(), rfc3339(watermark.0)));
    pairs.push(("orderBy".into(), "recordTime".into()));
    pairs.push(("orderDirection".into(), "ASC".into()));
    pairs.push(("perPage".into(), DELIVERY_EVENTS.to_string()));
    let mut q = to_event_query(&pairs, DELIVERY_EVENTS).map_err(|e| e.detail)?;
    let pages = MAX_EVENTS_PER_CAPTURE / DELIVERY_EVENTS as usize + 2;
    for _ in 0..pages {
        let page = state
            .store
            .query_events(&q)
            .await
            .map_err(|e| e.to_string())?;
        let fresh: Vec<StoredEvent> = page
            .events
            .into_iter()
            .filter(|e| (e.record_time, e.seq) > watermark)
            .collect();
        if !fresh.is_empty() || page.next_page_token.is_none() {
            return Ok(fresh);
        }
        q.next_page_token = page.next_page_token;
    }
    Err(format!(
        "more than {} events recorded in one millisecond",
        pages * DELIVERY_EVENTS as usize
    ))
}

/// The watermark after delivering `events` (in recordTime order).
pub fn advanced(watermark: Watermark, events: &[StoredEvent]) -> Watermark {
    events
        .iter()
        .map(|e| (e.record_time, e.seq))
        .fold(watermark, Watermark::max)
}

/// The EPCISQueryDocument of one delivery.
pub fn query_document(query_name: &str, subscription: Option<&str>, list: Vec<Value>) -> Value {
    let mut results = json!({"queryName": query_name, "resultsBody": {"eventList": list}});
    if let Some(s) = subscription {
        results["subscriptionID"] = json!(s);
    }
    json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(now_ms()),
        "epcisBody": {"queryResults": results},
    })
}

/// What this node last saw of a subscription, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lag {
    /// Events waiting (at most one delivery's worth is counted).
    pub pending: usize,
    /// recordTime of the oldest event waiting.
    pub oldest_pending: Option<i64>,
}

/// Delivery status this node keeps in memory (bounded by the number of subscriptions).
#[derive(Default)]
pub struct Status {
    pub lag: std::sync::Mutex<BTreeMap<String, Lag>>,
}

/// A stream subscription is always due; a scheduled one when a second since the last check (at
/// most two minutes back) matches its schedule, or while a failed delivery is being retried.
fn is_due(s: &Subscription, now: i64) -> bool {
    let Some(sched) = &s.schedule else {
        return true;
    };
    if s.failures > 0 {
        return true;
    }
    let now_s = now.div_euclid(1000);
    let from = s.schedule_checked.max(now_s - 120) + 1;
    (from..=now_s).any(|t| sched.matches(t))
}

/// Records a failed attempt (backoff) by a versioned update; a conflict means another node has
/// moved on, which is fine.
async fn record_failure(state: &AppState, version: i64, mut sub: Subscription, error: String) {
    sub.failures = sub.failures.saturating_add(1);
    let backoff = (1000i64 << sub.failures.min(9)).min(MAX_BACKOFF_MS);
    sub.next_attempt = now_ms() + backoff;
    tracing::warn!(subscription = %sub.id, error = %error, "delivery failed; retry in {backoff} ms");
    sub.last_error = Some(error);
    sub.lease_owner = None;
    sub.lease_until = 0;
    if let Ok(body) = sub.body() {
        if let Err(e) = state
            .store
            .update_record(SUB_KIND, &sub.id, version, &body)
            .await
        {
            tracing::debug!(subscription = %sub.id, error = %e, "failure not recorded");
        }
    }
}

/// One round for one subscription: read, and when there is something to send, lease, send and
/// record the outcome.
async fn step(
    state: &AppState,
    client: &reqwest::Client,
    node: &str,
    version: i64,
    sub: Subscription,
) {
    let now = now_ms();
    if sub.next_attempt > now || !is_due(&sub, now) {
        return;
    }
    if sub.lease_owner.is_some() && sub.lease_until > now {
        return; // another node (or an earlier round of this one) is delivering
    }
    let query = match named_query(state, &sub.query_name).await {
        Ok(q) => q,
        Err(e) => {
            if e.status == axum::http::StatusCode::NOT_FOUND {
                // Its query was deleted; delete_query removes it (another node may be at it).
                let _ = state.store.delete_record(SUB_KIND, &sub.id).await;
            }
            return;
        }
    };
    let events = match events_since(state, &query, (sub.watermark, sub.watermark_seq)).await {
        Ok(ev) => ev,
        Err(e) => return record_failure(state, version, sub, e).await,
    };
    lock(&state.subs.lag).insert(
        sub.id.clone(),
        Lag {
            pending: events.len(),
            oldest_pending: events.first().map(|e| e.record_time),
        },
    );
    if events.is_empty() && !(sub.schedule.is_some() && sub.report_if_empty) {
        return;
    }
    // Take the lease: only one node gets it; the events read are still the ones to send since
    // the version (hence the watermark) has not changed.
    let mut leased = sub;
    leased.lease_owner = Some(node.to_string());
    leased.lease_until = now_ms() + LEASE_MS;
    let Ok(body) = leased.body() else { return };
    let version = match state
        .store
        .update_record(SUB_KIND, &leased.id, version, &body)
        .await
    {
        Ok(r) => r.version,
        Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => return,
        Err(e) => {
            tracing::warn!(subscription = %leased.id, error = %e, "cannot take the delivery lease");
            return;
        }
    };
    let watermark = advanced((leased.watermark, leased.watermark_seq), &events);
    let list: Vec<Value> = events.into_iter().map(|e| e.document).collect();
    let doc = query_document(&leased.query_name, Some(&leased.id), list);
    let sent = async {
        let body = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
        let remaining = leased.lease_until - now_ms();
        if remaining < SEND_TIMEOUT.as_millis() as i64 + LEASE_MARGIN_MS {
            return Err("the delivery lease ran short before sending".to_string());
        }
        let mut req = client
            .post(&leased.dest)
            .timeout(SEND_TIMEOUT)
            .header("content-type", "application/ld+json")
            .header("GS1-EPCIS-Version", "2.0.0")
            .header("GS1-Query-Name", leased.query_name.as_str())
            .header("GS1-Subscription-ID", leased.id.as_str());
        if let Some(secret) = &leased.secret {
            req = req.header("GS1-Signature", format!("sha256={}", sign(secret, &body)));
        }
        let resp = req.body(body).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("{} answered {}", leased.dest, resp.status()));
        }
        Ok(())
    }
    .await;
    if let Err(e) = sent {
        return record_failure(state, version, leased, e).await;
    }
    let mut done = leased;
    done.deliveries += 1;
    done.failures = 0;
    done.last_error = None;
    (done.watermark, done.watermark_seq) = watermark;
    done.next_attempt = now_ms();
    if done.schedule.is_some() {
        done.schedule_checked = now_ms().div_euclid(1000);
    }
    done.lease_owner = None;
    done.lease_until = 0;
    lock(&state.subs.lag).insert(done.id.clone(), Lag::default());
    let Ok(body) = done.body() else { return };
    // The receiver has the events: write the watermark, retrying while the store is unavailable
    // (within the lease, so that no other node sends them again meanwhile).
    for attempt in 0..5u32 {
        match state
            .store
            .update_record(SUB_KIND, &done.id, version, &body)
            .await
        {
            Ok(_) | Err(StoreError::NotFound(_)) => return,
            Err(e @ StoreError::Conflict(_)) => {
                tracing::error!(subscription = %done.id, error = %e, "watermark not written: the subscription changed while delivering");
                return;
            }
            Err(e) => {
                tracing::warn!(subscription = %done.id, error = %e, "watermark not written yet; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}

/// This node's name in delivery leases: unique across the nodes of one database.
async fn node_name(state: &AppState) -> String {
    match state.store.bump_counter(NODE_COUNTER, 1).await {
        Ok(n) => format!("node{}", n + 1),
        Err(_) => format!("node-pid{}-{}", std::process::id(), now_ms()),
    }
}

/// The delivery loop; ends when `stop` fires (a delivery under way is finished first).
pub async fn delivery_loop(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    // TLS: rustls with the built-in Mozilla roots and the configured extra ones; no redirects
    // (a webhook answers itself).
    let mut builder = reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    for c in state.webhook_roots.iter() {
        builder = builder.add_root_certificate(c.clone());
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client; subscriptions are not delivered");
            return;
        }
    };
    let node = node_name(&state).await;
    loop {
        if *stop.borrow() {
            return;
        }
        match all_subscriptions(&state).await {
            Ok(subs) => {
                lock(&state.subs.lag).retain(|id, _| subs.iter().any(|(_, s)| &s.id == id));
                for (version, sub) in subs {
                    if *stop.borrow() {
                        return;
                    }
                    step(&state, &client, &node, version, sub).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the subscriptions"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        // 2024-01-01T02:00:00Z was a Monday.
        let t = 1_704_074_400;
        let s = Schedule::parse(&json!({"hour": "2"})).unwrap();
        assert!(s.matches(t));
        assert!(!s.matches(t + 1));
        assert!(!s.matches(t + 60));
        let s = Schedule::parse(&json!({"second": "[0-59]", "dayOfWeek": "1"})).unwrap();
        assert!(s.matches(t + 59));
        assert!(!s.matches(t + 86_400));
        let s = Schedule::parse(&json!({"minute": "0,30"})).unwrap();
        assert!(s.matches(t + 1800) && !s.matches(t + 60));
        assert!(Schedule::parse(&json!({"hour": "24"})).is_err());
        assert!(Schedule::parse(&json!({"hour": "[5-2]"})).is_err());
        assert!(Schedule::parse(&json!({"fortnight": "1"})).is_err());
        assert_eq!(civil(19_723), (2024, 1, 1));
    }
}
