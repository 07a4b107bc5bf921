//! GS1 and EPC identifiers, sans IO.
//!
//! Every form in which a unit's identifier reaches unitrace (element strings with Application
//! Identifiers, barcode scan data, GS1 Digital Link URIs, EPC pure-identity and tag URIs, and the
//! binary EPC of an RFID tag) is parsed and validated here, and converted to every other form.
//! No I/O, no async, no global mutable state.

// GS1 Application Identifier side.
pub mod ai;
pub mod check;
pub mod digital_link;
pub mod element;
pub mod lint;

// EPC side.
pub mod epc;
pub mod gcp;
pub mod identity;

mod error;
pub mod parse;

pub use error::IdError;

pub use ai::{AiEntry, Charset, Component, Linter};
pub use digital_link::compress::{
    compress as compress_digital_link, decompress as decompress_digital_link,
};
pub use element::{ElementString, Symbology};
pub use epc::{decode_hex as decode_epc_hex, parse_epc_uri, parse_tag_uri, EpcTag, EpcUri, Scheme};
pub use gcp::GcpResolver;
pub use identity::Identity;
pub use parse::{parse_any, InputKind, Parsed};
