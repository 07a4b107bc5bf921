//! The XML writer: XSD element order, CBV value forms, namespaces, extension attributes, and the
//! JSON examples of the standard written as XML and read back.

mod xml_common;

use serde_json::{json, Value};
use unitrace_epcis::xml::{
    read_document_value, write_document_value, write_document_value_with, CbvXmlFormat,
    XmlWriteOptions,
};
use xml_common::*;

fn doc_with(events: Value) -> Value {
    json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"ex": "http://ex.com/ns/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": events}
    })
}

fn positions(s: &str, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| {
            s.find(&format!("<{n}>"))
                .unwrap_or_else(|| panic!("<{n}> missing in {s}"))
        })
        .collect()
}

#[test]
fn elements_follow_xsd_order_whatever_the_json_key_order() {
    // Keys deliberately in reverse order.
    let ev = json!({
        "ilmd": {"ex:lot": "L1"},
        "persistentDisposition": {"set": ["completeness_verified"], "unset": ["completeness_inferred"]},
        "sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": 26.5, "uom": "CEL"}]}],
        "destinationList": [{"type": "location", "destination": "urn:epc:id:sgln:0614141.00777.0"}],
        "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00225"}],
        "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200, "uom": "KGM"}],
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:0614141.00001.1618034"}],
        "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
        "readPoint": {"id": "urn:epc:id:sgln:0012345.11111.400"},
        "disposition": "in_progress",
        "bizStep": "receiving",
        "action": "OBSERVE",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"],
        "certificationInfo": "https://cert.example.org/1",
        "errorDeclaration": {"reason": "incorrect_data", "declarationTime": "2024-01-02T00:00:00Z"},
        "eventID": "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8",
        "eventTimeZoneOffset": "-06:00",
        "recordTime": "2024-01-01T00:00:01Z",
        "eventTime": "2024-01-01T00:00:00Z",
        "type": "ObjectEvent",
        "ex:mine": "x"
    });
    let d = doc_with(json!([ev]));
    let x = String::from_utf8(write_document_value(&d).unwrap()).unwrap();
    let order = [
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "errorDeclaration",
        "certificationInfo",
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
        "ex:mine",
    ];
    let p = positions(&x, &order);
    assert!(p.windows(2).all(|w| w[0] < w[1]), "order wrong: {x}");
    assert!(x.find("<unset>").unwrap() < x.find("<set>").unwrap());
    assert!(x.find("<declarationTime>").unwrap() < x.find("<reason>").unwrap());
    assert!(x.contains("<bizStep>urn:epcglobal:cbv:bizstep:receiving</bizStep>"));
    assert!(x.contains("<disposition>urn:epcglobal:cbv:disp:in_progress</disposition>"));
    assert!(x.contains("<reason>urn:epcglobal:cbv:er:incorrect_data</reason>"));
    assert!(x.contains("type=\"urn:epcglobal:cbv:btt:po\""));
    assert!(x.contains("type=\"urn:epcglobal:cbv:sdt:owning_party\""));
    assert!(x.contains("type=\"gs1:Temperature\""));
    assert!(x.contains("<quantity>200</quantity>"));
    assert!(x.contains("xmlns:ex=\"http://ex.com/ns/\""));
    // Reading back gives the same event (key order aside).
    let back = read_document_value(x.as_bytes()).unwrap();
    assert_eq!(
        back["epcisBody"]["eventList"][0],
        d["epcisBody"]["eventList"][0]
    );
}

#[test]
fn other_event_types_follow_xsd_order() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"type": "AggregationEvent", "childQuantityList": [{"epcClass": "c", "quantity": 1}],
                   "action": "ADD", "childEPCs": ["urn:epc:id:sgtin:1.2.3"], "parentID": "urn:epc:id:sscc:1.2",
                   "eventTimeZoneOffset": "+00:00", "eventTime": "2024-01-01T00:00:00Z"}),
            vec![
                "eventTime",
                "eventTimeZoneOffset",
                "parentID",
                "childEPCs",
                "action",
                "childQuantityList",
            ],
        ),
        (
            json!({"type": "TransactionEvent", "action": "ADD", "epcList": ["urn:epc:id:sgtin:1.2.3"],
                   "parentID": "urn:epc:id:sscc:1.2", "bizTransactionList": [{"bizTransaction": "urn:x"}],
                   "eventTimeZoneOffset": "+00:00", "eventTime": "2024-01-01T00:00:00Z"}),
            vec![
                "eventTime",
                "bizTransactionList",
                "parentID",
                "epcList",
                "action",
            ],
        ),
        (
            json!({"type": "TransformationEvent", "ilmd": {"ex:a": "1"}, "bizStep": "commissioning",
                   "transformationID": "urn:x:t", "outputEPCList": ["urn:epc:id:sgtin:1.2.4"],
                   "inputQuantityList": [{"epcClass": "c"}], "inputEPCList": ["urn:epc:id:sgtin:1.2.3"],
                   "eventTimeZoneOffset": "+00:00", "eventTime": "2024-01-01T00:00:00Z"}),
            vec![
                "eventTime",
                "inputEPCList",
                "inputQuantityList",
                "outputEPCList",
                "transformationID",
                "bizStep",
                "ilmd",
            ],
        ),
        (
            json!({"type": "AssociationEvent", "action": "ADD", "childQuantityList": [{"epcClass": "c"}],
                   "childEPCs": ["urn:epc:id:grai:1.2.3"], "parentID": "urn:epc:id:grai:1.2.4",
                   "eventTimeZoneOffset": "+00:00", "eventTime": "2024-01-01T00:00:00Z"}),
            vec![
                "eventTime",
                "parentID",
                "childEPCs",
                "childQuantityList",
                "action",
            ],
        ),
    ];
    for (ev, order) in cases {
        let d = doc_with(json!([ev.clone()]));
        let x = String::from_utf8(write_document_value(&d).unwrap()).unwrap();
        let p = positions(&x, &order);
        assert!(p.windows(2).all(|w| w[0] < w[1]), "order wrong: {x}");
        let back = read_document_value(x.as_bytes()).unwrap();
        assert_eq!(back["epcisBody"]["eventList"][0], ev);
    }
    // A member that the XML event type does not have is an error, not silently dropped.
    let d = doc_with(
        json!([{"type": "AggregationEvent", "eventTime": "t", "eventTimeZoneOffset": "+00:00",
                             "action": "ADD", "ilmd": {"ex:a": "1"}}]),
    );
    let e = write_document_value(&d).unwrap_err();
    assert_eq!(e.path, "/epcisBody/eventList/0/ilmd");
}

#[test]
fn cbv_xml_formats() {
    let ev = json!({"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE", "bizStep": "shipping", "disposition": "https://ref.gs1.org/cbv/Disp-in_transit",
        "bizTransactionList": [{"type": "urn:epcglobal:cbv:btt:po", "bizTransaction": "urn:x:1"}],
        "sensorElementList": [{"sensorReport": [{"type": "Temperature", "exception": "ALARM_CONDITION", "component": "x"}]}]});
    let d = doc_with(json!([ev]));
    let w = |f| {
        String::from_utf8(
            write_document_value_with(
                &d,
                XmlWriteOptions {
                    cbv_format: f,
                    pretty: false,
                },
            )
            .unwrap(),
        )
        .unwrap()
    };
    let none = w(CbvXmlFormat::NoPreference);
    assert!(none.contains("<bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>"));
    assert!(none.contains("<disposition>https://ref.gs1.org/cbv/Disp-in_transit</disposition>"));
    assert!(none.contains("type=\"urn:epcglobal:cbv:btt:po\""));
    let urn = w(CbvXmlFormat::AlwaysUrn);
    assert!(urn.contains("<disposition>urn:epcglobal:cbv:disp:in_transit</disposition>"));
    assert!(urn.contains(
        "type=\"gs1:Temperature\" exception=\"gs1:ALARM_CONDITION\" component=\"cbv:Comp-x\""
    ));
    let web = w(CbvXmlFormat::AlwaysWebUri);
    assert!(web.contains("<bizStep>https://ref.gs1.org/cbv/BizStep-shipping</bizStep>"));
    assert!(web.contains("<disposition>https://ref.gs1.org/cbv/Disp-in_transit</disposition>"));
    assert!(web.contains("type=\"https://ref.gs1.org/cbv/BTT-po\""));
    assert!(web.contains("type=\"https://gs1.org/voc/Temperature\""));
    // All three read back to the bare words of the JSON form.
    for x in [none, urn, web] {
        let v = read_document_value(x.as_bytes()).unwrap();
        let e = &v["epcisBody"]["eventList"][0];
        assert_eq!(e["bizStep"], "shipping");
        assert_eq!(e["disposition"], "in_transit");
        assert_eq!(e["bizTransactionList"][0]["type"], "po");
        assert_eq!(
            e["sensorElementList"][0]["sensorReport"][0]["type"],
            "Temperature"
        );
        assert_eq!(
            e["sensorElementList"][0]["sensorReport"][0]["component"],
            "x"
        );
    }
}

#[test]
fn extension_attributes_text_nesting_and_repetition_round_trip() {
    let xml = br#"<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:ex="http://ex.com/ns/"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">
      <EPCISBody><EventList><ObjectEvent>
        <eventTime>2024-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
        <action>OBSERVE</action>
        <readPoint><id>urn:epc:id:sgln:0012345.11111.400</id><ex:dock door="3">north</ex:dock></readPoint>
        <sensorElementList><sensorElement>
          <sensorMetadata time="2024-01-01T00:00:00Z" ex:calibrated="2023-12-01"/>
          <sensorReport type="gs1:Temperature" value="-3.25" booleanValue="false" ex:probe="p1"/>
          <ex:note>in the cold room</ex:note>
        </sensorElement></sensorElementList>
        <ilmd><ex:weight unit="KGM" xsi:type="xsd:decimal">3.5</ex:weight></ilmd>
        <ex:batch>
          <ex:item id="1">a</ex:item>
          <ex:item id="2">b</ex:item>
          <ex:empty/>
          <ex:deep><plain>no namespace</plain></ex:deep>
        </ex:batch>
        <ex:tag>t1</ex:tag><ex:tag>t2</ex:tag>
        <ex:none xsi:nil="true"/>
        <other:x xmlns:other="urn:other">declared inside the event</other:x>
      </ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"#;
    let v = read_document_value(xml).unwrap();
    let e = &v["epcisBody"]["eventList"][0];
    assert_eq!(
        e["readPoint"]["ex:dock"],
        json!({"#attributes": {"door": "3"}, "#text": "north"})
    );
    assert_eq!(
        e["sensorElementList"][0]["sensorMetadata"]["ex:calibrated"],
        "2023-12-01"
    );
    let rep = &e["sensorElementList"][0]["sensorReport"][0];
    assert_eq!(rep["value"], json!(-3.25));
    assert_eq!(rep["booleanValue"], json!(false));
    assert_eq!(rep["ex:probe"], "p1");
    assert_eq!(e["sensorElementList"][0]["ex:note"], "in the cold room");
    // xsi:type is dropped, other attributes kept.
    assert_eq!(
        e["ilmd"]["ex:weight"],
        json!({"#attributes": {"unit": "KGM"}, "#text": "3.5"})
    );
    assert_eq!(
        e["ex:batch"],
        json!({"ex:item": [{"#attributes": {"id": "1"}, "#text": "a"}, {"#attributes": {"id": "2"}, "#text": "b"}],
               "ex:empty": "", "ex:deep": {"plain": "no namespace"}})
    );
    assert_eq!(e["ex:tag"], json!(["t1", "t2"]));
    assert_eq!(e["ex:none"], json!({"#attributes": {"xsi:nil": "true"}}));
    assert_eq!(e["other:x"], "declared inside the event");
    assert!(v["@context"]
        .as_array()
        .unwrap()
        .contains(&json!({"other": "urn:other"})));
    assert!(v["@context"]
        .as_array()
        .unwrap()
        .contains(&json!({"ex": "http://ex.com/ns/"})));
    // Round trip.
    let x = write_document_value(&v).unwrap();
    let s = String::from_utf8(x.clone()).unwrap();
    assert!(s.contains("<ex:dock door=\"3\">north</ex:dock>"), "{s}");
    assert!(s.contains("ex:calibrated=\"2023-12-01\""), "{s}");
    assert_eq!(read_document_value(&x).unwrap(), v);
}

#[test]
fn prefix_clashes_get_fresh_prefixes() {
    let xml = br#"<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:a="urn:one" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">
      <EPCISBody><EventList><ObjectEvent>
        <eventTime>2024-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><action>OBSERVE</action>
        <a:x>1</a:x><a:y xmlns:a="urn:two">2</a:y><z xmlns="urn:three">3</z><gs1:w xmlns:gs1="urn:not-gs1">4</gs1:w>
      </ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"#;
    let v = read_document_value(xml).unwrap();
    let e = &v["epcisBody"]["eventList"][0];
    assert_eq!(e["a:x"], "1");
    assert_eq!(e["ns1:y"], "2");
    assert_eq!(e["ns2:z"], "3");
    assert_eq!(e["ns3:w"], "4");
    let ctx = v["@context"].as_array().unwrap();
    for (p, u) in [
        ("a", "urn:one"),
        ("ns1", "urn:two"),
        ("ns2", "urn:three"),
        ("ns3", "urn:not-gs1"),
    ] {
        assert!(ctx.contains(&json!({p: u})), "{p} missing in {ctx:?}");
    }
    let x = write_document_value(&v).unwrap();
    assert_eq!(read_document_value(&x).unwrap(), v);
}

/// Every JSON example of the standard written as XML and read back gives the same events
/// (normalised as in the twin comparison; the JSON side may use Digital Link identifiers, which
/// pass through unchanged).
#[test]
fn json_examples_survive_json_to_xml_to_json() {
    let base = examples_dir().join("JSON");
    let mut files = Vec::new();
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonld" || x == "json") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut ok = 0;
    let mut failures = Vec::new();
    for f in &files {
        let name = f.strip_prefix(&base).unwrap().display().to_string();
        let j = read_json(f);
        let x = match write_document_value(&j) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{name}: write: {e}"));
                continue;
            }
        };
        let v = match read_document_value(&x) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: read back: {e}"));
                continue;
            }
        };
        let (a, b) = (events(&v), events(&j));
        let (ca, cb) = (context_prefixes(&v), context_prefixes(&j));
        if a.len() != b.len() {
            failures.push(format!(
                "{name}: {} events back, {} written",
                a.len(),
                b.len()
            ));
            continue;
        }
        let mut same = true;
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let (nx, ny) = (normalise(&expand(x, &ca)), normalise(&expand(y, &cb)));
            if nx != ny {
                let mut paths = Vec::new();
                diff_paths(&nx, &ny, "", &mut paths);
                failures.push(format!("{name} event {i}: {paths:?}"));
                same = false;
            }
        }
        if same {
            ok += 1;
        }
    }
    eprintln!(
        "{ok} of {} JSON examples survive JSON -> XML -> JSON",
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn uri_scheme_prefixes_are_not_used_in_json() {
    // A document may bind `https:` (or `urn:`) as a namespace prefix; in JSON-LD such a prefix
    // would rewrite IRIs, so another prefix is used.
    let xml = br#"<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:https="https://ns.example.com/epcis/"
        xmlns:urn="urn:x:y:" xmlns:example="https://ns.example.com/epcis/" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">
      <EPCISBody><EventList><ObjectEvent>
        <eventTime>2024-01-01T00:00:00Z</eventTime><eventTimeZoneOffset>+00:00</eventTimeZoneOffset><action>OBSERVE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:departing</bizStep>
        <https:myField1>1</https:myField1><urn:f>2</urn:f>
      </ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"#;
    let v = read_document_value(xml).unwrap();
    let e = &v["epcisBody"]["eventList"][0];
    assert_eq!(e["bizStep"], "departing");
    assert_eq!(e["example:myField1"], "1");
    assert_eq!(e["ns1:f"], "2");
    let ctx = serde_json::to_string(&v["@context"]).unwrap();
    assert!(
        !ctx.contains("\"https\"") && !ctx.contains("\"urn\""),
        "{ctx}"
    );
}
