//! The EPCIS 2.0 REST binding: capture, events, top-level resources, named queries, discovery.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{MatchedPath, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use unitrace_capture::{describe_outcome, prepare_document, CaptureError, CaptureMode, Prepared};
use unitrace_epcis::vocab::VocabKind;
use unitrace_epcis::{EpcFormat, Format};
use unitrace_store::{
    CaptureOutcome, EventQuery, EventType, LocationRole, StoredEvent, UnitFilter,
};

use crate::params::{pairs, pairs_of_json, to_event_query};
use crate::problem::{ApiError, ApiResult};
use crate::{add_gs1_headers, now_ms, rfc3339, AppState};

const CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

pub(crate) fn path_or_400<T>(p: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    p.map(|Path(v)| v)
        .map_err(|e| ApiError::validation(format!("bad path: {e}")))
}

fn body_or_413(b: Result<Bytes, BytesRejection>, limit: usize) -> ApiResult<Bytes> {
    b.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::capture_limit(format!("the body is larger than {limit} bytes"))
        } else {
            ApiError::validation(format!("could not read the body: {e}"))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// The methods a route answers (`Allow`), by its route template.
fn allowed(route: &str) -> &'static str {
    match route {
        "/capture" | "/events" | "/queries" | "/queries/{name}/subscriptions" => {
            "OPTIONS, GET, POST"
        }
        "/queries/{name}" | "/queries/{name}/subscriptions/{id}" => "OPTIONS, GET, DELETE",
        "/nextPageToken/{token}" => "OPTIONS, DELETE",
        _ => "OPTIONS, GET",
    }
}

/// `OPTIONS`: the methods of the resource and the GS1 discovery headers (each GS1 header with
/// the one value this server uses when the client does not ask for another).
fn discovery(state: &AppState, route: &str) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    add_gs1_headers(h);
    // No extensions: an empty list (GS1's OpenAPI types this header as an object, which no
    // header value can be; see SCHEMATHESIS.md).
    h.insert("GS1-Extensions", HeaderValue::from_static(""));
    h.insert(header::ALLOW, HeaderValue::from_static(allowed(route)));
    let n =
        |v: usize| HeaderValue::from_str(&v.to_string()).unwrap_or(HeaderValue::from_static("0"));
    h.insert(
        "GS1-EPCIS-Capture-Limit",
        n(state.config.max_events_per_capture),
    );
    h.insert(
        "GS1-EPCIS-Capture-File-Size-Limit",
        n(state.config.max_capture_bytes),
    );
    h.insert(
        "GS1-Capture-Error-Behaviour",
        HeaderValue::from_static("rollback"),
    );
    h.insert("GS1-EPC-Format", HeaderValue::from_static("No_Preference"));
    h.insert(
        "GS1-CBV-XML-Format",
        HeaderValue::from_static("No_Preference"),
    );
    h.insert("GS1-EPCIS-Min", HeaderValue::from_static("2.0.0"));
    h.insert("GS1-EPCIS-Max", HeaderValue::from_static("2.0.0"));
    h.insert("GS1-CBV-Min", HeaderValue::from_static("2.0.0"));
    h.insert("GS1-CBV-Max", HeaderValue::from_static("2.0.0"));
    h.insert(
        "GS1-Vendor-Version",
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    r
}

pub async fn options(State(state): State<AppState>, route: Option<MatchedPath>) -> Response {
    discovery(&state, route.as_ref().map_or("/", MatchedPath::as_str))
}

/// A version as GS1 writes it (`2`, `2.0`, `1.2.0`, numbers of any length): its numbers without
/// leading zeros, or `None` when malformed.
fn version_numbers(v: &str) -> Option<Vec<&str>> {
    if v.is_empty() || v.len() > 256 {
        return None;
    }
    v.split('.')
        .map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then(|| {
                let t = p.trim_start_matches('0');
                if t.is_empty() {
                    "0"
                } else {
                    t
                }
            })
        })
        .collect()
}

/// Compares versions number by number, missing numbers being 0 (`2` = `2.0.0`).
fn version_cmp(a: &[&str], b: &[&str]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let num = |v: &[&str], i: usize| -> (usize, String) {
        let s = v.get(i).copied().unwrap_or("0");
        (s.len(), s.to_string())
    };
    (0..n)
        .map(|i| num(a, i).cmp(&num(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The version negotiation of GS1's binding: `GS1-EPCIS-Min/Max` and `GS1-CBV-Min/Max` must be
/// versions (400 otherwise) whose range includes 2.0.0, the one this server speaks (406
/// otherwise).
pub(crate) fn check_versions(h: &HeaderMap) -> ApiResult<()> {
    const OURS: [&str; 3] = ["2", "0", "0"];
    for (name, is_min) in [
        ("GS1-EPCIS-Min", true),
        ("GS1-EPCIS-Max", false),
        ("GS1-CBV-Min", true),
        ("GS1-CBV-Max", false),
    ] {
        let Some(v) = h.get(name) else { continue };
        let text = v.to_str().unwrap_or("?").trim();
        if text.is_empty() {
            continue; // an empty header says nothing
        }
        let n = version_numbers(text).ok_or_else(|| {
            ApiError::validation(format!(
                "{name} must be a version such as 2.0.0, got {text:?}"
            ))
        })?;
        let o = version_cmp(&n, &OURS);
        if (is_min && o.is_gt()) || (!is_min && o.is_lt()) {
            return Err(ApiError::not_acceptable(format!(
                "{name}: {text}; this server speaks EPCIS and CBV 2.0.0"
            )));
        }
    }
    Ok(())
}

/// Middleware applying [`check_versions`] to every request.
pub async fn negotiate_versions(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match check_versions(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The parameters of a listing: `perPage` (1 to the configured most, default 100) and
/// `nextPageToken` (as given); anything else is refused.
fn listing_params(state: &AppState, raw: Option<&str>) -> ApiResult<(u32, Option<String>)> {
    let mut per_page = 100u32.min(state.config.max_per_page);
    let mut token = None;
    for (k, v) in pairs(raw)? {
        match k.as_str() {
            "perPage" => {
                per_page = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=state.config.max_per_page).contains(n))
                    .ok_or_else(|| {
                        ApiError::query_param(format!(
                            "perPage must be 1..={}",
                            state.config.max_per_page
                        ))
                    })?
            }
            "nextPageToken" => token = Some(v),
            _ => {
                return Err(ApiError::query_param(format!(
                    "unknown query parameter {k:?}"
                )))
            }
        }
    }
    Ok((per_page, token))
}

/// For listings that have one page: `perPage` must be a number in range (it changes nothing)
/// and there is no `nextPageToken` to give; anything else is refused.
fn one_page_params(state: &AppState, raw: Option<&str>) -> ApiResult<()> {
    match listing_params(state, raw)? {
        (_, Some(_)) => Err(ApiError::query_param(
            "nextPageToken: this listing has one page, and no token was given for it",
        )),
        (_, None) => Ok(()),
    }
}

/// `DELETE /nextPageToken/{token}`: page tokens are sealed and stateless (they expire after an
/// hour), so one cannot be revoked early: 501, as GS1's binding allows.
pub async fn delete_page_token() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "ImplementationException",
        "page tokens cannot be revoked: they are sealed, stateless and expire after an hour",
    )
}

// ---------------------------------------------------------------------------------------------
// Capture

fn capture_mode(h: &HeaderMap) -> ApiResult<CaptureMode> {
    match h.get("GS1-Capture-Error-Behaviour").map(|v| v.to_str()) {
        None => Ok(CaptureMode::Rollback),
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("rollback") => Ok(CaptureMode::Rollback),
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("proceed") => Ok(CaptureMode::Proceed),
        _ => Err(ApiError::validation(
            "GS1-Capture-Error-Behaviour must be rollback or proceed",
        )),
    }
}

/// The body format the Content-Type declares; the body must match it.
fn body_format(h: &HeaderMap, body: &[u8]) -> ApiResult<Format> {
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let declared = match ct.as_str() {
        "application/json" | "application/ld+json" => Format::Json,
        "application/xml" | "text/xml" => Format::Xml,
        "" => {
            return Err(ApiError::unsupported_media(
                "Content-Type is required: application/ld+json, application/json or application/xml",
            ))
        }
        other => {
            return Err(ApiError::unsupported_media(format!(
                "Content-Type {other:?} is not supported: use application/ld+json, application/json or application/xml"
            )))
        }
    };
    match unitrace_epcis::detect_format(body) {
        Some(f) if f == declared => Ok(f),
        Some(_) => Err(ApiError::validation(format!(
            "the body does not match Content-Type {ct}"
        ))),
        None => Err(ApiError::validation(
            "the body is neither JSON (starting with '{') nor XML (starting with '<')",
        )),
    }
}

async fn prepare(state: &AppState, body: Bytes) -> ApiResult<Prepared> {
    let max = state.config.max_events_per_capture;
    let _permit = state
        .prepare_permits
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
    let res = tokio::task::spawn_blocking(move || prepare_document(&body, max))
        .await
        .map_err(|e| ApiError::internal(format!("capture task failed: {e}")))?;
    res.map_err(capture_error)
}

fn capture_error(e: CaptureError) -> ApiError {
    match e {
        CaptureError::Invalid(p) => {
            let detail = p
                .first()
                .map(ToString::to_string)
                .unwrap_or_else(|| "invalid document".into());
            ApiError::validation(detail).with_problems(p)
        }
        CaptureError::TooManyEvents { count, limit } => ApiError::capture_limit(format!(
            "{count} events or more; at most {limit} per capture (GS1-EPCIS-Capture-Limit)"
        )),
        CaptureError::Store(s) => ApiError::from(s),
    }
}

pub async fn post_capture(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_413(body, state.config.max_capture_bytes)?;
    let mode = capture_mode(&headers)?;
    body_format(&headers, &body)?;
    let prepared = prepare(&state, body).await?;
    let id = state
        .jobs
        .submit(state.store.as_ref(), prepared, mode)
        .await?;
    state.metrics.capture_jobs.fetch_add(1, Ordering::Relaxed);
    let mut r = (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"captureID": id.to_string()}).to_string(),
    )
        .into_response();
    add_gs1_headers(r.headers_mut());
    if let Ok(v) = HeaderValue::from_str(&format!("/capture/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if mode == CaptureMode::Proceed {
        r.headers_mut().insert(
            "GS1-Capture-Error-Behaviour",
            HeaderValue::from_static("proceed"),
        );
    }
    Ok(r)
}

fn outcome_errors(
    hash_ids: &[String],
    event_ids: &[Option<String>],
    outcomes: &[CaptureOutcome],
) -> Vec<Value> {
    outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_failure())
        .take(1000)
        .map(|(i, o)| {
            json!({
                "eventIndex": i,
                "eventID": event_ids.get(i).cloned().flatten(),
                "eventHashID": hash_ids.get(i),
                "message": describe_outcome(o),
            })
        })
        .collect()
}

pub(crate) async fn run_job(state: &AppState, id: u64, prepared: Prepared, mode: CaptureMode) {
    let res = unitrace_capture::capture_prepared(state.store.as_ref(), prepared, mode).await;
    let (stored, errors, error_count) = match res {
        Ok(r) => {
            let stored = r.report.stored();
            let dup = r
                .report
                .outcomes
                .iter()
                .filter(|o| matches!(o, CaptureOutcome::Duplicate))
                .count();
            state
                .metrics
                .events_captured
                .fetch_add(stored as u64, Ordering::Relaxed);
            state
                .metrics
                .events_duplicate
                .fetch_add(dup as u64, Ordering::Relaxed);
            let failed = r.report.outcomes.iter().filter(|o| o.is_failure()).count();
            let errors = outcome_errors(&r.hash_ids, &r.event_ids, &r.report.outcomes);
            (stored, errors, failed)
        }
        Err(e) => {
            tracing::warn!(job = id, error = %e, "capture job failed");
            (0, vec![json!({"message": e.to_string()})], 1)
        }
    };
    if error_count > 0 {
        state
            .metrics
            .captures_failed
            .fetch_add(1, Ordering::Relaxed);
    }
    state
        .jobs
        .finish(state.store.as_ref(), id, stored, errors, error_count)
        .await;
}

fn job_json(j: &crate::Job) -> Value {
    json!({
        "captureID": j.id.to_string(),
        "createdAt": rfc3339(j.created_at),
        "finishedAt": j.finished_at.map(rfc3339),
        "running": j.running,
        "success": j.success,
        "captureErrorBehaviour": j.mode,
        "eventCount": j.events,
        "storedCount": j.stored,
        "errorCount": j.error_count,
        "errors": j.errors,
    })
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response();
    add_gs1_headers(r.headers_mut());
    r
}

pub async fn get_capture(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let job = match id.parse::<u64>() {
        Ok(n) => crate::jobs::get(state.store.as_ref(), n, &state.jobs.node).await?,
        Err(_) => None,
    }
    .ok_or_else(|| ApiError::no_such_name(format!("no capture job {id:?}")))?;
    Ok(json_response(StatusCode::OK, &job_json(&job)))
}

pub async fn list_capture(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (per_page, token) = listing_params(&state, q.as_deref())?;
    let per_page = per_page as usize;
    let after = match token {
        Some(t) => t
            .parse::<u64>()
            .map_err(|_| ApiError::query_param("nextPageToken: malformed"))?,
        None => 0,
    };
    let jobs =
        crate::jobs::list(state.store.as_ref(), after, per_page + 1, &state.jobs.node).await?;
    let more = jobs.len() > per_page;
    let list: Vec<Value> = jobs.iter().take(per_page).map(job_json).collect();
    let mut r = json_response(StatusCode::OK, &Value::Array(list));
    if more {
        if let Some(last) = jobs.get(per_page - 1) {
            set_link(
                &mut r,
                &format!("/capture?perPage={per_page}&nextPageToken={}", last.id),
            );
        }
    }
    Ok(r)
}

/// `POST /events`: one event, captured synchronously.
pub async fn post_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_413(body, state.config.max_body_bytes)?;
    if body_format(&headers, &body)? != Format::Json {
        return Err(ApiError::unsupported_media(
            "POST /events takes one event as JSON-LD; capture XML documents through POST /capture",
        ));
    }
    let event: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("malformed JSON: {e}")))?;
    let Value::Object(mut event) = event else {
        return Err(ApiError::validation("the body must be one event object"));
    };
    let ctx = event.remove("@context");
    let mut context = vec![Value::String(CONTEXT.into())];
    match ctx {
        Some(Value::Array(a)) => {
            context.extend(a.into_iter().filter(|c| c.as_str() != Some(CONTEXT)))
        }
        Some(c) if c.as_str() != Some(CONTEXT) => context.push(c),
        _ => {}
    }
    let doc = json!({
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(now_ms()),
        "epcisBody": {"eventList": [Value::Object(event)]},
    });
    let bytes = Bytes::from(doc.to_string());
    let prepared = prepare(&state, bytes).await?;
    let r =
        unitrace_capture::capture_prepared(state.store.as_ref(), prepared, CaptureMode::Rollback)
            .await
            .map_err(capture_error)?;
    let hash = r.hash_ids.first().cloned().unwrap_or_default();
    match r.report.outcomes.first() {
        Some(CaptureOutcome::Stored { .. }) | Some(CaptureOutcome::Duplicate) => {
            let stored = r.report.stored();
            state
                .metrics
                .events_captured
                .fetch_add(stored as u64, Ordering::Relaxed);
            let status = if stored == 1 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut resp = json_response(
                status,
                &json!({"eventHashID": hash, "eventID": r.event_ids.first().cloned().flatten(), "duplicate": stored == 0}),
            );
            let loc = format!("/events/{}", encode_segment(&hash));
            if let Ok(v) = HeaderValue::from_str(&loc) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        Some(o) => {
            state
                .metrics
                .captures_failed
                .fetch_add(1, Ordering::Relaxed);
            let msg = describe_outcome(o);
            if matches!(o, CaptureOutcome::Conflict { .. }) {
                Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "ValidationException",
                    msg,
                ))
            } else {
                Err(ApiError::validation(msg))
            }
        }
        None => Err(ApiError::validation("no event")),
    }
}

pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Queries

#[derive(Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    LdJson,
    Json,
    Xml,
}

fn out_format(h: &HeaderMap) -> ApiResult<OutFormat> {
    // Without a preference: application/json, the media type GS1's OpenAPI documents (the body is
    // JSON-LD either way; `Accept: application/ld+json` labels it so).
    let Some(accept) = h.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(OutFormat::Json);
    };
    let mut best: Option<OutFormat> = None;
    for part in accept.split(',') {
        let mt = part
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let f = match mt.as_str() {
            "application/ld+json" => Some(OutFormat::LdJson),
            "application/json" | "*/*" | "application/*" => Some(OutFormat::Json),
            "application/xml" | "text/xml" => Some(OutFormat::Xml),
            _ => None,
        };
        if f.is_some() {
            best = f;
            break;
        }
    }
    best.ok_or_else(|| {
        ApiError::not_acceptable(
            "this resource is available as application/ld+json, application/json or application/xml",
        )
    })
}

fn epc_format(h: &HeaderMap) -> ApiResult<EpcFormat> {
    match h.get("GS1-EPC-Format").map(|v| v.to_str()) {
        None => Ok(EpcFormat::AsIs),
        Some(Ok(v)) => match v.trim() {
            "No_Preference" | "Never_Translates" => Ok(EpcFormat::AsIs),
            "Always_EPC_URN" => Ok(EpcFormat::Urn),
            "Always_GS1_Digital_Link" => Ok(EpcFormat::DigitalLink),
            other => Err(ApiError::validation(format!(
                "GS1-EPC-Format {other:?}: No_Preference, Always_GS1_Digital_Link, Always_EPC_URN or Never_Translates"
            ))),
        },
        Some(Err(_)) => Err(ApiError::validation("GS1-EPC-Format is not ASCII")),
    }
}

fn cbv_xml_format(h: &HeaderMap) -> ApiResult<unitrace_epcis::CbvXmlFormat> {
    use unitrace_epcis::CbvXmlFormat as F;
    match h.get("GS1-CBV-XML-Format").map(|v| v.to_str()) {
        None => Ok(F::NoPreference),
        Some(Ok(v)) => match v.trim() {
            "No_Preference" | "Never_Translates" => Ok(F::NoPreference),
            "Always_Web_URI" => Ok(F::AlwaysWebUri),
            "Always_URN" => Ok(F::AlwaysUrn),
            other => Err(ApiError::validation(format!(
                "GS1-CBV-XML-Format {other:?}: No_Preference, Always_Web_URI, Always_URN or Never_Translates"
            ))),
        },
        Some(Err(_)) => Err(ApiError::validation("GS1-CBV-XML-Format is not ASCII")),
    }
}

fn set_link(r: &mut Response, url: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
        r.headers_mut().insert(header::LINK, v);
    }
}

/// The stored events of a page as an EPCISQueryDocument in the format asked for.
fn query_document(
    headers: &HeaderMap,
    query_name: &str,
    events: Vec<StoredEvent>,
    next: Option<String>,
    base: &str,
    pairs: &[(String, String)],
) -> ApiResult<Response> {
    let fmt = out_format(headers)?;
    let epcf = epc_format(headers)?;
    let list: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let mut d = e.document;
            unitrace_epcis::json::apply_epc_format(&mut d, epcf);
            d
        })
        .collect();
    let doc = json!({
        "@context": [CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(now_ms()),
        "epcisBody": {"queryResults": {"queryName": query_name, "resultsBody": {"eventList": list}}},
    });
    let mut r = match fmt {
        OutFormat::Xml => {
            let opts = unitrace_epcis::XmlWriteOptions {
                cbv_format: cbv_xml_format(headers)?,
                pretty: false,
            };
            let xml = unitrace_epcis::xml::write_document_value_with(&doc, opts)
                .map_err(|e| ApiError::internal(format!("XML output: {e}")))?;
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/xml")],
                xml,
            )
                .into_response()
        }
        OutFormat::LdJson | OutFormat::Json => {
            let ct = if fmt == OutFormat::Json {
                "application/json"
            } else {
                "application/ld+json"
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, ct)],
                doc.to_string(),
            )
                .into_response()
        }
    };
    add_gs1_headers(r.headers_mut());
    if let Some(t) = next {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "nextPageToken") {
            s.append_pair(k, v);
        }
        s.append_pair("nextPageToken", &t);
        set_link(&mut r, &format!("{base}?{}", s.finish()));
    }
    Ok(r)
}

async fn run_query(
    state: &AppState,
    headers: &HeaderMap,
    base: &str,
    query_name: &str,
    fixed: Vec<(String, String)>,
    raw: Option<&str>,
) -> ApiResult<Response> {
    let given = pairs(raw)?;
    let mut all = fixed;
    all.extend(given.iter().cloned());
    let q: EventQuery = to_event_query(&all, state.config.max_per_page)?;
    let page = state
        .store
        .query_events(&q)
        .await
        .map_err(ApiError::from_query)?;
    query_document(
        headers,
        query_name,
        page.events,
        page.next_page_token,
        base,
        &given,
    )
}

pub async fn get_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    run_query(
        &state,
        &headers,
        "/events",
        "SimpleEventQuery",
        Vec::new(),
        raw.as_deref(),
    )
    .await
}

pub async fn get_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let ev = if id.starts_with("ni:///") {
        state.store.event_by_hash(&id).await?
    } else {
        let q = EventQuery {
            eq_event_id: vec![id.clone()],
            per_page: Some(1),
            ..Default::default()
        };
        q.validate().map_err(ApiError::from_query)?;
        state
            .store
            .query_events(&q)
            .await?
            .events
            .into_iter()
            .next()
    };
    let ev = ev.ok_or_else(|| ApiError::no_such_name(format!("no event {id:?}")))?;
    let fmt = out_format(&headers)?;
    if fmt == OutFormat::Xml {
        return query_document(&headers, "SimpleEventQuery", vec![ev], None, "", &[]);
    }
    let mut d = ev.document;
    unitrace_epcis::json::apply_epc_format(&mut d, epc_format(&headers)?);
    if let Some(o) = d.as_object_mut() {
        if !o.contains_key("@context") {
            o.insert("@context".into(), json!([CONTEXT]));
        }
    }
    Ok(json_response(StatusCode::OK, &d))
}

// ---------------------------------------------------------------------------------------------
// Top-level resources

/// A JSON-LD `Collection` of members, the shape GS1's binding gives every listing.
pub(crate) fn collection<T: serde::Serialize>(members: &[T]) -> Value {
    json!({"@context": [CONTEXT], "type": "Collection", "member": members})
}

/// The top-level resources (`GET /`).
pub const TOP_LEVEL: [&str; 9] = [
    "events",
    "eventTypes",
    "epcs",
    "bizSteps",
    "bizLocations",
    "readPoints",
    "dispositions",
    "capture",
    "queries",
];

pub async fn event_types(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    one_page_params(&state, raw.as_deref())?;
    let v: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    Ok(json_response(StatusCode::OK, &collection(&v)))
}

/// The query parameter that selects a resource's events.
fn resource_param(resource: &str) -> Option<&'static str> {
    Some(match resource {
        "eventTypes" => "eventType",
        "epcs" => "MATCH_anyEPC",
        "bizSteps" => "EQ_bizStep",
        "bizLocations" => "EQ_bizLocation",
        "readPoints" => "EQ_readPoint",
        "dispositions" => "EQ_disposition",
        _ => return None,
    })
}

/// A listing of IDs as a `Collection`, `perPage` at a time (default 100), paged by
/// `nextPageToken` (the last ID, sealed) with a `Link` to the next page.
async fn paged_ids<F, Fut>(
    state: &AppState,
    resource: &str,
    raw: Option<&str>,
    fetch: F,
) -> ApiResult<Response>
where
    F: FnOnce(Option<String>, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, unitrace_store::StoreError>>,
{
    let (per_page, token) = listing_params(state, raw)?;
    let after = token.map(|t| crate::units::decode_token(&t)).transpose()?;
    let ids = fetch(after, per_page as usize + 1)
        .await
        .map_err(ApiError::from_query)?;
    let more = ids.len() > per_page as usize;
    let list = &ids[..ids.len().min(per_page as usize)];
    let mut r = json_response(StatusCode::OK, &collection(list));
    if let (true, Some(last)) = (more, list.last()) {
        set_link(
            &mut r,
            &format!(
                "/{resource}?perPage={per_page}&nextPageToken={}",
                crate::units::encode_token(last)
            ),
        );
    }
    Ok(r)
}

pub async fn list_resource(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    resource: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let resource = path_or_400(resource)?;
    if resource.bytes().all(|b| b.is_ascii_digit()) {
        return crate::units::resolve(&state, &headers, uri.path(), raw.as_deref()).await;
    }
    if matches!(resource.as_str(), "bizSteps" | "dispositions") {
        one_page_params(&state, raw.as_deref())?;
    }
    match resource.as_str() {
        "bizSteps" => Ok(json_response(
            StatusCode::OK,
            &collection(VocabKind::BizStep.terms()),
        )),
        "dispositions" => Ok(json_response(
            StatusCode::OK,
            &collection(VocabKind::Disposition.terms()),
        )),
        "epcs" => {
            let store = state.store.clone();
            paged_ids(
                &state,
                &resource,
                raw.as_deref(),
                |after, limit| async move {
                    let units = store
                        .list_units(&UnitFilter {
                            after_epc: after,
                            limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
                            ..Default::default()
                        })
                        .await?;
                    Ok(units.into_iter().map(|u| u.epc).collect())
                },
            )
            .await
        }
        "bizLocations" | "readPoints" => {
            let role = if resource == "bizLocations" {
                LocationRole::BizLocation
            } else {
                LocationRole::ReadPoint
            };
            let store = state.store.clone();
            paged_ids(
                &state,
                &resource,
                raw.as_deref(),
                |after, limit| async move {
                    store
                        .list_event_locations(role, after.as_deref(), limit)
                        .await
                },
            )
            .await
        }
        _ => Err(ApiError::not_found(format!("no resource /{resource}"))),
    }
}

pub async fn get_resource(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    p: Result<Path<(String, String)>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (resource, id) = path_or_400(p)?;
    if resource.bytes().all(|b| b.is_ascii_digit()) {
        return crate::units::resolve(&state, &headers, uri.path(), raw.as_deref()).await;
    }
    if resource_param(&resource).is_none() {
        return Err(ApiError::not_found(format!("no resource /{resource}")));
    }
    one_page_params(&state, raw.as_deref())?;
    // The sub-resources of one resource: its events (`/{resource}/{id}/events`).
    let mut r = json_response(StatusCode::OK, &collection(&["events"]));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "</{resource}/{}/events>; rel=\"events\"",
        encode_segment(&id)
    )) {
        r.headers_mut().insert(header::LINK, v);
    }
    Ok(r)
}

pub async fn resource_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    p: Result<Path<(String, String)>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (resource, id) = path_or_400(p)?;
    if resource.bytes().all(|b| b.is_ascii_digit()) {
        return crate::units::resolve(&state, &headers, uri.path(), raw.as_deref()).await;
    }
    let param = resource_param(&resource)
        .ok_or_else(|| ApiError::not_found(format!("no resource /{resource}")))?;
    let base = format!("/{resource}/{}/events", encode_segment(&id));
    let fixed = vec![(param.to_string(), id)];
    run_query(
        &state,
        &headers,
        &base,
        "SimpleEventQuery",
        fixed,
        raw.as_deref(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Named queries (kept in memory)

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 128
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub async fn post_query(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body_or_413(body, state.config.max_body_bytes)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("malformed JSON: {e}")))?;
    let name = v
        .get("name")
        .or_else(|| v.get("queryName"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("the body needs \"name\" and \"query\""))?
        .to_string();
    if !valid_name(&name) {
        return Err(ApiError::validation(
            "a query name is 1..=128 characters of A-Z a-z 0-9 - _ .",
        ));
    }
    let query = v
        .get("query")
        .cloned()
        .ok_or_else(|| ApiError::validation("the body needs \"query\""))?;
    // Check it now, so a stored query always runs.
    to_event_query(&pairs_of_json(&query)?, state.config.max_per_page)?;
    crate::subs::create_query(&state, &name, &query, state.config.max_named_queries).await?;
    let mut r = json_response(StatusCode::CREATED, &json!({"name": name, "query": query}));
    if let Ok(v) = HeaderValue::from_str(&format!("/queries/{name}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

pub async fn list_queries(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    one_page_params(&state, raw.as_deref())?;
    let v: Vec<Value> = crate::subs::named_queries(&state, state.config.max_named_queries)
        .await?
        .into_iter()
        .map(|(n, q)| json!({"name": n, "query": q}))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(v)))
}

async fn named(state: &AppState, name: &str) -> ApiResult<Value> {
    if !valid_name(name) {
        return Err(ApiError::no_such_name(format!("no query named {name:?}")));
    }
    crate::subs::named_query(state, name).await
}

pub async fn get_query(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let name = path_or_400(name)?;
    let q = named(&state, &name).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"name": name, "query": q}),
    ))
}

pub async fn delete_query(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let name = path_or_400(name)?;
    // Its subscriptions go with it.
    if !valid_name(&name) || !crate::subs::delete_query(&state, &name).await? {
        return Err(ApiError::no_such_name(format!("no query named {name:?}")));
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    add_gs1_headers(r.headers_mut());
    Ok(r)
}

pub async fn query_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let name = path_or_400(name)?;
    let q = named(&state, &name).await?;
    if let Ok(ws) = ws {
        // A WebSocket subscription: events recorded from now (or `initialRecordTime`) on.
        let mut watermark = now_ms();
        for (k, v) in pairs(raw.as_deref())? {
            match k.as_str() {
                "initialRecordTime" => {
                    watermark = unitrace_epcis::time::parse_instant(&v)
                        .map(|(i, _)| i.unix_millis())
                        .map_err(|e| ApiError::query_param(format!("initialRecordTime: {e}")))?
                }
                _ => {
                    return Err(ApiError::query_param(format!(
                        "{k}: a WebSocket subscription takes only initialRecordTime"
                    )))
                }
            }
        }
        return Ok(ws
            .max_message_size(64 * 1024)
            .on_upgrade(move |socket| stream_ws(state, name, q, watermark, socket)));
    }
    let fixed = pairs_of_json(&q)?;
    // Paging parameters of the request override the stored ones.
    let given = pairs(raw.as_deref())?;
    for (k, _) in &given {
        if k != "perPage" && k != "nextPageToken" {
            return Err(ApiError::query_param(format!(
                "{k}: only perPage and nextPageToken may be added to a named query"
            )));
        }
    }
    let fixed: Vec<(String, String)> = fixed
        .into_iter()
        .filter(|(k, _)| !given.iter().any(|(g, _)| g == k))
        .collect();
    let base = format!("/queries/{name}/events");
    run_query(&state, &headers, &base, &name, fixed, raw.as_deref()).await
}

// ---------------------------------------------------------------------------------------------
// Subscriptions (webhooks)

pub async fn post_subscription(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let name = path_or_400(name)?;
    named(&state, &name).await?;
    let body = body_or_413(body, state.config.max_body_bytes)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("malformed JSON: {e}")))?;
    let dest = v
        .get("dest")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("\"dest\" (the webhook URL) is required"))?
        .to_string();
    let scheme_ok = ["http://", "https://"]
        .iter()
        .any(|p| dest.len() > p.len() && dest[..p.len()].eq_ignore_ascii_case(p));
    if !scheme_ok || dest.len() > 2048 {
        return Err(ApiError::validation(
            "dest must be an http:// or https:// URL of at most 2048 characters",
        ));
    }
    let schedule = match v.get("schedule") {
        None | Some(Value::Null) => None,
        Some(s) => Some(crate::subs::Schedule::parse(s).map_err(ApiError::validation)?),
    };
    let stream = v
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(schedule.is_none());
    if stream == schedule.is_some() {
        return Err(ApiError::validation(
            "a subscription has either \"stream\": true or a \"schedule\"",
        ));
    }
    // Present members have their documented types: null is not a dateTime, boolean or string.
    let secret = match v.get("signatureToken").or_else(|| v.get("secret")) {
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 1024 => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::validation(
                "signatureToken must be a string of 1..=1024 bytes",
            ))
        }
    };
    let report_if_empty = match v.get("reportIfEmpty") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::validation("reportIfEmpty must be a boolean")),
    };
    let watermark = match v.get("initialRecordTime") {
        None => now_ms(),
        Some(Value::String(t)) => unitrace_epcis::time::parse_instant(t)
            .map(|(i, _)| i.unix_millis())
            .map_err(|e| ApiError::validation(format!("initialRecordTime: {e}")))?,
        Some(_) => return Err(ApiError::validation("initialRecordTime must be a dateTime")),
    };
    let sub = crate::subs::create_subscription(
        &state,
        crate::subs::NewSubscription {
            query_name: name.clone(),
            dest,
            secret,
            report_if_empty,
            watermark,
            schedule,
        },
    )
    .await?;
    let mut r = json_response(StatusCode::CREATED, &sub.public_json());
    if let Ok(v) = HeaderValue::from_str(&format!("/queries/{name}/subscriptions/{}", sub.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

pub async fn list_subscriptions(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let name = path_or_400(name)?;
    one_page_params(&state, raw.as_deref())?;
    named(&state, &name).await?;
    let list: Vec<Value> = crate::subs::all_subscriptions(&state)
        .await?
        .into_iter()
        .filter(|(_, s)| s.query_name == name)
        .map(|(_, s)| s.public_json())
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(list)))
}

pub async fn get_subscription(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Response> {
    let (name, id) = path_or_400(p)?;
    let s = crate::subs::subscription(&state, &name, &id).await?;
    Ok(json_response(StatusCode::OK, &s.public_json()))
}

pub async fn delete_subscription(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Response> {
    let (name, id) = path_or_400(p)?;
    if !crate::subs::delete_subscription(&state, &name, &id).await? {
        return Err(ApiError::no_such_name(format!(
            "no subscription {id} of query {name}"
        )));
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    add_gs1_headers(r.headers_mut());
    Ok(r)
}

/// Sends every event of the named query recorded since `watermark` as EPCISQueryDocument text
/// messages, polling once a second, until the client goes or the server stops.
async fn stream_ws(
    state: AppState,
    name: String,
    query: Value,
    watermark: i64,
    mut socket: WebSocket,
) {
    let mut watermark: crate::subs::Watermark = (watermark, 0);
    let mut stop = state.stopping.subscribe();
    loop {
        match crate::subs::events_since(&state, &query, watermark).await {
            Ok(events) if !events.is_empty() => {
                let next = crate::subs::advanced(watermark, &events);
                let list = events.into_iter().map(|e| e.document).collect();
                let doc = crate::subs::query_document(&name, None, list);
                if socket
                    .send(Message::Text(doc.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
                watermark = next;
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = socket
                    .send(Message::Text(json!({"error": e}).to_string().into()))
                    .await;
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            m = socket.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn version_negotiation() {
        let ok = [
            vec![],
            vec![("GS1-EPCIS-Min", "1.0.0"), ("GS1-EPCIS-Max", "2.0.0")],
            vec![("GS1-EPCIS-Min", "2"), ("GS1-CBV-Max", "2.0.1")],
            vec![("GS1-CBV-Min", "1.2"), ("GS1-CBV-Max", "3")],
            vec![("GS1-EPCIS-Min", ""), ("GS1-EPCIS-Max", "0002.0000.0000.0")],
            vec![("GS1-EPCIS-Max", "33249771361370529.849574458")],
        ];
        for h in ok {
            assert!(check_versions(&headers(&h)).is_ok(), "{h:?}");
        }
        for (h, status) in [
            (("GS1-EPCIS-Min", "2.0.1"), 406),
            (("GS1-EPCIS-Max", "1.2.0"), 406),
            (("GS1-CBV-Min", "3"), 406),
            (("GS1-CBV-Max", "vZ"), 400),
            (("GS1-EPCIS-Min", "-1.1"), 400),
            (("GS1-EPCIS-Min", "2..0"), 400),
            (("GS1-EPCIS-Min", "33249771361370529.849574458"), 406),
        ] {
            let e = check_versions(&headers(&[h])).unwrap_err();
            assert_eq!(e.status.as_u16(), status, "{h:?}");
            assert!(e.detail.contains(h.0), "{}", e.detail);
        }
    }
}
