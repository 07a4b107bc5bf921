//! Serials, verification, alerts, decommissioning: on SQLite always, and on PostgreSQL when
//! `UNITRACE_TEST_POSTGRES` is set (required by `UNITRACE_REQUIRE_POSTGRES=1`).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;
use unitrace_capture::{capture_document, CaptureMode};
use unitrace_ops::alerts::{self, AlertFilter, Rule};
use unitrace_ops::decommission::{self, DecommissionRequest, ReactivateRequest};
use unitrace_ops::emit::{self, ObjectEventSpec};
use unitrace_ops::serials::{self, AllocationRequest, CommissionRequest, Method};
use unitrace_ops::verify::{self, Verdict, VerifyRequest};
use unitrace_ops::OpsError;
use unitrace_store::{Location, Store, SystemClock, UnitFilter};
use unitrace_store_sqlite::SqliteStore;

const GTIN: &str = "00614141999996";
const SITE_A: &str = "urn:epc:id:sgln:0614141.00001.0";
const ROOM_A: &str = "urn:epc:id:sgln:0614141.00001.1";
const SITE_B: &str = "urn:epc:id:sgln:0614141.00002.0";
const SITE_FAR: &str = "urn:epc:id:sgln:0614141.00003.0";
const DAY: i64 = 86_400_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("a.sqlite"), Arc::new(SystemClock))
        .await
        .unwrap();
    (Arc::new(s), dir)
}

use crate::support::{pg_url, PgDb};

/// Runs `f` on a fresh SQLite store, and on a fresh PostgreSQL database when configured.
macro_rules! both {
    ($f:ident) => {{
        let (s, _dir) = sqlite().await;
        $f(s).await;
        if let Some(url) = pg_url() {
            let db = PgDb::create(&url, "opsa").await;
            $f(db.open().await).await;
            drop(db);
        }
    }};
}

async fn locations(store: &dyn Store) {
    for (id, parent, lat, lon) in [
        (SITE_A, None, 50.11, 8.68),
        (ROOM_A, Some(SITE_A), 50.11, 8.68),
        (SITE_B, None, 50.12, 8.70),
        (SITE_FAR, None, 53.55, 10.0),
    ] {
        let mut l = Location::new(id, parent);
        l.latitude = Some(lat);
        l.longitude = Some(lon);
        store.upsert_location(&l).await.unwrap();
    }
}

fn alloc_req(count: usize, method: Method) -> AllocationRequest {
    AllocationRequest {
        gtin: GTIN.into(),
        count,
        method,
    }
}

async fn allocation_methods(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let seq = serials::allocate(s, &alloc_req(5, Method::Sequential), "t", 1)
        .await
        .unwrap();
    assert_eq!(seq.serials, ["1", "2", "3", "4", "5"]);
    assert_eq!(seq.range, Some((1, 5)));
    let seq2 = serials::allocate(s, &alloc_req(2, Method::Sequential), "t", 2)
        .await
        .unwrap();
    assert_eq!(seq2.serials, ["6", "7"]);
    let pat = Method::Pattern {
        prefix: "L7-".into(),
        width: 3,
    };
    let p = serials::allocate(s, &alloc_req(3, pat.clone()), "t", 3)
        .await
        .unwrap();
    assert_eq!(p.serials, ["L7-001", "L7-002", "L7-003"]);
    // The pattern holds 999 numbers: asking past the end is a conflict naming the limit.
    let err = serials::allocate(s, &alloc_req(997, pat), "t", 3)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Conflict(ref m) if m.contains("exhausted")),
        "{err}"
    );
    let r = serials::allocate(
        s,
        &alloc_req(
            500,
            Method::Random {
                prefix: "R".into(),
                length: 12,
            },
        ),
        "t",
        4,
    )
    .await
    .unwrap();
    assert_eq!(r.serials.len(), 500);
    let distinct: HashSet<&String> = r.serials.iter().collect();
    assert_eq!(distinct.len(), 500);
    for x in &r.serials {
        serials::check_serial(x).unwrap();
        assert!(x.starts_with('R') && x.len() == 13);
    }
    // Guessing rule: 3 random symbols (32,768 serials) hold 3 issued serials, not 4.
    let short = Method::Random {
        prefix: "Q".into(),
        length: 3,
    };
    serials::allocate(s, &alloc_req(3, short.clone()), "t", 5)
        .await
        .unwrap();
    let err = serials::allocate(s, &alloc_req(1, short), "t", 5)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("EU FMD"), "{err}");
    // Bad requests.
    for bad in [
        AllocationRequest {
            gtin: "00614141999997".into(),
            count: 1,
            method: Method::Sequential,
        },
        alloc_req(0, Method::Sequential),
        alloc_req(
            1,
            Method::Pattern {
                prefix: "x y".into(),
                width: 3,
            },
        ),
    ] {
        assert!(matches!(
            serials::allocate(s, &bad, "t", 6).await,
            Err(OpsError::Invalid(_))
        ));
    }
    // Recorded, listed, and the serials are allocated; others are not.
    let got = serials::get_allocation(s, &seq.id).await.unwrap();
    assert_eq!(got, seq);
    let all = serials::list_allocations(s, Some(GTIN), None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(
        serials::is_allocated(s, GTIN, "6")
            .await
            .unwrap()
            .as_deref(),
        Some(seq2.id.as_str())
    );
    assert_eq!(serials::is_allocated(s, GTIN, "999").await.unwrap(), None);
    assert!(serials::gtin_has_allocations(s, GTIN).await.unwrap());
    assert!(!serials::gtin_has_allocations(s, "00614141200016")
        .await
        .unwrap());
    assert!(matches!(
        serials::get_allocation(s, "SA99999999").await,
        Err(OpsError::NotFound(_))
    ));
}

#[tokio::test]
async fn allocation() {
    both!(allocation_methods);
}

/// Many concurrent requests, spread over two stores on one database, never share a serial.
async fn concurrent_on(stores: [Arc<dyn Store>; 2]) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let method = match i % 3 {
                0 => Method::Sequential,
                1 => Method::Pattern {
                    prefix: String::new(),
                    width: 6,
                },
                _ => Method::Random {
                    prefix: String::new(),
                    length: 6,
                },
            };
            serials::allocate(s.as_ref(), &alloc_req(50, method), "t", 1)
                .await
                .unwrap()
        }));
    }
    let mut seen = HashSet::new();
    let mut ids = HashSet::new();
    for t in tasks {
        let a = t.await.unwrap();
        assert!(ids.insert(a.id.clone()), "allocation id {} twice", a.id);
        assert_eq!(a.serials.len(), 50);
        for s in a.serials {
            assert!(seen.insert(s.clone()), "serial {s} allocated twice");
        }
    }
    assert_eq!(seen.len(), 16 * 50);
}

#[tokio::test]
async fn concurrent_allocation() {
    let (s, _dir) = sqlite().await;
    concurrent_on([s.clone(), s]).await;
    if let Some(url) = pg_url() {
        let db = PgDb::create(&url, "opsa").await;
        concurrent_on([db.open().await, db.open().await]).await;
        drop(db);
    }
}

async fn commissioning_on(store: Arc<dyn Store>) {
    let s = store.as_ref();
    locations(s).await;
    let a = serials::allocate(s, &alloc_req(3, Method::Sequential), "t", 1)
        .await
        .unwrap();
    let req = |units: Vec<&str>| CommissionRequest {
        allocation: Some(a.id.clone()),
        units: units.into_iter().map(String::from).collect(),
        gtin: None,
        lot: Some("LOT1".into()),
        expiry: Some("2030-06-30".into()),
        location: SITE_A.into(),
    };
    // A serial outside the allocations is refused (before anything is written).
    let err = serials::commission(s, &req(vec!["1", "99"]), now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Invalid(ref m) if m.contains("never allocated")),
        "{err}"
    );
    assert!(s
        .unit_state(&serials::sgtin_epc(GTIN, "1").unwrap())
        .await
        .unwrap()
        .is_none());
    // Any identifier form.
    let dl = format!("https://id.gs1.org/01/{GTIN}/21/2");
    let done = serials::commission(s, &req(vec!["1", &dl]), now())
        .await
        .unwrap();
    assert_eq!(done.epcs.len(), 2);
    let st = s.unit_state(&done.epcs[1]).await.unwrap().unwrap();
    assert_eq!(st.lot.as_deref(), Some("LOT1"));
    assert_eq!(st.expiry.as_deref(), Some("2030-06-30"));
    assert_eq!(st.disposition.as_deref(), Some("active"));
    assert!(st.commissioned_by_step);
    // Twice: refused.
    let err = serials::commission(s, &req(vec!["2"]), now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, OpsError::Conflict(ref m) if m.contains("already commissioned")),
        "{err}"
    );
    // Conflicting inputs.
    let mut r = req(vec!["3"]);
    r.gtin = Some("00614141200016".into());
    assert!(matches!(
        serials::commission(s, &r, now()).await,
        Err(OpsError::Invalid(_))
    ));
    let mut r = req(vec!["3"]);
    r.expiry = Some("2030-02-30".into());
    assert!(matches!(
        serials::commission(s, &r, now()).await,
        Err(OpsError::Invalid(_))
    ));
    let mut r = req(vec!["3", "3"]);
    r.lot = None;
    assert!(matches!(
        serials::commission(s, &r, now()).await,
        Err(OpsError::Invalid(_))
    ));
    // The rest of the allocation.
    let mut r = req(vec![]);
    r.units.clear();
    let err = serials::commission(s, &r, now()).await.unwrap_err();
    assert!(
        matches!(err, OpsError::Conflict(_)),
        "1 and 2 are commissioned: {err}"
    );
    // A GTIN without allocations: commissioning of any serial is allowed.
    let free = CommissionRequest {
        units: vec!["urn:epc:id:sgtin:4012345.011111.FREE1".into()],
        location: SITE_A.into(),
        ..Default::default()
    };
    serials::commission(s, &free, now()).await.unwrap();
}

#[tokio::test]
async fn commissioning() {
    both!(commissioning_on);
}

fn vreq(id: &str) -> VerifyRequest {
    VerifyRequest {
        id: id.into(),
        lot: None,
        expiry: None,
    }
}

async fn verdict(s: &dyn Store, r: VerifyRequest) -> Verdict {
    verify::verify(s, &r, now()).await.unwrap().verdict
}

async fn verification_on(store: Arc<dyn Store>) {
    let s = store.as_ref();
    locations(s).await;
    let a = serials::allocate(s, &alloc_req(6, Method::Sequential), "t", 1)
        .await
        .unwrap();
    let epc = |n: &str| serials::sgtin_epc(GTIN, n).unwrap();
    let commission = |units: Vec<&str>, expiry: &str| CommissionRequest {
        allocation: Some(a.id.clone()),
        units: units.into_iter().map(String::from).collect(),
        lot: Some("LOT1".into()),
        expiry: Some(expiry.into()),
        location: SITE_A.into(),
        ..Default::default()
    };
    serials::commission(
        s,
        &commission(vec!["1", "2", "3", "4"], "2030-06-30"),
        now(),
    )
    .await
    .unwrap();
    serials::commission(s, &commission(vec!["5"], "2020-01-31"), now())
        .await
        .unwrap();

    assert_eq!(verdict(s, vreq(&epc("1"))).await, Verdict::Authentic);
    // Scan data with lot and expiry inside; and as parameters.
    let scan = format!("]d201{GTIN}211\u{1d}10LOT1\u{1d}17300630");
    let v = verify::verify(s, &vreq(&scan), now()).await.unwrap();
    assert_eq!(v.verdict, Verdict::Authentic, "{:?}", v.reasons);
    let mut r = vreq(&epc("1"));
    r.lot = Some("LOT2".into());
    assert_eq!(verdict(s, r).await, Verdict::DataMismatch);
    let mut r = vreq(&epc("1"));
    r.expiry = Some("300631".into());
    assert!(matches!(
        verify::verify(s, &r, now()).await,
        Err(OpsError::Invalid(_))
    ));
    r.expiry = Some("300531".into());
    assert_eq!(verdict(s, r).await, Verdict::DataMismatch);
    // Conflicting lot: parameter and identifier disagree.
    let mut r = vreq(&scan);
    r.lot = Some("LOT9".into());
    assert!(matches!(
        verify::verify(s, &r, now()).await,
        Err(OpsError::Invalid(_))
    ));
    // Not valid identifiers: clear errors.
    for bad in [
        "",
        "hello",
        "urn:epc:id:sgtin:0614141.99999.1",
        "(01)00614141999997(21)1",
    ] {
        let e = verify::verify(s, &vreq(bad), now()).await.unwrap_err();
        assert!(matches!(e, OpsError::Invalid(_)), "{bad}: {e}");
    }

    assert_eq!(verdict(s, vreq(&epc("6"))).await, Verdict::NotCommissioned);
    assert_eq!(verdict(s, vreq(&epc("77"))).await, Verdict::Unknown);
    assert_eq!(
        verdict(s, vreq("urn:epc:id:sgtin:4012345.011111.NOPE")).await,
        Verdict::Unknown
    );
    assert_eq!(verdict(s, vreq(&epc("5"))).await, Verdict::Expired);

    decommission::decommission(
        s,
        &DecommissionRequest {
            units: vec![epc("2")],
            reason: "dispensed".into(),
            location: ROOM_A.into(),
        },
        now(),
    )
    .await
    .unwrap();
    assert_eq!(verdict(s, vreq(&epc("2"))).await, Verdict::Decommissioned);

    // A recall is an event with disposition recalled (part B writes it this way).
    assert_eq!(verdict(s, vreq(&epc("3"))).await, Verdict::Authentic);
    emit::capture(
        s,
        &[ObjectEventSpec {
            event_time_ms: now(),
            action: "OBSERVE",
            epcs: vec![epc("3")],
            biz_step: Some("holding".into()),
            disposition: Some("recalled".into()),
            ..Default::default()
        }],
        now(),
    )
    .await
    .unwrap();
    assert_eq!(verdict(s, vreq(&epc("3"))).await, Verdict::Recalled);

    // An open alert makes a unit suspect; acknowledging it clears that.
    let f = alerts::Finding {
        rule: Rule::ImpossibleTravel,
        key: format!("test|{}", epc("4")),
        trigger_record_time: 1,
        events: vec![],
        sentence: "test".into(),
    };
    assert!(alerts::raise(s, &epc("4"), &f, now()).await.unwrap());
    assert!(
        !alerts::raise(s, &epc("4"), &f, now()).await.unwrap(),
        "raised once"
    );
    let v = verify::verify(s, &vreq(&epc("4")), now()).await.unwrap();
    assert_eq!(v.verdict, Verdict::Suspect);
    assert!(v.reasons[0].contains("impossible_travel"));
    let id = alerts::alert_id(&f);
    alerts::acknowledge(s, &id, "qa", Some("checked"), now())
        .await
        .unwrap();
    assert!(matches!(
        alerts::acknowledge(s, &id, "qa", None, now()).await,
        Err(OpsError::Conflict(_))
    ));
    assert_eq!(verdict(s, vreq(&epc("4"))).await, Verdict::Authentic);
    // The alert event did not change the unit's disposition.
    let st = s.unit_state(&epc("4")).await.unwrap().unwrap();
    assert_eq!(st.disposition.as_deref(), Some("active"));

    // The log: entries stored in a batch, listed newest first per unit.
    let v1 = verify::verify(s, &vreq(&epc("1")), 1_000).await.unwrap();
    let v2 = verify::verify(s, &vreq(&epc("1")), 2_000).await.unwrap();
    let v3 = verify::verify(s, &vreq(&epc("6")), 2_000).await.unwrap();
    let entries = [
        verify::LogEntry::of(&v1, "alice", None, None),
        verify::LogEntry::of(&v2, "bob", Some("LOT1".into()), None),
        verify::LogEntry::of(&v3, "bob", None, None),
    ];
    verify::store_log(s, &entries).await.unwrap();
    let listed = verify::list_log(s, &epc("1"), 3_000, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].requester, "bob");
    assert_eq!(listed[1].requester, "alice");
    assert_eq!(
        verify::list_log(s, &epc("6"), 3_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn verification() {
    both!(verification_on);
}

async fn reactivation_on(store: Arc<dyn Store>) {
    let s = store.as_ref();
    locations(s).await;
    let t0 = now();
    let units: Vec<String> = (1..=6)
        .map(|i| format!("urn:epc:id:sgtin:0614141.099999.RX{i}"))
        .collect();
    serials::commission(
        s,
        &CommissionRequest {
            units: units.clone(),
            lot: Some("L".into()),
            expiry: Some("2099-12-31".into()),
            location: SITE_A.into(),
            ..Default::default()
        },
        t0 - 20 * DAY,
    )
    .await
    .unwrap();
    let dec = |u: &str, reason: &str, at: i64| {
        let req = DecommissionRequest {
            units: vec![u.to_string()],
            reason: reason.into(),
            location: ROOM_A.into(),
        };
        async move { decommission::decommission(s, &req, at).await }
    };
    let react = |u: &str, loc: &str, at: i64| {
        let req = ReactivateRequest {
            units: vec![u.to_string()],
            location: loc.into(),
        };
        async move { decommission::reactivate(s, &req, at).await }
    };
    // Within 10 days at the same site (another room of it is the same location): allowed.
    dec(&units[0], "dispensed", t0 - 9 * DAY).await.unwrap();
    react(&units[0], SITE_A, t0).await.unwrap();
    let st = s.unit_state(&units[0]).await.unwrap().unwrap();
    assert_eq!(st.disposition.as_deref(), Some("active"));
    // Decommissioning twice: refused.
    dec(&units[1], "sample", t0 - DAY).await.unwrap();
    let e = dec(&units[1], "export", t0).await.unwrap_err();
    assert!(e.to_string().contains("already_decommissioned"), "{e}");
    // Another location.
    let e = react(&units[1], SITE_B, t0).await.unwrap_err();
    assert!(
        matches!(e, OpsError::Invalid(ref m) if m.contains("same_location")),
        "{e}"
    );
    // After 10 days.
    dec(&units[2], "retail_sold", t0 - 11 * DAY).await.unwrap();
    let e = react(&units[2], SITE_A, t0).await.unwrap_err();
    assert!(
        matches!(e, OpsError::Conflict(ref m) if m.contains("ten_days")),
        "{e}"
    );
    // Destroyed, stolen: never.
    dec(&units[3], "destroyed", t0 - DAY).await.unwrap();
    let e = react(&units[3], SITE_A, t0).await.unwrap_err();
    assert!(e.to_string().contains("rule destroyed"), "{e}");
    dec(&units[4], "stolen", t0 - DAY).await.unwrap();
    let e = react(&units[4], SITE_A, t0).await.unwrap_err();
    assert!(e.to_string().contains("rule stolen"), "{e}");
    // Recalled: never.
    emit::capture(
        s,
        &[ObjectEventSpec {
            event_time_ms: t0 - 2 * DAY,
            action: "OBSERVE",
            epcs: vec![units[5].clone()],
            persistent_disposition_set: vec!["recalled".into()],
            ..Default::default()
        }],
        t0,
    )
    .await
    .unwrap();
    let e = dec(&units[5], "dispensed", t0 - DAY).await.unwrap_err();
    assert!(e.to_string().contains("rule recalled"), "{e}");
    dec(&units[5], "destroyed", t0 - DAY).await.unwrap();
    let e = react(&units[5], SITE_A, t0).await.unwrap_err();
    assert!(e.to_string().contains("rule recalled"), "{e}");
    // Not decommissioned; unknown unit; bad reason.
    let e = react(&units[0], SITE_A, t0).await.unwrap_err();
    assert!(e.to_string().contains("not_decommissioned"), "{e}");
    let e = react("urn:epc:id:sgtin:0614141.099999.NONE", SITE_A, t0)
        .await
        .unwrap_err();
    assert!(matches!(e, OpsError::NotFound(_)));
    assert!(matches!(
        dec(&units[0], "lost", t0).await,
        Err(OpsError::Invalid(_))
    ));
}

#[tokio::test]
async fn reactivation() {
    both!(reactivation_on);
}

async fn detect_all(s: &dyn Store) -> Vec<alerts::Alert> {
    let mut all = Vec::new();
    loop {
        let pass = alerts::detect(s, now()).await.unwrap();
        all.extend(pass.raised);
        if !pass.more {
            return all;
        }
    }
}

async fn rules_on(store: Arc<dyn Store>) {
    let s = store.as_ref();
    locations(s).await;
    let t0 = now() - 30 * DAY;
    let obs = |u: &str, loc: &str, step: &str, at: i64| ObjectEventSpec {
        event_time_ms: at,
        action: "OBSERVE",
        epcs: vec![u.to_string()],
        biz_step: Some(step.into()),
        read_point: Some(loc.into()),
        biz_location: Some(loc.into()),
        ..Default::default()
    };
    // Allocated GTIN: one commissioned serial, one foreign, one allocated but never commissioned.
    let a = serials::allocate(s, &alloc_req(2, Method::Sequential), "t", 1)
        .await
        .unwrap();
    let good = serials::sgtin_epc(GTIN, &a.serials[0]).unwrap();
    let uncommissioned = serials::sgtin_epc(GTIN, &a.serials[1]).unwrap();
    let foreign = serials::sgtin_epc(GTIN, "FAKE1").unwrap();
    serials::commission(
        s,
        &CommissionRequest {
            allocation: Some(a.id.clone()),
            units: vec![a.serials[0].clone()],
            location: SITE_A.into(),
            ..Default::default()
        },
        t0,
    )
    .await
    .unwrap();
    // A GTIN without allocations: never a foreign-serial alarm.
    let other = "urn:epc:id:sgtin:4012345.011111.OTHER";
    emit::capture(
        s,
        &[
            obs(&foreign, SITE_A, "inspecting", t0 + 1000),
            obs(&uncommissioned, SITE_A, "inspecting", t0 + 2000),
            obs(other, SITE_A, "inspecting", t0 + 3000),
            // Impossible travel: Frankfurt then Hamburg 10 minutes later; site A then B
            // (3 km) a minute later is jitter.
            obs(&good, SITE_B, "inspecting", t0 + 60_000),
            obs(&good, SITE_FAR, "inspecting", t0 + 11 * 60_000),
        ],
        t0,
    )
    .await
    .unwrap();
    // Double receiving without shipping; then dispensed and seen again.
    let twice = "urn:epc:id:sgtin:4012345.011111.TWICE";
    emit::capture(
        s,
        &[
            obs(twice, SITE_A, "receiving", t0 + DAY),
            obs(twice, SITE_FAR, "receiving", t0 + 3 * DAY),
        ],
        t0,
    )
    .await
    .unwrap();
    let shipped = "urn:epc:id:sgtin:4012345.011111.SHIPPED";
    emit::capture(
        s,
        &[
            obs(shipped, SITE_A, "receiving", t0 + DAY),
            obs(shipped, SITE_A, "shipping", t0 + 2 * DAY),
            obs(shipped, SITE_FAR, "receiving", t0 + 3 * DAY),
        ],
        t0,
    )
    .await
    .unwrap();
    let mut dispensed = obs(other, SITE_A, "dispensing", t0 + 4 * DAY);
    dispensed.disposition = Some("dispensed".into());
    emit::capture(
        s,
        &[dispensed, obs(other, SITE_A, "inspecting", t0 + 5 * DAY)],
        t0,
    )
    .await
    .unwrap();

    let raised = detect_all(s).await;
    let mut by_rule: Vec<(Rule, String)> =
        raised.iter().map(|a| (a.rule, a.unit.clone())).collect();
    by_rule.sort_by_key(|(r, u)| (r.as_str(), u.clone()));
    let mut want = vec![
        (Rule::ForeignSerial, foreign.clone()),
        (Rule::NotCommissioned, uncommissioned.clone()),
        (Rule::ImpossibleTravel, good.clone()),
        (Rule::DoubleReceiving, twice.to_string()),
        (Rule::SeenAfterDecommission, other.to_string()),
    ];
    want.sort_by_key(|(r, u)| (r.as_str(), u.clone()));
    assert_eq!(by_rule, want);
    for a in &raised {
        assert_eq!(a.status, "open");
        assert!(!a.sentence.is_empty());
        assert!(!a.events.is_empty());
        for h in &a.events {
            assert!(
                s.event_by_hash(h).await.unwrap().is_some(),
                "event {h} of alert"
            );
        }
    }
    // A second pass, and a detector starting over (another node, a lost watermark), raise nothing
    // new.
    assert!(detect_all(s).await.is_empty());
    s.delete_record(alerts::KIND_WATERMARK, alerts::WATERMARK_KEY)
        .await
        .unwrap();
    assert!(detect_all(s).await.is_empty());
    // Listing with filters and paging.
    let (page, next) = alerts::list_alerts(s, &AlertFilter::default(), None, 2)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let (rest, _) = alerts::list_alerts(s, &AlertFilter::default(), next.as_deref(), 100)
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    let f = AlertFilter {
        rule: Some(Rule::ForeignSerial),
        ..Default::default()
    };
    assert_eq!(
        alerts::list_alerts(s, &f, None, 100).await.unwrap().0.len(),
        1
    );
    let f = AlertFilter {
        unit: Some(good.clone()),
        ..Default::default()
    };
    let (mine, _) = alerts::list_alerts(s, &f, None, 100).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(verdict(s, vreq(&good)).await, Verdict::Suspect);
    // The alert is also an EPCIS event (for subscriptions), OBSERVE inspecting with the field.
    let q = unitrace_store::EventQuery {
        match_epc: vec![good.clone()],
        eq_biz_step: vec!["inspecting".into()],
        ..Default::default()
    };
    let evs = s.query_events(&q).await.unwrap().events;
    assert!(evs
        .iter()
        .any(|e| e.document.get("unitrace:alert").is_some()));
}

#[tokio::test]
async fn detection_rules() {
    both!(rules_on);
}

/// The demo dataset through the capture path, as `unitrace demo` loads it.
async fn load_demo(store: &dyn Store) -> unitrace_demo::Demo {
    let demo = unitrace_demo::generate(&unitrace_demo::DemoConfig::default());
    for l in &demo.master_data.locations {
        let mut loc = Location::new(l.id.clone(), l.parent.as_deref());
        loc.latitude = Some(l.lat);
        loc.longitude = Some(l.lon);
        store.upsert_location(&loc).await.unwrap();
    }
    for doc in &demo.documents {
        let bytes = serde_json::to_vec(doc).unwrap();
        let r = capture_document(store, &bytes, CaptureMode::Rollback)
            .await
            .unwrap();
        assert!(r.is_success());
    }
    demo
}

#[tokio::test]
async fn demo_story() {
    let (store, _dir) = sqlite().await;
    let s = store.as_ref();
    let demo = load_demo(s).await;
    let st = &demo.stories;
    let clone = &st.cloned_pack.epc;

    // The detector's histories (heads, containers level by level) are the timelines: every
    // unit of the demo (packs in cases on pallets, laptops, food) and the recalled lot's packs.
    let mut units: Vec<String> = s
        .list_units(&UnitFilter {
            limit: Some(100_000),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.epc)
        .step_by(7)
        .take(400)
        .collect();
    units.extend(st.recalled_lot.units.iter().take(50).cloned());
    let heads = alerts::load_heads(s, units.clone()).await.unwrap();
    let mut inferred = 0;
    for u in &units {
        let mut want: Vec<String> = s
            .timeline(u)
            .await
            .unwrap()
            .into_iter()
            .inspect(|e| inferred += usize::from(e.inferred_via.is_some()))
            .map(|e| e.event.hash_id)
            .collect();
        let mut got: Vec<String> = alerts::history_from_heads(u, &heads)
            .into_iter()
            .map(|h| h.hash_id.clone())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "history of {u}");
    }
    assert!(
        inferred > 100,
        "the sample reaches through containers: {inferred}"
    );

    // The detector over the whole demo: the Hamburg/München pair, and no false alarm.
    let raised = detect_all(s).await;
    let rules: Vec<(Rule, &str)> = raised.iter().map(|a| (a.rule, a.unit.as_str())).collect();
    assert_eq!(
        rules,
        vec![(Rule::ImpossibleTravel, clone.as_str())],
        "{raised:#?}"
    );
    let a = &raised[0];
    assert_eq!(a.events.len(), 2);
    for (h, sighting) in a.events.iter().zip(&st.cloned_pack.sightings) {
        let e = s.event_by_hash(h).await.unwrap().unwrap();
        assert_eq!(e.document["readPoint"]["id"], json!(sighting.read_point));
    }
    assert!(a.sentence.contains("km/h"), "{}", a.sentence);

    let v = verify::verify(s, &vreq(clone), now()).await.unwrap();
    assert_eq!(v.verdict, Verdict::Suspect, "{:?}", v.reasons);

    // Scanned at a second pharmacy (Berlin) 20 minutes later: another alert.
    let berlin = demo
        .master_data
        .locations
        .iter()
        .find(|l| l.name.contains("Berlin") && l.parent.is_some())
        .unwrap()
        .id
        .clone();
    let t2 = unitrace_epcis::time::Timestamp::parse(&st.cloned_pack.sightings[1].time)
        .unwrap()
        .unix_millis();
    emit::capture(
        s,
        &[ObjectEventSpec {
            event_time_ms: t2 + 20 * 60_000,
            action: "OBSERVE",
            epcs: vec![clone.clone()],
            biz_step: Some("inspecting".into()),
            read_point: Some(berlin.clone()),
            ..Default::default()
        }],
        now(),
    )
    .await
    .unwrap();
    let more = detect_all(s).await;
    assert_eq!(more.len(), 1, "{more:#?}");
    assert_eq!(more[0].rule, Rule::ImpossibleTravel);
    assert!(more[0].sentence.contains(&berlin));

    // A genuine pack of the recall candidate lot: authentic, until it is recalled (the recall
    // names every pack of the lot, dispensed ones too: not a sighting, no alert).
    let lot = &st.recalled_lot;
    // Find an undispensed pack of the lot and check authentic -> recalled.
    let mut undispensed = None;
    for u in &lot.units {
        let st = s.unit_state(u).await.unwrap().unwrap();
        if st.disposition.as_deref() == Some("sellable_accessible") {
            undispensed = Some(u.clone());
            break;
        }
    }
    let u = undispensed.expect("a pack of the lot still on a shelf");
    assert_eq!(verdict(s, vreq(&u)).await, Verdict::Authentic);
    emit::capture(
        s,
        &[ObjectEventSpec {
            event_time_ms: now(),
            action: "OBSERVE",
            epcs: lot.units.clone(),
            biz_step: Some("holding".into()),
            disposition: Some("recalled".into()),
            ..Default::default()
        }],
        now(),
    )
    .await
    .unwrap();
    assert_eq!(verdict(s, vreq(&u)).await, Verdict::Recalled);
    // The returned laptop (sold, returned, repaired, handed back to its owner) raised nothing
    // and is with its owner again: decommissioned as sold.
    assert!(detect_all(s).await.is_empty());
    let v = verify::verify(s, &vreq(&st.returned_laptop.epc), now())
        .await
        .unwrap();
    assert_eq!(v.verdict, Verdict::Decommissioned, "{:?}", v.reasons);
    assert!(v.reasons[0].contains("retail_sold"), "{:?}", v.reasons);
}
