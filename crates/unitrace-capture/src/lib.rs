//! The capture pipeline shared by the server, the demo loader and benchmarks:
//! EPCIS document bytes (JSON-LD or XML) -> validated and hashed in one pass -> each event
//! projected to the store's flat [`CaptureEvent`] -> captured.
//!
//! Identifiers are normalised so that one unit has one key whatever form it was written in:
//! EPC fields, `parentID`, `readPoint` and `bizLocation` become EPC URNs where the identifier has
//! one (a GS1 Digital Link is converted with the company-prefix table), otherwise the canonical
//! Digital Link, otherwise the value as given. Standard CBV values (bizStep, disposition, business
//! transaction / source / destination types, error reasons) become the bare CBV word whatever form
//! they were written in; user vocabularies stay as given. [`normalise_epc`] and [`normalise_cbv`]
//! are public so that query parameters can be normalised the same way.

use serde_json::{Map, Value};
use unitrace_epcis::time::parse_instant;
use unitrace_epcis::vocab::{VocabKind, VocabValue};
use unitrace_epcis::{for_each_event, Item, Problem};
use unitrace_store::limits::{MAX_EVENTS_PER_CAPTURE, MAX_LIST_LEN};
use unitrace_store::{
    Action, CaptureEvent, CaptureOutcome, EpcRole, ErrorDeclaration, EventType, Location, Product,
    QuantityRole, QuantityRow, SensorReport, Store, StoreError,
};

pub use unitrace_store::{CaptureMode, CaptureReport};

/// Why a document was not captured as a whole.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The document is not valid EPCIS 2.0; nothing was stored. Every problem names the event
    /// (index, eventID) and the JSON pointer of the failing member.
    #[error("invalid document: {}", .0.first().map(ToString::to_string).unwrap_or_default())]
    Invalid(Vec<Problem>),
    /// More events than one capture may hold.
    #[error("capture limit exceeded: {count} events, at most {limit} per capture")]
    TooManyEvents { count: usize, limit: usize },
    /// The store failed (or refused the request as a whole).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of [`capture_document`]: the store's per-event report plus the hash IDs.
#[derive(Debug, Clone)]
pub struct CaptureResult {
    /// Hash ID of every event, in document order.
    pub hash_ids: Vec<String>,
    /// eventID of every event, if it has one.
    pub event_ids: Vec<Option<String>>,
    pub report: CaptureReport,
    /// Master-data entries (locations, products) taken from the header and stored.
    pub master_data: usize,
}

impl CaptureResult {
    /// True when no event failed (duplicates are not failures).
    pub fn is_success(&self) -> bool {
        self.report.first_failure().is_none()
    }
}

/// A document read, validated, hashed and projected, ready for [`Store::capture`].
#[derive(Debug, Clone)]
pub struct Prepared {
    pub events: Vec<CaptureEvent>,
    pub locations: Vec<Location>,
    pub products: Vec<Product>,
}

/// Reads, validates, hashes and projects a whole document (no IO). `max_events` bounds the
/// number of events (the capture fails fast once it is passed).
pub fn prepare_document(bytes: &[u8], max_events: usize) -> Result<Prepared, CaptureError> {
    let max_events = max_events.min(MAX_EVENTS_PER_CAPTURE);
    // Pass 1: the events (bounded in number) and the skeleton.
    let mut raw: Vec<Value> = Vec::new();
    let mut count = 0usize;
    let res = for_each_event(bytes, |item| {
        if let Item::Event(_, e) = item {
            count += 1;
            if count <= max_events {
                raw.push(e);
            }
        }
    });
    if count > max_events {
        return Err(CaptureError::TooManyEvents {
            count,
            limit: max_events,
        });
    }
    // Pass 2: validation and the event hash IDs, as the EPCIS library defines them (the hash of
    // an XML event depends on the namespaces as written, which only that pass sees).
    let hashes = unitrace_epcis::validate_and_hash(bytes).map_err(CaptureError::Invalid)?;
    let header =
        res.map_err(|e| CaptureError::Invalid(vec![Problem::document("", e.to_string())]))?;
    if hashes.len() != raw.len() {
        return Err(CaptureError::Invalid(vec![Problem::document(
            "",
            format!(
                "internal: {} events read but {} hashes computed",
                raw.len(),
                hashes.len()
            ),
        )]));
    }
    let extra_context = header.get("@context").and_then(namespaces_of);
    let mut problems = Vec::new();
    let mut events = Vec::with_capacity(raw.len());
    for (i, (mut e, hash_id)) in raw.into_iter().zip(hashes).enumerate() {
        if let (Some(extra), Some(obj)) = (&extra_context, e.as_object_mut()) {
            if !obj.contains_key("@context") {
                obj.insert("@context".into(), extra.clone());
            }
        }
        match project(&e, hash_id) {
            Ok(ev) => events.push(ev),
            Err(p) => {
                problems.push(Problem {
                    event_index: Some(i),
                    event_id: e.get("eventID").and_then(Value::as_str).map(str::to_owned),
                    pointer: format!("/epcisBody/eventList/{i}{}", p.pointer),
                    message: p.message,
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(CaptureError::Invalid(problems));
    }
    let (locations, products) = master_data(&header);
    Ok(Prepared {
        events,
        locations,
        products,
    })
}

/// Validates, hashes and projects a document and captures it into `store`.
///
/// An invalid document stores nothing. In [`CaptureMode::Rollback`] a document whose events the
/// store refuses (conflicting eventID, over a store limit) stores nothing either; in
/// [`CaptureMode::Proceed`] the good events are stored. Header master data is stored after the
/// events, and only when the document's events were stored (or were duplicates).
pub async fn capture_document(
    store: &dyn Store,
    bytes: &[u8],
    mode: CaptureMode,
) -> Result<CaptureResult, CaptureError> {
    capture_document_limited(store, bytes, mode, MAX_EVENTS_PER_CAPTURE).await
}

/// [`capture_document`] with a lower bound on events per capture.
pub async fn capture_document_limited(
    store: &dyn Store,
    bytes: &[u8],
    mode: CaptureMode,
    max_events: usize,
) -> Result<CaptureResult, CaptureError> {
    let prepared = prepare_document(bytes, max_events)?;
    capture_prepared(store, prepared, mode).await
}

/// Captures an already prepared document.
pub async fn capture_prepared(
    store: &dyn Store,
    prepared: Prepared,
    mode: CaptureMode,
) -> Result<CaptureResult, CaptureError> {
    let hash_ids = prepared.events.iter().map(|e| e.hash_id.clone()).collect();
    let event_ids = prepared.events.iter().map(|e| e.event_id.clone()).collect();
    let report = if prepared.events.is_empty() {
        CaptureReport {
            outcomes: Vec::new(),
        }
    } else {
        store.capture(prepared.events, mode).await?
    };
    let mut master = 0;
    let failed = report.first_failure().is_some() && mode == CaptureMode::Rollback;
    if !failed {
        for l in &prepared.locations {
            store.upsert_location(l).await?;
            master += 1;
        }
        for p in &prepared.products {
            store.upsert_product(p).await?;
            master += 1;
        }
    }
    Ok(CaptureResult {
        hash_ids,
        event_ids,
        report,
        master_data: master,
    })
}

/// A description of one outcome for people.
pub fn describe_outcome(o: &CaptureOutcome) -> String {
    match o {
        CaptureOutcome::Stored { .. } => "stored".into(),
        CaptureOutcome::Duplicate => {
            "duplicate: an event with this hash ID is already stored".into()
        }
        CaptureOutcome::Conflict {
            event_id,
            stored_hash_id,
        } => format!(
            "conflict: eventID {event_id} is already stored with another hash ID ({stored_hash_id})"
        ),
        CaptureOutcome::Invalid(why) => format!("invalid: {why}"),
        CaptureOutcome::RolledBack => {
            "not stored: another event of the document failed (rollback)".into()
        }
    }
}

/// The user namespaces of a document `@context` (object members that map a prefix to a URI), as
/// an object to attach to stored events so that their extension members stay interpretable.
fn namespaces_of(c: &Value) -> Option<Value> {
    let mut out = Map::new();
    let mut add = |v: &Value| {
        if let Value::Object(m) = v {
            for (k, v) in m {
                if !k.starts_with('@') && v.is_string() {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    };
    match c {
        Value::Array(a) => a.iter().for_each(&mut add),
        v => add(v),
    }
    if out.is_empty() {
        None
    } else {
        Some(Value::Object(out))
    }
}

// ---------------------------------------------------------------------------------------------
// Normalisation

/// The store key of an identifier written in any form: the EPC URN where one exists (a GS1
/// Digital Link is converted), else the canonical Digital Link, else the trimmed value as given.
pub fn normalise_epc(value: &str) -> String {
    let v = value.trim();
    if v.starts_with("urn:epc:") {
        return v.to_string();
    }
    if v.starts_with("http://") || v.starts_with("https://") {
        if let Some(urn) = unitrace_epcis::epc::dl_to_urn(v) {
            if urn.starts_with("urn:epc:id:") || urn.starts_with("urn:epc:class:") {
                return urn;
            }
        }
        if let Some(dl) = unitrace_epcis::epc::canonical_dl(v) {
            return dl;
        }
        return v.to_string();
    }
    // Element strings, scan data, hex: anything the identifier library reads.
    if v.starts_with('(') || v.starts_with(']') || v.starts_with('^') || v.starts_with("hex:") {
        if let Ok(p) = unitrace_id::parse_any(v) {
            if let Ok(urn) = p.epc_uri(&unitrace_id::gcp::GcpResolver::new()) {
                return urn;
            }
            if let Some(dl) = p.digital_link() {
                return dl;
            }
        }
    }
    v.to_string()
}

/// A class-level identifier (`epcClass`): LGTIN class URN or SGTIN pattern where derivable.
pub fn normalise_class(value: &str) -> String {
    let v = value.trim();
    if v.starts_with("http://") || v.starts_with("https://") {
        if let Some(urn) = unitrace_epcis::epc::dl_to_urn(v) {
            return urn;
        }
    }
    v.to_string()
}

/// The bare CBV word for a standard value in any form; other values as given.
pub fn normalise_cbv(kind: VocabKind, value: &str) -> String {
    match kind.classify(value) {
        VocabValue::Standard(t) => t.to_string(),
        _ => value.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Projection

/// Why an event could not be projected (the validator normally catches these first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectError {
    /// JSON pointer within the event.
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for ProjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

impl std::error::Error for ProjectError {}

fn perr(pointer: &str, message: impl Into<String>) -> ProjectError {
    ProjectError {
        pointer: pointer.to_string(),
        message: message.into(),
    }
}

fn str_at<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

fn time_ms(s: &str, pointer: &str) -> Result<i64, ProjectError> {
    parse_instant(s)
        .map(|(i, _)| i.unix_millis())
        .map_err(|e| perr(pointer, format!("not a dateTime ({e}): {s:?}")))
}

fn list<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], ProjectError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => {
            if a.len() > MAX_LIST_LEN && !key.to_ascii_lowercase().contains("epc") {
                return Err(perr(
                    &format!("/{key}"),
                    format!("more than {MAX_LIST_LEN} entries"),
                ));
            }
            Ok(a)
        }
        Some(_) => Err(perr(&format!("/{key}"), "must be an array")),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The ILMD member `name` of the CBV master-data vocabulary (`cbvmda:`), in any spelling.
fn ilmd_value<'a>(ilmd: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    for (k, v) in ilmd {
        let local = k
            .strip_prefix("cbvmda:")
            .or_else(|| k.strip_prefix("urn:epcglobal:cbv:mda:"))
            .or_else(|| k.strip_prefix("urn:epcglobal:cbv:mda#"))
            .or_else(|| k.strip_prefix("https://ref.gs1.org/cbv/mda/"))
            .or_else(|| k.strip_prefix("https://gs1.org/voc/"))
            .or_else(|| k.strip_prefix("gs1:"));
        if local == Some(name) {
            return Some(v);
        }
    }
    None
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(m) => m.get("@value").and_then(scalar_text),
        _ => None,
    }
}

/// Projects one EPCIS JSON-LD event into the store's flat [`CaptureEvent`]. The event document
/// is kept as given (identifiers as written); the projected fields are normalised.
pub fn project(event: &Value, hash_id: String) -> Result<CaptureEvent, ProjectError> {
    let m = event
        .as_object()
        .ok_or_else(|| perr("", "an event must be a JSON object"))?;
    let ty = str_at(m, "type").ok_or_else(|| perr("/type", "missing"))?;
    let event_type =
        EventType::parse(ty).ok_or_else(|| perr("/type", format!("unknown event type {ty:?}")))?;
    let t = str_at(m, "eventTime").ok_or_else(|| perr("/eventTime", "missing"))?;
    let event_time = time_ms(t, "/eventTime")?;
    let mut ev = CaptureEvent::new(hash_id, event_type, event_time);
    if let Some(tz) = str_at(m, "eventTimeZoneOffset") {
        ev.event_time_zone_offset = tz.to_string();
    }
    ev.event_id = str_at(m, "eventID").map(str::to_owned);
    if let Some(a) = str_at(m, "action") {
        ev.action =
            Some(Action::parse(a).ok_or_else(|| perr("/action", format!("unknown action {a:?}")))?);
    }
    ev.biz_step = str_at(m, "bizStep").map(|s| normalise_cbv(VocabKind::BizStep, s));
    ev.disposition = str_at(m, "disposition").map(|s| normalise_cbv(VocabKind::Disposition, s));
    if let Some(pd) = m.get("persistentDisposition").and_then(Value::as_object) {
        for (key, out) in [
            ("set", &mut ev.persistent_disposition_set),
            ("unset", &mut ev.persistent_disposition_unset),
        ] {
            for v in list(pd, key)? {
                if let Some(s) = v.as_str() {
                    out.push(normalise_cbv(VocabKind::Disposition, s));
                }
            }
        }
    }
    let id_of = |key: &str| -> Option<String> {
        match m.get(key)? {
            Value::Object(o) => o.get("id").and_then(Value::as_str).map(normalise_epc),
            Value::String(s) => Some(normalise_epc(s)),
            _ => None,
        }
    };
    ev.read_point = id_of("readPoint");
    ev.biz_location = id_of("bizLocation");

    if let Some(p) = str_at(m, "parentID") {
        ev.epcs.push((EpcRole::ParentId, normalise_epc(p)));
    }
    for (key, role) in [
        ("epcList", EpcRole::Epc),
        ("childEPCs", EpcRole::ChildEpc),
        ("inputEPCList", EpcRole::InputEpc),
        ("outputEPCList", EpcRole::OutputEpc),
    ] {
        for (i, v) in list(m, key)?.iter().enumerate() {
            let s = v
                .as_str()
                .ok_or_else(|| perr(&format!("/{key}/{i}"), "must be a string"))?;
            ev.epcs.push((role, normalise_epc(s)));
        }
    }
    for (key, role) in [
        ("quantityList", QuantityRole::Quantity),
        ("childQuantityList", QuantityRole::ChildQuantity),
        ("inputQuantityList", QuantityRole::InputQuantity),
        ("outputQuantityList", QuantityRole::OutputQuantity),
    ] {
        for (i, q) in list(m, key)?.iter().enumerate() {
            let c = q
                .get("epcClass")
                .and_then(Value::as_str)
                .ok_or_else(|| perr(&format!("/{key}/{i}/epcClass"), "missing"))?;
            ev.quantities.push(QuantityRow {
                role,
                epc_class: normalise_class(c),
                quantity: number(q.get("quantity")),
                uom: q.get("uom").and_then(Value::as_str).map(str::to_owned),
            });
        }
    }
    for (key, member, kind, out) in [
        (
            "bizTransactionList",
            "bizTransaction",
            VocabKind::BizTransactionType,
            &mut ev.biz_transactions,
        ),
        (
            "sourceList",
            "source",
            VocabKind::SourceDestType,
            &mut ev.sources,
        ),
        (
            "destinationList",
            "destination",
            VocabKind::SourceDestType,
            &mut ev.destinations,
        ),
    ] {
        for e in list(m, key)? {
            let ty = e
                .get("type")
                .and_then(Value::as_str)
                .map(|t| normalise_cbv(kind, t))
                .unwrap_or_default();
            if let Some(v) = e.get(member).and_then(Value::as_str) {
                let v = if key == "bizTransactionList" {
                    v.to_string()
                } else {
                    normalise_epc(v)
                };
                out.push((ty, v));
            }
        }
    }
    ev.transformation_id = str_at(m, "transformationID").map(str::to_owned);
    if let Some(ilmd) = m.get("ilmd").and_then(Value::as_object) {
        ev.ilmd_lot = ilmd_value(ilmd, "lotNumber").and_then(scalar_text);
        ev.ilmd_expiry = ilmd_value(ilmd, "itemExpirationDate").and_then(scalar_text);
    }
    if let Some(ed) = m.get("errorDeclaration").and_then(Value::as_object) {
        let dt = str_at(ed, "declarationTime")
            .ok_or_else(|| perr("/errorDeclaration/declarationTime", "missing"))?;
        ev.error_declaration = Some(ErrorDeclaration {
            declaration_time: time_ms(dt, "/errorDeclaration/declarationTime")?,
            reason: str_at(ed, "reason").map(|r| normalise_cbv(VocabKind::ErrorReason, r)),
            corrective_event_ids: list(ed, "correctiveEventIDs")?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        });
    }
    for (i, se) in list(m, "sensorElementList")?.iter().enumerate() {
        let Some(se) = se.as_object() else {
            return Err(perr(
                &format!("/sensorElementList/{i}"),
                "must be an object",
            ));
        };
        let meta = se.get("sensorMetadata").and_then(Value::as_object);
        let meta_time = meta.and_then(|m| str_at(m, "time"));
        let meta_device = meta.and_then(|m| str_at(m, "deviceID"));
        let meta_ms = |k: &str| -> Result<Option<i64>, _> {
            match meta.and_then(|m| str_at(m, k)) {
                Some(t) => {
                    time_ms(t, &format!("/sensorElementList/{i}/sensorMetadata/{k}")).map(Some)
                }
                None => Ok(None),
            }
        };
        let period = (meta_ms("startTime")?, meta_ms("endTime")?);
        if period != (None, None) {
            ev.sensor_periods.push(period);
        }
        for (j, r) in list(se, "sensorReport")?.iter().enumerate() {
            let Some(r) = r.as_object() else {
                return Err(perr(
                    &format!("/sensorElementList/{i}/sensorReport/{j}"),
                    "must be an object",
                ));
            };
            let time = match str_at(r, "time").or(meta_time) {
                Some(t) => Some(time_ms(
                    t,
                    &format!("/sensorElementList/{i}/sensorReport/{j}/time"),
                )?),
                None => None,
            };
            ev.sensor_reports.push(SensorReport {
                report_type: str_at(r, "type")
                    .map(|t| normalise_cbv(VocabKind::MeasurementType, t)),
                device_id: str_at(r, "deviceID").or(meta_device).map(str::to_owned),
                value: number(r.get("value")),
                min_value: number(r.get("minValue")),
                max_value: number(r.get("maxValue")),
                mean_value: number(r.get("meanValue")),
                uom: str_at(r, "uom").map(str::to_owned),
                time,
            });
        }
    }
    ev.document = event.clone();
    Ok(ev)
}

// ---------------------------------------------------------------------------------------------
// Header master data

const MAX_MASTER_DATA: usize = 10_000;

fn attr_local(id: &str) -> &str {
    id.rsplit(['#', ':', '/']).next().unwrap_or(id)
}

/// Locations and products from `epcisHeader.epcisMasterData.vocabularyList`: BusinessLocation and
/// ReadPoint vocabularies become locations (a `children` list sets the hierarchy), EPCClass
/// vocabularies with a GTIN become products.
pub fn master_data(header: &Map<String, Value>) -> (Vec<Location>, Vec<Product>) {
    let mut locations: Vec<Location> = Vec::new();
    let mut products: Vec<Product> = Vec::new();
    let Some(vocabs) = header
        .get("epcisHeader")
        .and_then(|h| h.get("epcisMasterData"))
        .and_then(|m| m.get("vocabularyList"))
        .and_then(Value::as_array)
    else {
        return (locations, products);
    };
    for vocab in vocabs {
        let ty = vocab.get("type").and_then(Value::as_str).unwrap_or("");
        let kind = attr_local(ty);
        let Some(elements) = vocab.get("vocabularyElementList").and_then(Value::as_array) else {
            continue;
        };
        for el in elements {
            if locations.len() + products.len() >= MAX_MASTER_DATA {
                return (locations, products);
            }
            let Some(id) = el.get("id").and_then(Value::as_str) else {
                continue;
            };
            let mut attrs = Map::new();
            let mut name = None;
            for a in el
                .get("attributes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(aid) = a.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let val = a.get("attribute").cloned().unwrap_or(Value::Null);
                let local = attr_local(aid);
                if matches!(local, "name" | "locationName" | "descriptionShort") && name.is_none() {
                    name = val.as_str().map(str::to_owned);
                }
                attrs.insert(aid.to_string(), val);
            }
            let attributes = if attrs.is_empty() {
                Value::Null
            } else {
                Value::Object(attrs)
            };
            match kind {
                "BusinessLocation" | "ReadPoint" | "Location" => {
                    let key = normalise_epc(id);
                    let mut loc = Location::new(key.clone(), None);
                    loc.name = name;
                    loc.attributes = attributes;
                    let children: Vec<String> = el
                        .get("children")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(normalise_epc))
                        .collect();
                    locations.push(loc);
                    for c in children {
                        if c == key {
                            continue;
                        }
                        match locations.iter_mut().find(|l| l.id == c) {
                            Some(l) => l.parent_id = Some(key.clone()),
                            None => locations.push(Location::new(c, Some(&key))),
                        }
                    }
                }
                "EPCClass" => {
                    if let Some(gtin) = gtin_of_class(id) {
                        products.push(Product {
                            gtin,
                            name,
                            owner: None,
                            warranty: None,
                            storage_temp_min_c: None,
                            storage_temp_max_c: None,
                            attributes,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    // A child listed before its own element keeps the parent given by the list.
    locations.retain(|l| l.validate().is_ok());
    products.retain(|p| p.validate().is_ok());
    (locations, products)
}

/// The 14-digit GTIN of a class identifier (Digital Link, SGTIN pattern or LGTIN class URN).
pub fn gtin_of_class(id: &str) -> Option<String> {
    let dl = unitrace_epcis::epc::normalise_to_dl(id)?;
    let rest = dl.strip_prefix("https://id.gs1.org/01/")?;
    let gtin = rest.split('/').next()?;
    (gtin.len() == 14 && gtin.bytes().all(|b| b.is_ascii_digit())).then(|| gtin.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_unit_one_key() {
        let urn = "urn:epc:id:sgtin:0614141.107346.2017";
        assert_eq!(normalise_epc(urn), urn);
        assert_eq!(
            normalise_epc("https://id.gs1.org/01/10614141073464/21/2017"),
            urn
        );
        assert_eq!(
            normalise_epc("https://example.com/01/10614141073464/21/2017"),
            urn
        );
    }

    #[test]
    fn cbv_values_become_bare_words() {
        for v in [
            "shipping",
            "urn:epcglobal:cbv:bizstep:shipping",
            "https://ref.gs1.org/cbv/BizStep-shipping",
        ] {
            assert_eq!(normalise_cbv(VocabKind::BizStep, v), "shipping");
        }
        assert_eq!(
            normalise_cbv(VocabKind::BizStep, "https://example.com/step"),
            "https://example.com/step"
        );
    }

    #[test]
    fn projection_reads_ilmd_in_both_forms() {
        for key in ["cbvmda:lotNumber", "urn:epcglobal:cbv:mda:lotNumber"] {
            let ev = serde_json::json!({
                "type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
                "eventTimeZoneOffset": "+00:00", "action": "ADD",
                "epcList": ["https://id.gs1.org/01/10614141073464/21/2017"],
                "bizStep": "urn:epcglobal:cbv:bizstep:commissioning",
                "bizLocation": {"id": "https://id.gs1.org/414/0614141073467/254/1234"},
                "ilmd": { key: "LOT1", "cbvmda:itemExpirationDate": "2026-01-01" }
            });
            let c = project(&ev, "ni:///x".into()).unwrap();
            assert_eq!(c.ilmd_lot.as_deref(), Some("LOT1"));
            assert_eq!(c.ilmd_expiry.as_deref(), Some("2026-01-01"));
            assert_eq!(c.biz_step.as_deref(), Some("commissioning"));
            assert_eq!(
                c.biz_location.as_deref(),
                Some("urn:epc:id:sgln:0614141.07346.1234")
            );
            assert_eq!(
                c.epcs,
                vec![(
                    EpcRole::Epc,
                    "urn:epc:id:sgtin:0614141.107346.2017".to_string()
                )]
            );
        }
    }

    #[test]
    fn not_an_object_is_an_error_not_a_panic() {
        assert!(project(&Value::Null, String::new()).is_err());
        assert!(project(&serde_json::json!({"type": "X"}), String::new()).is_err());
    }
}
