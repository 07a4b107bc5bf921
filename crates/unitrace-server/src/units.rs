//! The unit-centred API (`/items`, `/locations`, `/products`) and the GS1 Digital Link resolver.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use unitrace_capture::{normalise_cbv, normalise_epc};
use unitrace_epcis::vocab::VocabKind;
use unitrace_id::GcpResolver;
use unitrace_store::{GenealogyDirection, Location, Product, UnitFilter, UnitState};

use crate::epcis::{encode_segment, path_or_400};
use crate::params::pairs;
use crate::problem::{ApiError, ApiResult};
use crate::{add_gs1_headers, rfc3339, AppState};

/// Units per page of `/items` by default, and at most.
const DEFAULT_ITEMS: u32 = 100;
const MAX_ITEMS: u32 = 1000;

fn json_ok(v: &Value) -> Response {
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response();
    add_gs1_headers(r.headers_mut());
    r
}

/// An identifier in any form -> (store key, identity forms). 400 saying why when it is invalid.
pub(crate) fn identify(id: &str) -> ApiResult<(String, Value)> {
    let id = id.trim();
    let parsed = unitrace_id::parse_any(id)
        .map_err(|e| ApiError::validation(format!("not a valid identifier ({e}): {id:?}")))?;
    let epc = parsed.epc_uri(&GcpResolver::new()).ok();
    let dl = parsed.digital_link();
    let key = match (&epc, &dl) {
        (Some(e), _) => e.clone(),
        (None, Some(d)) => normalise_epc(d),
        (None, None) => normalise_epc(id),
    };
    let identity = json!({
        "epc_uri": epc,
        "digital_link": dl,
        "bracketed": parsed.bracketed(),
    });
    Ok((key, identity))
}

fn time_opt(t: Option<i64>) -> Value {
    t.map(|t| Value::String(rfc3339(t))).unwrap_or(Value::Null)
}

fn state_json(s: &UnitState) -> Value {
    json!({
        "biz_location": s.biz_location,
        "read_point": s.read_point,
        "disposition": s.disposition,
        "persistent_dispositions": s.persistent_dispositions,
        "parent": s.parent,
        "lot": s.lot,
        "expiry": s.expiry,
        "commissioned_at": time_opt(s.commissioned_at),
        "last_event_time": if s.last_event_time == i64::MIN { Value::Null } else { Value::String(rfc3339(s.last_event_time)) },
    })
}

async fn item_json(state: &AppState, key: &str, identity: Value) -> ApiResult<Value> {
    let st = state
        .store
        .unit_state(key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event names {key}")))?;
    let children = state.store.children(key).await?;
    // Where it is now, through its containers (a pallet moved after packing carries its cases).
    let current =
        state.store.current_location(key).await?.map(
            |c| json!({"biz_location": c.biz_location, "since": rfc3339(c.since), "via": c.via}),
        );
    let timeline = state.store.timeline(key).await?;
    let tl: Vec<Value> = timeline
        .into_iter()
        .map(|e| {
            let d = &e.event.document;
            json!({
                "event_hash_id": e.event.hash_id,
                "event_id": e.event.event_id,
                "event_type": e.event.event_type.as_str(),
                "event_time": rfc3339(e.event.event_time),
                "record_time": rfc3339(e.event.record_time),
                "action": d.get("action"),
                "biz_step": d.get("bizStep"),
                "disposition": d.get("disposition"),
                "biz_location": d.get("bizLocation").and_then(|l| l.get("id")),
                "read_point": d.get("readPoint").and_then(|l| l.get("id")),
                "inferred": e.inferred_via.is_some(),
                "inferred_via": e.inferred_via,
                "event": e.event.document,
            })
        })
        .collect();
    Ok(json!({
        "id": key,
        "identity": identity,
        "state": state_json(&st),
        "current_location": current,
        "children": children,
        "timeline": tl,
    }))
}

pub async fn get_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let (key, identity) = identify(&id)?;
    let v = item_json(&state, &key, identity).await?;
    Ok(if wants_html(&headers) {
        html_page(&v)
    } else {
        json_ok(&v)
    })
}

pub async fn item_tree(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let (key, _) = identify(&id)?;
    if state.store.unit_state(&key).await?.is_none() {
        return Err(ApiError::not_found(format!("no event names {key}")));
    }
    let t = state.store.containment_tree(&key).await?;
    let children: Vec<Value> = t
        .children
        .iter()
        .map(|c| json!({"epc": c.epc, "parent": c.parent, "depth": c.depth}))
        .collect();
    Ok(json_ok(&json!({
        "id": t.epc, "parents": t.parents, "children": children, "truncated": t.truncated,
    })))
}

pub async fn item_genealogy(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = path_or_400(id)?;
    let (key, _) = identify(&id)?;
    if state.store.unit_state(&key).await?.is_none() {
        return Err(ApiError::not_found(format!("no event names {key}")));
    }
    let mut out = json!({"id": key});
    for (name, dir) in [
        ("inputs", GenealogyDirection::Inputs),
        ("outputs", GenealogyDirection::Outputs),
    ] {
        let g = state.store.genealogy(&key, dir).await?;
        out[name] = json!({
            "nodes": g.nodes.iter().map(|n| json!({"epc": n.epc, "via": n.via, "depth": n.depth})).collect::<Vec<_>>(),
            "truncated": g.truncated,
        });
    }
    Ok(json_ok(&out))
}

// ---- page tokens of unit lists: the last EPC, hex, with a checksum ----

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(crate) fn encode_token(last: &str) -> String {
    let text = format!("u1.{last}.{:x}", fnv(last));
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn decode_token(t: &str) -> ApiResult<String> {
    let bad = || ApiError::query_param("nextPageToken: malformed or tampered with");
    if t.len() % 2 == 1 || t.len() > 4096 {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    let text = bytes
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let rest = text.strip_prefix("u1.").ok_or_else(bad)?;
    let (last, sum) = rest.rsplit_once('.').ok_or_else(bad)?;
    if u64::from_str_radix(sum, 16).ok() != Some(fnv(last)) {
        return Err(bad());
    }
    Ok(last.to_string())
}

/// The EPC URN prefix of the instances of a GTIN (`urn:epc:id:sgtin:CP.IR.`).
fn gtin_prefix(gtin: &str) -> ApiResult<String> {
    let g = normalise_gtin(gtin)?;
    let pat = unitrace_epcis::epc::dl_to_urn(&format!("https://id.gs1.org/01/{g}"))
        .ok_or_else(|| ApiError::query_param(format!("gtin {gtin}: company prefix unknown")))?;
    let body = pat
        .strip_prefix("urn:epc:idpat:sgtin:")
        .and_then(|b| b.strip_suffix('*'))
        .ok_or_else(|| ApiError::query_param(format!("gtin {gtin}: no EPC form")))?;
    Ok(format!("urn:epc:id:sgtin:{body}"))
}

/// 8, 12, 13 or 14 digits with a good check digit -> 14 digits.
fn normalise_gtin(g: &str) -> ApiResult<String> {
    let g = g.trim();
    if !matches!(g.len(), 8 | 12 | 13 | 14) || !g.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation(format!(
            "GTIN must be 8, 12, 13 or 14 digits, got {g:?}"
        )));
    }
    let g14 = format!("{g:0>14}");
    let digits: Vec<u32> = g14.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits[..13]
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
        .sum();
    if (10 - sum % 10) % 10 != digits[13] {
        return Err(ApiError::validation(format!("GTIN {g}: wrong check digit")));
    }
    Ok(g14)
}

async fn units_page(
    state: &AppState,
    base: &str,
    mut filter: UnitFilter,
    per_page: u32,
    extra: &[(String, String)],
) -> ApiResult<Response> {
    filter.limit = Some(per_page + 1);
    let units = state.store.list_units(&filter).await?;
    let more = units.len() > per_page as usize;
    let list: Vec<Value> = units
        .iter()
        .take(per_page as usize)
        .map(|u| json!({"id": u.epc, "digital_link": unitrace_epcis::epc::urn_to_dl(&u.epc), "state": state_json(u)}))
        .collect();
    let mut r = json_ok(&json!({"items": list}));
    if more {
        if let Some(last) = units.get(per_page as usize - 1) {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in extra.iter().filter(|(k, _)| k != "nextPageToken") {
                s.append_pair(k, v);
            }
            s.append_pair("nextPageToken", &encode_token(&last.epc));
            if let Ok(v) = format!("<{base}?{}>; rel=\"next\"", s.finish()).parse() {
                r.headers_mut().insert(header::LINK, v);
            }
        }
    }
    Ok(r)
}

pub async fn list_items(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let given = pairs(raw.as_deref())?;
    let mut f = UnitFilter::default();
    let mut per_page = DEFAULT_ITEMS;
    for (k, v) in &given {
        match k.as_str() {
            "location" => f.biz_location = Some(normalise_epc(v)),
            "disposition" => f.disposition = Some(normalise_cbv(VocabKind::Disposition, v)),
            "gtin" => f.epc_prefix = Some(gtin_prefix(v)?),
            "lot" => f.lot = Some(v.clone()),
            "parent" => f.parent = Some(identify(v).map_err(|e| ApiError::query_param(e.detail))?.0),
            "perPage" => {
                per_page = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_ITEMS).contains(n))
                    .ok_or_else(|| ApiError::query_param(format!("perPage: 1..={MAX_ITEMS}")))?
            }
            "nextPageToken" => f.after_epc = Some(decode_token(v)?),
            _ => {
                return Err(ApiError::query_param(format!(
                    "unknown query parameter {k:?} (location, disposition, gtin, lot, parent, perPage, nextPageToken)"
                )))
            }
        }
    }
    units_page(&state, "/items", f, per_page, &given).await
}

// ---- master data ----

pub async fn get_location(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let id = normalise_epc(&path_or_400(id)?);
    let loc = state
        .store
        .get_location(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no location {id}")))?;
    // The chain of ancestors, nearest first (bounded, cycle-safe).
    let mut ancestors = Vec::new();
    let mut cur = loc.parent_id.clone();
    while let Some(p) = cur {
        if ancestors.len() >= 16 || ancestors.contains(&p) || p == loc.id {
            break;
        }
        ancestors.push(p.clone());
        cur = state
            .store
            .get_location(&p)
            .await?
            .and_then(|l| l.parent_id);
    }
    let mut v = serde_json::to_value(&loc).map_err(|e| ApiError::internal(e.to_string()))?;
    v["ancestors"] = json!(ancestors);
    Ok(json_ok(&v))
}

fn read_json(body: Result<Bytes, BytesRejection>) -> ApiResult<Value> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::capture_limit("the body is too large")
        } else {
            ApiError::validation(format!("could not read the body: {e}"))
        }
    })?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("malformed JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::validation("the body must be a JSON object"));
    }
    Ok(v)
}

fn opt_str(v: &Value, k: &str) -> ApiResult<Option<String>> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::validation(format!("{k} must be a string"))),
    }
}

fn opt_num(v: &Value, k: &str) -> ApiResult<Option<f64>> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(ApiError::validation(format!("{k} must be a number"))),
    }
}

pub async fn put_location(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let id = normalise_epc(&path_or_400(id)?);
    let v = read_json(body)?;
    let loc = Location {
        id: id.clone(),
        name: opt_str(&v, "name")?,
        parent_id: opt_str(&v, "parent_id")?.map(|p| normalise_epc(&p)),
        latitude: opt_num(&v, "latitude")?,
        longitude: opt_num(&v, "longitude")?,
        attributes: v.get("attributes").cloned().unwrap_or(Value::Null),
    };
    loc.validate()?;
    state.store.upsert_location(&loc).await?;
    Ok(json_ok(&serde_json::to_value(&loc).unwrap_or(Value::Null)))
}

pub async fn get_product(
    State(state): State<AppState>,
    gtin: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let g = normalise_gtin(&path_or_400(gtin)?)?;
    let p = state
        .store
        .get_product(&g)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no product {g}")))?;
    Ok(json_ok(&serde_json::to_value(&p).unwrap_or(Value::Null)))
}

pub async fn put_product(
    State(state): State<AppState>,
    gtin: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let g = normalise_gtin(&path_or_400(gtin)?)?;
    let v = read_json(body)?;
    let p = Product {
        gtin: g,
        name: opt_str(&v, "name")?,
        owner: opt_str(&v, "owner")?,
        warranty: opt_str(&v, "warranty")?,
        storage_temp_min_c: opt_num(&v, "storage_temp_min_c")?,
        storage_temp_max_c: opt_num(&v, "storage_temp_max_c")?,
        attributes: v.get("attributes").cloned().unwrap_or(Value::Null),
    };
    p.validate()?;
    state.store.upsert_product(&p).await?;
    Ok(json_ok(&serde_json::to_value(&p).unwrap_or(Value::Null)))
}

// ---- GS1 Digital Link resolver ----

fn wants_html(h: &HeaderMap) -> bool {
    let a = h
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let html = a.find("text/html");
    let json = a.find("json");
    match (html, json) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html_page(v: &Value) -> Response {
    let id = v.get("id").and_then(Value::as_str).unwrap_or("");
    let mut rows = String::new();
    if let Some(st) = v.get("state").and_then(Value::as_object) {
        for (k, x) in st {
            let t = match x {
                Value::String(s) => s.clone(),
                Value::Null => "—".into(),
                other => other.to_string(),
            };
            rows.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&t)));
        }
    }
    let mut events = String::new();
    for e in v
        .get("timeline")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(200)
    {
        let f = |k: &str| {
            e.get(k)
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    o => o.to_string(),
                })
                .unwrap_or_default()
        };
        events.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f("event_time")),
            esc(&f("event_type")),
            esc(&f("biz_step")),
            esc(&f("biz_location")),
            if e.get("inferred").and_then(Value::as_bool) == Some(true) {
                "inferred (via container)"
            } else {
                ""
            }
        ));
    }
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{id}</title>\
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}}table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}}</style></head>\
<body><h1>{id}</h1><h2>Current state</h2><table>{rows}</table><h2>History</h2><table><tr><th>time</th><th>event</th><th>step</th><th>location</th><th></th></tr>{events}</table>\
<p><a href=\"/items/{enc}\">JSON</a></p></body></html>",
        id = esc(id),
        enc = esc(&encode_segment(id)),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// Any path that is not a route: a GS1 Digital Link path is resolved, anything else is 404.
pub async fn resolver_fallback(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let path = uri.path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        return resolve(&state, &headers, path, raw.as_deref()).await;
    }
    Err(ApiError::not_found(format!("no resource {path}")))
}

/// Resolves a Digital Link path (`/01/{gtin}/21/{serial}`, `/01/{gtin}/10/{lot}`, `/00/{sscc}`,
/// ...) to the unit (or, for a GTIN or GTIN+lot, the product and its units).
pub(crate) async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    raw: Option<&str>,
) -> ApiResult<Response> {
    let mut link_type: Option<String> = None;
    for (k, v) in pairs(raw)? {
        if k == "linkType" {
            link_type = Some(v);
        }
    }
    let dl = format!("https://id.gs1.org{path}");
    let parsed = unitrace_id::parse_any(&dl)
        .map_err(|e| ApiError::validation(format!("not a valid GS1 Digital Link ({e}): {path}")))?;
    let canonical = parsed.digital_link().unwrap_or(dl.clone());
    match link_type.as_deref() {
        None | Some("gs1:pip") | Some("https://gs1.org/voc/pip") | Some("gs1:defaultLink") => {}
        Some("all") | Some("linkset") => {
            return Ok(json_ok(&json!({"linkset": [{
                "anchor": canonical,
                "https://gs1.org/voc/pip": [{"href": format!("/items/{}", encode_segment(&canonical)), "title": "Unit state and history", "type": "application/json"}],
                "https://gs1.org/voc/defaultLink": [{"href": path}],
            }]})));
        }
        Some(other) => {
            return Err(ApiError::not_found(format!(
                "no link of type {other} for {canonical} (this resolver serves gs1:pip / gs1:defaultLink)"
            )))
        }
    }
    let ais = parsed.ais();
    // A location: GLN, maybe with an extension.
    if ais.iter().any(|(ai, _)| ai == "414") {
        let sgln = unitrace_epcis::epc::dl_to_urn(&canonical)
            .ok_or_else(|| ApiError::not_found(format!("no EPC form for {canonical}")))?;
        let location = state.store.get_location(&sgln).await?;
        let filter = UnitFilter {
            biz_location: Some(sgln.clone()),
            limit: Some(MAX_ITEMS + 1),
            ..Default::default()
        };
        let units = state.store.list_units(&filter).await?;
        if location.is_none() && units.is_empty() {
            return Err(ApiError::not_found(format!(
                "nothing is known about {canonical}"
            )));
        }
        let truncated = units.len() > MAX_ITEMS as usize;
        let list: Vec<Value> = units
            .iter()
            .take(MAX_ITEMS as usize)
            .map(|u| json!({"id": u.epc, "state": state_json(u)}))
            .collect();
        return Ok(json_ok(&json!({
            "digital_link": canonical,
            "location_id": sgln,
            "location": location,
            "items": list,
            "truncated": truncated,
        })));
    }
    if parsed.identity.is_some() {
        let (key, identity) = identify(&dl)?;
        let v = item_json(state, &key, identity).await?;
        return Ok(if wants_html(headers) {
            html_page(&v)
        } else {
            json_ok(&v)
        });
    }
    // A class: GTIN, maybe with a lot.
    let gtin = ais
        .iter()
        .find(|(ai, _)| ai == "01")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ApiError::not_found(format!("nothing is known about {canonical}")))?;
    let lot = ais
        .iter()
        .find(|(ai, _)| ai == "10")
        .map(|(_, v)| v.clone());
    let product = state.store.get_product(&gtin).await?;
    let filter = UnitFilter {
        epc_prefix: Some(gtin_prefix(&gtin)?),
        lot: lot.clone(),
        limit: Some(MAX_ITEMS + 1),
        ..Default::default()
    };
    let units = state.store.list_units(&filter).await?;
    if product.is_none() && units.is_empty() {
        return Err(ApiError::not_found(format!(
            "nothing is known about {canonical}"
        )));
    }
    let truncated = units.len() > MAX_ITEMS as usize;
    let list: Vec<Value> = units
        .iter()
        .take(MAX_ITEMS as usize)
        .map(|u| json!({"id": u.epc, "state": state_json(u)}))
        .collect();
    Ok(json_ok(&json!({
        "digital_link": canonical,
        "gtin": gtin,
        "lot": lot,
        "product": product,
        "items": list,
        "truncated": truncated,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_detect_tampering() {
        let t = encode_token("urn:epc:id:sgtin:0614141.107346.2017");
        assert_eq!(
            decode_token(&t).unwrap(),
            "urn:epc:id:sgtin:0614141.107346.2017"
        );
        let mut bad = t.clone();
        bad.replace_range(10..12, "41");
        assert!(decode_token(&bad).is_err());
        assert!(decode_token("zz").is_err());
    }

    #[test]
    fn gtins() {
        assert_eq!(normalise_gtin("10614141073464").unwrap(), "10614141073464");
        assert!(normalise_gtin("10614141073465").is_err());
        assert_eq!(
            gtin_prefix("10614141073464").unwrap(),
            "urn:epc:id:sgtin:0614141.107346."
        );
    }
}
