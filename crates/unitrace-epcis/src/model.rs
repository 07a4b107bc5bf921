//! The EPCIS 2.0 event model: documents, the five event types and every standard field.
//!
//! Events are one struct, [`Event`], with an [`EventType`] and every standard field as an
//! `Option` (absent and empty stay distinct, so a document round-trips); which fields a type may
//! carry is checked by [`crate::validate`]. User extensions are kept in order as
//! `serde_json::Map`s (insertion-ordered) at event level and inside every structure that allows
//! them. Field order on output is the standard order, extensions last.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::hash::{self, HashContext};
use crate::time::Timestamp;
use crate::vocab::{VocabKind, VocabValue};

/// The five EPCIS 2.0 event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// What happened to objects (EPCs or quantities).
    ObjectEvent,
    /// Objects physically aggregated to / disaggregated from a parent.
    AggregationEvent,
    /// Objects associated with / dissociated from business transactions.
    TransactionEvent,
    /// Inputs consumed to produce outputs.
    TransformationEvent,
    /// Assets associated with / dissociated from a parent (EPCIS 2.0).
    AssociationEvent,
}

impl EventType {
    /// The name as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ObjectEvent => "ObjectEvent",
            EventType::AggregationEvent => "AggregationEvent",
            EventType::TransactionEvent => "TransactionEvent",
            EventType::TransformationEvent => "TransformationEvent",
            EventType::AssociationEvent => "AssociationEvent",
        }
    }
}

/// `action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    /// Objects created / added.
    Add,
    /// Objects observed.
    Observe,
    /// Objects removed / ceased to exist.
    Delete,
}

/// One entry of a quantity list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuantityElement {
    /// Class identifier (EPC class URN, ID pattern or GS1 Digital Link).
    pub epc_class: String,
    /// Quantity (as written; an integer count without `uom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Number>,
    /// Unit of measure (UN/ECE Rec. 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
    /// Anything else (not allowed by the schema; kept so nothing is lost).
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// `errorDeclaration`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDeclaration {
    /// When the error was declared.
    pub declaration_time: Timestamp,
    /// Why (CBV error reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The events that correct this one.
    #[serde(
        rename = "correctiveEventIDs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub corrective_event_ids: Option<Vec<String>>,
    /// User extensions, in order.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// `persistentDisposition`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistentDisposition {
    /// Dispositions that now apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Vec<String>>,
    /// Dispositions that no longer apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unset: Option<Vec<String>>,
}

/// `readPoint` / `bizLocation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// The location identifier (SGLN URN or GS1 Digital Link, or another URI).
    pub id: String,
    /// User extensions, in order.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// One business transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BizTransaction {
    /// Business transaction type (CBV).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The transaction identifier.
    pub biz_transaction: String,
    /// Anything else (kept).
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// One source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Source type (CBV).
    #[serde(rename = "type")]
    pub kind: String,
    /// The source.
    pub source: String,
    /// Anything else (kept).
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// One destination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    /// Destination type (CBV).
    #[serde(rename = "type")]
    pub kind: String,
    /// The destination.
    pub destination: String,
    /// Anything else (kept).
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// `sensorMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorMetadata {
    /// Time of the readings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    /// Start of the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    /// End of the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    /// The sensor device.
    #[serde(rename = "deviceID", default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Device metadata URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_metadata: Option<String>,
    /// Raw data URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_data: Option<String>,
    /// Data processing method URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_processing_method: Option<String>,
    /// Business rules URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_rules: Option<String>,
    /// User extensions, in order.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// `sensorReport`, with every attribute of EPCIS 2.0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorReport {
    /// Measurement type (GS1 Web Vocabulary term or URI).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Alarm / error condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// The sensor device.
    #[serde(rename = "deviceID", default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Device metadata URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_metadata: Option<String>,
    /// Raw data URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_data: Option<String>,
    /// Data processing method URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_processing_method: Option<String>,
    /// Business rules URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_rules: Option<String>,
    /// Time of this reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    /// Microorganism URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microorganism: Option<String>,
    /// Chemical substance URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chemical_substance: Option<String>,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Number>,
    /// Component (CBV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// String value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// Boolean value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean_value: Option<bool>,
    /// Hex binary value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex_binary_value: Option<String>,
    /// URI value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_value: Option<String>,
    /// Minimum value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_value: Option<Number>,
    /// Maximum value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<Number>,
    /// Mean value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_value: Option<Number>,
    /// Standard deviation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s_dev: Option<Number>,
    /// Percentile rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perc_rank: Option<Number>,
    /// Percentile value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perc_value: Option<Number>,
    /// Unit of measure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
    /// Coordinate reference system URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinate_reference_system: Option<String>,
    /// User extensions, in order.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// One `sensorElement`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorElement {
    /// Metadata common to the reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_metadata: Option<SensorMetadata>,
    /// The reports.
    #[serde(default)]
    pub sensor_report: Vec<SensorReport>,
    /// User extensions, in order.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// An EPCIS event of any of the five types, with every standard field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// An event-level JSON-LD `@context`, if any.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// `eventID` (often the event hash ID).
    #[serde(rename = "eventID", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// When the event happened.
    pub event_time: Timestamp,
    /// The local time-zone offset at the event, `[+-]hh:mm`.
    pub event_time_zone_offset: String,
    /// When the event was recorded by a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_time: Option<Timestamp>,
    /// `certificationInfo` (a URI or a list of URIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification_info: Option<Value>,
    /// `errorDeclaration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_declaration: Option<ErrorDeclaration>,
    /// `parentID` (Aggregation, Association, Transaction events).
    #[serde(rename = "parentID", default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// `epcList` (Object, Transaction events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epc_list: Option<Vec<String>>,
    /// `childEPCs` (Aggregation, Association events).
    #[serde(rename = "childEPCs", default, skip_serializing_if = "Option::is_none")]
    pub child_epcs: Option<Vec<String>>,
    /// `inputEPCList` (Transformation event).
    #[serde(
        rename = "inputEPCList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub input_epc_list: Option<Vec<String>>,
    /// `inputQuantityList` (Transformation event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_quantity_list: Option<Vec<QuantityElement>>,
    /// `outputEPCList` (Transformation event).
    #[serde(
        rename = "outputEPCList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub output_epc_list: Option<Vec<String>>,
    /// `outputQuantityList` (Transformation event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_quantity_list: Option<Vec<QuantityElement>>,
    /// `quantityList` (Object, Transaction events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_list: Option<Vec<QuantityElement>>,
    /// `childQuantityList` (Aggregation, Association events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_quantity_list: Option<Vec<QuantityElement>>,
    /// `transformationID` (Transformation event).
    #[serde(
        rename = "transformationID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub transformation_id: Option<String>,
    /// `action` (all but Transformation events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// `bizStep`, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_step: Option<String>,
    /// `disposition`, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// `persistentDisposition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_disposition: Option<PersistentDisposition>,
    /// `readPoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_point: Option<Location>,
    /// `bizLocation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_location: Option<Location>,
    /// `bizTransactionList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_transaction_list: Option<Vec<BizTransaction>>,
    /// `sourceList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_list: Option<Vec<Source>>,
    /// `destinationList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_list: Option<Vec<Destination>>,
    /// `sensorElementList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_element_list: Option<Vec<SensorElement>>,
    /// `ilmd` (instance/lot master data; Object events with ADD, Transformation events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ilmd: Option<Map<String, Value>>,
    /// Event-level user extensions, in document order.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// Why an event value does not fit the model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event does not fit the EPCIS 2.0 model: {0}")]
pub struct ModelError(pub String);

/// How CBV values are written after [`Event::normalise_cbv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbvForm {
    /// Bare words (`shipping`), the JSON-LD default.
    BareWord,
    /// Web URIs (`https://ref.gs1.org/cbv/BizStep-shipping`).
    WebUri,
}

impl Event {
    /// An event from its JSON-LD value.
    pub fn from_value(v: Value) -> Result<Event, ModelError> {
        serde_json::from_value(v).map_err(|e| ModelError(e.to_string()))
    }

    /// The event as a JSON-LD value (standard member order, extensions last).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The event type.
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// `eventTime`.
    pub fn event_time(&self) -> &Timestamp {
        &self.event_time
    }

    /// `eventTime` in milliseconds since the Unix epoch (UTC).
    pub fn event_time_millis(&self) -> i64 {
        self.event_time.unix_millis()
    }

    /// `recordTime` in milliseconds since the Unix epoch (UTC).
    pub fn record_time_millis(&self) -> Option<i64> {
        self.record_time.as_ref().map(Timestamp::unix_millis)
    }

    /// Every instance identifier the event names: parentID, epcList, childEPCs, inputEPCList,
    /// outputEPCList, in that order.
    pub fn all_epcs(&self) -> impl Iterator<Item = &str> {
        self.parent_id
            .iter()
            .chain(self.epc_list.iter().flatten())
            .chain(self.child_epcs.iter().flatten())
            .chain(self.input_epc_list.iter().flatten())
            .chain(self.output_epc_list.iter().flatten())
            .map(String::as_str)
    }

    /// Every quantity element (quantityList, childQuantityList, inputQuantityList,
    /// outputQuantityList).
    pub fn quantities(&self) -> impl Iterator<Item = &QuantityElement> {
        self.quantity_list
            .iter()
            .flatten()
            .chain(self.child_quantity_list.iter().flatten())
            .chain(self.input_quantity_list.iter().flatten())
            .chain(self.output_quantity_list.iter().flatten())
    }

    /// Every class identifier of the quantity lists.
    pub fn epc_classes(&self) -> impl Iterator<Item = &str> {
        self.quantities().map(|q| q.epc_class.as_str())
    }

    /// The read point and business location identifiers.
    pub fn locations(&self) -> impl Iterator<Item = &str> {
        self.read_point
            .iter()
            .chain(self.biz_location.iter())
            .map(|l| l.id.as_str())
    }

    /// `bizStep` as a bare CBV word, if it is a standard term in any form.
    pub fn biz_step_term(&self) -> Option<&'static str> {
        standard(VocabKind::BizStep, self.biz_step.as_deref())
    }

    /// `disposition` as a bare CBV word, if it is a standard term in any form.
    pub fn disposition_term(&self) -> Option<&'static str> {
        standard(VocabKind::Disposition, self.disposition.as_deref())
    }

    /// The event hash ID.
    pub fn hash_id(&self, ctx: &HashContext) -> String {
        hash::event_hash(&self.to_value(), ctx)
    }

    /// Rewrites every CBV value given in a standard form (bare word, web URI, compact IRI, 1.x URN)
    /// to `form`; other values are kept.
    pub fn normalise_cbv(&mut self, form: CbvForm) {
        fn conv(kind: VocabKind, v: &mut String, form: CbvForm) {
            if let VocabValue::Standard(t) = kind.classify(v) {
                *v = match form {
                    CbvForm::BareWord => t.to_owned(),
                    CbvForm::WebUri => format!("{}{t}", kind.web_prefix()),
                };
            }
        }
        if let Some(v) = &mut self.biz_step {
            conv(VocabKind::BizStep, v, form);
        }
        if let Some(v) = &mut self.disposition {
            conv(VocabKind::Disposition, v, form);
        }
        if let Some(pd) = &mut self.persistent_disposition {
            for v in pd.set.iter_mut().chain(pd.unset.iter_mut()).flatten() {
                conv(VocabKind::Disposition, v, form);
            }
        }
        for bt in self.biz_transaction_list.iter_mut().flatten() {
            if let Some(k) = &mut bt.kind {
                conv(VocabKind::BizTransactionType, k, form);
            }
        }
        for s in self.source_list.iter_mut().flatten() {
            conv(VocabKind::SourceDestType, &mut s.kind, form);
        }
        for d in self.destination_list.iter_mut().flatten() {
            conv(VocabKind::SourceDestType, &mut d.kind, form);
        }
        if let Some(ed) = &mut self.error_declaration {
            if let Some(r) = &mut ed.reason {
                conv(VocabKind::ErrorReason, r, form);
            }
        }
        for se in self.sensor_element_list.iter_mut().flatten() {
            for r in &mut se.sensor_report {
                if let Some(k) = &mut r.kind {
                    conv(VocabKind::MeasurementType, k, form);
                }
                if let Some(k) = &mut r.exception {
                    conv(VocabKind::SensorException, k, form);
                }
                if let Some(k) = &mut r.component {
                    conv(VocabKind::Component, k, form);
                }
            }
        }
    }
}

fn standard(kind: VocabKind, v: Option<&str>) -> Option<&'static str> {
    match kind.classify(v?) {
        VocabValue::Standard(t) => Some(t),
        _ => None,
    }
}

/// Everything of a document but its events, kept as given (`@context`, header with master data,
/// SBDH, sender/receiver, user members), in document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DocumentHeader {
    /// The document members; the event list is an empty placeholder.
    pub members: Map<String, Value>,
}

impl DocumentHeader {
    fn str(&self, k: &str) -> Option<&str> {
        self.members.get(k).and_then(Value::as_str)
    }

    /// `@context` as given.
    pub fn context(&self) -> Option<&Value> {
        self.members.get("@context")
    }

    /// `type`: `EPCISDocument` or `EPCISQueryDocument`.
    pub fn doc_type(&self) -> Option<&str> {
        self.str("type")
    }

    /// `schemaVersion`.
    pub fn schema_version(&self) -> Option<&str> {
        self.str("schemaVersion")
    }

    /// `creationDate`.
    pub fn creation_date(&self) -> Option<&str> {
        self.str("creationDate")
    }

    /// `id` of the document.
    pub fn id(&self) -> Option<&str> {
        self.str("id")
    }

    /// `sender`.
    pub fn sender(&self) -> Option<&str> {
        self.str("sender")
    }

    /// `receiver`.
    pub fn receiver(&self) -> Option<&str> {
        self.str("receiver")
    }

    /// `instanceIdentifier`.
    pub fn instance_identifier(&self) -> Option<&str> {
        self.str("instanceIdentifier")
    }

    /// `epcisHeader` (with `epcisMasterData`), as given.
    pub fn epcis_header(&self) -> Option<&Value> {
        self.members.get("epcisHeader")
    }

    /// The master data vocabularies of the header, as given.
    pub fn master_data(&self) -> Option<&Value> {
        self.epcis_header()?
            .get("epcisMasterData")?
            .get("vocabularyList")
    }

    /// `queryResults.queryName` of a query document.
    pub fn query_name(&self) -> Option<&str> {
        self.members
            .get("epcisBody")?
            .get("queryResults")?
            .get("queryName")?
            .as_str()
    }

    /// `queryResults.subscriptionID` of a query document.
    pub fn subscription_id(&self) -> Option<&str> {
        self.members
            .get("epcisBody")?
            .get("queryResults")?
            .get("subscriptionID")?
            .as_str()
    }

    /// What the event hash needs from the document.
    pub fn hash_context(&self) -> HashContext {
        HashContext::from_document(&self.members)
    }
}

/// An `EPCISDocument` (capture).
#[derive(Clone, Debug, PartialEq)]
pub struct EpcisDocument {
    /// Everything but the events.
    pub header: DocumentHeader,
    /// The events, in document order.
    pub events: Vec<Event>,
}

/// An `EPCISQueryDocument` (query results).
#[derive(Clone, Debug, PartialEq)]
pub struct EpcisQueryDocument {
    /// Everything but the events (query name and subscription ID included).
    pub header: DocumentHeader,
    /// The events of `resultsBody`, in document order.
    pub events: Vec<Event>,
}

/// Either kind of document.
#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    /// `EPCISDocument`.
    Capture(EpcisDocument),
    /// `EPCISQueryDocument`.
    Query(EpcisQueryDocument),
}

impl Document {
    /// Builds the model from a skeleton and event values; `Err` names the first event that does
    /// not fit.
    pub fn from_parts(
        members: Map<String, Value>,
        events: Vec<Value>,
    ) -> Result<Document, (usize, ModelError)> {
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| Event::from_value(e).map_err(|err| (i, err)))
            .collect::<Result<Vec<_>, _>>()?;
        let header = DocumentHeader { members };
        let query = header.doc_type() == Some("EPCISQueryDocument")
            || header
                .members
                .get("epcisBody")
                .and_then(|b| b.get("queryResults"))
                .is_some();
        Ok(if query {
            Document::Query(EpcisQueryDocument { header, events })
        } else {
            Document::Capture(EpcisDocument { header, events })
        })
    }

    /// The header.
    pub fn header(&self) -> &DocumentHeader {
        match self {
            Document::Capture(d) => &d.header,
            Document::Query(d) => &d.header,
        }
    }

    /// The events.
    pub fn events(&self) -> &[Event] {
        match self {
            Document::Capture(d) => &d.events,
            Document::Query(d) => &d.events,
        }
    }

    /// Mutable access to the events.
    pub fn events_mut(&mut self) -> &mut Vec<Event> {
        match self {
            Document::Capture(d) => &mut d.events,
            Document::Query(d) => &mut d.events,
        }
    }

    /// Writes the document as JSON-LD (standard member order).
    pub fn write_json<W: std::io::Write>(&self, out: &mut W) -> std::io::Result<()> {
        crate::json::write_document(
            out,
            &self.header().members,
            self.events().iter().map(Event::to_value),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_round_trips_with_extensions_in_order() {
        let v = json!({
            "type": "ObjectEvent", "eventTime": "2024-01-01T01:00:00.5+01:00", "eventTimeZoneOffset": "+01:00",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"], "action": "ADD", "bizStep": "shipping",
            "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234", "ex:z": 1, "ex:a": [1, {"b": 2}]},
            "sensorElementList": [{"sensorMetadata": {"time": "2024-01-01T00:00:00Z", "ex:m": "x"},
                "sensorReport": [{"type": "Temperature", "value": 26.0, "uom": "CEL", "ex:r": true}]}],
            "ilmd": {"ex:lot": "L1"},
            "ex:z": {"n": [1, 2]}, "ex:a": "first-after-z"
        });
        let e = Event::from_value(v.clone()).unwrap();
        assert_eq!(e.event_time_millis(), 1_704_067_200_500);
        assert_eq!(e.all_epcs().count(), 1);
        assert_eq!(e.biz_step_term(), Some("shipping"));
        let back = e.to_value();
        assert_eq!(back, v);
        let keys: Vec<&String> = back.as_object().unwrap().keys().collect();
        assert_eq!(keys.last().unwrap().as_str(), "ex:a");
        let rp: Vec<&String> = back["readPoint"].as_object().unwrap().keys().collect();
        assert_eq!(rp, ["id", "ex:z", "ex:a"]);
    }

    #[test]
    fn normalises_cbv() {
        let mut e = Event::from_value(json!({"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+00:00", "epcList": [], "action": "OBSERVE",
            "bizStep": "urn:epcglobal:cbv:bizstep:receiving", "disposition": "https://example.com/d"}))
        .unwrap();
        e.normalise_cbv(CbvForm::BareWord);
        assert_eq!(e.biz_step.as_deref(), Some("receiving"));
        e.normalise_cbv(CbvForm::WebUri);
        assert_eq!(
            e.biz_step.as_deref(),
            Some("https://ref.gs1.org/cbv/BizStep-receiving")
        );
        assert_eq!(e.disposition.as_deref(), Some("https://example.com/d"));
    }
}
