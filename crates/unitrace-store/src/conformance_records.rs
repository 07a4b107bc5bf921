//! Conformance tests of [`RecordStore`]: records with versions, items, counters, serial claims.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use super::{clock, StoreFactory};
use crate::{RecordItem, Store, StoreError};

fn item(name: &str, v: serde_json::Value) -> RecordItem {
    RecordItem {
        item: name.to_string(),
        body: v,
    }
}

pub async fn records_create_update_delete<F: StoreFactory>(f: &mut F) {
    let (mc, c) = clock();
    let s = f.open(c).await;
    let r = s
        .create_record("recall", "r1", &json!({"gtin": "1", "n": 1}))
        .await
        .expect("create");
    assert_eq!((r.version, r.body["n"].clone()), (1, json!(1)));
    assert_eq!(r.created_ms, r.updated_ms);
    match s.create_record("recall", "r1", &json!({})).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("r1"), "{m}"),
        other => panic!("second create must conflict, got {other:?}"),
    }
    // The same key under another kind is another record.
    s.create_record("count", "r1", &json!([]))
        .await
        .expect("other kind");
    mc.advance(5_000);
    let r2 = s
        .update_record("recall", "r1", 1, &json!({"n": 2}))
        .await
        .expect("update at the right version");
    assert_eq!(r2.version, 2);
    assert!(r2.updated_ms > r2.created_ms);
    match s.update_record("recall", "r1", 1, &json!({"n": 3})).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("version 2"), "{m}"),
        other => panic!("stale update must conflict, got {other:?}"),
    }
    match s.update_record("recall", "nope", 1, &json!({})).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("update of a missing record must be NotFound, got {other:?}"),
    }
    let got = s
        .get_record("recall", "r1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.body, json!({"n": 2}));
    assert!(s.get_record("recall", "r2").await.expect("get").is_none());
    assert!(s.delete_record("recall", "r1").await.expect("delete"));
    assert!(!s.delete_record("recall", "r1").await.expect("delete again"));
    assert!(s.get_record("recall", "r1").await.expect("get").is_none());
    assert!(s.get_record("count", "r1").await.expect("get").is_some());
    // Bad input is refused before the database.
    assert!(matches!(
        s.create_record("", "k", &json!(1)).await,
        Err(StoreError::InvalidInput(_))
    ));
    let big = "x".repeat(crate::limits::MAX_RECORD_BYTES + 1);
    assert!(matches!(
        s.create_record("recall", "big", &json!(big)).await,
        Err(StoreError::InvalidInput(_))
    ));
}

pub async fn records_listing_and_restart<F: StoreFactory>(f: &mut F) {
    let (_, c) = clock();
    let s = f.open(c.clone()).await;
    for k in ["b", "a", "d", "c"] {
        s.create_record("alert", k, &json!({ "k": k }))
            .await
            .expect("create");
    }
    s.create_record("other", "a0", &json!(0))
        .await
        .expect("create");
    let page = s.list_records("alert", None, 3).await.expect("list");
    let keys: Vec<_> = page.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    let page = s.list_records("alert", Some("c"), 3).await.expect("list");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].body, json!({"k": "d"}));
    assert!(matches!(
        s.list_records("alert", None, 0).await,
        Err(StoreError::InvalidInput(_))
    ));
    drop(s);
    let s = f.open(c).await;
    assert_eq!(
        s.list_records("alert", None, 100)
            .await
            .expect("list")
            .len(),
        4
    );
}

pub async fn record_items<F: StoreFactory>(f: &mut F) {
    let (_, c) = clock();
    let s = f.open(c).await;
    match s
        .put_record_items("receiving", "s1", &[item("x", json!(1))])
        .await
    {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("items of a missing record must be NotFound, got {other:?}"),
    }
    s.create_record("receiving", "s1", &json!({}))
        .await
        .expect("create");
    s.create_record("receiving", "s2", &json!({}))
        .await
        .expect("create");
    let many: Vec<RecordItem> = (0..2500)
        .map(|i| item(&format!("u{i:05}"), json!({ "i": i, "status": "expected" })))
        .collect();
    s.put_record_items("receiving", "s1", &many)
        .await
        .expect("put");
    s.put_record_items("receiving", "s2", &[item("u00001", json!("other"))])
        .await
        .expect("put");
    // Replace one.
    s.put_record_items(
        "receiving",
        "s1",
        &[item("u00007", json!({"status": "received"}))],
    )
    .await
    .expect("replace");
    let got = s
        .get_record_items(
            "receiving",
            "s1",
            &["u00007".into(), "zzz".into(), "u00001".into()],
        )
        .await
        .expect("get items");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].item, "u00001");
    assert_eq!(got[1].body, json!({"status": "received"}));
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s
            .list_record_items("receiving", "s1", after.as_deref(), 1000)
            .await
            .expect("list items");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|i| i.item.clone());
        all.extend(page);
    }
    assert_eq!(all.len(), 2500);
    assert!(all.windows(2).all(|w| w[0].item < w[1].item));
    // A repeated item in one call is refused and nothing of that call is written.
    let bad = [item("new1", json!(1)), item("new1", json!(2))];
    assert!(matches!(
        s.put_record_items("receiving", "s1", &bad).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(s
        .get_record_items("receiving", "s1", &["new1".into()])
        .await
        .expect("get")
        .is_empty());
    // Deleting the record deletes its items; the other record keeps its own.
    assert!(s.delete_record("receiving", "s1").await.expect("delete"));
    s.create_record("receiving", "s1", &json!({}))
        .await
        .expect("recreate");
    assert!(s
        .list_record_items("receiving", "s1", None, 10)
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        s.list_record_items("receiving", "s2", None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
}

pub async fn counters_never_overlap<F: StoreFactory>(f: &mut F) {
    let (_, c) = clock();
    let s: Arc<dyn Store> = f.open(c).await;
    assert_eq!(
        s.bump_counter("serial:0614141000012", 10)
            .await
            .expect("bump"),
        0
    );
    assert_eq!(
        s.bump_counter("serial:0614141000012", 5)
            .await
            .expect("bump"),
        10
    );
    assert_eq!(s.bump_counter("other", 1).await.expect("bump"), 0);
    assert!(matches!(
        s.bump_counter("other", 0).await,
        Err(StoreError::InvalidInput(_))
    ));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut starts = Vec::new();
            for _ in 0..20 {
                starts.push(s.bump_counter("race", 3).await.expect("bump"));
            }
            starts
        }));
    }
    let mut starts = BTreeSet::new();
    for t in tasks {
        for v in t.await.expect("task") {
            assert!(starts.insert(v), "range start {v} handed out twice");
        }
    }
    let expect: BTreeSet<i64> = (0..160).map(|i| i * 3).collect();
    assert_eq!(starts, expect);
}

pub async fn serial_claims_all_or_nothing<F: StoreFactory>(f: &mut F) {
    let (_, c) = clock();
    let s: Arc<dyn Store> = f.open(c).await;
    let g = "00614141000012";
    let a: Vec<String> = (0..100).map(|i| format!("A{i:03}")).collect();
    assert!(s
        .claim_serials(g, &a, "alloc-1")
        .await
        .expect("claim")
        .is_empty());
    // Overlapping claim: nothing of it is claimed, the taken ones are named.
    let b: Vec<String> = vec!["B1".into(), "A005".into(), "A050".into(), "B2".into()];
    let taken = s.claim_serials(g, &b, "alloc-2").await.expect("claim");
    assert_eq!(taken, ["A005", "A050"]);
    let claims = s
        .serial_claims(g, &["B1".into(), "A005".into(), "C".into()])
        .await
        .expect("claims");
    assert_eq!(claims, [("A005".to_string(), "alloc-1".to_string())]);
    // Another GTIN has its own serial space.
    assert!(s
        .claim_serials("00614141000029", &b, "alloc-3")
        .await
        .expect("claim")
        .is_empty());
    // A serial twice in one claim is bad input.
    assert!(matches!(
        s.claim_serials(g, &["X".into(), "X".into()], "alloc-4")
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    // Concurrent claims of overlapping sets: each serial goes to exactly one winner, and every
    // claim is whole or nothing.
    let mut tasks = Vec::new();
    for t in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mine: Vec<String> = (t * 10..t * 10 + 20).map(|i| format!("R{i:03}")).collect();
            let taken = s
                .claim_serials(g, &mine, &format!("race-{t}"))
                .await
                .expect("claim");
            (t, mine, taken.is_empty())
        }));
    }
    let mut owners = std::collections::BTreeMap::new();
    for t in tasks {
        let (t, mine, won) = t.await.expect("task");
        let claims = s.serial_claims(g, &mine).await.expect("claims");
        let by_me = claims
            .iter()
            .filter(|(_, a)| *a == format!("race-{t}"))
            .count();
        assert_eq!(by_me, if won { 20 } else { 0 }, "claim {t} was partial");
        for (serial, alloc) in claims {
            let prev = owners.insert(serial.clone(), alloc.clone());
            assert!(
                prev.is_none() || prev == Some(alloc),
                "{serial} has two owners"
            );
        }
    }
    assert!(!owners.is_empty());
}
