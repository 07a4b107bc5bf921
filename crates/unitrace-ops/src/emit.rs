//! The EPCIS events the workflows write, built as EPCIS 2.0 JSON-LD and captured through the
//! public capture path (validation, hash IDs, state), like any partner's events.

use serde_json::{json, Map, Value};
use unitrace_capture::{capture_document, CaptureError, CaptureMode, CaptureResult};
use unitrace_store::Store;

use crate::{OpsError, OpsResult};

/// Namespace of unitrace's own event fields (e.g. `unitrace:recall`).
pub const UNITRACE_NS: &str = "https://unitrace.dev/ns/ops#";

/// EPCs per event written by a workflow (a larger set is split over several events).
pub const EPCS_PER_EVENT: usize = 5_000;

/// One ObjectEvent a workflow writes. CBV values are bare words (`commissioning`, `recalled`).
#[derive(Debug, Clone, Default)]
pub struct ObjectEventSpec {
    /// Event time, milliseconds since the epoch (UTC).
    pub event_time_ms: i64,
    /// `ADD`, `OBSERVE` or `DELETE`.
    pub action: &'static str,
    pub epcs: Vec<String>,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    pub read_point: Option<String>,
    pub biz_location: Option<String>,
    /// Lot (ILMD `cbvmda:lotNumber`); only with ADD.
    pub lot: Option<String>,
    /// Expiry `YYYY-MM-DD` (ILMD `cbvmda:itemExpirationDate`); only with ADD.
    pub expiry: Option<String>,
    pub persistent_disposition_set: Vec<String>,
    pub persistent_disposition_unset: Vec<String>,
    /// (type as a bare CBV word, value) pairs.
    pub biz_transactions: Vec<(String, String)>,
    /// unitrace fields, written as `unitrace:<name>` (e.g. `("recall", "R-1")`).
    pub fields: Vec<(String, Value)>,
}

fn time_text(ms: i64) -> String {
    unitrace_epcis::time::Instant::format_millis(ms.div_euclid(1000), ms.rem_euclid(1000) as u32)
}

/// The JSON-LD events of a spec: one per [`EPCS_PER_EVENT`] EPCs (at least one).
pub fn object_events(spec: &ObjectEventSpec) -> Vec<Value> {
    let chunks: Vec<&[String]> = if spec.epcs.is_empty() {
        vec![&[]]
    } else {
        spec.epcs.chunks(EPCS_PER_EVENT).collect()
    };
    chunks
        .into_iter()
        .map(|epcs| {
            let mut e = Map::new();
            e.insert("type".into(), json!("ObjectEvent"));
            e.insert("eventTime".into(), json!(time_text(spec.event_time_ms)));
            e.insert("eventTimeZoneOffset".into(), json!("+00:00"));
            e.insert("epcList".into(), json!(epcs));
            e.insert("action".into(), json!(spec.action));
            if let Some(v) = &spec.biz_step {
                e.insert("bizStep".into(), json!(v));
            }
            if let Some(v) = &spec.disposition {
                e.insert("disposition".into(), json!(v));
            }
            if !spec.persistent_disposition_set.is_empty()
                || !spec.persistent_disposition_unset.is_empty()
            {
                let mut p = Map::new();
                if !spec.persistent_disposition_set.is_empty() {
                    p.insert("set".into(), json!(spec.persistent_disposition_set));
                }
                if !spec.persistent_disposition_unset.is_empty() {
                    p.insert("unset".into(), json!(spec.persistent_disposition_unset));
                }
                e.insert("persistentDisposition".into(), Value::Object(p));
            }
            if let Some(v) = &spec.read_point {
                e.insert("readPoint".into(), json!({ "id": v }));
            }
            if let Some(v) = &spec.biz_location {
                e.insert("bizLocation".into(), json!({ "id": v }));
            }
            if !spec.biz_transactions.is_empty() {
                let list: Vec<Value> = spec
                    .biz_transactions
                    .iter()
                    .map(|(t, v)| json!({ "type": t, "bizTransaction": v }))
                    .collect();
                e.insert("bizTransactionList".into(), json!(list));
            }
            if spec.lot.is_some() || spec.expiry.is_some() {
                let mut ilmd = Map::new();
                if let Some(l) = &spec.lot {
                    ilmd.insert("cbvmda:lotNumber".into(), json!(l));
                }
                if let Some(x) = &spec.expiry {
                    ilmd.insert("cbvmda:itemExpirationDate".into(), json!(x));
                }
                e.insert("ilmd".into(), Value::Object(ilmd));
            }
            for (k, v) in &spec.fields {
                e.insert(format!("unitrace:{k}"), v.clone());
            }
            Value::Object(e)
        })
        .collect()
}

/// An EPCIS 2.0 document holding `events`, with the unitrace namespace in its context.
pub fn document(events: Vec<Value>, creation_ms: i64) -> Value {
    json!({
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            { "unitrace": UNITRACE_NS }
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": time_text(creation_ms),
        "epcisBody": { "eventList": events }
    })
}

/// Capture the events of `specs` as one all-or-nothing document. An event the library or the
/// store refuses is a bug of the workflow or a conflict with stored data: nothing is stored and
/// the error says which event and why.
pub async fn capture(
    store: &dyn Store,
    specs: &[ObjectEventSpec],
    now_ms: i64,
) -> OpsResult<CaptureResult> {
    let events: Vec<Value> = specs.iter().flat_map(object_events).collect();
    let doc = document(events, now_ms);
    let bytes = serde_json::to_vec(&doc)
        .map_err(|e| OpsError::Invalid(format!("cannot write the event document: {e}")))?;
    let res = capture_document(store, &bytes, CaptureMode::Rollback)
        .await
        .map_err(|e| match e {
            CaptureError::Store(s) => OpsError::Store(s),
            CaptureError::Invalid(p) => OpsError::Invalid(format!(
                "the events of this operation are not valid EPCIS: {}",
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            e @ CaptureError::TooManyEvents { .. } => OpsError::Invalid(e.to_string()),
        })?;
    if let Some((i, o)) = res.report.first_failure() {
        return Err(OpsError::Conflict(format!(
            "event {i} of this operation was refused: {}",
            unitrace_capture::describe_outcome(o)
        )));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_validate_and_split() {
        let spec = ObjectEventSpec {
            event_time_ms: 1_700_000_000_000,
            action: "ADD",
            epcs: (0..EPCS_PER_EVENT + 1)
                .map(|i| format!("urn:epc:id:sgtin:0614141.012345.S{i}"))
                .collect(),
            biz_step: Some("commissioning".into()),
            disposition: Some("active".into()),
            read_point: Some("urn:epc:id:sgln:0614141.00777.0".into()),
            biz_location: Some("urn:epc:id:sgln:0614141.00777.0".into()),
            lot: Some("L1".into()),
            expiry: Some("2027-01-31".into()),
            biz_transactions: vec![("po".into(), "urn:epcglobal:cbv:bt:0614141000005:PO1".into())],
            fields: vec![("allocation".into(), json!("A-1"))],
            ..Default::default()
        };
        let events = object_events(&spec);
        assert_eq!(events.len(), 2);
        let doc = serde_json::to_vec(&document(events, 1_700_000_000_000)).unwrap();
        let hashes = unitrace_epcis::validate_and_hash(&doc).expect("valid EPCIS");
        assert_eq!(hashes.len(), 2);
        assert_ne!(hashes[0], hashes[1]);
    }
}
