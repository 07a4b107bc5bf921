//! Routes of receiving, cycle counts and recalls (`unitrace-ops`).
//!
//! - `POST /receiving`, `GET /receiving`, `GET /receiving/{id}`, `POST /receiving/{id}/scans`,
//!   `POST /receiving/{id}/close`
//! - `POST /counts`, `GET /counts` (`?location=` gives that location's accuracy series),
//!   `GET /counts/{id}`, `POST /counts/{id}/scans`, `POST /counts/{id}/close`,
//!   `GET /locations/{id}/accuracy`
//! - `POST /recalls`, `GET /recalls`, `GET /recalls/{id}` (with live progress),
//!   `GET /recalls/{id}/units`, `POST /recalls/{id}/hold`, `GET /recalls/{id}/export?format=csv|epcis`
//!
//! Scans are sent as a text body, one identifier per line in any form, or as JSON
//! `{"scans": [...]}` / `{"scan": "..."}`.

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use unitrace_ops::{counts, recalls, receiving, OpsError};

use crate::epcis::path_or_400;
use crate::params::pairs;
use crate::problem::{ApiError, ApiResult};
use crate::{add_gs1_headers, now_ms, rfc3339, AppState};

/// Default and largest number of entries per list in a reconciliation or count answer.
const DEFAULT_LIST: usize = 1_000;
/// Default page of recall units.
const DEFAULT_UNITS_PAGE: usize = 1_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/receiving", post(open_receiving).get(list_receiving))
        .route("/receiving/{id}", get(get_receiving))
        .route("/receiving/{id}/scans", post(scan_receiving))
        .route("/receiving/{id}/close", post(close_receiving))
        .route("/counts", post(open_count).get(list_counts))
        .route("/counts/{id}", get(get_count))
        .route("/counts/{id}/scans", post(scan_count))
        .route("/counts/{id}/close", post(close_count))
        .route("/locations/{id}/accuracy", get(location_accuracy))
        .route("/recalls", post(create_recall).get(list_recalls))
        .route("/recalls/{id}", get(get_recall))
        .route("/recalls/{id}/units", get(recall_units))
        .route("/recalls/{id}/hold", post(hold_recall))
        .route("/recalls/{id}/export", get(export_recall))
}

/// Background work of these operations, run beside the server until `stop` turns true.
pub(crate) async fn background(_state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn ops(e: OpsError) -> ApiError {
    match e {
        OpsError::Invalid(m) => ApiError::validation(m),
        OpsError::NotFound(m) => ApiError::not_found(m),
        OpsError::Conflict(m) => ApiError::conflict(m),
        OpsError::Store(s) => ApiError::from(s),
    }
}

fn json_answer(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    add_gs1_headers(r.headers_mut());
    r
}

fn ok(v: &Value) -> Response {
    json_answer(StatusCode::OK, v)
}

/// 201 with the new resource's path in `Location`.
fn created(v: &Value, path: String) -> Response {
    let mut r = json_answer(StatusCode::CREATED, v);
    if let Ok(h) = HeaderValue::from_str(&path) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    r
}

/// `after` and `limit` (1 to 1,000, default 100) of a listing.
fn listing(raw: Option<&str>) -> ApiResult<(Option<String>, usize)> {
    let p = query(raw, &["after", "limit"])?;
    let limit = number(&p, "limit", 100, 1_000)?;
    Ok((param(&p, "after").map(str::to_string), limit))
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                "the body is larger than the server's limit (max_body_bytes)",
            )
        } else {
            ApiError::validation(format!("could not read the body: {e}"))
        }
    })
}

fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    let b = body_bytes(body)?;
    serde_json::from_slice(&b).map_err(|e| ApiError::validation(format!("body: {e}")))
}

/// Scans from a text body (one per line) or JSON `{"scans": [...]}` / `{"scan": "..."}`.
fn scans_of(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<Vec<String>> {
    let b = body_bytes(body)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    if json {
        let v: Value =
            serde_json::from_slice(&b).map_err(|e| ApiError::validation(format!("body: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ApiError::validation("body: expected {\"scans\": [...]}"))?;
        if let Some(k) = obj.keys().find(|k| *k != "scans" && *k != "scan") {
            return Err(ApiError::validation(format!(
                "body: unknown member {k:?} (scans, scan)"
            )));
        }
        let mut out = Vec::new();
        if let Some(s) = obj.get("scan") {
            out.push(
                s.as_str()
                    .ok_or_else(|| ApiError::validation("body: scan must be a string"))?
                    .to_string(),
            );
        }
        if let Some(list) = obj.get("scans") {
            let list = list
                .as_array()
                .ok_or_else(|| ApiError::validation("body: scans must be an array of strings"))?;
            for (i, s) in list.iter().enumerate() {
                out.push(
                    s.as_str()
                        .ok_or_else(|| {
                            ApiError::validation(format!("body: scans[{i}] must be a string"))
                        })?
                        .to_string(),
                );
            }
        }
        return Ok(out);
    }
    let text = std::str::from_utf8(&b)
        .map_err(|e| ApiError::validation(format!("the body is not UTF-8 text: {e}")))?;
    Ok(receiving::scan_lines(text))
}

/// Query parameters, refusing any not in `known`.
fn query(raw: Option<&str>, known: &[&str]) -> ApiResult<Vec<(String, String)>> {
    let p = pairs(raw)?;
    if let Some((k, _)) = p.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(ApiError::query_param(format!(
            "unknown query parameter {k:?} ({})",
            known.join(", ")
        )));
    }
    Ok(p)
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn number(p: &[(String, String)], k: &str, default: usize, max: usize) -> ApiResult<usize> {
    match param(p, k) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::query_param(format!("{k} must be 1 to {max}, got {v:?}"))),
    }
}

// ---------------------------------------------------------------- receiving

fn session_json(
    s: &receiving::Session,
    counts: &receiving::Counts,
    r: Option<(&receiving::Reconciliation, usize)>,
) -> Value {
    let mut v = json!({
        "id": s.id,
        "location": s.location,
        "status": s.status,
        "created": rfc3339(s.created_ms),
        "closed": s.closed_ms.map(rfc3339),
        "disposition": s.disposition,
        "source": s.source,
        "expected_count": s.expected_count,
        "counts": counts,
        "event_hash_ids": s.event_hash_ids,
    });
    if let Some((r, limit)) = r {
        v["reconciliation"] = r.to_json(limit);
    }
    v
}

async fn open_receiving(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: receiving::OpenReceiving = json_body(body)?;
    let s = receiving::open(state.store.as_ref(), &req, now_ms())
        .await
        .map_err(ops)?;
    let c = receiving::Counts {
        expected: s.expected_count,
        missing: s.expected_count,
        ..Default::default()
    };
    Ok(created(
        &session_json(&s, &c, None),
        format!("/receiving/{}", s.id),
    ))
}

async fn list_receiving(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (after, limit) = listing(raw.as_deref())?;
    let list = receiving::list(state.store.as_ref(), after.as_deref(), limit)
        .await
        .map_err(ops)?;
    Ok(ok(&json!(list
        .iter()
        .map(
            |s| json!({"id": s.id, "location": s.location, "status": s.status,
            "created": rfc3339(s.created_ms), "expected_count": s.expected_count,
            "counts": s.counts})
        )
        .collect::<Vec<_>>())))
}

async fn get_receiving(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let p = query(raw.as_deref(), &["limit"])?;
    let limit = number(&p, "limit", DEFAULT_LIST, receiving::MAX_LIST_IN_ANSWER)?;
    let (s, r, c) = receiving::status(state.store.as_ref(), &id)
        .await
        .map_err(ops)?;
    Ok(ok(&session_json(&s, &c, Some((&r, limit)))))
}

async fn scan_receiving(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let scans = scans_of(&headers, body)?;
    let reply = receiving::scan(state.store.as_ref(), &id, &scans)
        .await
        .map_err(ops)?;
    Ok(ok(&json!(reply)))
}

async fn close_receiving(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let (s, r, c) = receiving::close(state.store.as_ref(), &id, now_ms())
        .await
        .map_err(ops)?;
    Ok(ok(&session_json(&s, &c, Some((&r, DEFAULT_LIST)))))
}

// ---------------------------------------------------------------- counts

fn count_json(c: &counts::Count) -> Value {
    json!({
        "id": c.id,
        "location": c.location,
        "status": c.status,
        "created": rfc3339(c.created_ms),
        "closed": c.closed_ms.map(rfc3339),
        "missing_disposition": c.missing_disposition,
        "result": c.result,
        "event_hash_ids": c.event_hash_ids,
    })
}

async fn open_count(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: counts::OpenCount = json_body(body)?;
    let c = counts::open(state.store.as_ref(), &req, now_ms())
        .await
        .map_err(ops)?;
    Ok(created(&count_json(&c), format!("/counts/{}", c.id)))
}

async fn accuracy_answer(state: &AppState, location: &str, limit: usize) -> ApiResult<Response> {
    let series = counts::accuracy_series(state.store.as_ref(), location, limit)
        .await
        .map_err(ops)?;
    Ok(ok(&json!({"location": location, "accuracy": series})))
}

async fn list_counts(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let p = query(raw.as_deref(), &["location", "after", "limit"])?;
    let limit = number(&p, "limit", 100, 10_000)?;
    if let Some(l) = param(&p, "location") {
        return accuracy_answer(&state, l, limit).await;
    }
    let list = counts::list(state.store.as_ref(), param(&p, "after"), limit.min(1_000))
        .await
        .map_err(ops)?;
    Ok(ok(&json!(list.iter().map(count_json).collect::<Vec<_>>())))
}

async fn location_accuracy(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let p = query(raw.as_deref(), &["limit"])?;
    let limit = number(&p, "limit", 100, 10_000)?;
    accuracy_answer(&state, &id, limit).await
}

async fn get_count(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let p = query(raw.as_deref(), &["limit"])?;
    let limit = number(&p, "limit", DEFAULT_LIST, receiving::MAX_LIST_IN_ANSWER)?;
    let (c, outcome) = counts::outcome(state.store.as_ref(), &id, limit)
        .await
        .map_err(ops)?;
    let mut v = count_json(&c);
    v["outcome"] = outcome;
    Ok(ok(&v))
}

async fn scan_count(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let scans = scans_of(&headers, body)?;
    let (n, obs) = counts::scan(state.store.as_ref(), &id, &scans)
        .await
        .map_err(ops)?;
    Ok(ok(&json!({"scans": n, "observations": obs})))
}

async fn close_count(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let (c, outcome) = counts::close(state.store.as_ref(), &id, now_ms())
        .await
        .map_err(ops)?;
    let mut v = count_json(&c);
    let cut = |l: &[String]| json!(&l[..l.len().min(DEFAULT_LIST)]);
    v["outcome"] = json!({
        "counted": cut(&outcome.counted),
        "missing": cut(&outcome.missing),
        "unexpected": &outcome.unexpected[..outcome.unexpected.len().min(DEFAULT_LIST)],
    });
    Ok(ok(&v))
}

// ---------------------------------------------------------------- recalls

fn recall_json(r: &recalls::Recall) -> Value {
    json!({
        "id": r.id,
        "status": r.status,
        "created": rfc3339(r.created_ms),
        "reason": r.reason,
        "criteria": r.criteria,
        "return_locations": r.return_locations,
        "affected_count": r.affected_count,
        "states_at_creation": r.states_at_creation,
        "held": r.held_ms.map(rfc3339),
        "held_count": r.held_count,
        "hold_event_hash_ids": r.hold_event_hash_ids,
        "units": format!("/recalls/{}/units", r.id),
    })
}

async fn create_recall(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: recalls::CreateRecall = json_body(body)?;
    let (r, _) = recalls::create(state.store.as_ref(), &req, now_ms())
        .await
        .map_err(ops)?;
    Ok(created(&recall_json(&r), format!("/recalls/{}", r.id)))
}

async fn list_recalls(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (after, limit) = listing(raw.as_deref())?;
    let list = recalls::list(state.store.as_ref(), after.as_deref(), limit)
        .await
        .map_err(ops)?;
    Ok(ok(&json!(list.iter().map(recall_json).collect::<Vec<_>>())))
}

async fn get_recall(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let (r, p) = recalls::progress(state.store.as_ref(), &id)
        .await
        .map_err(ops)?;
    let mut v = recall_json(&r);
    v["progress"] = json!(p);
    Ok(ok(&v))
}

async fn recall_units(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let p = query(raw.as_deref(), &["perPage", "nextPageToken"])?;
    let per_page = number(&p, "perPage", DEFAULT_UNITS_PAGE, recalls::MAX_UNITS_PAGE)?;
    let after = match param(&p, "nextPageToken") {
        Some(t) => Some(crate::units::decode_token(t)?),
        None => None,
    };
    let (units, next) = recalls::units(state.store.as_ref(), &id, after.as_deref(), per_page)
        .await
        .map_err(ops)?;
    let token = next.as_deref().map(crate::units::encode_token);
    let mut r = ok(&json!({"units": units, "next_page_token": token}));
    if let Some(t) = token {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "</recalls/{id}/units?perPage={per_page}&nextPageToken={t}>; rel=\"next\""
        )) {
            r.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(r)
}

async fn hold_recall(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let r = recalls::hold(state.store.as_ref(), &id, now_ms())
        .await
        .map_err(ops)?;
    Ok(ok(&recall_json(&r)))
}

async fn export_recall(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let p = query(raw.as_deref(), &["format"])?;
    let format = recalls::Format::parse(param(&p, "format").unwrap_or("csv"))
        .map_err(|e| ApiError::query_param(e.to_string()))?;
    // 404 before the answer starts.
    recalls::get(state.store.as_ref(), &id).await.map_err(ops)?;
    let store = state.store.clone();
    let rid = id.clone();
    // State: Some(after) while there is more to send.
    let stream = futures_util::stream::unfold(Some(None::<String>), move |st| {
        let (store, rid) = (store.clone(), rid.clone());
        async move {
            let after = st?;
            match recalls::export_chunk(store.as_ref(), &rid, format, after.as_deref()).await {
                Ok((bytes, next)) => Some((Ok(Bytes::from(bytes)), next.map(Some))),
                Err(e) => {
                    tracing::error!(recall = %rid, error = %e, "recall export stopped");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    let (ctype, ext) = match format {
        recalls::Format::Csv => ("text/csv; charset=utf-8", "csv"),
        recalls::Format::Epcis => ("application/ld+json", "jsonld"),
    };
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.{ext}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    add_gs1_headers(r.headers_mut());
    Ok(r)
}
