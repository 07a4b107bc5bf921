//! Pure parts of the store crate: validation, patterns, page tokens, recordTime, state rules.

use unitrace_store::clock::next_record_time;
use unitrace_store::engine::validate_event;
use unitrace_store::query::{class_matchers, epc_matchers, Matcher, PageCursor};
use unitrace_store::state::{containment_periods, replay, EventFacts, HistoryItem, RoleSet};
use unitrace_store::{Action, CaptureEvent, EpcRole, EventQuery, EventType, StoreError};

fn facts(seq: i64, t: EventType, time: i64, action: Option<Action>) -> EventFacts {
    let mut e = CaptureEvent::new("ni:///sha-256;x", t, time);
    e.action = action;
    EventFacts::of(&e, seq)
}

#[test]
fn record_time_never_goes_back() {
    assert_eq!(next_record_time(100, None), 100);
    assert_eq!(next_record_time(100, Some(50)), 100);
    assert_eq!(next_record_time(100, Some(100)), 101);
    assert_eq!(next_record_time(10, Some(500)), 501);
    assert_eq!(next_record_time(0, Some(i64::MAX)), i64::MAX);
}

#[test]
fn prefix_upper_bounds_exactly_the_prefix() {
    assert_eq!(Matcher::prefix_upper("abc").as_deref(), Some("abd"));
    assert_eq!(Matcher::prefix_upper("a.").as_deref(), Some("a/"));
    assert_eq!(Matcher::prefix_upper(""), None);
    assert_eq!(Matcher::prefix_upper("\u{10FFFF}"), None);
    assert_eq!(Matcher::prefix_upper("a\u{10FFFF}").as_deref(), Some("b"));
    // Skips the surrogate gap.
    assert_eq!(
        Matcher::prefix_upper("\u{D7FF}").as_deref(),
        Some("\u{E000}")
    );
}

#[test]
fn idpat_patterns() {
    assert_eq!(
        epc_matchers("urn:epc:idpat:sgtin:0614141.107346.*").unwrap(),
        vec![Matcher::Prefix("urn:epc:id:sgtin:0614141.107346.".into())]
    );
    assert_eq!(
        epc_matchers("urn:epc:idpat:sgtin:0614141.*.*").unwrap(),
        vec![Matcher::Prefix("urn:epc:id:sgtin:0614141.".into())]
    );
    assert_eq!(
        epc_matchers("urn:epc:id:sgtin:0614141.107346.1").unwrap(),
        vec![Matcher::Exact("urn:epc:id:sgtin:0614141.107346.1".into())]
    );
    assert!(matches!(
        epc_matchers("urn:epc:idpat:sgtin:*.107346.1"),
        Err(StoreError::InvalidInput(_))
    ));
    let c = class_matchers("urn:epc:idpat:sgtin:4012345.012345.*").unwrap();
    assert!(c.contains(&Matcher::Prefix(
        "urn:epc:class:lgtin:4012345.012345.".into()
    )));
    assert!(c
        .iter()
        .any(|m| m.matches("urn:epc:idpat:sgtin:4012345.012345.*")));
}

#[test]
fn page_token_round_trip_and_checks() {
    let q = EventQuery {
        match_epc: vec!["urn:epc:id:sgtin:0614141.107346.1".into()],
        ..Default::default()
    };
    let c = PageCursor {
        fingerprint: q.fingerprint(),
        snapshot_seq: 42,
        last_key: -7,
        last_seq: 9,
        returned: 3,
        expires_at: 1_000,
    };
    let t = c.encode();
    assert_eq!(PageCursor::decode(&t, &q, 999).unwrap(), c);
    assert!(PageCursor::decode(&t, &q, 1_001).is_err(), "expired");
    let other = EventQuery::default();
    assert!(PageCursor::decode(&t, &other, 0).is_err(), "other query");
    let paged = EventQuery {
        per_page: Some(5),
        next_page_token: Some(t.clone()),
        ..q.clone()
    };
    assert_eq!(
        paged.fingerprint(),
        q.fingerprint(),
        "paging fields are not part of the query"
    );
    for bad in ["", "0", "zz", "3132", &t[..t.len() - 2]] {
        assert!(PageCursor::decode(bad, &q, 0).is_err(), "{bad:?}");
    }
}

#[test]
fn validation_names_the_failing_part() {
    let mut e = CaptureEvent::new("ni:///sha-256;1", EventType::ObjectEvent, 0);
    e.action = Some(Action::Add);
    e.document = serde_json::json!({});
    assert!(validate_event(&e).is_ok());
    e.epcs.push((EpcRole::ParentId, "urn:epc:id:sscc:1".into()));
    assert!(validate_event(&e).unwrap_err().contains("role"));
    e.epcs.clear();
    e.event_time_zone_offset = "01:00".into();
    assert!(validate_event(&e)
        .unwrap_err()
        .contains("eventTimeZoneOffset"));
    e.event_time_zone_offset = "-14:00".into();
    assert!(validate_event(&e).is_ok());
    e.read_point = Some("a\u{0}b".into());
    assert!(validate_event(&e).unwrap_err().contains("control"));
}

#[test]
fn replay_follows_event_time_not_arrival() {
    let mut a = facts(1, EventType::ObjectEvent, 20, Some(Action::Observe));
    a.biz_location = Some("late-but-newest".into());
    let mut b = facts(2, EventType::ObjectEvent, 10, Some(Action::Observe));
    b.biz_location = Some("older".into());
    let st = replay(
        "u",
        vec![
            HistoryItem::Named(a, RoleSet::single(EpcRole::Epc)),
            HistoryItem::Named(b, RoleSet::single(EpcRole::Epc)),
        ],
    )
    .unwrap();
    assert_eq!(st.biz_location.as_deref(), Some("late-but-newest"));
    assert_eq!(st.last_event_time, 20);
    assert!(replay("u", Vec::new()).is_none());
}

#[test]
fn containment_periods_track_parents() {
    let mut add = facts(1, EventType::AggregationEvent, 10, Some(Action::Add));
    add.parent_id = Some("P".into());
    let mut moved = facts(2, EventType::AggregationEvent, 20, Some(Action::Add));
    moved.parent_id = Some("Q".into());
    let mut emptied = facts(3, EventType::AggregationEvent, 30, Some(Action::Delete));
    emptied.parent_id = Some("Q".into());
    emptied.empty_delete = true;
    let child = RoleSet::single(EpcRole::ChildEpc);
    let p = containment_periods(
        "u",
        vec![
            HistoryItem::ParentEmptied(emptied),
            HistoryItem::Named(moved, child),
            HistoryItem::Named(add, child),
        ],
    );
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[0].parent.as_str(), p[0].from, p[0].to),
        ("P", (10, 1), Some((20, 2)))
    );
    assert_eq!(
        (p[1].parent.as_str(), p[1].from, p[1].to),
        ("Q", (20, 2), Some((30, 3)))
    );
}

#[test]
fn units_convert_to_their_base() {
    use unitrace_store::units::to_base;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    let (b, v) = to_base("FAH", 32.0);
    assert_eq!(b, "KEL");
    assert!(close(v, 273.15));
    assert!(close(to_base("FAH", 212.0).1, to_base("CEL", 100.0).1));
    assert!(close(to_base("LBR", 1.0).1, 0.453_592_37));
    assert_eq!(
        to_base("XYZ", 5.0),
        ("XYZ", 5.0),
        "unknown units compare only with themselves"
    );
}
