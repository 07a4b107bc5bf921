//! The entry points the `unitrace epcis` command calls: format detection, validate, hash, convert.

use serde_json::{Map, Value};

use crate::epc::EpcFormat;
use crate::hash::{self, HashContext};
use crate::json::{self, Cut, JsonError, JsonEventReader};
use crate::model::Document;
use crate::plain;
use crate::validate::{self, Problem};

/// A document format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// EPCIS 2.0 JSON / JSON-LD.
    Json,
    /// EPCIS XML (2.0; 1.2 on input).
    Xml,
}

/// Why a document could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither JSON nor XML.
    #[error("unknown format: a document must start with '{{' (JSON) or '<' (XML)")]
    UnknownFormat,
    /// Malformed JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// An XML problem (reading or writing).
    #[error("XML: {0}")]
    Xml(String),
    /// Not an EPCIS document.
    #[error("not an EPCIS document: {0}")]
    NotEpcis(String),
    /// An event that does not fit the model (validate the document for the details).
    #[error("event {index}: {message}")]
    Model {
        /// Index of the event.
        index: usize,
        /// What does not fit.
        message: String,
    },
}

/// The format of `bytes` from its first non-space character (a UTF-8 BOM is skipped).
pub fn detect_format(bytes: &[u8]) -> Option<Format> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Some(Format::Json),
        Some(b'<') => Some(Format::Xml),
        _ => None,
    }
}

// ---- the seam to `crate::xml` ----

/// Whether this build reads and writes XML.
pub fn xml_supported() -> bool {
    XML_SUPPORTED
}

const XML_SUPPORTED: bool = true;

fn xml_read(bytes: &[u8]) -> Result<Value, Error> {
    crate::xml::read_document_value(bytes).map_err(|e| Error::Xml(e.to_string()))
}

fn xml_write(doc: &Value) -> Result<Vec<u8>, Error> {
    crate::xml::write_document_value(doc).map_err(|e| Error::Xml(e.to_string()))
}

// ---- reading ----

/// A whole document as a JSON value (XML is converted to the JSON-LD shape).
pub fn parse_document_value(bytes: &[u8]) -> Result<Value, Error> {
    match detect_format(bytes) {
        Some(Format::Json) => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            serde_json::from_slice(bytes).map_err(|e| {
                Error::Json(JsonError {
                    offset: 0,
                    message: format!("line {} column {}: {e}", e.line(), e.column()),
                })
            })
        }
        Some(Format::Xml) => xml_read(bytes),
        None => Err(Error::UnknownFormat),
    }
}

/// What [`for_each_event`] hands to its callback.
pub enum Item<'a> {
    /// The document skeleton as read before the first event (for JSON: the members that precede
    /// the event list).
    Header(&'a Map<String, Value>),
    /// The event at this index.
    Event(usize, Value),
}

/// Calls `f` with the document skeleton and then with every event, in document order
/// (streaming for JSON and XML: one event in memory at a time). Returns the complete skeleton.
///
/// For XML, an event that uses a namespace first declared inside the event carries it in its own
/// `@context`; the returned skeleton's `@context` declares every namespace of the document.
pub fn for_each_event(
    bytes: &[u8],
    mut f: impl FnMut(Item<'_>),
) -> Result<Map<String, Value>, Error> {
    stream(bytes, |item| match item {
        Streamed::Header(h, _) => f(Item::Header(h)),
        Streamed::Namespaces(_) | Streamed::Raw { .. } => {}
        Streamed::Event(i, e) => f(Item::Event(i, e)),
    })
}

/// [`Item`] with what the hash needs beyond the JSON-LD shape.
enum Streamed<'a> {
    /// The skeleton, and for XML the namespaces of the standard context's prefixes as written.
    Header(&'a Map<String, Value>, &'a [(String, String)]),
    /// XML: namespaces of the standard context's prefixes first declared below the root (before
    /// the event that follows).
    Namespaces(&'a [(String, String)]),
    /// JSON: the bytes of the next event, before parsing. Not `complete`: the reader's buffered
    /// input from the event's first byte on (it may end before the event does or go on past it);
    /// `complete`: exactly the event (offered when the first offer was declined). Setting `taken`
    /// to `n > 0` says the event is the first `n` bytes, a well-formed JSON object, and has been
    /// dealt with (no `Event` follows for it).
    Raw {
        bytes: &'a [u8],
        complete: bool,
        taken: &'a mut usize,
    },
    Event(usize, Value),
}

fn xml_error(e: crate::xml::XmlError) -> Error {
    Error::Xml(e.to_string())
}

fn stream(bytes: &[u8], mut f: impl FnMut(Streamed<'_>)) -> Result<Map<String, Value>, Error> {
    match detect_format(bytes) {
        Some(Format::Json) => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            let mut r = JsonEventReader::new(bytes)?;
            f(Streamed::Header(&r.header(), &[]));
            let mut i = 0;
            loop {
                let cut = r.next_cut(|bytes| {
                    let mut taken = 0;
                    f(Streamed::Raw {
                        bytes,
                        complete: false,
                        taken: &mut taken,
                    });
                    (taken > 0).then_some(taken)
                })?;
                match cut {
                    Cut::End => break,
                    Cut::Taken => {}
                    Cut::Raw => {
                        let mut taken = 0;
                        f(Streamed::Raw {
                            bytes: r.raw_event(),
                            complete: true,
                            taken: &mut taken,
                        });
                        if taken == 0 {
                            f(Streamed::Event(i, r.parse_raw_event()?));
                        }
                    }
                }
                i += 1;
            }
            Ok(r.into_header().unwrap_or_default())
        }
        Some(Format::Xml) => {
            let mut r = crate::xml::XmlEventReader::new(bytes).map_err(xml_error)?;
            let builtin = |r: &crate::xml::XmlEventReader<&[u8]>| -> Vec<(String, String)> {
                r.builtin_namespaces()
                    .filter(|(p, _)| matches!(*p, "cbvmda" | "gs1" | "cbv" | "epcis"))
                    .map(|(p, u)| (p.to_owned(), u.to_owned()))
                    .collect()
            };
            let mut ns = builtin(&r);
            let mut seen = r.builtin_namespaces().count();
            match r.header() {
                Value::Object(h) => f(Streamed::Header(h, &ns)),
                _ => return Err(Error::NotEpcis("the document is not an object".into())),
            }
            let mut i = 0;
            while let Some(e) = r.next_event().map_err(xml_error)? {
                let now = r.builtin_namespaces().count();
                if now != seen {
                    seen = now;
                    ns = builtin(&r);
                    f(Streamed::Namespaces(&ns));
                }
                f(Streamed::Event(i, e));
                i += 1;
            }
            match r.finish().map_err(xml_error)? {
                Value::Object(h) => Ok(h),
                _ => Err(Error::NotEpcis("the document is not an object".into())),
            }
        }
        None => Err(Error::UnknownFormat),
    }
}

/// The hash context of a document from its skeleton (and, for XML, the namespaces of the standard
/// prefixes as written).
fn hash_context(h: &Map<String, Value>, xml: bool, xml_ns: &[(String, String)]) -> HashContext {
    let mut c = HashContext::from_document(h);
    c.xml = xml;
    add_namespaces(&mut c, xml_ns);
    c
}

/// Adds namespaces for prefixes the context does not know yet.
fn add_namespaces(c: &mut HashContext, ns: &[(String, String)]) {
    for (p, u) in ns {
        if !c.namespaces.iter().any(|(q, _)| q == p) {
            c.namespaces.push((p.clone(), u.clone()));
        }
    }
}

/// Drops the event-level `@context` of an event read from XML: the skeleton returned at the end
/// of the document declares every namespace of the document.
fn hoisted(e: &mut Value) {
    if let Value::Object(m) = e {
        m.shift_remove("@context");
    }
}

fn check_epcis(header: &Map<String, Value>) -> Result<(), Error> {
    match header.get("epcisBody") {
        Some(Value::Object(_)) => Ok(()),
        _ => Err(Error::NotEpcis("no epcisBody object".into())),
    }
}

/// Reads a whole document (JSON or XML) into the model.
pub fn read_document(bytes: &[u8]) -> Result<Document, Error> {
    let xml = detect_format(bytes) == Some(Format::Xml);
    let mut events = Vec::new();
    let header = for_each_event(bytes, |item| {
        if let Item::Event(_, mut e) = item {
            if xml {
                hoisted(&mut e);
            }
            events.push(e);
        }
    })?;
    check_epcis(&header)?;
    Document::from_parts(header, events).map_err(|(index, e)| Error::Model {
        index,
        message: e.0,
    })
}

/// The canonical pre-hash string of every event, in document order.
///
/// Streaming: each event is hashed as it is read, with the namespaces of the document's
/// `@context`. If the `@context` only follows the event list, the events are kept until it has been
/// read (the one case where memory grows with the document).
pub fn pre_hash_document(bytes: &[u8]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    hash_events(bytes, |e, c| out.push(hash::pre_hash(e, c)))?;
    Ok(out)
}

/// Streams the events of a document with the hash context they need. If the `@context` only
/// follows the event list (JSON), the events are kept until it has been read.
fn hash_events(
    bytes: &[u8],
    mut f: impl FnMut(&Value, &HashContext),
) -> Result<Map<String, Value>, Error> {
    let xml = detect_format(bytes) == Some(Format::Xml);
    let mut ctx: Option<HashContext> = None;
    let mut pending = Vec::new();
    let header = stream(bytes, |item| match item {
        Streamed::Header(h, ns) => {
            if h.contains_key("@context") {
                ctx = Some(hash_context(h, xml, ns));
            }
        }
        Streamed::Namespaces(ns) => {
            if let Some(c) = &mut ctx {
                add_namespaces(c, ns);
            }
        }
        Streamed::Raw { .. } => {}
        Streamed::Event(_, e) => match &ctx {
            Some(c) => f(&e, c),
            None => pending.push(e),
        },
    })?;
    check_epcis(&header)?;
    if !pending.is_empty() {
        let c = hash_context(&header, xml, &[]);
        pending.iter().for_each(|e| f(e, &c));
    }
    Ok(header)
}

/// The event hash ID (`ni:///sha-256;...?ver=CBV2.0`) of every event, in document order.
pub fn hash_document(bytes: &[u8]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    hash_events(bytes, |e, c| out.push(hash::event_hash(e, c)))?;
    Ok(out)
}

/// Validates a document (JSON or XML): structure as the EPCIS 2.0 JSON schema defines it, and the
/// semantic rules of EPCIS 2.0 / CBV 2.0. Every problem names the event and the field.
pub fn validate_document(bytes: &[u8]) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut v = validate::Validator::default();
    let res = for_each_event(bytes, |item| match item {
        Item::Header(h) => v.set_header(h),
        Item::Event(i, e) => v.event(i, &e, &mut problems),
    });
    match res {
        Ok(header) => v.document(&header, &mut problems),
        Err(e) => problems.push(Problem::document("", e.to_string())),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Validates a document and computes every event's hash ID in one pass (one parse): the hashes,
/// in document order, when the document is valid; every problem otherwise.
pub fn validate_and_hash(bytes: &[u8]) -> Result<Vec<String>, Vec<Problem>> {
    let xml = detect_format(bytes) == Some(Format::Xml);
    let mut problems = Vec::new();
    let mut v = validate::Validator::default();
    let mut ctx: Option<HashContext> = None;
    let mut pending = Vec::new();
    let mut hashes = Vec::new();
    let mut scratch = plain::Scratch::default();
    let mut retry = false;
    let res = stream(bytes, |item| match item {
        Streamed::Header(h, ns) => {
            v.set_header(h);
            if h.contains_key("@context") {
                ctx = Some(hash_context(h, xml, ns));
            }
        }
        Streamed::Namespaces(ns) => {
            if let Some(c) = &mut ctx {
                add_namespaces(c, ns);
            }
        }
        Streamed::Raw {
            bytes,
            complete,
            taken,
        } => {
            // A valid plain ObjectEvent: read and hashed from its bytes (see `crate::plain`); the
            // complete bytes are only read again when the buffered ones ended too early.
            let Some(c) = &ctx else { return };
            if complete && !retry {
                return;
            }
            retry = false;
            match plain::event_hash_valid_plain(bytes, c, &mut scratch) {
                Ok((n, h)) => {
                    hashes.push(h);
                    *taken = n;
                }
                Err(plain::Declined::Incomplete) => retry = !complete,
                Err(plain::Declined::Other) => {}
            }
        }
        Streamed::Event(i, e) => {
            v.event(i, &e, &mut problems);
            match &ctx {
                Some(c) => hashes.push(hash::event_hash(&e, c)),
                None => pending.push(e),
            }
        }
    });
    match res {
        Ok(header) => {
            v.document(&header, &mut problems);
            if !pending.is_empty() {
                let c = hash_context(&header, xml, &[]);
                hashes.extend(pending.iter().map(|e| hash::event_hash(e, &c)));
            }
        }
        Err(e) => problems.push(Problem::document("", e.to_string())),
    }
    if problems.is_empty() {
        Ok(hashes)
    } else {
        Err(problems)
    }
}

/// Converts a document to `to`, rewriting identifiers in EPC fields per `epc_format`.
pub fn convert(bytes: &[u8], to: Format, epc_format: EpcFormat) -> Result<Vec<u8>, Error> {
    match to {
        Format::Json => {
            let xml = detect_format(bytes) == Some(Format::Xml);
            let mut events = Vec::new();
            let header = for_each_event(bytes, |item| {
                if let Item::Event(_, mut e) = item {
                    if xml {
                        hoisted(&mut e);
                    }
                    json::apply_epc_format(&mut e, epc_format);
                    events.push(e);
                }
            })?;
            check_epcis(&header)?;
            let mut out = Vec::with_capacity(bytes.len());
            json::write_document(&mut out, &header, events)
                .map_err(|e| Error::NotEpcis(e.to_string()))?;
            Ok(out)
        }
        Format::Xml => {
            let mut doc = parse_document_value(bytes)?;
            if let Some(events) = json::event_list_mut(&mut doc) {
                for e in events {
                    json::apply_epc_format(e, epc_format);
                }
            }
            xml_write(&doc)
        }
    }
}

#[cfg(test)]
mod plain_hash_tests {
    use super::*;

    /// Checks the direct pre-hash of plain events against the node-tree one on `bytes`; returns
    /// how many events took the direct path.
    fn check(bytes: &[u8], name: &str) -> usize {
        let mut plain = 0;
        let _ = hash_events(bytes, |e, c| {
            let Some(obj) = e.as_object() else { return };
            if let Some(p) = hash::pre_hash_plain(obj, c) {
                plain += 1;
                assert_eq!(p, hash::pre_hash_general(obj, c), "{name}: {e}");
            }
        });
        plain
    }

    #[test]
    fn plain_events_hash_like_the_node_tree() {
        let dir = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/epcis-event-hash-vectors/examples"
        ));
        let mut plain = 0;
        let mut files = 0;
        for entry in std::fs::read_dir(dir)
            .expect("reference data missing: ../shared/epcis-event-hash-vectors")
        {
            let path = entry.unwrap().path();
            if path
                .extension()
                .is_some_and(|x| x == "jsonld" || x == "xml")
            {
                files += 1;
                plain += check(&std::fs::read(&path).unwrap(), &path.display().to_string());
            }
        }
        assert!(files > 30, "too few vector files: {files}");
        assert!(plain > 0, "no vector event took the direct path");
        // Edge cases of the direct path.
        let docs = [
            r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"ex":"https://ex.com/"}],"type":"EPCISDocument","epcisBody":{"eventList":[
            {"type":"ObjectEvent","eventTime":"2024-01-01T10:00:00.1234+01:00","eventTimeZoneOffset":"+01:00","epcList":[],"action":"OBSERVE"},
            {"type":"ObjectEvent","eventTime":" ","eventTimeZoneOffset":"","epcList":["", "urn:epc:id:sgtin:0614141.107346.2", "https://id.gs1.org/01/00614141073467/21/1", "urn:epc:id:sgtin:0614141.107346.1", "shipping", "ex:x"],"action":"ADD","bizStep":"urn:epcglobal:cbv:bizstep:shipping","disposition":"https://ref.gs1.org/cbv/Disp-in_transit","readPoint":{"id":""},"bizLocation":{"id":"urn:epc:id:sgln:0614141.07346.0"}},
            {"type":"ObjectEvent","eventID":"ni:///x","recordTime":"2024-01-01T10:00:00Z","eventTime":"2024-01-01T10:00:00Z","eventTimeZoneOffset":"-05:00","epcList":["urn:epc:id:sscc:0614141.1234567890"],"parentID":"ex:p","action":"DELETE","bizStep":"ex:shipping","disposition":"in_progress","readPoint":{"id":"ex:rp"}},
            {"type":"AggregationEvent","eventTime":"2024-01-01T10:00:00Z","eventTimeZoneOffset":"+00:00","parentID":"urn:epc:id:sscc:0614141.1234567890","action":"ADD","bizStep":"packing","disposition":"container_closed"}
            ]}}"#,
            r#"{"@context":{"ex":"https://ex.com/"},"type":"EPCISDocument","ex:ignoreFields":["bizStep"],"epcisBody":{"eventList":[
            {"type":"ObjectEvent","eventTime":"2024-01-01T10:00:00Z","eventTimeZoneOffset":"+01:00","epcList":["urn:epc:id:sgtin:0614141.107346.2"],"action":"OBSERVE","bizStep":"shipping"}
            ]}}"#,
            r#"<?xml version="1.0"?><epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z"><EPCISBody><EventList><ObjectEvent><eventTime>2024-01-01T10:00:00.123+01:00</eventTime><eventTimeZoneOffset>+01:00</eventTimeZoneOffset><epcList><epc>urn:epc:id:sgtin:0614141.107346.2</epc><epc>urn:epc:id:sgtin:0614141.107346.1</epc></epcList><action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep><disposition>urn:epcglobal:cbv:disp:in_transit</disposition><readPoint><id>urn:epc:id:sgln:0614141.07346.1234</id></readPoint></ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"#,
        ];
        let mut direct = 0;
        for (i, d) in docs.iter().enumerate() {
            direct += check(d.as_bytes(), &format!("edge case {i}"));
        }
        assert!(direct >= 5, "edge cases on the direct path: {direct}");
    }
}
