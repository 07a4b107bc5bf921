//! EPCIS 2.0 XML writer from the JSON-LD document shape.

use std::io::Write;

use serde_json::{Map, Value};

use super::cbv::Vocab;
use super::{CbvXmlFormat, XmlError, XmlErrorKind, XmlWriteOptions, NS_EPCIS_2, NS_EPCIS_QUERY_2};

const NS_SBDH: &str = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader";
const NS_CBVMDA: &str = "urn:epcglobal:cbv:mda";
/// Deepest element nesting the writer produces (the reader's default limit is 64).
const MAX_WRITE_DEPTH: usize = 64;

/// Prefixes whose XML namespace is known without an `@context` entry.
fn builtin_ns(prefix: &str) -> Option<&'static str> {
    match prefix {
        "cbvmda" => Some(NS_CBVMDA),
        "epcis" => Some("https://ref.gs1.org/epcis/"),
        "gs1" => Some("https://gs1.org/voc/"),
        "cbv" => Some("https://ref.gs1.org/cbv/"),
        "sbdh" => Some(NS_SBDH),
        "xsd" => Some("http://www.w3.org/2001/XMLSchema#"),
        "xsi" => Some("http://www.w3.org/2001/XMLSchema-instance"),
        "rdfs" => Some("http://www.w3.org/2000/01/rdf-schema#"),
        "owl" => Some("http://www.w3.org/2002/07/owl#"),
        "dcterms" => Some("http://purl.org/dc/terms/"),
        _ => None,
    }
}

const HEAD_FIELDS: &[&str] = &[
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "errorDeclaration",
    "certificationInfo",
];

fn body_fields(event_type: &str) -> Option<&'static [&'static str]> {
    Some(match event_type {
        "ObjectEvent" => &[
            "epcList",
            "action",
            "bizStep",
            "disposition",
            "readPoint",
            "bizLocation",
            "bizTransactionList",
            "quantityList",
            "sourceList",
            "destinationList",
            "sensorElementList",
            "persistentDisposition",
            "ilmd",
        ],
        "AggregationEvent" => &[
            "parentID",
            "childEPCs",
            "action",
            "bizStep",
            "disposition",
            "readPoint",
            "bizLocation",
            "bizTransactionList",
            "childQuantityList",
            "sourceList",
            "destinationList",
            "sensorElementList",
            "persistentDisposition",
        ],
        "TransactionEvent" => &[
            "bizTransactionList",
            "parentID",
            "epcList",
            "action",
            "bizStep",
            "disposition",
            "readPoint",
            "bizLocation",
            "quantityList",
            "sourceList",
            "destinationList",
            "sensorElementList",
            "persistentDisposition",
        ],
        "TransformationEvent" => &[
            "inputEPCList",
            "inputQuantityList",
            "outputEPCList",
            "outputQuantityList",
            "transformationID",
            "bizStep",
            "disposition",
            "readPoint",
            "bizLocation",
            "bizTransactionList",
            "sourceList",
            "destinationList",
            "sensorElementList",
            "persistentDisposition",
            "ilmd",
        ],
        "AssociationEvent" => &[
            "parentID",
            "childEPCs",
            "childQuantityList",
            "action",
            "bizStep",
            "disposition",
            "readPoint",
            "bizLocation",
            "bizTransactionList",
            "sourceList",
            "destinationList",
            "sensorElementList",
            "persistentDisposition",
        ],
        _ => return None,
    })
}

const ALL_STANDARD: &[&str] = &[
    "epcList",
    "action",
    "bizStep",
    "disposition",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "quantityList",
    "sourceList",
    "destinationList",
    "sensorElementList",
    "persistentDisposition",
    "ilmd",
    "parentID",
    "childEPCs",
    "childQuantityList",
    "inputEPCList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "transformationID",
];

fn json_err(path: &str, msg: impl Into<String>) -> XmlError {
    XmlError::new(XmlErrorKind::Json, path, msg)
}

fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.') || (c as u32) >= 0xB7)
}

fn escape_into(out: &mut Vec<u8>, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' if attr => b"&quot;",
            b'\n' if attr => b"&#10;",
            b'\r' => b"&#13;",
            b'\t' if attr => b"&#9;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&bytes[last..]);
}

fn scalar_text(v: &Value, path: &str) -> Result<String, XmlError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(json_err(path, "expected a string, number or boolean")),
    }
}

fn str_of<'a>(v: &'a Value, path: &str) -> Result<&'a str, XmlError> {
    v.as_str()
        .ok_or_else(|| json_err(path, "expected a string"))
}

/// Low-level XML emitter with optional indentation.
struct Emit {
    buf: Vec<u8>,
    pretty: bool,
    /// One entry per open element: whether it has child elements.
    open: Vec<bool>,
    base_depth: usize,
}

impl Emit {
    fn indent(&mut self) {
        if self.pretty {
            self.buf.push(b'\n');
            for _ in 0..(self.base_depth + self.open.len()) {
                self.buf.extend_from_slice(b"  ");
            }
        }
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        if let Some(last) = self.open.last_mut() {
            *last = true;
        }
        if !self.open.is_empty() || self.base_depth > 0 {
            self.indent();
        }
        self.buf.push(b'<');
        self.buf.extend_from_slice(name.as_bytes());
        for (k, v) in attrs {
            self.buf.push(b' ');
            self.buf.extend_from_slice(k.as_bytes());
            self.buf.extend_from_slice(b"=\"");
            escape_into(&mut self.buf, v, true);
            self.buf.push(b'"');
        }
        self.buf.push(b'>');
        self.open.push(false);
    }

    fn text(&mut self, s: &str) {
        escape_into(&mut self.buf, s, false);
    }

    fn end(&mut self, name: &str) {
        let had_children = self.open.pop().unwrap_or(false);
        if had_children {
            self.indent();
        }
        self.buf.extend_from_slice(b"</");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'>');
    }

    fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start(name, attrs);
        self.text(text);
        self.end(name);
    }
}

/// The namespaces in scope: prefixes declared on the root plus per-event `@context` entries.
struct Namespaces {
    root: Vec<(String, String)>,
    event: Vec<(String, String)>,
}

impl Namespaces {
    fn lookup(&self, prefix: &str) -> Option<(&str, bool)> {
        if let Some((_, u)) = self.root.iter().find(|(p, _)| p == prefix) {
            return Some((u.as_str(), true));
        }
        if let Some((_, u)) = self.event.iter().find(|(p, _)| p == prefix) {
            return Some((u.as_str(), false));
        }
        builtin_ns(prefix).map(|u| (u, false))
    }
}

fn context_entries(ctx: Option<&Value>, out: &mut Vec<(String, String)>) {
    let mut add = |m: &Map<String, Value>| {
        for (k, v) in m {
            if k.starts_with('@')
                || !is_ncname(k)
                || matches!(k.as_str(), "epcis" | "epcisq" | "xml" | "xmlns")
            {
                continue;
            }
            let uri = match v {
                Value::String(s) => s.as_str(),
                Value::Object(o) => match o.get("@id").and_then(Value::as_str) {
                    Some(s) => s,
                    None => continue,
                },
                _ => continue,
            };
            if uri.is_empty() || !uri.contains(':') {
                continue;
            }
            // cbvmda's JSON-LD IRI ends in ':' or '#'; its XML namespace does not.
            let uri = if k == "cbvmda"
                && uri.starts_with(NS_CBVMDA)
                && uri.len() <= NS_CBVMDA.len() + 1
            {
                NS_CBVMDA
            } else {
                uri
            };
            if let Some(e) = out.iter_mut().find(|(p, _)| p == k) {
                e.1 = uri.to_owned();
            } else {
                out.push((k.clone(), uri.to_owned()));
            }
        }
    };
    match ctx {
        Some(Value::Object(m)) => add(m),
        Some(Value::Array(a)) => {
            for item in a {
                if let Value::Object(m) = item {
                    add(m);
                }
            }
        }
        _ => {}
    }
}

/// A qualified element/attribute name for an extension key, plus a namespace declaration to put
/// on the element when the prefix is not declared on the root.
struct QName {
    name: String,
    decl: Option<(String, String)>,
}

fn qname_for(key: &str, ns: &Namespaces, path: &str) -> Result<QName, XmlError> {
    if let Some((p, local)) = key.split_once(':') {
        if local.starts_with("//") {
            // A full IRI as key: split into namespace and local name.
            let cut = key.rfind(['#', '/']).unwrap_or(0);
            let (uri, local) = key.split_at(cut + 1);
            if !is_ncname(local) {
                return Err(json_err(
                    path,
                    format!("key {key:?} cannot be written as an XML element name"),
                ));
            }
            return Ok(QName {
                name: format!("ns0:{local}"),
                decl: Some(("ns0".to_owned(), uri.to_owned())),
            });
        }
        if !is_ncname(p) || !is_ncname(local) {
            return Err(json_err(
                path,
                format!("key {key:?} is not a valid XML qualified name"),
            ));
        }
        let Some((uri, on_root)) = ns.lookup(p) else {
            return Err(json_err(
                path,
                format!("prefix {p:?} of {key:?} is not defined in @context"),
            ));
        };
        Ok(QName {
            name: key.to_owned(),
            decl: if on_root {
                None
            } else {
                Some((p.to_owned(), uri.to_owned()))
            },
        })
    } else {
        if !is_ncname(key) {
            return Err(json_err(
                path,
                format!("key {key:?} is not a valid XML name"),
            ));
        }
        Ok(QName {
            name: key.to_owned(),
            decl: None,
        })
    }
}

struct Ctx<'a> {
    e: &'a mut Emit,
    ns: &'a Namespaces,
    cbv: CbvXmlFormat,
}

impl Ctx<'_> {
    fn ext(&mut self, key: &str, v: &Value, path: &str) -> Result<(), XmlError> {
        if self.e.open.len() > MAX_WRITE_DEPTH {
            return Err(json_err(
                path,
                format!("nesting deeper than {MAX_WRITE_DEPTH} levels"),
            ));
        }
        if let Value::Array(items) = v {
            for (i, item) in items.iter().enumerate() {
                if item.is_array() {
                    return Err(json_err(
                        &format!("{path}/{i}"),
                        "nested arrays have no XML form",
                    ));
                }
                self.ext(key, item, &format!("{path}/{i}"))?;
            }
            return Ok(());
        }
        let q = qname_for(key, self.ns, path)?;
        let decl_attr;
        let mut attrs: Vec<(String, String)> = Vec::new();
        if let Some((p, u)) = &q.decl {
            decl_attr = format!("xmlns:{p}");
            attrs.push((decl_attr.clone(), u.clone()));
        }
        match v {
            Value::Object(m) => {
                if let Some(a) = m.get("#attributes") {
                    let Value::Object(am) = a else {
                        return Err(json_err(path, "#attributes must be an object"));
                    };
                    for (ak, av) in am {
                        let aq = qname_for(ak, self.ns, path)?;
                        if let Some((p, u)) = aq.decl {
                            let d = format!("xmlns:{p}");
                            if !attrs.iter().any(|(k, _)| *k == d) {
                                attrs.push((d, u));
                            }
                        }
                        attrs.push((
                            aq.name,
                            scalar_text(av, &format!("{path}/#attributes/{ak}"))?,
                        ));
                    }
                }
                let borrowed: Vec<(&str, &str)> = attrs
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                self.e.start(&q.name, &borrowed);
                if let Some(t) = m.get("#text") {
                    let t = scalar_text(t, &format!("{path}/#text"))?;
                    self.e.text(&t);
                }
                for (k, cv) in m {
                    if k == "#attributes" || k == "#text" {
                        continue;
                    }
                    self.ext(k, cv, &format!("{path}/{k}"))?;
                }
                self.e.end(&q.name);
            }
            other => {
                let t = scalar_text(other, path)?;
                let borrowed: Vec<(&str, &str)> = attrs
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                self.e.leaf(&q.name, &borrowed, &t);
            }
        }
        Ok(())
    }

    /// Writes the members of `m` that are extensions (everything not in `skip`).
    fn ext_members(
        &mut self,
        m: &Map<String, Value>,
        skip: &[&str],
        path: &str,
    ) -> Result<(), XmlError> {
        for (k, v) in m {
            if skip.contains(&k.as_str()) || k.starts_with('@') {
                continue;
            }
            if !k.contains(':') {
                return Err(json_err(
                    &format!("{path}/{k}"),
                    format!("unknown member {k:?} (extension members need a prefix)"),
                ));
            }
            self.ext(k, v, &format!("{path}/{k}"))?;
        }
        Ok(())
    }

    fn text_leaf(&mut self, name: &str, v: &Value, path: &str) -> Result<(), XmlError> {
        let s = str_of(v, path)?;
        self.e.leaf(name, &[], s);
        Ok(())
    }

    fn list(&mut self, name: &str, item: &str, v: &Value, path: &str) -> Result<(), XmlError> {
        let Value::Array(a) = v else {
            return Err(json_err(path, "expected an array"));
        };
        self.e.start(name, &[]);
        for (i, x) in a.iter().enumerate() {
            self.text_leaf(item, x, &format!("{path}/{i}"))?;
        }
        self.e.end(name);
        Ok(())
    }

    fn quantity_list(&mut self, name: &str, v: &Value, path: &str) -> Result<(), XmlError> {
        let Value::Array(a) = v else {
            return Err(json_err(path, "expected an array"));
        };
        self.e.start(name, &[]);
        for (i, q) in a.iter().enumerate() {
            let p = format!("{path}/{i}");
            let Value::Object(m) = q else {
                return Err(json_err(&p, "expected a quantity element object"));
            };
            self.e.start("quantityElement", &[]);
            let Some(c) = m.get("epcClass") else {
                return Err(json_err(&p, "quantity element without epcClass"));
            };
            self.text_leaf("epcClass", c, &format!("{p}/epcClass"))?;
            if let Some(n) = m.get("quantity") {
                let Value::Number(n) = n else {
                    return Err(json_err(
                        &format!("{p}/quantity"),
                        "quantity must be a number",
                    ));
                };
                self.e.leaf("quantity", &[], &n.to_string());
            }
            if let Some(u) = m.get("uom") {
                self.text_leaf("uom", u, &format!("{p}/uom"))?;
            }
            for k in m.keys() {
                if !matches!(k.as_str(), "epcClass" | "quantity" | "uom") {
                    return Err(json_err(
                        &format!("{p}/{k}"),
                        "unexpected member in a quantity element",
                    ));
                }
            }
            self.e.end("quantityElement");
        }
        self.e.end(name);
        Ok(())
    }

    fn location(&mut self, name: &str, v: &Value, path: &str) -> Result<(), XmlError> {
        let Value::Object(m) = v else {
            return Err(json_err(path, "expected an object"));
        };
        let Some(id) = m.get("id") else {
            return Err(json_err(path, "missing id"));
        };
        self.e.start(name, &[]);
        self.text_leaf("id", id, &format!("{path}/id"))?;
        self.ext_members(m, &["id"], path)?;
        self.e.end(name);
        Ok(())
    }

    fn typed_list(
        &mut self,
        name: &str,
        item: &str,
        v: &Value,
        path: &str,
        vocab: Vocab,
    ) -> Result<(), XmlError> {
        let Value::Array(a) = v else {
            return Err(json_err(path, "expected an array"));
        };
        self.e.start(name, &[]);
        for (i, x) in a.iter().enumerate() {
            let p = format!("{path}/{i}");
            let Value::Object(m) = x else {
                return Err(json_err(&p, "expected an object"));
            };
            let Some(val) = m.get(item) else {
                return Err(json_err(&p, format!("missing {item}")));
            };
            let val = str_of(val, &format!("{p}/{item}"))?;
            let t = match m.get("type") {
                Some(t) => Some(vocab.to_xml(str_of(t, &format!("{p}/type"))?, self.cbv)),
                None => None,
            };
            match &t {
                Some(t) => self.e.leaf(item, &[("type", t)], val),
                None => self.e.leaf(item, &[], val),
            }
        }
        self.e.end(name);
        Ok(())
    }

    fn sensor_attrs(
        &mut self,
        name: &str,
        m: &Map<String, Value>,
        path: &str,
        report: bool,
    ) -> Result<(), XmlError> {
        let mut attrs: Vec<(String, String)> = Vec::new();
        for (k, v) in m {
            let p = format!("{path}/{k}");
            let text = scalar_text(v, &p)?;
            let text = match k.as_str() {
                "type" if report => Vocab::MeasurementType.to_xml(&text, self.cbv),
                "exception" if report => Vocab::SensorAlertType.to_xml(&text, self.cbv),
                "component" if report => Vocab::Component.to_xml(&text, self.cbv),
                _ => text,
            };
            let q = qname_for(k, self.ns, &p)?;
            if let Some((px, u)) = q.decl {
                let d = format!("xmlns:{px}");
                if !attrs.iter().any(|(a, _)| *a == d) {
                    attrs.push((d, u));
                }
            }
            attrs.push((q.name, text));
        }
        let borrowed: Vec<(&str, &str)> = attrs
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        self.e.start(name, &borrowed);
        self.e.end(name);
        Ok(())
    }

    fn sensor_element_list(&mut self, v: &Value, path: &str) -> Result<(), XmlError> {
        let Value::Array(a) = v else {
            return Err(json_err(path, "expected an array"));
        };
        self.e.start("sensorElementList", &[]);
        for (i, x) in a.iter().enumerate() {
            let p = format!("{path}/{i}");
            let Value::Object(m) = x else {
                return Err(json_err(&p, "expected a sensor element object"));
            };
            self.e.start("sensorElement", &[]);
            if let Some(md) = m.get("sensorMetadata") {
                let Value::Object(mm) = md else {
                    return Err(json_err(
                        &format!("{p}/sensorMetadata"),
                        "expected an object",
                    ));
                };
                self.sensor_attrs("sensorMetadata", mm, &format!("{p}/sensorMetadata"), false)?;
            }
            match m.get("sensorReport") {
                Some(Value::Array(reports)) => {
                    for (j, r) in reports.iter().enumerate() {
                        let rp = format!("{p}/sensorReport/{j}");
                        let Value::Object(rm) = r else {
                            return Err(json_err(&rp, "expected a sensor report object"));
                        };
                        self.sensor_attrs("sensorReport", rm, &rp, true)?;
                    }
                }
                _ => return Err(json_err(&p, "sensorReport must be an array")),
            }
            self.ext_members(m, &["sensorMetadata", "sensorReport"], &p)?;
            self.e.end("sensorElement");
        }
        self.e.end("sensorElementList");
        Ok(())
    }

    fn persistent_disposition(&mut self, v: &Value, path: &str) -> Result<(), XmlError> {
        let Value::Object(m) = v else {
            return Err(json_err(path, "expected an object"));
        };
        self.e.start("persistentDisposition", &[]);
        for key in ["unset", "set"] {
            if let Some(list) = m.get(key) {
                let Value::Array(a) = list else {
                    return Err(json_err(&format!("{path}/{key}"), "expected an array"));
                };
                for (i, d) in a.iter().enumerate() {
                    let d = str_of(d, &format!("{path}/{key}/{i}"))?;
                    self.e
                        .leaf(key, &[], &Vocab::Disposition.to_xml(d, self.cbv));
                }
            }
        }
        for k in m.keys() {
            if k != "set" && k != "unset" {
                return Err(json_err(
                    &format!("{path}/{k}"),
                    "unexpected member in persistentDisposition",
                ));
            }
        }
        self.e.end("persistentDisposition");
        Ok(())
    }

    fn error_declaration(&mut self, v: &Value, path: &str) -> Result<(), XmlError> {
        let Value::Object(m) = v else {
            return Err(json_err(path, "expected an object"));
        };
        self.e.start("errorDeclaration", &[]);
        let Some(t) = m.get("declarationTime") else {
            return Err(json_err(path, "missing declarationTime"));
        };
        self.text_leaf("declarationTime", t, &format!("{path}/declarationTime"))?;
        if let Some(r) = m.get("reason") {
            let r = str_of(r, &format!("{path}/reason"))?;
            self.e
                .leaf("reason", &[], &Vocab::ErrorReason.to_xml(r, self.cbv));
        }
        if let Some(ids) = m.get("correctiveEventIDs") {
            self.list(
                "correctiveEventIDs",
                "correctiveEventID",
                ids,
                &format!("{path}/correctiveEventIDs"),
            )?;
        }
        self.ext_members(
            m,
            &["declarationTime", "reason", "correctiveEventIDs"],
            path,
        )?;
        self.e.end("errorDeclaration");
        Ok(())
    }

    fn field(&mut self, key: &str, v: &Value, path: &str) -> Result<(), XmlError> {
        match key {
            "eventTime"
            | "recordTime"
            | "eventTimeZoneOffset"
            | "eventID"
            | "certificationInfo"
            | "action"
            | "transformationID"
            | "parentID" => self.text_leaf(key, v, path),
            "bizStep" => {
                let s = str_of(v, path)?;
                self.e.leaf(key, &[], &Vocab::BizStep.to_xml(s, self.cbv));
                Ok(())
            }
            "disposition" => {
                let s = str_of(v, path)?;
                self.e
                    .leaf(key, &[], &Vocab::Disposition.to_xml(s, self.cbv));
                Ok(())
            }
            "epcList" | "childEPCs" | "inputEPCList" | "outputEPCList" => {
                self.list(key, "epc", v, path)
            }
            "quantityList" | "childQuantityList" | "inputQuantityList" | "outputQuantityList" => {
                self.quantity_list(key, v, path)
            }
            "readPoint" | "bizLocation" => self.location(key, v, path),
            "bizTransactionList" => {
                self.typed_list(key, "bizTransaction", v, path, Vocab::BizTransactionType)
            }
            "sourceList" => self.typed_list(key, "source", v, path, Vocab::SourceDestType),
            "destinationList" => {
                self.typed_list(key, "destination", v, path, Vocab::SourceDestType)
            }
            "sensorElementList" => self.sensor_element_list(v, path),
            "persistentDisposition" => self.persistent_disposition(v, path),
            "errorDeclaration" => self.error_declaration(v, path),
            "ilmd" => {
                let Value::Object(m) = v else {
                    return Err(json_err(path, "expected an object"));
                };
                self.e.start("ilmd", &[]);
                self.ext_members(m, &[], path)?;
                self.e.end("ilmd");
                Ok(())
            }
            _ => Err(json_err(path, format!("unknown event member {key:?}"))),
        }
    }

    fn event(&mut self, ev: &Value, path: &str) -> Result<(), XmlError> {
        let Value::Object(m) = ev else {
            return Err(json_err(path, "an event must be an object"));
        };
        let Some(t) = m.get("type").and_then(Value::as_str) else {
            return Err(json_err(&format!("{path}/type"), "missing event type"));
        };
        let Some(fields) = body_fields(t) else {
            return Err(json_err(
                &format!("{path}/type"),
                format!("unknown event type {t:?}"),
            ));
        };
        self.e.start(t, &[]);
        for &f in HEAD_FIELDS.iter().chain(fields.iter()) {
            if let Some(v) = m.get(f) {
                self.field(f, v, &format!("{path}/{f}"))?;
            }
        }
        for (k, v) in m {
            if k == "type"
                || k.starts_with('@')
                || HEAD_FIELDS.contains(&k.as_str())
                || fields.contains(&k.as_str())
            {
                continue;
            }
            if ALL_STANDARD.contains(&k.as_str()) {
                return Err(json_err(
                    &format!("{path}/{k}"),
                    format!("{k} is not a member of {t} in EPCIS 2.0 XML"),
                ));
            }
            if !k.contains(':') {
                return Err(json_err(
                    &format!("{path}/{k}"),
                    format!("unknown event member {k:?}"),
                ));
            }
            self.ext(k, v, &format!("{path}/{k}"))?;
        }
        self.e.end(t);
        Ok(())
    }

    fn vocabulary_list(&mut self, v: &Value, path: &str) -> Result<(), XmlError> {
        let Value::Array(vocabs) = v else {
            return Err(json_err(path, "vocabularyList must be an array"));
        };
        self.e.start("VocabularyList", &[]);
        for (i, voc) in vocabs.iter().enumerate() {
            let p = format!("{path}/{i}");
            let Value::Object(vm) = voc else {
                return Err(json_err(&p, "expected a vocabulary object"));
            };
            let t = str_of(vm.get("type").unwrap_or(&Value::Null), &format!("{p}/type"))?;
            self.e.start("Vocabulary", &[("type", t)]);
            if let Some(list) = vm.get("vocabularyElementList") {
                let Value::Array(elems) = list else {
                    return Err(json_err(
                        &format!("{p}/vocabularyElementList"),
                        "expected an array",
                    ));
                };
                self.e.start("VocabularyElementList", &[]);
                for (j, el) in elems.iter().enumerate() {
                    let ep = format!("{p}/vocabularyElementList/{j}");
                    let Value::Object(em) = el else {
                        return Err(json_err(&ep, "expected a vocabulary element object"));
                    };
                    let id = str_of(em.get("id").unwrap_or(&Value::Null), &format!("{ep}/id"))?;
                    self.e.start("VocabularyElement", &[("id", id)]);
                    if let Some(attrs) = em.get("attributes") {
                        let Value::Array(attrs) = attrs else {
                            return Err(json_err(&format!("{ep}/attributes"), "expected an array"));
                        };
                        for (k, a) in attrs.iter().enumerate() {
                            let ap = format!("{ep}/attributes/{k}");
                            let Value::Object(am) = a else {
                                return Err(json_err(&ap, "expected an attribute object"));
                            };
                            let aid =
                                str_of(am.get("id").unwrap_or(&Value::Null), &format!("{ap}/id"))?;
                            match am.get("attribute") {
                                None => self.e.leaf("attribute", &[("id", aid)], ""),
                                Some(Value::Object(obj)) => {
                                    let mut attrs: Vec<(String, String)> =
                                        vec![("id".to_owned(), aid.to_owned())];
                                    if let Some(Value::Object(xa)) = obj.get("#attributes") {
                                        for (xk, xv) in xa {
                                            let q = qname_for(xk, self.ns, &ap)?;
                                            if let Some((px, u)) = q.decl {
                                                attrs.push((format!("xmlns:{px}"), u));
                                            }
                                            attrs.push((q.name, scalar_text(xv, &ap)?));
                                        }
                                    }
                                    let b: Vec<(&str, &str)> = attrs
                                        .iter()
                                        .map(|(x, y)| (x.as_str(), y.as_str()))
                                        .collect();
                                    self.e.start("attribute", &b);
                                    if let Some(t) = obj.get("#text") {
                                        let t = scalar_text(t, &ap)?;
                                        self.e.text(&t);
                                    }
                                    for (ck, cv) in obj {
                                        if ck == "#attributes" || ck == "#text" {
                                            continue;
                                        }
                                        self.ext(ck, cv, &format!("{ap}/attribute/{ck}"))?;
                                    }
                                    self.e.end("attribute");
                                }
                                Some(other) => {
                                    let t = scalar_text(other, &format!("{ap}/attribute"))?;
                                    self.e.leaf("attribute", &[("id", aid)], &t);
                                }
                            }
                        }
                    }
                    if let Some(ch) = em.get("children") {
                        self.list("children", "id", ch, &format!("{ep}/children"))?;
                    }
                    self.ext_members(em, &["id", "attributes", "children"], &ep)?;
                    self.e.end("VocabularyElement");
                }
                self.e.end("VocabularyElementList");
            }
            self.ext_members(vm, &["type", "vocabularyElementList"], &p)?;
            self.e.end("Vocabulary");
        }
        self.e.end("VocabularyList");
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WState {
    Events,
    Finished,
}

/// Streaming EPCIS 2.0 XML writer: [`new`](Self::new) writes everything up to the event list
/// (from a document value whose events are ignored), [`write_event`](Self::write_event) one
/// event, [`finish`](Self::finish) closes the document.
pub struct XmlEventWriter<W: Write> {
    out: W,
    opts: XmlWriteOptions,
    ns: Namespaces,
    query: bool,
    emit: Emit,
    events: usize,
    state: WState,
    trailer: Vec<(usize, Map<String, Value>)>,
}

impl<W: Write> std::fmt::Debug for XmlEventWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlEventWriter")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

fn io_err(e: std::io::Error) -> XmlError {
    XmlError::new(XmlErrorKind::Io, "", format!("write error: {e}"))
}

impl<W: Write> XmlEventWriter<W> {
    /// Writes the XML declaration, root element, header and the start of the event list.
    pub fn new(out: W, doc: &Value, opts: XmlWriteOptions) -> Result<Self, XmlError> {
        let Value::Object(dm) = doc else {
            return Err(json_err("", "the document must be a JSON object"));
        };
        let query = match dm.get("type").and_then(Value::as_str) {
            Some("EPCISDocument") => false,
            Some("EPCISQueryDocument") => true,
            _ => {
                return Err(json_err(
                    "/type",
                    "type must be EPCISDocument or EPCISQueryDocument",
                ))
            }
        };
        let mut root_ns = Vec::new();
        context_entries(dm.get("@context"), &mut root_ns);
        let mut w = XmlEventWriter {
            out,
            opts,
            ns: Namespaces {
                root: root_ns,
                event: Vec::new(),
            },
            query,
            emit: Emit {
                buf: Vec::with_capacity(4096),
                pretty: opts.pretty,
                open: Vec::new(),
                base_depth: 0,
            },
            events: 0,
            state: WState::Events,
            trailer: Vec::new(),
        };
        w.emit
            .buf
            .extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        if opts.pretty {
            w.emit.buf.push(b'\n');
        }
        let (root, root_prefix, root_uri) = if query {
            (
                "epcisq:EPCISQueryDocument",
                "xmlns:epcisq",
                NS_EPCIS_QUERY_2,
            )
        } else {
            ("epcis:EPCISDocument", "xmlns:epcis", NS_EPCIS_2)
        };
        let mut attrs: Vec<(String, String)> = vec![(root_prefix.to_owned(), root_uri.to_owned())];
        for (p, u) in &w.ns.root {
            attrs.push((format!("xmlns:{p}"), u.clone()));
        }
        let sv = dm
            .get("schemaVersion")
            .and_then(Value::as_str)
            .unwrap_or("2.0");
        attrs.push(("schemaVersion".to_owned(), sv.to_owned()));
        let cd = str_of(
            dm.get("creationDate").unwrap_or(&Value::Null),
            "/creationDate",
        )?;
        attrs.push(("creationDate".to_owned(), cd.to_owned()));
        // Namespaced document members that are scalars become root attributes.
        let mut doc_ext = Map::new();
        for (k, v) in dm {
            if matches!(
                k.as_str(),
                "@context"
                    | "type"
                    | "schemaVersion"
                    | "creationDate"
                    | "epcisHeader"
                    | "epcisBody"
                    | "id"
                    | "sender"
                    | "receiver"
                    | "instanceIdentifier"
            ) {
                continue;
            }
            if !k.contains(':') {
                return Err(json_err(
                    &format!("/{k}"),
                    format!("unknown document member {k:?}"),
                ));
            }
            match v {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                    let q = qname_for(k, &w.ns, &format!("/{k}"))?;
                    if let Some((p, u)) = q.decl {
                        attrs.push((format!("xmlns:{p}"), u));
                    }
                    attrs.push((q.name, scalar_text(v, k)?));
                }
                _ => {
                    doc_ext.insert(k.clone(), v.clone());
                }
            }
        }
        let b: Vec<(&str, &str)> = attrs
            .iter()
            .map(|(x, y)| (x.as_str(), y.as_str()))
            .collect();
        w.emit.start(root, &b);
        w.header(dm)?;
        w.emit.start("EPCISBody", &[]);
        let ebody = dm.get("epcisBody");
        let mut body_ext = Map::new();
        if let Some(Value::Object(bm)) = ebody {
            for (k, v) in bm {
                if k != "eventList" && k != "queryResults" {
                    body_ext.insert(k.clone(), v.clone());
                }
            }
        }
        if query {
            let qr = ebody.and_then(|b| b.get("queryResults"));
            let Some(Value::Object(qm)) = qr else {
                return Err(json_err("/epcisBody/queryResults", "missing queryResults"));
            };
            w.emit.start("epcisq:QueryResults", &[]);
            let qn = str_of(
                qm.get("queryName").unwrap_or(&Value::Null),
                "/epcisBody/queryResults/queryName",
            )?;
            w.emit.leaf("queryName", &[], qn);
            if let Some(s) = qm.get("subscriptionID") {
                let s = str_of(s, "/epcisBody/queryResults/subscriptionID")?;
                w.emit.leaf("subscriptionID", &[], s);
            }
            w.emit.start("resultsBody", &[]);
            let mut qext = Map::new();
            for (k, v) in qm {
                if !matches!(k.as_str(), "queryName" | "subscriptionID" | "resultsBody") {
                    qext.insert(k.clone(), v.clone());
                }
            }
            w.trailer.push((1, qext));
            if let Some(Value::Object(rb)) = qm.get("resultsBody") {
                if rb.get("eventList").is_none() {
                    if let Some(vl) = rb.get("vocabularyList") {
                        let mut c = Ctx {
                            e: &mut w.emit,
                            ns: &w.ns,
                            cbv: opts.cbv_format,
                        };
                        c.vocabulary_list(
                            vl,
                            "/epcisBody/queryResults/resultsBody/vocabularyList",
                        )?;
                        w.state = WState::Finished;
                    }
                }
            }
        }
        w.trailer.push((0, body_ext));
        w.trailer.push((usize::MAX, doc_ext));
        if w.state == WState::Events {
            w.emit.start("EventList", &[]);
        }
        w.flush_buf()?;
        Ok(w)
    }

    fn flush_buf(&mut self) -> Result<(), XmlError> {
        self.out.write_all(&self.emit.buf).map_err(io_err)?;
        self.emit.buf.clear();
        Ok(())
    }

    fn header(&mut self, dm: &Map<String, Value>) -> Result<(), XmlError> {
        let h = dm.get("epcisHeader");
        let sbdh_key = "sbdh:StandardBusinessDocumentHeader";
        let has_sbdh = matches!(h, Some(Value::Object(hm)) if hm.contains_key(sbdh_key));
        let sender = dm.get("sender").and_then(Value::as_str);
        let receiver = dm.get("receiver").and_then(Value::as_str);
        let instance = dm.get("instanceIdentifier").and_then(Value::as_str);
        let synth = !has_sbdh && (sender.is_some() || receiver.is_some() || instance.is_some());
        if h.is_none() && !synth {
            return Ok(());
        }
        let hm = match h {
            Some(Value::Object(hm)) => hm.clone(),
            Some(_) => return Err(json_err("/epcisHeader", "epcisHeader must be an object")),
            None => Map::new(),
        };
        self.emit.start("EPCISHeader", &[]);
        let mut c = Ctx {
            e: &mut self.emit,
            ns: &self.ns,
            cbv: self.opts.cbv_format,
        };
        if let Some(s) = hm.get(sbdh_key) {
            c.ext(
                sbdh_key,
                s,
                "/epcisHeader/sbdh:StandardBusinessDocumentHeader",
            )?;
        } else if synth {
            let decl = if c
                .ns
                .lookup("sbdh")
                .is_some_and(|(u, root)| root && u == NS_SBDH)
            {
                vec![]
            } else {
                vec![("xmlns:sbdh", NS_SBDH)]
            };
            c.e.start("sbdh:StandardBusinessDocumentHeader", &decl);
            c.e.leaf("sbdh:HeaderVersion", &[], "1.0");
            if let Some(s) = sender {
                c.e.start("sbdh:Sender", &[]);
                c.e.leaf("sbdh:Identifier", &[], s);
                c.e.end("sbdh:Sender");
            }
            if let Some(r) = receiver {
                c.e.start("sbdh:Receiver", &[]);
                c.e.leaf("sbdh:Identifier", &[], r);
                c.e.end("sbdh:Receiver");
            }
            c.e.start("sbdh:DocumentIdentification", &[]);
            c.e.leaf("sbdh:Standard", &[], "EPCglobal");
            c.e.leaf("sbdh:TypeVersion", &[], "2.0");
            c.e.leaf("sbdh:InstanceIdentifier", &[], instance.unwrap_or(""));
            c.e.leaf("sbdh:Type", &[], "Events");
            let cd = dm.get("creationDate").and_then(Value::as_str).unwrap_or("");
            c.e.leaf("sbdh:CreationDateAndTime", &[], cd);
            c.e.end("sbdh:DocumentIdentification");
            c.e.end("sbdh:StandardBusinessDocumentHeader");
        }
        if let Some(md) = hm.get("epcisMasterData") {
            let Value::Object(mdm) = md else {
                return Err(json_err(
                    "/epcisHeader/epcisMasterData",
                    "expected an object",
                ));
            };
            c.e.start("extension", &[]);
            c.e.start("EPCISMasterData", &[]);
            if let Some(vl) = mdm.get("vocabularyList") {
                c.vocabulary_list(vl, "/epcisHeader/epcisMasterData/vocabularyList")?;
            }
            c.ext_members(mdm, &["vocabularyList"], "/epcisHeader/epcisMasterData")?;
            c.e.end("EPCISMasterData");
            c.e.end("extension");
        }
        c.ext_members(&hm, &[sbdh_key, "epcisMasterData"], "/epcisHeader")?;
        self.emit.end("EPCISHeader");
        Ok(())
    }

    /// Writes one event (a JSON-LD event object; an event-level `@context` object or array
    /// declares further namespaces for this event).
    pub fn write_event(&mut self, event: &Value) -> Result<(), XmlError> {
        if self.state != WState::Events {
            return Err(json_err(
                "",
                "this document has no event list (vocabulary query results)",
            ));
        }
        let path = format!("{}/{}", self.events_pointer(), self.events);
        self.ns.event.clear();
        context_entries(event.get("@context"), &mut self.ns.event);
        let depth = self.emit.open.len();
        let mut c = Ctx {
            e: &mut self.emit,
            ns: &self.ns,
            cbv: self.opts.cbv_format,
        };
        let r = c.event(event, &path);
        if let Err(e) = r {
            // Drop the partial output of the failed event so the document stays well-formed.
            self.emit.buf.clear();
            self.emit.open.truncate(depth);
            return Err(e);
        }
        self.events += 1;
        self.flush_buf()
    }

    fn events_pointer(&self) -> &'static str {
        if self.query {
            "/epcisBody/queryResults/resultsBody/eventList"
        } else {
            "/epcisBody/eventList"
        }
    }

    /// Number of events written so far.
    pub fn events_written(&self) -> usize {
        self.events
    }

    /// Closes the event list and the document and returns the output.
    pub fn finish(mut self) -> Result<W, XmlError> {
        if self.state == WState::Events {
            self.emit.end("EventList");
        }
        let trailer = std::mem::take(&mut self.trailer);
        let cbv = self.opts.cbv_format;
        if self.query {
            self.emit.end("resultsBody");
            for (lvl, m) in &trailer {
                if *lvl == 1 {
                    let mut c = Ctx {
                        e: &mut self.emit,
                        ns: &self.ns,
                        cbv,
                    };
                    c.ext_members(m, &[], "/epcisBody/queryResults")?;
                }
            }
            self.emit.end("epcisq:QueryResults");
        }
        for (lvl, m) in &trailer {
            if *lvl == 0 {
                let mut c = Ctx {
                    e: &mut self.emit,
                    ns: &self.ns,
                    cbv,
                };
                c.ext_members(m, &[], "/epcisBody")?;
            }
        }
        self.emit.end("EPCISBody");
        for (lvl, m) in &trailer {
            if *lvl == usize::MAX {
                let mut c = Ctx {
                    e: &mut self.emit,
                    ns: &self.ns,
                    cbv,
                };
                c.ext_members(m, &[], "")?;
            }
        }
        let root = if self.query {
            "epcisq:EPCISQueryDocument"
        } else {
            "epcis:EPCISDocument"
        };
        self.emit.end(root);
        if self.opts.pretty {
            self.emit.buf.push(b'\n');
        }
        self.flush_buf()?;
        self.out.flush().map_err(io_err)?;
        Ok(self.out)
    }
}

/// Writes a whole JSON-LD EPCIS document as EPCIS 2.0 XML (default options: CBV URN form, no
/// indentation).
pub fn write_document_value(doc: &Value) -> Result<Vec<u8>, XmlError> {
    write_document_value_with(doc, XmlWriteOptions::default())
}

/// [`write_document_value`] with options.
pub fn write_document_value_with(doc: &Value, opts: XmlWriteOptions) -> Result<Vec<u8>, XmlError> {
    let mut w = XmlEventWriter::new(Vec::new(), doc, opts)?;
    let query = w.query;
    let ptr = if query {
        "/epcisBody/queryResults/resultsBody/eventList"
    } else {
        "/epcisBody/eventList"
    };
    if w.state == WState::Events {
        match doc.pointer(ptr) {
            Some(Value::Array(events)) => {
                for ev in events {
                    w.write_event(ev)?;
                }
            }
            Some(_) => return Err(json_err(ptr, "eventList must be an array")),
            None => {}
        }
    }
    w.finish()
}
