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
}

impl Subscription {
    pub fn public_json(&self) -> Value {
        json!({
            "subscriptionID": self.id,
            "queryName": self.query_name,
            "dest": self.dest,
            "stream": true,
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
        let mut pairs = pairs_of_json(&query).map_err(|e| e.detail)?;
        pairs.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "GE_recordTime" | "orderBy" | "orderDirection" | "perPage" | "nextPageToken"
            )
        });
        pairs.push(("GE_recordTime".into(), rfc3339(sub.watermark)));
        pairs.push(("orderBy".into(), "recordTime".into()));
        pairs.push(("orderDirection".into(), "ASC".into()));
        pairs.push(("perPage".into(), DELIVERY_EVENTS.to_string()));
        let q = to_event_query(&pairs, DELIVERY_EVENTS).map_err(|e| e.detail)?;
        let page = state
            .store
            .query_events(&q)
            .await
            .map_err(|e| e.to_string())?;
        let events: Vec<_> = page
            .events
            .into_iter()
            .filter(|e| {
                !(e.record_time == sub.watermark && sub.delivered_at_watermark.contains(&e.hash_id))
            })
            .collect();
        if events.is_empty() && !sub.report_if_empty {
            return Ok(None);
        }
        let newest = events.iter().map(|e| e.record_time).max();
        let delivered: Vec<(i64, String)> = events
            .iter()
            .map(|e| (e.record_time, e.hash_id.clone()))
            .collect();
        let list: Vec<Value> = events.into_iter().map(|e| e.document).collect();
        let doc = json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISQueryDocument",
            "schemaVersion": "2.0",
            "creationDate": rfc3339(now_ms()),
            "epcisBody": {"queryResults": {
                "queryName": sub.query_name,
                "subscriptionID": sub.id,
                "resultsBody": {"eventList": list}}},
        });
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
        Ok(Some((newest, delivered)))
    }
    .await;
    match result {
        Ok(None) => {}
        Ok(Some((newest, delivered))) => {
            sub.deliveries += 1;
            sub.failures = 0;
            sub.last_error = None;
            if let Some(n) = newest {
                if n > sub.watermark {
                    sub.watermark = n;
                    sub.delivered_at_watermark.clear();
                }
                sub.delivered_at_watermark.extend(
                    delivered
                        .into_iter()
                        .filter(|(t, _)| *t == n)
                        .map(|(_, h)| h),
                );
            }
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
                .filter(|s| s.next_attempt <= now)
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
            let updated = deliver(&state, &client, sub).await;
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
