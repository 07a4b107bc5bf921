//! EPCIS XML (2.0 read and write, 1.2 read with up-conversion) <-> the EPCIS 2.0 JSON-LD document
//! shape as a [`serde_json::Value`].
//!
//! # Reading
//! [`read_document_value`] turns an `EPCISDocument` or `EPCISQueryDocument` (namespace
//! `urn:epcglobal:epcis:xsd:2`, `urn:epcglobal:epcis-query:xsd:2`, and their 1.x counterparts) into
//! the JSON-LD document defined by the EPCIS 2.0 JSON schema. [`XmlEventReader`] does the same in a
//! streaming fashion: it first exposes the document skeleton (everything but the events) and then
//! yields one event at a time, so memory stays bounded by the largest event, not the document.
//!
//! Mapping decisions (checked against the XML/JSON example twins of the standard):
//! - CBV URNs and CBV web URIs of standard terms become bare words (`urn:epcglobal:cbv:bizstep:shipping`
//!   -> `shipping`, `gs1:Temperature` -> `Temperature`, `cbv:Comp-x` -> `x`); non-standard values stay.
//! - Numbers where the schema says number (`quantity`, sensor `value`, `minValue`, ...), booleans for
//!   `booleanValue`; `xsd:decimal` text without `.`/exponent becomes a JSON integer, else a double.
//! - 1.2 `extension` / `baseExtension` wrappers are flattened, `QuantityEvent` becomes an
//!   `ObjectEvent` (action `OBSERVE`) with a one-element `quantityList`, `schemaVersion` becomes `2.0`.
//! - User extension elements become `"prefix:localName"` members (elements without namespace keep
//!   their bare local name); the prefix is the document's own prefix unless it clashes, the
//!   namespace is declared in `@context` as `{"prefix": "namespace-uri"}`. Text-only elements become
//!   strings, nested elements objects, repeated elements arrays. `xsi:type` is dropped (the
//!   standard's JSON examples carry such values as strings).
//! - **Attributes of extension elements**: an element with attributes becomes an object with a member
//!   `"#attributes"` (an object from the attribute's qualified name, `"unit"` or `"ext1:unit"`, to
//!   its string value) and, if it has non-blank text, `"#text"`; child elements are members as
//!   usual. `#` cannot start an XML name, so this never collides with an element, and it is not a
//!   JSON-LD keyword. The writer turns both back into attributes and text.
//! - A namespace first declared *inside* an event (not on the root) is declared in that event's own
//!   `"@context"` (an object) by the streaming reader; [`read_document_value`] hoists these into the
//!   document's `@context`.
//! - The SBDH in the header is kept (generically) under
//!   `epcisHeader["sbdh:StandardBusinessDocumentHeader"]`; its sender, receiver and instance
//!   identifier are also copied to the top-level `sender`, `receiver`, `instanceIdentifier`.
//!
//! # Writing
//! [`write_document_value`] / [`XmlEventWriter`] write EPCIS 2.0 XML in XSD element order. Bare CBV
//! words are expanded according to [`CbvXmlFormat`].
//!
//! # Safety
//! Any byte sequence gives either a value or an [`XmlError`]; DTD internal subsets, entity
//! declarations and unknown entity references are rejected; nesting depth, event size and
//! attribute counts are capped ([`XmlLimits`]).

mod cbv;
mod read;
mod write;

pub use read::{read_document_value, read_document_value_with, XmlEventReader};
pub use write::{write_document_value, write_document_value_with, XmlEventWriter};

use std::fmt;

/// The XML namespace of EPCIS 2.0 documents.
pub const NS_EPCIS_2: &str = "urn:epcglobal:epcis:xsd:2";
/// The XML namespace of EPCIS 1.x documents.
pub const NS_EPCIS_1: &str = "urn:epcglobal:epcis:xsd:1";
/// The XML namespace of EPCIS 2.0 query documents.
pub const NS_EPCIS_QUERY_2: &str = "urn:epcglobal:epcis-query:xsd:2";
/// The XML namespace of EPCIS 1.x query documents.
pub const NS_EPCIS_QUERY_1: &str = "urn:epcglobal:epcis-query:xsd:1";
/// The standard EPCIS 2.0 JSON-LD context.
pub const EPCIS_CONTEXT_URL: &str =
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// How CBV values that are bare words in JSON are written in XML (`GS1-CBV-XML-Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CbvXmlFormat {
    /// URN form (`urn:epcglobal:cbv:bizstep:shipping`); web URIs of CBV terms are turned into URNs.
    AlwaysUrn,
    /// Web URI form (`https://ref.gs1.org/cbv/BizStep-shipping`); CBV URNs are turned into web URIs.
    AlwaysWebUri,
    /// Bare words become URNs (the default XML form), values already given as URIs stay as given.
    #[default]
    NoPreference,
}

/// Options for the XML writer (by default: CBV values as given or as URNs, indented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlWriteOptions {
    /// Form of CBV values.
    pub cbv_format: CbvXmlFormat,
    /// Indent with two spaces (the default; otherwise everything is written on one line).
    pub pretty: bool,
}

impl Default for XmlWriteOptions {
    fn default() -> Self {
        XmlWriteOptions {
            cbv_format: CbvXmlFormat::default(),
            pretty: true,
        }
    }
}

/// Caps that keep the reader's memory and stack bounded on hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Maximum element nesting depth in the document.
    pub max_depth: usize,
    /// Maximum number of bytes of one event (or of the header, or of any other subtree read at once).
    pub max_event_bytes: u64,
    /// Maximum number of attributes on one element.
    pub max_attributes: usize,
    /// Maximum number of distinct namespace URIs in a document (they are remembered for the
    /// whole document, so they are capped to keep memory bounded).
    pub max_namespaces: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_depth: 64,
            max_event_bytes: 64 * 1024 * 1024,
            max_attributes: 256,
            max_namespaces: 4096,
        }
    }
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlErrorKind {
    /// Not well-formed XML (quick-xml's diagnosis in the message).
    Syntax,
    /// A DTD internal subset, an entity declaration or an unknown entity reference.
    Forbidden,
    /// A size or depth limit of [`XmlLimits`] was exceeded.
    Limit,
    /// Well-formed XML but not an EPCIS document or query document (e.g. a capture-job response or
    /// a master-data document).
    NotEpcisDocument,
    /// An element or attribute that the EPCIS schema does not allow here, or a missing one.
    Structure,
    /// A value that cannot be converted (e.g. a quantity that is not a number).
    Value,
    /// The JSON value given to the writer is not an EPCIS document / event in the expected shape.
    Json,
    /// Reading or writing the underlying stream failed.
    Io,
}

/// An error from the XML reader or writer, with the XML path of the failing element (or the JSON
/// path for writer errors) and, when reading, the line and column where it was detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// Category.
    pub kind: XmlErrorKind,
    /// XML path such as `/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent[3]/action`, or a JSON
    /// path (`/epcisBody/eventList/2/action`) for writer errors; empty when unknown.
    pub path: String,
    /// 1-based line of the position where the problem was detected (0 when not applicable).
    pub line: u64,
    /// 1-based column (in bytes) of that position (0 when not applicable).
    pub column: u64,
    /// Human-readable description.
    pub message: String,
}

impl XmlError {
    pub(crate) fn new(
        kind: XmlErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        XmlError {
            kind,
            path: path.into(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if self.line > 0 {
            write!(f, " (line {}, column {})", self.line, self.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for XmlError {}
