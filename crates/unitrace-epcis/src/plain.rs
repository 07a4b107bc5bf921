//! The fast path of [`crate::validate_and_hash`] for JSON: a plain ObjectEvent (the common shape:
//! `type`, `eventID`, `eventTime`, `eventTimeZoneOffset`, `recordTime`, `epcList`, `action`,
//! `bizStep`, `disposition`, `readPoint`, `bizLocation`, all strings, the locations with only an
//! `id`) is read from its bytes into borrowed strings, without building a `serde_json::Value`,
//! checked, and hashed through the same writer as [`crate::hash::pre_hash_plain`].
//!
//! The fast path only ever answers "valid, and this is the hash": an event of any other shape,
//! any value of another type (`null` included), a duplicate member, malformed JSON, or an event
//! the validator could find anything wrong with goes to the general path (`serde_json::Value`,
//! [`crate::validate::Validator::event`], [`crate::hash::event_hash`]), which reports it as
//! before. Tests check that every event the fast path accepts is valid on the general path and
//! hashes the same there.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::hash::{self, EpcStr, HashContext, PlainView};
use crate::time::{is_valid_tz_offset, parse_instant};
use crate::validate::epc_problem_str;
use crate::vocab::{is_absolute_uri, VocabKind, VocabValue};

/// A JSON string, borrowed from the input unless it has escapes.
pub(crate) struct Str<'a>(Cow<'a, str>);

impl Deref for Str<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl EpcStr for Str<'_> {
    fn text(&self) -> &str {
        &self.0
    }
}

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An array of strings.
struct Strs<'a>(Vec<Str<'a>>);

impl<'de> de::Deserialize<'de> for Strs<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Strs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Strs<'de>, A::Error> {
                let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(4096));
                while let Some(s) = a.next_element::<Str<'de>>()? {
                    v.push(s);
                }
                Ok(Strs(v))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `{"id": "..."}` and nothing else.
struct Location<'a>(Str<'a>);

impl<'de> de::Deserialize<'de> for Location<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Location<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with only an id")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Location<'de>, A::Error> {
                let mut id = None;
                while let Some(k) = m.next_key::<Str<'de>>()? {
                    if &*k != "id" || id.is_some() {
                        return Err(de::Error::custom("not a plain location"));
                    }
                    id = Some(m.next_value::<Str<'de>>()?);
                }
                id.map(Location)
                    .ok_or_else(|| de::Error::custom("not a plain location"))
            }
        }
        d.deserialize_map(V)
    }
}

/// The members of a plain ObjectEvent, as read.
#[derive(Default)]
pub(crate) struct PlainEvent<'a> {
    ev_type: Option<Str<'a>>,
    event_id: Option<Str<'a>>,
    record_time: Option<Str<'a>>,
    /// Indexed like `hash::PLAIN_ORDER` (`epcList`, index 3, is `epcs`; `parentID`, index 2, is
    /// never accepted: it is no member of an ObjectEvent).
    strs: [Option<Str<'a>>; 9],
    epcs: Option<Vec<Str<'a>>>,
}

fn set<'a, E: de::Error>(slot: &mut Option<Str<'a>>, v: Str<'a>) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom("duplicate member"));
    }
    *slot = Some(v);
    Ok(())
}

impl<'de> de::Deserialize<'de> for PlainEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PlainEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a plain ObjectEvent")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<PlainEvent<'de>, A::Error> {
                let mut e = PlainEvent::default();
                while let Some(k) = m.next_key::<Str<'de>>()? {
                    let slot = match &*k {
                        "type" => &mut e.ev_type,
                        "eventID" => &mut e.event_id,
                        "recordTime" => &mut e.record_time,
                        "eventTime" => &mut e.strs[0],
                        "eventTimeZoneOffset" => &mut e.strs[1],
                        "action" => &mut e.strs[4],
                        "bizStep" => &mut e.strs[5],
                        "disposition" => &mut e.strs[6],
                        "readPoint" | "bizLocation" => {
                            let i = if &*k == "readPoint" { 7 } else { 8 };
                            let loc = m.next_value::<Location<'de>>()?;
                            set(&mut e.strs[i], loc.0)?;
                            continue;
                        }
                        "epcList" => {
                            if e.epcs.is_some() {
                                return Err(de::Error::custom("duplicate member"));
                            }
                            e.epcs = Some(m.next_value::<Strs<'de>>()?.0);
                            continue;
                        }
                        _ => return Err(de::Error::custom("not a plain ObjectEvent member")),
                    };
                    let v = m.next_value::<Str<'de>>()?;
                    set(slot, v)?;
                }
                Ok(e)
            }
        }
        d.deserialize_map(V)
    }
}

/// A time the validator accepts: a date-time with an offset.
fn time_ok(s: &str) -> bool {
    matches!(parse_instant(s), Ok((_, Some(_))))
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
    /// pre-hash string is written (see [`pre_hash_valid_plain`]). Conservative: false sends the
    /// event to the general path. `vocab_known`: `bizStep` and `disposition` are known to be
    /// valid (the same as in an earlier valid event of the document).
    fn valid(&self, vocab_known: bool) -> bool {
        let s = |i: usize| self.strs[i].as_deref();
        self.ev_type.as_deref() == Some("ObjectEvent")
            && s(0).is_some_and(time_ok)
            && s(1).is_some_and(is_valid_tz_offset)
            && self.record_time.as_deref().is_none_or(time_ok)
            && self.event_id.as_deref().is_none_or(is_absolute_uri)
            && s(2).is_none()
            && matches!(s(4), Some("ADD" | "OBSERVE" | "DELETE"))
            && (vocab_known
                || (s(5).is_none_or(|v| vocab_ok(VocabKind::BizStep, v))
                    && s(6).is_none_or(|v| vocab_ok(VocabKind::Disposition, v))))
            && s(7).is_none_or(|v| epc_problem_str(v, false).is_none())
            && s(8).is_none_or(|v| epc_problem_str(v, false).is_none())
            && self.epcs.is_some()
    }
}

/// No EPC twice.
fn no_duplicate(a: &[Str<'_>]) -> bool {
    if a.len() > 1 {
        let mut seen: Vec<&str> = a.iter().map(|x| &**x).collect();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return false;
        }
    }
    true
}

/// What the fast path keeps from one event to the next of a document.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The pre-hash string of the last event.
    pub(crate) buf: String,
    /// `bizStep` and `disposition` of an earlier valid event whose vocabulary URIs came from
    /// these two alone, and those URIs ([`hash::plain_expanded`]).
    vocab: Option<(Option<String>, Option<String>, Vec<String>)>,
}

/// The pre-hash string of a valid plain ObjectEvent given as JSON bytes, written into
/// `scratch.buf` (cleared first); false (and the buffer unspecified) when the event is not plain,
/// not valid, or the document ignores fields.
pub(crate) fn pre_hash_valid_plain(raw: &[u8], ctx: &HashContext, scratch: &mut Scratch) -> bool {
    if !ctx.ignore_fields.is_empty() {
        return false;
    }
    // One UTF-8 check of the whole event is cheaper than serde_json's check of every string.
    let Ok(text) = std::str::from_utf8(raw) else {
        return false;
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let Ok(e) = <PlainEvent as de::Deserialize>::deserialize(&mut de) else {
        return false;
    };
    fn opt<'s>(s: &'s Option<Str<'_>>) -> Option<&'s str> {
        s.as_deref()
    }
    // Events of a document mostly share bizStep and disposition: their check and vocabulary
    // URIs are reused.
    let (biz_step, disposition) = (opt(&e.strs[5]), opt(&e.strs[6]));
    let same_vocab = scratch
        .vocab
        .as_ref()
        .is_some_and(|(b, d, _)| b.as_deref() == biz_step && d.as_deref() == disposition);
    if de.end().is_err() || !e.valid(same_vocab) {
        return false;
    }
    let view = PlainView {
        ev_type: opt(&e.ev_type).unwrap_or_default(),
        event_id: opt(&e.event_id),
        record_time: opt(&e.record_time),
        strs: std::array::from_fn(|i| opt(&e.strs[i])),
        epcs: e.epcs.as_deref(),
    };
    let other_literals = hash::plain_has_other_literals(&view);
    if !same_vocab && !other_literals {
        scratch.vocab = Some((
            biz_step.map(str::to_owned),
            disposition.map(str::to_owned),
            hash::plain_expanded(&view),
        ));
    }
    let computed;
    let expanded = match &scratch.vocab {
        Some((.., x)) if !other_literals => x.as_slice(),
        _ => {
            computed = hash::plain_expanded(&view);
            computed.as_slice()
        }
    };
    let out = &mut scratch.buf;
    out.clear();
    // Each EPC is valid when `epc_problem_str` finds nothing; for an SGTIN or SGLN URN the hash
    // writer has already parsed it: well-formed exactly when it was converted, and then an
    // absolute URI (all its bytes are digits, dots, colons, letters or the URN component
    // characters, none a space or control character).
    let mut ok = true;
    let distinct = hash::pre_hash_plain_view(&view, ctx, expanded, out, |x, converted| {
        ok &= match converted {
            Some(converted) => converted,
            None => epc_problem_str(x, false).is_none(),
        };
    });
    ok && (distinct || e.epcs.as_deref().is_some_and(no_duplicate))
}

/// The hash ID of a valid plain ObjectEvent given as JSON bytes (see [`pre_hash_valid_plain`]).
pub(crate) fn event_hash_valid_plain(
    raw: &[u8],
    ctx: &HashContext,
    scratch: &mut Scratch,
) -> Option<String> {
    pre_hash_valid_plain(raw, ctx, scratch).then(|| hash::hash_id(&scratch.buf))
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
            if !pre_hash_valid_plain(&raw, &ctx, &mut scratch) {
                continue;
            }
            let buf = &scratch.buf;
            accepted += 1;
            let e = r.parse_raw_event().unwrap_or_else(|err| {
                panic!(
                    "{name}: accepted unparseable {}: {err}",
                    String::from_utf8_lossy(&raw)
                )
            });
            let mut problems = Vec::new();
            v.event(0, &e, &mut problems);
            assert!(problems.is_empty(), "{name}: accepted {e}: {problems:?}");
            assert_eq!(*buf, hash::pre_hash(&e, &ctx), "{name}: {e}");
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
                    "null"
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
        (
            prop::collection::vec(member(), 0..6),
            prop::collection::vec(prop::bool::weighted(0.9), 5),
            any::<prop::sample::Index>(),
        )
            .prop_map(move |(extra, keep, at)| {
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
                format!("{{{}}}", m.join(","))
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
            if pre_hash_valid_plain(&bytes, &ctx, &mut Scratch::default()) {
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
            }
        }
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
