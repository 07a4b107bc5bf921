//! Helpers shared by the XML tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// `../shared/gs1-epcis/examples` relative to the project root.
pub fn examples_dir() -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/gs1-epcis/examples"
    ));
    assert!(
        p.is_dir(),
        "shared reference data missing: expected the GS1 EPCIS examples at {} (the project's ../shared folder)",
        p.display()
    );
    p
}

pub fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xml")).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", p.display()))
}

pub fn read_json(p: &Path) -> Value {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

pub fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()))
        {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "xml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.f+](Z|±HH:MM)` into (seconds since epoch, nanoseconds).
pub fn parse_instant(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() {
            return None;
        }
        let mut f = frac.to_owned();
        f.truncate(9);
        while f.len() < 9 {
            f.push('0');
        }
        nanos = f.parse().ok()?;
    }
    let tz = &s[i..];
    let off = if tz == "Z" {
        0
    } else if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" {
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
    } else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (yy, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((days * 86400 + h * 3600 + mi * 60 + se - off, nanos))
}

/// Normalises what the standard allows to differ between the XML and JSON renderings of the same
/// event: time stamps (compared as instants), number formatting (compared as f64), booleans of
/// user extensions (JSON-LD typed literal vs string), hexBinary case, `@context`, an eventID that
/// only one side carries (the JSON twins add hash IDs), empty lists (absent vs `[]`), and
/// attribute-only extension objects (the JSON twins drop XML attributes of extension elements).
pub fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            if m.contains_key("#attributes") && m.keys().all(|k| k == "#attributes" || k == "#text")
            {
                return m
                    .get("#text")
                    .cloned()
                    .unwrap_or(Value::String(String::new()));
            }
            let mut out = Map::new();
            for (k, x) in m {
                if k == "@context" {
                    continue;
                }
                if matches!(x, Value::Array(a) if a.is_empty()) {
                    continue;
                }
                let nx = if k == "hexBinaryValue" {
                    Value::String(x.as_str().unwrap_or_default().to_ascii_lowercase())
                } else {
                    normalise(x)
                };
                out.insert(k.clone(), nx);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::Number(n) => Value::String(format!("{}", n.as_f64().unwrap_or(f64::NAN))),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::String(s) => match parse_instant(s) {
            Some((secs, nanos)) => Value::String(format!("@{secs}.{nanos:09}")),
            None => v.clone(),
        },
        Value::Null => Value::Null,
    }
}

/// CBV values in any of their forms (URN, web URI, compact) as bare words.
pub fn cbv_word(s: &str) -> Option<&str> {
    const PREFIXES: &[&str] = &[
        "urn:epcglobal:cbv:bizstep:",
        "urn:epcglobal:cbv:disp:",
        "urn:epcglobal:cbv:btt:",
        "urn:epcglobal:cbv:sdt:",
        "urn:epcglobal:cbv:er:",
        "https://ref.gs1.org/cbv/BizStep-",
        "https://ref.gs1.org/cbv/Disp-",
        "https://ref.gs1.org/cbv/BTT-",
        "https://ref.gs1.org/cbv/SDT-",
        "https://ref.gs1.org/cbv/ER-",
        "https://ref.gs1.org/cbv/Comp-",
        "cbv:Comp-",
        "https://gs1.org/voc/",
        "gs1:",
    ];
    PREFIXES.iter().find_map(|p| s.strip_prefix(p))
}

/// The prefix -> IRI map of a document's `@context` (objects only).
pub fn context_prefixes(doc: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    // Prefixes of the standard EPCIS context.
    for (p, iri) in [
        ("epcis", "https://ref.gs1.org/epcis/"),
        ("cbv", "https://ref.gs1.org/cbv/"),
        ("cbvmda", "urn:epcglobal:cbv:mda:"),
        ("gs1", "https://gs1.org/voc/"),
        ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
        ("owl", "http://www.w3.org/2002/07/owl#"),
        ("xsd", "http://www.w3.org/2001/XMLSchema#"),
        ("dcterms", "http://purl.org/dc/terms/"),
    ] {
        m.insert(p.to_owned(), Value::String(iri.to_owned()));
    }
    let mut add = |o: &Map<String, Value>| {
        for (k, v) in o {
            if let Some(s) = v.as_str() {
                m.insert(k.clone(), Value::String(s.to_owned()));
            }
        }
    };
    match doc.get("@context") {
        Some(Value::Object(o)) => add(o),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).for_each(&mut add),
        _ => {}
    }
    m
}

/// Expands `prefix:local` member names with the prefixes of `ctx` (JSON-LD semantics: the same
/// IRI under different prefixes is the same property), and CBV values to bare words.
pub fn expand(v: &Value, ctx: &Map<String, Value>) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let key = match k.split_once(':') {
                    Some((p, l)) => match ctx.get(p).and_then(Value::as_str) {
                        Some(iri) => format!("{iri}{l}"),
                        None => k.clone(),
                    },
                    None => k.clone(),
                };
                out.insert(key, expand(x, ctx));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| expand(x, ctx)).collect()),
        Value::String(s) => Value::String(cbv_word(s).unwrap_or(s).to_owned()),
        _ => v.clone(),
    }
}

/// Removes `eventID` from both when only one side has it.
pub fn align_event_ids(a: &mut Value, b: &mut Value) {
    let ha = a.get("eventID").is_some();
    let hb = b.get("eventID").is_some();
    if ha != hb {
        if let Some(m) = a.as_object_mut() {
            m.remove("eventID");
        }
        if let Some(m) = b.as_object_mut() {
            m.remove("eventID");
        }
    }
}

/// JSON-pointer-like paths where `a` and `b` differ.
pub fn diff_paths(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff_paths(u, v, &p, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff_paths(u, v, &format!("{path}/{i}"), out);
            }
        }
        _ => {
            if a != b {
                out.push(path.to_owned());
            }
        }
    }
}

pub fn events(doc: &Value) -> Vec<Value> {
    let list = doc
        .pointer("/epcisBody/eventList")
        .or_else(|| doc.pointer("/epcisBody/queryResults/resultsBody/eventList"));
    match list {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}
