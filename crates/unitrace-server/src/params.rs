//! EPCIS REST query parameters -> the store's [`EventQuery`]. Unknown parameters are refused.
//! Identifier and CBV values are normalised as capture normalises them, so a query in any form
//! finds events captured in any form.

use serde_json::Value;
use unitrace_capture::{normalise_cbv, normalise_class, normalise_epc};
use unitrace_epcis::time::parse_instant;
use unitrace_epcis::vocab::VocabKind;
use unitrace_store::limits::MAX_QUERY_VALUES;
use unitrace_store::{
    Action, CmpOp, EventQuery, EventType, OrderBy, OrderDirection, SensorField, SensorValueFilter,
};

use crate::problem::{ApiError, ApiResult};

/// Most parameters in one request.
pub const MAX_PARAMS: usize = 200;

/// Decoded `name=value` pairs of a query string.
pub fn pairs(raw: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let out: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .take(MAX_PARAMS + 1)
        .collect();
    if out.len() > MAX_PARAMS {
        return Err(ApiError::query_param(format!(
            "more than {MAX_PARAMS} query parameters"
        )));
    }
    Ok(out)
}

/// The named-query body (`{"EQ_bizStep": ["shipping"], "perPage": 10}`) as pairs.
pub fn pairs_of_json(q: &Value) -> ApiResult<Vec<(String, String)>> {
    let obj = q
        .as_object()
        .ok_or_else(|| ApiError::query_param("the query must be a JSON object of parameters"))?;
    let mut out = Vec::new();
    for (k, v) in obj {
        let mut push = |v: &Value| -> ApiResult<()> {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(ApiError::query_param(format!(
                        "{k}: values must be strings, numbers or booleans"
                    )))
                }
            };
            out.push((k.clone(), s));
            Ok(())
        };
        match v {
            Value::Array(a) => {
                for x in a {
                    push(x)?;
                }
            }
            v => push(v)?,
        }
        if out.len() > MAX_PARAMS * MAX_QUERY_VALUES {
            return Err(ApiError::query_param("too many values"));
        }
    }
    Ok(out)
}

fn values(v: &str) -> impl Iterator<Item = &str> {
    // Lists are comma-separated (style: form, explode: false) or repeated; both are accepted.
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn time(name: &str, v: &str) -> ApiResult<i64> {
    parse_instant(v)
        .map(|(i, _)| i.unix_millis())
        .map_err(|e| ApiError::query_param(format!("{name}: not a dateTime ({e}): {v:?}")))
}

fn num(name: &str, v: &str) -> ApiResult<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| ApiError::query_param(format!("{name}: not a number: {v:?}")))
}

fn positive(name: &str, v: &str) -> ApiResult<u64> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::query_param(format!("{name}: must be a positive integer: {v:?}")))
}

fn boolean(name: &str, v: &str) -> ApiResult<bool> {
    match v.trim() {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::query_param(format!(
            "{name}: must be true or false"
        ))),
    }
}

fn cmp_prefix(name: &str) -> Option<(CmpOp, &str)> {
    for (p, op) in [
        ("EQ_", CmpOp::Eq),
        ("GT_", CmpOp::Gt),
        ("GE_", CmpOp::Ge),
        ("LT_", CmpOp::Lt),
        ("LE_", CmpOp::Le),
    ] {
        if let Some(rest) = name.strip_prefix(p) {
            return Some((op, rest));
        }
    }
    None
}

fn epc_value(v: &str) -> String {
    if v.contains('*') {
        v.to_string()
    } else {
        normalise_epc(v)
    }
}

/// Which query parameters the store understands.
pub fn to_event_query(pairs: &[(String, String)], max_per_page: u32) -> ApiResult<EventQuery> {
    let mut q = EventQuery::default();
    for (name, v) in pairs {
        let n = name.as_str();
        let list = |out: &mut Vec<String>, f: &dyn Fn(&str) -> String| {
            out.extend(values(v).map(f));
        };
        match n {
            "eventType" => {
                for t in values(v) {
                    q.event_types.push(EventType::parse(t).ok_or_else(|| {
                        ApiError::query_param(format!("eventType: unknown event type {t:?}"))
                    })?);
                }
            }
            "GE_eventTime" => q.ge_event_time = Some(time(n, v)?),
            "LT_eventTime" => q.lt_event_time = Some(time(n, v)?),
            "GE_recordTime" => q.ge_record_time = Some(time(n, v)?),
            "LT_recordTime" => q.lt_record_time = Some(time(n, v)?),
            "EQ_action" => {
                for a in values(v) {
                    q.eq_action.push(Action::parse(a).ok_or_else(|| {
                        ApiError::query_param(format!(
                            "EQ_action: must be ADD, OBSERVE or DELETE, got {a:?}"
                        ))
                    })?);
                }
            }
            "EQ_bizStep" => list(&mut q.eq_biz_step, &|s| {
                normalise_cbv(VocabKind::BizStep, s)
            }),
            "EQ_disposition" => list(&mut q.eq_disposition, &|s| {
                normalise_cbv(VocabKind::Disposition, s)
            }),
            "EQ_persistentDisposition_set" => list(&mut q.eq_persistent_disposition_set, &|s| {
                normalise_cbv(VocabKind::Disposition, s)
            }),
            "EQ_persistentDisposition_unset" => {
                list(&mut q.eq_persistent_disposition_unset, &|s| {
                    normalise_cbv(VocabKind::Disposition, s)
                })
            }
            "EQ_readPoint" => list(&mut q.eq_read_point, &normalise_epc),
            "WD_readPoint" => list(&mut q.wd_read_point, &normalise_epc),
            "EQ_bizLocation" => list(&mut q.eq_biz_location, &normalise_epc),
            "WD_bizLocation" => list(&mut q.wd_biz_location, &normalise_epc),
            "EQ_transformationID" => list(&mut q.eq_transformation_id, &str::to_string),
            "MATCH_epc" => list(&mut q.match_epc, &epc_value),
            "MATCH_parentID" => list(&mut q.match_parent_id, &epc_value),
            "MATCH_inputEPC" => list(&mut q.match_input_epc, &epc_value),
            "MATCH_outputEPC" => list(&mut q.match_output_epc, &epc_value),
            "MATCH_anyEPC" => list(&mut q.match_any_epc, &epc_value),
            "MATCH_epcClass" => list(&mut q.match_epc_class, &normalise_class),
            "MATCH_inputEPCClass" => list(&mut q.match_input_epc_class, &normalise_class),
            "MATCH_outputEPCClass" => list(&mut q.match_output_epc_class, &normalise_class),
            "MATCH_anyEPCClass" => list(&mut q.match_any_epc_class, &normalise_class),
            "EQ_eventID" => list(&mut q.eq_event_id, &str::to_string),
            "EXISTS_errorDeclaration" => q.exists_error_declaration = boolean(n, v)?,
            "GE_errorDeclarationTime" => q.ge_error_declaration_time = Some(time(n, v)?),
            "LT_errorDeclarationTime" => q.lt_error_declaration_time = Some(time(n, v)?),
            "EQ_errorReason" => list(&mut q.eq_error_reason, &|s| {
                normalise_cbv(VocabKind::ErrorReason, s)
            }),
            "EQ_correctiveEventID" => list(&mut q.eq_corrective_event_id, &str::to_string),
            "EXISTS_sensorElementList" => q.exists_sensor_element_list = boolean(n, v)?,
            "EQ_type" => list(&mut q.eq_sensor_type, &|s| {
                normalise_cbv(VocabKind::MeasurementType, s)
            }),
            "EQ_deviceID" => list(&mut q.eq_device_id, &str::to_string),
            "GE_time" => q.ge_sensor_time = Some(time(n, v)?),
            "LT_time" => q.lt_sensor_time = Some(time(n, v)?),
            "GE_startTime" => q.ge_start_time = Some(time(n, v)?),
            "LT_startTime" => q.lt_start_time = Some(time(n, v)?),
            "GE_endTime" => q.ge_end_time = Some(time(n, v)?),
            "LT_endTime" => q.lt_end_time = Some(time(n, v)?),
            "orderBy" => {
                q.order_by = match v.as_str() {
                    "eventTime" => OrderBy::EventTime,
                    "recordTime" => OrderBy::RecordTime,
                    _ => {
                        return Err(ApiError::query_param(format!(
                            "orderBy: eventTime or recordTime, got {v:?}"
                        )))
                    }
                }
            }
            "orderDirection" => {
                q.order_direction = match v.as_str() {
                    "ASC" => OrderDirection::Asc,
                    "DESC" => OrderDirection::Desc,
                    _ => {
                        return Err(ApiError::query_param(format!(
                            "orderDirection: ASC or DESC, got {v:?}"
                        )))
                    }
                }
            }
            "eventCountLimit" => q.event_count_limit = Some(positive(n, v)?),
            "maxEventCount" => q.max_event_count = Some(positive(n, v)?),
            "perPage" => {
                let p = positive(n, v)?;
                if p > u64::from(max_per_page) {
                    return Err(ApiError::query_param(format!(
                        "perPage: at most {max_per_page}"
                    )));
                }
                q.per_page = Some(p as u32);
            }
            "nextPageToken" => q.next_page_token = Some(v.clone()),
            _ => other_param(&mut q, n, v)?,
        }
    }
    q.validate().map_err(ApiError::from_query)?;
    Ok(q)
}

fn other_param(q: &mut EventQuery, n: &str, v: &str) -> ApiResult<()> {
    let unknown = || ApiError::query_param(format!("unknown query parameter {n:?}"));
    for (prefix, out) in [
        ("EQ_bizTransaction_", &mut q.eq_biz_transaction),
        ("EQ_source_", &mut q.eq_source),
        ("EQ_destination_", &mut q.eq_destination),
    ] {
        if let Some(ty) = n.strip_prefix(prefix) {
            let kind = if prefix == "EQ_bizTransaction_" {
                VocabKind::BizTransactionType
            } else {
                VocabKind::SourceDestType
            };
            let ty = normalise_cbv(kind, ty);
            let vals: Vec<String> = if prefix == "EQ_bizTransaction_" {
                values(v).map(str::to_string).collect()
            } else {
                values(v).map(normalise_epc).collect()
            };
            match out.iter_mut().find(|(t, _)| *t == ty) {
                Some((_, l)) => l.extend(vals),
                None => out.push((ty, vals)),
            }
            return Ok(());
        }
    }
    if let Some(field) = n.strip_prefix("EQ_ILMD_") {
        if field.ends_with("lotNumber") {
            q.eq_ilmd_lot.extend(values(v).map(str::to_string));
            return Ok(());
        }
        return Err(ApiError::query_param(format!(
            "{n}: only the ILMD lotNumber can be queried by this server"
        )));
    }
    let Some((op, rest)) = cmp_prefix(n) else {
        return Err(unknown());
    };
    if rest == "quantity" {
        q.quantity.push((op, num(n, v)?));
        return Ok(());
    }
    if let Some(uom) = rest.strip_prefix("quantity_") {
        q.quantity_in_uom.push((op, num(n, v)?, uom.to_string()));
        return Ok(());
    }
    for (p, field) in [
        ("value_", SensorField::Value),
        ("minValue_", SensorField::MinValue),
        ("maxValue_", SensorField::MaxValue),
        ("meanValue_", SensorField::MeanValue),
    ] {
        if let Some(uom) = rest.strip_prefix(p) {
            q.sensor_values.push(SensorValueFilter {
                field,
                op,
                uom: uom.to_string(),
                value: num(n, v)?,
            });
            return Ok(());
        }
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        pairs(Some(s)).unwrap()
    }

    #[test]
    fn parameters_are_parsed_and_normalised() {
        let q = to_event_query(
            &p("eventType=ObjectEvent,AggregationEvent&EQ_bizStep=urn:epcglobal:cbv:bizstep:shipping&MATCH_epc=https%3A%2F%2Fid.gs1.org%2F01%2F10614141073464%2F21%2F2017&GE_quantity_KGM=3&perPage=5"),
            1000,
        )
        .unwrap();
        assert_eq!(q.event_types.len(), 2);
        assert_eq!(q.eq_biz_step, vec!["shipping"]);
        assert_eq!(q.match_epc, vec!["urn:epc:id:sgtin:0614141.107346.2017"]);
        assert_eq!(q.per_page, Some(5));
        assert_eq!(q.quantity_in_uom.len(), 1);
    }

    #[test]
    fn unknown_and_bad_parameters_are_refused() {
        for bad in [
            "foo=1",
            "eventType=Nope",
            "GE_eventTime=yesterday",
            "perPage=0",
            "perPage=100000",
            "orderBy=colour",
            "EQ_value_CEL=warm",
        ] {
            let e = to_event_query(&p(bad), 1000).unwrap_err();
            assert_eq!(e.kind, "QueryParameterException", "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_query_string_is_parsed_or_refused_never_a_panic(raw in ".{0,200}") {
            if let Ok(p) = pairs(Some(&raw)) {
                let _ = to_event_query(&p, 1000);
            }
        }

        #[test]
        fn any_parameter_value_is_parsed_or_refused(
            name in proptest::sample::select(vec![
                "eventType", "GE_eventTime", "EQ_action", "EQ_bizStep", "MATCH_epc", "MATCH_epcClass",
                "EQ_quantity", "GE_quantity_KGM", "EQ_value_CEL", "EQ_bizTransaction_po", "perPage",
                "nextPageToken", "orderBy", "EXISTS_errorDeclaration", "EQ_ILMD_cbvmda:lotNumber",
                "EQ_bizLocation", "WD_readPoint", "maxEventCount",
            ]),
            value in ".{0,80}",
        ) {
            let _ = to_event_query(&[(name.to_string(), value)], 1000);
        }

        #[test]
        fn any_identifier_is_parsed_or_refused(id in ".{0,120}") {
            let _ = crate::units::identify(&id);
        }
    }
}
