//! Parser for the GS1 Barcode Syntax Dictionary, and the generator of `table.rs`.
//!
//! Not used at run time: the example `gen_ai_table` writes the table, and a test checks that the
//! checked-in table equals what this generator produces from the shared dictionary.

use super::{Charset, Linter};
use std::fmt::Write as _;

/// One parsed component of a dictionary entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictComponent {
    pub charset: Charset,
    pub min: u8,
    pub max: u8,
    pub optional: bool,
    pub linters: Vec<Linter>,
}

/// One parsed dictionary entry, with ranges expanded to single AIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictEntry {
    pub ai: String,
    pub title: String,
    pub fnc1: bool,
    pub dl_data_attr: bool,
    pub components: Vec<DictComponent>,
    pub req: Vec<Vec<Vec<String>>>,
    pub ex: Vec<String>,
    pub dl_pkey: Option<Vec<Vec<String>>>,
}

/// The `# Release:` line of the dictionary, if any.
pub fn release(dict: &str) -> Option<String> {
    dict.lines()
        .find_map(|l| l.strip_prefix("# Release:"))
        .map(|s| s.trim().to_string())
}

fn parse_component(tok: &str, line_no: usize) -> Result<DictComponent, String> {
    let err = |m: &str| format!("line {line_no}: component {tok:?}: {m}");
    let (optional, rest) = match tok.strip_prefix('[') {
        Some(r) => (true, r),
        None => (false, tok),
    };
    let mut parts = rest.split(',');
    let mut spec = parts.next().unwrap_or("");
    if optional {
        spec = spec.strip_suffix(']').ok_or_else(|| err("unclosed ["))?;
    }
    let mut chars = spec.chars();
    let charset = match chars.next() {
        Some('N') => Charset::N,
        Some('X') => Charset::X,
        Some('Y') => Charset::Y,
        Some('Z') => Charset::Z,
        _ => return Err(err("unknown type")),
    };
    let len = chars.as_str();
    let (min, max) = match len.strip_prefix("..") {
        Some(m) => (1, m.parse::<u8>().map_err(|_| err("bad length"))?),
        None => {
            let n = len.parse::<u8>().map_err(|_| err("bad length"))?;
            (n, n)
        }
    };
    let mut linters = Vec::new();
    for name in parts {
        linters
            .push(Linter::from_name(name).ok_or_else(|| err(&format!("unknown linter {name}")))?);
    }
    Ok(DictComponent {
        charset,
        min,
        max,
        optional,
        linters,
    })
}

/// Parses the dictionary text into entries, sorted by AI.
pub fn parse(dict: &str) -> Result<Vec<DictEntry>, String> {
    let mut out = Vec::new();
    for (i, raw) in dict.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (body, title) = match line.find('#') {
            Some(p) => (&line[..p], line[p + 1..].trim()),
            None => (line, ""),
        };
        let mut toks = body.split_whitespace().peekable();
        let ais = toks
            .next()
            .ok_or_else(|| format!("line {line_no}: empty"))?;
        let mut fnc1 = true;
        let mut dl_data_attr = false;
        if let Some(t) = toks.peek() {
            if t.chars().all(|c| !c.is_ascii_alphanumeric() && c != '[') {
                for c in t.chars() {
                    match c {
                        '*' => fnc1 = false,
                        '?' => dl_data_attr = true,
                        _ => return Err(format!("line {line_no}: unknown flag {c}")),
                    }
                }
                toks.next();
            }
        }
        let mut components = Vec::new();
        let mut req = Vec::new();
        let mut ex = Vec::new();
        let mut dl_pkey = None;
        for t in toks {
            if let Some(v) = t.strip_prefix("req=") {
                req.push(
                    v.split(',')
                        .map(|alt| alt.split('+').map(str::to_string).collect())
                        .collect(),
                );
            } else if let Some(v) = t.strip_prefix("ex=") {
                ex.extend(v.split(',').map(str::to_string));
            } else if t == "dlpkey" {
                dl_pkey = Some(Vec::new());
            } else if let Some(v) = t.strip_prefix("dlpkey=") {
                dl_pkey = Some(
                    v.split('|')
                        .map(|seq| seq.split(',').map(str::to_string).collect())
                        .collect(),
                );
            } else if t.contains('=') {
                return Err(format!("line {line_no}: unknown attribute {t}"));
            } else {
                if !req.is_empty() || !ex.is_empty() || dl_pkey.is_some() {
                    return Err(format!("line {line_no}: component after attributes"));
                }
                components.push(parse_component(t, line_no)?);
            }
        }
        if components.is_empty() {
            return Err(format!("line {line_no}: no components"));
        }
        let (first, last) = match ais.split_once('-') {
            Some((a, b)) => (a, b),
            None => (ais, ais),
        };
        let width = first.len();
        if last.len() != width
            || !first
                .bytes()
                .chain(last.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(format!("line {line_no}: bad AI range {ais}"));
        }
        let (a, b): (u32, u32) = (
            first
                .parse()
                .map_err(|_| format!("line {line_no}: bad AI"))?,
            last.parse()
                .map_err(|_| format!("line {line_no}: bad AI"))?,
        );
        for n in a..=b {
            out.push(DictEntry {
                ai: format!("{n:0width$}"),
                title: title.to_string(),
                fnc1,
                dl_data_attr,
                components: components.clone(),
                req: req.clone(),
                ex: ex.clone(),
                dl_pkey: dl_pkey.clone(),
            });
        }
    }
    out.sort_by(|x, y| x.ai.cmp(&y.ai));
    for w in out.windows(2) {
        if w[0].ai == w[1].ai {
            return Err(format!("duplicate AI {}", w[0].ai));
        }
    }
    Ok(out)
}

fn str_list(v: &[String]) -> String {
    let mut s = String::from("&[");
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{x:?}");
    }
    s.push(']');
    s
}

/// Generates the Rust source of `table.rs` from the dictionary text.
pub fn generate(dict: &str) -> Result<String, String> {
    let entries = parse(dict)?;
    let mut s = String::new();
    s.push_str("// @generated by `cargo run -p unitrace-id --example gen_ai_table` from\n");
    s.push_str("// ../shared/gs1-syntax/gs1-syntax-dictionary.txt (GS1 Barcode Syntax Dictionary, Apache-2.0).\n");
    s.push_str("// Do not edit by hand.\n\n");
    s.push_str("use super::{AiEntry, Charset::*, Component, Linter::*};\n\n");
    let _ = writeln!(
        s,
        "/// Release of the dictionary this table was generated from.\npub const DICTIONARY_RELEASE: &str = {:?};\n",
        release(dict).unwrap_or_default()
    );
    s.push_str("/// Every AI of the dictionary, sorted by AI.\n");
    let _ = writeln!(s, "pub static AI_TABLE: [AiEntry; {}] = [", entries.len());
    for e in &entries {
        let comps: Vec<String> = e
            .components
            .iter()
            .map(|c| {
                let ls: Vec<String> = c.linters.iter().map(|l| format!("{l:?}")).collect();
                format!(
                    "Component {{ charset: {:?}, min: {}, max: {}, optional: {}, linters: &[{}] }}",
                    c.charset,
                    c.min,
                    c.max,
                    c.optional,
                    ls.join(", ")
                )
            })
            .collect();
        let req: Vec<String> = e
            .req
            .iter()
            .map(|alts| {
                let a: Vec<String> = alts.iter().map(|g| str_list(g)).collect();
                format!("&[{}]", a.join(", "))
            })
            .collect();
        let pkey = match &e.dl_pkey {
            None => "None".to_string(),
            Some(seqs) => {
                let a: Vec<String> = seqs.iter().map(|g| str_list(g)).collect();
                format!("Some(&[{}])", a.join(", "))
            }
        };
        let _ = writeln!(
            s,
            "    AiEntry {{ ai: {:?}, title: {:?}, fnc1: {}, dl_data_attr: {}, components: &[{}], req: &[{}], ex: {}, dl_pkey: {} }},",
            e.ai,
            e.title,
            e.fnc1,
            e.dl_data_attr,
            comps.join(", "),
            req.join(", "),
            str_list(&e.ex),
            pkey
        );
    }
    s.push_str("];\n\n");
    s.push_str("/// `AI_TABLE[i].ai` as a number for fast search: the AI right-padded with zeros to four\n/// digits, times ten, plus its length (ascending like the AIs themselves).\n");
    let _ = writeln!(s, "pub static AI_KEYS: [u32; {}] = [", entries.len());
    for chunk in entries.chunks(10) {
        let ks: Vec<String> = chunk
            .iter()
            .map(|e| super::ai_key(e.ai.as_bytes()).unwrap_or(0).to_string())
            .collect();
        let _ = writeln!(s, "    {},", ks.join(", "));
    }
    s.push_str("];\n\n");
    // All AIs that share their first two digits have the same length (GS1 General
    // Specifications, "AI prefix" table); scan data parsing relies on it.
    let mut starts = [0usize; 101];
    for (p, start) in starts.iter_mut().enumerate().take(100) {
        let prefix = format!("{p:02}");
        *start = entries
            .iter()
            .position(|e| e.ai[..2] >= *prefix)
            .unwrap_or(entries.len());
        let lens: Vec<usize> = entries
            .iter()
            .filter(|e| e.ai.starts_with(&prefix))
            .map(|e| e.ai.len())
            .collect();
        if lens.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("AIs starting {prefix} differ in length"));
        }
    }
    starts[100] = entries.len();
    s.push_str("/// For each two-digit AI prefix `p`, the AIs starting with it are\n/// `AI_TABLE[AI_PREFIX_START[p]..AI_PREFIX_START[p + 1]]`, all of the same length.\n");
    s.push_str("pub static AI_PREFIX_START: [u16; 101] = [\n");
    for chunk in starts.chunks(10) {
        let ks: Vec<String> = chunk.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(s, "    {},", ks.join(", "));
    }
    s.push_str("];\n");
    Ok(s)
}
