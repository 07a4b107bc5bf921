//! The demo dataset: deterministic, valid EPCIS 2.0, complete master data, and the stories hold
//! when read back from the events themselves.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

use serde_json::Value;
use unitrace_demo::{distance_km, generate, stories, Demo, DemoConfig, LocationKind};
use unitrace_id::Identity;

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| generate(&DemoConfig::default()))
}

fn events(demo: &Demo) -> impl Iterator<Item = &Value> {
    demo.documents
        .iter()
        .flat_map(|d| d["epcisBody"]["eventList"].as_array().unwrap())
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The EPCs an event is about (epcList, parentID, childEPCs).
fn epcs(e: &Value) -> Vec<&str> {
    let mut out = strs(&e["epcList"]);
    out.extend(strs(&e["childEPCs"]));
    out.extend(e["parentID"].as_str());
    out
}

fn last_biz_location<'a>(demo: &'a Demo, epc: &str) -> Option<&'a str> {
    events(demo)
        .filter(|e| strs(&e["epcList"]).contains(&epc))
        .filter_map(|e| e["bizLocation"]["id"].as_str())
        .last()
}

#[test]
fn deterministic() {
    let a = serde_json::to_vec(&generate(&DemoConfig::default())).unwrap();
    let b = serde_json::to_vec(&generate(&DemoConfig::default())).unwrap();
    assert!(a == b, "two runs differ");
    let c = serde_json::to_vec(&generate(&DemoConfig {
        scale: 2,
        ..DemoConfig::default()
    }))
    .unwrap();
    assert_ne!(a, c);
}

#[test]
fn documents_validate_and_event_hashes_are_unique() {
    let demo = demo();
    let mut seen = HashSet::new();
    for (i, doc) in demo.documents.iter().enumerate() {
        let bytes = serde_json::to_vec(doc).unwrap();
        if let Err(problems) = unitrace_epcis::validate_document(&bytes) {
            let shown: Vec<String> = problems.iter().take(10).map(|p| p.to_string()).collect();
            panic!("document {i} is invalid:\n{}", shown.join("\n"));
        }
        let n = doc["epcisBody"]["eventList"].as_array().unwrap().len();
        assert!((1..=200).contains(&n), "document {i} has {n} events");
        for h in unitrace_epcis::hash_document(&bytes).unwrap() {
            assert!(seen.insert(h.clone()), "duplicate event hash {h}");
        }
    }
    assert_eq!(seen.len(), demo.summary.events);
}

#[test]
fn events_are_in_time_order_within_each_document() {
    for doc in &demo().documents {
        let times: Vec<&str> = doc["epcisBody"]["eventList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventTime"].as_str().unwrap())
            .collect();
        // Same format everywhere (…T08:00:00.000Z), so string order is time order.
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times.iter().all(|t| t.len() == 24 && t.ends_with('Z')));
    }
}

#[test]
fn identifiers_parse_and_master_data_is_complete() {
    let demo = demo();
    let md = &demo.master_data;
    let mut checked = 0;
    for e in events(demo) {
        for epc in epcs(e) {
            let p = unitrace_id::parse_any(epc).unwrap_or_else(|err| panic!("{epc}: {err}"));
            match p.identity {
                Some(Identity::Sgtin { gtin, .. }) => {
                    assert!(md.product(gtin.as_str()).is_some(), "no product {gtin:?}");
                }
                Some(Identity::Sscc(_)) => {}
                other => panic!("unexpected identity {other:?}"),
            }
            checked += 1;
        }
        for k in ["readPoint", "bizLocation"] {
            if let Some(id) = e[k]["id"].as_str() {
                unitrace_id::parse_any(id).unwrap();
                assert!(md.location(id).is_some(), "no location {id}");
            }
        }
        for (list, key) in [("sourceList", "source"), ("destinationList", "destination")] {
            for s in e[list].as_array().into_iter().flatten() {
                let id = s[key].as_str().unwrap();
                unitrace_id::parse_any(id).unwrap();
                match s["type"].as_str().unwrap() {
                    "location" => assert!(md.location(id).is_some(), "no location {id}"),
                    "owning_party" => assert!(md.party(id).is_some(), "no party {id}"),
                    t => panic!("unexpected source/destination type {t}"),
                }
            }
        }
        for se in e["sensorElementList"].as_array().into_iter().flatten() {
            unitrace_id::parse_any(se["sensorMetadata"]["deviceID"].as_str().unwrap()).unwrap();
        }
    }
    assert!(checked > 5000);
    // The hierarchy: every parent exists, comes first, and every chain ends at a site.
    let mut ids = HashSet::new();
    for l in &md.locations {
        unitrace_id::parse_any(&l.id).unwrap();
        match &l.parent {
            None => assert_eq!(l.kind, LocationKind::Site),
            Some(p) => assert!(ids.contains(p.as_str()), "{} before its parent", l.id),
        }
        assert!(md.party(&l.owner).is_some());
        assert!(ids.insert(l.id.as_str()), "duplicate location {}", l.id);
    }
    for p in &md.products {
        unitrace_id::check::verify_gs1_check_digit(p.gtin.as_bytes()).unwrap();
        assert!(md.party(&p.owner).is_some());
        assert!(p.storage_temp_min_c < p.storage_temp_max_c);
    }
    for p in &md.parties {
        unitrace_id::check::verify_gs1_check_digit(p.gln.as_bytes()).unwrap();
    }
}

#[test]
fn sizes() {
    let s = &demo().summary;
    assert!(s.units >= 2000, "{s:?}");
    assert_eq!(s.units, s.items + s.containers);
    assert_eq!(s.documents, demo().documents.len());
    assert_eq!(s.events, events(demo()).count());
    // Every commissioned item and every container appears once as such.
    let mut items = HashSet::new();
    let mut containers = HashSet::new();
    for e in events(demo()) {
        if e["bizStep"] == "commissioning" {
            for x in strs(&e["epcList"]) {
                assert!(items.insert(x), "{x} commissioned twice");
            }
        }
        if e["type"] == "AggregationEvent" && e["action"] == "ADD" {
            containers.insert(e["parentID"].as_str().unwrap());
        }
    }
    assert_eq!((items.len(), containers.len()), (s.items, s.containers));
}

#[test]
fn recalled_lot() {
    let demo = demo();
    let st = stories(demo);
    let r = &st.recalled_lot;
    // The lot's units are exactly those commissioned with its GTIN and lot.
    let mut lots: BTreeMap<(String, String), BTreeSet<&str>> = BTreeMap::new();
    for e in events(demo).filter(|e| e["bizStep"] == "commissioning") {
        let Some(lot) = e["ilmd"]["cbvmda:lotNumber"].as_str() else {
            continue;
        };
        for x in strs(&e["epcList"]) {
            let Some(Identity::Sgtin { gtin, .. }) = unitrace_id::parse_any(x).unwrap().identity
            else {
                panic!("{x} is not an SGTIN");
            };
            lots.entry((gtin.as_str().to_owned(), lot.to_owned()))
                .or_default()
                .insert(x);
        }
        if e["ilmd"]["cbvmda:lotNumber"] == r.lot.as_str() {
            assert_eq!(e["ilmd"]["cbvmda:itemExpirationDate"], r.expiry.as_str());
        }
    }
    let units = &lots[&(r.gtin.clone(), r.lot.clone())];
    assert_eq!(units.len(), r.units.len());
    assert!(r.units.iter().all(|u| units.contains(u.as_str())));
    for other in &r.other_lots {
        assert!(lots.contains_key(other), "{other:?}");
        assert_eq!(other.0.len(), 14);
    }
    assert!(
        r.other_lots.iter().any(|(g, _)| *g == r.gtin),
        "a sibling lot of the same GTIN"
    );
    // The lot ends up in several places, as the stories say.
    let md = &demo.master_data;
    let sites: BTreeSet<String> = r
        .units
        .iter()
        .map(|u| {
            let loc = last_biz_location(demo, u).unwrap();
            md.site_of(loc).unwrap().id.clone()
        })
        .collect();
    assert!(sites.len() >= 3, "{sites:?}");
    assert_eq!(sites, r.sites.iter().cloned().collect());
    // Some of them were dispensed, some are still on a shelf.
    let dispensed: HashSet<&str> = events(demo)
        .filter(|e| e["disposition"] == "dispensed")
        .flat_map(|e| strs(&e["epcList"]))
        .collect();
    let n = r
        .units
        .iter()
        .filter(|u| dispensed.contains(u.as_str()))
        .count();
    assert!(n > 0 && n < r.units.len());
}

#[test]
fn cloned_pack() {
    let demo = demo();
    let c = stories(demo).cloned_pack;
    let md = &demo.master_data;
    let commissioned = events(demo)
        .filter(|e| {
            e["bizStep"] == "commissioning" && strs(&e["epcList"]).contains(&c.epc.as_str())
        })
        .count();
    assert_eq!(commissioned, 1);
    let seen: Vec<&Value> = events(demo)
        .filter(|e| e["action"] == "OBSERVE" && e["bizStep"] == "inspecting")
        .filter(|e| strs(&e["epcList"]).contains(&c.epc.as_str()))
        .collect();
    assert_eq!(seen.len(), 2);
    let rp: Vec<&str> = seen
        .iter()
        .map(|e| e["readPoint"]["id"].as_str().unwrap())
        .collect();
    let (a, b) = (md.location(rp[0]).unwrap(), md.location(rp[1]).unwrap());
    let km = distance_km(a.lat, a.lon, b.lat, b.lon);
    assert!(km > 500.0, "{km} km");
    assert_eq!(rp[0], c.sightings[0].read_point);
    assert_eq!(rp[1], c.sightings[1].read_point);
    assert_eq!(seen[0]["eventTime"], c.sightings[0].time.as_str());
    assert_eq!(seen[1]["eventTime"], c.sightings[1].time.as_str());
    assert!(c.minutes_apart <= 10 && c.distance_km > 500);
    assert_ne!(md.site_of(rp[0]).unwrap().id, md.site_of(rp[1]).unwrap().id);
}

#[test]
fn moved_without_scan() {
    let demo = demo();
    let m = stories(demo).moved_without_scan;
    let md = &demo.master_data;
    assert_eq!(
        last_biz_location(demo, &m.epc),
        Some(m.recorded_location.as_str())
    );
    assert_ne!(m.recorded_location, m.actual_location);
    let (a, b) = (
        md.location(&m.recorded_location).unwrap(),
        md.location(&m.actual_location).unwrap(),
    );
    assert_eq!((a.kind, b.kind), (LocationKind::Shelf, LocationKind::Shelf));
    assert_eq!(md.site_of(&a.id).unwrap().id, md.site_of(&b.id).unwrap().id);
    // Never scanned at the actual shelf, never dispensed.
    assert!(events(demo).all(|e| !(epcs(e).contains(&m.epc.as_str())
        && (e["bizLocation"]["id"] == m.actual_location.as_str()
            || e["disposition"] == "dispensed"))));
}

#[test]
fn exactly_one_temperature_out_of_range() {
    let demo = demo();
    let x = stories(demo).excursion;
    let md = &demo.master_data;
    let mut out = Vec::new();
    let mut n = 0;
    for e in events(demo) {
        for se in e["sensorElementList"].as_array().into_iter().flatten() {
            for r in se["sensorReport"].as_array().unwrap() {
                assert_eq!(r["type"], "gs1:Temperature");
                assert_eq!(r["uom"], "CEL");
                let v = r["value"].as_f64().unwrap();
                n += 1;
                // The range of the products on the pallets of this event.
                for pallet in strs(&e["epcList"]) {
                    let agg = events(demo)
                        .find(|a| a["type"] == "AggregationEvent" && a["parentID"] == pallet)
                        .unwrap();
                    let case = strs(&agg["childEPCs"])[0];
                    let Some(Identity::Sgtin { gtin, .. }) =
                        unitrace_id::parse_any(case).unwrap().identity
                    else {
                        panic!()
                    };
                    let p = md.product(gtin.as_str()).unwrap();
                    if v < p.storage_temp_min_c || v > p.storage_temp_max_c {
                        out.push((e["eventTime"].as_str().unwrap().to_owned(), v, pallet));
                    }
                }
            }
        }
    }
    assert!(n >= 20);
    let times: BTreeSet<_> = out
        .iter()
        .map(|(t, v, _)| (t.clone(), v.to_bits()))
        .collect();
    assert_eq!(times.len(), 1, "{out:?}");
    assert_eq!(out[0].0, x.time);
    assert_eq!(out[0].1, x.value_c);
    let pallets: BTreeSet<&str> = out.iter().map(|(_, _, p)| *p).collect();
    assert_eq!(pallets, x.pallets.iter().map(String::as_str).collect());
}

#[test]
fn returned_laptop() {
    let demo = demo();
    let r = stories(demo).returned_laptop;
    let trail: Vec<(&str, &str)> = events(demo)
        .filter(|e| epcs(e).contains(&r.epc.as_str()) && e["type"] == "ObjectEvent")
        .map(|e| {
            (
                e["bizStep"].as_str().unwrap(),
                e["disposition"].as_str().unwrap(),
            )
        })
        .collect();
    let steps: Vec<&str> = trail.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps.first(), Some(&"commissioning"));
    assert!(steps.contains(&"retail_selling"));
    assert!(steps.contains(&"repairing"));
    assert!(trail.contains(&("receiving", "returned")));
    assert_eq!(trail.last().map(|(_, d)| *d), Some("retail_sold"));
    let md = &demo.master_data;
    assert_eq!(md.location(&r.store).unwrap().kind, LocationKind::Site);
    assert!(md.location(&r.repair_location).is_some());
    assert!(r.sold_at < r.returned_at);
}

#[test]
fn larger_scale_stays_valid() {
    let demo = generate(&DemoConfig {
        scale: 3,
        max_events_per_document: 500,
    });
    assert!(demo.summary.units > 3 * 2000);
    let mut seen = HashSet::new();
    for doc in &demo.documents {
        let bytes = serde_json::to_vec(doc).unwrap();
        let hashes = unitrace_epcis::validate_and_hash(&bytes).unwrap();
        assert!(hashes.into_iter().all(|h| seen.insert(h)));
    }
}

/// Captured in document order, every unit is created (commissioned, or packed as a new container)
/// before any other event names it, and no event time goes back within a scenario's documents.
fn assert_causal(demo: &Demo) {
    let mut known: HashSet<&str> = HashSet::new();
    for e in events(demo) {
        let creates: Vec<&str> = if e["bizStep"] == "commissioning" {
            strs(&e["epcList"])
        } else if e["type"] == "AggregationEvent" && e["action"] == "ADD" {
            e["parentID"].as_str().into_iter().collect()
        } else {
            Vec::new()
        };
        for x in &creates {
            assert!(known.insert(x), "{x} created twice");
        }
        for x in epcs(e) {
            assert!(
                known.contains(x),
                "{x} used at {} before it exists",
                e["eventTime"]
            );
        }
    }
}

#[test]
fn causal_order() {
    assert_causal(demo());
    assert_causal(&generate(&DemoConfig {
        scale: 4,
        max_events_per_document: 37,
    }));
}
