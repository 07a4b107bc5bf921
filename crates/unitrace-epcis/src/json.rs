//! EPCIS 2.0 JSON-LD: a streaming reader (memory bounded by the largest event) and a writer.
//!
//! [`JsonEventReader`] walks the document with a small byte scanner: members of the document, of
//! `epcisBody`, `queryResults` and `resultsBody` are parsed one by one into the document skeleton
//! (everything but the events, in document order, with an empty `eventList` placeholder), and the
//! elements of `eventList` are cut out one at a time and parsed on their own. Any order of keys is
//! accepted; members after the event list are added to the skeleton when they are reached.

use std::io::{Read, Write};

use serde_json::{Map, Value};

use crate::epc::{self, EpcFormat};

/// Default cap on the size of one event (and of any other single member), in bytes.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 << 20;
const MAX_DEPTH: usize = 256;

/// A malformed document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("JSON at byte {offset}: {message}")]
pub struct JsonError {
    /// Byte offset in the input where the problem was found.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

struct Source<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    consumed: u64,
}

impl<R: Read> Source<R> {
    fn fill(&mut self) -> std::io::Result<()> {
        if self.pos < self.end || self.eof {
            return Ok(());
        }
        self.consumed += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end = n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn offset(&self) -> u64 {
        self.consumed + self.pos as u64
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Body,
    QueryResults,
    ResultsBody,
}

struct Level {
    kind: Kind,
    key: String,
    map: Map<String, Value>,
    need_comma: bool,
}

/// What [`JsonEventReader::next_cut`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The event list(s) ended: no event.
    End,
    /// The event was taken from the buffer by the caller.
    Taken,
    /// The event was cut out: [`JsonEventReader::raw_event`].
    Raw,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Members,
    InEvents { first: bool },
    Done,
    Failed,
}

/// Reads an EPCIS JSON(-LD) document: the skeleton first, then the events one at a time.
pub struct JsonEventReader<R> {
    src: Source<R>,
    stack: Vec<Level>,
    skeleton: Option<Map<String, Value>>,
    state: State,
    scratch: Vec<u8>,
    max_value_bytes: usize,
    events_read: usize,
}

impl<R: Read> JsonEventReader<R> {
    /// Starts reading: parses everything before the first event.
    pub fn new(reader: R) -> Result<Self, JsonError> {
        Self::with_limit(reader, DEFAULT_MAX_VALUE_BYTES)
    }

    /// As [`JsonEventReader::new`], with a cap on the size of any single event or member.
    pub fn with_limit(reader: R, max_value_bytes: usize) -> Result<Self, JsonError> {
        let mut r = JsonEventReader {
            src: Source {
                inner: reader,
                buf: vec![0; 64 * 1024],
                pos: 0,
                end: 0,
                eof: false,
                consumed: 0,
            },
            stack: Vec::new(),
            skeleton: None,
            state: State::Members,
            scratch: Vec::new(),
            max_value_bytes,
            events_read: 0,
        };
        r.skip_ws()?;
        if r.peek()? != Some(b'{') {
            return Err(r.err("an EPCIS document must be a JSON object"));
        }
        r.bump();
        r.stack.push(Level {
            kind: Kind::Root,
            key: String::new(),
            map: Map::new(),
            need_comma: false,
        });
        r.run_members()?;
        Ok(r)
    }

    /// The document without its events, as far as it has been read (all of it once the iterator
    /// is exhausted). `epcisBody.eventList` (or `queryResults.resultsBody.eventList`) is an empty
    /// array placeholder.
    pub fn header(&self) -> Map<String, Value> {
        if let Some(s) = &self.skeleton {
            return s.clone();
        }
        let mut acc: Option<(String, Map<String, Value>)> = None;
        for level in self.stack.iter().rev() {
            let mut m = level.map.clone();
            if let Some((k, child)) = acc.take() {
                m.insert(k, Value::Object(child));
            }
            acc = Some((level.key.clone(), m));
        }
        acc.map(|(_, m)| m).unwrap_or_default()
    }

    /// The complete skeleton once all events have been read.
    pub fn into_header(self) -> Option<Map<String, Value>> {
        self.skeleton
    }

    /// Number of events returned so far.
    pub fn events_read(&self) -> usize {
        self.events_read
    }

    fn err(&self, msg: impl Into<String>) -> JsonError {
        JsonError {
            offset: self.src.offset(),
            message: msg.into(),
        }
    }

    fn io(&self, e: std::io::Error) -> JsonError {
        self.err(format!("read error: {e}"))
    }

    fn peek(&mut self) -> Result<Option<u8>, JsonError> {
        if let Err(e) = self.src.fill() {
            return Err(self.io(e));
        }
        Ok(if self.src.pos < self.src.end {
            Some(self.src.buf[self.src.pos])
        } else {
            None
        })
    }

    fn bump(&mut self) {
        self.src.pos += 1;
    }

    fn skip_ws(&mut self) -> Result<(), JsonError> {
        loop {
            if let Err(e) = self.src.fill() {
                return Err(self.io(e));
            }
            if self.src.pos >= self.src.end {
                return Ok(());
            }
            let chunk = &self.src.buf[self.src.pos..self.src.end];
            let n = chunk
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(chunk.len());
            self.src.pos += n;
            if self.src.pos < self.src.end {
                return Ok(());
            }
        }
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<(), JsonError> {
        self.skip_ws()?;
        match self.peek()? {
            Some(c) if c == b => {
                self.bump();
                Ok(())
            }
            Some(c) => Err(self.err(format!("expected {what}, found '{}'", c as char))),
            None => Err(self.err(format!("expected {what}, found the end of the input"))),
        }
    }

    /// Copies the raw bytes of the next JSON value into `scratch`.
    fn capture(&mut self) -> Result<(), JsonError> {
        self.scratch.clear();
        self.skip_ws()?;
        let first = match self.peek()? {
            Some(b) => b,
            None => return Err(self.err("expected a value, found the end of the input")),
        };
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let mut depth = 0usize;
        let mut in_str = false;
        let mut esc = false;
        loop {
            if let Err(e) = self.src.fill() {
                return Err(self.io(e));
            }
            if self.src.pos >= self.src.end {
                if scalar && !self.scratch.is_empty() {
                    return Ok(());
                }
                return Err(self.err("unexpected end of the input inside a value"));
            }
            let chunk = &self.src.buf[self.src.pos..self.src.end];
            let mut i = 0;
            let mut done = false;
            while i < chunk.len() {
                let b = chunk[i];
                if scalar {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        done = true;
                        break;
                    }
                } else if in_str {
                    if esc {
                        esc = false;
                    } else if b != b'"' && b != b'\\' {
                        // Skip to the next quote or backslash.
                        match find_quote_or_backslash(&chunk[i..]) {
                            Some(k) => {
                                i += k;
                                continue;
                            }
                            None => {
                                i = chunk.len();
                                break;
                            }
                        }
                    } else if b == b'\\' {
                        esc = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            i += 1;
                            done = true;
                            break;
                        }
                    }
                } else {
                    match b {
                        b'"' => in_str = true,
                        b'{' | b'[' => {
                            depth += 1;
                            if depth > MAX_DEPTH {
                                return Err(self.err("nesting too deep"));
                            }
                        }
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                i += 1;
                                done = true;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            self.scratch.extend_from_slice(&chunk[..i]);
            self.src.pos += i;
            if self.scratch.len() > self.max_value_bytes {
                return Err(self.err(format!(
                    "a single value is larger than the limit of {} bytes",
                    self.max_value_bytes
                )));
            }
            if done {
                return Ok(());
            }
        }
    }

    fn parse_scratch<T: serde::de::DeserializeOwned>(&self) -> Result<T, JsonError> {
        let start = self.src.offset() - self.scratch.len() as u64;
        serde_json::from_slice(&self.scratch).map_err(|e| JsonError {
            offset: start + e.column().saturating_sub(1) as u64,
            message: e.to_string(),
        })
    }

    /// Processes object members until an event list opens (true) or the document ends (false).
    fn run_members(&mut self) -> Result<bool, JsonError> {
        loop {
            self.skip_ws()?;
            let Some(c) = self.peek()? else {
                return Err(self.err("unexpected end of the input: missing '}'"));
            };
            let need_comma = self.stack.last().is_some_and(|l| l.need_comma);
            if c == b'}' {
                self.bump();
                let done = self.stack.pop().unwrap_or(Level {
                    kind: Kind::Root,
                    key: String::new(),
                    map: Map::new(),
                    need_comma: false,
                });
                match self.stack.last_mut() {
                    Some(parent) => {
                        parent.map.insert(done.key, Value::Object(done.map));
                        parent.need_comma = true;
                        continue;
                    }
                    None => {
                        self.skip_ws()?;
                        if self.peek()?.is_some() {
                            return Err(self.err("unexpected data after the document"));
                        }
                        self.skeleton = Some(done.map);
                        self.state = State::Done;
                        return Ok(false);
                    }
                }
            }
            if need_comma {
                if c != b',' {
                    return Err(self.err(format!("expected ',' or '}}', found '{}'", c as char)));
                }
                self.bump();
                self.skip_ws()?;
                if self.peek()? != Some(b'"') {
                    return Err(self.err("expected a member name after ','"));
                }
            } else if c != b'"' {
                return Err(self.err(format!("expected a member name, found '{}'", c as char)));
            }
            self.capture()?;
            let key: String = self.parse_scratch()?;
            self.expect(b':', "':'")?;
            self.skip_ws()?;
            let next = self.peek()?;
            let Some(level) = self.stack.last() else {
                return Err(self.err("internal: no open object"));
            };
            let kind = level.kind;
            let enter = match (kind, key.as_str()) {
                (Kind::Root, "epcisBody") => Some(Kind::Body),
                (Kind::Body, "queryResults") => Some(Kind::QueryResults),
                (Kind::QueryResults, "resultsBody") => Some(Kind::ResultsBody),
                _ => None,
            };
            if let (Some(k), Some(b'{')) = (enter, next) {
                self.bump();
                if let Some(l) = self.stack.last_mut() {
                    l.need_comma = true;
                }
                self.stack.push(Level {
                    kind: k,
                    key,
                    map: Map::new(),
                    need_comma: false,
                });
                continue;
            }
            if matches!(kind, Kind::Body | Kind::ResultsBody)
                && key == "eventList"
                && next == Some(b'[')
            {
                self.bump();
                if let Some(l) = self.stack.last_mut() {
                    l.map.insert(key, Value::Array(Vec::new()));
                    l.need_comma = true;
                }
                self.state = State::InEvents { first: true };
                return Ok(true);
            }
            self.capture()?;
            let v: Value = self.parse_scratch()?;
            if let Some(l) = self.stack.last_mut() {
                if l.map.contains_key(&key) {
                    let msg = format!("duplicate member \"{key}\"");
                    return Err(self.err(msg));
                }
                l.map.insert(key, v);
                l.need_comma = true;
            }
        }
    }

    fn next_event(&mut self) -> Result<Option<Value>, JsonError> {
        if !self.next_raw()? {
            return Ok(None);
        }
        let v = self.parse_raw_event()?;
        self.events_read += 1;
        Ok(Some(v))
    }

    /// Cuts the next event out of the input without parsing it (its bytes are then
    /// [`Self::raw_event`]); false at the end of the event list(s).
    pub(crate) fn next_raw(&mut self) -> Result<bool, JsonError> {
        Ok(self.next_cut(|_| None)? != Cut::End)
    }

    /// [`Self::next_raw`], offering the event's bytes in the reader's buffer to `take` first:
    /// `take` gets the buffered input from the first byte of the event on (which may end before
    /// the event does, or go on past it). If it answers `Some(n)` the first `n` bytes are the
    /// whole event, a well-formed JSON object (`take` vouches for it), and the reader moves past
    /// them without copying them ([`Cut::Taken`]: no [`Self::raw_event`]); otherwise the event is
    /// cut out as by [`Self::next_raw`] ([`Cut::Raw`]). Saves cutting and copying events that
    /// `take` reads in one pass of its own.
    pub(crate) fn next_cut(
        &mut self,
        take: impl FnOnce(&[u8]) -> Option<usize>,
    ) -> Result<Cut, JsonError> {
        loop {
            let State::InEvents { first } = self.state else {
                return Ok(Cut::End);
            };
            self.skip_ws()?;
            match self.peek()? {
                Some(b']') => {
                    self.bump();
                    self.state = State::Members;
                    if !self.run_members()? {
                        return Ok(Cut::End);
                    }
                    continue;
                }
                None => return Err(self.err("unexpected end of the input inside eventList")),
                Some(c) => {
                    if !first {
                        if c != b',' {
                            return Err(self.err(format!(
                                "expected ',' or ']' in eventList, found '{}'",
                                c as char
                            )));
                        }
                        self.bump();
                    }
                }
            }
            self.skip_ws()?;
            let avail = &self.src.buf[self.src.pos..self.src.end];
            let cut = match take(avail) {
                Some(n) if n > 0 && n <= avail.len() && n <= self.max_value_bytes => {
                    self.src.pos += n;
                    self.scratch.clear();
                    Cut::Taken
                }
                _ => {
                    self.capture()?;
                    Cut::Raw
                }
            };
            self.state = State::InEvents { first: false };
            return Ok(cut);
        }
    }

    /// The bytes of the event [`Self::next_raw`] cut out.
    pub(crate) fn raw_event(&self) -> &[u8] {
        &self.scratch
    }

    /// The event [`Self::next_raw`] cut out, parsed.
    pub(crate) fn parse_raw_event(&self) -> Result<Value, JsonError> {
        self.parse_scratch()
    }
}

impl<R: Read> Iterator for JsonEventReader<R> {
    type Item = Result<Value, JsonError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == State::Failed {
            return None;
        }
        match self.next_event() {
            Ok(Some(v)) => Some(Ok(v)),
            Ok(None) => None,
            Err(e) => {
                self.state = State::Failed;
                Some(Err(e))
            }
        }
    }
}

/// The first `"` or `\\` in `s`: eight bytes at a time (most strings in events are short, too
/// short for a vector search to pay off), then [`memchr::memchr2`] for long ones.
fn find_quote_or_backslash(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= s.len() && i < 64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        let w = u64::from_le_bytes(w);
        // A byte of `x` is zero where `w` has the byte looked for; the lowest flagged byte is
        // always a true one.
        let (q, b) = (w ^ (LO * u64::from(b'"')), w ^ (LO * u64::from(b'\\')));
        let m = (q.wrapping_sub(LO) & !q & HI) | (b.wrapping_sub(LO) & !b & HI);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i < 64 {
        return s[i..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\')
            .map(|k| i + k);
    }
    memchr::memchr2(b'"', b'\\', &s[i..]).map(|k| i + k)
}

/// The event list inside a document value (`epcisBody.eventList` or
/// `epcisBody.queryResults.resultsBody.eventList`).
pub fn event_list(doc: &Value) -> Option<&Vec<Value>> {
    let body = doc.get("epcisBody")?;
    body.get("eventList")
        .or_else(|| {
            body.get("queryResults")?
                .get("resultsBody")?
                .get("eventList")
        })
        .and_then(Value::as_array)
}

/// Mutable access to the event list of a document value.
pub fn event_list_mut(doc: &mut Value) -> Option<&mut Vec<Value>> {
    let body = doc.get_mut("epcisBody")?;
    if body.get("eventList").is_some() {
        return body.get_mut("eventList")?.as_array_mut();
    }
    body.get_mut("queryResults")?
        .get_mut("resultsBody")?
        .get_mut("eventList")?
        .as_array_mut()
}

const TOP_ORDER: &[&str] = &[
    "@context",
    "type",
    "id",
    "schemaVersion",
    "creationDate",
    "sender",
    "receiver",
    "instanceIdentifier",
    "epcisHeader",
];

const EVENT_ORDER: &[&str] = &[
    "@context",
    "type",
    "eventID",
    "eventTime",
    "eventTimeZoneOffset",
    "recordTime",
    "certificationInfo",
    "errorDeclaration",
    "parentID",
    "epcList",
    "childEPCs",
    "inputEPCList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "quantityList",
    "childQuantityList",
    "transformationID",
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
    "ilmd",
];

fn reorder(m: &Map<String, Value>, order: &[&str]) -> Map<String, Value> {
    let mut out = Map::with_capacity(m.len());
    for k in order {
        if let Some(v) = m.get(*k) {
            out.insert((*k).to_owned(), v.clone());
        }
    }
    for (k, v) in m {
        if !out.contains_key(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// An event with its members in the standard order (user extensions last, in their order).
pub fn standard_event_order(event: &Value) -> Value {
    match event.as_object() {
        Some(m) => Value::Object(reorder(m, EVENT_ORDER)),
        None => event.clone(),
    }
}

/// Rewrites the identifiers in an event's EPC and location fields to `format`.
pub fn apply_epc_format(event: &mut Value, format: EpcFormat) {
    if format == EpcFormat::AsIs {
        return;
    }
    fn conv(v: &mut Value, format: EpcFormat) {
        if let Value::String(s) = v {
            if let Some(n) = epc::to_format(s, format) {
                *s = n;
            }
        }
    }
    let Some(m) = event.as_object_mut() else {
        return;
    };
    for k in ["epcList", "childEPCs", "inputEPCList", "outputEPCList"] {
        if let Some(Value::Array(a)) = m.get_mut(k) {
            a.iter_mut().for_each(|x| conv(x, format));
        }
    }
    if let Some(v) = m.get_mut("parentID") {
        conv(v, format);
    }
    for k in [
        "quantityList",
        "childQuantityList",
        "inputQuantityList",
        "outputQuantityList",
    ] {
        if let Some(Value::Array(a)) = m.get_mut(k) {
            for q in a {
                if let Some(c) = q.get_mut("epcClass") {
                    conv(c, format);
                }
            }
        }
    }
    for k in ["readPoint", "bizLocation"] {
        if let Some(id) = m.get_mut(k).and_then(|l| l.get_mut("id")) {
            conv(id, format);
        }
    }
    for (k, vk) in [("sourceList", "source"), ("destinationList", "destination")] {
        if let Some(Value::Array(a)) = m.get_mut(k) {
            for x in a {
                if let Some(v) = x.get_mut(vk) {
                    conv(v, format);
                }
            }
        }
    }
}

/// Writes a document: `header` is the skeleton (its event list, if any, is ignored) and `events`
/// are written, in order, where the event list belongs. Members are written in the standard order.
pub fn write_document<W: Write, I>(
    out: &mut W,
    header: &Map<String, Value>,
    events: I,
) -> std::io::Result<()>
where
    I: IntoIterator<Item = Value>,
{
    let top = reorder(header, TOP_ORDER);
    out.write_all(b"{")?;
    let mut first = true;
    let mut events = Some(events);
    for (k, v) in &top {
        if k == "epcisBody" {
            continue;
        }
        sep(out, &mut first)?;
        write_member(out, k, v)?;
    }
    sep(out, &mut first)?;
    out.write_all(b"\"epcisBody\":{")?;
    let body = top.get("epcisBody").and_then(Value::as_object);
    let mut bfirst = true;
    let query = body
        .and_then(|b| b.get("queryResults"))
        .and_then(Value::as_object);
    if let Some(body) = body {
        for (k, v) in body {
            if k == "eventList" || k == "queryResults" {
                continue;
            }
            sep(out, &mut bfirst)?;
            write_member(out, k, v)?;
        }
    }
    sep(out, &mut bfirst)?;
    if let Some(q) = query {
        out.write_all(b"\"queryResults\":{")?;
        let q = reorder(q, &["queryName", "subscriptionID"]);
        let mut qfirst = true;
        for (k, v) in &q {
            if k == "resultsBody" {
                continue;
            }
            sep(out, &mut qfirst)?;
            write_member(out, k, v)?;
        }
        sep(out, &mut qfirst)?;
        out.write_all(b"\"resultsBody\":{")?;
        let mut rfirst = true;
        if let Some(rb) = q.get("resultsBody").and_then(Value::as_object) {
            for (k, v) in rb {
                if k != "eventList" {
                    sep(out, &mut rfirst)?;
                    write_member(out, k, v)?;
                }
            }
        }
        sep(out, &mut rfirst)?;
        write_events(out, events.take())?;
        out.write_all(b"}}")?;
    } else {
        write_events(out, events.take())?;
    }
    out.write_all(b"}}")?;
    Ok(())
}

fn sep<W: Write>(out: &mut W, first: &mut bool) -> std::io::Result<()> {
    if !*first {
        out.write_all(b",")?;
    }
    *first = false;
    Ok(())
}

fn write_member<W: Write>(out: &mut W, k: &str, v: &Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, k)?;
    out.write_all(b":")?;
    serde_json::to_writer(&mut *out, v)?;
    Ok(())
}

fn write_events<W: Write, I: IntoIterator<Item = Value>>(
    out: &mut W,
    events: Option<I>,
) -> std::io::Result<()> {
    out.write_all(b"\"eventList\":[")?;
    let mut first = true;
    for e in events.into_iter().flatten() {
        sep(out, &mut first)?;
        serde_json::to_writer(&mut *out, &standard_event_order(&e))?;
    }
    out.write_all(b"]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_events_and_keeps_trailing_members() {
        let doc = br#" {"type":"EPCISDocument","epcisBody":{"eventList":[{"a":1}, {"b":[1,{"c":"]}"}]}],"x":2},"@context":"c"} "#;
        let mut r = JsonEventReader::with_limit(&doc[..], 1000).unwrap();
        assert_eq!(r.header().get("type").unwrap(), "EPCISDocument");
        let evs: Vec<Value> = r.by_ref().map(Result::unwrap).collect();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1]["b"][1]["c"], "]}");
        let h = r.into_header().unwrap();
        assert_eq!(h["@context"], "c");
        assert_eq!(h["epcisBody"]["x"], 2);
        assert_eq!(h["epcisBody"]["eventList"], Value::Array(vec![]));
    }

    proptest::proptest! {
        #[test]
        fn finds_quote_or_backslash_like_a_scan(
            s in proptest::collection::vec(proptest::sample::select(vec![b'a', b'"', b'\\', 0x80, 0xdc, 0x22 ^ 0x80, 0x00, 0x01]), 0..150),
            pad in 0usize..100,
        ) {
            let mut v = vec![b'x'; pad];
            v.extend_from_slice(&s);
            let want = v.iter().position(|&c| c == b'"' || c == b'\\');
            proptest::prop_assert_eq!(find_quote_or_backslash(&v), want);
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{\"epcisBody\":{\"eventList\":[{},]}}",
            b"{\"epcisBody\":{\"eventList\":[{}}}",
            b"{} x",
            b"{\"a\":1,\"a\":2}",
        ] {
            let r = JsonEventReader::new(bad).and_then(|r| r.collect::<Result<Vec<_>, _>>());
            assert!(r.is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
