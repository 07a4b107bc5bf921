//! GS1 EPCIS 2.0 and CBV 2.0, sans IO: the event model, JSON-LD and XML reading and writing,
//! validation and the canonical event hash.

pub mod xml;
pub use xml::{
    read_document_value, write_document_value, CbvXmlFormat, XmlError, XmlErrorKind,
    XmlEventReader, XmlEventWriter, XmlLimits, XmlWriteOptions,
};
