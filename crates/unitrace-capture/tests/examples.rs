//! Every GS1 EPCIS 2.0 example document (read from `../shared/gs1-epcis/examples` next to the
//! project) through the capture pipeline into a fresh SQLite store: the valid ones are captured,
//! the invalid ones refused with the event and the pointer named, and nothing of them stored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use unitrace_capture::{capture_document, CaptureError, CaptureMode};
use unitrace_store::{EventQuery, Store, SystemClock};
use unitrace_store_sqlite::SqliteStore;

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/gs1-epcis/examples"
);

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "jsonld" || x == "json" || x == "xml")
        {
            out.push(p);
        }
    }
}

fn examples() -> Vec<PathBuf> {
    let base = Path::new(EXAMPLES);
    assert!(
        base.is_dir(),
        "reference data missing: {} (the tests read ../shared/gs1-epcis next to the project)",
        base.display()
    );
    let mut v = Vec::new();
    walk(base, &mut v);
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_is_captured_or_refused_for_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let files = examples();
    assert!(files.len() >= 120, "only {} examples", files.len());
    let mut failures = Vec::new();
    let (mut captured, mut refused) = (0, 0);
    for (n, f) in files.iter().enumerate() {
        let rel = f.strip_prefix(EXAMPLES).unwrap().display().to_string();
        let bytes = std::fs::read(f).unwrap();
        let store = SqliteStore::open(
            dir.path().join(format!("{n}.sqlite")),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        let oracle = unitrace_epcis::validate_document(&bytes);
        let res = capture_document(&store, &bytes, CaptureMode::Rollback).await;
        match (oracle, res) {
            (Ok(()), Ok(r)) => {
                if let Some((i, o)) = r.report.first_failure() {
                    failures.push(format!("{rel}: event {i} refused by the store: {o:?}"));
                    continue;
                }
                let page = store
                    .query_events(&EventQuery {
                        per_page: Some(10_000),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                match unitrace_epcis::hash_document(&bytes) {
                    Ok(h) if h == r.hash_ids => {}
                    other => failures.push(format!(
                        "{rel}: hash IDs differ from the EPCIS library's: {other:?} vs {:?}",
                        r.hash_ids
                    )),
                }
                for h in &r.hash_ids {
                    if store.event_by_hash(h).await.unwrap().is_none() {
                        failures.push(format!("{rel}: {h} not found by its hash"));
                    }
                }
                let distinct: std::collections::HashSet<_> = r.hash_ids.iter().collect();
                if page.events.len() != distinct.len() {
                    failures.push(format!(
                        "{rel}: {} events stored, {} distinct in the document",
                        page.events.len(),
                        distinct.len()
                    ));
                }
                captured += 1;
            }
            (Ok(()), Err(e)) => failures.push(format!("{rel}: valid but not captured: {e}")),
            (Err(_), Ok(_)) => failures.push(format!("{rel}: invalid but captured")),
            (Err(expected), Err(CaptureError::Invalid(got))) => {
                if got != expected {
                    failures.push(format!("{rel}: other problems: {got:?} vs {expected:?}"));
                }
                let page = store.query_events(&EventQuery::default()).await.unwrap();
                if !page.events.is_empty() {
                    failures.push(format!("{rel}: refused, yet events were stored"));
                }
                refused += 1;
            }
            (Err(_), Err(e)) => failures.push(format!("{rel}: refused for another reason: {e}")),
        }
        drop(store);
    }
    eprintln!("{captured} captured, {refused} refused of {}", files.len());
    assert!(captured >= 100, "only {captured} captured");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn same_unit_from_digital_link_and_urn_is_one_unit() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.sqlite"), Arc::new(SystemClock))
        .await
        .unwrap();
    let doc = |epc: &str, t: &str, step: &str| {
        format!(
            r#"{{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z",
            "epcisBody":{{"eventList":[{{"type":"ObjectEvent","eventTime":"{t}",
            "eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":["{epc}"],
            "bizStep":"{step}","bizLocation":{{"id":"urn:epc:id:sgln:0614141.07346.0"}}}}]}}}}"#
        )
    };
    let a = doc(
        "https://id.gs1.org/01/10614141073464/21/2017",
        "2024-01-01T00:00:00Z",
        "shipping",
    );
    let b = doc(
        "urn:epc:id:sgtin:0614141.107346.2017",
        "2024-01-02T00:00:00Z",
        "urn:epcglobal:cbv:bizstep:receiving",
    );
    for d in [a, b] {
        let r = capture_document(&store, d.as_bytes(), CaptureMode::Rollback)
            .await
            .unwrap();
        assert!(r.is_success(), "{:?}", r.report);
    }
    let st = store
        .unit_state("urn:epc:id:sgtin:0614141.107346.2017")
        .await
        .unwrap()
        .expect("one unit");
    assert_eq!(st.last_event_time, 1_704_153_600_000);
    let page = store
        .query_events(&EventQuery {
            eq_biz_step: vec!["receiving".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
}

#[tokio::test]
async fn garbage_is_refused_with_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.sqlite"), Arc::new(SystemClock))
        .await
        .unwrap();
    for bad in [
        &b"{"[..],
        b"<x",
        b"",
        b"[]",
        b"{\"type\":\"EPCISDocument\"}",
    ] {
        match capture_document(&store, bad, CaptureMode::Rollback).await {
            Err(CaptureError::Invalid(p)) => assert!(!p.is_empty()),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bad)),
        }
    }
}

#[tokio::test]
async fn header_master_data_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.sqlite"), Arc::new(SystemClock))
        .await
        .unwrap();
    let doc = r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
      "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z",
      "epcisHeader":{"epcisMasterData":{"vocabularyList":[
        {"type":"urn:epcglobal:epcis:vtype:BusinessLocation","vocabularyElementList":[
          {"id":"urn:epc:id:sgln:0614141.07346.0",
           "attributes":[{"id":"urn:epcglobal:cbv:mda#name","attribute":"Plant"}],
           "children":["urn:epc:id:sgln:0614141.07346.1"]}]},
        {"type":"urn:epcglobal:epcis:vtype:EPCClass","vocabularyElementList":[
          {"id":"urn:epc:idpat:sgtin:0614141.107346.*",
           "attributes":[{"id":"urn:epcglobal:cbv:mda#descriptionShort","attribute":"Widget"}]}]}]}},
      "epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z",
        "eventTimeZoneOffset":"+00:00","action":"OBSERVE",
        "epcList":["urn:epc:id:sgtin:0614141.107346.1"]}]}}"#;
    let r = capture_document(&store, doc.as_bytes(), CaptureMode::Rollback)
        .await
        .unwrap();
    assert!(r.is_success());
    assert_eq!(r.master_data, 3);
    let plant = store
        .get_location("urn:epc:id:sgln:0614141.07346.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plant.name.as_deref(), Some("Plant"));
    let dock = store
        .get_location("urn:epc:id:sgln:0614141.07346.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        dock.parent_id.as_deref(),
        Some("urn:epc:id:sgln:0614141.07346.0")
    );
    let p = store.get_product("10614141073464").await.unwrap().unwrap();
    assert_eq!(p.name.as_deref(), Some("Widget"));
}

/// sensorMetadata startTime / endTime of GS1's sensor example 2 (13:55:01 to 14:55:00 at +01:00)
/// answer `GE_/LT_startTime` and `GE_/LT_endTime`.
#[tokio::test]
async fn sensor_metadata_periods_are_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.sqlite"), Arc::new(SystemClock))
        .await
        .unwrap();
    let path =
        Path::new(EXAMPLES).join("JSON-simple-context/WithSensorData/SensorDataExample2.jsonld");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = capture_document(&store, &bytes, CaptureMode::Rollback)
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.report);
    // 2019-04-02T12:55:01Z and 13:55:00Z.
    let start = 1_554_209_701_000;
    let end = 1_554_213_300_000;
    let count = |q: EventQuery| {
        let store = store.clone();
        async move { store.query_events(&q).await.unwrap().events.len() }
    };
    let all = count(EventQuery::default()).await;
    assert!(all >= 1);
    let with_start = count(EventQuery {
        ge_start_time: Some(start),
        ..Default::default()
    })
    .await;
    assert!(with_start >= 1);
    assert_eq!(
        count(EventQuery {
            ge_start_time: Some(start + 1),
            lt_start_time: Some(start + 2),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(EventQuery {
            ge_start_time: Some(start),
            lt_start_time: Some(start + 1),
            ..Default::default()
        })
        .await,
        with_start
    );
    assert!(
        count(EventQuery {
            ge_end_time: Some(end),
            lt_end_time: Some(end + 1),
            ..Default::default()
        })
        .await
            >= 1
    );
}
