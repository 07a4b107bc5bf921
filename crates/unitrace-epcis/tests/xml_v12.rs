//! EPCIS 1.2 XML is read and up-converted to the EPCIS 2.0 JSON-LD shape; query documents.

mod xml_common;

use serde_json::{json, Value};
use unitrace_epcis::xml::{read_document_value, write_document_value, XmlEventReader};
use xml_common::*;

#[test]
fn epcis_1_2_document_is_up_converted() {
    let v = read_document_value(&fixture("epcis12_all_types.xml")).unwrap();
    let expected: Value =
        serde_json::from_slice(&fixture("epcis12_all_types.expected.json")).unwrap();
    assert_eq!(
        v,
        expected,
        "got:\n{}",
        serde_json::to_string_pretty(&v).unwrap()
    );
}

#[test]
fn epcis_1_2_up_converted_document_is_written_as_2_0_and_read_back_identically() {
    let v = read_document_value(&fixture("epcis12_all_types.xml")).unwrap();
    let x = write_document_value(&v).unwrap();
    let s = String::from_utf8(x.clone()).unwrap();
    assert!(s.contains("xmlns:epcis=\"urn:epcglobal:epcis:xsd:2\""));
    assert!(s.contains("<TransformationEvent>"));
    assert!(!s.contains("<QuantityEvent>"));
    assert!(!s.contains("<baseExtension>"));
    assert_eq!(read_document_value(&x).unwrap(), v);
}

#[test]
fn epcis_1_2_query_document() {
    let v = read_document_value(&fixture("epcis12_query.xml")).unwrap();
    assert_eq!(v["type"], "EPCISQueryDocument");
    assert_eq!(v["schemaVersion"], "2.0");
    let qr = &v["epcisBody"]["queryResults"];
    assert_eq!(qr["queryName"], "SimpleEventQuery");
    assert_eq!(qr["subscriptionID"], "sub-1");
    let ev = &qr["resultsBody"]["eventList"][0];
    assert_eq!(
        ev,
        &json!({
            "type": "ObjectEvent",
            "eventTime": "2019-01-01T09:00:00Z",
            "recordTime": "2019-01-01T09:00:05Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit"
        })
    );
    // Written back as an EPCIS 2.0 query document.
    let x = write_document_value(&v).unwrap();
    let s = String::from_utf8(x.clone()).unwrap();
    assert!(
        s.contains("<epcisq:EPCISQueryDocument xmlns:epcisq=\"urn:epcglobal:epcis-query:xsd:2\"")
    );
    assert_eq!(read_document_value(&x).unwrap(), v);
}

#[test]
fn query_document_matches_the_json_query_example() {
    // Write the JSON EPCISQueryDocument example as XML, read it back, compare event by event.
    let json = read_json(&examples_dir().join("JSON/EPCISQueryDocument.jsonld"));
    let x = write_document_value(&json).unwrap();
    let v = read_document_value(&x).unwrap();
    assert_eq!(
        v["epcisBody"]["queryResults"]["queryName"],
        json["epcisBody"]["queryResults"]["queryName"]
    );
    let (a, b) = (events(&v), events(&json));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(normalise(x), normalise(y));
    }
    // The streaming reader points at the query results' event list.
    let r = XmlEventReader::new(&x[..]).unwrap();
    assert_eq!(
        r.event_list_pointer(),
        "/epcisBody/queryResults/resultsBody/eventList"
    );
    assert_eq!(r.count(), b.len());
}

#[test]
fn sbdh_header_fields_are_lifted() {
    let xml = br#"<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2"
        xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
        schemaVersion="2.0" creationDate="2020-01-01T00:00:00Z">
      <EPCISHeader>
        <sbdh:StandardBusinessDocumentHeader>
          <sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>
          <sbdh:Sender><sbdh:Identifier Authority="SGLN">urn:epc:id:sgln:0353579.00001.0</sbdh:Identifier></sbdh:Sender>
          <sbdh:Receiver><sbdh:Identifier Authority="SGLN">urn:epc:id:sgln:5012345.00001.0</sbdh:Identifier></sbdh:Receiver>
          <sbdh:DocumentIdentification>
            <sbdh:Standard>EPCglobal</sbdh:Standard>
            <sbdh:TypeVersion>2.0</sbdh:TypeVersion>
            <sbdh:InstanceIdentifier>1234567890</sbdh:InstanceIdentifier>
            <sbdh:Type>Events</sbdh:Type>
            <sbdh:CreationDateAndTime>2020-01-01T00:00:00Z</sbdh:CreationDateAndTime>
          </sbdh:DocumentIdentification>
        </sbdh:StandardBusinessDocumentHeader>
      </EPCISHeader>
      <EPCISBody><EventList/></EPCISBody>
    </epcis:EPCISDocument>"#;
    let v = read_document_value(xml).unwrap();
    assert_eq!(v["sender"], "urn:epc:id:sgln:0353579.00001.0");
    assert_eq!(v["receiver"], "urn:epc:id:sgln:5012345.00001.0");
    assert_eq!(v["instanceIdentifier"], "1234567890");
    assert!(v["epcisHeader"]["sbdh:StandardBusinessDocumentHeader"].is_object());
    assert_eq!(v["epcisBody"]["eventList"], json!([]));
    let x = write_document_value(&v).unwrap();
    assert_eq!(read_document_value(&x).unwrap(), v);

    // JSON sender/receiver/instanceIdentifier without an SBDH become a minimal SBDH.
    let json = read_json(
        &examples_dir()
            .join("JSON/WithFullCombinationOfFields/object_event_all_possible_fields.jsonld"),
    );
    let x = write_document_value(&json).unwrap();
    let back = read_document_value(&x).unwrap();
    assert_eq!(back["sender"], json["sender"]);
    assert_eq!(back["receiver"], json["receiver"]);
    assert_eq!(back["instanceIdentifier"], json["instanceIdentifier"]);
}
