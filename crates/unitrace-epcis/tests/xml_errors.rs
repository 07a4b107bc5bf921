//! Errors carry a kind, an XML path and a position; hostile input is rejected; the reader and
//! writer never panic.

use proptest::prelude::*;
use serde_json::{json, Value};
use unitrace_epcis::xml::{
    read_document_value, read_document_value_with, write_document_value, XmlErrorKind,
    XmlEventReader, XmlLimits,
};

fn doc(events: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:ex="http://ex.com/" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">
<EPCISBody>
<EventList>
{events}
</EventList>
</EPCISBody>
</epcis:EPCISDocument>"#
    )
}

fn obj(extra: &str) -> String {
    format!(
        "<ObjectEvent><eventTime>2024-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>\
<action>OBSERVE</action>{extra}</ObjectEvent>"
    )
}

#[test]
fn error_names_the_event_and_field_path_and_line() {
    let bad = "<quantityList><quantityElement><epcClass>urn:epc:class:lgtin:4012345.012345.998877</epcClass>\
<quantity>lots</quantity></quantityElement></quantityList>";
    let events = format!("{}\n{}\n<AggregationEvent><eventTime>2024-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><action>ADD</action></AggregationEvent>\n{}", obj(""), obj(""), obj(bad));
    let e = read_document_value(doc(&events).as_bytes()).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Value);
    assert_eq!(
        e.path,
        "/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent[3]/quantityList/quantityElement/quantity"
    );
    assert_eq!(e.line, 8, "{e}");
    assert!(e.to_string().contains("ObjectEvent[3]/quantityList"), "{e}");
    assert!(e.to_string().contains("lots"), "{e}");
}

#[test]
fn unknown_elements_and_missing_fields_are_structure_errors() {
    let e = read_document_value(doc(&obj("<acton>ADD</acton>")).as_bytes()).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Structure);
    assert_eq!(
        e.path,
        "/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent[1]/acton"
    );
    let e = read_document_value(doc("<ObjectEvent><action>ADD</action></ObjectEvent>").as_bytes())
        .unwrap_err();
    assert!(e.message.contains("eventTime"), "{e}");
    let e = read_document_value(doc("<ex:Thing/>").as_bytes()).unwrap_err();
    assert!(e.message.contains("not an EPCIS event type"), "{e}");
    let e = read_document_value(doc(&obj("<readPoint><ex:x>1</ex:x></readPoint>")).as_bytes())
        .unwrap_err();
    assert!(e.message.contains("without <id>"), "{e}");
    let e = read_document_value(doc(&obj("<action>ADD</action>")).as_bytes()).unwrap_err();
    assert!(e.message.contains("duplicate"), "{e}");
}

#[test]
fn malformed_xml_reports_line_and_column() {
    let e = read_document_value(b"<epcis:EPCISDocument xmlns:epcis=\"urn:epcglobal:epcis:xsd:2\" schemaVersion=\"2.0\" creationDate=\"x\">\n<EPCISBody>\n<EventList>\n</EPCISBody>").unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Syntax);
    assert!(e.line >= 3, "{e:?}");
    let e = read_document_value(b"").unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::NotEpcisDocument);
    let e = read_document_value(b"<a:b xmlns:a='urn:x'/>").unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::NotEpcisDocument);
    let e = read_document_value(&[0xff, 0xfe, 0x00, 0x3c]).unwrap_err();
    assert!(
        matches!(
            e.kind,
            XmlErrorKind::Syntax | XmlErrorKind::NotEpcisDocument
        ),
        "{e:?}"
    );
    let e = read_document_value(
        doc("")
            .replace("</epcis:EPCISDocument>", "</epcis:EPCISDocument><x/>")
            .as_bytes(),
    )
    .unwrap_err();
    assert!(e.message.contains("after the root"), "{e}");
    let e = read_document_value(
        doc("<ex:ObjectEvent xmlns:zz='urn:z'><zz:x/></ex:ObjectEvent>")
            .replace("xmlns:ex=\"http://ex.com/\"", "")
            .as_bytes(),
    )
    .unwrap_err();
    assert!(e.message.contains("undeclared namespace prefix"), "{e}");
}

#[test]
fn dtds_and_entities_are_rejected() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="&lol3;"/>"#;
    let e = read_document_value(laughs.as_bytes()).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Forbidden, "{e}");
    let external = "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><x>&xxe;</x>";
    assert_eq!(
        read_document_value(external.as_bytes()).unwrap_err().kind,
        XmlErrorKind::Forbidden
    );
    // An undeclared entity reference is not expanded.
    let e = read_document_value(doc(&obj("<ex:a>&foo;</ex:a>")).as_bytes()).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Forbidden, "{e}");
    // A DOCTYPE without internal subset (as in the GS1 examples) is fine, and so are the
    // predefined entities and character references.
    let ok = doc(&obj("<ex:a>&lt;&amp;&#65;&#x42;</ex:a>"))
        .replace("<?xml version=\"1.0\"?>", "<!DOCTYPE project>");
    let v = read_document_value(ok.as_bytes()).unwrap();
    assert_eq!(v["epcisBody"]["eventList"][0]["ex:a"], "<&AB");
}

#[test]
fn depth_and_size_limits() {
    let deep = format!("{}{}{}", "<ex:a>".repeat(200), "x", "</ex:a>".repeat(200));
    let e = read_document_value(doc(&obj(&deep)).as_bytes()).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Limit, "{e}");
    let big = format!("<ex:a>{}</ex:a>", "y".repeat(100_000));
    let limits = XmlLimits {
        max_event_bytes: 10_000,
        ..XmlLimits::default()
    };
    let e = read_document_value_with(doc(&obj(&big)).as_bytes(), limits).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Limit, "{e}");
    // The budget is per event: many events of moderate size are fine.
    let many: String = (0..200)
        .map(|_| obj("<ex:a>zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz</ex:a>"))
        .collect();
    let v = read_document_value_with(doc(&many).as_bytes(), limits).unwrap();
    assert_eq!(v["epcisBody"]["eventList"].as_array().unwrap().len(), 200);
    let nss: String = (0..50)
        .map(|i| obj(&format!("<n{i}:a xmlns:n{i}=\"urn:n:{i}\">1</n{i}:a>")))
        .collect();
    let limits = XmlLimits {
        max_namespaces: 20,
        ..XmlLimits::default()
    };
    let e = read_document_value_with(doc(&nss).as_bytes(), limits).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Limit, "{e}");
    // The writer refuses absurd nesting instead of overflowing the stack.
    let mut deep = json!("x");
    for _ in 0..10_000 {
        let mut m = serde_json::Map::new();
        m.insert("ex:d".to_owned(), deep);
        deep = Value::Object(m);
    }
    let mut d = json!({
        "@context": [{"ex": "http://ex.com/"}], "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": [{"type": "ObjectEvent", "eventTime": "t"}]}
    });
    if let Some(Value::Object(ev)) = d.pointer_mut("/epcisBody/eventList/0") {
        ev.insert("ex:d".to_owned(), deep);
    }
    assert_eq!(
        write_document_value(&d).unwrap_err().kind,
        XmlErrorKind::Json
    );
    std::mem::forget(d); // dropping a 10k-deep Value recursively is the test's problem, not ours
    let attrs: String = (0..300).map(|i| format!(" a{i}=\"1\"")).collect();
    let e = read_document_value(doc(&obj(&format!("<ex:a{attrs}/>"))).as_bytes()).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Limit, "{e}");
}

#[test]
fn writer_errors_name_the_json_path() {
    let d = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": [
            {"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "ADD"},
            {"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "ADD",
             "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": "many"}]}
        ]}
    });
    let e = write_document_value(&d).unwrap_err();
    assert_eq!(e.kind, XmlErrorKind::Json);
    assert_eq!(e.path, "/epcisBody/eventList/1/quantityList/0/quantity");
    let mut d2 = d.clone();
    d2["epcisBody"]["eventList"][1] =
        json!({"type": "ObjectEvent", "eventTime": "t", "undeclared:x": "1"});
    let e = write_document_value(&d2).unwrap_err();
    assert!(e.message.contains("not defined in @context"), "{e}");
    assert_eq!(e.path, "/epcisBody/eventList/1/undeclared:x");
    assert!(write_document_value(&json!([1, 2])).is_err());
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z:#@ <&\"]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("eventTime".to_owned()),
                        Just("epcList".to_owned()),
                        Just("ex:x".to_owned()),
                        Just("#attributes".to_owned()),
                        Just("#text".to_owned()),
                        Just("sensorElementList".to_owned()),
                        Just("readPoint".to_owned()),
                        "[a-z:]{1,5}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn seed_doc() -> Vec<u8> {
    doc(&obj(
        "<readPoint><id>urn:epc:id:sgln:1.2.3</id><ex:x a=\"1\">t</ex:x></readPoint>\
<quantityList><quantityElement><epcClass>c</epcClass><quantity>1.5</quantity></quantityElement></quantityList>\
<sensorElementList><sensorElement><sensorMetadata time=\"2024-01-01T00:00:00Z\"/><sensorReport type=\"gs1:Temperature\" value=\"1\"/></sensorElement></sensorElementList>",
    ))
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn reader_is_total_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_document_value(&bytes);
    }

    #[test]
    fn reader_is_total_on_mutated_documents(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = seed_doc();
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let _ = read_document_value(&bytes);
        bytes.truncate(cut.index(bytes.len() + 1));
        if let Ok(mut r) = XmlEventReader::new(&bytes[..]) {
            while let Ok(Some(_)) = r.next_event() {}
        }
    }

    #[test]
    fn writer_is_total_and_its_output_is_well_formed(events in prop::collection::vec(arb_json(), 0..4)) {
        let d = json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"ex": "http://ex.com/"}],
            "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
            "epcisBody": {"eventList": events}
        });
        if let Ok(x) = write_document_value(&d) {
            if let Err(e) = read_document_value(&x) {
                prop_assert!(e.kind != XmlErrorKind::Syntax, "writer produced malformed XML: {e}");
            }
        }
    }
}
