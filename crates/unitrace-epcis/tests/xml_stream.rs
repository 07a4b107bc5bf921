//! Streaming: the reader yields events one by one without reading ahead through the document,
//! and the writer emits each event as it is written.

use std::cell::Cell;
use std::io::{BufRead, Read};
use std::rc::Rc;

use serde_json::{json, Value};
use unitrace_epcis::xml::{XmlEventReader, XmlEventWriter, XmlWriteOptions};

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:ex="http://ex.com/ns/" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">
<EPCISBody><EventList>
"#;
const FOOTER: &str = "</EventList></EPCISBody></epcis:EPCISDocument>\n";

fn event_xml(i: u64) -> String {
    format!(
        "<ObjectEvent><eventTime>2024-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>\
<epcList><epc>urn:epc:id:sgtin:0614141.107346.{i}</epc></epcList><action>OBSERVE</action>\
<bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep><ex:seq>{i}</ex:seq></ObjectEvent>\n"
    )
}

/// Produces the document on demand, one event per `fill_buf`, and counts bytes handed out.
struct Generated {
    n: u64,
    next: u64,
    chunk: Vec<u8>,
    pos: usize,
    footer_done: bool,
    produced: Rc<Cell<u64>>,
}

impl Generated {
    fn new(n: u64, produced: Rc<Cell<u64>>) -> Self {
        Generated {
            n,
            next: 0,
            chunk: HEADER.as_bytes().to_vec(),
            pos: 0,
            footer_done: false,
            produced,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let b = self.fill_buf()?;
            let n = b.len().min(out.len());
            out[..n].copy_from_slice(&b[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Generated {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.chunk.len() {
            self.pos = 0;
            self.chunk.clear();
            if self.next < self.n {
                self.chunk
                    .extend_from_slice(event_xml(self.next).as_bytes());
                self.next += 1;
            } else if !self.footer_done {
                self.chunk.extend_from_slice(FOOTER.as_bytes());
                self.footer_done = true;
            }
            self.produced
                .set(self.produced.get() + self.chunk.len() as u64);
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.chunk.len());
    }
}

#[test]
fn reader_yields_200k_events_one_by_one() {
    const N: u64 = 200_000;
    let produced = Rc::new(Cell::new(0u64));
    let mut r = XmlEventReader::new(Generated::new(N, produced.clone())).unwrap();
    // The header skeleton is available before any event was read.
    assert_eq!(r.header()["epcisBody"]["eventList"], json!([]));
    assert_eq!(r.header()["@context"][1]["ex"], "http://ex.com/ns/");
    let per_event = event_xml(N).len() as u64;
    let slack = HEADER.len() as u64 + 3 * per_event;
    let mut count = 0u64;
    while let Some(ev) = r.next_event().unwrap() {
        if count.is_multiple_of(997) || count < 10 {
            assert_eq!(ev["ex:seq"], Value::String(count.to_string()));
            assert_eq!(ev["bizStep"], "shipping");
            // Never more than about one event read ahead of the one just yielded.
            assert!(
                produced.get() <= slack + (count + 1) * per_event,
                "event {count}: {} bytes consumed, reader is reading ahead",
                produced.get()
            );
        }
        count += 1;
    }
    assert_eq!(count, N);
    let doc = r.finish().unwrap();
    assert_eq!(doc["type"], "EPCISDocument");
}

/// Counts bytes that reached the sink.
struct Sink(Rc<Cell<u64>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.set(self.0.get() + b.len() as u64);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn writer_emits_each_event_when_written() {
    let header = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"ex": "http://ex.com/ns/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": []}
    });
    let written = Rc::new(Cell::new(0u64));
    let mut w =
        XmlEventWriter::new(Sink(written.clone()), &header, XmlWriteOptions::default()).unwrap();
    let mut last = written.get();
    assert!(last > 0, "header not written");
    for i in 0..20_000u64 {
        let ev = json!({
            "type": "ObjectEvent",
            "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [format!("urn:epc:id:sgtin:0614141.107346.{i}")],
            "action": "OBSERVE",
            "ex:seq": i.to_string()
        });
        w.write_event(&ev).unwrap();
        assert!(written.get() > last, "event {i} was not written through");
        last = written.get();
    }
    assert_eq!(w.events_written(), 20_000);
    w.finish().unwrap();
}

#[test]
fn writer_output_streams_back_through_the_reader() {
    let header = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": []}
    });
    let mut w = XmlEventWriter::new(Vec::new(), &header, XmlWriteOptions::default()).unwrap();
    for i in 0..1000u64 {
        let ev = json!({
            "type": "AggregationEvent",
            "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "parentID": "urn:epc:id:sscc:0614141.1234567890",
            "childEPCs": [format!("urn:epc:id:sgtin:0614141.107346.{i}")],
            "action": "ADD",
            // A namespace declared only for this event.
            "@context": {"late": "http://late.example.com/"},
            "late:n": i.to_string()
        });
        w.write_event(&ev).unwrap();
    }
    // A bad event is rejected without corrupting the document.
    assert!(w.write_event(&json!({"type": "NoSuchEvent"})).is_err());
    assert!(w
        .write_event(&json!({"type": "ObjectEvent", "eventTime": "x", "bogus": 1}))
        .is_err());
    let bytes = w.finish().unwrap();
    let mut r = XmlEventReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(ev) = r.next_event().unwrap() {
        // The event-level namespace comes with the event.
        assert_eq!(ev["@context"]["late"], "http://late.example.com/");
        assert_eq!(ev["late:n"], n.to_string());
        n += 1;
    }
    assert_eq!(n, 1000);
    // ... and ends up in the document @context when finishing.
    let doc = r.finish().unwrap();
    assert!(doc["@context"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["late"] == "http://late.example.com/"));
}

/// Throughput figure (run with `--release -- --ignored --nocapture`).
#[test]
#[ignore]
fn reader_throughput() {
    let n_events: u64 = std::env::var("XML_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    #[allow(non_snake_case)]
    let N = n_events;
    let mut bytes = HEADER.as_bytes().to_vec();
    for i in 0..N {
        bytes.extend_from_slice(event_xml(i).as_bytes());
    }
    bytes.extend_from_slice(FOOTER.as_bytes());
    let start = std::time::Instant::now();
    let mut r = XmlEventReader::new(&bytes[..]).unwrap();
    let mut n = 0u64;
    while let Some(_ev) = r.next_event().unwrap() {
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(n, N);
    eprintln!(
        "read {n} events ({} MB) in {secs:.3}s: {:.0} events/s",
        bytes.len() / 1_000_000,
        n as f64 / secs
    );
    let doc = unitrace_epcis::xml::read_document_value(&bytes).unwrap();
    let start = std::time::Instant::now();
    let out = unitrace_epcis::xml::write_document_value(&doc).unwrap();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "wrote {N} events ({} MB) in {secs:.3}s: {:.0} events/s",
        out.len() / 1_000_000,
        N as f64 / secs
    );
}

/// Baseline: quick-xml alone over the same input.
#[test]
#[ignore]
fn quick_xml_baseline() {
    const N: u64 = 300_000;
    let mut bytes = HEADER.as_bytes().to_vec();
    for i in 0..N {
        bytes.extend_from_slice(event_xml(i).as_bytes());
    }
    bytes.extend_from_slice(FOOTER.as_bytes());
    let start = std::time::Instant::now();
    let mut r = quick_xml::Reader::from_reader(&bytes[..]);
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        match r.read_event_into(&mut buf).unwrap() {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Text(t) => n += t.unescape().unwrap().len() as u64,
            quick_xml::events::Event::Start(s) => n += s.attributes().count() as u64,
            _ => {}
        }
    }
    eprintln!(
        "quick-xml alone: {:.3}s ({n})",
        start.elapsed().as_secs_f64()
    );
}
