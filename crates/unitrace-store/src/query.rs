//! Backend-neutral query types: the EPCIS 2.0 event query, pages and their tokens, unit-centred reads.

use serde::{Deserialize, Serialize};

use crate::event::{Action, EventType, FieldScope, StoredEvent};
use crate::limits::*;
use crate::{StoreError, StoreResult};

/// Comparison of a numeric query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// `orderBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrderBy {
    /// Commit order (recordTime, then sequence). The default.
    #[default]
    RecordTime,
    EventTime,
}

/// `orderDirection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

/// The EPCIS 2.0 event query. Values inside one parameter are alternatives (OR); parameters
/// combine with AND. An empty list or `None` means the parameter is absent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventQuery {
    pub event_types: Vec<EventType>,
    pub ge_event_time: Option<i64>,
    pub lt_event_time: Option<i64>,
    pub ge_record_time: Option<i64>,
    pub lt_record_time: Option<i64>,
    pub eq_action: Vec<Action>,
    pub eq_biz_step: Vec<String>,
    pub eq_disposition: Vec<String>,
    pub eq_persistent_disposition_set: Vec<String>,
    pub eq_persistent_disposition_unset: Vec<String>,
    pub eq_read_point: Vec<String>,
    /// The location or any of its descendants in the master-data hierarchy.
    pub wd_read_point: Vec<String>,
    pub eq_biz_location: Vec<String>,
    pub wd_biz_location: Vec<String>,
    pub eq_transformation_id: Vec<String>,
    /// EPC URIs or `urn:epc:idpat:...` patterns (a trailing `*` matches any rest).
    pub match_epc: Vec<String>,
    pub match_parent_id: Vec<String>,
    pub match_input_epc: Vec<String>,
    pub match_output_epc: Vec<String>,
    pub match_any_epc: Vec<String>,
    pub match_epc_class: Vec<String>,
    pub match_input_epc_class: Vec<String>,
    pub match_output_epc_class: Vec<String>,
    pub match_any_epc_class: Vec<String>,
    /// EQ_/GT_/GE_/LT_/LE_quantity: all must hold on one quantity element of the event.
    pub quantity: Vec<(CmpOp, f64)>,
    /// EQ_/GT_/GE_/LT_/LE_quantity_<uom>: (comparison, amount, unit); amounts in another unit of
    /// the same dimension are converted. Each needs one matching quantity element.
    pub quantity_in_uom: Vec<(CmpOp, f64, String)>,
    pub eq_event_id: Vec<String>,
    pub exists_error_declaration: bool,
    pub ge_error_declaration_time: Option<i64>,
    pub lt_error_declaration_time: Option<i64>,
    pub eq_error_reason: Vec<String>,
    pub eq_corrective_event_id: Vec<String>,
    /// EQ_bizTransaction_<type>: (type, values).
    pub eq_biz_transaction: Vec<(String, Vec<String>)>,
    pub eq_source: Vec<(String, Vec<String>)>,
    pub eq_destination: Vec<(String, Vec<String>)>,
    /// EQ_ILMD lot / expiry as projected at capture.
    pub eq_ilmd_lot: Vec<String>,
    /// Sensor `EQ_type`.
    pub eq_sensor_type: Vec<String>,
    /// Sensor `EQ_deviceID`.
    pub eq_device_id: Vec<String>,
    /// `EXISTS_sensorElementList`.
    pub exists_sensor_element_list: bool,
    /// Sensor report `GE_time` / `LT_time`.
    pub ge_sensor_time: Option<i64>,
    pub lt_sensor_time: Option<i64>,
    /// `GE_startTime` / `LT_startTime` / `GE_endTime` / `LT_endTime` of sensorMetadata: one
    /// sensor element of the event must satisfy each given bound.
    pub ge_start_time: Option<i64>,
    pub lt_start_time: Option<i64>,
    pub ge_end_time: Option<i64>,
    pub lt_end_time: Option<i64>,
    /// `EQ_/GT_/GE_/LT_/LE_value_<uom>`, `..._minValue_<uom>`, `..._maxValue_<uom>`, `..._meanValue_<uom>`;
    /// values in another unit of the same dimension are converted. Each filter needs one matching report.
    pub sensor_values: Vec<SensorValueFilter>,
    /// Field parameters: EQ_/GT_/GE_/LT_/LE_/EXISTS_ on extension, ILMD, error declaration,
    /// sensor and location fields, with or without INNER_.
    pub fields: Vec<FieldFilter>,
    pub order_by: OrderBy,
    pub order_direction: OrderDirection,
    pub event_count_limit: Option<u64>,
    pub max_event_count: Option<u64>,
    pub per_page: Option<u32>,
    pub next_page_token: Option<String>,
}

/// A condition on a projected field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FieldCond {
    /// EQ_: the text value is one of these.
    Eq(Vec<String>),
    /// GT_/GE_/LT_/LE_: the numeric (or time in UTC ms) value compares.
    Cmp(CmpOp, f64),
    /// EXISTS_.
    Exists,
}

/// One field query parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldFilter {
    pub scope: FieldScope,
    /// INNER_: match the field nested at any depth below the top level of its scope.
    pub inner: bool,
    /// Expanded name, as in [`crate::EventField::name`].
    pub name: String,
    pub cond: FieldCond,
}

/// Which number of a sensor report a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SensorField {
    Value,
    MinValue,
    MaxValue,
    MeanValue,
}

impl SensorField {
    /// Column of the stored value converted to its base unit.
    pub fn base_column(self) -> &'static str {
        match self {
            SensorField::Value => "b_value",
            SensorField::MinValue => "b_min",
            SensorField::MaxValue => "b_max",
            SensorField::MeanValue => "b_mean",
        }
    }
}

/// A sensor value comparison in a unit of measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorValueFilter {
    pub field: SensorField,
    pub op: CmpOp,
    pub uom: String,
    pub value: f64,
}

/// One page of a query answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    pub events: Vec<StoredEvent>,
    pub next_page_token: Option<String>,
}

/// How a pattern value matches an identifier column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    Exact(String),
    /// Every identifier starting with this string.
    Prefix(String),
}

impl Matcher {
    /// For a prefix, the half-open range [prefix, upper) that holds exactly the strings starting
    /// with it (byte order), so an ordinary index serves it. None when no upper bound exists.
    pub fn prefix_upper(prefix: &str) -> Option<String> {
        let mut chars: Vec<char> = prefix.chars().collect();
        while let Some(c) = chars.pop() {
            let mut n = c as u32 + 1;
            while n <= 0x10FFFF {
                if let Some(nc) = char::from_u32(n) {
                    chars.push(nc);
                    return Some(chars.into_iter().collect());
                }
                n += 1;
            }
        }
        None
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == s,
            Matcher::Prefix(p) => s.starts_with(p.as_str()),
        }
    }
}

fn star_prefix(v: &str) -> StoreResult<Option<&str>> {
    match v.find('*') {
        None => Ok(None),
        Some(i) => {
            if v[i..].chars().all(|c| c == '*' || c == '.') {
                Ok(Some(&v[..i]))
            } else {
                Err(StoreError::InvalidInput(format!(
                    "pattern {v:?}: only trailing fields may be '*'"
                )))
            }
        }
    }
}

/// Matchers for an instance-level EPC value or `idpat` pattern.
pub fn epc_matchers(v: &str) -> StoreResult<Vec<Matcher>> {
    match star_prefix(v)? {
        None => Ok(vec![Matcher::Exact(v.to_string())]),
        Some(p) => {
            let p = match p.strip_prefix("urn:epc:idpat:") {
                Some(rest) => format!("urn:epc:id:{rest}"),
                None => p.to_string(),
            };
            Ok(vec![Matcher::Prefix(p)])
        }
    }
}

/// Matchers for a class-level value or pattern: an `idpat:sgtin` pattern also matches LGTIN classes.
pub fn class_matchers(v: &str) -> StoreResult<Vec<Matcher>> {
    match star_prefix(v)? {
        None => Ok(vec![Matcher::Exact(v.to_string())]),
        Some(p) => {
            let mut out = vec![Matcher::Prefix(p.to_string())];
            if let Some(rest) = p.strip_prefix("urn:epc:idpat:sgtin:") {
                out.push(Matcher::Prefix(format!("urn:epc:class:lgtin:{rest}")));
            }
            Ok(out)
        }
    }
}

fn check_values(name: &str, v: &[String]) -> StoreResult<()> {
    if v.len() > MAX_QUERY_VALUES {
        return Err(StoreError::InvalidInput(format!(
            "{name}: more than {MAX_QUERY_VALUES} values"
        )));
    }
    for s in v {
        if s.is_empty() || s.len() > MAX_ID_LEN {
            return Err(StoreError::InvalidInput(format!(
                "{name}: each value must be 1..={MAX_ID_LEN} bytes"
            )));
        }
    }
    Ok(())
}

impl EventQuery {
    /// The sensorMetadata period bounds given, as (column of `event_sensor_period`, SQL
    /// operator, value): the same conditions on every backend.
    pub fn sensor_period_bounds(&self) -> Vec<(&'static str, &'static str, i64)> {
        [
            ("start_time", ">=", self.ge_start_time),
            ("start_time", "<", self.lt_start_time),
            ("end_time", ">=", self.ge_end_time),
            ("end_time", "<", self.lt_end_time),
        ]
        .into_iter()
        .filter_map(|(c, op, v)| v.map(|v| (c, op, v)))
        .collect()
    }

    /// Check limits and combinations; the backend calls this first.
    pub fn validate(&self) -> StoreResult<()> {
        let lists: [(&str, &Vec<String>); 21] = [
            ("EQ_bizStep", &self.eq_biz_step),
            ("EQ_disposition", &self.eq_disposition),
            (
                "EQ_persistentDisposition_set",
                &self.eq_persistent_disposition_set,
            ),
            (
                "EQ_persistentDisposition_unset",
                &self.eq_persistent_disposition_unset,
            ),
            ("EQ_readPoint", &self.eq_read_point),
            ("WD_readPoint", &self.wd_read_point),
            ("EQ_bizLocation", &self.eq_biz_location),
            ("WD_bizLocation", &self.wd_biz_location),
            ("EQ_transformationID", &self.eq_transformation_id),
            ("MATCH_epc", &self.match_epc),
            ("MATCH_parentID", &self.match_parent_id),
            ("MATCH_inputEPC", &self.match_input_epc),
            ("MATCH_outputEPC", &self.match_output_epc),
            ("MATCH_anyEPC", &self.match_any_epc),
            ("MATCH_epcClass", &self.match_epc_class),
            ("MATCH_inputEPCClass", &self.match_input_epc_class),
            ("MATCH_outputEPCClass", &self.match_output_epc_class),
            ("MATCH_anyEPCClass", &self.match_any_epc_class),
            ("EQ_eventID", &self.eq_event_id),
            ("EQ_errorReason", &self.eq_error_reason),
            ("EQ_correctiveEventID", &self.eq_corrective_event_id),
        ];
        for (n, v) in lists {
            check_values(n, v)?;
        }
        check_values("EQ_ILMD lot", &self.eq_ilmd_lot)?;
        check_values("EQ_type", &self.eq_sensor_type)?;
        check_values("EQ_deviceID", &self.eq_device_id)?;
        for v in self
            .match_epc
            .iter()
            .chain(&self.match_parent_id)
            .chain(&self.match_input_epc)
            .chain(&self.match_output_epc)
            .chain(&self.match_any_epc)
        {
            epc_matchers(v)?;
        }
        for v in self
            .match_epc_class
            .iter()
            .chain(&self.match_input_epc_class)
            .chain(&self.match_output_epc_class)
            .chain(&self.match_any_epc_class)
        {
            class_matchers(v)?;
        }
        for (n, l) in [
            ("EQ_bizTransaction_", &self.eq_biz_transaction),
            ("EQ_source_", &self.eq_source),
            ("EQ_destination_", &self.eq_destination),
        ] {
            if l.len() > MAX_QUERY_VALUES {
                return Err(StoreError::InvalidInput(format!(
                    "{n}*: too many parameters"
                )));
            }
            for (ty, vals) in l {
                if ty.len() > MAX_ID_LEN {
                    return Err(StoreError::InvalidInput(format!("{n}{ty}: type too long")));
                }
                check_values(&format!("{n}{ty}"), vals)?;
            }
        }
        if self.quantity.len() > 5 * MAX_QUERY_VALUES {
            return Err(StoreError::InvalidInput(
                "too many quantity parameters".into(),
            ));
        }
        if self.quantity_in_uom.len() > 5 * MAX_QUERY_VALUES
            || self
                .quantity_in_uom
                .iter()
                .any(|(_, v, u)| !v.is_finite() || u.is_empty() || u.len() > 16)
        {
            return Err(StoreError::InvalidInput(
                "quantity_<uom> parameters need a finite number and a unit code".into(),
            ));
        }
        if self.quantity.iter().any(|(_, v)| !v.is_finite()) {
            return Err(StoreError::InvalidInput(
                "quantity parameter must be a finite number".into(),
            ));
        }
        if self.fields.len() > MAX_QUERY_VALUES {
            return Err(StoreError::InvalidInput("too many field parameters".into()));
        }
        for f in &self.fields {
            if f.name.is_empty() || f.name.len() > MAX_ID_LEN {
                return Err(StoreError::InvalidInput(format!(
                    "field parameter name must be 1..={MAX_ID_LEN} bytes"
                )));
            }
            match &f.cond {
                FieldCond::Eq(v) => check_values(&f.name, v)?,
                FieldCond::Cmp(_, x) if !x.is_finite() => {
                    return Err(StoreError::InvalidInput(format!(
                        "field {}: value must be a finite number",
                        f.name
                    )))
                }
                _ => {}
            }
        }
        if self.sensor_values.len() > MAX_QUERY_VALUES {
            return Err(StoreError::InvalidInput(
                "too many sensor value parameters".into(),
            ));
        }
        for f in &self.sensor_values {
            if !f.value.is_finite() || f.uom.is_empty() || f.uom.len() > 16 {
                return Err(StoreError::InvalidInput(format!(
                    "sensor {:?} parameter needs a finite number and a unit code",
                    f.field
                )));
            }
        }
        if self.event_types.len() > EventType::ALL.len() * 4 || self.eq_action.len() > 12 {
            return Err(StoreError::InvalidInput(
                "too many eventType or EQ_action values".into(),
            ));
        }
        if self.event_count_limit.is_some() && self.max_event_count.is_some() {
            return Err(StoreError::InvalidInput(
                "eventCountLimit and maxEventCount cannot be used together".into(),
            ));
        }
        if self.event_count_limit == Some(0) || self.max_event_count == Some(0) {
            return Err(StoreError::InvalidInput(
                "eventCountLimit and maxEventCount must be positive".into(),
            ));
        }
        if let Some(p) = self.per_page {
            if p == 0 || p > MAX_PER_PAGE {
                return Err(StoreError::InvalidInput(format!(
                    "perPage must be 1..={MAX_PER_PAGE}"
                )));
            }
        }
        if let Some(t) = &self.next_page_token {
            if t.len() > 512 {
                return Err(StoreError::InvalidPageToken("too long".into()));
            }
        }
        Ok(())
    }

    /// Page size for this request.
    pub fn page_size(&self) -> u32 {
        self.per_page
            .unwrap_or(DEFAULT_PER_PAGE)
            .clamp(1, MAX_PER_PAGE)
    }

    /// A fingerprint of the query without its paging fields; a page token is valid only for it.
    pub fn fingerprint(&self) -> u64 {
        let mut q = self.clone();
        q.per_page = None;
        q.next_page_token = None;
        fnv1a(&serde_json::to_string(&q).unwrap_or_default())
    }
}

/// FNV-1a, 64 bits.
fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Decoded state of a `nextPageToken`. The token is hex of its fields plus a checksum that
/// catches corrupted or edited tokens (it is not a secret: a token only pages its own query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub fingerprint: u64,
    /// Highest sequence number visible to the paged query (events captured later are not shown).
    pub snapshot_seq: i64,
    /// Order key (recordTime or eventTime) and sequence of the last event returned.
    pub last_key: i64,
    pub last_seq: i64,
    /// Events returned so far (for eventCountLimit).
    pub returned: u64,
    pub expires_at: i64,
}

impl PageCursor {
    pub fn encode(&self) -> String {
        let body = format!(
            "1.{:x}.{}.{}.{}.{}.{}",
            self.fingerprint,
            self.snapshot_seq,
            self.last_key,
            self.last_seq,
            self.returned,
            self.expires_at
        );
        let text = format!("{body}.{:x}", fnv1a(&body));
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Decode and check a token for this query at time `now`.
    pub fn decode(token: &str, query: &EventQuery, now: i64) -> StoreResult<PageCursor> {
        let bad = |why: &str| StoreError::InvalidPageToken(why.to_string());
        if token.len() % 2 == 1 || token.len() > 512 {
            return Err(bad("malformed"));
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| {
                token
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let text = bytes
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad("malformed"))?;
        let (body, sum) = text.rsplit_once('.').ok_or_else(|| bad("malformed"))?;
        if u64::from_str_radix(sum, 16).ok() != Some(fnv1a(body)) {
            return Err(bad("checksum mismatch"));
        }
        let parts: Vec<&str> = body.split('.').collect();
        if parts.len() != 7 || parts[0] != "1" {
            return Err(bad("malformed"));
        }
        let num = |s: &str| s.parse::<i64>().map_err(|_| bad("malformed"));
        let c = PageCursor {
            fingerprint: u64::from_str_radix(parts[1], 16).map_err(|_| bad("malformed"))?,
            snapshot_seq: num(parts[2])?,
            last_key: num(parts[3])?,
            last_seq: num(parts[4])?,
            returned: parts[5].parse::<u64>().map_err(|_| bad("malformed"))?,
            expires_at: num(parts[6])?,
        };
        if c.fingerprint != query.fingerprint() {
            return Err(bad("token belongs to a different query"));
        }
        if now > c.expires_at {
            return Err(bad("token expired"));
        }
        Ok(c)
    }
}

/// One event of a unit's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub event: StoredEvent,
    /// None when the event names the unit; else the container (parent, grandparent, ...) it names,
    /// while the unit was inside it (an inferred observation).
    pub inferred_via: Option<String>,
}

/// A unit's containment: parents up, children down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containment {
    pub epc: String,
    /// Nearest parent first.
    pub parents: Vec<String>,
    /// Every descendant, breadth first.
    pub children: Vec<ContainmentNode>,
    /// True when the tree was cut at a limit.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainmentNode {
    pub epc: String,
    pub parent: String,
    /// 1 for direct children.
    pub depth: usize,
}

/// Filter for `list_units`; fields combine with AND.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnitFilter {
    pub lot: Option<String>,
    /// Units whose EPC starts with this (e.g. `urn:epc:id:sgtin:0614141.112345.`).
    pub epc_prefix: Option<String>,
    pub biz_location: Option<String>,
    pub parent: Option<String>,
    pub disposition: Option<String>,
    /// Return units with EPC greater than this (paging by EPC).
    pub after_epc: Option<String>,
    /// At most this many (capped at the store limit).
    pub limit: Option<u32>,
}

impl UnitFilter {
    pub fn limit(&self) -> u32 {
        self.limit
            .unwrap_or(MAX_LIST_UNITS)
            .clamp(1, MAX_LIST_UNITS)
    }
}

/// Which location of stored events [`Store::list_event_locations`](crate::Store) lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LocationRole {
    /// `bizLocation`.
    BizLocation,
    /// `readPoint`.
    ReadPoint,
}

impl LocationRole {
    /// The event column holding this location in both backends' schemas.
    pub fn column(self) -> &'static str {
        match self {
            LocationRole::BizLocation => "biz_location",
            LocationRole::ReadPoint => "read_point",
        }
    }
}

/// Checks the arguments of a location listing. None: nothing to list (limit 0); else the number
/// of IDs to return (the limit capped at [`MAX_LOCATION_PAGE`]) and the comparison of the first
/// ID with `after` (given as "" when absent).
pub fn location_page(
    after: Option<&str>,
    limit: usize,
) -> StoreResult<Option<(usize, &'static str)>> {
    if let Some(a) = after {
        if a.len() > MAX_ID_LEN {
            return Err(StoreError::InvalidInput(format!(
                "location listing: 'after' is {} bytes, at most {MAX_ID_LEN}",
                a.len()
            )));
        }
    }
    let first = if after.is_some() { ">" } else { ">=" };
    Ok((limit > 0).then(|| (limit.min(MAX_LOCATION_PAGE), first)))
}

/// Class-level stock at one location.
#[derive(Debug, Clone, PartialEq)]
pub struct StockRow {
    pub epc_class: String,
    /// "" when the events gave no bizLocation.
    pub location: String,
    /// "" when no unit of measure.
    pub uom: String,
    pub quantity: f64,
}

/// Direction of a genealogy walk through TransformationEvents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GenealogyDirection {
    /// What it was made from: inputs of the transformations that output it, recursively.
    Inputs,
    /// What was made from it: outputs of the transformations that consumed it, recursively.
    Outputs,
}

/// A unit's genealogy in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genealogy {
    pub epc: String,
    pub direction: GenealogyDirection,
    /// Every unit reached, breadth first.
    pub nodes: Vec<GenealogyNode>,
    /// True when the walk was cut at a limit.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenealogyNode {
    pub epc: String,
    /// The unit it is linked to, one step closer to the start.
    pub via: String,
    /// 1 for direct inputs or outputs.
    pub depth: usize,
}

/// Where a unit is now, through its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentLocation {
    pub biz_location: String,
    /// Event time of the event that placed it (or its container) there.
    pub since: i64,
    /// None when the unit's own event says so; else the container whose newer event does.
    pub via: Option<String>,
}
