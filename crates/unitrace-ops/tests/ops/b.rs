//! Receiving, cycle counts, recalls: on SQLite always, on PostgreSQL when `UNITRACE_TEST_POSTGRES`
//! names a server (required with `UNITRACE_REQUIRE_POSTGRES=1`); each test gets its own database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};
use unitrace_capture::{capture_document, CaptureMode};
use unitrace_ops::emit;
use unitrace_ops::{counts, recalls, receiving, OpsError};
use unitrace_store::{Location, Store, SystemClock, UnitFilter};

// ---------------------------------------------------------------- stores

struct Db {
    name: &'static str,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<crate::support::PgDb>,
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("b.sqlite");
    let s = unitrace_store_sqlite::SqliteStore::open(
        path.to_str().expect("utf-8 path"),
        Arc::new(SystemClock),
    )
    .await
    .expect("open SQLite");
    Db {
        name: "sqlite",
        store: Arc::new(s),
        _dir: Some(dir),
        _pg: None,
    }
}

async fn postgres() -> Option<Db> {
    let admin = crate::support::pg_url()?;
    let pg = crate::support::PgDb::create(&admin, "opsb").await;
    Some(Db {
        name: "postgres",
        store: pg.open().await,
        _dir: None,
        _pg: Some(pg),
    })
}

async fn backends() -> Vec<Db> {
    let mut v = vec![sqlite().await];
    v.extend(postgres().await);
    v
}

// ---------------------------------------------------------------- data

const NOW: i64 = 1_780_000_000_000;

async fn capture(store: &dyn Store, events: Vec<Value>) {
    let doc = emit::document(events, NOW);
    let r = capture_document(
        store,
        &serde_json::to_vec(&doc).unwrap(),
        CaptureMode::Rollback,
    )
    .await
    .expect("capture");
    assert!(r.report.first_failure().is_none(), "{:?}", r.report);
}

async fn load_demo(store: &dyn Store) -> unitrace_demo::Demo {
    let demo = unitrace_demo::generate(&Default::default());
    for l in &demo.master_data.locations {
        let mut loc = Location::new(l.id.clone(), l.parent.as_deref());
        loc.name = Some(l.name.clone());
        store.upsert_location(&loc).await.expect("location");
    }
    for doc in &demo.documents {
        let r = capture_document(
            store,
            &serde_json::to_vec(doc).unwrap(),
            CaptureMode::Rollback,
        )
        .await
        .expect("demo capture");
        assert!(r.report.first_failure().is_none());
    }
    demo
}

fn sgtin(item: &str, s: u32) -> String {
    format!("urn:epc:id:sgtin:0614141.{item}.{s}")
}
fn sscc(n: u32) -> String {
    format!("urn:epc:id:sscc:0614141.{n:010}")
}
fn sgln(ext: &str) -> String {
    format!("urn:epc:id:sgln:0614141.00001.{ext}")
}
fn sgln_b(ext: &str) -> String {
    format!("urn:epc:id:sgln:0614141.00002.{ext}")
}

fn t(ms: i64) -> String {
    receiving::time_text(ms)
}

fn object(ms: i64, action: &str, epcs: &[String], step: &str, disp: &str, loc: &str) -> Value {
    json!({"type": "ObjectEvent", "eventTime": t(ms), "eventTimeZoneOffset": "+00:00",
        "epcList": epcs, "action": action, "bizStep": step, "disposition": disp,
        "readPoint": {"id": loc}, "bizLocation": {"id": loc}})
}

fn pack(ms: i64, parent: &str, kids: &[String], loc: &str) -> Value {
    json!({"type": "AggregationEvent", "eventTime": t(ms), "eventTimeZoneOffset": "+00:00",
        "parentID": parent, "childEPCs": kids, "action": "ADD", "bizStep": "packing",
        "disposition": "in_progress", "readPoint": {"id": loc}, "bizLocation": {"id": loc}})
}

/// A small world: site A (with room R1 and shelves S1, S2) ships pallet P (cases C1, C2 of 5
/// units each) to site B with a despatch advice; unit X sits on shelf S1, unit Y at site B.
struct World {
    units: Vec<String>,
    pallet: String,
    cases: Vec<String>,
    x: String,
    y: String,
    desadv: String,
}

async fn world(store: &dyn Store) -> World {
    for (id, parent) in [
        (sgln("0"), None),
        (sgln("R1"), Some(sgln("0"))),
        (sgln("S1"), Some(sgln("R1"))),
        (sgln("S2"), Some(sgln("R1"))),
        (sgln_b("0"), None),
        (sgln_b("DOCK"), Some(sgln_b("0"))),
    ] {
        store
            .upsert_location(&Location::new(id, parent.as_deref()))
            .await
            .unwrap();
    }
    let units: Vec<String> = (1..=10).map(|s| sgtin("020001", s)).collect();
    let cases = vec![sscc(1), sscc(2)];
    let pallet = sscc(100);
    let x = sgtin("020001", 500);
    let y = sgtin("020001", 600);
    let desadv = "urn:epcglobal:cbv:bt:0614141000005:DESADV-1".to_string();
    let a = sgln("0");
    let mut ev = vec![object(
        NOW - 100_000,
        "ADD",
        &[units.clone(), vec![x.clone(), y.clone()]].concat(),
        "commissioning",
        "active",
        &a,
    )];
    let mut com = ev[0].as_object().unwrap().clone();
    com.insert(
        "ilmd".into(),
        json!({"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2030-01-31"}),
    );
    ev[0] = Value::Object(com);
    ev.push(pack(NOW - 90_000, &cases[0], &units[..5], &a));
    ev.push(pack(NOW - 89_000, &cases[1], &units[5..], &a));
    ev.push(pack(NOW - 88_000, &pallet, &cases, &a));
    ev.push(object(
        NOW - 80_000,
        "OBSERVE",
        std::slice::from_ref(&x),
        "storing",
        "sellable_accessible",
        &sgln("S1"),
    ));
    ev.push(object(
        NOW - 80_000,
        "OBSERVE",
        std::slice::from_ref(&y),
        "receiving",
        "sellable_accessible",
        &sgln_b("0"),
    ));
    let mut ship = json!({"type": "ObjectEvent", "eventTime": t(NOW - 50_000),
        "eventTimeZoneOffset": "+00:00", "epcList": [pallet], "action": "OBSERVE",
        "bizStep": "shipping", "disposition": "in_transit", "readPoint": {"id": a},
        "bizTransactionList": [{"type": "desadv", "bizTransaction": desadv}],
        "destinationList": [{"type": "location", "destination": sgln_b("0")}]});
    ship["eventID"] = json!("urn:uuid:6a7d3b2e-2c51-4f0e-9d1e-0d3f8c1b2a01");
    ev.push(ship);
    capture(store, ev).await;
    World {
        units,
        pallet,
        cases,
        x,
        y,
        desadv,
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn is_invalid<T: std::fmt::Debug>(r: Result<T, OpsError>, needle: &str) {
    match r {
        Err(OpsError::Invalid(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected Invalid({needle}), got {other:?}"),
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, OpsError>) {
    assert!(matches!(r, Err(OpsError::Conflict(_))), "{r:?}");
}

// ---------------------------------------------------------------- receiving

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiving_from_the_shipment() {
    for db in backends().await {
        let s = db.store.as_ref();
        let w = world(s).await;
        let open = receiving::OpenReceiving {
            location: sgln_b("DOCK"),
            shipment: Some(receiving::ShipmentRef {
                biz_transaction: Some(w.desadv.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let session = receiving::open(s, &open, NOW).await.unwrap();
        // pallet, 2 cases, 10 units
        assert_eq!(session.expected_count, 13, "{}", db.name);
        // By event ID too.
        let by_id = receiving::open(
            s,
            &receiving::OpenReceiving {
                location: sgln_b("DOCK"),
                shipment: Some(receiving::ShipmentRef {
                    event_ids: strs(&["urn:uuid:6a7d3b2e-2c51-4f0e-9d1e-0d3f8c1b2a01"]),
                    ..Default::default()
                }),
                ..Default::default()
            },
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(by_id.expected_count, 13);

        // Scan one case (its 5 units by inference), one unit of the other case in another
        // identifier form, the same unit again, an unknown unit, and X (recorded at site A).
        let lines = receiving::scan_lines(&format!(
            "{}\n(01)00614141200016(21)6\n]d20100614141200016216\n{}\n{}\n",
            w.cases[0],
            sgtin("020001", 999),
            w.x
        ));
        let reply = receiving::scan(s, &session.id, &lines).await.unwrap();
        assert_eq!(reply.scans, 5);
        assert_eq!(reply.observations, 10);
        assert_eq!(reply.results[0]["contents"], 5);
        assert_eq!(reply.results[3]["known"], false);
        assert_eq!(reply.results[4]["elsewhere"], json!(sgln("S1")));
        let (_, r, c) = receiving::status(s, &session.id).await.unwrap();
        let mut received: Vec<String> = w.units[..6].to_vec();
        received.push(w.cases[0].clone());
        received.sort();
        assert_eq!(r.received, received);
        assert_eq!(c.missing, 6); // pallet, case 2, units 7..10
        assert_eq!(r.unknown, vec![sgtin("020001", 999)]);
        assert_eq!(r.elsewhere, vec![(w.x.clone(), sgln("S1"))]);
        assert_eq!(r.duplicate_scan.len(), 1);
        assert_eq!(r.duplicate_scan[0].epc, sgtin("020001", 6));
        assert_eq!(c.unexpected, 2);

        // Scanning the pallet receives the rest.
        receiving::scan(s, &session.id, std::slice::from_ref(&w.pallet))
            .await
            .unwrap();
        let (closed, r, c) = receiving::close(s, &session.id, NOW + 1_000).await.unwrap();
        assert_eq!(closed.status, "closed");
        assert_eq!(c.received, 13);
        assert!(r.missing.is_empty());
        assert_eq!(closed.event_hash_ids.len(), 1);
        for u in &w.units {
            let st = s.unit_state(u).await.unwrap().unwrap();
            assert_eq!(st.biz_location.as_deref(), Some(sgln_b("DOCK").as_str()));
            assert_eq!(st.disposition.as_deref(), Some("in_progress"));
        }
        // The unknown unit got no event; X stays where it was.
        assert!(s.unit_state(&sgtin("020001", 999)).await.unwrap().is_none());
        assert_eq!(
            s.unit_state(&w.x).await.unwrap().unwrap().biz_location,
            Some(sgln("S1"))
        );
        // Closed: no second close, no more scans; the status stays what the close saw.
        is_conflict(receiving::close(s, &session.id, NOW + 2_000).await);
        is_conflict(receiving::scan(s, &session.id, std::slice::from_ref(&w.y)).await);
        let (_, r2, c2) = receiving::status(s, &session.id).await.unwrap();
        assert_eq!((r2, c2), (r, c));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiving_bad_input() {
    let db = sqlite().await;
    let s = db.store.as_ref();
    let w = world(s).await;
    let base = receiving::OpenReceiving {
        location: sgln_b("DOCK"),
        expected: w.units.clone(),
        ..Default::default()
    };
    // Location that is not a location; no list; both list and shipment; bad entries.
    is_invalid(
        receiving::open(
            s,
            &receiving::OpenReceiving {
                location: w.x.clone(),
                ..base.clone()
            },
            NOW,
        )
        .await,
        "not a location",
    );
    is_invalid(
        receiving::open(
            s,
            &receiving::OpenReceiving {
                expected: vec![],
                ..base.clone()
            },
            NOW,
        )
        .await,
        "expected list is needed",
    );
    is_invalid(
        receiving::open(
            s,
            &receiving::OpenReceiving {
                shipment: Some(receiving::ShipmentRef {
                    biz_transaction: Some(w.desadv.clone()),
                    ..Default::default()
                }),
                ..base.clone()
            },
            NOW,
        )
        .await,
        "not both",
    );
    is_invalid(
        receiving::open(
            s,
            &receiving::OpenReceiving {
                expected: strs(&[
                    "urn:epc:id:sgtin:0614141.020001.1",
                    "(01)00614141200017(21)1",
                ]),
                ..base.clone()
            },
            NOW,
        )
        .await,
        "expected[1]",
    );
    is_invalid(
        receiving::open(
            s,
            &receiving::OpenReceiving {
                disposition: Some("dispensed".into()),
                ..base.clone()
            },
            NOW,
        )
        .await,
        "disposition",
    );
    let over: Vec<String> = (0..=receiving::MAX_EXPECTED as u32)
        .map(|i| sgtin("020002", i))
        .collect();
    is_invalid(
        receiving::open(
            s,
            &receiving::OpenReceiving {
                expected: over,
                ..base.clone()
            },
            NOW,
        )
        .await,
        "limit",
    );
    match receiving::open(
        s,
        &receiving::OpenReceiving {
            expected: vec![],
            shipment: Some(receiving::ShipmentRef {
                biz_transaction: Some("urn:epcglobal:cbv:bt:0614141000005:NOPE".into()),
                ..Default::default()
            }),
            ..base.clone()
        },
        NOW,
    )
    .await
    {
        Err(OpsError::NotFound(m)) => assert!(m.contains("NOPE"), "{m}"),
        other => panic!("{other:?}"),
    }
    let session = receiving::open(s, &base, NOW).await.unwrap();
    // A bad line refuses the whole request, naming it; nothing is recorded.
    is_invalid(
        receiving::scan(
            s,
            &session.id,
            &strs(&[&w.units[0], "garbage", &w.units[1]]),
        )
        .await,
        "scan 2",
    );
    let (_, _, c) = receiving::status(s, &session.id).await.unwrap();
    assert_eq!(c.observations, 0);
    let many: Vec<String> = vec![w.units[0].clone(); receiving::MAX_SCANS_PER_REQUEST + 1];
    is_invalid(receiving::scan(s, &session.id, &many).await, "limit");
    assert!(matches!(
        receiving::scan(s, "RCV-99999999", std::slice::from_ref(&w.units[0])).await,
        Err(OpsError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receiving_concurrent_scans_and_sessions() {
    for db in backends().await {
        let store = db.store.clone();
        let _w = world(store.as_ref()).await;
        let units: Vec<String> = (1000..1400).map(|s| sgtin("020003", s)).collect();
        let open = |list: Vec<String>| receiving::OpenReceiving {
            location: sgln_b("DOCK"),
            expected: list,
            ..Default::default()
        };
        let a = receiving::open(store.as_ref(), &open(units[..200].to_vec()), NOW)
            .await
            .unwrap();
        let b = receiving::open(store.as_ref(), &open(units[200..].to_vec()), NOW)
            .await
            .unwrap();
        // 8 clients: 4 per session, one scan per request, interleaved.
        let mut tasks = Vec::new();
        for k in 0..8usize {
            let store = store.clone();
            let (id, mine): (String, Vec<String>) = if k % 2 == 0 {
                (
                    a.id.clone(),
                    units[..200]
                        .iter()
                        .skip(k / 2)
                        .step_by(4)
                        .cloned()
                        .collect(),
                )
            } else {
                (
                    b.id.clone(),
                    units[200..]
                        .iter()
                        .skip(k / 2)
                        .step_by(4)
                        .cloned()
                        .collect(),
                )
            };
            tasks.push(tokio::spawn(async move {
                for u in mine {
                    receiving::scan(store.as_ref(), &id, &[u]).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for (sess, n) in [(&a, 200), (&b, 200)] {
            let (_, r, c) = receiving::status(store.as_ref(), &sess.id).await.unwrap();
            assert_eq!(c.observations, n, "{}: no scan lost", db.name);
            assert_eq!(r.received.len(), n);
            assert!(r.missing.is_empty() && r.unexpected.is_empty());
        }
        // Two closes at once: one wins, the other is a conflict; events written once.
        let (x, y) = tokio::join!(
            receiving::close(store.as_ref(), &a.id, NOW + 10),
            receiving::close(store.as_ref(), &a.id, NOW + 10)
        );
        assert!(x.is_ok() != y.is_ok(), "{x:?} {y:?}");
        let r = x.err().or(y.err()).unwrap();
        assert!(matches!(r, OpsError::Conflict(_)), "{r:?}");
    }
}

// ---------------------------------------------------------------- counts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_adjusts_and_keeps_accuracy() {
    for db in backends().await {
        let s = db.store.as_ref();
        let w = world(s).await;
        // Shelf S2 holds nothing by the records; S1 holds X. Count the room R1.
        let c = counts::open(
            s,
            &counts::OpenCount {
                location: sgln("R1"),
                missing_disposition: None,
            },
            NOW,
        )
        .await
        .unwrap();
        // Found: Y (recorded at site B) and an unknown unit; X is missing.
        counts::scan(s, &c.id, &[w.y.clone(), sgtin("020001", 777)])
            .await
            .unwrap();
        let (closed, out) = counts::close(s, &c.id, NOW + 5_000).await.unwrap();
        assert_eq!(out.missing, vec![w.x.clone()], "{}", db.name);
        assert!(out.counted.is_empty());
        let un: BTreeMap<&str, &counts::Misplaced> =
            out.unexpected.iter().map(|m| (m.epc.as_str(), m)).collect();
        assert_eq!(un[w.y.as_str()].recorded_location, Some(sgln_b("0")));
        assert!(!un[sgtin("020001", 777).as_str()].known);
        let r = closed.result.unwrap();
        assert_eq!(
            (r.expected, r.counted, r.missing, r.unexpected),
            (1, 0, 1, 2)
        );
        assert_eq!(r.accuracy, 0.0);
        // Y was moved here by the adjusting event; X keeps its place and disposition.
        assert_eq!(
            s.unit_state(&w.y).await.unwrap().unwrap().biz_location,
            Some(sgln("R1"))
        );
        let x = s.unit_state(&w.x).await.unwrap().unwrap();
        assert_eq!(x.biz_location, Some(sgln("S1")));
        assert_eq!(x.disposition.as_deref(), Some("sellable_accessible"));
        is_conflict(counts::close(s, &c.id, NOW + 6_000).await);
        is_conflict(counts::scan(s, &c.id, std::slice::from_ref(&w.x)).await);

        // Second count of the room: X and Y found, with missing units marked unknown.
        let c2 = counts::open(
            s,
            &counts::OpenCount {
                location: sgln("R1"),
                missing_disposition: Some("unknown".into()),
            },
            NOW + 10_000,
        )
        .await
        .unwrap();
        counts::scan(s, &c2.id, &[w.x.clone(), w.y.clone()])
            .await
            .unwrap();
        let (closed2, out2) = counts::close(s, &c2.id, NOW + 20_000).await.unwrap();
        assert_eq!(out2.counted, {
            let mut v = vec![w.x.clone(), w.y.clone()];
            v.sort();
            v
        });
        assert_eq!(closed2.result.unwrap().accuracy, 1.0);
        // A counted unit on a shelf below the room keeps its shelf.
        assert_eq!(
            s.unit_state(&w.x).await.unwrap().unwrap().biz_location,
            Some(sgln("S1"))
        );
        let series = counts::accuracy_series(s, &sgln("R1"), 100).await.unwrap();
        let acc: Vec<f64> = series
            .iter()
            .map(|p| p["accuracy"].as_f64().unwrap())
            .collect();
        assert_eq!(acc, vec![0.0, 1.0]);
        is_invalid(
            counts::open(
                s,
                &counts::OpenCount {
                    location: sgln("R1"),
                    missing_disposition: Some("dispensed".into()),
                },
                NOW,
            )
            .await,
            "missing_disposition",
        );
    }
}

// ---------------------------------------------------------------- recalls

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_criteria_and_upstream_inputs() {
    for db in backends().await {
        let s = db.store.as_ref();
        let w = world(s).await;
        // Component lot CL1 (2 units) made into finished units F1, F2 (TransformationEvent);
        // F1 is then assembled into kit K (aggregation into an SGTIN parent).
        let comps = vec![sgtin("030001", 1), sgtin("030001", 2)];
        let f = vec![sgtin("040001", 1), sgtin("040001", 2)];
        let kit = sgtin("050001", 1);
        let a = sgln("0");
        let mut com = object(NOW - 70_000, "ADD", &comps, "commissioning", "active", &a);
        com["ilmd"] = json!({"cbvmda:lotNumber": "CL1"});
        let tr = json!({"type": "TransformationEvent", "eventTime": t(NOW - 60_000),
            "eventTimeZoneOffset": "+00:00", "inputEPCList": comps, "outputEPCList": f,
            "bizStep": "commissioning", "disposition": "active", "bizLocation": {"id": a}});
        let kit_add = object(
            NOW - 59_000,
            "ADD",
            std::slice::from_ref(&kit),
            "commissioning",
            "active",
            &a,
        );
        let asm = json!({"type": "AggregationEvent", "eventTime": t(NOW - 58_000),
            "eventTimeZoneOffset": "+00:00", "parentID": kit, "childEPCs": [f[0]],
            "action": "ADD", "bizStep": "assembling", "bizLocation": {"id": a}});
        capture(s, vec![com, tr, kit_add, asm]).await;
        let req = |c: recalls::Criteria| recalls::CreateRecall {
            criteria: c,
            ..Default::default()
        };
        let (r, units) = recalls::create(
            s,
            &req(recalls::Criteria {
                input_lots: vec![recalls::InputLot {
                    gtin: "00614141300013".into(),
                    lot: "CL1".into(),
                }],
                ..Default::default()
            }),
            NOW,
        )
        .await
        .unwrap();
        let got: Vec<&str> = units.iter().map(|u| u.epc_uri.as_str()).collect();
        let mut want = vec![f[0].as_str(), f[1].as_str(), kit.as_str()];
        want.sort();
        assert_eq!(got, want, "{}", db.name);
        assert_eq!(r.affected_count, 3);
        // A bulk lot consumed as a quantity (no serialised unit of it exists), written as a
        // Digital Link: its TransformationEvent made G1, G2 and output lot FG9 (a class); unit
        // H1 is of lot FG9, and FG9 consumed in turn made J1.
        let g = vec![sgtin("060001", 1), sgtin("060001", 2)];
        let h1 = sgtin("070001", 1);
        let j1 = sgtin("080001", 1);
        let bulk = json!({"type": "TransformationEvent", "eventTime": t(NOW - 57_000),
            "eventTimeZoneOffset": "+00:00",
            "inputQuantityList": [{"epcClass": "https://id.gs1.org/01/00614141300013/10/BULK7",
                "quantity": 5, "uom": "KGM"}],
            "outputEPCList": g,
            "outputQuantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.070001.FG9",
                "quantity": 100}],
            "bizStep": "commissioning", "bizLocation": {"id": a}});
        let mut h_add = object(
            NOW - 56_000,
            "ADD",
            std::slice::from_ref(&h1),
            "commissioning",
            "active",
            &a,
        );
        h_add["ilmd"] = json!({"cbvmda:lotNumber": "FG9"});
        let fg9 = json!({"type": "TransformationEvent", "eventTime": t(NOW - 55_000),
            "eventTimeZoneOffset": "+00:00",
            "inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.070001.FG9",
                "quantity": 10}],
            "outputEPCList": [j1],
            "bizStep": "commissioning", "bizLocation": {"id": a}});
        capture(s, vec![bulk, h_add, fg9]).await;
        let (_, units) = recalls::create(
            s,
            &req(recalls::Criteria {
                input_lots: vec![recalls::InputLot {
                    gtin: "00614141300013".into(),
                    lot: "BULK7".into(),
                }],
                ..Default::default()
            }),
            NOW,
        )
        .await
        .unwrap();
        let got: Vec<&str> = units.iter().map(|u| u.epc_uri.as_str()).collect();
        let mut want = vec![g[0].as_str(), g[1].as_str(), h1.as_str(), j1.as_str()];
        want.sort();
        assert_eq!(got, want, "{}", db.name);
        // Same from one component unit, narrowed by GTIN of the finished goods.
        let (_, units) = recalls::create(
            s,
            &req(recalls::Criteria {
                inputs: vec![comps[0].clone()],
                gtin: Some("00614141400010".into()),
                ..Default::default()
            }),
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(units.len(), 2);
        // Serial range + lot on the world's units; in the pallet, in transit to site B.
        let (_, units) = recalls::create(
            s,
            &req(recalls::Criteria {
                gtin: Some("00614141200016".into()),
                lots: vec!["L1".into()],
                serial_ranges: vec![recalls::SerialRange {
                    from: "3".into(),
                    to: "7".into(),
                }],
                ..Default::default()
            }),
            NOW,
        )
        .await
        .unwrap();
        let got: Vec<&str> = units.iter().map(|u| u.epc_uri.as_str()).collect();
        let want: Vec<String> = (3..=7).map(|i| sgtin("020001", i)).collect();
        assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
        for u in &units {
            assert_eq!(u.state, "in_transit");
            assert_eq!(u.destination, Some(sgln_b("0")));
            assert_eq!(u.containers.last(), Some(&w.pallet));
        }
        // By current location (site A and below): X on shelf S1 only (units shipped are in
        // transit but still located at A by their last location: they count as there).
        let (_, units) = recalls::create(
            s,
            &req(recalls::Criteria {
                location: Some(sgln("R1")),
                ..Default::default()
            }),
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(
            units.iter().map(|u| u.epc_uri.clone()).collect::<Vec<_>>(),
            vec![w.x.clone()]
        );
        // Time window narrows, production location narrows.
        let (_, units) = recalls::create(
            s,
            &req(recalls::Criteria {
                gtin: Some("00614141200016".into()),
                commissioned_from: Some(t(NOW - 100_001)),
                commissioned_to: Some(t(NOW - 99_999)),
                production_location: Some(sgln("0")),
                ..Default::default()
            }),
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(units.len(), 12);
        let (_, units) = recalls::create(
            s,
            &req(recalls::Criteria {
                gtin: Some("00614141200016".into()),
                commissioned_from: Some(t(NOW - 99_999)),
                ..Default::default()
            }),
            NOW,
        )
        .await
        .unwrap();
        assert!(units.is_empty());
        is_invalid(
            recalls::create(s, &req(Default::default()), NOW).await,
            "empty",
        );
        let too_many: Vec<String> = (0..=recalls::MAX_CRITERIA_VALUES)
            .map(|i| i.to_string())
            .collect();
        is_invalid(
            recalls::create(
                s,
                &req(recalls::Criteria {
                    lots: too_many,
                    ..Default::default()
                }),
                NOW,
            )
            .await,
            "limit",
        );
        assert!(matches!(
            recalls::get(s, "RCL-404").await,
            Err(OpsError::NotFound(_))
        ));
    }
}

// ---------------------------------------------------------------- demo stories

/// The last bizLocation and disposition the demo's events give a unit (its own events only;
/// by the end of the demo every pack of the recalled lot is named by its own last event).
fn demo_oracle(demo: &unitrace_demo::Demo) -> BTreeMap<String, (String, String)> {
    let mut evs: Vec<(String, &Value)> = demo
        .documents
        .iter()
        .flat_map(|d| d["epcisBody"]["eventList"].as_array().unwrap().iter())
        .map(|e| (e["eventTime"].as_str().unwrap().to_string(), e))
        .collect();
    evs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (_, e) in evs {
        for k in ["epcList", "childEPCs"] {
            for x in e[k].as_array().into_iter().flatten() {
                let x = x.as_str().unwrap().to_string();
                let cur = out.entry(x).or_default();
                if let Some(l) = e["bizLocation"]["id"].as_str() {
                    cur.0 = l.to_string();
                }
                if let Some(d) = e["disposition"].as_str() {
                    cur.1 = d.to_string();
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_recall_of_lot_amx25a02() {
    for db in backends().await {
        let s = db.store.as_ref();
        let demo = load_demo(s).await;
        let story = &demo.stories.recalled_lot;
        let oracle = demo_oracle(&demo);
        let md = &demo.master_data;
        let return_site = md.locations[0].id.clone();
        let (recall, units) = recalls::create(
            s,
            &recalls::CreateRecall {
                criteria: recalls::Criteria {
                    gtin: Some(story.gtin.clone()),
                    lots: vec![story.lot.clone()],
                    ..Default::default()
                },
                reason: Some("capsule dissolution out of specification".into()),
                return_locations: vec![return_site.clone()],
            },
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(recall.affected_count, 400, "{}", db.name);
        let got: BTreeSet<&str> = units.iter().map(|u| u.epc_uri.as_str()).collect();
        let want: BTreeSet<&str> = story.units.iter().map(String::as_str).collect();
        assert_eq!(got, want);
        let mut dispensed = 0;
        for u in &units {
            let (loc, disp) = &oracle[&u.epc_uri];
            assert_eq!(u.location.as_ref(), Some(loc), "{}", u.epc_uri);
            assert_eq!(u.disposition.as_ref(), Some(disp), "{}", u.epc_uri);
            let site = md.site_of(loc).unwrap();
            assert_eq!(u.site.as_deref(), Some(site.id.as_str()));
            assert!(
                story.sites.contains(&site.id),
                "{} at {}",
                u.epc_uri,
                site.id
            );
            match disp.as_str() {
                "dispensed" => {
                    dispensed += 1;
                    assert_eq!(u.state, "dispensed");
                }
                "sellable_accessible" => assert_eq!(u.state, "in_stock"),
                d => panic!("unexpected disposition {d}"),
            }
            assert!(u.containers.is_empty());
            assert!(!u.retrieved && !u.held);
        }
        assert!(dispensed > 0 && dispensed < 400);
        // Progress, hold, second hold.
        let (_, p) = recalls::progress(s, &recall.id).await.unwrap();
        assert_eq!((p.retrieved, p.outstanding, p.held), (0, 400, 0));
        let held = recalls::hold(s, &recall.id, NOW + 1_000).await.unwrap();
        assert_eq!(held.held_count, 400 - dispensed);
        is_conflict(recalls::hold(s, &recall.id, NOW + 2_000).await);
        let (_, p) = recalls::progress(s, &recall.id).await.unwrap();
        assert_eq!(p.held, 400 - dispensed);
        assert_eq!(p.by_state["dispensed"], dispensed);
        // The other lots are untouched.
        for (_, l) in &story.other_lots {
            let some = s
                .list_units(&UnitFilter {
                    lot: Some(l.clone()),
                    limit: Some(50),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(!some.is_empty());
            assert!(some.iter().all(|u| !receiving::is_recalled(u)), "{l}");
        }
        // Paged unit list: every unit once.
        let mut seen = BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = recalls::units(s, &recall.id, after.as_deref(), 150)
                .await
                .unwrap();
            assert!(page.len() <= 150);
            for u in page {
                assert!(seen.insert(u.epc_uri));
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen.len(), 400);
        // Exports.
        let csv = String::from_utf8(
            recalls::export(s, &recall.id, recalls::Format::Csv)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(csv.lines().count(), 401);
        assert!(csv.starts_with("epc_uri,state,"));
        let doc = recalls::export(s, &recall.id, recalls::Format::Epcis)
            .await
            .unwrap();
        unitrace_epcis::validate_and_hash(&doc).expect("the export is valid EPCIS");
        let v: Value = serde_json::from_slice(&doc).unwrap();
        let n: usize = v["epcisBody"]["eventList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["epcList"].as_array().unwrap().len())
            .sum();
        assert_eq!(n, 400);
        // A pack brought back to the return location is retrieved.
        let back = units.iter().find(|u| u.state == "in_stock").unwrap();
        capture(
            s,
            vec![object(
                NOW + 3_000,
                "OBSERVE",
                std::slice::from_ref(&back.epc_uri),
                "receiving",
                "recalled",
                &return_site,
            )],
        )
        .await;
        let (_, p) = recalls::progress(s, &recall.id).await.unwrap();
        assert_eq!((p.retrieved, p.outstanding), (1, 399));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_count_finds_the_unit_moved_without_a_scan() {
    for db in backends().await {
        let s = db.store.as_ref();
        let demo = load_demo(s).await;
        let m = &demo.stories.moved_without_scan;
        let oracle = demo_oracle(&demo);
        // What is physically on each shelf: the packs the events put there and did not dispense,
        // with the moved pack on its actual shelf instead.
        let on = |shelf: &str| -> Vec<String> {
            let mut v: Vec<String> = oracle
                .iter()
                .filter(|(e, (l, d))| {
                    l == shelf && d == "sellable_accessible" && e.as_str() != m.epc
                })
                .map(|(e, _)| e.clone())
                .collect();
            if shelf == m.actual_location {
                v.push(m.epc.clone());
            }
            v
        };
        let c1 = counts::open(
            s,
            &counts::OpenCount {
                location: m.recorded_location.clone(),
                missing_disposition: None,
            },
            NOW,
        )
        .await
        .unwrap();
        let found = on(&m.recorded_location);
        assert!(!found.is_empty());
        counts::scan(s, &c1.id, &found).await.unwrap();
        let (r1, o1) = counts::close(s, &c1.id, NOW + 1_000).await.unwrap();
        assert_eq!(o1.missing, vec![m.epc.clone()], "{}", db.name);
        assert!(o1.unexpected.is_empty());
        assert_eq!(o1.counted.len(), found.len());

        let c2 = counts::open(
            s,
            &counts::OpenCount {
                location: m.actual_location.clone(),
                missing_disposition: None,
            },
            NOW + 2_000,
        )
        .await
        .unwrap();
        counts::scan(s, &c2.id, &on(&m.actual_location))
            .await
            .unwrap();
        let (_, o2) = counts::close(s, &c2.id, NOW + 3_000).await.unwrap();
        assert!(o2.missing.is_empty());
        assert_eq!(o2.unexpected.len(), 1);
        assert_eq!(o2.unexpected[0].epc, m.epc);
        assert_eq!(
            o2.unexpected[0].recorded_location.as_deref(),
            Some(m.recorded_location.as_str())
        );
        // The adjustment moved it to where it was found.
        let st = s.unit_state(&m.epc).await.unwrap().unwrap();
        assert_eq!(st.biz_location.as_deref(), Some(m.actual_location.as_str()));
        let series = counts::accuracy_series(s, &m.recorded_location, 10)
            .await
            .unwrap();
        assert_eq!(series.len(), 1);
        let n = found.len() as f64;
        let acc = series[0]["accuracy"].as_f64().unwrap();
        assert!((acc - n / (n + 1.0)).abs() < 1e-12, "{acc}");
        assert_eq!(r1.result.unwrap().missing, 1);
    }
}
