//! EPC (GS1 EPC Tag Data Standard): pure identity URIs, tag URIs and binary encodings.
//!
//! ```
//! use unitrace_id::epc::{decode_hex, parse_epc_uri, EpcTag, Scheme};
//! let tag = decode_hex("3074257BF7194E4000001A85").unwrap();
//! assert_eq!(tag.pure_uri(), "urn:epc:id:sgtin:0614141.812345.6789");
//! assert_eq!(tag.tag_uri(), "urn:epc:tag:sgtin-96:3.0614141.812345.6789");
//! let uri = parse_epc_uri("urn:epc:id:sgtin:0614141.812345.6789").unwrap();
//! let again = EpcTag::new(Scheme::Sgtin96, 3, uri.identity, uri.gcp_len).unwrap();
//! assert_eq!(again.hex(), "3074257BF7194E4000001A85");
//! ```

pub mod binary;
pub mod uri;

pub use binary::{decode_hex, EpcTag, Scheme};
pub use uri::{format_pure, parse_epc_uri, parse_tag_uri, EpcUri};
pub mod class;
pub use class::{EpcPattern, Lgtin};
