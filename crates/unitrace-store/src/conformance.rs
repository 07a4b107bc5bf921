//! The conformance suite: every backend must pass these. Each test is an async function taking a
//! [`StoreFactory`]; a backend instantiates the whole suite in one integration test binary with
//! [`conformance_suite!`](crate::conformance_suite).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use crate::query::PageCursor;
use crate::state::{replay, EventFacts, HistoryItem, RoleSet};
use crate::*;

#[path = "conformance_records.rs"]
mod records;
pub use records::*;

/// Creates the store of one test: empty at the first `open`, the same database at later calls
/// (a restart). Dropping the factory removes the database.
#[async_trait]
pub trait StoreFactory: Send {
    async fn open(&mut self, clock: Arc<dyn Clock>) -> Arc<dyn Store>;
    /// Inject a fault behind the store's back (after `open`): from now on the database refuses,
    /// with an error, every insert or update of the state of unit `epc` (e.g. by a trigger).
    async fn fail_unit_writes(&mut self, epc: &str);
}

/// Instantiate every conformance test with `$factory`, an expression of type
/// `Option<impl StoreFactory>` evaluated once per test (None: backend unavailable, test skipped).
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@tests $factory;
            capture_and_read_back,
            duplicate_by_hash,
            conflict_same_event_id,
            rollback_with_bad_event,
            proceed_with_bad_event,
            invalid_events_rejected,
            record_time_monotonic,
            record_time_monotonic_across_restart,
            concurrent_captures,
            concurrent_failures_stay_in_their_request,
            errors_after_writing_stay_in_their_request,
            state_commissioning_and_location,
            state_commissioning_known_units,
            state_aggregation_add_delete,
            state_aggregation_delete_all,
            state_late_event_reorders,
            state_late_empty_delete,
            state_persistent_dispositions_and_ilmd,
            state_of_many_units_in_one_event,
            class_stock_per_location,
            list_units_filters,
            master_data_roundtrip,
            event_locations_listed,
            query_type_and_times,
            query_vocabulary_fields,
            query_within_location_hierarchy,
            query_match_epcs,
            query_match_classes_and_quantity,
            query_transactions_sources_destinations,
            query_error_declaration,
            query_ilmd_and_sensors,
            query_fields,
            query_order_and_limits,
            query_rejects_bad_parameters,
            pagination_stable_while_capturing,
            page_token_checks,
            timeline_with_inference,
            event_heads_without_documents,
            containment_tree_up_and_down,
            genealogy_both_directions,
            current_location_through_containers,
            model_based_random_sequences,
            records_create_update_delete,
            records_listing_and_restart,
            record_items,
            counters_never_overlap,
            serial_claims_all_or_nothing,
        );
    };
    (@tests $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(mut factory) = $factory else { return };
                $crate::conformance::$name(&mut factory).await;
            }
        )*
    };
}

/// Base of test event times: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

fn clock() -> (Arc<ManualClock>, Arc<dyn Clock>) {
    let c = Arc::new(ManualClock::new(T0 + 1_000 * MIN));
    let d: Arc<dyn Clock> = c.clone();
    (c, d)
}

/// Hash ID of test event `n`.
pub fn hash(n: u32) -> String {
    format!("ni:///sha-256;{n:064x}?ver=CBV2.0")
}

/// An event of type `t`, number `n`, at `T0 + minutes`.
pub fn ev(n: u32, t: EventType, minutes: i64) -> CaptureEvent {
    let mut e = CaptureEvent::new(hash(n), t, T0 + minutes * MIN);
    e.document = json!({ "type": t.as_str(), "n": n });
    if t != EventType::TransformationEvent {
        e.action = Some(Action::Observe);
    }
    e
}

/// ObjectEvent `n` with an action and EPCs.
pub fn obj(n: u32, minutes: i64, action: Action, epcs: &[&str]) -> CaptureEvent {
    let mut e = ev(n, EventType::ObjectEvent, minutes);
    e.action = Some(action);
    e.epcs = epcs.iter().map(|s| (EpcRole::Epc, s.to_string())).collect();
    e
}

/// AggregationEvent `n`.
pub fn agg(n: u32, minutes: i64, action: Action, parent: &str, children: &[&str]) -> CaptureEvent {
    let mut e = ev(n, EventType::AggregationEvent, minutes);
    e.action = Some(action);
    e.epcs.push((EpcRole::ParentId, parent.to_string()));
    e.epcs
        .extend(children.iter().map(|s| (EpcRole::ChildEpc, s.to_string())));
    e
}

fn at(mut e: CaptureEvent, loc: &str) -> CaptureEvent {
    e.biz_location = Some(loc.to_string());
    e
}

fn epc(i: u32) -> String {
    format!("urn:epc:id:sgtin:0614141.107346.{i}")
}

const PALLET: &str = "urn:epc:id:sscc:0614141.1234567890";
const CASE: &str = "urn:epc:id:sscc:0614141.0000000001";

/// The first 1,000 stored events, in the default order (commit order).
async fn first_thousand_events(s: &Arc<dyn Store>) -> QueryPage {
    s.query_events(&EventQuery {
        per_page: Some(1000),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn must_capture(s: &Arc<dyn Store>, events: Vec<CaptureEvent>) -> CaptureReport {
    let n = events.len();
    let r = s
        .capture(events, CaptureMode::Rollback)
        .await
        .expect("capture");
    assert_eq!(r.outcomes.len(), n);
    assert!(
        r.first_failure().is_none(),
        "capture failed: {:?}",
        r.outcomes
    );
    r
}

async fn hashes(s: &Arc<dyn Store>, q: EventQuery) -> BTreeSet<String> {
    let page = s
        .query_events(&q)
        .await
        .unwrap_or_else(|e| panic!("query {q:?}: {e}"));
    page.events.into_iter().map(|e| e.hash_id).collect()
}

fn set(ns: &[u32]) -> BTreeSet<String> {
    ns.iter().map(|n| hash(*n)).collect()
}

async fn state(s: &Arc<dyn Store>, e: &str) -> UnitState {
    s.unit_state(e)
        .await
        .expect("unit_state")
        .unwrap_or_else(|| panic!("no state for {e}"))
}

pub async fn capture_and_read_back<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut e = at(
        obj(1, 0, Action::Add, &[&epc(1), &epc(2)]),
        "urn:epc:id:sgln:0614141.00001.0",
    );
    e.event_id = Some("urn:uuid:11111111-1111-4111-8111-111111111111".into());
    e.document = json!({"type": "ObjectEvent", "eventID": "urn:uuid:11111111-1111-4111-8111-111111111111", "z": [1, 2.5, "x"], "a": null});
    let doc = e.document.clone();
    let r = must_capture(&s, vec![e]).await;
    assert_eq!(
        r.outcomes,
        vec![CaptureOutcome::Stored {
            record_time: T0 + 1_000 * MIN
        }]
    );
    let got = s
        .event_by_hash(&hash(1))
        .await
        .unwrap()
        .expect("stored event");
    assert_eq!(got.document, doc, "document returned as stored");
    assert_eq!(got.event_type, EventType::ObjectEvent);
    assert_eq!(got.event_time, T0);
    assert_eq!(got.record_time, T0 + 1_000 * MIN);
    assert_eq!(
        got.event_id.as_deref(),
        Some("urn:uuid:11111111-1111-4111-8111-111111111111")
    );
    let page = s.query_events(&EventQuery::default()).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0], got);
    assert!(page.next_page_token.is_none());
    assert!(s.event_by_hash(&hash(2)).await.unwrap().is_none());
    let empty = s.capture(Vec::new(), CaptureMode::Rollback).await.unwrap();
    assert!(empty.outcomes.is_empty());
}

pub async fn duplicate_by_hash<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    must_capture(&s, vec![obj(1, 0, Action::Add, &[&epc(1)])]).await;
    let r = s
        .capture(
            vec![
                obj(1, 0, Action::Add, &[&epc(1)]),
                obj(2, 1, Action::Observe, &[&epc(1)]),
            ],
            CaptureMode::Rollback,
        )
        .await
        .unwrap();
    assert_eq!(r.outcomes[0], CaptureOutcome::Duplicate);
    assert!(matches!(r.outcomes[1], CaptureOutcome::Stored { .. }));
    // The same hash twice in one document: stored once.
    let r = s
        .capture(
            vec![
                obj(3, 2, Action::Observe, &[&epc(1)]),
                obj(3, 2, Action::Observe, &[&epc(1)]),
            ],
            CaptureMode::Proceed,
        )
        .await
        .unwrap();
    assert!(matches!(r.outcomes[0], CaptureOutcome::Stored { .. }));
    assert_eq!(r.outcomes[1], CaptureOutcome::Duplicate);
    // A commissioning of several units, again in the same request, then a new one: the
    // duplicate writes nothing, and what follows it is stored.
    let many = obj(4, 3, Action::Add, &[&epc(10), &epc(11), &epc(12)]);
    let r = s
        .capture(
            vec![
                many.clone(),
                many,
                obj(5, 4, Action::Add, &[&epc(13), &epc(14)]),
            ],
            CaptureMode::Rollback,
        )
        .await
        .unwrap();
    assert!(matches!(r.outcomes[0], CaptureOutcome::Stored { .. }));
    assert_eq!(r.outcomes[1], CaptureOutcome::Duplicate);
    assert!(matches!(r.outcomes[2], CaptureOutcome::Stored { .. }));
    for e in [epc(10), epc(11), epc(12), epc(13), epc(14)] {
        assert_eq!(
            state(&s, &e).await.last_event_time,
            T0 + MIN * if e == epc(13) || e == epc(14) { 4 } else { 3 }
        );
    }
    let all = s.query_events(&EventQuery::default()).await.unwrap();
    assert_eq!(all.events.len(), 5);
}

pub async fn conflict_same_event_id<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut a = obj(1, 0, Action::Add, &[&epc(1)]);
    a.event_id = Some("urn:uuid:a".into());
    must_capture(&s, vec![a]).await;
    let mut b = obj(2, 0, Action::Add, &[&epc(2)]);
    b.event_id = Some("urn:uuid:a".into());
    let r = s
        .capture(vec![b.clone()], CaptureMode::Proceed)
        .await
        .unwrap();
    assert_eq!(
        r.outcomes,
        vec![CaptureOutcome::Conflict {
            event_id: "urn:uuid:a".into(),
            stored_hash_id: hash(1)
        }]
    );
    // In rollback mode the conflict rejects the whole document.
    let r = s
        .capture(
            vec![obj(3, 1, Action::Add, &[&epc(3)]), b],
            CaptureMode::Rollback,
        )
        .await
        .unwrap();
    assert_eq!(r.outcomes[0], CaptureOutcome::RolledBack);
    assert!(matches!(r.outcomes[1], CaptureOutcome::Conflict { .. }));
    assert!(s.event_by_hash(&hash(3)).await.unwrap().is_none());
    assert!(s.unit_state(&epc(3)).await.unwrap().is_none());
    assert!(s.unit_state(&epc(2)).await.unwrap().is_none());
    // A conflicting commissioning of several new units leaves none of them, and what follows
    // it in the same request is stored.
    let mut c = obj(4, 2, Action::Add, &[&epc(4), &epc(5)]);
    c.event_id = Some("urn:uuid:a".into());
    let r = s
        .capture(
            vec![c, obj(5, 3, Action::Add, &[&epc(6), &epc(7)])],
            CaptureMode::Proceed,
        )
        .await
        .unwrap();
    assert!(matches!(r.outcomes[0], CaptureOutcome::Conflict { .. }));
    assert!(matches!(r.outcomes[1], CaptureOutcome::Stored { .. }));
    assert!(s.event_by_hash(&hash(4)).await.unwrap().is_none());
    for e in [epc(4), epc(5)] {
        assert!(s.unit_state(&e).await.unwrap().is_none());
    }
    for e in [epc(6), epc(7)] {
        assert_eq!(state(&s, &e).await.last_event_time, T0 + 3 * MIN);
    }
}

fn bad_event(n: u32) -> CaptureEvent {
    // An ObjectEvent without an action.
    let mut e = obj(n, 5, Action::Add, &[&epc(99)]);
    e.action = None;
    e
}

pub async fn rollback_with_bad_event<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let r = s
        .capture(
            vec![
                obj(1, 0, Action::Add, &[&epc(1)]),
                bad_event(2),
                obj(3, 1, Action::Add, &[&epc(3)]),
            ],
            CaptureMode::Rollback,
        )
        .await
        .unwrap();
    assert_eq!(r.outcomes[0], CaptureOutcome::RolledBack);
    match &r.outcomes[1] {
        CaptureOutcome::Invalid(why) => {
            assert!(why.contains("action"), "reason names the problem: {why}")
        }
        o => panic!("expected Invalid, got {o:?}"),
    }
    assert_eq!(r.outcomes[2], CaptureOutcome::RolledBack);
    assert_eq!(r.first_failure().map(|(i, _)| i), Some(1));
    assert_eq!(r.stored(), 0);
    assert!(s
        .query_events(&EventQuery::default())
        .await
        .unwrap()
        .events
        .is_empty());
    assert!(s.unit_state(&epc(1)).await.unwrap().is_none());
}

pub async fn proceed_with_bad_event<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let r = s
        .capture(
            vec![
                obj(1, 0, Action::Add, &[&epc(1)]),
                bad_event(2),
                obj(3, 1, Action::Add, &[&epc(3)]),
            ],
            CaptureMode::Proceed,
        )
        .await
        .unwrap();
    assert!(matches!(r.outcomes[0], CaptureOutcome::Stored { .. }));
    assert!(matches!(r.outcomes[1], CaptureOutcome::Invalid(_)));
    assert!(matches!(r.outcomes[2], CaptureOutcome::Stored { .. }));
    assert_eq!(r.stored(), 2);
    assert_eq!(hashes(&s, EventQuery::default()).await, set(&[1, 3]));
    assert!(s.unit_state(&epc(3)).await.unwrap().is_some());
    assert!(s.unit_state(&epc(99)).await.unwrap().is_none());
}

pub async fn invalid_events_rejected<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut cases: Vec<(CaptureEvent, &str)> = Vec::new();
    let mut e = obj(1, 0, Action::Add, &[&epc(1)]);
    e.hash_id = "sha-256:abc".into();
    cases.push((e, "ni:///"));
    let mut e = ev(2, EventType::TransformationEvent, 0);
    e.action = Some(Action::Add);
    cases.push((e, "no action"));
    let mut e = agg(3, 0, Action::Add, PALLET, &[&epc(1)]);
    e.epcs.remove(0);
    cases.push((e, "parentID"));
    cases.push((obj(4, 0, Action::Add, &[&epc(1), &epc(1)]), "twice"));
    let mut e = obj(5, 0, Action::Add, &[&epc(1)]);
    e.event_time = i64::MAX;
    cases.push((e, "eventTime"));
    let mut e = obj(6, 0, Action::Add, &[&epc(1)]);
    e.event_time_zone_offset = "+25:00".into();
    cases.push((e, "eventTimeZoneOffset"));
    let mut e = obj(7, 0, Action::Add, &[&epc(1)]);
    e.epcs.push((EpcRole::ChildEpc, epc(2)));
    cases.push((e, "role"));
    let mut e = obj(8, 0, Action::Add, &[&epc(1)]);
    e.quantities.push(QuantityRow {
        role: QuantityRole::Quantity,
        epc_class: "urn:epc:class:lgtin:0614141.107346.L1".into(),
        quantity: Some(f64::NAN),
        uom: None,
    });
    cases.push((e, "finite"));
    let mut e = obj(9, 0, Action::Add, &[&epc(1)]);
    e.document = json!([1, 2]);
    cases.push((e, "document"));
    let mut e = obj(10, 0, Action::Add, &[""]);
    e.epcs[0].1 = String::new();
    cases.push((e, "empty"));
    let mut e = obj(11, 0, Action::Add, &[&epc(1)]);
    e.biz_location = Some("x".repeat(limits::MAX_ID_LEN + 1));
    cases.push((e, "longer"));
    // No backend keeps a NUL in text (PostgreSQL refuses it): refused before anything is written.
    let mut e = obj(12, 0, Action::Add, &[&epc(1)]);
    e.fields.push(EventField {
        scope: FieldScope::Event,
        inner: false,
        name: "https://ns.example.com/note".into(),
        text: Some("a\0b".into()),
        number: None,
    });
    cases.push((e, "NUL"));
    let mut e = obj(13, 0, Action::Add, &[&epc(1)]);
    e.biz_transactions.push((
        "po\0".into(),
        "urn:epcglobal:cbv:bt:0614141073467:1152".into(),
    ));
    cases.push((e, "control character"));
    for (e, needle) in cases {
        let r = s.capture(vec![e], CaptureMode::Proceed).await.unwrap();
        match &r.outcomes[0] {
            CaptureOutcome::Invalid(why) => {
                assert!(why.contains(needle), "{why:?} should mention {needle:?}")
            }
            o => panic!("expected Invalid mentioning {needle:?}, got {o:?}"),
        }
    }
    assert!(s
        .query_events(&EventQuery::default())
        .await
        .unwrap()
        .events
        .is_empty());
    // A request over the size limit is refused as a whole.
    let many: Vec<CaptureEvent> = (0..=limits::MAX_EVENTS_PER_CAPTURE as u32)
        .map(|i| obj(i, 0, Action::Observe, &[]))
        .collect();
    assert!(matches!(
        s.capture(many, CaptureMode::Proceed).await,
        Err(StoreError::InvalidInput(_))
    ));
}

pub async fn record_time_monotonic<F: StoreFactory>(f: &mut F) {
    let (c, clk) = clock();
    let s = f.open(clk).await;
    let r1 = must_capture(&s, vec![obj(1, 0, Action::Add, &[&epc(1)])]).await;
    c.advance(-10 * MIN); // the clock steps back
    let r2 = must_capture(&s, vec![obj(2, 1, Action::Observe, &[&epc(1)])]).await;
    let r3 = must_capture(&s, vec![obj(3, 2, Action::Observe, &[&epc(1)])]).await;
    c.advance(100 * MIN);
    let r4 = must_capture(&s, vec![obj(4, 3, Action::Observe, &[&epc(1)])]).await;
    let times: Vec<i64> = [r1, r2, r3, r4]
        .iter()
        .map(|r| match r.outcomes[0] {
            CaptureOutcome::Stored { record_time } => record_time,
            ref o => panic!("{o:?}"),
        })
        .collect();
    assert_eq!(times[0], T0 + 1_000 * MIN);
    assert!(
        times[1] > times[0] && times[2] > times[1],
        "never backwards: {times:?}"
    );
    assert_eq!(times[3], T0 + 1_090 * MIN);
    let stored: Vec<i64> = s
        .query_events(&EventQuery::default())
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.record_time)
        .collect();
    assert_eq!(stored, times);
}

pub async fn record_time_monotonic_across_restart<F: StoreFactory>(f: &mut F) {
    let (c, clk) = clock();
    let s = f.open(clk.clone()).await;
    let r1 = must_capture(&s, vec![obj(1, 0, Action::Add, &[&epc(1)])]).await;
    drop(s);
    c.advance(-60 * MIN);
    let s = f.open(clk).await;
    let r2 = must_capture(&s, vec![obj(2, 1, Action::Observe, &[&epc(1)])]).await;
    let (CaptureOutcome::Stored { record_time: a }, CaptureOutcome::Stored { record_time: b }) =
        (&r1.outcomes[0], &r2.outcomes[0])
    else {
        panic!("not stored")
    };
    assert_eq!(
        *b,
        a + 1,
        "after a restart with the clock behind, recordTime is last + 1 ms"
    );
    assert_eq!(
        state(&s, &epc(1)).await.last_event_time,
        T0 + MIN,
        "data survives the restart"
    );
}

pub async fn concurrent_captures<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut tasks = Vec::new();
    for t in 0..16u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..5u32 {
                let n = t * 100 + k;
                let events = vec![obj(n, i64::from(k), Action::Add, &[&epc(n)])];
                let r = s
                    .capture(events, CaptureMode::Rollback)
                    .await
                    .expect("capture");
                assert!(matches!(r.outcomes[0], CaptureOutcome::Stored { .. }));
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let page = first_thousand_events(&s).await;
    assert_eq!(page.events.len(), 80);
    let mut last = (i64::MIN, i64::MIN);
    for e in &page.events {
        assert!(
            (e.record_time, e.seq) > last,
            "default order is commit order; recordTime never goes back"
        );
        last = (e.record_time, e.seq);
    }
    assert_eq!(
        s.list_units(&UnitFilter::default()).await.unwrap().len(),
        80
    );
}

/// Requests that fail (rollback mode: an event stored, then a conflicting one) among requests
/// that succeed, concurrently, so that they share group commits: each failing request leaves
/// nothing behind, and every other request of its group is stored whole.
/// After the requests n = 1000 + 100 t + k (t < 12, k < 4) of the two tests below: event n and
/// its unit are stored whole unless `fails(n)`, then absent; event and unit n + 50,000 (the
/// failing part) are absent. Returns how many requests were stored.
async fn requests_whole_or_absent(s: &Arc<dyn Store>, fails: impl Fn(u32) -> bool) -> usize {
    let mut stored = 0;
    for t in 0..12u32 {
        for k in 0..4u32 {
            let n = 1000 + t * 100 + k;
            let event = s.event_by_hash(&hash(n)).await.unwrap();
            let unit = s.unit_state(&epc(n)).await.unwrap();
            if fails(n) {
                assert!(event.is_none(), "event {n} of a failed request was kept");
                assert!(unit.is_none(), "unit of failed request {n} was kept");
            } else {
                assert!(event.is_some(), "event {n} lost");
                assert_eq!(unit.expect("unit").last_event_seq, event.unwrap().seq);
                stored += 1;
            }
            assert!(s.event_by_hash(&hash(n + 50_000)).await.unwrap().is_none());
            assert!(s.unit_state(&epc(n + 50_000)).await.unwrap().is_none());
        }
    }
    stored
}

pub async fn concurrent_failures_stay_in_their_request<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut taken = obj(1, 0, Action::Add, &[&epc(1)]);
    taken.event_id = Some("urn:uuid:taken".into());
    must_capture(&s, vec![taken]).await;
    let fails = |n: u32| n.is_multiple_of(3);
    let mut tasks = Vec::new();
    for t in 0..12u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..4u32 {
                let n = 1000 + t * 100 + k;
                let mut events = vec![obj(n, i64::from(k), Action::Add, &[&epc(n)])];
                if fails(n) {
                    let mut c = obj(n + 50_000, i64::from(k), Action::Add, &[&epc(n + 50_000)]);
                    c.event_id = Some("urn:uuid:taken".into());
                    events.push(c);
                }
                let r = s
                    .capture(events, CaptureMode::Rollback)
                    .await
                    .expect("capture");
                if fails(n) {
                    assert_eq!(r.outcomes[0], CaptureOutcome::RolledBack, "request {n}");
                    assert!(
                        matches!(r.outcomes[1], CaptureOutcome::Conflict { .. }),
                        "request {n}: {:?}",
                        r.outcomes[1]
                    );
                } else {
                    assert!(
                        matches!(r.outcomes[0], CaptureOutcome::Stored { .. }),
                        "request {n}: {:?}",
                        r.outcomes[0]
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let stored = 1 + requests_whole_or_absent(&s, fails).await;
    let page = first_thousand_events(&s).await;
    assert_eq!(page.events.len(), stored);
}

/// Requests that fail with an error after their event is written (the database refuses the
/// state of one unit) among concurrent succeeding requests and master-data writes, which share
/// their group commits: each failing request gets the error and leaves nothing; its neighbours
/// are stored whole.
pub async fn errors_after_writing_stay_in_their_request<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let refused = epc(999_999);
    f.fail_unit_writes(&refused).await;
    // n % 5 is the request's index k in its task: k = 1 (proceed mode) and k = 2 (rollback).
    let fails = |n: u32| n % 5 == 1 || n % 5 == 2;
    let mut tasks = Vec::new();
    for t in 0..12u32 {
        let s = s.clone();
        let refused = refused.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..4u32 {
                let n = 1000 + t * 100 + k;
                if t % 4 == 3 {
                    // Master data in the same group commits as the captures.
                    let loc = Location {
                        id: format!("urn:epc:id:sgln:0614141.00001.{n}"),
                        name: Some(format!("shelf {n}")),
                        parent_id: None,
                        latitude: None,
                        longitude: None,
                        attributes: json!({}),
                    };
                    s.upsert_location(&loc).await.expect("location");
                }
                let mode = if k % 2 == 0 {
                    CaptureMode::Rollback
                } else {
                    CaptureMode::Proceed
                };
                let events = match (fails(n), mode) {
                    (false, _) => vec![obj(n, i64::from(k), Action::Add, &[&epc(n)])],
                    // One event, which fails after it is written.
                    (true, CaptureMode::Rollback) => {
                        vec![obj(n, i64::from(k), Action::Add, &[&epc(n), &refused])]
                    }
                    // An event stored, then one that fails after it is written.
                    (true, CaptureMode::Proceed) => vec![
                        obj(n, i64::from(k), Action::Add, &[&epc(n)]),
                        obj(
                            n + 50_000,
                            i64::from(k),
                            Action::Observe,
                            &[&epc(n + 50_000), &refused],
                        ),
                    ],
                };
                let r = s.capture(events, mode).await;
                if fails(n) {
                    assert!(r.is_err(), "request {n} answered {r:?}");
                } else {
                    let r = r.expect("capture");
                    assert!(
                        matches!(r.outcomes[0], CaptureOutcome::Stored { .. }),
                        "request {n}: {:?}",
                        r.outcomes[0]
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let stored = requests_whole_or_absent(&s, fails).await;
    for t in (3..12u32).step_by(4) {
        for k in 0..4u32 {
            let id = format!("urn:epc:id:sgln:0614141.00001.{}", 1000 + t * 100 + k);
            assert!(
                s.get_location(&id).await.unwrap().is_some(),
                "location {id} lost"
            );
        }
    }
    assert!(s.unit_state(&refused).await.unwrap().is_none());
    let page = first_thousand_events(&s).await;
    assert_eq!(page.events.len(), stored);
}

pub async fn state_commissioning_and_location<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut a = at(
        obj(1, 0, Action::Add, &[&epc(1)]),
        "urn:epc:id:sgln:0614141.00001.0",
    );
    a.biz_step = Some("https://ref.gs1.org/cbv/BizStep-encoding".into());
    let mut b = at(
        obj(2, 10, Action::Add, &[&epc(1)]),
        "urn:epc:id:sgln:0614141.00002.0",
    );
    b.biz_step = Some("https://ref.gs1.org/cbv/BizStep-commissioning".into());
    b.disposition = Some("https://ref.gs1.org/cbv/Disp-active".into());
    b.read_point = Some("urn:epc:id:sgln:0614141.00002.7".into());
    let mut c = at(
        obj(3, 20, Action::Observe, &[&epc(1)]),
        "urn:epc:id:sgln:0614141.00003.0",
    );
    c.biz_step = Some("https://ref.gs1.org/cbv/BizStep-shipping".into());
    must_capture(&s, vec![a, b, c]).await;
    let st = state(&s, &epc(1)).await;
    assert_eq!(
        st.commissioned_at,
        Some(T0 + 10 * MIN),
        "commissioning ADD wins over an earlier plain ADD"
    );
    assert_eq!(
        st.commissioned_where.as_deref(),
        Some("urn:epc:id:sgln:0614141.00002.0")
    );
    assert_eq!(st.last_event_time, T0 + 20 * MIN);
    assert_eq!(
        st.biz_location.as_deref(),
        Some("urn:epc:id:sgln:0614141.00003.0")
    );
    assert_eq!(
        st.read_point.as_deref(),
        Some("urn:epc:id:sgln:0614141.00002.7"),
        "kept when a later event has none"
    );
    assert_eq!(
        st.disposition.as_deref(),
        Some("https://ref.gs1.org/cbv/Disp-active")
    );
    assert_eq!(st.parent, None);
    // A unit only ever observed has no commissioning.
    must_capture(&s, vec![obj(4, 30, Action::Observe, &[&epc(2)])]).await;
    let st2 = state(&s, &epc(2)).await;
    assert_eq!(st2.commissioned_at, None);
    assert!(s.unit_state(&epc(3)).await.unwrap().is_none());
}

/// ObjectEvent ADD naming units already stored (with new ones; late and in order; one EPC and
/// many): a backend may write presumed-new units without reading them first, but the states
/// must be exactly those of reading and updating.
pub async fn state_commissioning_known_units<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let (a, b, c, d) = (epc(1), epc(2), epc(3), epc(4));
    must_capture(&s, vec![at(obj(1, 10, Action::Add, &[&a]), "L1")]).await;
    must_capture(&s, vec![at(obj(2, 20, Action::Observe, &[&a]), "L2")]).await;
    // Late, and A is known (after B in the event: B goes in first and must be taken back).
    must_capture(&s, vec![at(obj(3, 5, Action::Add, &[&b, &a, &c]), "L3")]).await;
    // In order, C is known.
    must_capture(&s, vec![at(obj(4, 30, Action::Add, &[&c, &d]), "L4")]).await;
    // One EPC, known.
    must_capture(&s, vec![at(obj(5, 40, Action::Add, &[&d]), "L5")]).await;
    let want = [
        (&a, "L2", 20),
        (&b, "L3", 5),
        (&c, "L4", 30),
        (&d, "L5", 40),
    ];
    for (unit, loc, minutes) in want {
        let st = state(&s, unit).await;
        assert_eq!(st.biz_location.as_deref(), Some(loc), "{unit}");
        assert_eq!(st.last_event_time, T0 + minutes * MIN, "{unit}");
        let history = s.unit_history(unit).await.unwrap();
        assert_eq!(
            Some(st),
            replay(unit, history),
            "{unit}: state is not its replay"
        );
    }
    let units = s.list_units(&UnitFilter::default()).await.unwrap();
    assert_eq!(units.len(), 4, "{units:?}");
    assert_eq!(first_thousand_events(&s).await.events.len(), 5);
    // Many commissioning events in one transaction (a backend may cap its presumed-new writes
    // per transaction), the last one naming a known unit.
    let mut events: Vec<CaptureEvent> = (0..40u32)
        .map(|i| {
            let units = [epc(100 + 3 * i), epc(101 + 3 * i), epc(102 + 3 * i)];
            obj(
                10 + i,
                50 + i64::from(i),
                Action::Add,
                &[&units[0], &units[1], &units[2]],
            )
        })
        .collect();
    events.push(obj(50, 100, Action::Add, &[&epc(500), &a]));
    let r = must_capture(&s, events).await;
    for i in 0..40u32 {
        for u in 100 + 3 * i..103 + 3 * i {
            let st = state(&s, &epc(u)).await;
            assert_eq!(
                st.last_event_time,
                T0 + (50 + i64::from(i)) * MIN,
                "unit {u}"
            );
        }
    }
    assert_eq!(r.outcomes.len(), 41);
    assert_eq!(state(&s, &a).await.last_event_time, T0 + 100 * MIN);
    assert_eq!(state(&s, &epc(500)).await.last_event_time, T0 + 100 * MIN);
    let units = s.list_units(&UnitFilter::default()).await.unwrap();
    assert_eq!(units.len(), 4 + 120 + 1);
}

pub async fn state_aggregation_add_delete<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    must_capture(
        &s,
        vec![
            agg(1, 0, Action::Add, CASE, &[&epc(1), &epc(2), &epc(3)]),
            agg(2, 1, Action::Add, PALLET, &[CASE]),
        ],
    )
    .await;
    assert_eq!(state(&s, &epc(1)).await.parent.as_deref(), Some(CASE));
    assert_eq!(state(&s, CASE).await.parent.as_deref(), Some(PALLET));
    assert_eq!(
        s.children(CASE).await.unwrap(),
        vec![epc(1), epc(2), epc(3)]
    );
    must_capture(&s, vec![agg(3, 2, Action::Delete, CASE, &[&epc(2)])]).await;
    assert_eq!(state(&s, &epc(2)).await.parent, None);
    assert_eq!(s.children(CASE).await.unwrap(), vec![epc(1), epc(3)]);
    // Moving to another parent without a DELETE.
    must_capture(&s, vec![agg(4, 3, Action::Add, PALLET, &[&epc(3)])]).await;
    assert_eq!(state(&s, &epc(3)).await.parent.as_deref(), Some(PALLET));
    assert_eq!(s.children(CASE).await.unwrap(), vec![epc(1)]);
    assert_eq!(
        s.children(PALLET).await.unwrap(),
        vec![epc(3), CASE.to_string()],
        "sorted by EPC"
    );
}

pub async fn state_aggregation_delete_all<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    must_capture(&s, vec![agg(1, 0, Action::Add, CASE, &[&epc(1), &epc(2)])]).await;
    must_capture(&s, vec![agg(2, 5, Action::Delete, CASE, &[])]).await;
    assert!(s.children(CASE).await.unwrap().is_empty());
    assert_eq!(state(&s, &epc(1)).await.parent, None);
    // Re-packed after the emptying: stays packed.
    must_capture(&s, vec![agg(3, 6, Action::Add, CASE, &[&epc(1)])]).await;
    assert_eq!(state(&s, &epc(1)).await.parent.as_deref(), Some(CASE));
    // A later event of epc(1) replays its history, emptying included.
    must_capture(&s, vec![obj(4, 2, Action::Observe, &[&epc(1)])]).await;
    assert_eq!(state(&s, &epc(1)).await.parent.as_deref(), Some(CASE));
    must_capture(&s, vec![obj(5, 3, Action::Observe, &[&epc(2)])]).await;
    assert_eq!(
        state(&s, &epc(2)).await.parent,
        None,
        "late event replay keeps the emptying"
    );
}

pub async fn state_late_event_reorders<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let l1 = "urn:epc:id:sgln:0614141.00001.0";
    let l2 = "urn:epc:id:sgln:0614141.00002.0";
    let l3 = "urn:epc:id:sgln:0614141.00003.0";
    must_capture(
        &s,
        vec![
            at(obj(1, 0, Action::Add, &[&epc(1)]), l1),
            at(obj(2, 20, Action::Observe, &[&epc(1)]), l2),
        ],
    )
    .await;
    // Arrives last, happened in between: does not change the current location.
    must_capture(&s, vec![at(obj(3, 10, Action::Observe, &[&epc(1)]), l3)]).await;
    let st = state(&s, &epc(1)).await;
    assert_eq!(st.biz_location.as_deref(), Some(l2));
    assert_eq!(st.last_event_time, T0 + 20 * MIN);
    // Late aggregation, then a late DELETE that happened after it but before now: no parent.
    must_capture(&s, vec![agg(4, 15, Action::Add, CASE, &[&epc(1)])]).await;
    assert_eq!(state(&s, &epc(1)).await.parent.as_deref(), Some(CASE));
    must_capture(&s, vec![agg(5, 30, Action::Delete, CASE, &[&epc(1)])]).await;
    must_capture(&s, vec![agg(6, 5, Action::Add, PALLET, &[&epc(1)])]).await;
    let st = state(&s, &epc(1)).await;
    assert_eq!(
        st.parent, None,
        "the DELETE at +30 is the latest containment event"
    );
    // A late commissioning event becomes the commissioning.
    let mut c = at(obj(7, -5, Action::Add, &[&epc(1)]), l3);
    c.biz_step = Some("https://ref.gs1.org/cbv/BizStep-commissioning".into());
    must_capture(&s, vec![c]).await;
    let st = state(&s, &epc(1)).await;
    assert_eq!(st.commissioned_at, Some(T0 - 5 * MIN));
    assert_eq!(st.commissioned_where.as_deref(), Some(l3));
    assert_eq!(st.biz_location.as_deref(), Some(l2));
}

pub async fn state_late_empty_delete<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    must_capture(
        &s,
        vec![
            agg(1, 0, Action::Add, CASE, &[&epc(1), &epc(2)]),
            agg(2, 20, Action::Add, CASE, &[&epc(3)]),
        ],
    )
    .await;
    must_capture(&s, vec![obj(3, 30, Action::Observe, &[&epc(1)])]).await;
    // An emptying at +10 arrives late: units packed before it leave, epc(3) packed after it stays.
    must_capture(&s, vec![agg(4, 10, Action::Delete, CASE, &[])]).await;
    assert_eq!(state(&s, &epc(1)).await.parent, None);
    assert_eq!(state(&s, &epc(2)).await.parent, None);
    assert_eq!(state(&s, &epc(3)).await.parent.as_deref(), Some(CASE));
    assert_eq!(s.children(CASE).await.unwrap(), vec![epc(3)]);
    // Packing at +5 arrives after the emptying at +10 was stored: still emptied.
    must_capture(&s, vec![agg(5, 5, Action::Add, CASE, &[&epc(2)])]).await;
    assert_eq!(state(&s, &epc(2)).await.parent, None);
    assert_eq!(state(&s, &epc(2)).await.last_event_time, T0 + 5 * MIN);
}

/// Many units of one event are written in bulk (new units, and known ones that changed): their
/// states equal those of units written one by one, whatever characters their values hold.
pub async fn state_of_many_units_in_one_event<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let lot = "L\\1 \"x\" \u{e9}\\N,{}\\t";
    let many = [epc(1), epc(2), epc(3)];
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut a = at(
        obj(1, 0, Action::Add, &many_refs),
        "urn:epc:id:sgln:0614141.00001.0",
    );
    let mut single = at(
        obj(2, 0, Action::Add, &[&epc(9)]),
        "urn:epc:id:sgln:0614141.00001.0",
    );
    for e in [&mut a, &mut single] {
        e.ilmd_lot = Some(lot.into());
        e.ilmd_expiry = Some("2027-01-31".into());
        e.read_point = Some("urn:epc:id:sgln:0614141.00001.7".into());
        e.disposition = Some("active".into());
        e.persistent_disposition_set = vec!["a\\b".into()];
    }
    must_capture(&s, vec![a, single]).await;
    let one = state(&s, &epc(9)).await;
    assert_eq!(one.lot.as_deref(), Some(lot));
    for u in &many {
        let st = state(&s, u).await;
        assert_eq!(st.epc, *u);
        assert_eq!(st.lot, one.lot, "{u}");
        assert_eq!(
            st.persistent_dispositions, one.persistent_dispositions,
            "{u}"
        );
        assert_eq!(
            (
                st.commissioned_at,
                &st.commissioned_where,
                st.commissioned_by_step
            ),
            (
                one.commissioned_at,
                &one.commissioned_where,
                one.commissioned_by_step
            ),
            "{u}"
        );
        assert_eq!(
            (
                &st.biz_location,
                &st.read_point,
                &st.disposition,
                &st.expiry,
                st.location_time
            ),
            (
                &one.biz_location,
                &one.read_point,
                &one.disposition,
                &one.expiry,
                one.location_time
            ),
            "{u}"
        );
        assert_eq!((&st.parent, st.parent_since), (&None, None), "{u}");
        assert_eq!(st.last_event_time, T0, "{u}");
    }
    // Two known units and a new one, moved together: the known ones change, the new one is
    // created by the observation, the third known one keeps its state.
    let mv = at(
        obj(3, 10, Action::Observe, &[&epc(1), &epc(2), &epc(4)]),
        "urn:epc:id:sgln:0614141.00002.0",
    );
    must_capture(&s, vec![mv]).await;
    for u in [epc(1), epc(2), epc(4)] {
        let st = state(&s, &u).await;
        assert_eq!(
            st.biz_location.as_deref(),
            Some("urn:epc:id:sgln:0614141.00002.0"),
            "{u}"
        );
        assert_eq!(st.last_event_time, T0 + 10 * MIN, "{u}");
    }
    assert_eq!(state(&s, &epc(1)).await.lot.as_deref(), Some(lot));
    assert_eq!(state(&s, &epc(4)).await.lot, None);
    let third = state(&s, &epc(3)).await;
    assert_eq!(
        third.biz_location.as_deref(),
        Some("urn:epc:id:sgln:0614141.00001.0")
    );
    assert_eq!(third.last_event_time, T0);
}

pub async fn state_persistent_dispositions_and_ilmd<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut a = obj(1, 0, Action::Add, &[&epc(1)]);
    a.ilmd_lot = Some("LOT-7".into());
    a.ilmd_expiry = Some("2026-12-31".into());
    a.persistent_disposition_set = vec!["completeness_inferred".into(), "a_hold".into()];
    let mut b = obj(2, 1, Action::Observe, &[&epc(1)]);
    b.persistent_disposition_unset = vec!["a_hold".into()];
    b.persistent_disposition_set = vec!["z_recalled".into()];
    let mut c = ev(3, EventType::TransformationEvent, 2);
    c.epcs = vec![(EpcRole::InputEpc, epc(1)), (EpcRole::OutputEpc, epc(2))];
    c.ilmd_lot = Some("LOT-8".into());
    c.biz_location = Some("urn:epc:id:sgln:0614141.00009.0".into());
    must_capture(&s, vec![a, b, c]).await;
    let st = state(&s, &epc(1)).await;
    assert_eq!(
        st.persistent_dispositions,
        vec![
            "completeness_inferred".to_string(),
            "z_recalled".to_string()
        ]
    );
    assert_eq!(
        st.lot.as_deref(),
        Some("LOT-7"),
        "ILMD of a transformation belongs to its outputs"
    );
    assert_eq!(st.expiry.as_deref(), Some("2026-12-31"));
    let out = state(&s, &epc(2)).await;
    assert_eq!(out.lot.as_deref(), Some("LOT-8"));
    assert_eq!(
        out.commissioned_at,
        Some(T0 + 2 * MIN),
        "a transformation output is created by it"
    );
    assert_eq!(
        out.commissioned_where.as_deref(),
        Some("urn:epc:id:sgln:0614141.00009.0")
    );
}

fn qty(role: QuantityRole, class: &str, q: f64, uom: Option<&str>) -> QuantityRow {
    QuantityRow {
        role,
        epc_class: class.to_string(),
        quantity: Some(q),
        uom: uom.map(str::to_string),
    }
}

const LGTIN: &str = "urn:epc:class:lgtin:4012345.012345.998877";
const LGTIN2: &str = "urn:epc:class:lgtin:4012345.012345.111111";

pub async fn class_stock_per_location<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let l1 = "urn:epc:id:sgln:4012345.00001.0";
    let mut a = at(obj(1, 0, Action::Add, &[]), l1);
    a.quantities = vec![
        qty(QuantityRole::Quantity, LGTIN, 200.0, Some("KGM")),
        qty(QuantityRole::Quantity, LGTIN2, 5.0, None),
    ];
    let mut b = at(obj(2, 1, Action::Delete, &[]), l1);
    b.quantities = vec![qty(QuantityRole::Quantity, LGTIN, 50.5, Some("KGM"))];
    let mut c = at(ev(3, EventType::TransformationEvent, 2), l1);
    c.quantities = vec![
        qty(QuantityRole::InputQuantity, LGTIN2, 2.0, None),
        qty(QuantityRole::OutputQuantity, LGTIN, 10.0, Some("LTR")),
    ];
    let mut d = at(obj(4, 3, Action::Observe, &[]), l1);
    d.quantities = vec![qty(QuantityRole::Quantity, LGTIN, 999.0, Some("KGM"))];
    must_capture(&s, vec![a, b, c, d]).await;
    let rows = s.class_stock(Some(LGTIN), None).await.unwrap();
    let got: Vec<(String, String, f64)> = rows
        .into_iter()
        .map(|r| (r.location, r.uom, r.quantity))
        .collect();
    assert_eq!(
        got,
        vec![
            (l1.to_string(), "KGM".to_string(), 149.5),
            (l1.to_string(), "LTR".to_string(), 10.0)
        ]
    );
    let rows = s.class_stock(None, Some(l1)).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .any(|r| r.epc_class == LGTIN2 && r.quantity == 3.0 && r.uom.is_empty()));
}

pub async fn list_units_filters<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut a = at(
        obj(1, 0, Action::Add, &[&epc(1), &epc(2), &epc(3)]),
        "urn:epc:id:sgln:0614141.00001.0",
    );
    a.ilmd_lot = Some("L1".into());
    let mut b = at(
        obj(2, 0, Action::Add, &[&epc(4)]),
        "urn:epc:id:sgln:0614141.00002.0",
    );
    b.ilmd_lot = Some("L2".into());
    must_capture(
        &s,
        vec![a, b, agg(3, 1, Action::Add, CASE, &[&epc(1), &epc(4)])],
    )
    .await;
    let by_lot = s
        .list_units(&UnitFilter {
            lot: Some("L1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_lot.iter().map(|u| u.epc.clone()).collect::<Vec<_>>(),
        vec![epc(1), epc(2), epc(3)]
    );
    let in_case = s
        .list_units(&UnitFilter {
            parent: Some(CASE.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(in_case.len(), 2);
    let page = s
        .list_units(&UnitFilter {
            epc_prefix: Some("urn:epc:id:sgtin:0614141.107346.".into()),
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|u| u.epc.clone()).collect::<Vec<_>>(),
        vec![epc(1), epc(2)]
    );
    let next = s
        .list_units(&UnitFilter {
            epc_prefix: Some("urn:epc:id:sgtin:0614141.107346.".into()),
            after_epc: Some(epc(2)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|u| u.epc.clone()).collect::<Vec<_>>(),
        vec![epc(3), epc(4)]
    );
    let at_l2 = s
        .list_units(&UnitFilter {
            biz_location: Some("urn:epc:id:sgln:0614141.00002.0".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(at_l2.len(), 1);
}

pub async fn master_data_roundtrip<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut site = Location::new("urn:epc:id:sgln:0614141.00001.0", None);
    site.name = Some("Site".into());
    site.latitude = Some(52.5);
    site.longitude = Some(13.4);
    site.attributes = json!({"country": "DE"});
    s.upsert_location(&site).await.unwrap();
    assert_eq!(s.get_location(&site.id).await.unwrap(), Some(site.clone()));
    let room = Location::new("urn:epc:id:sgln:0614141.00001.1", Some(&site.id));
    s.upsert_location(&room).await.unwrap();
    // A cycle is refused.
    let cyc = Location::new(site.id.clone(), Some(&room.id));
    assert!(matches!(
        s.upsert_location(&cyc).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert_eq!(
        s.get_location(&site.id).await.unwrap(),
        Some(site.clone()),
        "unchanged after the refused cycle"
    );
    let self_parent = Location::new("x", Some("x"));
    assert!(matches!(
        s.upsert_location(&self_parent).await,
        Err(StoreError::InvalidInput(_))
    ));
    let mut bad = Location::new("y", None);
    bad.latitude = Some(91.0);
    assert!(matches!(
        s.upsert_location(&bad).await,
        Err(StoreError::InvalidInput(_))
    ));
    // Upsert replaces.
    site.name = Some("Site renamed".into());
    s.upsert_location(&site).await.unwrap();
    assert_eq!(
        s.get_location(&site.id)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Site renamed")
    );
    let p = Product {
        gtin: "00614141107346".into(),
        name: Some("Vaccine 10 ml".into()),
        owner: Some("urn:epc:id:sgln:0614141.00000.0".into()),
        warranty: Some("24 months".into()),
        storage_temp_min_c: Some(2.0),
        storage_temp_max_c: Some(8.0),
        attributes: json!({"form": "vial"}),
    };
    s.upsert_product(&p).await.unwrap();
    assert_eq!(s.get_product(&p.gtin).await.unwrap(), Some(p.clone()));
    let mut bad = p.clone();
    bad.storage_temp_min_c = Some(9.0);
    assert!(matches!(
        s.upsert_product(&bad).await,
        Err(StoreError::InvalidInput(_))
    ));
    let party = Party {
        gln: "0614141000005".into(),
        name: Some("ACME".into()),
        attributes: serde_json::Value::Null,
    };
    s.upsert_party(&party).await.unwrap();
    assert_eq!(s.get_party(&party.gln).await.unwrap(), Some(party));
    assert_eq!(s.get_party("nope").await.unwrap(), None);
    assert_eq!(s.get_product("nope").await.unwrap(), None);
    let mut big = Party {
        gln: "1".into(),
        name: None,
        attributes: json!({"x": "y".repeat(limits::MAX_ATTRIBUTES_BYTES)}),
    };
    assert!(matches!(
        s.upsert_party(&big).await,
        Err(StoreError::InvalidInput(_))
    ));
    big.attributes = json!("not an object");
    assert!(matches!(
        s.upsert_party(&big).await,
        Err(StoreError::InvalidInput(_))
    ));
}

/// A varied data set for the query tests.
pub async fn event_locations_listed<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let none = s
        .list_event_locations(LocationRole::BizLocation, None, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    let sgln = |n: u32| format!("urn:epc:id:sgln:0614141.00001.{n}");
    let dl = "https://id.gs1.org/414/0614141000012"; // sorts before "urn:" in byte order
    let upper = "URN:X"; // uppercase sorts before lowercase in byte order
    let mut events = Vec::new();
    for n in 1..=12u32 {
        let mut e = obj(n, n as i64, Action::Observe, &[&epc(n)]);
        e.biz_location = Some(sgln(n % 4));
        e.read_point = (n % 3 != 0).then(|| sgln(100 + n % 2));
        events.push(e);
    }
    let mut e = obj(13, 13, Action::Observe, &[&epc(13)]);
    e.biz_location = Some(dl.to_string());
    events.push(e);
    let mut e = obj(14, 14, Action::Observe, &[&epc(14)]);
    e.read_point = Some(upper.to_string());
    events.push(e);
    events.push(obj(15, 15, Action::Observe, &[&epc(15)])); // neither
    must_capture(&s, events).await;

    let biz = |after: Option<&str>, limit: usize| {
        let s = s.clone();
        let after = after.map(str::to_string);
        async move {
            s.list_event_locations(LocationRole::BizLocation, after.as_deref(), limit)
                .await
                .unwrap()
        }
    };
    let all_biz = vec![dl.to_string(), sgln(0), sgln(1), sgln(2), sgln(3)];
    assert_eq!(biz(None, 100).await, all_biz);
    assert_eq!(biz(None, 2).await, all_biz[..2].to_vec());
    assert_eq!(biz(Some(&sgln(0)), 2).await, all_biz[2..4].to_vec());
    assert_eq!(biz(Some(&sgln(3)), 2).await, Vec::<String>::new());
    // `after` need not be a stored location.
    assert_eq!(
        biz(Some("urn:epc:id:sgln:0614141.00001.15"), 10).await,
        all_biz[3..].to_vec()
    );
    assert_eq!(biz(Some(""), 1).await, vec![dl.to_string()]);
    assert!(biz(None, 0).await.is_empty());
    // Paging by the last ID gives every location once.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = biz(after.as_deref(), 2).await;
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, all_biz);

    let rp = s
        .list_event_locations(LocationRole::ReadPoint, None, 100)
        .await
        .unwrap();
    assert_eq!(rp, vec![upper.to_string(), sgln(100), sgln(101)]);
    let rp = s
        .list_event_locations(LocationRole::ReadPoint, Some(upper), 1)
        .await
        .unwrap();
    assert_eq!(rp, vec![sgln(100)]);

    // Over the page limit: capped, not refused; an over-long `after` is refused.
    let capped = s
        .list_event_locations(LocationRole::BizLocation, None, usize::MAX)
        .await
        .unwrap();
    assert_eq!(capped, all_biz);
    let long = "x".repeat(limits::MAX_ID_LEN + 1);
    assert!(matches!(
        s.list_event_locations(LocationRole::ReadPoint, Some(&long), 10)
            .await,
        Err(StoreError::InvalidInput(_))
    ));
}

async fn query_fixture(s: &Arc<dyn Store>) {
    let site = "urn:epc:id:sgln:0614141.00001.0";
    let room = "urn:epc:id:sgln:0614141.00001.1";
    let shelf = "urn:epc:id:sgln:0614141.00001.2";
    let other = "urn:epc:id:sgln:0614141.00002.0";
    s.upsert_location(&Location::new(site, None)).await.unwrap();
    s.upsert_location(&Location::new(room, Some(site)))
        .await
        .unwrap();
    s.upsert_location(&Location::new(shelf, Some(room)))
        .await
        .unwrap();
    let mut e1 = at(obj(1, 0, Action::Add, &[&epc(1), &epc(2)]), shelf);
    e1.biz_step = Some("commissioning".into());
    e1.disposition = Some("active".into());
    e1.read_point = Some(shelf.into());
    e1.ilmd_lot = Some("LOT1".into());
    e1.persistent_disposition_set = vec!["completeness_verified".into()];
    e1.event_id = Some("urn:uuid:e1".into());
    let mut e2 = at(obj(2, 10, Action::Observe, &[&epc(1)]), other);
    e2.biz_step = Some("shipping".into());
    e2.disposition = Some("in_transit".into());
    e2.read_point = Some(other.into());
    e2.biz_transactions = vec![(
        "po".into(),
        "urn:epcglobal:cbv:bt:0614141073467:1152".into(),
    )];
    e2.sources = vec![(
        "owning_party".into(),
        "urn:epc:id:pgln:0614141.00001".into(),
    )];
    e2.destinations = vec![(
        "owning_party".into(),
        "urn:epc:id:pgln:0614141.00002".into(),
    )];
    e2.persistent_disposition_unset = vec!["completeness_verified".into()];
    let mut e3 = agg(3, 20, Action::Add, PALLET, &[&epc(2)]);
    e3.biz_location = Some(room.into());
    e3.quantities = vec![qty(QuantityRole::ChildQuantity, LGTIN, 12.0, None)];
    let mut e4 = at(ev(4, EventType::TransformationEvent, 30), site);
    e4.epcs = vec![(EpcRole::InputEpc, epc(1)), (EpcRole::OutputEpc, epc(5))];
    e4.quantities = vec![
        qty(QuantityRole::InputQuantity, LGTIN2, 3.0, Some("KGM")),
        qty(QuantityRole::OutputQuantity, LGTIN, 40.0, Some("KGM")),
    ];
    e4.transformation_id = Some("urn:epc:id:gdti:0614141.12345.400".into());
    let mut e5 = obj(5, 40, Action::Observe, &[]);
    e5.quantities = vec![qty(QuantityRole::Quantity, LGTIN2, 100.0, Some("KGM"))];
    e5.error_declaration = Some(ErrorDeclaration {
        declaration_time: T0 + 50 * MIN,
        reason: Some("incorrect_data".into()),
        corrective_event_ids: vec!["urn:uuid:fix1".into()],
    });
    e5.sensor_reports = vec![SensorReport {
        report_type: Some("Temperature".into()),
        device_id: Some("urn:epc:id:giai:4000001.111".into()),
        value: Some(26.0),
        max_value: Some(26.5),
        time: Some(T0 + 40 * MIN),
        uom: Some("CEL".into()),
        ..Default::default()
    }];
    e5.sensor_periods = vec![(Some(T0 + 30 * MIN), Some(T0 + 40 * MIN))];
    let mut e6 = ev(6, EventType::TransactionEvent, 50);
    e6.sensor_periods = vec![(None, Some(T0 + 90 * MIN))];
    e6.action = Some(Action::Add);
    e6.epcs = vec![
        (EpcRole::ParentId, PALLET.to_string()),
        (EpcRole::Epc, epc(7)),
    ];
    e6.biz_transactions = vec![("inv".into(), "urn:epcglobal:cbv:bt:0614141073467:9".into())];
    let mut e7 = ev(7, EventType::AssociationEvent, 60);
    e7.action = Some(Action::Add);
    e7.epcs = vec![
        (
            EpcRole::ParentId,
            "urn:epc:id:grai:4012345.55555.987".to_string(),
        ),
        (
            EpcRole::ChildEpc,
            "urn:epc:id:giai:4000001.12345".to_string(),
        ),
    ];
    must_capture(s, vec![e1, e2, e3, e4, e5, e6, e7]).await;
}

fn q() -> EventQuery {
    EventQuery::default()
}

pub async fn query_type_and_times<F: StoreFactory>(f: &mut F) {
    let (c, clk) = clock();
    let s = f.open(clk).await;
    query_fixture(&s).await;
    c.advance(MIN);
    must_capture(&s, vec![obj(8, 70, Action::Observe, &[&epc(8)])]).await;
    assert_eq!(hashes(&s, q()).await.len(), 8);
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                event_types: vec![EventType::ObjectEvent],
                ..q()
            }
        )
        .await,
        set(&[1, 2, 5, 8])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                event_types: vec![EventType::AggregationEvent, EventType::TransformationEvent],
                ..q()
            }
        )
        .await,
        set(&[3, 4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                event_types: vec![EventType::TransactionEvent],
                ..q()
            }
        )
        .await,
        set(&[6])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                event_types: vec![EventType::AssociationEvent],
                ..q()
            }
        )
        .await,
        set(&[7])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                ge_event_time: Some(T0 + 20 * MIN),
                ..q()
            }
        )
        .await,
        set(&[3, 4, 5, 6, 7, 8])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                lt_event_time: Some(T0 + 20 * MIN),
                ..q()
            }
        )
        .await,
        set(&[1, 2])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                ge_event_time: Some(T0 + 10 * MIN),
                lt_event_time: Some(T0 + 30 * MIN),
                ..q()
            }
        )
        .await,
        set(&[2, 3])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                ge_record_time: Some(T0 + 1_001 * MIN),
                ..q()
            }
        )
        .await,
        set(&[8])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                lt_record_time: Some(T0 + 1_001 * MIN),
                ..q()
            }
        )
        .await
        .len(),
        7
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_event_id: vec!["urn:uuid:e1".into(), "urn:uuid:none".into()],
                ..q()
            }
        )
        .await,
        set(&[1])
    );
}

pub async fn query_vocabulary_fields<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    query_fixture(&s).await;
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_action: vec![Action::Add],
                ..q()
            }
        )
        .await,
        set(&[1, 3, 6, 7])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_action: vec![Action::Observe, Action::Delete],
                ..q()
            }
        )
        .await,
        set(&[2, 5])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_biz_step: vec!["shipping".into()],
                ..q()
            }
        )
        .await,
        set(&[2])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_disposition: vec!["active".into(), "in_transit".into()],
                ..q()
            }
        )
        .await,
        set(&[1, 2])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_persistent_disposition_set: vec!["completeness_verified".into()],
                ..q()
            }
        )
        .await,
        set(&[1])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_persistent_disposition_unset: vec!["completeness_verified".into()],
                ..q()
            }
        )
        .await,
        set(&[2])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_read_point: vec!["urn:epc:id:sgln:0614141.00002.0".into()],
                ..q()
            }
        )
        .await,
        set(&[2])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_biz_location: vec!["urn:epc:id:sgln:0614141.00001.1".into()],
                ..q()
            }
        )
        .await,
        set(&[3])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_transformation_id: vec!["urn:epc:id:gdti:0614141.12345.400".into()],
                ..q()
            }
        )
        .await,
        set(&[4])
    );
    // Parameters combine with AND.
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_action: vec![Action::Add],
                event_types: vec![EventType::ObjectEvent],
                ..q()
            }
        )
        .await,
        set(&[1])
    );
    assert!(hashes(
        &s,
        EventQuery {
            eq_biz_step: vec!["nothing".into()],
            ..q()
        }
    )
    .await
    .is_empty());
}

pub async fn query_within_location_hierarchy<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    query_fixture(&s).await;
    let site = "urn:epc:id:sgln:0614141.00001.0";
    let room = "urn:epc:id:sgln:0614141.00001.1";
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                wd_biz_location: vec![site.into()],
                ..q()
            }
        )
        .await,
        set(&[1, 3, 4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                wd_biz_location: vec![room.into()],
                ..q()
            }
        )
        .await,
        set(&[1, 3])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_biz_location: vec![site.into()],
                ..q()
            }
        )
        .await,
        set(&[4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                wd_read_point: vec![site.into()],
                ..q()
            }
        )
        .await,
        set(&[1])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                wd_biz_location: vec!["urn:epc:id:sgln:0614141.00002.0".into(), room.into()],
                ..q()
            }
        )
        .await,
        set(&[1, 2, 3])
    );
    // A location unknown to master data matches itself only.
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                wd_biz_location: vec!["urn:epc:id:sgln:0614141.00002.0".into()],
                ..q()
            }
        )
        .await,
        set(&[2])
    );
    // Re-parenting the room under another site moves its events with it.
    s.upsert_location(&Location::new(
        room,
        Some("urn:epc:id:sgln:0614141.00002.0"),
    ))
    .await
    .unwrap();
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                wd_biz_location: vec![site.into()],
                ..q()
            }
        )
        .await,
        set(&[4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                wd_biz_location: vec!["urn:epc:id:sgln:0614141.00002.0".into()],
                ..q()
            }
        )
        .await,
        set(&[1, 2, 3])
    );
}

pub async fn query_match_epcs<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    query_fixture(&s).await;
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_epc: vec![epc(1)],
                ..q()
            }
        )
        .await,
        set(&[1, 2])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_epc: vec![epc(2)],
                ..q()
            }
        )
        .await,
        set(&[1, 3]),
        "childEPCs count"
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_epc: vec![epc(7)],
                ..q()
            }
        )
        .await,
        set(&[6])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_parent_id: vec![PALLET.into()],
                ..q()
            }
        )
        .await,
        set(&[3, 6])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_input_epc: vec![epc(1)],
                ..q()
            }
        )
        .await,
        set(&[4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_output_epc: vec![epc(5)],
                ..q()
            }
        )
        .await,
        set(&[4])
    );
    assert!(hashes(
        &s,
        EventQuery {
            match_output_epc: vec![epc(1)],
            ..q()
        }
    )
    .await
    .is_empty());
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_any_epc: vec![epc(1)],
                ..q()
            }
        )
        .await,
        set(&[1, 2, 4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_any_epc: vec![PALLET.into(), epc(5)],
                ..q()
            }
        )
        .await,
        set(&[3, 4, 6])
    );
    // idpat patterns.
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_epc: vec!["urn:epc:idpat:sgtin:0614141.107346.*".into()],
                ..q()
            }
        )
        .await,
        set(&[1, 2, 3, 6])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_any_epc: vec!["urn:epc:idpat:sscc:0614141.*".into()],
                ..q()
            }
        )
        .await,
        set(&[3, 6])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_any_epc: vec!["urn:epc:idpat:sgtin:0614141.*.*".into()],
                ..q()
            }
        )
        .await,
        set(&[1, 2, 3, 4, 6])
    );
    assert!(hashes(
        &s,
        EventQuery {
            match_epc: vec!["urn:epc:idpat:sgtin:0614141.999999.*".into()],
            ..q()
        }
    )
    .await
    .is_empty());
    // LIKE metacharacters are literal.
    assert!(hashes(
        &s,
        EventQuery {
            match_epc: vec!["urn:epc:id:sgtin:0614141.107346.%".into()],
            ..q()
        }
    )
    .await
    .is_empty());
    assert!(hashes(
        &s,
        EventQuery {
            match_epc: vec!["urn:epc:id:sgtin:0614141.107346._".into()],
            ..q()
        }
    )
    .await
    .is_empty());
}

pub async fn query_match_classes_and_quantity<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    query_fixture(&s).await;
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_epc_class: vec![LGTIN.into()],
                ..q()
            }
        )
        .await,
        set(&[3])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_epc_class: vec![LGTIN2.into()],
                ..q()
            }
        )
        .await,
        set(&[5])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_input_epc_class: vec![LGTIN2.into()],
                ..q()
            }
        )
        .await,
        set(&[4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_output_epc_class: vec![LGTIN.into()],
                ..q()
            }
        )
        .await,
        set(&[4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_any_epc_class: vec![LGTIN.into()],
                ..q()
            }
        )
        .await,
        set(&[3, 4])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                match_any_epc_class: vec!["urn:epc:idpat:sgtin:4012345.012345.*".into()],
                ..q()
            }
        )
        .await,
        set(&[3, 4, 5])
    );
    let cmp = |op, v| EventQuery {
        quantity: vec![(op, v)],
        ..q()
    };
    assert_eq!(hashes(&s, cmp(CmpOp::Eq, 12.0)).await, set(&[3]));
    assert_eq!(hashes(&s, cmp(CmpOp::Gt, 40.0)).await, set(&[5]));
    assert_eq!(hashes(&s, cmp(CmpOp::Ge, 40.0)).await, set(&[4, 5]));
    assert_eq!(hashes(&s, cmp(CmpOp::Lt, 12.0)).await, set(&[4]));
    assert_eq!(hashes(&s, cmp(CmpOp::Le, 12.0)).await, set(&[3, 4]));
    // With a unit: e4 has 40 KGM out and 3 KGM in, e5 100 KGM.
    let cu = |op, v, u: &str| EventQuery {
        quantity_in_uom: vec![(op, v, u.to_string())],
        ..q()
    };
    assert_eq!(hashes(&s, cu(CmpOp::Eq, 3.0, "KGM")).await, set(&[4]));
    assert_eq!(
        hashes(&s, cu(CmpOp::Eq, 3000.0, "GRM")).await,
        set(&[4]),
        "converted"
    );
    assert_eq!(hashes(&s, cu(CmpOp::Gt, 50.0, "KGM")).await, set(&[5]));
    assert_eq!(
        hashes(&s, cu(CmpOp::Ge, 89.0, "LBR")).await,
        set(&[5]),
        "40 KGM is 88.2 LBR, 100 KGM is 220.5"
    );
    assert!(
        hashes(&s, cu(CmpOp::Eq, 12.0, "KGM")).await.is_empty(),
        "12 without a unit"
    );
    assert!(
        hashes(&s, cu(CmpOp::Gt, 0.0, "LTR")).await.is_empty(),
        "other dimension"
    );
    // Range on one quantity element.
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                quantity: vec![(CmpOp::Gt, 5.0), (CmpOp::Lt, 50.0)],
                ..q()
            }
        )
        .await,
        set(&[3, 4])
    );
}

pub async fn query_transactions_sources_destinations<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    query_fixture(&s).await;
    let bt = |ty: &str, v: &str| EventQuery {
        eq_biz_transaction: vec![(ty.into(), vec![v.into()])],
        ..q()
    };
    assert_eq!(
        hashes(&s, bt("po", "urn:epcglobal:cbv:bt:0614141073467:1152")).await,
        set(&[2])
    );
    assert!(
        hashes(&s, bt("inv", "urn:epcglobal:cbv:bt:0614141073467:1152"))
            .await
            .is_empty(),
        "type must match"
    );
    assert_eq!(
        hashes(&s, bt("inv", "urn:epcglobal:cbv:bt:0614141073467:9")).await,
        set(&[6])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_source: vec![(
                    "owning_party".into(),
                    vec!["urn:epc:id:pgln:0614141.00001".into()]
                )],
                ..q()
            }
        )
        .await,
        set(&[2])
    );
    assert!(hashes(
        &s,
        EventQuery {
            eq_source: vec![(
                "owning_party".into(),
                vec!["urn:epc:id:pgln:0614141.00002".into()]
            )],
            ..q()
        }
    )
    .await
    .is_empty());
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_destination: vec![(
                    "owning_party".into(),
                    vec!["urn:epc:id:pgln:0614141.00002".into()]
                )],
                ..q()
            }
        )
        .await,
        set(&[2])
    );
}

pub async fn query_error_declaration<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    query_fixture(&s).await;
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                exists_error_declaration: true,
                ..q()
            }
        )
        .await,
        set(&[5])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                ge_error_declaration_time: Some(T0 + 50 * MIN),
                ..q()
            }
        )
        .await,
        set(&[5])
    );
    assert!(hashes(
        &s,
        EventQuery {
            lt_error_declaration_time: Some(T0 + 50 * MIN),
            ..q()
        }
    )
    .await
    .is_empty());
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_error_reason: vec!["incorrect_data".into()],
                ..q()
            }
        )
        .await,
        set(&[5])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_corrective_event_id: vec!["urn:uuid:fix1".into()],
                ..q()
            }
        )
        .await,
        set(&[5])
    );
    assert!(hashes(
        &s,
        EventQuery {
            eq_corrective_event_id: vec!["urn:uuid:fix2".into()],
            ..q()
        }
    )
    .await
    .is_empty());
}

pub async fn query_ilmd_and_sensors<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    query_fixture(&s).await;
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_ilmd_lot: vec!["LOT1".into()],
                ..q()
            }
        )
        .await,
        set(&[1])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_sensor_type: vec!["Temperature".into()],
                ..q()
            }
        )
        .await,
        set(&[5])
    );
    assert_eq!(
        hashes(
            &s,
            EventQuery {
                eq_device_id: vec!["urn:epc:id:giai:4000001.111".into()],
                ..q()
            }
        )
        .await,
        set(&[5])
    );
    assert!(hashes(
        &s,
        EventQuery {
            eq_sensor_type: vec!["Humidity".into()],
            ..q()
        }
    )
    .await
    .is_empty());
    // sensorMetadata startTime / endTime: e5 from 30 to 40 min, e6 until 90 min.
    let m = |n: i64| Some(T0 + n * MIN);
    for (query, want) in [
        (
            EventQuery {
                ge_start_time: m(30),
                ..q()
            },
            set(&[5]),
        ),
        (
            EventQuery {
                ge_start_time: m(31),
                ..q()
            },
            set(&[]),
        ),
        (
            EventQuery {
                lt_start_time: m(31),
                ..q()
            },
            set(&[5]),
        ),
        (
            EventQuery {
                ge_end_time: m(40),
                ..q()
            },
            set(&[5, 6]),
        ),
        (
            EventQuery {
                lt_end_time: m(41),
                ..q()
            },
            set(&[5]),
        ),
        (
            EventQuery {
                ge_end_time: m(41),
                lt_end_time: m(91),
                ..q()
            },
            set(&[6]),
        ),
        (
            EventQuery {
                ge_start_time: m(0),
                ge_end_time: m(41),
                ..q()
            },
            set(&[]),
        ),
    ] {
        assert_eq!(hashes(&s, query.clone()).await, want, "{query:?}");
    }
}

pub async fn query_fields<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    const NS: &str = "https://ns.example.com/epcis/";
    let field = |scope, inner, name: &str, text: Option<&str>, number: Option<f64>| EventField {
        scope,
        inner,
        name: format!("{NS}{name}"),
        text: text.map(str::to_string),
        number,
    };
    let mut a = obj(1, 0, Action::Add, &[&epc(1)]);
    a.fields = vec![
        field(
            FieldScope::Ilmd,
            false,
            "bestBeforeDate",
            Some("2026-01-31"),
            Some(1_769_817_600_000.0),
        ),
        field(FieldScope::Event, false, "myField", Some("alpha"), None),
        field(FieldScope::Event, true, "nested", Some("deep"), Some(7.0)),
    ];
    let mut b = obj(2, 1, Action::Observe, &[&epc(1)]);
    b.fields = vec![
        field(FieldScope::Event, false, "myField", Some("beta"), None),
        field(
            FieldScope::SensorReport,
            false,
            "stringValue",
            Some("SN-1"),
            None,
        ),
    ];
    must_capture(&s, vec![a, b]).await;
    let ff = |scope, inner, name: &str, cond| EventQuery {
        fields: vec![FieldFilter {
            scope,
            inner,
            name: format!("{NS}{name}"),
            cond,
        }],
        ..q()
    };
    assert_eq!(
        hashes(
            &s,
            ff(
                FieldScope::Event,
                false,
                "myField",
                FieldCond::Eq(vec!["alpha".into()])
            )
        )
        .await,
        set(&[1])
    );
    assert_eq!(
        hashes(
            &s,
            ff(
                FieldScope::Event,
                false,
                "myField",
                FieldCond::Eq(vec!["alpha".into(), "beta".into()])
            )
        )
        .await,
        set(&[1, 2])
    );
    assert_eq!(
        hashes(
            &s,
            ff(FieldScope::Event, false, "myField", FieldCond::Exists)
        )
        .await,
        set(&[1, 2])
    );
    assert!(
        hashes(
            &s,
            ff(FieldScope::Ilmd, false, "myField", FieldCond::Exists)
        )
        .await
        .is_empty(),
        "scope matters"
    );
    assert_eq!(
        hashes(
            &s,
            ff(FieldScope::Ilmd, false, "bestBeforeDate", FieldCond::Exists)
        )
        .await,
        set(&[1])
    );
    assert_eq!(
        hashes(
            &s,
            ff(
                FieldScope::Ilmd,
                false,
                "bestBeforeDate",
                FieldCond::Cmp(CmpOp::Ge, 1_769_817_600_000.0)
            )
        )
        .await,
        set(&[1])
    );
    assert!(hashes(
        &s,
        ff(
            FieldScope::Ilmd,
            false,
            "bestBeforeDate",
            FieldCond::Cmp(CmpOp::Gt, 1_769_817_600_000.0)
        )
    )
    .await
    .is_empty());
    assert_eq!(
        hashes(
            &s,
            ff(
                FieldScope::Event,
                true,
                "nested",
                FieldCond::Cmp(CmpOp::Lt, 8.0)
            )
        )
        .await,
        set(&[1])
    );
    assert!(
        hashes(
            &s,
            ff(FieldScope::Event, false, "nested", FieldCond::Exists)
        )
        .await
        .is_empty(),
        "INNER_ only"
    );
    let sr = EventQuery {
        fields: vec![FieldFilter {
            scope: FieldScope::SensorReport,
            inner: false,
            name: format!("{NS}stringValue"),
            cond: FieldCond::Eq(vec!["SN-1".into()]),
        }],
        ..q()
    };
    assert_eq!(hashes(&s, sr).await, set(&[2]));
    let mut bad = obj(3, 2, Action::Observe, &[&epc(1)]);
    bad.fields = vec![field(FieldScope::Event, false, "n", None, Some(f64::NAN))];
    let r = s.capture(vec![bad], CaptureMode::Rollback).await.unwrap();
    assert!(matches!(&r.outcomes[0], CaptureOutcome::Invalid(why) if why.contains("field")));
}

pub async fn query_order_and_limits<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    // Captured out of event-time order.
    must_capture(
        &s,
        vec![
            obj(1, 30, Action::Observe, &[&epc(1)]),
            obj(2, 10, Action::Observe, &[&epc(1)]),
        ],
    )
    .await;
    must_capture(&s, vec![obj(3, 20, Action::Observe, &[&epc(1)])]).await;
    let order = |q: EventQuery| {
        let s = s.clone();
        async move {
            s.query_events(&q)
                .await
                .unwrap()
                .events
                .into_iter()
                .map(|e| e.hash_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(order(q()).await, vec![hash(1), hash(2), hash(3)]);
    assert_eq!(
        order(EventQuery {
            order_by: OrderBy::EventTime,
            ..q()
        })
        .await,
        vec![hash(2), hash(3), hash(1)]
    );
    assert_eq!(
        order(EventQuery {
            order_by: OrderBy::EventTime,
            order_direction: OrderDirection::Desc,
            ..q()
        })
        .await,
        vec![hash(1), hash(3), hash(2)]
    );
    assert_eq!(
        order(EventQuery {
            order_by: OrderBy::RecordTime,
            order_direction: OrderDirection::Desc,
            ..q()
        })
        .await,
        vec![hash(3), hash(2), hash(1)]
    );
    assert_eq!(
        order(EventQuery {
            order_by: OrderBy::EventTime,
            event_count_limit: Some(2),
            ..q()
        })
        .await,
        vec![hash(2), hash(3)]
    );
    // eventCountLimit across pages.
    let p1 = s
        .query_events(&EventQuery {
            event_count_limit: Some(2),
            per_page: Some(1),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(p1.events.len(), 1);
    let p2 = s
        .query_events(&EventQuery {
            event_count_limit: Some(2),
            per_page: Some(1),
            next_page_token: p1.next_page_token,
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(p2.events.len(), 1);
    assert!(p2.next_page_token.is_none(), "the limit is reached");
    assert!(matches!(
        s.query_events(&EventQuery {
            max_event_count: Some(2),
            ..q()
        })
        .await,
        Err(StoreError::QueryTooLarge { limit: 2 })
    ));
    assert_eq!(
        s.query_events(&EventQuery {
            max_event_count: Some(3),
            ..q()
        })
        .await
        .unwrap()
        .events
        .len(),
        3
    );
}

pub async fn query_rejects_bad_parameters<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let bad = [
        EventQuery {
            match_epc: vec!["urn:epc:idpat:sgtin:*.107346.1".into()],
            ..q()
        },
        EventQuery {
            match_epc: vec![String::new()],
            ..q()
        },
        EventQuery {
            per_page: Some(0),
            ..q()
        },
        EventQuery {
            per_page: Some(limits::MAX_PER_PAGE + 1),
            ..q()
        },
        EventQuery {
            event_count_limit: Some(1),
            max_event_count: Some(1),
            ..q()
        },
        EventQuery {
            quantity: vec![(CmpOp::Eq, f64::INFINITY)],
            ..q()
        },
        EventQuery {
            eq_biz_step: vec!["x".into(); limits::MAX_QUERY_VALUES + 1],
            ..q()
        },
    ];
    for b in bad {
        assert!(
            matches!(s.query_events(&b).await, Err(StoreError::InvalidInput(_))),
            "{b:?} must be refused"
        );
    }
    let r = s
        .query_events(&EventQuery {
            next_page_token: Some("zz".into()),
            ..q()
        })
        .await;
    assert!(matches!(r, Err(StoreError::InvalidPageToken(_))));
}

pub async fn pagination_stable_while_capturing<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let first: Vec<CaptureEvent> = (0..25u32)
        .map(|i| obj(i, i64::from(i) * 2, Action::Observe, &[&epc(i)]))
        .collect();
    must_capture(&s, first).await;
    for order_by in [OrderBy::RecordTime, OrderBy::EventTime] {
        for order_direction in [OrderDirection::Asc, OrderDirection::Desc] {
            let base = EventQuery {
                order_by,
                order_direction,
                per_page: Some(7),
                ..q()
            };
            let present = hashes(
                &s,
                EventQuery {
                    per_page: Some(1000),
                    ..q()
                },
            )
            .await;
            let mut seen = Vec::new();
            let mut token = None;
            let mut extra = 1000u32 + 100 * (order_by as u32) + 10 * (order_direction as u32);
            loop {
                let page = s
                    .query_events(&EventQuery {
                        next_page_token: token.clone(),
                        ..base.clone()
                    })
                    .await
                    .unwrap();
                assert!(page.events.len() <= 7);
                seen.extend(page.events.iter().map(|e| e.hash_id.clone()));
                // Events arrive between pages, some earlier in event time than anything seen.
                must_capture(
                    &s,
                    vec![
                        obj(extra, -5, Action::Observe, &[&epc(1)]),
                        obj(extra + 1, 23, Action::Observe, &[&epc(2)]),
                    ],
                )
                .await;
                extra += 2;
                token = page.next_page_token;
                if token.is_none() {
                    break;
                }
            }
            let unique: BTreeSet<&String> = seen.iter().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "no event twice ({order_by:?} {order_direction:?})"
            );
            assert_eq!(
                unique,
                present.iter().collect(),
                "exactly the events present at the first page"
            );
        }
    }
}

pub async fn page_token_checks<F: StoreFactory>(f: &mut F) {
    let (c, clk) = clock();
    let s = f.open(clk).await;
    must_capture(
        &s,
        (0..5u32)
            .map(|i| obj(i, i64::from(i), Action::Observe, &[&epc(i)]))
            .collect(),
    )
    .await;
    let base = EventQuery {
        per_page: Some(2),
        ..q()
    };
    let p1 = s.query_events(&base).await.unwrap();
    let token = p1.next_page_token.clone().expect("more pages");
    // The token belongs to its query.
    let other = EventQuery {
        per_page: Some(2),
        match_epc: vec![epc(1)],
        next_page_token: Some(token.clone()),
        ..q()
    };
    assert!(matches!(
        s.query_events(&other).await,
        Err(StoreError::InvalidPageToken(_))
    ));
    // A different page size is the same query.
    let p2 = s
        .query_events(&EventQuery {
            per_page: Some(3),
            next_page_token: Some(token.clone()),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(p2.events.len(), 3);
    // Tampered tokens are refused.
    let mut t = token.clone();
    t.replace_range(0..2, "39");
    assert!(matches!(
        s.query_events(&EventQuery {
            next_page_token: Some(t),
            ..base.clone()
        })
        .await,
        Err(StoreError::InvalidPageToken(_))
    ));
    // It expires.
    let cur = PageCursor::decode(&token, &base, c.now_millis()).unwrap();
    c.set(cur.expires_at + 1);
    assert!(matches!(
        s.query_events(&EventQuery {
            next_page_token: Some(token),
            ..base.clone()
        })
        .await,
        Err(StoreError::InvalidPageToken(_))
    ));
}

pub async fn timeline_with_inference<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    must_capture(
        &s,
        vec![
            obj(1, 0, Action::Add, &[&epc(1)]),
            obj(2, 5, Action::Observe, &[CASE]), // before packing: not inferred
            agg(3, 10, Action::Add, CASE, &[&epc(1)]),
            agg(4, 20, Action::Add, PALLET, &[CASE]),
            obj(5, 30, Action::Observe, &[PALLET]), // epc(1) in case in pallet: inferred via the pallet
            obj(6, 35, Action::Observe, &[CASE]),   // inferred via the case
            agg(7, 40, Action::Delete, CASE, &[&epc(1)]),
            obj(8, 50, Action::Observe, &[PALLET]), // after unpacking: not inferred
            obj(9, 45, Action::Observe, &[&epc(1)]),
        ],
    )
    .await;
    let tl = s.timeline(&epc(1)).await.unwrap();
    let got: Vec<(String, Option<String>)> = tl
        .iter()
        .map(|e| (e.event.hash_id.clone(), e.inferred_via.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (hash(1), None),
            (hash(3), None),
            (hash(4), Some(CASE.to_string())),
            (hash(5), Some(PALLET.to_string())),
            (hash(6), Some(CASE.to_string())),
            (hash(7), None),
            (hash(9), None),
        ]
    );
    assert!(s
        .timeline("urn:epc:id:sgtin:0614141.107346.none")
        .await
        .unwrap()
        .is_empty());
}

/// Heads of several units at once: per unit in the order asked, in event-time order, with the
/// unit's roles, hash IDs and recordTimes of the stored events.
pub async fn event_heads_without_documents<F: StoreFactory>(f: &mut F) {
    use crate::state::RoleSet;
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    must_capture(
        &s,
        vec![
            obj(1, 0, Action::Add, &[&epc(1)]),
            obj(2, 5, Action::Observe, &[CASE]),
            agg(3, 10, Action::Add, CASE, &[&epc(1)]),
            agg(4, 20, Action::Add, PALLET, &[CASE]),
            obj(9, 45, Action::Observe, &[&epc(1), CASE]),
            agg(7, 40, Action::Delete, CASE, &[&epc(1)]),
        ],
    )
    .await;
    let unknown = "urn:epc:id:sgtin:0614141.107346.none".to_string();
    let asked = vec![CASE.to_string(), unknown, epc(1)];
    let heads = s.event_heads(&asked).await.unwrap();
    let got: Vec<(String, String, i64, RoleSet)> = heads
        .iter()
        .map(|(u, h)| (u.clone(), h.hash_id.clone(), h.facts.event_time, h.roles))
        .collect();
    let child = RoleSet::single(EpcRole::ChildEpc);
    let parent = RoleSet::single(EpcRole::ParentId);
    let list = RoleSet::single(EpcRole::Epc);
    let m = |n: i64| T0 + n * MIN;
    assert_eq!(
        got,
        vec![
            (CASE.to_string(), hash(2), m(5), list),
            (CASE.to_string(), hash(3), m(10), parent),
            (CASE.to_string(), hash(4), m(20), child),
            (CASE.to_string(), hash(7), m(40), parent),
            (CASE.to_string(), hash(9), m(45), list),
            (epc(1), hash(1), m(0), list),
            (epc(1), hash(3), m(10), child),
            (epc(1), hash(7), m(40), child),
            (epc(1), hash(9), m(45), list),
        ]
    );
    for (_, h) in &heads {
        let e = s.event_by_hash(&h.hash_id).await.unwrap().unwrap();
        assert_eq!(h.record_time, e.record_time, "{}", h.hash_id);
        assert_eq!(h.facts.seq, e.seq, "{}", h.hash_id);
    }
    let agg4 = &heads[2].1.facts;
    assert_eq!(agg4.event_type, EventType::AggregationEvent);
    assert_eq!(agg4.action, Some(Action::Add));
    assert_eq!(agg4.parent_id.as_deref(), Some(PALLET));
    assert!(s.event_heads(&[]).await.unwrap().is_empty());
    let too_many: Vec<String> = (0..=crate::limits::MAX_HEAD_UNITS as u32)
        .map(epc)
        .collect();
    assert!(matches!(
        s.event_heads(&too_many).await,
        Err(StoreError::InvalidInput(_))
    ));
}

pub async fn containment_tree_up_and_down<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let case2 = "urn:epc:id:sscc:0614141.0000000002";
    must_capture(
        &s,
        vec![
            agg(1, 0, Action::Add, CASE, &[&epc(1), &epc(2)]),
            agg(2, 1, Action::Add, case2, &[&epc(3)]),
            agg(3, 2, Action::Add, PALLET, &[CASE, case2]),
        ],
    )
    .await;
    let t = s.containment_tree(&epc(1)).await.unwrap();
    assert_eq!(t.parents, vec![CASE.to_string(), PALLET.to_string()]);
    assert!(t.children.is_empty());
    let t = s.containment_tree(PALLET).await.unwrap();
    assert!(t.parents.is_empty());
    assert!(!t.truncated);
    let nodes: Vec<(String, String, usize)> = t
        .children
        .iter()
        .map(|n| (n.epc.clone(), n.parent.clone(), n.depth))
        .collect();
    assert_eq!(
        nodes,
        vec![
            (CASE.to_string(), PALLET.to_string(), 1),
            (case2.to_string(), PALLET.to_string(), 1),
            (epc(1), CASE.to_string(), 2),
            (epc(2), CASE.to_string(), 2),
            (epc(3), case2.to_string(), 2),
        ]
    );
}

pub async fn genealogy_both_directions<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let tf = |n: u32, minutes: i64, inputs: &[String], outputs: &[String]| {
        let mut e = ev(n, EventType::TransformationEvent, minutes);
        e.epcs = inputs
            .iter()
            .map(|i| (EpcRole::InputEpc, i.clone()))
            .collect();
        e.epcs
            .extend(outputs.iter().map(|o| (EpcRole::OutputEpc, o.clone())));
        e
    };
    // epc(1) + epc(2) -> epc(10); epc(10) + epc(3) -> epc(20), epc(21); epc(21) -> epc(30)
    must_capture(
        &s,
        vec![
            tf(1, 0, &[epc(1), epc(2)], &[epc(10)]),
            tf(2, 1, &[epc(10), epc(3)], &[epc(20), epc(21)]),
            tf(3, 2, &[epc(21)], &[epc(30)]),
        ],
    )
    .await;
    let g = s
        .genealogy(&epc(30), GenealogyDirection::Inputs)
        .await
        .unwrap();
    let got: Vec<(String, String, usize)> = g
        .nodes
        .iter()
        .map(|n| (n.epc.clone(), n.via.clone(), n.depth))
        .collect();
    assert_eq!(
        got,
        vec![
            (epc(21), epc(30), 1),
            (epc(10), epc(21), 2),
            (epc(3), epc(21), 2),
            (epc(1), epc(10), 3),
            (epc(2), epc(10), 3),
        ]
    );
    assert!(!g.truncated);
    let g = s
        .genealogy(&epc(1), GenealogyDirection::Outputs)
        .await
        .unwrap();
    let got: BTreeSet<String> = g.nodes.iter().map(|n| n.epc.clone()).collect();
    assert_eq!(
        got,
        [epc(10), epc(20), epc(21), epc(30)].into_iter().collect()
    );
    assert_eq!(
        s.transformation_links(&epc(10), GenealogyDirection::Inputs)
            .await
            .unwrap(),
        vec![epc(1), epc(2)]
    );
    assert!(s
        .genealogy(&epc(99), GenealogyDirection::Outputs)
        .await
        .unwrap()
        .nodes
        .is_empty());
}

pub async fn current_location_through_containers<F: StoreFactory>(f: &mut F) {
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let (l1, l2, l3) = (
        "urn:epc:id:sgln:0614141.00001.0",
        "urn:epc:id:sgln:0614141.00002.0",
        "urn:epc:id:sgln:0614141.00003.0",
    );
    must_capture(
        &s,
        vec![
            at(obj(1, 0, Action::Add, &[&epc(1), &epc(2)]), l1),
            agg(2, 1, Action::Add, CASE, &[&epc(1), &epc(2)]),
            agg(3, 2, Action::Add, PALLET, &[CASE]),
            at(obj(4, 10, Action::Observe, &[PALLET]), l2), // the pallet moves
            at(obj(5, 20, Action::Observe, &[&epc(2)]), l3), // epc(2) seen elsewhere later
        ],
    )
    .await;
    let c1 = s.current_location(&epc(1)).await.unwrap().expect("located");
    assert_eq!(
        c1,
        CurrentLocation {
            biz_location: l2.into(),
            since: T0 + 10 * MIN,
            via: Some(PALLET.into())
        }
    );
    let c2 = s.current_location(&epc(2)).await.unwrap().expect("located");
    assert_eq!(
        c2,
        CurrentLocation {
            biz_location: l3.into(),
            since: T0 + 20 * MIN,
            via: None
        }
    );
    assert_eq!(state(&s, &epc(1)).await.location_time, Some(T0));
    assert!(s.current_location(&epc(9)).await.unwrap().is_none());
    // The same in one batch, for a recall.
    let located = s
        .locate_units(&UnitFilter {
            epc_prefix: Some("urn:epc:id:sgtin:0614141.107346.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<(String, Option<CurrentLocation>)> =
        located.into_iter().map(|(u, l)| (u.epc, l)).collect();
    assert_eq!(got, vec![(epc(1), Some(c1)), (epc(2), Some(c2))]);
    let states = s
        .unit_states(&[epc(2), PALLET.to_string(), epc(9)])
        .await
        .unwrap();
    let mut names: Vec<String> = states.into_iter().map(|u| u.epc).collect();
    names.sort();
    assert_eq!(names, vec![epc(2), PALLET.to_string()]);
    let too_many = vec![epc(1); limits::MAX_LIST_UNITS as usize + 1];
    assert!(matches!(
        s.unit_states(&too_many).await,
        Err(StoreError::InvalidInput(_))
    ));
}

/// The reference model: every captured event in capture order, and unit state by replay of the
/// pure rules over them (no incremental path, no SQL).
#[derive(Default)]
struct Model {
    events: Vec<CaptureEvent>,
    hashes: BTreeSet<String>,
}

impl Model {
    fn capture(&mut self, e: &CaptureEvent) -> bool {
        if !self.hashes.insert(e.hash_id.clone()) {
            return false;
        }
        self.events.push(e.clone());
        true
    }

    fn state(&self, unit: &str) -> Option<UnitState> {
        let mut items = Vec::new();
        let mut parents = BTreeSet::new();
        for (i, e) in self.events.iter().enumerate() {
            let mut roles = RoleSet::default();
            for (r, x) in &e.epcs {
                if x == unit {
                    roles = roles.with(*r);
                }
            }
            if roles != RoleSet::default() {
                if e.event_type == EventType::AggregationEvent && roles.has(EpcRole::ChildEpc) {
                    if let Some(p) = e.parent_id() {
                        parents.insert(p.to_string());
                    }
                }
                items.push(HistoryItem::Named(EventFacts::of(e, i as i64), roles));
            }
        }
        for (i, e) in self.events.iter().enumerate() {
            if e.is_empty_delete() && e.parent_id().is_some_and(|p| parents.contains(p)) {
                items.push(HistoryItem::ParentEmptied(EventFacts::of(e, i as i64)));
            }
        }
        replay(unit, items)
    }
}

fn comparable(mut s: UnitState) -> UnitState {
    // Sequence numbers differ between the store and the model; times and values must not.
    s.last_event_seq = 0;
    s.parent_since = s.parent_since.map(|(t, _)| (t, 0));
    s
}

pub async fn model_based_random_sequences<F: StoreFactory>(f: &mut F) {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    const UNITS: [&str; 6] = [
        "urn:epc:id:sgtin:0614141.107346.1",
        "urn:epc:id:sgtin:0614141.107346.2",
        "urn:epc:id:sgtin:0614141.107346.3",
        "urn:epc:id:sscc:0614141.0000000001",
        "urn:epc:id:sscc:0614141.0000000002",
        "urn:epc:id:sscc:0614141.0000000003",
    ];
    const LOCS: [&str; 3] = [
        "urn:epc:id:sgln:0614141.00001.0",
        "urn:epc:id:sgln:0614141.00002.0",
        "urn:epc:id:sgln:0614141.00003.0",
    ];
    // (kind, action, time in minutes, units, parent, location, step, disposition, lot); times
    // collide on purpose so ties by arrival order are exercised.
    let op = (
        0u8..3,
        0u8..3,
        0i64..12,
        proptest::collection::vec(0usize..6, 0..4),
        3usize..6,
        0usize..4,
        0u8..3,
        proptest::bool::ANY,
    );
    let doc = proptest::collection::vec(op, 1..5);
    let run = proptest::collection::vec((doc, proptest::bool::ANY), 1..10);
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 24,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let (_c, clk) = clock();
    let s = f.open(clk).await;
    let mut n = 0u32;
    for case in 0..24 {
        let docs = run.new_tree(&mut runner).expect("strategy").current();
        let mut model = Model::default();
        // Each case uses its own identifiers so cases do not interfere in one store.
        let tag = |u: &str| format!("{u}{case:02}");
        let mut all_units = BTreeSet::new();
        for (ops, proceed) in docs {
            let mut events = Vec::new();
            for (kind, action, minutes, units, parent, loc, step, lot) in ops {
                n += 1;
                let action = [Action::Add, Action::Observe, Action::Delete][action as usize];
                let units: Vec<String> = {
                    let mut u: Vec<String> = units.into_iter().map(|i| tag(UNITS[i])).collect();
                    u.sort();
                    u.dedup();
                    u
                };
                let parent = tag(UNITS[parent]);
                let mut e = match kind {
                    0 => {
                        let refs: Vec<&str> = units.iter().map(String::as_str).collect();
                        obj(n, minutes, action, &refs)
                    }
                    _ => {
                        let refs: Vec<&str> = units
                            .iter()
                            .filter(|u| **u != parent)
                            .map(String::as_str)
                            .collect();
                        agg(n, minutes, action, &parent, &refs)
                    }
                };
                if loc < 3 {
                    e.biz_location = Some(LOCS[loc].to_string());
                }
                e.biz_step = [None, Some("commissioning"), Some("shipping")][step as usize]
                    .map(str::to_string);
                if lot {
                    e.ilmd_lot = Some(format!("L{minutes}"));
                    e.persistent_disposition_set = vec![format!("p{}", minutes % 3)];
                } else {
                    e.persistent_disposition_unset = vec![format!("p{}", minutes % 3)];
                }
                // Now and then resend an earlier event (duplicate).
                if n % 7 == 3 {
                    if let Some(prev) = model.events.last() {
                        events.push(prev.clone());
                    }
                }
                for (_, x) in &e.epcs {
                    all_units.insert(x.clone());
                }
                events.push(e);
            }
            let mode = if proceed {
                CaptureMode::Proceed
            } else {
                CaptureMode::Rollback
            };
            let r = s.capture(events.clone(), mode).await.expect("capture");
            for (e, o) in events.iter().zip(&r.outcomes) {
                let fresh = model.capture(e);
                match o {
                    CaptureOutcome::Stored { .. } => assert!(fresh, "stored although a duplicate"),
                    CaptureOutcome::Duplicate => {
                        assert!(!fresh, "duplicate reported for a new event")
                    }
                    o => panic!("unexpected outcome {o:?}"),
                }
            }
        }
        for u in &all_units {
            let got = s.unit_state(u).await.expect("unit_state").map(comparable);
            let want = model.state(u).map(comparable);
            assert_eq!(got, want, "case {case}: state of {u}");
            let page = s
                .query_events(&EventQuery {
                    match_any_epc: vec![u.clone()],
                    per_page: Some(1000),
                    ..q()
                })
                .await
                .unwrap();
            let got: BTreeSet<String> = page.events.into_iter().map(|e| e.hash_id).collect();
            let want: BTreeSet<String> = model
                .events
                .iter()
                .filter(|e| e.epcs.iter().any(|(_, x)| x == u))
                .map(|e| e.hash_id.clone())
                .collect();
            assert_eq!(got, want, "case {case}: MATCH_anyEPC {u}");
        }
        let mut kids: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for u in &all_units {
            if let Some(p) = model.state(u).and_then(|st| st.parent) {
                kids.entry(p).or_default().push(u.clone());
            }
        }
        for u in &all_units {
            let want = kids.get(u).cloned().unwrap_or_default();
            assert_eq!(
                s.children(u).await.unwrap(),
                want,
                "case {case}: children of {u}"
            );
        }
    }
}

/// Crash test helpers: a child process captures from several writers and prints each
/// acknowledgement; the parent kills it (SIGKILL) at a random point, reopens the store and checks
/// that no acknowledged event is lost and no document is half stored.
pub mod crash {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use crate::{
        Action, CaptureEvent, CaptureMode, EpcRole, EventQuery, EventType, Store, UnitFilter,
    };

    pub const EVENTS_PER_DOC: u64 = 3;
    pub const EPCS_PER_EVENT: u64 = 50;

    /// Document number `doc`: 3 ObjectEvents of 50 EPCs each.
    pub fn doc(doc: u64) -> Vec<CaptureEvent> {
        (0..EVENTS_PER_DOC)
            .map(|i| {
                let mut e = CaptureEvent::new(
                    format!("ni:///sha-256;{doc:032x}{i:032x}?ver=CBV2.0"),
                    EventType::ObjectEvent,
                    1_700_000_000_000 + (doc * 10 + i) as i64,
                );
                e.action = Some(Action::Add);
                e.epcs = (0..EPCS_PER_EVENT)
                    .map(|j| {
                        let n = (doc * EVENTS_PER_DOC + i) * EPCS_PER_EVENT + j;
                        (EpcRole::Epc, format!("urn:epc:id:sgtin:0614141.107346.{n}"))
                    })
                    .collect();
                e.document = json!({"type": "ObjectEvent", "doc": doc, "i": i});
                e
            })
            .collect()
    }

    /// Child side: 4 concurrent writers; prints `ACK <doc>` once each capture returned.
    pub async fn child_capture_loop(store: Arc<dyn Store>) {
        let mut tasks = Vec::new();
        for w in 0..4u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // Bounded: the parent kills the process long before this ends.
                for k in 0..100_000u64 {
                    let d = k * 4 + w;
                    let r = store
                        .capture(doc(d), CaptureMode::Rollback)
                        .await
                        .expect("capture");
                    assert_eq!(r.stored(), EVENTS_PER_DOC as usize);
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "ACK {d}");
                    let _ = out.flush();
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Parent side: run test `child_test` of this test binary as a child with `env=value`, kill
    /// it after a random number of acknowledgements; returns the acknowledged documents.
    pub fn run_and_kill_child(child_test: &str, env: &str, value: &str) -> BTreeSet<u64> {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                child_test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(env, value)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line
                    .strip_prefix("ACK ")
                    .and_then(|n| n.trim().parse().ok())
                {
                    if tx.send(n).is_err() {
                        break;
                    }
                }
            }
        });
        let target = 20 + (std::process::id() as usize % 60);
        let mut acked = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.len() < target && Instant::now() < deadline {
            if let Ok(n) = rx.recv_timeout(Duration::from_millis(100)) {
                acked.insert(n);
            }
        }
        child.kill().expect("kill child"); // SIGKILL: no chance to finish anything
        let _ = child.wait();
        let _ = reader.join();
        // Acknowledgements printed before the kill but read after it count too.
        while let Ok(n) = rx.try_recv() {
            acked.insert(n);
        }
        assert!(
            acked.len() >= 10,
            "child acknowledged only {} documents in time",
            acked.len()
        );
        acked
    }

    /// Every acknowledged document complete, no document half stored, unit state consistent,
    /// and the store still captures.
    pub async fn verify_after_crash(store: Arc<dyn Store>, acked: &BTreeSet<u64>) {
        let mut per_doc: BTreeMap<u64, u64> = BTreeMap::new();
        let mut token = None;
        loop {
            let page = store
                .query_events(&EventQuery {
                    per_page: Some(10_000),
                    next_page_token: token,
                    ..Default::default()
                })
                .await
                .expect("query");
            for e in &page.events {
                let d = e.document["doc"].as_u64().expect("doc number");
                *per_doc.entry(d).or_default() += 1;
            }
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
        for d in acked {
            assert_eq!(
                per_doc.get(d),
                Some(&EVENTS_PER_DOC),
                "acknowledged document {d} lost or incomplete"
            );
        }
        for (d, n) in &per_doc {
            assert_eq!(*n, EVENTS_PER_DOC, "document {d} is half stored");
        }
        let units = store
            .list_units(&UnitFilter::default())
            .await
            .expect("units");
        assert_eq!(
            units.len() as u64,
            per_doc.len() as u64 * EVENTS_PER_DOC * EPCS_PER_EVENT,
            "unit state matches the stored events"
        );
        let next = per_doc.keys().max().map_or(1_000_000, |m| m + 1_000_000);
        let r = store
            .capture(doc(next), CaptureMode::Rollback)
            .await
            .expect("capture after crash");
        assert_eq!(r.stored(), EVENTS_PER_DOC as usize);
    }
}

/// Upgrades: a database written at an older schema version gives the same answers once this
/// build has migrated it. A backend test writes [`upgrade::fill`] with the schema stopped at the
/// old version, takes [`upgrade::answers`], reopens with the current schema and compares.
pub mod upgrade {
    use super::*;

    /// Commissioning with locations and lot, packing into a case and a pallet, a shipment, a
    /// late observation, class-level quantities.
    pub async fn fill(s: &Arc<dyn Store>) {
        let mut commission = obj(1, 0, Action::Add, &[&epc(1), &epc(2), &epc(3)]);
        commission.biz_location = Some("urn:epc:id:sgln:0614141.00001.0".into());
        commission.read_point = Some("urn:epc:id:sgln:0614141.00001.1".into());
        commission.ilmd_lot = Some("LOT1".into());
        let mut ship = obj(5, 30, Action::Observe, &[PALLET]);
        ship.biz_location = Some("urn:epc:id:sgln:0614141.00002.0".into());
        ship.read_point = Some("urn:epc:id:sgln:0614141.00002.7".into());
        let mut stock = obj(8, 50, Action::Add, &[]);
        stock.biz_location = Some("urn:epc:id:sgln:0614141.00002.0".into());
        stock.quantities = vec![qty(
            QuantityRole::Quantity,
            "urn:epc:class:lgtin:4012345.012345.998877",
            200.0,
            Some("KGM"),
        )];
        must_capture(
            s,
            vec![
                commission,
                agg(2, 10, Action::Add, CASE, &[&epc(1), &epc(2)]),
                agg(3, 20, Action::Add, PALLET, &[CASE]),
                ship,
                agg(6, 40, Action::Delete, CASE, &[&epc(2)]),
                stock,
            ],
        )
        .await;
        // Late: before the packing of the case.
        must_capture(s, vec![obj(7, 5, Action::Observe, &[&epc(1), &epc(3)])]).await;
        // Sensor metadata with a start and end time, stored as releases before schema 4 did:
        // in the document only (the migration fills the index in from it).
        let mut sensed = obj(11, 60, Action::Observe, &[&epc(3)]);
        sensed.document["sensorElementList"] = json!([
            {"sensorMetadata": {"startTime": "2023-11-14T23:13:20.500+01:00",
                                "endTime": "2023-11-14T22:43:20Z"},
             "sensorReport": [{"type": "Temperature", "value": 4.0, "uom": "CEL"}]},
            {"sensorReport": [{"type": "Temperature", "value": 5.0, "uom": "CEL"}]}
        ]);
        must_capture(s, vec![sensed]).await;
    }

    /// After an upgrade to schema 4 or later: the sensor periods of [`fill`]'s event 11 (start
    /// T0 + 0.5 s, end T0 + 30 min) are found by `GE_/LT_startTime` and `GE_/LT_endTime`.
    pub async fn sensor_periods_filled_in(s: &Arc<dyn Store>) {
        let q = |f: &dyn Fn(&mut EventQuery)| {
            let mut q = EventQuery::default();
            f(&mut q);
            q
        };
        let cases: Vec<(EventQuery, BTreeSet<String>)> = vec![
            (q(&|q| q.ge_start_time = Some(T0 + 500)), set(&[11])),
            (q(&|q| q.ge_start_time = Some(T0 + 501)), set(&[])),
            (q(&|q| q.lt_end_time = Some(T0 + 30 * MIN + 1)), set(&[11])),
            (q(&|q| q.lt_end_time = Some(T0 + 30 * MIN)), set(&[])),
        ];
        for (query, want) in cases {
            assert_eq!(hashes(s, query.clone()).await, want, "{query:?}");
        }
    }

    /// Every read of the units and events of [`fill`], as text.
    pub async fn answers(s: &Arc<dyn Store>) -> Vec<String> {
        let mut out = Vec::new();
        let all = s.query_events(&EventQuery::default()).await.expect("query");
        out.push(format!("{:?}", all.events));
        let at_dc = EventQuery {
            eq_biz_location: vec!["urn:epc:id:sgln:0614141.00002.0".into()],
            ..EventQuery::default()
        };
        out.push(format!("{:?}", hashes(s, at_dc).await));
        let units = [epc(1), epc(2), epc(3), CASE.to_string(), PALLET.to_string()];
        for u in &units {
            out.push(format!("{:?}", s.unit_state(u).await.expect("unit_state")));
            out.push(format!("{:?}", s.timeline(u).await.expect("timeline")));
            out.push(format!("{:?}", s.children(u).await.expect("children")));
            out.push(format!(
                "{:?}",
                s.current_location(u).await.expect("location")
            ));
        }
        out.push(format!(
            "{:?}",
            s.list_units(&UnitFilter::default())
                .await
                .expect("list_units")
        ));
        out.push(format!(
            "{:?}",
            s.class_stock(None, None).await.expect("class_stock")
        ));
        for role in [LocationRole::BizLocation, LocationRole::ReadPoint] {
            out.push(format!(
                "{:?}",
                s.list_event_locations(role, None, 100)
                    .await
                    .expect("locations")
            ));
        }
        out
    }

    /// After the upgrade, captures still work and still keep state in event-time order.
    pub async fn still_captures(s: &Arc<dyn Store>) {
        must_capture(s, vec![agg(9, 45, Action::Delete, PALLET, &[CASE])]).await;
        assert_eq!(state(s, CASE).await.parent, None);
        assert_eq!(state(s, &epc(1)).await.parent.as_deref(), Some(CASE));
        assert_eq!(
            s.children(PALLET).await.expect("children"),
            Vec::<String>::new()
        );
    }
}
