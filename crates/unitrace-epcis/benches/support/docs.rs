//! The benchmark documents (shared by `benches/epcis.rs` and `examples/epcis_loop.rs`).

pub fn json_document(events: usize, epcs: usize) -> Vec<u8> {
    let mut s = String::from(
        r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",{"ex":"https://ex.com/"}],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z","epcisBody":{"eventList":["#,
    );
    for i in 0..events {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#"{"type":"ObjectEvent","eventTime":"2024-01-01T10:00:00.123+01:00","eventTimeZoneOffset":"+01:00","epcList":["#);
        for j in 0..epcs {
            if j > 0 {
                s.push(',');
            }
            s.push_str(&format!(
                "\"urn:epc:id:sgtin:0614141.107346.{}\"",
                i * epcs + j
            ));
        }
        s.push_str(r#"],"action":"OBSERVE","bizStep":"shipping","disposition":"in_transit","readPoint":{"id":"urn:epc:id:sgln:0614141.07346.1234"}}"#);
    }
    s.push_str("]}}");
    s.into_bytes()
}

pub fn xml_document(events: usize, epcs: usize) -> Vec<u8> {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z"><EPCISBody><EventList>"#,
    );
    for i in 0..events {
        s.push_str("<ObjectEvent><eventTime>2024-01-01T10:00:00.123+01:00</eventTime><eventTimeZoneOffset>+01:00</eventTimeZoneOffset><epcList>");
        for j in 0..epcs {
            s.push_str(&format!(
                "<epc>urn:epc:id:sgtin:0614141.107346.{}</epc>",
                i * epcs + j
            ));
        }
        s.push_str("</epcList><action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep><disposition>urn:epcglobal:cbv:disp:in_transit</disposition><readPoint><id>urn:epc:id:sgln:0614141.07346.1234</id></readPoint></ObjectEvent>");
    }
    s.push_str("</EventList></EPCISBody></epcis:EPCISDocument>");
    s.into_bytes()
}
