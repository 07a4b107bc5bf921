//! GS1 EPCIS 2.0 and CBV 2.0, sans IO: the event model, JSON-LD and XML reading and writing,
//! validation and the canonical event hash.

pub mod xml;
pub use xml::{
    read_document_value, write_document_value, CbvXmlFormat, XmlError, XmlErrorKind,
    XmlEventReader, XmlEventWriter, XmlLimits, XmlWriteOptions,
};

pub mod epc;
pub mod hash;
pub mod json;
pub mod model;
mod plain;
pub mod time;
pub mod validate;
pub mod vocab;

mod api;
pub use api::{
    convert, detect_format, for_each_event, hash_document, parse_document_value, pre_hash_document,
    read_document, validate_and_hash, validate_document, xml_supported, Error, Format, Item,
};
pub use epc::EpcFormat;
pub use model::{Document, EpcisDocument, EpcisQueryDocument, Event, EventType};
pub use validate::Problem;
