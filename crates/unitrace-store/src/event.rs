//! The capture input: a flat projection of one EPCIS event, and the per-event capture outcome.

use serde::{Deserialize, Serialize};

/// The five EPCIS 2.0 event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    ObjectEvent,
    AggregationEvent,
    TransactionEvent,
    TransformationEvent,
    AssociationEvent,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::ObjectEvent,
        EventType::AggregationEvent,
        EventType::TransactionEvent,
        EventType::TransformationEvent,
        EventType::AssociationEvent,
    ];

    /// Stable small integer used as the stored code.
    pub const fn code(self) -> i64 {
        match self {
            EventType::ObjectEvent => 1,
            EventType::AggregationEvent => 2,
            EventType::TransactionEvent => 3,
            EventType::TransformationEvent => 4,
            EventType::AssociationEvent => 5,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The EPCIS name, e.g. `ObjectEvent`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ObjectEvent => "ObjectEvent",
            EventType::AggregationEvent => "AggregationEvent",
            EventType::TransactionEvent => "TransactionEvent",
            EventType::TransformationEvent => "TransformationEvent",
            EventType::AssociationEvent => "AssociationEvent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// EPCIS action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    Add,
    Observe,
    Delete,
}

impl Action {
    pub const fn code(self) -> i64 {
        match self {
            Action::Add => 1,
            Action::Observe => 2,
            Action::Delete => 3,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Action::Add),
            2 => Some(Action::Observe),
            3 => Some(Action::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "ADD",
            Action::Observe => "OBSERVE",
            Action::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ADD" => Some(Action::Add),
            "OBSERVE" => Some(Action::Observe),
            "DELETE" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// The list an instance-level identifier appears in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EpcRole {
    /// `epcList`
    Epc,
    /// `parentID`
    ParentId,
    /// `childEPCs`
    ChildEpc,
    /// `inputEPCList`
    InputEpc,
    /// `outputEPCList`
    OutputEpc,
}

impl EpcRole {
    pub const ALL: [EpcRole; 5] = [
        EpcRole::Epc,
        EpcRole::ParentId,
        EpcRole::ChildEpc,
        EpcRole::InputEpc,
        EpcRole::OutputEpc,
    ];

    pub const fn code(self) -> i64 {
        match self {
            EpcRole::Epc => 1,
            EpcRole::ParentId => 2,
            EpcRole::ChildEpc => 3,
            EpcRole::InputEpc => 4,
            EpcRole::OutputEpc => 5,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// The list a class-level quantity appears in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QuantityRole {
    /// `quantityList`
    Quantity,
    /// `childQuantityList`
    ChildQuantity,
    /// `inputQuantityList`
    InputQuantity,
    /// `outputQuantityList`
    OutputQuantity,
}

impl QuantityRole {
    pub const ALL: [QuantityRole; 4] = [
        QuantityRole::Quantity,
        QuantityRole::ChildQuantity,
        QuantityRole::InputQuantity,
        QuantityRole::OutputQuantity,
    ];

    pub const fn code(self) -> i64 {
        match self {
            QuantityRole::Quantity => 1,
            QuantityRole::ChildQuantity => 2,
            QuantityRole::InputQuantity => 3,
            QuantityRole::OutputQuantity => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// One class-level quantity element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantityRow {
    pub role: QuantityRole,
    pub epc_class: String,
    pub quantity: Option<f64>,
    pub uom: Option<String>,
}

/// `errorDeclaration` of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDeclaration {
    /// UTC milliseconds.
    pub declaration_time: i64,
    pub reason: Option<String>,
    pub corrective_event_ids: Vec<String>,
}

/// One flattened sensor report (sensorElementList/sensorReport).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SensorReport {
    pub report_type: Option<String>,
    pub device_id: Option<String>,
    pub value: Option<f64>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub mean_value: Option<f64>,
    pub uom: Option<String>,
    /// UTC milliseconds.
    pub time: Option<i64>,
}

/// Where a projected field sits in the event (for the EPCIS field query parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FieldScope {
    /// An extension field of the event itself (`EQ_<ns>:<name>`).
    Event,
    /// Inside `ilmd` (`EQ_ILMD_...`).
    Ilmd,
    /// Inside `errorDeclaration` (`EQ_ERROR_DECLARATION_...`).
    ErrorDeclaration,
    /// Inside a `sensorElement` (`EQ_SENSORELEMENT_...`).
    SensorElement,
    /// Inside `sensorMetadata` (`EQ_SENSORMETADATA_...`).
    SensorMetadata,
    /// Inside a `sensorReport` (`EQ_SENSORREPORT_...`, and the standard report attributes).
    SensorReport,
    /// Inside `readPoint` (`EQ_readPoint_...`).
    ReadPoint,
    /// Inside `bizLocation` (`EQ_bizLocation_...`).
    BizLocation,
}

impl FieldScope {
    pub const ALL: [FieldScope; 8] = [
        FieldScope::Event,
        FieldScope::Ilmd,
        FieldScope::ErrorDeclaration,
        FieldScope::SensorElement,
        FieldScope::SensorMetadata,
        FieldScope::SensorReport,
        FieldScope::ReadPoint,
        FieldScope::BizLocation,
    ];

    pub const fn code(self) -> i64 {
        match self {
            FieldScope::Event => 1,
            FieldScope::Ilmd => 2,
            FieldScope::ErrorDeclaration => 3,
            FieldScope::SensorElement => 4,
            FieldScope::SensorMetadata => 5,
            FieldScope::SensorReport => 6,
            FieldScope::ReadPoint => 7,
            FieldScope::BizLocation => 8,
        }
    }
}

/// One projected field value, for the EPCIS field query parameters (EQ_/GT_/GE_/LT_/LE_/EXISTS_,
/// with and without INNER_). The projection and the query must name a field the same way: its
/// expanded name, namespace IRI followed by the local name (standard sensor report attributes
/// such as `stringValue` or `chemicalSubstance` by their bare EPCIS name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventField {
    pub scope: FieldScope,
    /// False for a top-level field of its scope, true for one nested deeper (`INNER_`).
    pub inner: bool,
    pub name: String,
    /// The value as text (compared by EQ_).
    pub text: Option<String>,
    /// The value as a number, or a date-time as UTC milliseconds (compared by GT_/GE_/LT_/LE_).
    pub number: Option<f64>,
}

/// A flat projection of one EPCIS event, as the EPCIS crate produces it for the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureEvent {
    /// Event hash ID, `ni:///sha-256;...`.
    pub hash_id: String,
    pub event_id: Option<String>,
    pub event_type: EventType,
    /// UTC milliseconds since the Unix epoch.
    pub event_time: i64,
    /// e.g. `+01:00`.
    pub event_time_zone_offset: String,
    pub action: Option<Action>,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    pub persistent_disposition_set: Vec<String>,
    pub persistent_disposition_unset: Vec<String>,
    pub read_point: Option<String>,
    pub biz_location: Option<String>,
    pub epcs: Vec<(EpcRole, String)>,
    pub quantities: Vec<QuantityRow>,
    /// (type, value); type may be empty when the event gives none.
    pub biz_transactions: Vec<(String, String)>,
    pub sources: Vec<(String, String)>,
    pub destinations: Vec<(String, String)>,
    pub transformation_id: Option<String>,
    pub ilmd_lot: Option<String>,
    pub ilmd_expiry: Option<String>,
    pub error_declaration: Option<ErrorDeclaration>,
    pub sensor_reports: Vec<SensorReport>,
    /// (startTime, endTime) of each sensorElement's sensorMetadata that gives either, ms.
    pub sensor_periods: Vec<(Option<i64>, Option<i64>)>,
    /// Extension, ILMD and other nested fields, for field queries.
    pub fields: Vec<EventField>,
    /// The whole event as JSON-LD; returned by queries as stored.
    pub document: serde_json::Value,
}

impl CaptureEvent {
    /// A minimal event of the given type; every optional field empty.
    pub fn new(hash_id: impl Into<String>, event_type: EventType, event_time: i64) -> Self {
        CaptureEvent {
            hash_id: hash_id.into(),
            event_id: None,
            event_type,
            event_time,
            event_time_zone_offset: "+00:00".to_string(),
            action: None,
            biz_step: None,
            disposition: None,
            persistent_disposition_set: Vec::new(),
            persistent_disposition_unset: Vec::new(),
            read_point: None,
            biz_location: None,
            epcs: Vec::new(),
            quantities: Vec::new(),
            biz_transactions: Vec::new(),
            sources: Vec::new(),
            destinations: Vec::new(),
            transformation_id: None,
            ilmd_lot: None,
            ilmd_expiry: None,
            error_declaration: None,
            sensor_reports: Vec::new(),
            sensor_periods: Vec::new(),
            fields: Vec::new(),
            document: serde_json::Value::Null,
        }
    }

    /// The `parentID`, if any.
    pub fn parent_id(&self) -> Option<&str> {
        self.epcs
            .iter()
            .find(|(r, _)| *r == EpcRole::ParentId)
            .map(|(_, e)| e.as_str())
    }

    /// Number of `childEPCs` entries.
    pub fn child_count(&self) -> usize {
        self.epcs
            .iter()
            .filter(|(r, _)| *r == EpcRole::ChildEpc)
            .count()
    }

    /// An AggregationEvent DELETE naming a parent and no children: empties the parent.
    pub fn is_empty_delete(&self) -> bool {
        self.event_type == EventType::AggregationEvent
            && self.action == Some(Action::Delete)
            && self.parent_id().is_some()
            && self.child_count() == 0
            && !self
                .quantities
                .iter()
                .any(|q| q.role == QuantityRole::ChildQuantity)
    }
}

/// How a document of several events is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CaptureMode {
    /// All or nothing (EPCIS `rollback`, the default).
    #[default]
    Rollback,
    /// Event by event (EPCIS `proceed`).
    Proceed,
}

/// What happened to one event of a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaptureOutcome {
    /// Stored now, with the recordTime the store gave it.
    Stored { record_time: i64 },
    /// An event with the same hash ID is already stored; not stored again.
    Duplicate,
    /// An event with the same eventID but a different hash ID is stored.
    Conflict {
        event_id: String,
        stored_hash_id: String,
    },
    /// Rejected; nothing of it is stored.
    Invalid(String),
    /// Valid, but not stored because another event of the same document failed (rollback mode).
    RolledBack,
}

impl CaptureOutcome {
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            CaptureOutcome::Conflict { .. } | CaptureOutcome::Invalid(_)
        )
    }
}

/// The answer to one capture: one outcome per submitted event, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureReport {
    pub outcomes: Vec<CaptureOutcome>,
}

impl CaptureReport {
    /// Number of events stored by this capture.
    pub fn stored(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, CaptureOutcome::Stored { .. }))
            .count()
    }

    /// Index and outcome of the first failing event.
    pub fn first_failure(&self) -> Option<(usize, &CaptureOutcome)> {
        self.outcomes
            .iter()
            .enumerate()
            .find(|(_, o)| o.is_failure())
    }
}

/// An event as stored, returned by queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Store-wide sequence number (commit order).
    pub seq: i64,
    pub hash_id: String,
    pub event_id: Option<String>,
    pub event_type: EventType,
    pub event_time: i64,
    pub record_time: i64,
    /// The document as captured.
    pub document: serde_json::Value,
}
