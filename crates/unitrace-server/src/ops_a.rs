//! Routes of serial provisioning, verification, alerts and decommissioning (`unitrace-ops`).
//!
//! - `POST /serials`, `GET /serials`, `GET /serials/{allocation}`,
//!   `POST /serials/{allocation}/commission`, `POST /commission`
//! - `GET /verify?id=&lot=&expiry=`, `GET /verifications?id=`
//! - `GET /alerts`, `GET /alerts/{id}`, `POST /alerts/{id}/ack`
//! - `POST /decommission`, `POST /reactivate`
//!
//! Background work: the alert detector (tails new events by recordTime from a watermark record,
//! every [`DETECT_EVERY`]) and the writer of the verification log (a bounded queue per server,
//! stored in batches; see [`unitrace_ops::verify::LogQueue`] for what a crash loses).
//!
//! Who asked (verification log, allocations, acknowledgements): the `X-Requester` header, else the
//! first address of `X-Forwarded-For`, else `anonymous` (the server has no authentication, and
//! its listener does not hand the peer address to handlers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use unitrace_ops::alerts::{self, AlertFilter, Rule};
use unitrace_ops::decommission::{self, DecommissionRequest, ReactivateRequest};
use unitrace_ops::serials::{self, AllocationRequest, CommissionRequest};
use unitrace_ops::verify::{self, LogEntry, LogQueue, VerifyRequest};
use unitrace_ops::OpsError;

use crate::epcis::path_or_400;
use crate::params::pairs;
use crate::problem::{ApiError, ApiResult};
use crate::{add_gs1_headers, lock, now_ms, rfc3339, AppState};

/// How often the detector looks for new events.
pub(crate) const DETECT_EVERY: Duration = Duration::from_millis(500);
/// Under a backlog the detector rests this many times as long as each full pass took (so it
/// uses at most a third of one core).
const DETECTOR_REST: u32 = 2;
const MAX_REQUESTER: usize = 256;

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Invalid(m) => ApiError::validation(m),
            OpsError::NotFound(m) => ApiError::not_found(m),
            OpsError::Conflict(m) => ApiError::conflict(m),
            OpsError::Store(s) => ApiError::from(s),
        }
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/serials", post(post_serials).get(list_serials))
        .route("/serials/{allocation}", get(get_serials))
        .route(
            "/serials/{allocation}/commission",
            post(commission_allocation),
        )
        .route("/commission", post(post_commission))
        .route("/verify", get(get_verify))
        .route("/verifications", get(list_verifications))
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}", get(get_alert))
        .route("/alerts/{id}/ack", post(ack_alert))
        .route("/decommission", post(post_decommission))
        .route("/reactivate", post(post_reactivate))
}

// ---- the verification log queue of each server (keyed by its store) ----

struct LogSlot {
    queue: Arc<LogQueue>,
    writer: tokio::task::JoinHandle<()>,
}

fn slots() -> &'static Mutex<HashMap<usize, LogSlot>> {
    static SLOTS: std::sync::OnceLock<Mutex<HashMap<usize, LogSlot>>> = std::sync::OnceLock::new();
    SLOTS.get_or_init(Default::default)
}

fn store_key(state: &AppState) -> usize {
    Arc::as_ptr(&state.store) as *const () as usize
}

/// The log queue of this server, started on first use.
fn log_queue(state: &AppState) -> Arc<LogQueue> {
    let mut s = lock(slots());
    s.entry(store_key(state))
        .or_insert_with(|| {
            let (queue, rx) = LogQueue::new();
            let writer = tokio::spawn(queue.clone().run_writer(state.store.clone(), rx));
            LogSlot { queue, writer }
        })
        .queue
        .clone()
}

/// Background work of these operations, run beside the server until `stop` turns true.
pub(crate) async fn background(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    log_queue(&state);
    let mut last_prune = 0i64;
    loop {
        if *stop.borrow() {
            break;
        }
        loop {
            if !state.config.detect_alerts {
                break;
            }
            let started = std::time::Instant::now();
            match alerts::detect(state.store.as_ref(), now_ms()).await {
                Ok(pass) => {
                    for a in &pass.raised {
                        tracing::warn!(alert = %a.id, rule = a.rule.as_str(), unit = %a.unit, "{}", a.sentence);
                    }
                    if !pass.more || *stop.borrow() {
                        break;
                    }
                    // A backlog (bulk capture): rest DETECTOR_REST times as long as the pass
                    // took, so that detection takes at most a share of the machine and serving
                    // stays fast; alerts then lag behind the capture until it catches up.
                    tokio::select! {
                        _ = tokio::time::sleep(started.elapsed() * DETECTOR_REST) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alert detection failed; retrying");
                    break;
                }
            }
        }
        let now = now_ms();
        if now - last_prune > 86_400_000 {
            last_prune = now;
            if let Err(e) = verify::prune_log(state.store.as_ref(), now).await {
                tracing::warn!(error = %e, "pruning the verification log failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(DETECT_EVERY) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    // Store what is queued, then end the writer.
    let slot = lock(slots()).remove(&store_key(&state));
    if let Some(slot) = slot {
        slot.queue.close();
        let _ = tokio::time::timeout(Duration::from_secs(30), slot.writer).await;
    }
}

// ---- helpers ----

fn json_with(status: StatusCode, v: &Value) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response();
    add_gs1_headers(r.headers_mut());
    r
}

fn ok(v: &Value) -> Response {
    json_with(StatusCode::OK, v)
}

fn body_json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    let b = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                "the body is too large",
            )
        } else {
            ApiError::validation(format!("could not read the body: {e}"))
        }
    })?;
    serde_json::from_slice(&b).map_err(|e| ApiError::validation(format!("the JSON body: {e}")))
}

/// Who asked: `X-Requester`, else the first `X-Forwarded-For` address, else `anonymous`.
fn requester(h: &HeaderMap) -> String {
    let clean = |v: &str| -> Option<String> {
        let v = v.trim();
        (!v.is_empty() && v.chars().all(|c| !c.is_control()))
            .then(|| v.chars().take(MAX_REQUESTER).collect())
    };
    h.get("x-requester")
        .and_then(|v| v.to_str().ok())
        .and_then(clean)
        .or_else(|| {
            h.get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(clean)
        })
        .unwrap_or_else(|| "anonymous".to_string())
}

fn limit_param(v: &str, max: usize) -> ApiResult<usize> {
    v.parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ApiError::query_param(format!("limit must be 1..={max}, got {v:?}")))
}

fn unknown_param(k: &str, known: &str) -> ApiError {
    ApiError::query_param(format!("unknown query parameter {k:?} ({known})"))
}

// ---- serials ----

async fn post_serials(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: AllocationRequest = body_json(body)?;
    let a = serials::allocate(state.store.as_ref(), &req, &requester(&headers), now_ms()).await?;
    let mut r = json_with(StatusCode::CREATED, &allocation_json(&a, true));
    if let Ok(v) = format!("/serials/{}", a.id).parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

fn allocation_json(a: &serials::Allocation, with_serials: bool) -> Value {
    let mut v = a.summary();
    v["created"] = json!(rfc3339(a.created_ms));
    if with_serials {
        v["serials"] = json!(a.serials);
    }
    v
}

async fn list_serials(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (mut gtin, mut after, mut limit) = (None, None, 100);
    for (k, v) in pairs(raw.as_deref())? {
        match k.as_str() {
            "gtin" => gtin = Some(v),
            "after" => after = Some(v),
            "limit" => limit = limit_param(&v, 1000)?,
            _ => return Err(unknown_param(&k, "gtin, after, limit")),
        }
    }
    let list = serials::list_allocations(
        state.store.as_ref(),
        gtin.as_deref(),
        after.as_deref(),
        limit,
    )
    .await?;
    let next = (list.len() == limit).then(|| list.last().map(|a| a.id.clone()));
    Ok(ok(&json!({
        "allocations": list.iter().map(|a| allocation_json(a, false)).collect::<Vec<_>>(),
        "next": next.flatten(),
    })))
}

async fn get_serials(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let a = serials::get_allocation(state.store.as_ref(), &id).await?;
    Ok(ok(&allocation_json(&a, true)))
}

async fn commission_allocation(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let mut req: CommissionRequest = body_json(body)?;
    if req.allocation.as_deref().is_some_and(|a| a != id) {
        return Err(ApiError::validation(format!(
            "allocation {:?} in the body differs from {id:?} in the path",
            req.allocation.unwrap_or_default()
        )));
    }
    req.allocation = Some(id);
    commission(&state, &req).await
}

async fn post_commission(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: CommissionRequest = body_json(body)?;
    commission(&state, &req).await
}

async fn commission(state: &AppState, req: &CommissionRequest) -> ApiResult<Response> {
    let c = serials::commission(state.store.as_ref(), req, now_ms()).await?;
    Ok(json_with(
        StatusCode::CREATED,
        &json!({"commissioned": c.epcs.len(), "epcs": c.epcs, "event_hash_ids": c.event_hash_ids}),
    ))
}

// ---- verification ----

async fn get_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut req = VerifyRequest::default();
    let mut has_id = false;
    for (k, v) in pairs(raw.as_deref())? {
        match k.as_str() {
            "id" => {
                req.id = v;
                has_id = true;
            }
            "lot" => req.lot = Some(v),
            "expiry" => req.expiry = Some(v),
            _ => return Err(unknown_param(&k, "id, lot, expiry")),
        }
    }
    if !has_id {
        return Err(ApiError::query_param(
            "id is required: the identifier in any form (Digital Link, EPC URI, element string, scan data, hex)",
        ));
    }
    let v = verify::verify(state.store.as_ref(), &req, now_ms()).await?;
    log_queue(&state).push(LogEntry::of(
        &v,
        &requester(&headers),
        req.lot.clone(),
        req.expiry.clone(),
    ));
    Ok(ok(&json!({
        "id": v.id,
        "epc": v.epc,
        "gtin": v.gtin,
        "serial": v.serial,
        "lot": v.lot,
        "expiry": v.expiry,
        "verdict": v.verdict,
        "reasons": v.reasons,
        "checked": rfc3339(v.checked_ms),
    })))
}

async fn list_verifications(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (mut id, mut limit) = (None, 100);
    for (k, v) in pairs(raw.as_deref())? {
        match k.as_str() {
            "id" => id = Some(v),
            "limit" => limit = limit_param(&v, verify::MAX_LIST)?,
            _ => return Err(unknown_param(&k, "id, limit")),
        }
    }
    let id = id.ok_or_else(|| ApiError::query_param("id is required"))?;
    let unit = serials::identify(&id)?;
    let list = verify::list_log(state.store.as_ref(), &unit.epc, now_ms(), limit).await?;
    Ok(ok(&json!({
        "epc": unit.epc,
        "verifications": list.iter().map(|e| {
            let mut v = LogQueue::entry_json(e);
            v["at"] = json!(rfc3339(e.at_ms));
            v
        }).collect::<Vec<_>>(),
    })))
}

// ---- alerts ----

fn alert_out(a: &alerts::Alert) -> Value {
    let mut v = alerts::alert_json(a);
    v["raised"] = json!(rfc3339(a.raised_ms));
    v
}

async fn list_alerts(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut f = AlertFilter::default();
    let (mut after, mut limit) = (None, 100);
    for (k, v) in pairs(raw.as_deref())? {
        match k.as_str() {
            "rule" => {
                f.rule = Some(Rule::parse(&v).ok_or_else(|| {
                    ApiError::query_param(format!(
                        "rule must be one of {}; got {v:?}",
                        Rule::ALL.map(Rule::as_str).join(", ")
                    ))
                })?)
            }
            "status" => {
                if v != "open" && v != "acknowledged" {
                    return Err(ApiError::query_param(format!(
                        "status must be open or acknowledged; got {v:?}"
                    )));
                }
                f.status = Some(v)
            }
            "id" | "unit" => f.unit = Some(serials::identify(&v)?.epc),
            "after" => after = Some(v),
            "limit" => limit = limit_param(&v, alerts::MAX_LIST)?,
            _ => return Err(unknown_param(&k, "rule, status, id, after, limit")),
        }
    }
    let (list, next) =
        alerts::list_alerts(state.store.as_ref(), &f, after.as_deref(), limit).await?;
    Ok(ok(&json!({
        "alerts": list.iter().map(alert_out).collect::<Vec<_>>(),
        "next": next,
    })))
}

async fn get_alert(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let a = alerts::get_alert(state.store.as_ref(), &id).await?;
    Ok(ok(&alert_out(&a)))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AckBody {
    #[serde(default)]
    note: Option<String>,
}

async fn ack_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let b: AckBody = match &body {
        Ok(b) if b.is_empty() => AckBody::default(),
        _ => body_json(body)?,
    };
    let a = alerts::acknowledge(
        state.store.as_ref(),
        &id,
        &requester(&headers),
        b.note.as_deref(),
        now_ms(),
    )
    .await?;
    Ok(ok(&alert_out(&a)))
}

// ---- decommissioning ----

async fn post_decommission(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: DecommissionRequest = body_json(body)?;
    let o = decommission::decommission(state.store.as_ref(), &req, now_ms()).await?;
    Ok(json_with(
        StatusCode::CREATED,
        &json!({"epcs": o.epcs, "event_hash_ids": o.event_hash_ids}),
    ))
}

async fn post_reactivate(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: ReactivateRequest = body_json(body)?;
    let o = decommission::reactivate(state.store.as_ref(), &req, now_ms()).await?;
    Ok(json_with(
        StatusCode::CREATED,
        &json!({"epcs": o.epcs, "event_hash_ids": o.event_hash_ids}),
    ))
}
