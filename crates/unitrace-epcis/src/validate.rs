//! Validation of EPCIS 2.0 documents in the JSON-LD shape (XML is read into the same shape).
//!
//! Structural rules are those of the official JSON schema (`EPCIS-JSON-Schema.json`), written out
//! by hand; the semantic rules are those of EPCIS 2.0 and CBV 2.0 that the schema cannot express.
//! Deliberate differences from the schema, following the standard's text:
//! - CBV values may be given as bare words, web URIs (`https://ref.gs1.org/cbv/BizStep-shipping`),
//!   compact IRIs (`cbv:BizStep-shipping`) or 1.x URNs (`urn:epcglobal:cbv:bizstep:shipping`); a
//!   URI in a standard namespace whose term is not defined is an error, URIs of other authorities
//!   are extensions and allowed, bare words that are not standard terms are errors.
//! - `sensorReport` needs `type` or `exception` (the schema requires `type`).
//! - `persistentDisposition` is accepted on all event types (as the XSD allows).

use std::fmt;

use serde_json::{Map, Value};

use crate::epc;
use crate::time::{is_valid_tz_offset, parse_instant};
use crate::vocab::{is_absolute_uri, VocabKind, VocabValue};

/// One problem in a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Index of the event in the event list (`None` for document-level problems).
    pub event_index: Option<usize>,
    /// The event's `eventID`, if it has one.
    pub event_id: Option<String>,
    /// JSON Pointer (RFC 6901) of the failing member, from the document root.
    pub pointer: String,
    /// What is wrong, and what was found.
    pub message: String,
}

impl Problem {
    /// A problem outside the events.
    pub fn document(pointer: &str, message: String) -> Problem {
        Problem {
            event_index: None,
            event_id: None,
            pointer: pointer.to_owned(),
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.event_index, &self.event_id) {
            (Some(i), Some(id)) => write!(f, "event {i} ({id}): ")?,
            (Some(i), None) => write!(f, "event {i}: ")?,
            _ => {}
        }
        if self.pointer.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// Escapes a member name for a JSON Pointer.
fn esc(key: &str) -> String {
    if key.contains(['~', '/']) {
        key.replace('~', "~0").replace('/', "~1")
    } else {
        key.to_owned()
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let mut end = 77;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

/// What is wrong with an identifier in an EPC field, if anything: it must be an absolute URI, and
/// an EPC URN of a GS1 key scheme must be well-formed.
/// A member of a small JSON object by linear scan: events and their parts have few members, and
/// comparing short keys is cheaper than hashing them (serde_json's map hashes with SipHash).
#[inline]
pub(crate) fn member<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    if m.len() > 16 {
        return m.get(k);
    }
    m.iter().find(|(key, _)| key.as_str() == k).map(|(_, v)| v)
}

fn epc_problem(v: &Value, class_level: bool) -> Option<String> {
    let Some(s) = v.as_str() else {
        return Some(format!("must be a URI string, found {}", show(v)));
    };
    epc_problem_str(s, class_level)
}

/// [`epc_problem`] of a string.
pub(crate) fn epc_problem_str(s: &str, class_level: bool) -> Option<String> {
    if !is_absolute_uri(s) {
        return Some(format!("must be an absolute URI, found \"{s}\""));
    }
    let gs1_urn = if class_level {
        s.starts_with("urn:epc:class:lgtin:") || s.starts_with("urn:epc:idpat:")
    } else {
        s.starts_with("urn:epc:id:")
            && matches!(
                s.as_bytes()[11..].split(|&c| c == b':').next(),
                Some(
                    b"sgtin"
                        | b"sscc"
                        | b"sgln"
                        | b"grai"
                        | b"giai"
                        | b"gsrn"
                        | b"gsrnp"
                        | b"gdti"
                        | b"cpi"
                        | b"sgcn"
                        | b"ginc"
                        | b"gsin"
                        | b"itip"
                        | b"upui"
                        | b"pgln"
                )
            )
    };
    if gs1_urn && !epc::urn_is_well_formed(s) {
        return Some(format!("malformed EPC URN \"{s}\""));
    }
    // A GS1 Digital Link (a URI whose path carries a GS1 key) must be a valid one: checked by the
    // identifier library (AI formats, check digits, key-qualifier sequences).
    if s.starts_with("http") && epc::canonical_dl(s).is_some() {
        if let Err(e) = unitrace_id::digital_link::parse(s) {
            return Some(format!("invalid GS1 Digital Link \"{s}\": {e}"));
        }
    }
    if !class_level && s.starts_with("urn:epc:class:") {
        return Some(format!(
            "an EPC class URN is not an instance identifier: \"{s}\""
        ));
    }
    None
}

/// Validates events one at a time (streaming) and the document skeleton at the end.
#[derive(Debug, Clone)]
pub struct Validator {
    events_pointer: String,
}

impl Default for Validator {
    fn default() -> Self {
        Validator {
            events_pointer: "/epcisBody/eventList".into(),
        }
    }
}

const COMMON: &[&str] = &[
    "@context",
    "type",
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "certificationInfo",
    "errorDeclaration",
];

const WHAT_WHERE_WHY: &[&str] = &[
    "action",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "sensorElementList",
];

fn type_fields(t: &str) -> Option<&'static [&'static str]> {
    Some(match t {
        "ObjectEvent" => &["epcList", "quantityList", "ilmd"],
        "AggregationEvent" | "AssociationEvent" => &["parentID", "childEPCs", "childQuantityList"],
        "TransactionEvent" => &["parentID", "epcList", "quantityList"],
        "TransformationEvent" => &[
            "inputEPCList",
            "inputQuantityList",
            "outputEPCList",
            "outputQuantityList",
            "transformationID",
            "ilmd",
        ],
        _ => return None,
    })
}

struct Ev<'a> {
    base: String,
    index: usize,
    id: Option<String>,
    out: &'a mut Vec<Problem>,
}

impl Ev<'_> {
    fn report(&mut self, path: &str, msg: String) {
        self.out.push(Problem {
            event_index: Some(self.index),
            event_id: self.id.clone(),
            pointer: format!("{}{}", self.base, path),
            message: msg,
        });
    }

    fn time(&mut self, path: &str, v: &Value) {
        match v.as_str() {
            Some(s) => match parse_instant(s) {
                Ok((_, Some(_))) => {}
                Ok((_, None)) => self.report(
                    path,
                    format!("a date-time needs a time-zone offset or Z, found \"{s}\""),
                ),
                Err(e) => self.report(path, format!("not a date-time ({e}), found \"{s}\"")),
            },
            None => self.report(
                path,
                format!("must be a date-time string, found {}", show(v)),
            ),
        }
    }

    fn uri(&mut self, path: &str, v: &Value) -> Option<String> {
        match v.as_str() {
            Some(s) if is_absolute_uri(s) => Some(s.to_owned()),
            Some(s) => {
                self.report(path, format!("must be an absolute URI, found \"{s}\""));
                None
            }
            None => {
                self.report(path, format!("must be a URI string, found {}", show(v)));
                None
            }
        }
    }

    /// An EPC / identifier field: a URI, and if an EPC URN of a GS1 key, a well-formed one.
    fn epc(&mut self, path: &str, v: &Value, class_level: bool) {
        if let Some(msg) = epc_problem(v, class_level) {
            self.report(path, msg);
        }
    }

    fn vocab(&mut self, path: &str, v: &Value, kind: VocabKind, what: &str) {
        let Some(s) = v.as_str() else {
            self.report(path, format!("{what} must be a string, found {}", show(v)));
            return;
        };
        match kind.classify(s) {
            VocabValue::Standard(_) | VocabValue::OtherUri => {}
            VocabValue::UnknownStandardUri => self.report(
                path,
                format!("\"{s}\" is not a standard {what} (unknown term in a standard vocabulary)"),
            ),
            VocabValue::UnknownBareWord => self.report(
                path,
                format!("\"{s}\" is not a standard {what}; use a standard term or a URI of your own vocabulary"),
            ),
        }
    }

    fn string(&mut self, path: &str, v: &Value) -> Option<String> {
        match v.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.report(path, format!("must be a string, found {}", show(v)));
                None
            }
        }
    }

    fn number(&mut self, path: &str, v: &Value) {
        if !v.is_number() {
            self.report(path, format!("must be a number, found {}", show(v)));
        }
    }

    fn object<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
        let o = v.as_object();
        if o.is_none() {
            self.report(path, format!("must be an object, found {}", show(v)));
        }
        o
    }

    fn array<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Vec<Value>> {
        let a = v.as_array();
        if a.is_none() {
            self.report(path, format!("must be an array, found {}", show(v)));
        }
        a
    }

    /// Members not in `allowed` must be extension names (URIs / compact IRIs).
    fn members(&mut self, path: &str, m: &Map<String, Value>, allowed: &[&str], closed: bool) {
        for k in m.keys() {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            if closed {
                self.report(
                    &format!("{path}/{}", esc(k)),
                    "member not allowed here".into(),
                );
            } else if !k.contains(':') {
                self.report(
                    &format!("{path}/{}", esc(k)),
                    "unknown member: extensions must be namespaced (prefix:name or a URI)".into(),
                );
            }
        }
    }

    fn epc_list(&mut self, path: &str, v: &Value, unique: bool) -> usize {
        let Some(a) = self.array(path, v) else {
            return 0;
        };
        for (i, x) in a.iter().enumerate() {
            if let Some(msg) = epc_problem(x, false) {
                self.report(&format!("{path}/{i}"), msg);
            }
        }
        if unique && a.len() > 1 {
            let mut seen: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            seen.sort_unstable();
            if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
                self.report(path, format!("duplicate EPC \"{}\"", w[0]));
            }
        }
        a.len()
    }

    fn quantity_list(&mut self, path: &str, v: &Value) -> usize {
        let Some(a) = self.array(path, v) else {
            return 0;
        };
        for (i, q) in a.iter().enumerate() {
            let qp = format!("{path}/{i}");
            let Some(m) = self.object(&qp, q) else {
                continue;
            };
            self.members(&qp, m, &["epcClass", "quantity", "uom"], true);
            match member(m, "epcClass") {
                Some(c) => self.epc(&format!("{qp}/epcClass"), c, true),
                None => self.report(&qp, "epcClass is required".into()),
            }
            if let Some(n) = member(m, "quantity") {
                self.number(&format!("{qp}/quantity"), n);
                if n.as_f64().is_some_and(|x| x < 0.0) {
                    self.report(
                        &format!("{qp}/quantity"),
                        format!("must not be negative, found {n}"),
                    );
                }
            }
            if let Some(u) = member(m, "uom") {
                if let Some(s) = self.string(&format!("{qp}/uom"), u) {
                    if !(2..=3).contains(&s.len())
                        || !s
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                    {
                        self.report(
                            &format!("{qp}/uom"),
                            format!("must be a UN/CEFACT Rec. 20 code of 2-3 capitals or digits, found \"{s}\""),
                        );
                    }
                }
                if !m.contains_key("quantity") {
                    self.report(
                        &format!("{qp}/uom"),
                        "uom is only allowed with a quantity".into(),
                    );
                }
            }
        }
        a.len()
    }

    fn location(&mut self, path: &str, v: &Value) {
        let Some(m) = self.object(path, v) else {
            return;
        };
        match member(m, "id") {
            Some(id) => self.epc(&format!("{path}/id"), id, false),
            None => self.report(path, "id is required".into()),
        }
        self.members(path, m, &["id"], false);
    }

    fn typed_list(
        &mut self,
        path: &str,
        v: &Value,
        value_key: &str,
        kind: VocabKind,
        type_required: bool,
    ) {
        let Some(a) = self.array(path, v) else { return };
        for (i, x) in a.iter().enumerate() {
            let p = format!("{path}/{i}");
            let Some(m) = self.object(&p, x) else {
                continue;
            };
            self.members(&p, m, &["type", value_key], true);
            match member(m, "type") {
                Some(t) => {
                    let what = if value_key == "bizTransaction" {
                        "business transaction type"
                    } else {
                        "source/destination type"
                    };
                    self.vocab(&format!("{p}/type"), t, kind, what)
                }
                None if type_required => self.report(&p, "type is required".into()),
                None => {}
            }
            match m.get(value_key) {
                Some(val) => {
                    if value_key == "bizTransaction" {
                        self.uri(&format!("{p}/{value_key}"), val);
                    } else {
                        self.epc(&format!("{p}/{value_key}"), val, false);
                    }
                }
                None => self.report(&p, format!("{value_key} is required")),
            }
        }
    }

    fn sensor_elements(&mut self, path: &str, v: &Value) -> usize {
        let Some(a) = self.array(path, v) else {
            return 0;
        };
        for (i, se) in a.iter().enumerate() {
            let p = format!("{path}/{i}");
            let Some(m) = self.object(&p, se) else {
                continue;
            };
            self.members(&p, m, &["sensorMetadata", "sensorReport"], false);
            if let Some(md) = member(m, "sensorMetadata") {
                let mp = format!("{p}/sensorMetadata");
                if let Some(mm) = self.object(&mp, md) {
                    const F: &[&str] = &[
                        "time",
                        "startTime",
                        "endTime",
                        "deviceID",
                        "deviceMetadata",
                        "rawData",
                        "dataProcessingMethod",
                        "bizRules",
                    ];
                    self.members(&mp, mm, F, false);
                    for (k, x) in mm {
                        let kp = format!("{mp}/{k}");
                        match k.as_str() {
                            "time" | "startTime" | "endTime" => self.time(&kp, x),
                            "deviceID"
                            | "deviceMetadata"
                            | "rawData"
                            | "dataProcessingMethod"
                            | "bizRules" => {
                                self.uri(&kp, x);
                            }
                            _ => {}
                        }
                    }
                    if let (Some(s), Some(e)) = (member(mm, "startTime"), member(mm, "endTime")) {
                        if let (Some(Ok((s, _))), Some(Ok((e, _)))) =
                            (s.as_str().map(parse_instant), e.as_str().map(parse_instant))
                        {
                            if e < s {
                                self.report(
                                    &format!("{mp}/endTime"),
                                    "endTime is before startTime".into(),
                                );
                            }
                        }
                    }
                }
            }
            match member(m, "sensorReport") {
                None => self.report(&p, "sensorReport is required".into()),
                Some(r) => {
                    let rp = format!("{p}/sensorReport");
                    if let Some(reports) = self.array(&rp, r) {
                        if reports.is_empty() {
                            self.report(&rp, "must contain at least one sensorReport".into());
                        }
                        for (j, rep) in reports.iter().enumerate() {
                            self.sensor_report(&format!("{rp}/{j}"), rep);
                        }
                    }
                }
            }
        }
        a.len()
    }

    fn sensor_report(&mut self, p: &str, v: &Value) {
        let Some(m) = self.object(p, v) else { return };
        const F: &[&str] = &[
            "type",
            "exception",
            "deviceID",
            "deviceMetadata",
            "rawData",
            "dataProcessingMethod",
            "bizRules",
            "time",
            "microorganism",
            "chemicalSubstance",
            "coordinateReferenceSystem",
            "value",
            "component",
            "stringValue",
            "booleanValue",
            "hexBinaryValue",
            "uriValue",
            "minValue",
            "maxValue",
            "meanValue",
            "sDev",
            "percRank",
            "percValue",
            "uom",
        ];
        self.members(p, m, F, false);
        if !m.contains_key("type") && !m.contains_key("exception") {
            self.report(p, "a sensorReport needs a type (or an exception)".into());
        }
        for (k, x) in m {
            let kp = format!("{p}/{k}");
            match k.as_str() {
                "type" => self.vocab(&kp, x, VocabKind::MeasurementType, "measurement type"),
                "exception" => self.vocab(&kp, x, VocabKind::SensorException, "sensor alert type"),
                "component" => self.vocab(&kp, x, VocabKind::Component, "component"),
                "time" => self.time(&kp, x),
                "deviceID"
                | "deviceMetadata"
                | "rawData"
                | "dataProcessingMethod"
                | "bizRules"
                | "microorganism"
                | "chemicalSubstance"
                | "coordinateReferenceSystem"
                | "uriValue" => {
                    self.uri(&kp, x);
                }
                "value" | "minValue" | "maxValue" | "meanValue" | "sDev" | "percRank"
                | "percValue" => self.number(&kp, x),
                "stringValue" | "uom" => {
                    self.string(&kp, x);
                }
                "booleanValue" if !x.is_boolean() => {
                    self.report(&kp, format!("must be true or false, found {}", show(x)));
                }
                "hexBinaryValue" => {
                    if let Some(s) = self.string(&kp, x) {
                        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                            self.report(&kp, format!("must be hexadecimal digits, found \"{s}\""));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(r) = member(m, "percRank").and_then(Value::as_f64) {
            if !(0.0..=100.0).contains(&r) {
                self.report(
                    &format!("{p}/percRank"),
                    format!("must be between 0 and 100, found {r}"),
                );
            }
        }
        if let (Some(lo), Some(hi)) = (
            member(m, "minValue").and_then(Value::as_f64),
            member(m, "maxValue").and_then(Value::as_f64),
        ) {
            if lo > hi {
                self.report(
                    &format!("{p}/minValue"),
                    format!("minValue {lo} is greater than maxValue {hi}"),
                );
            }
        }
    }
}

impl Validator {
    /// Takes note of where the events are (capture or query document).
    pub fn set_header(&mut self, header: &Map<String, Value>) {
        let query = header
            .get("epcisBody")
            .and_then(|b| b.get("queryResults"))
            .is_some()
            || header.get("type").and_then(Value::as_str) == Some("EPCISQueryDocument");
        self.events_pointer = if query {
            "/epcisBody/queryResults/resultsBody/eventList".into()
        } else {
            "/epcisBody/eventList".into()
        };
    }

    /// Validates one event (given its index in the event list).
    pub fn event(&mut self, index: usize, event: &Value, out: &mut Vec<Problem>) {
        let id = event
            .get("eventID")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut ev = Ev {
            base: format!("{}/{index}", self.events_pointer),
            index,
            id,
            out,
        };
        let Some(m) = ev.object("", event) else {
            return;
        };
        let ty = match member(m, "type") {
            Some(Value::String(t)) => t.as_str(),
            Some(other) => {
                ev.report("/type", format!("must be a string, found {}", show(other)));
                return;
            }
            None => {
                ev.report("", "type is required".into());
                return;
            }
        };
        // Common properties.
        match member(m, "eventTime") {
            Some(t) => ev.time("/eventTime", t),
            None => ev.report("", "eventTime is required".into()),
        }
        match member(m, "eventTimeZoneOffset") {
            Some(Value::String(o)) if is_valid_tz_offset(o) => {}
            Some(o) => ev.report(
                "/eventTimeZoneOffset",
                format!(
                    "must be a time-zone offset [+-]hh:mm between -14:00 and +14:00, found {}",
                    show(o)
                ),
            ),
            None => ev.report("", "eventTimeZoneOffset is required".into()),
        }
        if let Some(t) = member(m, "recordTime") {
            ev.time("/recordTime", t);
        }
        if let Some(x) = member(m, "eventID") {
            ev.uri("/eventID", x);
        }
        match member(m, "certificationInfo") {
            Some(Value::Array(a)) => {
                for (i, x) in a.iter().enumerate() {
                    ev.uri(&format!("/certificationInfo/{i}"), x);
                }
            }
            Some(x) => {
                ev.uri("/certificationInfo", x);
            }
            None => {}
        }
        if let Some(ed) = member(m, "errorDeclaration") {
            if let Some(em) = ev.object("/errorDeclaration", ed) {
                ev.members(
                    "/errorDeclaration",
                    em,
                    &["declarationTime", "reason", "correctiveEventIDs"],
                    false,
                );
                match member(em, "declarationTime") {
                    Some(t) => ev.time("/errorDeclaration/declarationTime", t),
                    None => ev.report("/errorDeclaration", "declarationTime is required".into()),
                }
                if let Some(r) = member(em, "reason") {
                    ev.vocab(
                        "/errorDeclaration/reason",
                        r,
                        VocabKind::ErrorReason,
                        "error reason",
                    );
                }
                if let Some(c) = member(em, "correctiveEventIDs") {
                    if let Some(a) = ev.array("/errorDeclaration/correctiveEventIDs", c) {
                        for (i, x) in a.iter().enumerate() {
                            ev.uri(&format!("/errorDeclaration/correctiveEventIDs/{i}"), x);
                        }
                    }
                }
            }
        }
        let Some(specific) = type_fields(ty) else {
            if !ty.contains(':') {
                ev.report(
                    "/type",
                    format!("must be ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent or a namespaced extension event type, found \"{ty}\""),
                );
            }
            return;
        };
        // Member names.
        for k in m.keys() {
            let k = k.as_str();
            let allowed = COMMON.contains(&k)
                || specific.contains(&k)
                || (ty != "TransformationEvent" && WHAT_WHERE_WHY.contains(&k))
                || (ty == "TransformationEvent" && k != "action" && WHAT_WHERE_WHY.contains(&k));
            if !allowed {
                if k.contains(':') {
                    continue;
                }
                let msg = if COMMON.contains(&k)
                    || WHAT_WHERE_WHY.contains(&k)
                    || type_fields("ObjectEvent")
                        .into_iter()
                        .flatten()
                        .any(|f| *f == k)
                    || type_fields("AggregationEvent")
                        .into_iter()
                        .flatten()
                        .any(|f| *f == k)
                    || type_fields("TransformationEvent")
                        .into_iter()
                        .flatten()
                        .any(|f| *f == k)
                {
                    format!("{k} is not a field of {ty}")
                } else {
                    "unknown member: extensions must be namespaced (prefix:name or a URI)".into()
                };
                ev.report(&format!("/{}", esc(k)), msg);
            }
        }
        // Action.
        let action = match member(m, "action") {
            Some(Value::String(a)) if matches!(a.as_str(), "ADD" | "OBSERVE" | "DELETE") => {
                Some(a.as_str())
            }
            Some(a) if ty != "TransformationEvent" => {
                ev.report(
                    "/action",
                    format!("must be ADD, OBSERVE or DELETE, found {}", show(a)),
                );
                None
            }
            None if ty != "TransformationEvent" => {
                ev.report("", format!("action is required in {ty}"));
                None
            }
            _ => None,
        };
        // What.
        let n = |ev: &mut Ev, k: &str, kind: u8| -> Option<usize> {
            m.get(k).map(|v| match kind {
                0 => ev.epc_list(&format!("/{k}"), v, true),
                1 => ev.epc_list(&format!("/{k}"), v, false),
                _ => ev.quantity_list(&format!("/{k}"), v),
            })
        };
        match ty {
            "ObjectEvent" => {
                let epcs = n(&mut ev, "epcList", 0);
                let qs = n(&mut ev, "quantityList", 2);
                let sensors = m
                    .get("sensorElementList")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if epcs.is_none()
                    && qs.unwrap_or(0) == 0
                    && !(sensors > 0 && m.contains_key("readPoint"))
                {
                    ev.report(
                        "",
                        "an ObjectEvent needs an epcList, a non-empty quantityList, or sensor data with a readPoint".into(),
                    );
                }
                if m.contains_key("ilmd") && action != Some("ADD") && action.is_some() {
                    ev.report(
                        "/ilmd",
                        format!(
                            "ILMD is only allowed when action is ADD, found {}",
                            action.unwrap_or("")
                        ),
                    );
                }
            }
            "AggregationEvent" | "AssociationEvent" => {
                if let Some(p) = member(m, "parentID") {
                    ev.epc("/parentID", p, false);
                }
                let ce = n(&mut ev, "childEPCs", 1).unwrap_or(0);
                let cq = n(&mut ev, "childQuantityList", 2).unwrap_or(0);
                if ce == 0 && cq == 0 && action.is_some() && action != Some("DELETE") {
                    ev.report(
                        "",
                        format!("{ty} with action {} needs childEPCs or childQuantityList (only DELETE may omit them, meaning all children)", action.unwrap_or("")),
                    );
                }
                let parent_needed =
                    ty == "AssociationEvent" || matches!(action, Some("ADD" | "DELETE"));
                if parent_needed && !m.contains_key("parentID") {
                    let why = if ty == "AssociationEvent" {
                        "parentID is required in an AssociationEvent".to_owned()
                    } else {
                        format!(
                            "parentID is required when action is {}",
                            action.unwrap_or("")
                        )
                    };
                    ev.report("", why);
                }
            }
            "TransactionEvent" => {
                if let Some(p) = member(m, "parentID") {
                    ev.epc("/parentID", p, false);
                }
                let e = n(&mut ev, "epcList", 0);
                let q = n(&mut ev, "quantityList", 2);
                if e.is_none() && q.is_none() {
                    ev.report(
                        "",
                        "a TransactionEvent needs an epcList or a quantityList".into(),
                    );
                }
                match member(m, "bizTransactionList").and_then(Value::as_array) {
                    Some(a) if !a.is_empty() => {}
                    _ => ev.report(
                        "",
                        "a TransactionEvent needs a non-empty bizTransactionList".into(),
                    ),
                }
            }
            "TransformationEvent" => {
                let ie = n(&mut ev, "inputEPCList", 0).unwrap_or(0);
                let iq = n(&mut ev, "inputQuantityList", 2).unwrap_or(0);
                let oe = n(&mut ev, "outputEPCList", 0).unwrap_or(0);
                let oq = n(&mut ev, "outputQuantityList", 2).unwrap_or(0);
                let tid = member(m, "transformationID");
                if let Some(t) = tid {
                    ev.uri("/transformationID", t);
                }
                let inputs = ie + iq > 0;
                let outputs = oe + oq > 0;
                if !(inputs && outputs) && !(tid.is_some() && (inputs || outputs)) {
                    ev.report(
                        "",
                        "a TransformationEvent needs inputs and outputs, or a transformationID with inputs or outputs".into(),
                    );
                }
            }
            _ => {}
        }
        // Why / where.
        if let Some(v) = member(m, "bizStep") {
            ev.vocab("/bizStep", v, VocabKind::BizStep, "business step");
        }
        if let Some(v) = member(m, "disposition") {
            ev.vocab("/disposition", v, VocabKind::Disposition, "disposition");
        }
        if let Some(pd) = member(m, "persistentDisposition") {
            if let Some(pm) = ev.object("/persistentDisposition", pd) {
                ev.members("/persistentDisposition", pm, &["set", "unset"], true);
                if !pm.contains_key("set") && !pm.contains_key("unset") {
                    ev.report("/persistentDisposition", "needs set or unset".into());
                }
                for k in ["set", "unset"] {
                    if let Some(x) = pm.get(k) {
                        let p = format!("/persistentDisposition/{k}");
                        if let Some(a) = ev.array(&p, x) {
                            if a.is_empty() {
                                ev.report(&p, "must not be empty".into());
                            }
                            for (i, d) in a.iter().enumerate() {
                                ev.vocab(
                                    &format!("{p}/{i}"),
                                    d,
                                    VocabKind::Disposition,
                                    "disposition",
                                );
                            }
                        }
                    }
                }
            }
        }
        if let Some(v) = member(m, "readPoint") {
            ev.location("/readPoint", v);
        }
        if let Some(v) = member(m, "bizLocation") {
            ev.location("/bizLocation", v);
        }
        if let Some(v) = member(m, "bizTransactionList") {
            ev.typed_list(
                "/bizTransactionList",
                v,
                "bizTransaction",
                VocabKind::BizTransactionType,
                false,
            );
        }
        if let Some(v) = member(m, "sourceList") {
            ev.typed_list("/sourceList", v, "source", VocabKind::SourceDestType, true);
        }
        if let Some(v) = member(m, "destinationList") {
            ev.typed_list(
                "/destinationList",
                v,
                "destination",
                VocabKind::SourceDestType,
                true,
            );
        }
        if let Some(v) = member(m, "sensorElementList") {
            ev.sensor_elements("/sensorElementList", v);
        }
        if let Some(v) = member(m, "ilmd") {
            if let Some(im) = ev.object("/ilmd", v) {
                ev.members("/ilmd", im, &[], false);
            }
        }
    }

    /// Validates the document skeleton (everything but the events).
    pub fn document(&mut self, header: &Map<String, Value>, out: &mut Vec<Problem>) {
        let mut p = |ptr: &str, msg: String| out.push(Problem::document(ptr, msg));
        let ty = header.get("type").and_then(Value::as_str);
        let query = match ty {
            Some("EPCISDocument") => false,
            Some("EPCISQueryDocument") => true,
            Some(t) => {
                p(
                    "/type",
                    format!("must be EPCISDocument or EPCISQueryDocument, found \"{t}\""),
                );
                return;
            }
            None => {
                p(
                    "",
                    "type is required (EPCISDocument or EPCISQueryDocument)".into(),
                );
                return;
            }
        };
        if !header.contains_key("@context") {
            p("", "@context is required".into());
        }
        let allowed: &[&str] = if query {
            &[
                "@context",
                "id",
                "type",
                "schemaVersion",
                "creationDate",
                "epcisBody",
            ]
        } else {
            &[
                "@context",
                "id",
                "type",
                "schemaVersion",
                "creationDate",
                "instanceIdentifier",
                "sender",
                "receiver",
                "epcisHeader",
                "epcisBody",
            ]
        };
        for k in header.keys() {
            if !allowed.contains(&k.as_str()) && !k.contains(':') {
                p(
                    &format!("/{}", esc(k)),
                    "member not allowed in the document".into(),
                );
            }
        }
        match header.get("schemaVersion") {
            Some(Value::String(s))
                if !s.is_empty()
                    && s.split('.')
                        .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit())) => {}
            Some(v) => p(
                "/schemaVersion",
                format!("must be a version like \"2.0\", found {}", show(v)),
            ),
            None if !query => p("", "schemaVersion is required".into()),
            None => {}
        }
        match header.get("creationDate") {
            Some(Value::String(s))
                if parse_instant(s).map(|(_, o)| o.is_none()).unwrap_or(true) =>
            {
                p(
                    "/creationDate",
                    format!("must be a date-time with a time-zone, found \"{s}\""),
                );
            }
            Some(Value::String(_)) => {}
            Some(v) => p(
                "/creationDate",
                format!("must be a date-time string, found {}", show(v)),
            ),
            None if !query => p("", "creationDate is required".into()),
            None => {}
        }
        for k in ["sender", "receiver", "instanceIdentifier"] {
            if let Some(v) = header.get(k) {
                if !v.is_string() {
                    p(
                        &format!("/{k}"),
                        format!("must be a string, found {}", show(v)),
                    );
                }
            }
        }
        if let Some(h) = header.get("epcisHeader") {
            if !h.is_object() {
                p(
                    "/epcisHeader",
                    format!("must be an object, found {}", show(h)),
                );
            }
        }
        let Some(body) = header.get("epcisBody").and_then(Value::as_object) else {
            p("", "epcisBody (an object) is required".into());
            return;
        };
        if query {
            let Some(qr) = body.get("queryResults").and_then(Value::as_object) else {
                p(
                    "/epcisBody",
                    "queryResults (an object) is required in an EPCISQueryDocument".into(),
                );
                return;
            };
            if !qr.get("queryName").is_some_and(Value::is_string) {
                p(
                    "/epcisBody/queryResults",
                    "queryName (a string) is required".into(),
                );
            }
            if let Some(s) = qr.get("subscriptionID") {
                if !s.is_string() {
                    p(
                        "/epcisBody/queryResults/subscriptionID",
                        format!("must be a string, found {}", show(s)),
                    );
                }
            }
            match qr.get("resultsBody").and_then(Value::as_object) {
                Some(rb) if rb.get("eventList").is_some_and(Value::is_array) => {}
                _ => p(
                    "/epcisBody/queryResults",
                    "resultsBody with an eventList array is required".into(),
                ),
            }
        } else if !body.get("eventList").is_some_and(Value::is_array) {
            p("/epcisBody", "eventList (an array) is required".into());
        }
    }
}

/// Validates a whole document value.
pub fn validate_value(doc: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(m) = doc.as_object() else {
        out.push(Problem::document(
            "",
            "an EPCIS document must be a JSON object".into(),
        ));
        return out;
    };
    let mut v = Validator::default();
    v.set_header(m);
    if let Some(events) = crate::json::event_list(doc) {
        for (i, e) in events.iter().enumerate() {
            v.event(i, e, &mut out);
        }
    }
    v.document(m, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(ev: Value) -> Value {
        json!({"@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
               "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
               "epcisBody": {"eventList": [ev]}})
    }

    fn problems(ev: Value) -> Vec<String> {
        validate_value(&doc(ev))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_object_event() {
        let p = problems(
            json!({"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+01:00", "action": "OBSERVE", "bizStep": "shipping",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"], "ex:x": {"a": 1}}),
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn reports_name_event_and_pointer() {
        let p = problems(
            json!({"type": "ObjectEvent", "eventID": "ni:///x", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+1:00", "action": "MOVE", "bizStep": "flying", "epcList": ["urn:epc:id:sgtin:1.2.3"]}),
        );
        assert!(p.contains(&"event 0 (ni:///x): /epcisBody/eventList/0/action: must be ADD, OBSERVE or DELETE, found \"MOVE\"".to_string()), "{p:?}");
        assert!(
            p.iter().any(|x| x.contains("/eventTimeZoneOffset")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|x| x.contains("/bizStep: \"flying\"")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|x| x.contains("/epcList/0: malformed EPC URN")),
            "{p:?}"
        );
    }

    #[test]
    fn semantic_rules() {
        let p = problems(
            json!({"type": "AggregationEvent", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+01:00", "action": "ADD", "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2017"]}),
        );
        assert!(
            p.iter()
                .any(|x| x.contains("parentID is required when action is ADD")),
            "{p:?}"
        );
        let p = problems(
            json!({"type": "AggregationEvent", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+01:00", "action": "DELETE", "parentID": "urn:epc:id:sscc:0614141.1234567890"}),
        );
        assert!(p.is_empty(), "{p:?}");
        let p = problems(
            json!({"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+01:00", "action": "OBSERVE", "epcList": [], "ilmd": {"ex:lot": "1"}}),
        );
        assert!(
            p.iter()
                .any(|x| x.contains("ILMD is only allowed when action is ADD")),
            "{p:?}"
        );
        let p = problems(
            json!({"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+01:00", "action": "OBSERVE", "epcList": [],
            "sensorElementList": [{"sensorReport": [{"value": "x", "booleanValue": 1}]}]}),
        );
        assert!(p.iter().any(|x| x.contains("needs a type")), "{p:?}");
        assert!(
            p.iter()
                .any(|x| x.contains("/sensorReport/0/value: must be a number")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|x| x.contains("/booleanValue: must be true or false")),
            "{p:?}"
        );
        let p = problems(
            json!({"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+01:00", "action": "OBSERVE",
            "epcList": ["https://id.gs1.org/01/09521234543213/21/x", "https://id.gs1.org/01/09521234543214/21/x"]}),
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("/epcList/1: invalid GS1 Digital Link"),
            "{p:?}"
        );
    }
}
