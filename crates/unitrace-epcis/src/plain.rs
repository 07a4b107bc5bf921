//! The fast path of [`crate::validate_and_hash`] for JSON: a plain ObjectEvent (the common shape:
//! `type`, `eventID`, `eventTime`, `eventTimeZoneOffset`, `recordTime`, `epcList`, `action`,
//! `bizStep`, `disposition`, `readPoint`, `bizLocation`, all strings, the locations with only an
//! `id`) is read by a small scanner of its own straight from the JSON reader's buffer (no cut-out
//! copy, no `serde_json`), its strings borrowed, then checked and hashed through the same writer
//! as [`crate::hash::pre_hash_plain`]. Members that repeat from event to event (locations,
//! action, vocabulary, offset) are checked and rendered once per document ([`Rendered`]).
//!
//! The fast path only ever answers "valid, and this is the hash": an event of any other shape,
//! any value of another type (`null` included), a string with an escape, a duplicate member,
//! malformed JSON, or an event the validator could find anything wrong with goes to the general
//! path (`serde_json::Value`, [`crate::validate::Validator::event`], [`crate::hash::event_hash`]),
//! which reports it as before. Tests check that every event the fast path accepts is valid on the
//! general path and hashes the same there.

use crate::hash::{self, HashContext, PlainView, Rendered};
use crate::time::{is_valid_tz_offset, parse_instant, Instant};
use crate::validate::epc_problem_str;
use crate::vocab::{is_absolute_uri, VocabKind, VocabValue};

/// Why the fast path did not take an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Declined {
    /// The bytes ended before the event did (it may be plain: offer all of it).
    Incomplete,
    /// Not a valid plain ObjectEvent, or not one this path reads (the general path decides).
    Other,
}

/// A byte range of the event's text.
type Span = (usize, usize);

/// Where the members of a plain ObjectEvent are in its text.
#[derive(Default)]
struct Spans {
    ev_type: Option<Span>,
    event_id: Option<Span>,
    record_time: Option<Span>,
    /// Indexed like `hash::PLAIN_ORDER` (`epcList`, index 3, is in `Scratch::epc_spans`;
    /// `parentID`, index 2, is never accepted: it is no member of an ObjectEvent).
    strs: [Option<Span>; 9],
    epc_list: bool,
}

/// Reads JSON bytes one token at a time; every method skips whitespace first.
struct Cursor<'b> {
    b: &'b [u8],
    i: usize,
}

impl Cursor<'_> {
    /// The next byte that is not whitespace (not consumed).
    fn peek(&mut self) -> Result<u8, Declined> {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(c);
            }
            self.i += 1;
        }
        Err(Declined::Incomplete)
    }

    fn eat(&mut self, c: u8) -> Result<(), Declined> {
        if self.peek()? != c {
            return Err(Declined::Other);
        }
        self.i += 1;
        Ok(())
    }

    /// A string without escapes (or control characters, which JSON does not allow in one): the
    /// span of its contents.
    fn string(&mut self) -> Result<Span, Declined> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = self.b.get(start..).unwrap_or_default();
        let k = find_string_stop(rest).ok_or(Declined::Incomplete)?;
        if rest[k] != b'"' {
            return Err(Declined::Other);
        }
        self.i = start + k + 1;
        Ok((start, start + k))
    }
}

/// The first `"`, `\` or control character (below 0x20) in `s`, eight bytes at a time.
fn find_string_stop(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = s.chunks_exact(8);
    let mut i = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        // Bytes of `q` and `b` are zero where `w` has a quote or a backslash; `w - 0x20..` borrows
        // out of the bytes below 0x20. The lowest flagged byte is always a true one.
        let (q, b) = (w ^ (LO * u64::from(b'"')), w ^ (LO * u64::from(b'\\')));
        let m = ((q.wrapping_sub(LO) & !q)
            | (b.wrapping_sub(LO) & !b)
            | (w.wrapping_sub(LO * 0x20) & !w))
            & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|k| i + k)
}

fn set(slot: &mut Option<Span>, v: Span) -> Result<(), Declined> {
    if slot.is_some() {
        return Err(Declined::Other);
    }
    *slot = Some(v);
    Ok(())
}

/// Reads a plain ObjectEvent from the start of `b`: its members' spans, the EPCs' in `epcs`, and
/// the event's length. Strict JSON: anything it does not read (escapes, other members or types,
/// a duplicate member, malformed JSON) is [`Declined::Other`]. The event's text is not checked
/// for UTF-8 here.
fn scan(b: &[u8], ev: &mut Spans, epcs: &mut Vec<Span>) -> Result<usize, Declined> {
    let mut c = Cursor { b, i: 0 };
    c.eat(b'{')?;
    loop {
        let k = c.string()?;
        c.eat(b':')?;
        let key = &b[k.0..k.1];
        let slot = match key {
            b"type" => Some(&mut ev.ev_type),
            b"eventID" => Some(&mut ev.event_id),
            b"recordTime" => Some(&mut ev.record_time),
            b"eventTime" => Some(&mut ev.strs[0]),
            b"eventTimeZoneOffset" => Some(&mut ev.strs[1]),
            b"action" => Some(&mut ev.strs[4]),
            b"bizStep" => Some(&mut ev.strs[5]),
            b"disposition" => Some(&mut ev.strs[6]),
            b"readPoint" | b"bizLocation" => {
                // `{"id": "..."}` and nothing else.
                c.eat(b'{')?;
                let k = c.string()?;
                if &b[k.0..k.1] != b"id" {
                    return Err(Declined::Other);
                }
                c.eat(b':')?;
                let v = c.string()?;
                c.eat(b'}')?;
                let i = if key == b"readPoint" { 7 } else { 8 };
                set(&mut ev.strs[i], v)?;
                None
            }
            b"epcList" => {
                if ev.epc_list {
                    return Err(Declined::Other);
                }
                ev.epc_list = true;
                c.eat(b'[')?;
                if c.peek()? == b']' {
                    c.i += 1;
                } else {
                    loop {
                        epcs.push(c.string()?);
                        match c.peek()? {
                            b',' => c.i += 1,
                            b']' => {
                                c.i += 1;
                                break;
                            }
                            _ => return Err(Declined::Other),
                        }
                    }
                }
                None
            }
            _ => return Err(Declined::Other),
        };
        if let Some(slot) = slot {
            let v = c.string()?;
            set(slot, v)?;
        }
        match c.peek()? {
            b',' => c.i += 1,
            b'}' => return Ok(c.i + 1),
            _ => return Err(Declined::Other),
        }
    }
}

/// The members of a plain ObjectEvent, as read.
struct PlainEvent<'a> {
    ev_type: Option<&'a str>,
    event_id: Option<&'a str>,
    record_time: Option<&'a str>,
    /// Indexed like `hash::PLAIN_ORDER` (`epcList` is `epcs`).
    strs: [Option<&'a str>; 9],
    epcs: Option<&'a [&'a str]>,
}

/// A time the validator accepts (a date-time with an offset), parsed.
fn time_ok(s: &str) -> Option<Instant> {
    match parse_instant(s) {
        Ok((i, Some(_))) => Some(i),
        _ => None,
    }
}

fn vocab_ok(kind: VocabKind, s: &str) -> bool {
    matches!(
        kind.classify(s),
        VocabValue::Standard(_) | VocabValue::OtherUri
    )
}

impl PlainEvent<'_> {
    /// Whether [`crate::validate::Validator::event`] finds nothing wrong with this event (a
    /// plain ObjectEvent), apart from the elements of `epcList`, which are checked while the
    /// pre-hash string is written (see [`pre_hash_valid_plain`]): then `eventTime`, parsed.
    /// Conservative: `None` sends the event to the general path. `vocab_known`: `bizStep` and
    /// `disposition` are known to be valid (the same as in an earlier valid event of the
    /// document). `seen`: the locations remembered there were valid in an earlier event.
    fn valid(&self, vocab_known: bool, seen: &Rendered) -> Option<Instant> {
        let s = |i: usize| self.strs[i];
        let location_ok = |i: usize| {
            s(i).is_none_or(|v| seen.get(i, v).is_some() || epc_problem_str(v, false).is_none())
        };
        let ok = self.ev_type == Some("ObjectEvent")
            && s(1).is_some_and(is_valid_tz_offset)
            && self.record_time.is_none_or(|t| time_ok(t).is_some())
            && self.event_id.is_none_or(is_absolute_uri)
            && s(2).is_none()
            && matches!(s(4), Some("ADD" | "OBSERVE" | "DELETE"))
            && (vocab_known
                || (s(5).is_none_or(|v| vocab_ok(VocabKind::BizStep, v))
                    && s(6).is_none_or(|v| vocab_ok(VocabKind::Disposition, v))))
            && location_ok(7)
            && location_ok(8)
            && self.epcs.is_some();
        if ok {
            s(0).and_then(time_ok)
        } else {
            None
        }
    }
}

/// No EPC twice.
fn no_duplicate(a: &[&str]) -> bool {
    if a.len() > 1 {
        let mut seen = a.to_vec();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return false;
        }
    }
    true
}

/// What the fast path keeps from one event to the next of a document (of one [`HashContext`]).
#[derive(Default)]
pub(crate) struct Scratch {
    /// The pre-hash string of the last event.
    pub(crate) buf: String,
    /// `bizStep` and `disposition` of an earlier valid event whose vocabulary URIs came from
    /// these two alone, and those URIs ([`hash::plain_expanded`]).
    vocab: Option<(Option<String>, Option<String>, Vec<String>)>,
    /// Members rendered with the URIs of `vocab` (and valid).
    rendered: Rendered,
    /// Where the EPCs of the event are.
    epc_spans: Vec<Span>,
    /// An empty list whose allocation holds each event's EPCs in turn.
    epcs: Vec<&'static str>,
}

/// Reads a valid plain ObjectEvent from the start of `raw` (which may go on past it) and writes
/// its pre-hash string into `scratch.buf` (cleared first): the event's length in bytes. Declined
/// (and the buffer unspecified) when the event is not plain, not valid, or the document ignores
/// fields, or when `raw` ends before the event does.
pub(crate) fn pre_hash_valid_plain(
    raw: &[u8],
    ctx: &HashContext,
    scratch: &mut Scratch,
) -> Result<usize, Declined> {
    if !ctx.ignore_fields.is_empty() {
        return Err(Declined::Other);
    }
    let mut spans = Spans::default();
    scratch.epc_spans.clear();
    let n = scan(raw, &mut spans, &mut scratch.epc_spans)?;
    // One UTF-8 check of the whole event.
    let text = std::str::from_utf8(&raw[..n]).map_err(|_| Declined::Other)?;
    let at = |(a, b): Span| text.get(a..b).ok_or(Declined::Other);
    let opt = |x: Option<Span>| x.map(at).transpose();
    // The list's allocation is reused from event to event (the elements borrow `raw`).
    let mut epcs: Vec<&str> = std::mem::take(&mut scratch.epcs);
    let res = (|| {
        for &x in &scratch.epc_spans {
            epcs.push(at(x)?);
        }
        let mut strs = [None; 9];
        for (s, x) in strs.iter_mut().zip(spans.strs) {
            *s = opt(x)?;
        }
        let e = PlainEvent {
            ev_type: opt(spans.ev_type)?,
            event_id: opt(spans.event_id)?,
            record_time: opt(spans.record_time)?,
            strs,
            epcs: spans.epc_list.then_some(epcs.as_slice()),
        };
        check_and_write(&e, ctx, scratch)
    })();
    epcs.clear();
    scratch.epcs = epcs.into_iter().map(|_| "").collect();
    res.map(|()| n)
}

/// [`pre_hash_valid_plain`] of an event read.
fn check_and_write(
    e: &PlainEvent<'_>,
    ctx: &HashContext,
    scratch: &mut Scratch,
) -> Result<(), Declined> {
    // Events of a document mostly share bizStep and disposition: their check and vocabulary
    // URIs are reused.
    let (biz_step, disposition) = (e.strs[5], e.strs[6]);
    let same_vocab = scratch
        .vocab
        .as_ref()
        .is_some_and(|(b, d, _)| b.as_deref() == biz_step && d.as_deref() == disposition);
    let event_time = e
        .valid(same_vocab, &scratch.rendered)
        .ok_or(Declined::Other)?;
    let view = PlainView {
        ev_type: e.ev_type.unwrap_or_default(),
        event_id: e.event_id,
        record_time: e.record_time,
        strs: e.strs,
        epcs: e.epcs,
        event_time: Some(event_time),
    };
    let other_literals = hash::plain_has_other_literals(&view);
    if !same_vocab && !other_literals {
        scratch.vocab = Some((
            biz_step.map(str::to_owned),
            disposition.map(str::to_owned),
            hash::plain_expanded(&view),
        ));
        scratch.rendered.clear();
    }
    let computed;
    let (expanded, memo) = match &scratch.vocab {
        Some((.., x)) if !other_literals => (x.as_slice(), Some(&mut scratch.rendered)),
        _ => {
            computed = hash::plain_expanded(&view);
            (computed.as_slice(), None)
        }
    };
    let out = &mut scratch.buf;
    out.clear();
    // Each EPC is valid when `epc_problem_str` finds nothing; for an SGTIN or SGLN URN the hash
    // writer has already parsed it: well-formed exactly when it was converted, and then an
    // absolute URI (all its bytes are digits, dots, colons, letters or the URN component
    // characters, none a space or control character).
    let mut ok = true;
    let distinct = hash::pre_hash_plain_view(&view, ctx, expanded, out, memo, |x, converted| {
        ok &= match converted {
            Some(converted) => converted,
            None => epc_problem_str(x, false).is_none(),
        };
    });
    if ok && (distinct || e.epcs.is_some_and(no_duplicate)) {
        Ok(())
    } else {
        Err(Declined::Other)
    }
}

/// The length and hash ID of a valid plain ObjectEvent at the start of `raw` (see
/// [`pre_hash_valid_plain`]).
pub(crate) fn event_hash_valid_plain(
    raw: &[u8],
    ctx: &HashContext,
    scratch: &mut Scratch,
) -> Result<(usize, String), Declined> {
    let n = pre_hash_valid_plain(raw, ctx, scratch)?;
    Ok((n, hash::hash_id(&scratch.buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::JsonEventReader;
    use crate::validate::Validator;
    use proptest::prelude::*;

    /// Every event of `doc` the fast path accepts is valid on the general path and hashes the
    /// same there; returns how many it accepted.
    fn check_doc(doc: &[u8], name: &str) -> usize {
        let Ok(mut r) = JsonEventReader::new(doc) else {
            return 0;
        };
        let header = r.header();
        let ctx = HashContext::from_document(&header);
        let mut v = Validator::default();
        v.set_header(&header);
        let mut scratch = Scratch::default();
        let mut accepted = 0;
        while let Ok(true) = r.next_raw() {
            let raw = r.raw_event().to_vec();
            match pre_hash_valid_plain(&raw, &ctx, &mut scratch) {
                Ok(n) => assert_eq!(n, raw.len(), "{name}: the whole event"),
                Err(_) => continue,
            }
            let buf = scratch.buf.clone();
            accepted += 1;
            // Read from the reader's buffer instead, the event may end anywhere in it, or be
            // followed by anything: ending early is `Incomplete`, and what follows changes nothing.
            for cut in [0, 1, raw.len() / 2, raw.len() - 1] {
                let mut fresh = Scratch::default();
                assert_eq!(
                    pre_hash_valid_plain(&raw[..cut], &ctx, &mut fresh),
                    Err(Declined::Incomplete),
                    "{name}: {cut} bytes of an event"
                );
            }
            for tail in [&b"]"[..], b",{", b" \"\\", b"\xff"] {
                let mut longer = raw.clone();
                longer.extend_from_slice(tail);
                assert_eq!(
                    pre_hash_valid_plain(&longer, &ctx, &mut scratch),
                    Ok(raw.len())
                );
                assert_eq!(scratch.buf, buf, "{name}: followed by {tail:?}");
            }
            let e = r.parse_raw_event().unwrap_or_else(|err| {
                panic!(
                    "{name}: accepted unparseable {}: {err}",
                    String::from_utf8_lossy(&raw)
                )
            });
            let mut problems = Vec::new();
            v.event(0, &e, &mut problems);
            assert!(problems.is_empty(), "{name}: accepted {e}: {problems:?}");
            assert_eq!(buf, hash::pre_hash(&e, &ctx), "{name}: {e}");
        }
        accepted
    }

    /// The end-to-end property: `validate_and_hash` gives what validation and hashing on the
    /// general path give.
    fn check_end_to_end(doc: &[u8]) -> Result<(), TestCaseError> {
        let want = match crate::validate_document(doc) {
            Ok(()) => Ok(crate::hash_document(doc).expect("a valid document hashes")),
            Err(p) => Err(p),
        };
        prop_assert_eq!(crate::validate_and_hash(doc), want);
        Ok(())
    }

    fn files(dir: &str, out: &mut Vec<std::path::PathBuf>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for e in std::fs::read_dir(&dir)
            .unwrap_or_else(|_| panic!("reference data missing: {}", dir.display()))
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                files(&p.to_string_lossy(), out);
            } else if p.extension().is_some_and(|x| x == "json" || x == "jsonld") {
                out.push(p);
            }
        }
    }

    #[test]
    fn fast_path_agrees_with_general_path_on_reference_documents() {
        let mut paths = Vec::new();
        files("../../../shared/epcis-event-hash-vectors", &mut paths);
        files("../../../shared/gs1-epcis/examples", &mut paths);
        assert!(paths.len() > 100, "too few documents: {}", paths.len());
        let mut accepted = 0;
        for p in &paths {
            let doc = std::fs::read(p).unwrap();
            accepted += check_doc(&doc, &p.display().to_string());
            check_end_to_end(&doc).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
        // Most reference events carry more than the plain members; a few are plain.
        assert!(accepted >= 5, "too few events on the fast path: {accepted}");
    }

    const HEAD: &str = r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"ex":"https://ex.com/","cbv":"https://ref.gs1.org/cbv/"}],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z","epcisBody":{"eventList":["#;

    /// Member values, valid and not, to combine into events.
    fn member() -> impl Strategy<Value = String> {
        let s = |k: &'static str, vs: &'static [&'static str]| {
            prop::sample::select(vs).prop_map(move |v| format!("\"{k}\":{v}"))
        };
        prop_oneof![
            s(
                "type",
                &[
                    r#""ObjectEvent""#,
                    r#""AggregationEvent""#,
                    r#""ex:E""#,
                    "null",
                    "1"
                ]
            ),
            s(
                "eventTime",
                &[
                    r#""2024-01-01T10:00:00.123+01:00""#,
                    r#""2024-01-01T10:00:00.1234567Z""#,
                    r#""2024-01-01T10:00:00""#,
                    r#""2024-02-30T10:00:00Z""#,
                    r#""""#,
                    r#"" ""#,
                    "null"
                ]
            ),
            s(
                "eventTimeZoneOffset",
                &[
                    r#""+01:00""#,
                    r#""-14:00""#,
                    r#""+14:01""#,
                    r#""1:00""#,
                    "null",
                    "0"
                ]
            ),
            s(
                "recordTime",
                &[r#""2024-01-01T10:00:00Z""#, r#""x""#, "null"]
            ),
            s(
                "eventID",
                &[
                    r#""https://gs1.org/voc/urn:epc:id:sgtin:0614141.107346.7""#,
                    r#""ni:///x""#,
                    r#""urn:uuid:1""#,
                    r#""no uri""#,
                    r#""ex:id""#,
                    "null"
                ]
            ),
            s(
                "epcList",
                &[
                    r#"["urn:epc:id:sgtin:0614141.107346.1"]"#,
                    r#"["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.107346.1"]"#,
                    r#"["urn:epc:id:sgtin:0614141.107346.2","https://id.gs1.org/01/09521234543213/21/x","urn:epc:id:sscc:0614141.1234567890"]"#,
                    r#"["urn:epc:id:sgtin:0614141.10734.1"]"#,
                    r#"["https://id.gs1.org/01/09521234543214/21/x"]"#,
                    r#"["urn:epc:class:lgtin:0614141.107346.L1"]"#,
                    r#"["urn:epc:id:sgtin:0614141.107346.\u0041"]"#,
                    r#"["ex:x","urn:epc:id:sgln:0614141.07346.0"]"#,
                    r#"["https://ref.gs1.org/cbv/BizStep-shipping"]"#,
                    r#"["urn:epc:id:sgtin:0614141.107346.1 "]"#,
                    r#"["urn:epc:id:sgtin:0614141.107346.a\u0001"]"#,
                    r#"["urn:epc:id:sgtin:0614141.107346.é"]"#,
                    r#"["urn:epc:id:sgtin:0614141.107346.urn:epcglobal:cbv:x"]"#,
                    r#"["urn:epc:id:sgln:0614141.07346.0","urn:epc:id:sgln:061414.107346.0","urn:epc:id:sgtin:0614141"]"#,
                    "[]",
                    "[ ]",
                    "[\n\"urn:epc:id:sgtin:0614141.107346.1\" ,\r\n\t\"urn:epc:id:sgtin:0614141.107346.2\"\n]",
                    r#"["urn:epc:id:sgtin:0614141.107346.1",]"#,
                    r#"["urn:epc:id:sgtin:0614141.107346.1""urn:epc:id:sgtin:0614141.107346.2"]"#,
                    r#"[,"urn:epc:id:sgtin:0614141.107346.1"]"#,
                    "[1]",
                    "[null]",
                    "null",
                    r#""urn:epc:id:sgtin:0614141.107346.1""#
                ]
            ),
            s(
                "action",
                &[
                    r#""OBSERVE""#,
                    r#""ADD""#,
                    r#""DELETE""#,
                    r#""observe""#,
                    "null"
                ]
            ),
            s(
                "bizStep",
                &[
                    r#""shipping""#,
                    r#""urn:epcglobal:cbv:bizstep:receiving""#,
                    r#""https://ref.gs1.org/cbv/BizStep-packing""#,
                    r#""https://ref.gs1.org/cbv/BizStep-flying""#,
                    r#""cbv:BizStep-shipping""#,
                    r#""flying""#,
                    r#""ex:step""#,
                    r#""in_transit""#,
                    "null"
                ]
            ),
            s(
                "disposition",
                &[
                    r#""in_transit""#,
                    "\"in_\ttransit\"",
                    "\"in_transit\u{7f}\"",
                    "\"in_transit\u{e9}\"",
                    r#""urn:epcglobal:cbv:disp:active""#,
                    r#""https://ref.gs1.org/cbv/Disp-damaged""#,
                    r#""shipping""#,
                    r#""ex:d""#,
                    "null"
                ]
            ),
            s(
                "readPoint",
                &[
                    r#"{"id":"urn:epc:id:sgln:0614141.07346.1234"}"#,
                    r#"{"id":"urn:epc:id:sgln:0614141.0734.1"}"#,
                    r#"{"id":"ex:rp"}"#,
                    r#"{"id":""}"#,
                    r#"{"id":"urn:epc:id:sgln:0614141.07346.0","ex:x":1}"#,
                    r#"{"id":null}"#,
                    "{}",
                    "null",
                    "{ \"id\"\n:\t\"urn:epc:id:sgln:0614141.07346.1234\" }",
                    r#"{"id":"urn:epc:id:sgln:0614141.07346.1234",}"#,
                    r#"{"id":"urn:epc:id:sgln:0614141.07346.1234""#,
                    r#"{"id","urn:epc:id:sgln:0614141.07346.1234"}"#
                ]
            ),
            s(
                "bizLocation",
                &[
                    r#"{"id":"urn:epc:id:sgln:0614141.07346.0"}"#,
                    r#"{"\u0069d":"https://id.gs1.org/414/0614141073467"}"#,
                    r#"{"id":"x"}"#
                ]
            ),
            s("parentID", &[r#""urn:epc:id:sscc:0614141.1234567890""#]),
            s(
                "quantityList",
                &[r#"[{"epcClass":"urn:epc:class:lgtin:0614141.107346.L1","quantity":2}]"#]
            ),
            s("ilmd", &[r#"{"ex:lot":"1"}"#]),
            s("ex:ext", &[r#""v""#, "1"]),
            s("other", &[r#""v""#]),
            s("type\u{0020}", &[r#""v""#]),
        ]
    }

    fn event() -> impl Strategy<Value = String> {
        // Mostly complete valid events with some members replaced or added.
        let base = [
            r#""type":"ObjectEvent""#,
            r#""eventTime":"2024-01-01T10:00:00.123+01:00""#,
            r#""eventTimeZoneOffset":"+01:00""#,
            r#""epcList":["urn:epc:id:sgtin:0614141.107346.7"]"#,
            r#""action":"OBSERVE""#,
        ];
        // JSON whitespace (and a few bytes that are not) between tokens.
        let ws = prop::sample::select(&["", "", "", " ", "\n\t", "\r\n  ", "\u{b}", "\u{a0}"][..]);
        (
            prop::collection::vec(member(), 0..6),
            prop::collection::vec(prop::bool::weighted(0.9), 5),
            any::<prop::sample::Index>(),
            prop::collection::vec(ws, 4),
        )
            .prop_map(move |(extra, keep, at, ws)| {
                let mut m: Vec<String> = base
                    .iter()
                    .zip(&keep)
                    .filter(|(_, k)| **k)
                    .map(|(b, _)| (*b).to_owned())
                    .collect();
                for x in extra {
                    let i = at.index(m.len() + 1);
                    m.insert(i, x);
                }
                // Around the first member's colon, between members, and inside the braces.
                if let Some(first) = m.first_mut() {
                    *first = first.replacen("\":", &format!("\"{}:{}", ws[0], ws[1]), 1);
                }
                let sep = format!("{},{}", ws[2], ws[1]);
                format!("{{{}{}{}}}", ws[3], m.join(&sep), ws[2])
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// On generated events (valid, invalid, unusual shapes), the fast path only accepts what
        /// the general path finds valid, with the same hash; whole documents give the same result.
        #[test]
        fn fast_path_agrees_with_general_path(
            events in prop::collection::vec(event(), 1..4),
            urn_ns in any::<bool>(),
        ) {
            // A namespace named `urn` changes how every URN value renders.
            let head = if urn_ns {
                HEAD.replacen(r#"{"ex""#, r#"{"urn":"https://u.example/","ex""#, 1)
            } else {
                HEAD.to_owned()
            };
            let doc = format!("{head}{}]}}}}", events.join(","));
            check_doc(doc.as_bytes(), &doc);
            check_end_to_end(doc.as_bytes())?;
        }

        /// Arbitrary bytes as an event: no panic, and nothing malformed is accepted.
        #[test]
        fn fast_path_total(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let ctx = HashContext::default();
            if let Ok(n) = pre_hash_valid_plain(&bytes, &ctx, &mut Scratch::default()) {
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&bytes[..n]).is_ok());
            }
        }
    }

    proptest! {
        #[test]
        fn finds_string_stops_like_a_scan(
            s in prop::collection::vec(prop::sample::select(vec![b'a', b'"', b'\\', 0x80, 0xdc, 0xa2, 0x00, 0x01, 0x1f, 0x20, 0x7f, 0x9f]), 0..40),
            pad in 0usize..20,
        ) {
            let mut v = vec![b'x'; pad];
            v.extend_from_slice(&s);
            let want = v.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            prop_assert_eq!(find_string_stop(&v), want);
        }
    }

    #[test]
    fn scanner_reads_strict_json_only() {
        let read = |s: &str| scan(s.as_bytes(), &mut Spans::default(), &mut Vec::new());
        assert_eq!(read(r#"{"type":"ObjectEvent"}"#), Ok(22));
        assert_eq!(read(" {\"type\" :\t\"ObjectEvent\"\r\n} x"), Ok(27));
        assert_eq!(read("{ \"type\" :\t\"ObjectEvent\"\r\n} x"), Ok(27));
        for bad in [
            "{\"type\":\"Object\u{1}Event\"}",
            "{\"type\":\"Object\tEvent\"}",
            "{\"ty\npe\":\"ObjectEvent\"}",
            r#"{"type":"Object\u0045vent"}"#,
            r#"{"type":"ObjectEvent",}"#,
            r#"{"type":"ObjectEvent","type":"ObjectEvent"}"#,
            r#"{"type":"ObjectEvent" "action":"ADD"}"#,
            "{\"type\":\"ObjectEvent\"\u{b}}",
            r#"{}"#,
            r#"{"epcList":[],"epcList":[]}"#,
        ] {
            assert_eq!(read(bad), Err(Declined::Other), "{bad}");
        }
        assert_eq!(read(r#"{"type":"ObjectEvent""#), Err(Declined::Incomplete));
        assert_eq!(read(r#"{"epcList":["#), Err(Declined::Incomplete));
    }

    #[test]
    fn bench_shaped_events_take_the_fast_path() {
        let ev = r#"{"type":"ObjectEvent","eventTime":"2024-01-01T10:00:00.123+01:00","eventTimeZoneOffset":"+01:00","epcList":["urn:epc:id:sgtin:0614141.107346.1","urn:epc:id:sgtin:0614141.107346.0"],"action":"OBSERVE","bizStep":"shipping","disposition":"in_transit","readPoint":{"id":"urn:epc:id:sgln:0614141.07346.1234"}}"#;
        let doc = format!("{HEAD}{ev},{ev}]}}}}");
        assert_eq!(check_doc(doc.as_bytes(), "bench"), 2);
        // Duplicate events are fine; a duplicate member is not plain.
        let dup = ev.replace(
            r#""action":"OBSERVE""#,
            r#""action":"OBSERVE","action":"ADD""#,
        );
        let doc = format!("{HEAD}{dup}]}}}}");
        assert_eq!(check_doc(doc.as_bytes(), "dup"), 0);
        check_end_to_end(doc.as_bytes()).unwrap();
        // Events across the reader's 64 KiB buffer boundaries, and a member after the list.
        let many: Vec<String> = (0..700)
            .map(|i| ev.replace(".107346.1\"", &format!(".107346.1{i}\"")))
            .collect();
        let doc = format!("{HEAD}{}],\"ex:after\":1}}}}", many.join(" ,\n"));
        assert!(doc.len() > 3 * 65536);
        assert_eq!(
            crate::validate_and_hash(doc.as_bytes()).map(|h| h.len()),
            Ok(700)
        );
        check_end_to_end(doc.as_bytes()).unwrap();
    }
}
