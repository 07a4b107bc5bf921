//! Named queries and webhook subscriptions, kept in a state file (when configured) so that they
//! and every subscription's delivery watermark survive a restart.
//!
//! Delivery: every second, each due subscription runs its named query from its watermark
//! (`GE_recordTime`, in recordTime order) and POSTs one EPCISQueryDocument to `dest`, signed with
//! HMAC-SHA256 of the body when the subscription has a `secret` (header
//! `GS1-Signature: sha256=<hex>`). The watermark advances only on a 2xx answer, so nothing is
//! lost; events already delivered at the watermark's millisecond are remembered by hash ID, so
//! nothing is sent twice. Failures are retried with exponential backoff (1 s doubling to 5 min).
//!
//! Limits: one state file per server process. Several nodes sharing one PostgreSQL store would
//! each deliver (the store has no subscription table yet).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::params::{pairs_of_json, to_event_query};
use crate::{lock, now_ms, rfc3339, AppState};

/// Subscriptions kept at most.
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// Events in one delivery.
const DELIVERY_EVENTS: u32 = 500;
const MAX_BACKOFF_MS: i64 = 300_000;

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
    /// Hash IDs of the events already delivered whose recordTime equals the watermark.
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
}

/// What the state file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    pub queries: BTreeMap<String, Value>,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub next_subscription: u64,
}

/// Shared state of named queries and subscriptions.
pub struct Registry {
    pub data: std::sync::Mutex<Persisted>,
    file: Option<PathBuf>,
}

impl Registry {
    pub fn load(file: Option<PathBuf>) -> std::io::Result<Registry> {
        let data = match &file {
            Some(f) if f.exists() => {
                let text = std::fs::read_to_string(f)?;
                serde_json::from_str(&text).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", f.display()),
                    )
                })?
            }
            _ => Persisted::default(),
        };
        Ok(Registry {
            data: std::sync::Mutex::new(data),
            file,
        })
    }

    /// Writes the state file atomically (temporary file, fsync, rename).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(f) = &self.file else {
            return Ok(());
        };
        let text = serde_json::to_vec_pretty(&*lock(&self.data))?;
        let tmp = f.with_extension("tmp");
        {
            use std::io::Write;
            let mut w = std::fs::File::create(&tmp)?;
            w.write_all(&text)?;
            w.sync_all()?;
        }
        std::fs::rename(&tmp, f)
    }
}

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

/// The events of a named query recorded at or after `watermark` (ms), in recordTime order, less
/// those already delivered at the watermark.
pub async fn events_since(
    state: &AppState,
    query: &Value,
    watermark: i64,
    delivered_at_watermark: &[String],
) -> Result<Vec<unitrace_store::StoredEvent>, String> {
    let mut pairs = pairs_of_json(query).map_err(|e| e.detail)?;
    pairs.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "GE_recordTime" | "orderBy" | "orderDirection" | "perPage" | "nextPageToken"
        )
    });
    pairs.push(("GE_recordTime".into(), rfc3339(watermark)));
    pairs.push(("orderBy".into(), "recordTime".into()));
    pairs.push(("orderDirection".into(), "ASC".into()));
    pairs.push(("perPage".into(), DELIVERY_EVENTS.to_string()));
    let q = to_event_query(&pairs, DELIVERY_EVENTS).map_err(|e| e.detail)?;
    let page = state
        .store
        .query_events(&q)
        .await
        .map_err(|e| e.to_string())?;
    Ok(page
        .events
        .into_iter()
        .filter(|e| !(e.record_time == watermark && delivered_at_watermark.contains(&e.hash_id)))
        .collect())
}

/// Moves a watermark past delivered events.
pub fn advance(watermark: &mut i64, at_watermark: &mut Vec<String>, delivered: &[(i64, String)]) {
    let Some(n) = delivered.iter().map(|(t, _)| *t).max() else {
        return;
    };
    if n > *watermark {
        *watermark = n;
        at_watermark.clear();
    }
    at_watermark.extend(
        delivered
            .iter()
            .filter(|(t, _)| *t == n)
            .map(|(_, h)| h.clone()),
    );
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

/// One delivery attempt for one subscription; returns the updated subscription.
async fn deliver(
    state: &AppState,
    client: &reqwest::Client,
    mut sub: Subscription,
) -> Subscription {
    let now = now_ms();
    let query = lock(&state.registry.data)
        .queries
        .get(&sub.query_name)
        .cloned();
    let Some(query) = query else {
        sub.last_error = Some(format!("query {} no longer exists", sub.query_name));
        sub.next_attempt = now + MAX_BACKOFF_MS;
        return sub;
    };
    let result = async {
        let events =
            events_since(state, &query, sub.watermark, &sub.delivered_at_watermark).await?;
        if events.is_empty() && !sub.report_if_empty {
            return Ok(None);
        }
        let delivered: Vec<(i64, String)> = events
            .iter()
            .map(|e| (e.record_time, e.hash_id.clone()))
            .collect();
        let list: Vec<Value> = events.into_iter().map(|e| e.document).collect();
        let doc = query_document(&sub.query_name, Some(&sub.id), list);
        let body = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
        let mut req = client
            .post(&sub.dest)
            .header("content-type", "application/ld+json")
            .header("GS1-EPCIS-Version", "2.0.0")
            .header("GS1-Query-Name", sub.query_name.as_str())
            .header("GS1-Subscription-ID", sub.id.as_str());
        if let Some(secret) = &sub.secret {
            req = req.header("GS1-Signature", format!("sha256={}", sign(secret, &body)));
        }
        let resp = req.body(body).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("{} answered {}", sub.dest, resp.status()));
        }
        Ok(Some(delivered))
    }
    .await;
    match result {
        Ok(None) => {}
        Ok(Some(delivered)) => {
            sub.deliveries += 1;
            sub.failures = 0;
            sub.last_error = None;
            advance(
                &mut sub.watermark,
                &mut sub.delivered_at_watermark,
                &delivered,
            );
            sub.next_attempt = now;
        }
        Err(e) => {
            sub.failures = sub.failures.saturating_add(1);
            let backoff = (1000i64 << sub.failures.min(9)).min(MAX_BACKOFF_MS);
            sub.next_attempt = now + backoff;
            tracing::warn!(subscription = %sub.id, error = %e, "delivery failed; retry in {backoff} ms");
            sub.last_error = Some(e);
        }
    }
    sub
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

/// The delivery loop; ends when `stop` fires.
pub async fn delivery_loop(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client; subscriptions are not delivered");
            return;
        }
    };
    loop {
        let due: Vec<Subscription> = {
            let now = now_ms();
            lock(&state.registry.data)
                .subscriptions
                .values()
                .filter(|s| s.next_attempt <= now && is_due(s, now))
                .cloned()
                .collect()
        };
        for sub in due {
            let id = sub.id.clone();
            let before = (
                sub.watermark,
                sub.delivered_at_watermark.len(),
                sub.deliveries,
            );
            let mut updated = deliver(&state, &client, sub).await;
            if updated.schedule.is_some() && updated.failures == 0 {
                updated.schedule_checked = now_ms().div_euclid(1000);
            }
            let changed = (
                updated.watermark,
                updated.delivered_at_watermark.len(),
                updated.deliveries,
            ) != before;
            {
                let mut d = lock(&state.registry.data);
                // Deleted meanwhile: drop the result.
                if let Some(s) = d.subscriptions.get_mut(&id) {
                    *s = updated;
                }
            }
            if changed {
                if let Err(e) = state.registry.save() {
                    tracing::error!(error = %e, "cannot save the subscription state");
                }
            }
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
