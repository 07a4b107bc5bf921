//! Streaming EPCIS XML reader producing the JSON-LD document shape.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::{Map, Number, Value};

use super::cbv::Vocab;
use super::{
    XmlError, XmlErrorKind, XmlLimits, EPCIS_CONTEXT_URL, NS_EPCIS_1, NS_EPCIS_2, NS_EPCIS_QUERY_1,
    NS_EPCIS_QUERY_2,
};

type JsonMap = Map<String, Value>;

const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const NS_SBDH: &str = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader";
const NS_CBVMDA: &str = "urn:epcglobal:cbv:mda";

/// Prefixes defined by the standard EPCIS JSON-LD context (never reused for other namespaces).
const RESERVED_PREFIXES: &[&str] = &[
    "epcis", "cbv", "cbvmda", "gs1", "rdfs", "rdf", "owl", "xsd", "dcterms", "xsi", "xml", "sh",
    "schema", "xmlns",
    // URI schemes: a JSON-LD prefix with such a name would rewrite IRIs like `urn:epc:...`.
    "http", "https", "urn", "uri", "ni", "mailto", "ftp", "file", "tag", "data", "did", "uuid",
];

/// Namespaces that are never declared in the JSON-LD `@context` (EPCIS/XML infrastructure, or
/// defined by the standard context under a fixed prefix).
const SILENT_NAMESPACES: &[&str] = &[
    NS_EPCIS_1,
    NS_EPCIS_2,
    NS_EPCIS_QUERY_1,
    NS_EPCIS_QUERY_2,
    "urn:epcglobal:epcis-masterdata:xsd:1",
    "urn:epcglobal:epcis-masterdata:xsd:2",
    "urn:epcglobal:xsd:1",
    NS_XSI,
    "http://www.w3.org/2001/XMLSchema",
    NS_XML,
    NS_SBDH,
];

// ---------------------------------------------------------------------------------------------
// Byte source that counts lines and enforces a per-subtree byte budget.

struct Counted<R> {
    inner: R,
    pos: u64,
    line: u64,
    line_start: u64,
    mark: u64,
    budget: u64,
    over: bool,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos.saturating_sub(self.mark) > self.budget {
            self.over = true;
            return Err(io::Error::other("size limit exceeded"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        let mut lines = 0u64;
        let mut last_nl = None;
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            for (i, &b) in buf[..n].iter().enumerate() {
                if b == b'\n' {
                    lines += 1;
                    last_nl = Some(i);
                }
            }
        }
        if let Some(i) = last_nl {
            self.line += lines;
            self.line_start = self.pos + i as u64 + 1;
        }
        self.inner.consume(amt);
        self.pos += amt as u64;
    }
}

// ---------------------------------------------------------------------------------------------
// Small element tree, built for one event (or header) at a time.

#[derive(Debug)]
struct Attr {
    ns: u32,
    prefix: Option<Rc<str>>,
    local: Rc<str>,
    value: String,
}

#[derive(Debug)]
struct Elem {
    ns: u32,
    prefix: Option<Rc<str>>,
    local: Rc<str>,
    attrs: Vec<Attr>,
    children: Vec<Elem>,
    text: String,
    line: u64,
    column: u64,
}

impl Elem {
    fn is(&self, local: &str) -> bool {
        self.ns == 0 && &*self.local == local
    }

    fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.to_string(),
        }
    }

    fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == 0 && &*a.local == local)
            .map(|a| a.value.as_str())
    }

    fn has_text(&self) -> bool {
        !self.text.trim().is_empty()
    }
}

/// Lazily rendered path of an element inside a subtree (for error messages).
struct PathSeg<'a> {
    parent: Option<&'a PathSeg<'a>>,
    name: &'a str,
}

impl PathSeg<'_> {
    /// `base` + the segments; the outermost segment gets `[index]` when `index` is not 0 (the
    /// position of the event among its siblings of the same name).
    fn render(&self, base: &str, index: usize) -> String {
        let mut names = Vec::new();
        let mut cur = Some(self);
        while let Some(s) = cur {
            names.push(s.name);
            cur = s.parent;
        }
        let mut out = base.to_owned();
        for (i, n) in names.iter().rev().enumerate() {
            out.push('/');
            out.push_str(n);
            if i == 0 && index > 0 {
                out.push_str(&format!("[{index}]"));
            }
        }
        out
    }
}

/// FNV-1a, for the small name interner.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf29ce484222325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
}

/// Interned element and attribute names (the same few dozen names repeat in every event).
#[derive(Default)]
struct Names {
    map: HashMap<Box<[u8]>, Rc<str>, BuildHasherDefault<Fnv>>,
}

impl Names {
    const MAX: usize = 4096;

    fn get(&mut self, bytes: &[u8]) -> Result<Rc<str>, std::str::Utf8Error> {
        if let Some(n) = self.map.get(bytes) {
            return Ok(n.clone());
        }
        let s: Rc<str> = Rc::from(std::str::from_utf8(bytes)?);
        if self.map.len() < Self::MAX {
            self.map.insert(bytes.into(), s.clone());
        }
        Ok(s)
    }
}

enum Tok {
    Start(Elem),
    End,
    Text(String),
    /// Whitespace-only text (kept in `Core::space`, so no allocation per whitespace node).
    Space,
    Eof,
}

struct NsBinding {
    prefix: Option<Rc<str>>,
    ns: u32,
}

/// Prefix assignment for the JSON side.
struct CtxEntry {
    prefix: String,
    uri: String,
    /// Declared in `@context` (false for namespaces the standard context already defines).
    emit: bool,
}

// ---------------------------------------------------------------------------------------------
// Low-level tokenizer with namespace resolution.

struct Core<R: BufRead> {
    xml: Reader<Counted<R>>,
    buf: Vec<u8>,
    limits: XmlLimits,
    uris: Vec<String>,
    uri_ids: HashMap<String, u32>,
    bindings: Vec<NsBinding>,
    marks: Vec<usize>,
    pending_end: bool,
    base_path: Vec<String>,
    ctx: Vec<CtxEntry>,
    ctx_by_ns: Vec<Option<usize>>,
    header_ctx_len: usize,
    late_used: Vec<usize>,
    names: Names,
    space: String,
    /// Index of the event being converted among its same-named siblings (0 outside events).
    event_index: usize,
}

fn syntax_err(e: impl std::fmt::Display) -> String {
    format!("malformed XML: {e}")
}

impl<R: BufRead> Core<R> {
    fn new(input: R, limits: XmlLimits) -> Self {
        let counted = Counted {
            inner: input,
            pos: 0,
            line: 1,
            line_start: 0,
            mark: 0,
            budget: limits.max_event_bytes,
            over: false,
        };
        let mut xml = Reader::from_reader(counted);
        let cfg = xml.config_mut();
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.expand_empty_elements = false;
        let mut core = Core {
            xml,
            buf: Vec::with_capacity(1024),
            limits,
            uris: vec![String::new()],
            uri_ids: HashMap::new(),
            bindings: Vec::new(),
            marks: Vec::new(),
            pending_end: false,
            base_path: Vec::new(),
            ctx: Vec::new(),
            ctx_by_ns: vec![None],
            header_ctx_len: 0,
            late_used: Vec::new(),
            names: Names::default(),
            space: String::new(),
            event_index: 0,
        };
        let xml_ns = core.intern(NS_XML).unwrap_or(0);
        core.bindings.push(NsBinding {
            prefix: Some(Rc::from("xml")),
            ns: xml_ns,
        });
        core
    }

    fn intern(&mut self, uri: &str) -> Result<u32, XmlError> {
        if let Some(&id) = self.uri_ids.get(uri) {
            return Ok(id);
        }
        if self.uris.len() > self.limits.max_namespaces {
            return Err(self.err_here(
                XmlErrorKind::Limit,
                format!(
                    "more than {} distinct namespaces",
                    self.limits.max_namespaces
                ),
            ));
        }
        let id = self.uris.len() as u32;
        self.uris.push(uri.to_owned());
        self.uri_ids.insert(uri.to_owned(), id);
        self.ctx_by_ns.push(None);
        Ok(id)
    }

    fn uri(&self, ns: u32) -> &str {
        &self.uris[ns as usize]
    }

    fn position(&self) -> (u64, u64) {
        let c = self.xml.get_ref();
        (c.line, c.pos - c.line_start + 1)
    }

    fn base_path_string(&self) -> String {
        let mut s = String::new();
        for p in &self.base_path {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    fn err_here(&self, kind: XmlErrorKind, message: impl Into<String>) -> XmlError {
        let (line, column) = self.position();
        XmlError {
            kind,
            path: self.base_path_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// A child element other than the one the schema allows here.
    fn unexpected_child(&self, el: &Elem, path: &PathSeg<'_>, expected: &str) -> XmlError {
        self.err_at(
            el,
            path,
            XmlErrorKind::Structure,
            format!("expected <{expected}>, found <{}>", el.qname()),
        )
    }

    fn err_at(
        &self,
        el: &Elem,
        path: &PathSeg<'_>,
        kind: XmlErrorKind,
        msg: impl Into<String>,
    ) -> XmlError {
        XmlError {
            kind,
            path: path.render(&self.base_path_string(), self.event_index),
            line: el.line,
            column: el.column,
            message: msg.into(),
        }
    }

    /// Starts a new byte budget (for the next event / subtree).
    fn reset_budget(&mut self) {
        let c = self.xml.get_mut();
        c.mark = c.pos;
    }

    fn resolve(&self, prefix: Option<&str>) -> Option<u32> {
        for b in self.bindings.iter().rev() {
            if b.prefix.as_deref() == prefix {
                return Some(b.ns);
            }
        }
        if prefix.is_none() {
            Some(0)
        } else {
            None
        }
    }

    fn name(&mut self, bytes: &[u8]) -> Result<Rc<str>, XmlError> {
        self.names
            .get(bytes)
            .map_err(|e| self.err_here(XmlErrorKind::Syntax, syntax_err(e)))
    }

    fn start_elem(&mut self, start: &BytesStart<'_>) -> Result<Elem, XmlError> {
        if self.marks.len() >= self.limits.max_depth {
            return Err(self.err_here(
                XmlErrorKind::Limit,
                format!(
                    "element nesting deeper than {} levels",
                    self.limits.max_depth
                ),
            ));
        }
        self.marks.push(self.bindings.len());
        let mut raw: Vec<(Option<Rc<str>>, Rc<str>, String)> = Vec::new();
        for a in start.attributes() {
            let a = a.map_err(|e| self.err_here(XmlErrorKind::Syntax, syntax_err(e)))?;
            if raw.len() >= self.limits.max_attributes {
                return Err(self.err_here(
                    XmlErrorKind::Limit,
                    format!(
                        "more than {} attributes on one element",
                        self.limits.max_attributes
                    ),
                ));
            }
            let key = a.key;
            let value = a.unescape_value().map_err(|e| self.map_qx(e))?.into_owned();
            let local = self.name(key.local_name().into_inner())?;
            let prefix = match key.prefix() {
                Some(p) => Some(self.name(p.into_inner())?),
                None => None,
            };
            match (prefix.as_deref(), &*local) {
                (None, "xmlns") => {
                    let ns = if value.is_empty() {
                        0
                    } else {
                        self.intern(&value)?
                    };
                    self.bindings.push(NsBinding { prefix: None, ns });
                }
                (Some("xmlns"), _) => {
                    if value.is_empty() {
                        return Err(self.err_here(
                            XmlErrorKind::Syntax,
                            format!("namespace prefix {local} bound to an empty URI"),
                        ));
                    }
                    let ns = self.intern(&value)?;
                    self.bindings.push(NsBinding {
                        prefix: Some(local),
                        ns,
                    });
                }
                _ => raw.push((prefix, local, value)),
            }
        }
        let name = start.name();
        let local = self.name(name.local_name().into_inner())?;
        let prefix = match name.prefix() {
            Some(p) => Some(self.name(p.into_inner())?),
            None => None,
        };
        let ns = self.resolve(prefix.as_deref()).ok_or_else(|| {
            self.err_here(
                XmlErrorKind::Syntax,
                format!(
                    "undeclared namespace prefix {:?}",
                    prefix.as_deref().unwrap_or("")
                ),
            )
        })?;
        let mut attrs = Vec::with_capacity(raw.len());
        for (p, l, v) in raw {
            let ans = match &p {
                None => 0,
                Some(px) => self.resolve(Some(px)).ok_or_else(|| {
                    self.err_here(
                        XmlErrorKind::Syntax,
                        format!("undeclared namespace prefix {px:?}"),
                    )
                })?,
            };
            attrs.push(Attr {
                ns: ans,
                prefix: p,
                local: l,
                value: v,
            });
        }
        let (line, column) = self.position();
        Ok(Elem {
            ns,
            prefix,
            local,
            attrs,
            children: Vec::new(),
            text: String::new(),
            line,
            column,
        })
    }

    fn map_qx(&self, e: quick_xml::Error) -> XmlError {
        if self.xml.get_ref().over {
            return self.err_here(
                XmlErrorKind::Limit,
                format!(
                    "a single event (or header) is larger than {} bytes",
                    self.limits.max_event_bytes
                ),
            );
        }
        match &e {
            quick_xml::Error::Escape(_) => self.err_here(
                XmlErrorKind::Forbidden,
                format!("entity or character reference not allowed: {e}"),
            ),
            quick_xml::Error::Io(io) => {
                self.err_here(XmlErrorKind::Io, format!("read error: {io}"))
            }
            _ => self.err_here(XmlErrorKind::Syntax, syntax_err(e)),
        }
    }

    fn end_elem(&mut self) {
        if let Some(m) = self.marks.pop() {
            self.bindings.truncate(m);
        }
    }

    fn next_tok(&mut self) -> Result<Tok, XmlError> {
        if self.pending_end {
            self.pending_end = false;
            self.end_elem();
            return Ok(Tok::End);
        }
        let mut buf = std::mem::take(&mut self.buf);
        let r = self.next_tok_with(&mut buf);
        self.buf = buf;
        r
    }

    fn next_tok_with(&mut self, buf: &mut Vec<u8>) -> Result<Tok, XmlError> {
        loop {
            buf.clear();
            let ev = match self.xml.read_event_into(buf) {
                Ok(ev) => ev,
                Err(e) => return Err(self.map_qx(e)),
            };
            match ev {
                Event::Start(s) => return Ok(Tok::Start(self.start_elem(&s)?)),
                Event::Empty(s) => {
                    let el = self.start_elem(&s)?;
                    self.pending_end = true;
                    return Ok(Tok::Start(el));
                }
                Event::End(_) => {
                    self.end_elem();
                    return Ok(Tok::End);
                }
                Event::Text(t) => {
                    if t.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                        if t.is_empty() {
                            continue;
                        }
                        self.space.clear();
                        // Whitespace is ASCII, hence UTF-8.
                        self.space
                            .push_str(std::str::from_utf8(&t).unwrap_or_default());
                        return Ok(Tok::Space);
                    }
                    let s = t.unescape().map_err(|e| self.map_qx(e))?;
                    if s.is_empty() {
                        continue;
                    }
                    return Ok(Tok::Text(s.into_owned()));
                }
                Event::CData(c) => {
                    let s = String::from_utf8(c.into_inner().into_owned())
                        .map_err(|e| self.err_here(XmlErrorKind::Syntax, syntax_err(e)))?;
                    return Ok(Tok::Text(s));
                }
                Event::DocType(d) => {
                    if d.as_ref().contains(&b'[') {
                        return Err(self.err_here(
                            XmlErrorKind::Forbidden,
                            "DTD internal subsets (entity declarations) are not accepted",
                        ));
                    }
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => return Ok(Tok::Eof),
            }
        }
    }

    /// Reads the rest of the element whose start tag was just returned, building its subtree.
    fn read_subtree(&mut self, mut root: Elem) -> Result<Elem, XmlError> {
        let mut stack: Vec<Elem> = Vec::new();
        loop {
            match self.next_tok()? {
                Tok::Start(el) => {
                    stack.push(root);
                    root = el;
                }
                Tok::Space => {
                    if root.children.is_empty() {
                        root.text.push_str(&self.space);
                    }
                }
                Tok::Text(t) => {
                    if root.text.is_empty() {
                        root.text = t;
                    } else {
                        root.text.push_str(&t);
                    }
                }
                Tok::End => match stack.pop() {
                    Some(mut parent) => {
                        parent.children.push(root);
                        root = parent;
                    }
                    None => return Ok(root),
                },
                Tok::Eof => {
                    return Err(self.err_here(XmlErrorKind::Syntax, "unexpected end of document"));
                }
            }
        }
    }

    /// Skips to the end of an element whose start was just returned, keeping nothing.
    fn expect_blank(&self, t: &str) -> Result<(), XmlError> {
        if t.trim().is_empty() {
            Ok(())
        } else {
            Err(self.err_here(
                XmlErrorKind::Structure,
                format!("unexpected text {:?}", truncate(t)),
            ))
        }
    }

    // ---- JSON prefixes ---------------------------------------------------------------------

    fn ctx_index(&mut self, ns: u32, src_prefix: Option<&str>) -> usize {
        if let Some(i) = self.ctx_by_ns[ns as usize] {
            return i;
        }
        let uri = self.uri(ns).to_owned();
        // Namespaces the standard EPCIS JSON-LD context defines under a fixed prefix.
        let builtin = builtin_prefix(&uri);
        let (prefix, emit) = match builtin {
            Some(p) => (p.to_owned(), false),
            // Not in the standard context, but its conventional prefix is kept (e.g. xsi:nil on
            // an extension element, inside "#attributes"); the writer knows it.
            None if uri == NS_XSI && !self.ctx.iter().any(|e| e.prefix == "xsi") => {
                ("xsi".to_owned(), false)
            }
            None => {
                let usable = |p: &str, ctx: &[CtxEntry]| {
                    !p.is_empty()
                        && !RESERVED_PREFIXES.contains(&p)
                        && !ctx.iter().any(|e| e.prefix == p)
                };
                match src_prefix {
                    Some(p) if usable(p, &self.ctx) => (p.to_owned(), true),
                    _ => {
                        let mut k = 1usize;
                        loop {
                            let p = format!("ns{k}");
                            if usable(&p, &self.ctx) {
                                break (p, true);
                            }
                            k += 1;
                        }
                    }
                }
            }
        };
        let i = self.ctx.len();
        self.ctx.push(CtxEntry { prefix, uri, emit });
        self.ctx_by_ns[ns as usize] = Some(i);
        i
    }

    fn key(&mut self, ns: u32, src_prefix: Option<&str>, local: &str) -> String {
        if ns == 0 {
            return local.to_owned();
        }
        let i = self.ctx_index(ns, src_prefix);
        if i >= self.header_ctx_len && self.ctx[i].emit && !self.late_used.contains(&i) {
            self.late_used.push(i);
        }
        let p = &self.ctx[i].prefix;
        let mut k = String::with_capacity(p.len() + 1 + local.len());
        k.push_str(p);
        k.push(':');
        k.push_str(local);
        k
    }

    fn context_value(&self, upto: usize) -> Value {
        let mut arr = vec![Value::String(EPCIS_CONTEXT_URL.to_owned())];
        for e in &self.ctx[..upto] {
            if e.emit {
                let mut m = Map::new();
                m.insert(e.prefix.clone(), Value::String(e.uri.clone()));
                arr.push(Value::Object(m));
            }
        }
        Value::Array(arr)
    }
}

/// The prefix under which the standard EPCIS JSON-LD context defines a namespace, if it does.
fn builtin_prefix(uri: &str) -> Option<&'static str> {
    match uri {
        NS_CBVMDA | "urn:epcglobal:cbv:mda:" | "urn:epcglobal:cbv:mda#" => Some("cbvmda"),
        "https://gs1.org/voc/" => Some("gs1"),
        "https://ref.gs1.org/cbv/" => Some("cbv"),
        "https://ref.gs1.org/epcis/" => Some("epcis"),
        "http://www.w3.org/2000/01/rdf-schema#" => Some("rdfs"),
        "http://www.w3.org/2002/07/owl#" => Some("owl"),
        "http://www.w3.org/2001/XMLSchema#" => Some("xsd"),
        "http://purl.org/dc/terms/" => Some("dcterms"),
        _ => None,
    }
}

fn truncate(s: &str) -> String {
    let t = s.trim();
    if t.len() <= 40 {
        t.to_owned()
    } else {
        let mut end = 40;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &t[..end])
    }
}

/// Inserts `value` under `key`; a repeated key turns the member into an array.
fn insert_multi(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Array(a)) => a.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

fn parse_decimal(s: &str) -> Option<Number> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty() {
        return None;
    }
    if body.bytes().all(|b| b.is_ascii_digit()) {
        let t2 = t.strip_prefix('+').unwrap_or(t);
        if let Ok(v) = t2.parse::<i64>() {
            return Some(Number::from(v));
        }
        if let Ok(v) = t2.parse::<u64>() {
            return Some(Number::from(v));
        }
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let f: f64 = t.parse().ok()?;
    Number::from_f64(f)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

const EVENT_NAMES: &[&str] = &[
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
    "QuantityEvent",
];

// ---------------------------------------------------------------------------------------------
// Element -> JSON conversion.

impl<R: BufRead> Core<R> {
    fn text_of(&self, el: &Elem, path: &PathSeg<'_>) -> Result<String, XmlError> {
        if !el.children.is_empty() {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                format!(
                    "<{}> must contain text only, found child elements",
                    el.local
                ),
            ));
        }
        Ok(el.text.trim().to_owned())
    }

    /// Moves the (trimmed) text out of a text-only element.
    fn take_text(&self, el: &mut Elem, path: &PathSeg<'_>) -> Result<String, XmlError> {
        if !el.children.is_empty() {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                format!(
                    "<{}> must contain text only, found child elements",
                    el.local
                ),
            ));
        }
        let t = std::mem::take(&mut el.text);
        let trimmed = t.trim();
        if trimmed.len() == t.len() {
            Ok(t)
        } else {
            Ok(trimmed.to_owned())
        }
    }

    fn take_epc_list(
        &self,
        el: &mut Elem,
        path: &PathSeg<'_>,
        item: &str,
    ) -> Result<Value, XmlError> {
        if el.has_text() {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                format!("unexpected text in <{}>", el.local),
            ));
        }
        let mut v = Vec::with_capacity(el.children.len());
        for c in el.children.iter_mut() {
            let name = c.local.clone();
            let seg = PathSeg {
                parent: Some(path),
                name: &name,
            };
            if !c.is(item) {
                return Err(self.unexpected_child(c, &seg, item));
            }
            v.push(Value::String(self.take_text(c, &seg)?));
        }
        Ok(Value::Array(v))
    }

    /// Generic conversion of a user extension element's content.
    fn generic(&mut self, el: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let attrs: Vec<&Attr> = el
            .attrs
            .iter()
            .filter(|a| !(a.ns != 0 && self.uri(a.ns) == NS_XSI && &*a.local == "type"))
            .collect();
        if el.children.is_empty() && attrs.is_empty() {
            return Ok(Value::String(el.text.clone()));
        }
        let mut m = Map::new();
        if !attrs.is_empty() {
            let mut am = Map::new();
            for a in attrs {
                let k = self.key(a.ns, a.prefix.as_deref(), &a.local);
                am.insert(k, Value::String(a.value.clone()));
            }
            m.insert("#attributes".to_owned(), Value::Object(am));
        }
        if (el.children.is_empty() && !el.text.is_empty()) || el.has_text() {
            m.insert("#text".to_owned(), Value::String(el.text.clone()));
        }
        for c in &el.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            let k = self.key(c.ns, c.prefix.as_deref(), &c.local);
            let v = self.generic(c, &seg)?;
            insert_multi(&mut m, k, v);
        }
        Ok(Value::Object(m))
    }

    /// Adds a namespaced child as an extension member, or flattens a no-namespace `extension`
    /// wrapper; anything else is an error.
    fn ext_member(
        &mut self,
        out: &mut Map<String, Value>,
        c: &Elem,
        path: &PathSeg<'_>,
    ) -> Result<(), XmlError> {
        let seg = PathSeg {
            parent: Some(path),
            name: &c.local,
        };
        if c.ns != 0 {
            let k = self.key(c.ns, c.prefix.as_deref(), &c.local);
            let v = self.generic(c, &seg)?;
            insert_multi(out, k, v);
            Ok(())
        } else if &*c.local == "extension" {
            if c.has_text() {
                return Err(self.err_at(
                    c,
                    &seg,
                    XmlErrorKind::Structure,
                    "unexpected text in <extension>",
                ));
            }
            for cc in &c.children {
                self.ext_member(out, cc, &seg)?;
            }
            Ok(())
        } else {
            Err(self.err_at(
                c,
                &seg,
                XmlErrorKind::Structure,
                format!(
                    "unexpected element <{}> (extension elements need a namespace)",
                    c.local
                ),
            ))
        }
    }

    fn epc_list(&self, el: &Elem, path: &PathSeg<'_>, item: &str) -> Result<Value, XmlError> {
        let mut v = Vec::with_capacity(el.children.len());
        for c in &el.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            if !c.is(item) {
                return Err(self.unexpected_child(c, &seg, item));
            }
            v.push(Value::String(self.text_of(c, &seg)?));
        }
        Ok(Value::Array(v))
    }

    fn quantity_list(&self, el: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let mut v = Vec::with_capacity(el.children.len());
        for c in &el.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            if !c.is("quantityElement") {
                return Err(self.unexpected_child(c, &seg, "quantityElement"));
            }
            let mut m = Map::new();
            let (mut class, mut qty, mut uom) = (None, None, None);
            for f in &c.children {
                let fseg = PathSeg {
                    parent: Some(&seg),
                    name: &f.local,
                };
                let slot = match &*f.local {
                    "epcClass" if f.ns == 0 => &mut class,
                    "quantity" if f.ns == 0 => &mut qty,
                    "uom" if f.ns == 0 => &mut uom,
                    _ => {
                        return Err(self.err_at(
                            f,
                            &fseg,
                            XmlErrorKind::Structure,
                            format!("unexpected element <{}> in quantityElement", f.qname()),
                        ))
                    }
                };
                if slot.is_some() {
                    return Err(self.err_at(
                        f,
                        &fseg,
                        XmlErrorKind::Structure,
                        format!("duplicate <{}>", f.local),
                    ));
                }
                *slot = Some(f);
            }
            let Some(cls) = class else {
                return Err(self.err_at(
                    c,
                    &seg,
                    XmlErrorKind::Structure,
                    "quantityElement without <epcClass>",
                ));
            };
            m.insert(
                "epcClass".to_owned(),
                Value::String(cls.text.trim().to_owned()),
            );
            if let Some(q) = qty {
                let nil = q.attrs.iter().any(|a| {
                    a.ns != 0
                        && &*a.local == "nil"
                        && self.uri(a.ns) == NS_XSI
                        && parse_bool(&a.value) == Some(true)
                });
                if !nil {
                    let n = parse_decimal(&q.text).ok_or_else(|| {
                        let qseg = PathSeg {
                            parent: Some(&seg),
                            name: "quantity",
                        };
                        self.err_at(
                            q,
                            &qseg,
                            XmlErrorKind::Value,
                            format!("quantity {:?} is not a decimal number", truncate(&q.text)),
                        )
                    })?;
                    m.insert("quantity".to_owned(), Value::Number(n));
                }
            }
            if let Some(u) = uom {
                m.insert("uom".to_owned(), Value::String(u.text.trim().to_owned()));
            }
            v.push(Value::Object(m));
        }
        Ok(Value::Array(v))
    }

    fn location(&mut self, el: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let mut m = Map::new();
        for c in &el.children {
            if c.is("id") {
                let seg = PathSeg {
                    parent: Some(path),
                    name: "id",
                };
                if m.contains_key("id") {
                    return Err(self.err_at(c, &seg, XmlErrorKind::Structure, "duplicate <id>"));
                }
                m.insert("id".to_owned(), Value::String(self.text_of(c, &seg)?));
            } else {
                self.ext_member(&mut m, c, path)?;
            }
        }
        if !m.contains_key("id") {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                format!("<{}> without <id>", el.local),
            ));
        }
        Ok(Value::Object(m))
    }

    fn typed_list(
        &self,
        el: &Elem,
        path: &PathSeg<'_>,
        item: &str,
        vocab: Vocab,
    ) -> Result<Value, XmlError> {
        let mut v = Vec::with_capacity(el.children.len());
        for c in &el.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            if !c.is(item) {
                return Err(self.unexpected_child(c, &seg, item));
            }
            let mut m = Map::new();
            if let Some(t) = c.attr("type") {
                m.insert("type".to_owned(), Value::String(vocab.to_json(t.trim())));
            } else if item != "bizTransaction" {
                return Err(self.err_at(
                    c,
                    &seg,
                    XmlErrorKind::Structure,
                    format!("<{item}> without type attribute"),
                ));
            }
            m.insert(item.to_owned(), Value::String(self.text_of(c, &seg)?));
            v.push(Value::Object(m));
        }
        Ok(Value::Array(v))
    }

    fn sensor_attrs(
        &mut self,
        el: &Elem,
        path: &PathSeg<'_>,
        report: bool,
    ) -> Result<Value, XmlError> {
        let mut m = Map::new();
        for a in &el.attrs {
            if a.ns != 0 {
                if self.uri(a.ns) == NS_XSI {
                    continue;
                }
                let k = self.key(a.ns, a.prefix.as_deref(), &a.local);
                m.insert(k, Value::String(a.value.clone()));
                continue;
            }
            let val = a.value.trim();
            let v = match &*a.local {
                "value" | "minValue" | "maxValue" | "meanValue" | "sDev" | "percRank"
                | "percValue"
                    if report =>
                {
                    Value::Number(parse_decimal(val).ok_or_else(|| {
                        self.err_at(
                            el,
                            path,
                            XmlErrorKind::Value,
                            format!(
                                "attribute {} = {:?} is not a number",
                                a.local,
                                truncate(val)
                            ),
                        )
                    })?)
                }
                "booleanValue" if report => Value::Bool(parse_bool(val).ok_or_else(|| {
                    self.err_at(
                        el,
                        path,
                        XmlErrorKind::Value,
                        format!("booleanValue {:?} is not a boolean", truncate(val)),
                    )
                })?),
                "type" if report => Value::String(Vocab::MeasurementType.to_json(val)),
                "exception" if report => Value::String(Vocab::SensorAlertType.to_json(val)),
                "component" if report => Value::String(Vocab::Component.to_json(val)),
                _ => Value::String(a.value.clone()),
            };
            m.insert(a.local.to_string(), v);
        }
        if el.has_text() || !el.children.is_empty() {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                format!("<{}> carries data in attributes only", el.local),
            ));
        }
        Ok(Value::Object(m))
    }

    fn sensor_element_list(&mut self, el: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let mut v = Vec::new();
        for c in &el.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            if !c.is("sensorElement") {
                return Err(self.unexpected_child(c, &seg, "sensorElement"));
            }
            let mut m = Map::new();
            let mut reports = Vec::new();
            for f in &c.children {
                let fseg = PathSeg {
                    parent: Some(&seg),
                    name: &f.local,
                };
                if f.is("sensorMetadata") {
                    let md = self.sensor_attrs(f, &fseg, false)?;
                    m.insert("sensorMetadata".to_owned(), md);
                } else if f.is("sensorReport") {
                    reports.push(self.sensor_attrs(f, &fseg, true)?);
                    if !m.contains_key("sensorReport") {
                        m.insert("sensorReport".to_owned(), Value::Null);
                    }
                } else {
                    self.ext_member(&mut m, f, &seg)?;
                }
            }
            if reports.is_empty() {
                return Err(self.err_at(
                    c,
                    &seg,
                    XmlErrorKind::Structure,
                    "sensorElement without <sensorReport>",
                ));
            }
            m.insert("sensorReport".to_owned(), Value::Array(reports));
            v.push(Value::Object(m));
        }
        Ok(Value::Array(v))
    }

    fn persistent_disposition(&self, el: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let (mut set, mut unset) = (Vec::new(), Vec::new());
        for c in &el.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            let target = if c.is("set") {
                &mut set
            } else if c.is("unset") {
                &mut unset
            } else {
                return Err(self.err_at(
                    c,
                    &seg,
                    XmlErrorKind::Structure,
                    format!("expected <set> or <unset>, found <{}>", c.qname()),
                ));
            };
            target.push(Value::String(
                Vocab::Disposition.to_json(&self.text_of(c, &seg)?),
            ));
        }
        let mut m = Map::new();
        if !set.is_empty() {
            m.insert("set".to_owned(), Value::Array(set));
        }
        if !unset.is_empty() {
            m.insert("unset".to_owned(), Value::Array(unset));
        }
        Ok(Value::Object(m))
    }

    fn error_declaration(&mut self, el: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let mut m = Map::new();
        // The standard members come first, extension members after them.
        let mut ext = Map::new();
        for c in &el.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            if c.is("declarationTime") {
                m.insert(
                    "declarationTime".to_owned(),
                    Value::String(self.text_of(c, &seg)?),
                );
            } else if c.is("reason") {
                m.insert(
                    "reason".to_owned(),
                    Value::String(Vocab::ErrorReason.to_json(&self.text_of(c, &seg)?)),
                );
            } else if c.is("correctiveEventIDs") {
                let ids = self.epc_list(c, &seg, "correctiveEventID")?;
                m.insert("correctiveEventIDs".to_owned(), ids);
            } else {
                self.ext_member(&mut ext, c, path)?;
            }
        }
        if !m.contains_key("declarationTime") {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                "errorDeclaration without <declarationTime>",
            ));
        }
        m.extend(ext);
        Ok(Value::Object(m))
    }

    fn ilmd(&mut self, el: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let mut m = Map::new();
        for c in &el.children {
            self.ext_member(&mut m, c, path)?;
        }
        Ok(Value::Object(m))
    }

    fn set_once(
        &self,
        out: &mut Map<String, Value>,
        key: &str,
        v: Value,
        c: &Elem,
        path: &PathSeg<'_>,
    ) -> Result<(), XmlError> {
        match out.entry(key) {
            serde_json::map::Entry::Vacant(e) => {
                e.insert(v);
                Ok(())
            }
            serde_json::map::Entry::Occupied(_) => Err(self.err_at(
                c,
                path,
                XmlErrorKind::Structure,
                format!("duplicate <{}>", c.local),
            )),
        }
    }

    fn event_field(
        &mut self,
        out: &mut Map<String, Value>,
        qe: &mut (Option<String>, Option<Number>),
        c: &mut Elem,
        path: &PathSeg<'_>,
    ) -> Result<(), XmlError> {
        let name = c.local.clone();
        let seg = PathSeg {
            parent: Some(path),
            name: &name,
        };
        if c.ns != 0 {
            let k = self.key(c.ns, c.prefix.as_deref(), &c.local);
            let v = self.generic(c, &seg)?;
            insert_multi(out, k, v);
            return Ok(());
        }
        let key = &*name;
        let v = match key {
            "eventTime"
            | "recordTime"
            | "eventTimeZoneOffset"
            | "eventID"
            | "certificationInfo"
            | "action"
            | "transformationID"
            | "parentID" => Value::String(self.take_text(c, &seg)?),
            "bizStep" => Value::String(Vocab::BizStep.to_json_owned(self.take_text(c, &seg)?)),
            "disposition" => {
                Value::String(Vocab::Disposition.to_json_owned(self.take_text(c, &seg)?))
            }
            "epcList" | "childEPCs" | "inputEPCList" | "outputEPCList" => {
                self.take_epc_list(c, &seg, "epc")?
            }
            "quantityList" | "childQuantityList" | "inputQuantityList" | "outputQuantityList" => {
                self.quantity_list(c, &seg)?
            }
            "readPoint" | "bizLocation" => self.location(c, &seg)?,
            "bizTransactionList" => {
                self.typed_list(c, &seg, "bizTransaction", Vocab::BizTransactionType)?
            }
            "sourceList" => self.typed_list(c, &seg, "source", Vocab::SourceDestType)?,
            "destinationList" => self.typed_list(c, &seg, "destination", Vocab::SourceDestType)?,
            "sensorElementList" => self.sensor_element_list(c, &seg)?,
            "persistentDisposition" => self.persistent_disposition(c, &seg)?,
            "ilmd" => self.ilmd(c, &seg)?,
            "errorDeclaration" => self.error_declaration(c, &seg)?,
            "baseExtension" | "extension" => {
                if c.has_text() {
                    return Err(self.err_at(
                        c,
                        &seg,
                        XmlErrorKind::Structure,
                        format!("unexpected text in <{key}>"),
                    ));
                }
                for cc in c.children.iter_mut() {
                    self.event_field(out, qe, cc, &seg)?;
                }
                return Ok(());
            }
            "epcClass" => {
                qe.0 = Some(self.take_text(c, &seg)?);
                return Ok(());
            }
            "quantity" => {
                let t = self.text_of(c, &seg)?;
                qe.1 = Some(parse_decimal(&t).ok_or_else(|| {
                    self.err_at(
                        c,
                        &seg,
                        XmlErrorKind::Value,
                        format!("quantity {:?} is not a number", truncate(&t)),
                    )
                })?);
                return Ok(());
            }
            _ => {
                return Err(self.err_at(
                    c,
                    &seg,
                    XmlErrorKind::Structure,
                    format!("unexpected element <{key}> in an event"),
                ));
            }
        };
        self.set_once(out, key, v, c, &seg)
    }

    fn convert_event(&mut self, el: &mut Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        self.late_used.clear();
        let quantity_event = &*el.local == "QuantityEvent";
        let mut out = Map::new();
        out.insert(
            "type".to_owned(),
            Value::String(
                if quantity_event {
                    "ObjectEvent"
                } else {
                    &*el.local
                }
                .to_owned(),
            ),
        );
        let mut qe = (None, None);
        if el.has_text() {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                "unexpected text in an event",
            ));
        }
        for c in el.children.iter_mut() {
            self.event_field(&mut out, &mut qe, c, path)?;
        }
        if quantity_event {
            // EPCIS 2.0 up-conversion of the deprecated QuantityEvent: an ObjectEvent (OBSERVE)
            // with a one-element quantityList.
            let Some(class) = qe.0 else {
                return Err(self.err_at(
                    el,
                    path,
                    XmlErrorKind::Structure,
                    "QuantityEvent without <epcClass>",
                ));
            };
            let mut q = Map::new();
            q.insert("epcClass".to_owned(), Value::String(class));
            if let Some(n) = qe.1 {
                q.insert("quantity".to_owned(), Value::Number(n));
            }
            if !out.contains_key("action") {
                out.insert("action".to_owned(), Value::String("OBSERVE".to_owned()));
            }
            out.insert(
                "quantityList".to_owned(),
                Value::Array(vec![Value::Object(q)]),
            );
        } else if qe.0.is_some() || qe.1.is_some() {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                "<epcClass>/<quantity> directly in an event are only allowed in a QuantityEvent",
            ));
        }
        if !out.contains_key("eventTime") {
            return Err(self.err_at(
                el,
                path,
                XmlErrorKind::Structure,
                format!("{} without <eventTime>", el.local),
            ));
        }
        if self.late_used.is_empty() {
            return Ok(Value::Object(out));
        }
        let mut ctx = Map::new();
        for &i in &self.late_used {
            ctx.insert(
                self.ctx[i].prefix.clone(),
                Value::String(self.ctx[i].uri.clone()),
            );
        }
        let mut with_ctx = Map::new();
        with_ctx.insert("@context".to_owned(), Value::Object(ctx));
        with_ctx.extend(out);
        Ok(Value::Object(with_ctx))
    }

    fn vocabulary_list(&mut self, el: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let mut vocabs = Vec::new();
        for v in &el.children {
            let vseg = PathSeg {
                parent: Some(path),
                name: &v.local,
            };
            if !v.is("Vocabulary") {
                return Err(self.unexpected_child(v, &vseg, "Vocabulary"));
            }
            let mut vm = Map::new();
            let Some(t) = v.attr("type") else {
                return Err(self.err_at(
                    v,
                    &vseg,
                    XmlErrorKind::Structure,
                    "Vocabulary without type attribute",
                ));
            };
            vm.insert("type".to_owned(), Value::String(t.trim().to_owned()));
            for c in &v.children {
                let cseg = PathSeg {
                    parent: Some(&vseg),
                    name: &c.local,
                };
                if c.is("VocabularyElementList") {
                    let mut elems = Vec::new();
                    for ve in &c.children {
                        let eseg = PathSeg {
                            parent: Some(&cseg),
                            name: &ve.local,
                        };
                        if !ve.is("VocabularyElement") {
                            return Err(self.unexpected_child(ve, &eseg, "VocabularyElement"));
                        }
                        elems.push(self.vocabulary_element(ve, &eseg)?);
                    }
                    vm.insert("vocabularyElementList".to_owned(), Value::Array(elems));
                } else {
                    self.ext_member(&mut vm, c, &vseg)?;
                }
            }
            vocabs.push(Value::Object(vm));
        }
        Ok(Value::Array(vocabs))
    }

    fn vocabulary_element(&mut self, ve: &Elem, path: &PathSeg<'_>) -> Result<Value, XmlError> {
        let mut m = Map::new();
        let Some(id) = ve.attr("id") else {
            return Err(self.err_at(
                ve,
                path,
                XmlErrorKind::Structure,
                "VocabularyElement without id attribute",
            ));
        };
        m.insert("id".to_owned(), Value::String(id.trim().to_owned()));
        let mut attributes = Vec::new();
        let mut children = None;
        let mut ext = Map::new();
        for c in &ve.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            if c.is("attribute") {
                let Some(aid) = c.attr("id") else {
                    return Err(self.err_at(
                        c,
                        &seg,
                        XmlErrorKind::Structure,
                        "attribute without id attribute",
                    ));
                };
                let mut am = Map::new();
                am.insert("id".to_owned(), Value::String(aid.trim().to_owned()));
                let other_attrs = c.attrs.iter().any(|a| {
                    !((a.ns == 0 && &*a.local == "id")
                        || (a.ns != 0 && &*a.local == "type" && self.uri(a.ns) == NS_XSI))
                });
                let value = if c.children.is_empty() && !other_attrs {
                    Value::String(c.text.trim().to_owned())
                } else {
                    let mut obj = Map::new();
                    let mut attr_map = Map::new();
                    for a in &c.attrs {
                        if (a.ns == 0 && &*a.local == "id")
                            || (a.ns != 0 && &*a.local == "type" && self.uri(a.ns) == NS_XSI)
                        {
                            continue;
                        }
                        let k = self.key(a.ns, a.prefix.as_deref(), &a.local);
                        attr_map.insert(k, Value::String(a.value.clone()));
                    }
                    if !attr_map.is_empty() {
                        obj.insert("#attributes".to_owned(), Value::Object(attr_map));
                    }
                    if (c.children.is_empty() && !c.text.is_empty()) || c.has_text() {
                        obj.insert("#text".to_owned(), Value::String(c.text.clone()));
                    }
                    for cc in &c.children {
                        let ccseg = PathSeg {
                            parent: Some(&seg),
                            name: &cc.local,
                        };
                        let k = self.key(cc.ns, cc.prefix.as_deref(), &cc.local);
                        let v = self.generic(cc, &ccseg)?;
                        insert_multi(&mut obj, k, v);
                    }
                    Value::Object(obj)
                };
                am.insert("attribute".to_owned(), value);
                attributes.push(Value::Object(am));
            } else if c.is("children") {
                children = Some(self.epc_list(c, &seg, "id")?);
            } else {
                self.ext_member(&mut ext, c, path)?;
            }
        }
        if !attributes.is_empty() {
            m.insert("attributes".to_owned(), Value::Array(attributes));
        }
        if let Some(ch) = children {
            m.insert("children".to_owned(), ch);
        }
        m.extend(ext);
        Ok(Value::Object(m))
    }

    /// EPCISHeader -> (epcisHeader members, sender, receiver, instanceIdentifier).
    fn header(&mut self, el: &Elem, path: &PathSeg<'_>) -> Result<(JsonMap, JsonMap), XmlError> {
        let mut header = Map::new();
        let mut top = Map::new();
        for c in &el.children {
            let seg = PathSeg {
                parent: Some(path),
                name: &c.local,
            };
            if c.ns != 0
                && self.uri(c.ns) == NS_SBDH
                && &*c.local == "StandardBusinessDocumentHeader"
            {
                let find = |parent: &Elem, a: &str, b: &str| -> Option<String> {
                    parent
                        .children
                        .iter()
                        .find(|x| &*x.local == a)
                        .and_then(|x| x.children.iter().find(|y| &*y.local == b))
                        .map(|y| y.text.trim().to_owned())
                };
                if let Some(s) = find(c, "Sender", "Identifier") {
                    top.insert("sender".to_owned(), Value::String(s));
                }
                if let Some(s) = find(c, "Receiver", "Identifier") {
                    top.insert("receiver".to_owned(), Value::String(s));
                }
                if let Some(s) = find(c, "DocumentIdentification", "InstanceIdentifier") {
                    top.insert("instanceIdentifier".to_owned(), Value::String(s));
                }
                let k = self.key(c.ns, Some("sbdh"), &c.local);
                let v = self.generic(c, &seg)?;
                header.insert(k, v);
            } else if c.is("extension") {
                for cc in &c.children {
                    let ccseg = PathSeg {
                        parent: Some(&seg),
                        name: &cc.local,
                    };
                    if cc.is("EPCISMasterData") {
                        let mut md = Map::new();
                        for v in &cc.children {
                            let vseg = PathSeg {
                                parent: Some(&ccseg),
                                name: &v.local,
                            };
                            if v.is("VocabularyList") {
                                let list = self.vocabulary_list(v, &vseg)?;
                                md.insert("vocabularyList".to_owned(), list);
                            } else {
                                self.ext_member(&mut md, v, &ccseg)?;
                            }
                        }
                        header.insert("epcisMasterData".to_owned(), Value::Object(md));
                    } else {
                        self.ext_member(&mut header, cc, &seg)?;
                    }
                }
            } else {
                self.ext_member(&mut header, c, path)?;
            }
        }
        Ok((header, top))
    }
}

// ---------------------------------------------------------------------------------------------
// The streaming reader.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Root,
    Body,
    QueryBody,
    QueryResults,
    ResultsBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Events,
    Done,
    Failed,
}

/// Streaming EPCIS XML reader: [`header`](Self::header) is the document without its events (the
/// event list is empty), then [`next_event`](Self::next_event) (or the `Iterator` impl) yields one
/// event at a time as a JSON-LD value, and [`finish`](Self::finish) returns the document skeleton
/// completed with anything that followed the event list.
pub struct XmlEventReader<R: BufRead> {
    core: Core<R>,
    doc: Map<String, Value>,
    query: bool,
    containers: Vec<Container>,
    state: State,
    wrapper_depth: usize,
    counts: Vec<(String, usize)>,
    header_value: Value,
}

impl<R: BufRead> std::fmt::Debug for XmlEventReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlEventReader")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> XmlEventReader<R> {
    /// Reads the prolog, root element and header up to the first event.
    pub fn new(input: R) -> Result<Self, XmlError> {
        Self::with_limits(input, XmlLimits::default())
    }

    /// Like [`new`](Self::new) with explicit limits.
    pub fn with_limits(input: R, limits: XmlLimits) -> Result<Self, XmlError> {
        let mut core = Core::new(input, limits);
        // Prolog.
        let root = loop {
            match core.next_tok()? {
                Tok::Start(el) => break el,
                Tok::Text(t) => core.expect_blank(&t)?,
                Tok::Space => {}
                Tok::End => return Err(core.err_here(XmlErrorKind::Syntax, "unexpected end tag")),
                Tok::Eof => {
                    return Err(core.err_here(
                        XmlErrorKind::NotEpcisDocument,
                        "no root element: the input is empty",
                    ))
                }
            }
        };
        let root_uri = core.uri(root.ns).to_owned();
        let query = match (&*root.local, root_uri.as_str()) {
            ("EPCISDocument", NS_EPCIS_2 | NS_EPCIS_1) => false,
            ("EPCISQueryDocument", NS_EPCIS_QUERY_2 | NS_EPCIS_QUERY_1) => true,
            (name, uri) => {
                let what = match name {
                    "EPCISCaptureJob" => "an EPCIS capture-job response (EPCISCaptureJob)".to_owned(),
                    "EPCISMasterDataDocument" => {
                        "an EPCIS master-data document (EPCISMasterDataDocument), which has no EPCIS 2.0 JSON-LD document form".to_owned()
                    }
                    "EPCISException" => "an EPCIS exception response".to_owned(),
                    _ => format!("element {{{uri}}}{name}"),
                };
                return Err(core.err_here(
                    XmlErrorKind::NotEpcisDocument,
                    format!("not an EPCISDocument or EPCISQueryDocument: the root is {what}"),
                ));
            }
        };
        core.base_path.push(root.qname());
        // Register the namespaces declared on the root for the @context, in document order.
        let decls: Vec<(Option<Rc<str>>, u32)> = core
            .bindings
            .iter()
            .skip(1)
            .map(|b| (b.prefix.clone(), b.ns))
            .collect();
        for (p, ns) in decls {
            let reserved = p.as_deref().is_some_and(|p| RESERVED_PREFIXES.contains(&p));
            // Namespaces of the standard context are registered too (not declared in @context):
            // the hash needs them as written (see `builtin_namespaces`).
            let builtin = builtin_prefix(core.uri(ns)).is_some();
            if ns != 0 && (builtin || !reserved) && !SILENT_NAMESPACES.contains(&core.uri(ns)) {
                core.ctx_index(ns, p.as_deref());
            }
        }
        let mut doc = Map::new();
        doc.insert(
            "type".to_owned(),
            Value::String(
                if query {
                    "EPCISQueryDocument"
                } else {
                    "EPCISDocument"
                }
                .to_owned(),
            ),
        );
        let v1 = root_uri == NS_EPCIS_1 || root_uri == NS_EPCIS_QUERY_1;
        let mut schema_version = None;
        let mut creation_date = None;
        let mut extra = Map::new();
        for a in &root.attrs {
            if a.ns == 0 {
                match &*a.local {
                    "schemaVersion" => schema_version = Some(a.value.trim().to_owned()),
                    "creationDate" => creation_date = Some(a.value.trim().to_owned()),
                    _ => {}
                }
            } else if core.uri(a.ns) != NS_XSI {
                let k = core.key(a.ns, a.prefix.as_deref(), &a.local);
                extra.insert(k, Value::String(a.value.clone()));
            }
        }
        let Some(cd) = creation_date else {
            return Err(core.err_here(
                XmlErrorKind::Structure,
                "the root element has no creationDate attribute",
            ));
        };
        let sv = match schema_version {
            Some(_) if v1 => "2.0".to_owned(),
            Some(s) => s,
            None => {
                return Err(core.err_here(
                    XmlErrorKind::Structure,
                    "the root element has no schemaVersion attribute",
                ))
            }
        };
        doc.insert("schemaVersion".to_owned(), Value::String(sv));
        doc.insert("creationDate".to_owned(), Value::String(cd));
        doc.extend(extra);
        let mut reader = XmlEventReader {
            core,
            doc,
            query,
            containers: vec![Container::Root],
            state: State::Events,
            wrapper_depth: 0,
            counts: Vec::new(),
            header_value: Value::Null,
        };
        match reader.walk_containers() {
            Ok(true) => {}
            Ok(false) => reader.state = State::Done,
            Err(e) => return Err(e),
        }
        reader.core.header_ctx_len = reader.core.ctx.len();
        reader.header_value = reader.assemble(reader.core.header_ctx_len);
        Ok(reader)
    }

    fn events_pointer(&self) -> &'static str {
        if self.query {
            "/epcisBody/queryResults/resultsBody/eventList"
        } else {
            "/epcisBody/eventList"
        }
    }

    fn container_map(&mut self, c: Container) -> &mut Map<String, Value> {
        let doc = &mut self.doc;
        match c {
            Container::Root => doc,
            Container::Body | Container::QueryBody => obj_entry(doc, "epcisBody"),
            Container::QueryResults => obj_entry(obj_entry(doc, "epcisBody"), "queryResults"),
            Container::ResultsBody => obj_entry(
                obj_entry(obj_entry(doc, "epcisBody"), "queryResults"),
                "resultsBody",
            ),
        }
    }

    /// Processes container content until an EventList starts (returns true) or the document ends
    /// (returns false).
    fn walk_containers(&mut self) -> Result<bool, XmlError> {
        while let Some(&top) = self.containers.last() {
            self.core.reset_budget();
            let tok = self.core.next_tok()?;
            match tok {
                Tok::Text(t) => self.core.expect_blank(&t)?,
                Tok::Space => {}
                Tok::Eof => {
                    return Err(self
                        .core
                        .err_here(XmlErrorKind::Syntax, "unexpected end of document"))
                }
                Tok::End => {
                    self.containers.pop();
                    self.core.base_path.pop();
                }
                Tok::Start(el) => {
                    let name_is = |n: &str| el.ns == 0 && &*el.local == n;
                    match top {
                        Container::Root if name_is("EPCISHeader") => {
                            if self.doc.contains_key("epcisBody")
                                || self.doc.contains_key("epcisHeader")
                            {
                                return Err(self.core.err_here(
                                    XmlErrorKind::Structure,
                                    "unexpected <EPCISHeader>",
                                ));
                            }
                            let el = self.core.read_subtree(el)?;
                            let seg = PathSeg {
                                parent: None,
                                name: "EPCISHeader",
                            };
                            let (h, top_fields) = self.core.header(&el, &seg)?;
                            self.doc.extend(top_fields);
                            self.doc.insert("epcisHeader".to_owned(), Value::Object(h));
                        }
                        Container::Root if name_is("EPCISBody") => {
                            if self.doc.contains_key("epcisBody") {
                                return Err(self
                                    .core
                                    .err_here(XmlErrorKind::Structure, "duplicate <EPCISBody>"));
                            }
                            let mut b = Map::new();
                            if !self.query {
                                b.insert("eventList".to_owned(), Value::Array(Vec::new()));
                            }
                            self.doc.insert("epcisBody".to_owned(), Value::Object(b));
                            self.core.base_path.push("EPCISBody".to_owned());
                            self.containers.push(if self.query {
                                Container::QueryBody
                            } else {
                                Container::Body
                            });
                        }
                        // QueryResults is in the query namespace by the XSD; documents that
                        // leave it unqualified are read as well (as the reference tools do).
                        Container::QueryBody
                            if &*el.local == "QueryResults"
                                && (el.ns == 0
                                    || matches!(
                                        self.core.uri(el.ns),
                                        NS_EPCIS_QUERY_2 | NS_EPCIS_QUERY_1
                                    )) =>
                        {
                            let body = self.container_map(Container::QueryBody);
                            if body.contains_key("queryResults") {
                                return Err(self.core.err_here(
                                    XmlErrorKind::Structure,
                                    "duplicate <QueryResults>",
                                ));
                            }
                            body.insert("queryResults".to_owned(), Value::Object(Map::new()));
                            self.core.base_path.push(el.qname());
                            self.containers.push(Container::QueryResults);
                        }
                        Container::QueryBody => {
                            return Err(self.core.err_here(
                                XmlErrorKind::NotEpcisDocument,
                                format!(
                                    "EPCISQueryDocument body holds <{}>, not query results (only QueryResults are read)",
                                    el.qname()
                                ),
                            ));
                        }
                        // The content of QueryResults directly under the root, without
                        // EPCISBody/QueryResults (seen in the wild; read as if wrapped).
                        Container::Root
                            if self.query
                                && (name_is("queryName")
                                    || name_is("subscriptionID")
                                    || name_is("resultsBody")) =>
                        {
                            let qr =
                                obj_entry(obj_entry(&mut self.doc, "epcisBody"), "queryResults");
                            if name_is("resultsBody") && qr.contains_key("resultsBody") {
                                return Err(self
                                    .core
                                    .err_here(XmlErrorKind::Structure, "duplicate <resultsBody>"));
                            }
                            if name_is("resultsBody") {
                                qr.insert("resultsBody".to_owned(), Value::Object(Map::new()));
                                self.core.base_path.push("resultsBody".to_owned());
                                self.containers.push(Container::ResultsBody);
                            } else {
                                let el = self.core.read_subtree(el)?;
                                let seg = PathSeg {
                                    parent: None,
                                    name: &el.local,
                                };
                                let t = self.core.text_of(&el, &seg)?;
                                let key = el.local.to_string();
                                self.container_map(Container::QueryResults)
                                    .insert(key, Value::String(t));
                            }
                        }
                        Container::QueryResults
                            if name_is("queryName") || name_is("subscriptionID") =>
                        {
                            let el = self.core.read_subtree(el)?;
                            let seg = PathSeg {
                                parent: None,
                                name: &el.local,
                            };
                            let t = self.core.text_of(&el, &seg)?;
                            let key = el.local.to_string();
                            self.container_map(Container::QueryResults)
                                .insert(key, Value::String(t));
                        }
                        Container::QueryResults if name_is("resultsBody") => {
                            self.container_map(Container::QueryResults)
                                .insert("resultsBody".to_owned(), Value::Object(Map::new()));
                            self.core.base_path.push("resultsBody".to_owned());
                            self.containers.push(Container::ResultsBody);
                        }
                        Container::ResultsBody if name_is("VocabularyList") => {
                            let el = self.core.read_subtree(el)?;
                            let seg = PathSeg {
                                parent: None,
                                name: "VocabularyList",
                            };
                            let v = self.core.vocabulary_list(&el, &seg)?;
                            self.container_map(Container::ResultsBody)
                                .insert("vocabularyList".to_owned(), v);
                        }
                        Container::Body | Container::ResultsBody if name_is("EventList") => {
                            if self.state != State::Events {
                                return Err(self
                                    .core
                                    .err_here(XmlErrorKind::Structure, "a second <EventList>"));
                            }
                            let m = self.container_map(top);
                            m.insert("eventList".to_owned(), Value::Array(Vec::new()));
                            self.core.base_path.push("EventList".to_owned());
                            return Ok(true);
                        }
                        Container::ResultsBody => {
                            return Err(self.core.err_here(
                                XmlErrorKind::Structure,
                                format!("unexpected <{}> in resultsBody", el.qname()),
                            ));
                        }
                        _ => {
                            let el = self.core.read_subtree(el)?;
                            let seg = PathSeg {
                                parent: None,
                                name: &el.local,
                            };
                            let mut m = std::mem::take(self.container_map(top));
                            let r = self.core.ext_member(&mut m, &el, &seg);
                            *self.container_map(top) = m;
                            r?;
                        }
                    }
                }
            }
        }
        // Epilogue.
        loop {
            match self.core.next_tok()? {
                Tok::Eof => return Ok(false),
                Tok::Text(t) => self.core.expect_blank(&t)?,
                Tok::Space => {}
                Tok::Start(_) | Tok::End => {
                    return Err(self
                        .core
                        .err_here(XmlErrorKind::Syntax, "content after the root element"))
                }
            }
        }
    }

    fn assemble(&self, ctx_len: usize) -> Value {
        let mut m = Map::new();
        m.insert("@context".to_owned(), self.core.context_value(ctx_len));
        for (k, v) in &self.doc {
            m.insert(k.clone(), v.clone());
        }
        if !m.contains_key("epcisBody") {
            let mut b = Map::new();
            if self.query {
                let mut rb = Map::new();
                rb.insert("eventList".to_owned(), Value::Array(Vec::new()));
                let mut qr = Map::new();
                qr.insert("resultsBody".to_owned(), Value::Object(rb));
                b.insert("queryResults".to_owned(), Value::Object(qr));
            } else {
                b.insert("eventList".to_owned(), Value::Array(Vec::new()));
            }
            m.insert("epcisBody".to_owned(), Value::Object(b));
        }
        Value::Object(m)
    }

    /// The document without events (its event list is empty). Namespaces first declared inside
    /// events are not in its `@context`; those events carry their own `@context`.
    pub fn header(&self) -> &Value {
        &self.header_value
    }

    /// The namespaces read so far that the standard JSON-LD context defines under a fixed prefix
    /// (`cbvmda`, `gs1`, `cbv`, `epcis`, ...), as `(prefix, namespace URI as written in the XML)`.
    /// They are not declared in the document's `@context`, but the event hash uses the namespace
    /// as written (e.g. `urn:epcglobal:cbv:mda` rather than the context's `urn:epcglobal:cbv:mda:`).
    pub fn builtin_namespaces(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.core
            .ctx
            .iter()
            .filter(|e| !e.emit)
            .map(|e| (e.prefix.as_str(), e.uri.as_str()))
    }

    /// JSON Pointer of the event list inside the document (`/epcisBody/eventList` or
    /// `/epcisBody/queryResults/resultsBody/eventList`).
    pub fn event_list_pointer(&self) -> &'static str {
        self.events_pointer()
    }

    /// The next event, `Ok(None)` after the last one. After an error, returns `Ok(None)`.
    pub fn next_event(&mut self) -> Result<Option<Value>, XmlError> {
        match self.state {
            State::Done | State::Failed => return Ok(None),
            State::Events => {}
        }
        match self.next_event_inner() {
            Ok(v) => Ok(v),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    fn next_event_inner(&mut self) -> Result<Option<Value>, XmlError> {
        loop {
            self.core.reset_budget();
            match self.core.next_tok()? {
                Tok::Text(t) => self.core.expect_blank(&t)?,
                Tok::Space => {}
                Tok::Eof => {
                    return Err(self
                        .core
                        .err_here(XmlErrorKind::Syntax, "unexpected end of document"))
                }
                Tok::End => {
                    self.core.base_path.pop();
                    if self.wrapper_depth > 0 {
                        self.wrapper_depth -= 1;
                        continue;
                    }
                    // End of EventList: read the rest of the document.
                    self.state = State::Done;
                    self.walk_containers()?;
                    return Ok(None);
                }
                Tok::Start(el) => {
                    if el.ns == 0 && &*el.local == "extension" {
                        self.wrapper_depth += 1;
                        self.core.base_path.push("extension".to_owned());
                        continue;
                    }
                    if el.ns != 0 || !EVENT_NAMES.contains(&&*el.local) {
                        return Err(self.core.err_here(
                            XmlErrorKind::Structure,
                            format!("<{}> is not an EPCIS event type", el.qname()),
                        ));
                    }
                    let idx = match self.counts.iter_mut().find(|(n, _)| **n == *el.local) {
                        Some((_, c)) => {
                            *c += 1;
                            *c
                        }
                        None => {
                            self.counts.push((el.local.to_string(), 1));
                            1
                        }
                    };
                    let mut el = self.core.read_subtree(el)?;
                    let name = el.local.clone();
                    let seg = PathSeg {
                        parent: None,
                        name: &name,
                    };
                    self.core.event_index = idx;
                    let v = self.core.convert_event(&mut el, &seg);
                    self.core.event_index = 0;
                    let v = v?;
                    return Ok(Some(v));
                }
            }
        }
    }

    /// Reads any remaining events (discarding them) and the rest of the document, and returns the
    /// document without events but with everything that followed the event list. Its `@context`
    /// includes every namespace seen in the document.
    pub fn finish(mut self) -> Result<Value, XmlError> {
        while self.next_event()?.is_some() {}
        if self.state == State::Failed {
            return Err(XmlError::new(
                XmlErrorKind::Structure,
                "",
                "reader failed earlier",
            ));
        }
        Ok(self.assemble(self.core.ctx.len()))
    }
}

fn obj_entry<'a>(m: &'a mut Map<String, Value>, k: &str) -> &'a mut Map<String, Value> {
    let e = m
        .entry(k.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !e.is_object() {
        *e = Value::Object(Map::new());
    }
    match e {
        Value::Object(o) => o,
        _ => unreachable!("just made an object"),
    }
}

impl<R: BufRead> Iterator for XmlEventReader<R> {
    type Item = Result<Value, XmlError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

/// Reads a whole EPCIS XML document (2.0, or 1.x up-converted) into the JSON-LD document shape.
pub fn read_document_value(bytes: &[u8]) -> Result<Value, XmlError> {
    read_document_value_with(bytes, XmlLimits::default())
}

/// [`read_document_value`] with explicit limits.
pub fn read_document_value_with(bytes: &[u8], limits: XmlLimits) -> Result<Value, XmlError> {
    let mut reader = XmlEventReader::with_limits(bytes, limits)?;
    let pointer = reader.event_list_pointer();
    let mut events = Vec::new();
    while let Some(mut ev) = reader.next_event()? {
        // Event-level @context entries are hoisted into the document's @context below.
        if let Value::Object(m) = &mut ev {
            m.shift_remove("@context");
        }
        events.push(ev);
    }
    let mut doc = reader.finish()?;
    if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = Value::Array(events);
    }
    Ok(doc)
}
