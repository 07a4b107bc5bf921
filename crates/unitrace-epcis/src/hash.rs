//! The EPCIS event hash ID (CBV 2.0, "Event Hash ID"): `ni:///sha-256;<hex>?ver=CBV2.0`.
//!
//! The pre-hash string is built from an event in the EPCIS 2.0 JSON-LD shape (the XML reader
//! produces the same shape), following the reference algorithm's observable behaviour:
//!
//! 1. CBV terms are expanded to their web URIs (bare words, compact IRIs and 1.x URNs), and any other
//!    string value of the event that names exactly one of the event's expanded CBV/GS1 vocabulary
//!    URIs by its last segment is expanded the same way.
//! 2. Namespace prefixes declared in the `@context` become `{namespace}` on keys and the namespace
//!    itself on values.
//! 3. The standard fields are concatenated as `name=value` in the canonical property order, lists
//!    sorted; times are UTC with millisecond precision; numbers normalised; EPCs and other GS1 keys
//!    become canonical GS1 Digital Link URIs.
//! 4. Everything not in the order (user extensions, ILMD, the business transaction, source and
//!    destination lists) follows, rendered generically and sorted; `recordTime`, `eventID`,
//!    `errorDeclaration`, comments and the fields a repository lists under `*:ignoreFields` are
//!    left out.

use std::borrow::Cow;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::epc;
use crate::time::{parse_instant, Instant};
use crate::validate::member;
use crate::vocab::VocabKind;

/// What the hash needs from the document around the events.
#[derive(Clone, Debug, Default)]
pub struct HashContext {
    /// Namespace prefixes declared in the document's `@context`: `(prefix, namespace)`.
    pub namespaces: Vec<(String, String)>,
    /// Event fields excluded from the hash (a document-level `prefix:ignoreFields` list).
    pub ignore_fields: Vec<String>,
    /// The document was read from XML. The reference algorithm treats the two syntaxes slightly
    /// differently and its expected hashes follow it: in XML, only the `gs1:` and `cbv:` prefixes
    /// are expanded in values (not every namespace of the document), and booleans are `true` /
    /// `false` (JSON-LD: `True` / `False`).
    pub xml: bool,
}

impl HashContext {
    /// Builds the context from a document's top-level members (the events need not be present).
    pub fn from_document(doc: &Map<String, Value>) -> HashContext {
        let mut ctx = HashContext::default();
        if let Some(c) = doc.get("@context") {
            ctx.add_context(c);
        }
        let mut ignore = |m: &Map<String, Value>| {
            for (k, v) in m {
                if k.ends_with(":ignoreFields") {
                    match v {
                        // JSON-LD: a list of field names.
                        Value::Array(a) => ctx
                            .ignore_fields
                            .extend(a.iter().filter_map(|x| x.as_str().map(str::to_owned))),
                        // XML: one (empty) child element per field, read as object members.
                        Value::Object(o) => ctx
                            .ignore_fields
                            .extend(o.keys().filter(|k| !k.starts_with('#')).cloned()),
                        Value::String(s) if !s.is_empty() => ctx.ignore_fields.push(s.clone()),
                        _ => {}
                    }
                }
            }
        };
        ignore(doc);
        if let Some(qr) = doc
            .get("epcisBody")
            .and_then(|b| b.get("queryResults"))
            .and_then(Value::as_object)
        {
            ignore(qr);
        }
        ctx
    }

    /// Adds the prefixes of a `@context` value (string, object or array of these).
    pub fn add_context(&mut self, c: &Value) {
        match c {
            Value::Array(a) => a.iter().for_each(|x| self.add_context(x)),
            Value::Object(m) => {
                for (k, v) in m {
                    if let Some(ns) = v.as_str() {
                        if !k.starts_with('@') {
                            self.namespaces.retain(|(p, _)| p != k);
                            self.namespaces.push((k.clone(), ns.to_owned()));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn namespace(&self, prefix: &str) -> Option<&str> {
        self.namespaces
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, n)| n.as_str())
    }
}

/// The hash ID of one event.
pub fn event_hash(event: &Value, ctx: &HashContext) -> String {
    hash_id(&pre_hash(event, ctx))
}

/// `ni:///sha-256;<hex of sha256(pre_hash)>?ver=CBV2.0`
pub fn hash_id(pre_hash: &str) -> String {
    /// The two hex digits of every byte.
    const HEX2: [[u8; 2]; 256] = {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [HEX[i >> 4], HEX[i & 15]];
            i += 1;
        }
        t
    };
    let digest = Sha256::digest(pre_hash.as_bytes());
    let mut id = *b"ni:///sha-256;################################################################?ver=CBV2.0";
    for (pair, b) in id[14..78].chunks_exact_mut(2).zip(digest) {
        pair.copy_from_slice(&HEX2[usize::from(b)]);
    }
    std::str::from_utf8(&id).unwrap_or_default().to_owned()
}

type S<'a> = Cow<'a, str>;

const EMPTY: S<'static> = Cow::Borrowed("");

#[derive(Debug, Clone, PartialEq)]
struct Node<'a> {
    name: S<'a>,
    text: S<'a>,
    children: Vec<Node<'a>>,
    /// A (type, value) pair of a business transaction, source or destination.
    pair: bool,
    /// An XML extension element whose name ends in `List`: the reference algorithm reads XML
    /// elements as they are, so its children are not regrouped as list items.
    raw: bool,
}

impl<'a> Node<'a> {
    fn new(name: S<'a>, text: S<'a>, children: Vec<Node<'a>>) -> Node<'a> {
        Node {
            name,
            text,
            children,
            pair: false,
            raw: false,
        }
    }
}

/// The canonical pre-hash string of one event.
pub fn pre_hash(event: &Value, ctx: &HashContext) -> String {
    let Some(obj) = event.as_object() else {
        return String::new();
    };
    if let Some(out) = pre_hash_plain(obj, ctx) {
        return out;
    }
    pre_hash_general(obj, ctx)
}

/// The members a plain event may have (see [`pre_hash_plain`]), in the canonical order of the
/// rendered ones.
const PLAIN_ORDER: &[&str] = &[
    "eventTime",
    "eventTimeZoneOffset",
    "parentID",
    "epcList",
    "action",
    "bizStep",
    "disposition",
    "readPoint",
    "bizLocation",
];

/// The pre-hash string of a plain event, written straight from the JSON value (no intermediate
/// node tree, no per-EPC string): `None` unless every member is one of [`PLAIN_ORDER`] or
/// `type`, `eventID`, `recordTime`, with string values (an `epcList` of strings,
/// `readPoint`/`bizLocation` objects holding only a string `id`), and none is ignored by the
/// document. Gives exactly what [`pre_hash_general`] gives for such events (tested on every
/// hash vector).
pub(crate) fn pre_hash_plain(obj: &Map<String, Value>, ctx: &HashContext) -> Option<String> {
    if obj.len() > 16 {
        return None;
    }
    let mut view = PlainView::<Value>::default();
    for (k, v) in obj {
        let k = k.as_str();
        if ctx.ignore_fields.iter().any(|f| f == k) {
            return None;
        }
        match k {
            "type" => view.ev_type = v.as_str()?,
            "eventID" => view.event_id = Some(v.as_str()?),
            "recordTime" => view.record_time = Some(v.as_str()?),
            _ => {
                let i = PLAIN_ORDER.iter().position(|p| *p == k)?;
                match (i, v) {
                    (3, Value::Array(a)) => {
                        if !a.iter().all(Value::is_string) {
                            return None;
                        }
                        view.epcs = Some(a);
                    }
                    (7 | 8, Value::Object(m)) => {
                        if m.len() != 1 {
                            return None;
                        }
                        view.strs[i] = Some(m.get("id")?.as_str()?);
                    }
                    (3 | 7 | 8, _) => return None,
                    (_, Value::String(s)) => view.strs[i] = Some(s),
                    _ => return None,
                }
            }
        }
    }
    let mut out = String::with_capacity(256);
    let expanded = plain_expanded(&view);
    let _ = pre_hash_plain_view(&view, ctx, &expanded, &mut out, None, |_, _| {});
    Some(out)
}

/// A string element of an EPC list, whatever holds it.
pub(crate) trait EpcStr {
    /// The string (empty if it is none).
    fn text(&self) -> &str;
}

impl EpcStr for Value {
    fn text(&self) -> &str {
        self.as_str().unwrap_or_default()
    }
}

impl EpcStr for &str {
    fn text(&self) -> &str {
        self
    }
}

/// The members of a plain event (see [`pre_hash_plain`]): `strs[i]` is the value of
/// `PLAIN_ORDER[i]` (for `readPoint` and `bizLocation`, their `id`), except `epcList` (index 3),
/// which is `epcs`. The members are not ignored by the document (the caller checks).
pub(crate) struct PlainView<'a, T> {
    pub ev_type: &'a str,
    pub event_id: Option<&'a str>,
    pub record_time: Option<&'a str>,
    pub strs: [Option<&'a str>; 9],
    pub epcs: Option<&'a [T]>,
    /// `eventTime` parsed, if the caller has done it already.
    pub event_time: Option<Instant>,
}

impl<T> Default for PlainView<'_, T> {
    fn default() -> Self {
        PlainView {
            ev_type: "",
            event_id: None,
            record_time: None,
            strs: [None; 9],
            epcs: None,
            event_time: None,
        }
    }
}

/// What [`pre_hash_plain_view`] wrote for members of earlier events of a document, to copy
/// when a later event has the same value: for a `PLAIN_ORDER` index (not `eventTime` or
/// `epcList`), the value and its `name=value` text. It holds for one [`HashContext`] and one
/// list of expanded vocabulary URIs; the caller clears it when these change.
#[derive(Default)]
pub(crate) struct Rendered([Option<(String, String)>; 9]);

impl Rendered {
    /// What `value` rendered to at `PLAIN_ORDER` index `i`, if it is remembered.
    pub(crate) fn get(&self, i: usize, value: &str) -> Option<&str> {
        match &self.0[i] {
            Some((v, r)) if v == value => Some(r),
            _ => None,
        }
    }

    fn set(&mut self, i: usize, value: &str, rendered: &str) {
        let (v, r) = self.0[i].get_or_insert_with(Default::default);
        v.clear();
        v.push_str(value);
        r.clear();
        r.push_str(rendered);
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.0 = Default::default();
    }
}

/// A CBV or GS1 vocabulary URI written out (what `collect_expanded` collects as a literal).
pub(crate) fn is_vocab_literal(s: &str) -> bool {
    s.starts_with("https://ref.gs1.org/cbv") || s.starts_with("https://gs1.org/voc")
}

/// Whether a member other than `bizStep` and `disposition` holds a vocabulary URI (then the
/// event's [`plain_expanded`] depends on more than those two).
pub(crate) fn plain_has_other_literals<T: EpcStr>(view: &PlainView<'_, T>) -> bool {
    is_vocab_literal(view.ev_type)
        || view.event_id.is_some_and(is_vocab_literal)
        || view.record_time.is_some_and(is_vocab_literal)
        || view
            .strs
            .iter()
            .enumerate()
            .any(|(i, s)| i != 5 && i != 6 && s.is_some_and(is_vocab_literal))
        || view
            .epcs
            .unwrap_or_default()
            .iter()
            .any(|x| is_vocab_literal(x.text()))
}

/// Vocabulary URIs a plain event uses, sorted and deduplicated: what `collect_expanded` finds
/// on the same members.
pub(crate) fn plain_expanded<T: EpcStr>(view: &PlainView<'_, T>) -> Vec<String> {
    let mut expanded = Vec::new();
    for (i, kind) in [(5, VocabKind::BizStep), (6, VocabKind::Disposition)] {
        if let Some(u) = view.strs[i].and_then(|s| kind.to_web_uri(s)) {
            expanded.push(u);
        }
    }
    let mut literal = |s: &str| {
        if is_vocab_literal(s) {
            expanded.push(s.to_owned());
        }
    };
    literal(view.ev_type);
    view.event_id.into_iter().for_each(&mut literal);
    view.record_time.into_iter().for_each(&mut literal);
    view.strs.iter().flatten().for_each(|s| literal(s));
    view.epcs
        .unwrap_or_default()
        .iter()
        .for_each(|x| literal(x.text()));
    expanded.sort();
    expanded.dedup();
    expanded
}

/// Appends the pre-hash string of a plain event to `out` (the one implementation behind
/// [`pre_hash_plain`] and the borrowed JSON fast path).
///
/// `converted(x, ok)` is called for each element `x` of the EPC list: `ok` is `Some` for an
/// SGTIN or SGLN URN rendered as itself (no vocabulary or namespace expansion, no surrounding
/// space) and tells whether it was converted to a Digital Link, i.e. whether it is well-formed
/// ([`epc::urn_is_well_formed`]). The fast path validates these EPCs with it instead of parsing
/// them a second time.
///
/// Returns true when the EPC list renders to distinct entries, which implies that it holds no
/// duplicate (equal EPCs render equally); false says nothing.
///
/// `expanded` is [`plain_expanded`] of the event. `memo`, if given, is used and updated for the
/// members it keeps (see [`Rendered`]).
pub(crate) fn pre_hash_plain_view<T: EpcStr>(
    view: &PlainView<'_, T>,
    ctx: &HashContext,
    expanded: &[String],
    out: &mut String,
    mut memo: Option<&mut Rendered>,
    mut converted: impl FnMut(&str, Option<bool>),
) -> bool {
    let mut distinct = true;
    let conv = Converter {
        ctx,
        expanded,
        local_ns: Vec::new(),
    };
    out.push_str("eventType=");
    out.push_str(view.ev_type);
    // `name=value` of one leaf (nothing when the value is empty), as `child_pre_hash` renders it.
    // `time`: the name is a time's (it has "time" and not "offset" in it); `parsed`: `s` parsed.
    let leaf = |out: &mut String, name: &str, s: &str, time: bool, parsed: Option<Instant>| {
        let v = conv.value(s);
        let t = v.trim();
        if t.is_empty() {
            return;
        }
        let start = out.len();
        out.push_str(name);
        out.push('=');
        let value = out.len();
        if time {
            match parsed {
                // Parsed already, and the value renders as itself.
                Some(i) if std::ptr::eq(t, s) => push_timestamp(i, out),
                _ => fix_timestamp_into(t, out),
            }
        } else {
            canonize_into(t, out);
        }
        if out.len() == value {
            out.truncate(start);
        }
    };
    for (i, name) in PLAIN_ORDER.iter().enumerate() {
        match (i, view.strs[i]) {
            (3, _) => {
                let Some(a) = view.epcs else { continue };
                let start = out.len();
                out.push_str(name);
                let after_name = out.len();
                // `leaf(out, "epc", x)`, with SGTIN and SGLN URNs that render as themselves
                // converted in one step (what `canonize_into` does with them).
                // `conv.value` leaves every `urn:epc:id:` value as it is unless a namespace is
                // named `urn` or an expanded vocabulary URI ends in such a value.
                let urns_as_is =
                    conv.ns("urn").is_none() && !expanded.iter().any(|e| has(e, "urn:epc:id:"));
                let mut epc = |out: &mut String, x: &str| {
                    let is_urn =
                        x.starts_with("urn:epc:id:sgtin:") || x.starts_with("urn:epc:id:sgln:");
                    // (Starting with `u`, only trailing space could be trimmed.)
                    if is_urn
                        && urns_as_is
                        && x.trim_end().len() == x.len()
                        && !has(&x[1..], "urn:epcglobal:cbv:")
                    {
                        out.push_str("epc=");
                        let ok = epc::urn_to_dl_into(x, out);
                        if !ok {
                            // Not convertible: `canonize` keeps it as it is.
                            out.push_str(x);
                        }
                        converted(x, Some(ok));
                        return;
                    }
                    converted(x, None);
                    leaf(out, "epc", x, false, None);
                };
                if let [one] = a {
                    epc(out, one.text());
                } else {
                    // Every `epc=...` rendered into one buffer, then sorted as slices.
                    let mut buf = String::with_capacity(a.len() * 48);
                    let mut spans = Vec::with_capacity(a.len());
                    for x in a {
                        let b = buf.len();
                        epc(&mut buf, x.text());
                        if buf.len() > b {
                            spans.push((b, buf.len()));
                        }
                    }
                    spans.sort_unstable_by(|x, y| buf[x.0..x.1].cmp(&buf[y.0..y.1]));
                    distinct = spans.len() == a.len()
                        && spans
                            .windows(2)
                            .all(|w| buf[w[0].0..w[0].1] != buf[w[1].0..w[1].1]);
                    for (b, e) in spans {
                        out.push_str(&buf[b..e]);
                    }
                }
                if out.len() == after_name {
                    out.truncate(start);
                }
            }
            (0, Some(s)) => leaf(out, name, s, true, view.event_time),
            (_, Some(s)) => {
                if let Some(r) = memo.as_deref().and_then(|m| m.get(i, s)) {
                    out.push_str(r);
                    continue;
                }
                let start = out.len();
                if i == 7 || i == 8 {
                    out.push_str(name);
                    let after_name = out.len();
                    leaf(out, "id", s, false, None);
                    if out.len() == after_name {
                        out.truncate(start);
                    }
                } else {
                    leaf(out, name, s, false, None);
                }
                if let Some(m) = memo.as_deref_mut() {
                    m.set(i, s, &out[start..]);
                }
            }
            (_, None) => {}
        }
    }
    distinct
}

/// The pre-hash string of any event, through a node tree.
pub(crate) fn pre_hash_general(obj: &Map<String, Value>, ctx: &HashContext) -> String {
    // 1. vocabulary expansion, on a copy of the event.
    let mut expanded = Vec::new();
    collect_expanded(obj, &mut expanded);
    expanded.sort();
    expanded.dedup();
    let ev_type = member(obj, "type").map(scalar_text).unwrap_or_default();
    let mut conv = Converter {
        ctx,
        expanded: &expanded,
        local_ns: Vec::new(),
    };
    if let Some(c) = obj.get("@context") {
        let mut local = HashContext::default();
        local.add_context(c);
        conv.local_ns = local.namespaces;
    }
    let mut children = Vec::new();
    for (k, v) in obj {
        if matches!(
            k.as_str(),
            "#text" | "rdfs:comment" | "comment" | "@context"
        ) || ctx.ignore_fields.iter().any(|f| f == k)
        {
            continue;
        }
        conv.push_child(&mut children, k, v);
    }
    let root = Node::new(Cow::Borrowed(ev_type.as_str()), EMPTY, children);
    let mut root = deep_structure_correction(root);
    let mut out = String::with_capacity(512);
    out.push_str("eventType=");
    out.push_str(&ev_type);
    render_in_order(&mut root.children, EVENT_ORDER, &mut out);
    root.children.retain(|c| {
        !matches!(
            c.name.as_ref(),
            "recordTime" | "eventID" | "type" | "errorDeclaration"
        )
    });
    if !root.children.is_empty() {
        out.push_str(&render_generic(&root.children));
    }
    out
}

fn scalar_cow(v: &Value) -> S<'_> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(true) => Cow::Borrowed("True"),
        Value::Bool(false) => Cow::Borrowed("False"),
        Value::Null => Cow::Borrowed("None"),
        Value::Number(n) => Cow::Owned(n.to_string()),
        _ => EMPTY,
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Vocabulary URIs the event uses (what JSON-LD expansion of its vocabulary fields yields, and the
/// literal CBV / GS1 vocabulary URIs it contains).
fn collect_expanded(obj: &Map<String, Value>, out: &mut Vec<String>) {
    fn vocab(kind: VocabKind, v: Option<&Value>, out: &mut Vec<String>) {
        let mut one = |x: &Value| {
            if let Some(s) = x.as_str() {
                if let Some(u) = kind.to_web_uri(s) {
                    out.push(u);
                }
            }
        };
        match v {
            Some(Value::Array(a)) => a.iter().for_each(&mut one),
            Some(x) => one(x),
            None => {}
        }
    }
    fn each<'a>(v: Option<&'a Value>) -> impl Iterator<Item = &'a Value> {
        let s: &'a [Value] = match v {
            Some(Value::Array(a)) => a,
            Some(x) => std::slice::from_ref(x),
            None => &[],
        };
        s.iter()
    }
    vocab(VocabKind::BizStep, member(obj, "bizStep"), out);
    vocab(VocabKind::Disposition, member(obj, "disposition"), out);
    if let Some(pd) = member(obj, "persistentDisposition") {
        vocab(VocabKind::Disposition, pd.get("set"), out);
        vocab(VocabKind::Disposition, pd.get("unset"), out);
    }
    for bt in each(member(obj, "bizTransactionList")) {
        vocab(VocabKind::BizTransactionType, bt.get("type"), out);
    }
    for l in ["sourceList", "destinationList"] {
        for sd in each(obj.get(l)) {
            vocab(VocabKind::SourceDestType, sd.get("type"), out);
        }
    }
    if let Some(ed) = member(obj, "errorDeclaration") {
        vocab(VocabKind::ErrorReason, ed.get("reason"), out);
    }
    for se in each(member(obj, "sensorElementList")) {
        for sr in each(se.get("sensorReport")) {
            vocab(VocabKind::MeasurementType, sr.get("type"), out);
            vocab(VocabKind::SensorException, sr.get("exception"), out);
            vocab(VocabKind::Component, sr.get("component"), out);
        }
    }
    fn literals(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s)
                if s.starts_with("https://ref.gs1.org/cbv")
                    || s.starts_with("https://gs1.org/voc") =>
            {
                out.push(s.clone())
            }
            Value::Array(a) => a.iter().for_each(|x| literals(x, out)),
            Value::Object(m) => m.values().for_each(|x| literals(x, out)),
            _ => {}
        }
    }
    obj.values().for_each(|v| literals(v, out));
}

struct Converter<'a> {
    ctx: &'a HashContext,
    expanded: &'a [String],
    local_ns: Vec<(String, String)>,
}

impl<'a> Converter<'a> {
    fn ns(&self, prefix: &str) -> Option<&str> {
        self.local_ns
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, n)| n.as_str())
            .or_else(|| self.ctx.namespace(prefix))
    }

    fn key(&self, k: &'a str) -> S<'a> {
        if let Some((p, rest)) = k.split_once(':') {
            if let Some(ns) = self.ns(p) {
                return Cow::Owned(format!("{{{ns}}}{rest}"));
            }
            // XML element names always have their namespace; prefixes of the standard context
            // are not declared again in the converted document's @context.
            if self.ctx.xml {
                let std_ns = match p {
                    "cbvmda" => Some("urn:epcglobal:cbv:mda:"),
                    "gs1" => Some("https://gs1.org/voc/"),
                    "cbv" => Some("https://ref.gs1.org/cbv/"),
                    "epcis" => Some("https://ref.gs1.org/epcis/"),
                    _ => None,
                };
                if let Some(ns) = std_ns {
                    return Cow::Owned(format!("{{{ns}}}{rest}"));
                }
            }
        }
        Cow::Borrowed(k)
    }

    fn value(&self, s: &'a str) -> S<'a> {
        if self.ctx.xml {
            let s = self.expand_bare(s);
            for (p, ns) in [
                ("gs1:", "https://gs1.org/voc/"),
                ("cbv:", "https://ref.gs1.org/cbv/"),
            ] {
                if let Some(rest) = s.strip_prefix(p) {
                    return Cow::Owned(format!("{ns}{rest}"));
                }
            }
            return Cow::Borrowed(s);
        }
        let s = self.expand_bare(s);
        // The prefix up to the first ':' (a byte scan: prefixes are short).
        if let Some(i) = s.bytes().position(|c| c == b':') {
            if let Some(ns) = self.ns(&s[..i]) {
                return Cow::Owned(format!("{ns}{}", &s[i + 1..]));
            }
        }
        Cow::Borrowed(s)
    }

    fn expand_bare(&self, s: &'a str) -> &'a str {
        // Bare-word expansion: exactly one expanded vocabulary URI ending in -word or /word.
        let mut found: Option<&'a String> = None;
        let mut count = 0;
        for x in self.expanded {
            if x.len() > s.len() {
                let (head, tail) = x.split_at(x.len() - s.len());
                if tail == s && (head.ends_with('-') || head.ends_with('/')) {
                    count += 1;
                    found = Some(x);
                }
            }
        }
        match (count, found) {
            (1, Some(x)) => x.as_str(),
            _ => s,
        }
    }

    fn convert(&self, v: &'a Value) -> Node<'a> {
        match v {
            Value::Array(a) => Node::new(EMPTY, EMPTY, a.iter().map(|x| self.convert(x)).collect()),
            Value::Object(m) => {
                let name = m.get("type").map_or(EMPTY, scalar_cow);
                let text = m.get("#text").map_or(EMPTY, scalar_cow);
                let mut children = Vec::new();
                for (k, v) in m {
                    match k.as_str() {
                        "#text" | "rdfs:comment" | "comment" => {}
                        // Attributes of an XML extension element count as its children (the
                        // reference algorithm treats them so).
                        "#attributes" => match v {
                            Value::Object(attrs) => {
                                for (ak, av) in attrs {
                                    self.push_child(&mut children, ak, av);
                                }
                            }
                            _ => self.push_child(&mut children, k, v),
                        },
                        _ => self.push_child(&mut children, k, v),
                    }
                }
                Node::new(name, text, children)
            }
            Value::String(s) => Node::new(EMPTY, self.value(s), Vec::new()),
            Value::Bool(b) if self.ctx.xml => Node::new(
                EMPTY,
                Cow::Borrowed(if *b { "true" } else { "false" }),
                Vec::new(),
            ),
            other => Node::new(EMPTY, scalar_cow(other), Vec::new()),
        }
    }

    fn push_child(&self, children: &mut Vec<Node<'a>>, k: &'a str, v: &'a Value) {
        let child = self.convert(v);
        let key = self.key(k);
        let raw = self.ctx.xml && k.ends_with("List") && k.contains(':');
        if v.is_array() {
            for el in child.children {
                let mut n = Node::new(key.clone(), el.text, el.children);
                n.raw = raw;
                children.push(n);
            }
        } else {
            let mut n = Node::new(key, child.text, child.children);
            n.raw = raw;
            children.push(n);
        }
    }
}

fn strip_list<'a>(s: &S<'a>) -> S<'a> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..b.len() - 4]),
        Cow::Owned(o) => Cow::Owned(o[..o.len() - 4].to_owned()),
    }
}

fn deep_structure_correction(node: Node<'_>) -> Node<'_> {
    let Node {
        name,
        text,
        children,
        pair,
        raw,
    } = node;
    let mut rest = Vec::with_capacity(children.len());
    let mut lists: Vec<(S<'_>, Vec<Node<'_>>)> = Vec::new();
    let mut child_epcs = Vec::new();
    for c in children {
        if c.name.ends_with("List") && !c.pair && !c.raw {
            let el = Node::new(strip_list(&c.name), c.text, c.children);
            match lists.iter_mut().find(|(n, _)| *n == c.name) {
                Some((_, v)) => v.push(el),
                None => lists.push((c.name, vec![el])),
            }
        } else if c.name == "childEPCs" {
            child_epcs.push(Node::new(Cow::Borrowed("epc"), c.text, Vec::new()));
        } else {
            rest.push(c);
        }
    }
    let mut out = Vec::with_capacity(rest.len() + lists.len() + 1);
    for c in rest {
        out.push(deep_structure_correction(c));
    }
    for (list_name, elements) in lists {
        if matches!(
            list_name.as_ref(),
            "sourceList" | "destinationList" | "bizTransactionList"
        ) {
            let value_key = strip_list(&list_name);
            let pairs = elements
                .into_iter()
                .map(|e| {
                    let mut ty = None;
                    let mut val = None;
                    for c in e.children {
                        if c.name == "type" && ty.is_none() {
                            ty = Some(c);
                        } else if c.name == value_key && val.is_none() {
                            val = Some(c);
                        }
                    }
                    Node {
                        name: EMPTY,
                        text: EMPTY,
                        children: ty.into_iter().chain(val).collect(),
                        pair: true,
                        raw: false,
                    }
                })
                .collect();
            out.push(Node::new(list_name, EMPTY, pairs));
        } else {
            let node = Node::new(list_name, EMPTY, elements);
            out.push(deep_structure_correction(node));
        }
    }
    if !child_epcs.is_empty() {
        out.push(Node::new(Cow::Borrowed("childEPCs"), EMPTY, child_epcs));
    }
    let name = match name.as_ref() {
        "inputEPC" | "outputEPC" => Cow::Borrowed("epc"),
        "inputQuantity" | "outputQuantity" | "childQuantity" => Cow::Borrowed("quantityElement"),
        "quantity" if !out.is_empty() => Cow::Borrowed("quantityElement"),
        _ => name,
    };
    Node {
        name,
        text,
        children: out,
        pair,
        raw,
    }
}

/// One field of the canonical property order and the order of its children (empty: a leaf).
struct Prop {
    name: &'static str,
    sub: &'static [Prop],
}

const fn p(name: &'static str) -> Prop {
    Prop { name, sub: &[] }
}

const fn ps(name: &'static str, sub: &'static [Prop]) -> Prop {
    Prop { name, sub }
}

const QUANTITY: &[Prop] = &[ps(
    "quantityElement",
    &[p("epcClass"), p("quantity"), p("uom")],
)];
const EPC: &[Prop] = &[p("epc")];

const SENSOR_METADATA: &[Prop] = &[
    p("time"),
    p("startTime"),
    p("endTime"),
    p("deviceID"),
    p("deviceMetadata"),
    p("rawData"),
    p("dataProcessingMethod"),
    p("bizRules"),
];

const SENSOR_REPORT: &[Prop] = &[
    p("type"),
    p("exception"),
    p("deviceID"),
    p("deviceMetadata"),
    p("rawData"),
    p("dataProcessingMethod"),
    p("time"),
    p("microorganism"),
    p("chemicalSubstance"),
    p("value"),
    p("component"),
    p("stringValue"),
    p("booleanValue"),
    p("hexBinaryValue"),
    p("uriValue"),
    p("minValue"),
    p("maxValue"),
    p("meanValue"),
    p("sDev"),
    p("percRank"),
    p("percValue"),
    p("uom"),
    p("coordinateReferenceSystem"),
];

const EVENT_ORDER: &[Prop] = &[
    p("eventTime"),
    p("eventTimeZoneOffset"),
    p("certificationInfo"),
    p("parentID"),
    ps("epcList", EPC),
    ps("inputEPCList", EPC),
    ps("childEPCs", EPC),
    ps("quantityList", QUANTITY),
    ps("childQuantityList", QUANTITY),
    ps("inputQuantityList", QUANTITY),
    ps("outputEPCList", EPC),
    ps("outputQuantityList", QUANTITY),
    p("action"),
    p("transformationID"),
    p("bizStep"),
    p("disposition"),
    ps("persistentDisposition", &[p("set"), p("unset")]),
    ps("readPoint", &[p("id")]),
    ps("bizLocation", &[p("id")]),
    ps(
        "sensorElementList",
        &[ps(
            "sensorElement",
            &[
                ps("sensorMetadata", SENSOR_METADATA),
                ps("sensorReport", SENSOR_REPORT),
            ],
        )],
    ),
];

fn is_user_extension(name: &str) -> bool {
    name.as_bytes().contains(&b'{') && has(name, "/}")
}

/// Substring test for short needles (cheaper than the general searcher on short names).
/// Only positions where the first byte matches are compared in full.
fn has(h: &str, n: &str) -> bool {
    let (h, n) = (h.as_bytes(), n.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    h.len() >= n.len()
        && h[..=h.len() - n.len()]
            .iter()
            .enumerate()
            .any(|(i, &b)| b == first && &h[i + 1..i + n.len()] == rest)
}

/// Case-insensitive [`has`] with an ASCII lower-case needle.
fn has_ci(h: &str, n: &str) -> bool {
    let (h, n) = (h.as_bytes(), n.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    h.len() >= n.len()
        && h[..=h.len() - n.len()].iter().enumerate().any(|(i, &b)| {
            b.eq_ignore_ascii_case(&first) && h[i + 1..i + n.len()].eq_ignore_ascii_case(rest)
        })
}

fn render_in_order(children: &mut Vec<Node<'_>>, order: &[Prop], out: &mut String) {
    // User extensions of a nested structure go after its ordered fields (not at event level).
    let mut ext = Vec::new();
    if children.len() > 1
        && children.iter().any(|c| is_user_extension(&c.name))
        && !children
            .iter()
            .any(|c| has(&c.name, "eventTime") || has(&c.name, "action"))
    {
        let mut i = 0;
        while i < children.len() {
            if is_user_extension(&children[i].name) && !children[i].pair {
                ext.push(children.remove(i));
            } else {
                i += 1;
            }
        }
    }
    for prop in order {
        let (name, sub) = (prop.name, prop.sub);
        let matches = children
            .iter()
            .filter(|c| !c.pair && c.name == name)
            .count();
        if matches == 0 {
            continue;
        }
        if matches == 1 {
            // One value: nothing to sort, render in place.
            if let Some(i) = children.iter().position(|c| !c.pair && c.name == name) {
                child_pre_hash(&mut children[i], sub, out);
                if children[i].children.is_empty() {
                    children.remove(i);
                }
            }
            continue;
        }
        let mut values = Vec::with_capacity(matches);
        // One pass (removing rendered children one by one is quadratic in the list length).
        let mut kept = Vec::with_capacity(children.len() - matches);
        for mut c in children.drain(..) {
            if c.pair || c.name != name {
                kept.push(c);
                continue;
            }
            let mut s = String::new();
            child_pre_hash(&mut c, sub, &mut s);
            if !s.is_empty() {
                values.push(s);
            }
            if !c.children.is_empty() {
                kept.push(c);
            }
        }
        *children = kept;
        values.sort();
        for v in values {
            out.push_str(&v);
        }
    }
    if !ext.is_empty() {
        out.push_str(&render_generic(&ext));
    }
}

/// `name[=value][ordered children]`, or nothing when there is neither a value nor children text.
fn child_pre_hash(child: &mut Node<'_>, sub: &[Prop], out: &mut String) {
    let start = out.len();
    out.push_str(&child.name);
    let after_name = out.len();
    if !child.text.is_empty() {
        let t = child.text.trim();
        let v = if has_ci(&child.name, "time") && !has_ci(&child.name, "offset") {
            Cow::Owned(fix_timestamp(t))
        } else {
            canonize(t)
        };
        if !v.is_empty() {
            out.push('=');
            out.push_str(&v);
        }
    }
    if !sub.is_empty() {
        render_in_order(&mut child.children, sub, out);
    }
    if out.len() == after_name {
        out.truncate(start);
    }
}

fn render_generic(children: &[Node<'_>]) -> String {
    let mut values: Vec<String> = children
        .iter()
        .map(|c| {
            if c.pair {
                render_generic(&c.children)
            } else {
                let t = c.text.trim();
                let mut s = String::from(c.name.as_ref());
                if !t.is_empty() {
                    s.push('=');
                    s.push_str(&canonize(t));
                }
                s.push_str(&render_generic(&c.children));
                s
            }
        })
        .collect();
    let keep_order = children
        .iter()
        .any(|c| !c.pair && matches!(c.name.as_ref(), "bizTransaction" | "source" | "destination"));
    if values.len() > 1 && !keep_order {
        values.sort();
    }
    values.concat()
}

/// UTC, millisecond precision (microseconds rounded half to even), `Z`. Unparseable text is kept.
pub fn fix_timestamp(s: &str) -> String {
    let mut out = String::with_capacity(24);
    fix_timestamp_into(s, &mut out);
    out
}

/// [`fix_timestamp`] appended to `out`.
fn fix_timestamp_into(s: &str, out: &mut String) {
    match parse_instant(s) {
        Ok((i, _)) => push_timestamp(i, out),
        Err(_) => out.push_str(s),
    }
}

/// An instant as [`fix_timestamp`] writes it, appended to `out`.
fn push_timestamp(i: Instant, out: &mut String) {
    let micros = i.nanos / 1000;
    let (q, r) = (micros / 1000, micros % 1000);
    let mut millis = if r > 500 || (r == 500 && q % 2 == 1) {
        q + 1
    } else {
        q
    };
    let mut secs = i.secs;
    if millis == 1000 {
        millis = 0;
        secs += 1;
    }
    Instant::format_millis_into(secs, millis, out)
}

/// CBV 1.x URNs to web URIs, numbers normalised, GS1 identifiers to canonical Digital Links.
pub fn canonize_value(text: &str) -> String {
    canonize(text).into_owned()
}

/// [`canonize`] appended to `out`, writing GS1 identifiers' Digital Links straight into it.
fn canonize_into(text: &str, out: &mut String) {
    if is_identifier_like(text) {
        if !is_vocab_term(text) && epc::normalise_to_dl_into(text, out) {
            return;
        }
        out.push_str(text);
        return;
    }
    out.push_str(&canonize(text));
}

/// Whether [`canonize`] treats `text` as a possible identifier (its first branch).
fn is_identifier_like(text: &str) -> bool {
    (text.starts_with("urn:epc:") || text.starts_with("http"))
        && text.as_bytes().contains(&b'.')
        && !has(text, "urn:epcglobal:cbv:")
}

/// A CBV or GS1 vocabulary term (one path segment after cbv/ or voc/): no GS1 key.
fn is_vocab_term(text: &str) -> bool {
    text.strip_prefix("https://ref.gs1.org/cbv/")
        .or_else(|| text.strip_prefix("https://gs1.org/voc/"))
        .is_some_and(|t| !t.contains('/'))
}

/// [`canonize_value`] without copying values that stay as they are.
fn canonize(text: &str) -> Cow<'_, str> {
    if is_identifier_like(text) {
        if is_vocab_term(text) {
            return Cow::Borrowed(text);
        }
        // An identifier: not a number, no CBV URN to replace.
        return match epc::normalise_to_dl(text) {
            Some(dl) => Cow::Owned(dl),
            None => Cow::Borrowed(text),
        };
    }
    let plain = !has(text, "urn:epcglobal:cbv:")
        && !text
            .as_bytes()
            .first()
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
    if plain {
        return Cow::Borrowed(text);
    }
    Cow::Owned(canonize_slow(text))
}

fn canonize_slow(text: &str) -> String {
    let mut t = if has(text, "urn:epcglobal:cbv:") {
        text.replace(
            "urn:epcglobal:cbv:bizstep:",
            "https://ref.gs1.org/cbv/BizStep-",
        )
        .replace("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-")
        .replace("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-")
        .replace("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-")
        .replace("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-")
    } else {
        text.to_owned()
    };
    if t.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
    {
        if let Some(n) = normalise_number(&t) {
            t = n;
        }
    }
    if (t.starts_with("urn:epc:") || t.starts_with("http")) && t.contains('.') {
        if let Some(dl) = epc::normalise_to_dl(&t) {
            return dl;
        }
    }
    t
}

/// Decimal text to its shortest canonical form: integers without `.0`, leading zeros or `+`;
/// other values as the shortest round-trip decimal (scientific below 1e-4).
pub fn normalise_number(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut ndig = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        ndig += i - f;
    }
    if ndig == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let f: f64 = t.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    Some(format_f64(f))
}

fn format_f64(f: f64) -> String {
    if f == f.trunc() {
        let s = format!("{f:.0}");
        return if s == "-0" { "0".into() } else { s };
    }
    let a = f.abs();
    if a < 1e-4 {
        // Python repr: d.ddde-XX
        let s = format!("{f:e}");
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            return format!("{m}e{sign}{digits:0>2}");
        }
        s
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_like_the_reference() {
        assert_eq!(normalise_number("26.0").as_deref(), Some("26"));
        assert_eq!(normalise_number("+012.10").as_deref(), Some("12.1"));
        assert_eq!(normalise_number("0.00001").as_deref(), Some("1e-05"));
        assert_eq!(normalise_number("1e2").as_deref(), Some("100"));
        assert_eq!(normalise_number("-0.0").as_deref(), Some("0"));
        assert_eq!(normalise_number("12a"), None);
        assert_eq!(normalise_number("."), None);
        assert_eq!(normalise_number("nan"), None);
    }

    proptest::proptest! {
        #[test]
        fn substring_tests_agree_with_windows(h in "[a-cA-C:]{0,12}", n in "[a-c:]{1,4}") {
            let (hb, nb) = (h.as_bytes(), n.as_bytes());
            let want = hb.len() >= nb.len() && hb.windows(nb.len()).any(|w| w == nb);
            proptest::prop_assert_eq!(has(&h, &n), want);
            let want_ci =
                hb.len() >= nb.len() && hb.windows(nb.len()).any(|w| w.eq_ignore_ascii_case(nb));
            proptest::prop_assert_eq!(has_ci(&h, &n), want_ci);
        }
    }

    #[test]
    fn timestamps_round_to_millis() {
        assert_eq!(
            fix_timestamp("2022-02-16T20:33:31.116000-06:00"),
            "2022-02-17T02:33:31.116Z"
        );
        assert_eq!(
            fix_timestamp("2020-01-01T00:00:00.0005Z"),
            "2020-01-01T00:00:00.000Z"
        );
        assert_eq!(
            fix_timestamp("2020-01-01T00:00:00.0015Z"),
            "2020-01-01T00:00:00.002Z"
        );
        assert_eq!(
            fix_timestamp("2020-01-01T23:59:59.9996Z"),
            "2020-01-02T00:00:00.000Z"
        );
        assert_eq!(fix_timestamp("yesterday"), "yesterday");
    }
}
