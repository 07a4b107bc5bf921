//! Serials, verification, alerts and decommissioning over HTTP: the server on an ephemeral port
//! with a temporary SQLite store holding the demo dataset.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use unitrace_capture::{capture_document, CaptureMode};
use unitrace_server::{run, AppState, Config};
use unitrace_store::{Location, Store, SystemClock};
use unitrace_store_sqlite::SqliteStore;

struct Server {
    base: String,
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("t.sqlite"), Arc::new(SystemClock))
                .await
                .unwrap(),
        );
        let state = AppState::new(store.clone(), Config::default()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, state, async {
            let _ = rx.await;
        }));
        Server {
            base,
            client: Client::new(),
            stop: Some(tx),
            task: Some(task),
            store,
            _dir: dir,
        }
    }

    async fn get(&self, p: &str) -> Response {
        self.client
            .get(format!("{}{p}", self.base))
            .header("x-requester", "pharmacist-7")
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, p: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{p}", self.base))
            .header("content-type", "application/json")
            .header("x-requester", "line-2")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn problem(r: Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let v: Value = r.json().await.unwrap();
    v["detail"].as_str().unwrap().to_string()
}

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

async fn verdict(s: &Server, q: &str) -> Value {
    let r = s.get(&format!("/verify?{q}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Waits until `f` holds (the background detector and log writer run every half second).
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what}: did not happen within 150 s");
}

#[tokio::test]
async fn demo_over_http() {
    let s = Server::start().await;
    let demo = load_demo(s.store.as_ref()).await;
    let clone = demo.stories.cloned_pack.epc.clone();

    // Bad identifiers and parameters: 400 saying why.
    let d = problem(s.get("/verify?id=hello").await, StatusCode::BAD_REQUEST).await;
    assert!(d.contains("not a valid identifier"), "{d}");
    let d = problem(s.get("/verify").await, StatusCode::BAD_REQUEST).await;
    assert!(d.contains("id is required"), "{d}");
    let d = problem(
        s.get(&format!("/verify?id={}&colour=red", enc(&clone)))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("colour"), "{d}");

    // The detector tails the demo in the background and raises the Hamburg/München clone.
    let alerts_url = format!("/alerts?id={}", enc(&clone));
    eventually("clone alert", || async {
        let v: Value = s.get(&alerts_url).await.json().await.unwrap();
        v["alerts"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let v: Value = s.get(&alerts_url).await.json().await.unwrap();
    let alert = v["alerts"][0].clone();
    assert_eq!(alert["rule"], "impossible_travel");
    assert_eq!(alert["events"].as_array().unwrap().len(), 2);
    // The Digital Link of the same pack gives the same answer.
    let dl = unitrace_id::parse_any(&clone)
        .unwrap()
        .digital_link()
        .unwrap();
    let v = verdict(&s, &format!("id={}", enc(&dl))).await;
    assert_eq!(v["verdict"], "suspect", "{v}");
    assert_eq!(v["epc"], json!(clone));

    let one: Value = s
        .get(&format!("/alerts/{}", alert["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], alert["id"]);
    assert_eq!(s.get("/alerts/nope").await.status(), StatusCode::NOT_FOUND);
    let d = problem(s.get("/alerts?rule=bogus").await, StatusCode::BAD_REQUEST).await;
    assert!(d.contains("impossible_travel"), "{d}");

    // Another sighting, captured over POST /capture (any capture path), in Berlin 15 minutes
    // after München: a second alert.
    let berlin = demo
        .master_data
        .locations
        .iter()
        .find(|l| l.name.contains("Berlin") && l.parent.is_some())
        .unwrap()
        .id
        .clone();
    let t = unitrace_epcis::time::Timestamp::parse(&demo.stories.cloned_pack.sightings[1].time)
        .unwrap()
        .unix_millis()
        + 15 * 60_000;
    let doc = unitrace_ops::emit::document(
        unitrace_ops::emit::object_events(&unitrace_ops::emit::ObjectEventSpec {
            event_time_ms: t,
            action: "OBSERVE",
            epcs: vec![clone.clone()],
            biz_step: Some("inspecting".into()),
            read_point: Some(berlin),
            ..Default::default()
        }),
        t,
    );
    let r = s
        .client
        .post(format!("{}/capture", s.base))
        .header("content-type", "application/ld+json")
        .body(doc.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    eventually("second clone alert", || async {
        let v: Value = s.get(&alerts_url).await.json().await.unwrap();
        v["alerts"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;

    // Acknowledge both: the pack is no longer suspect (it is on a shelf: authentic).
    let v: Value = s.get(&alerts_url).await.json().await.unwrap();
    for a in v["alerts"].as_array().unwrap() {
        let id = a["id"].as_str().unwrap();
        let r = s
            .post(&format!("/alerts/{id}/ack"), &json!({"note": "checked"}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = s.post(&format!("/alerts/{id}/ack"), &json!({})).await;
        problem(r, StatusCode::CONFLICT).await;
    }
    let v = verdict(&s, &format!("id={}", enc(&clone))).await;
    assert_eq!(v["verdict"], "authentic", "{v}");

    // Lot and expiry checks.
    let lot = &demo.stories.recalled_lot;
    let mut pack = None;
    for u in &lot.units {
        let st = s.store.unit_state(u).await.unwrap().unwrap();
        if st.disposition.as_deref() == Some("sellable_accessible") {
            pack = Some(u.clone());
            break;
        }
    }
    let pack = pack.unwrap();
    let q = format!("id={}&lot={}&expiry={}", enc(&pack), lot.lot, lot.expiry);
    assert_eq!(verdict(&s, &q).await["verdict"], "authentic");
    let q = format!("id={}&lot=AMX25A01", enc(&pack));
    assert_eq!(verdict(&s, &q).await["verdict"], "data_mismatch");

    // Every verification is logged, with who asked.
    let url = format!("/verifications?id={}", enc(&pack));
    eventually("verification log", || async {
        let v: Value = s.get(&url).await.json().await.unwrap();
        v["verifications"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let v: Value = s.get(&url).await.json().await.unwrap();
    assert_eq!(v["verifications"][0]["verdict"], "data_mismatch");
    assert_eq!(v["verifications"][0]["requester"], "pharmacist-7");
    problem(s.get("/verifications").await, StatusCode::BAD_REQUEST).await;

    // Decommissioning and reactivation: each refusal names its rule.
    let shelf = s
        .store
        .unit_state(&pack)
        .await
        .unwrap()
        .unwrap()
        .biz_location
        .unwrap();
    let r = s
        .post(
            "/decommission",
            &json!({"units": [pack], "reason": "dispensed", "location": shelf}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        verdict(&s, &format!("id={}", enc(&pack))).await["verdict"],
        "decommissioned"
    );
    let r = s
        .post(
            "/decommission",
            &json!({"units": [pack], "reason": "dispensed", "location": shelf}),
        )
        .await;
    let d = problem(r, StatusCode::CONFLICT).await;
    assert!(d.contains("already_decommissioned"), "{d}");
    let r = s
        .post(
            "/decommission",
            &json!({"units": [pack], "reason": "lost", "location": shelf}),
        )
        .await;
    problem(r, StatusCode::BAD_REQUEST).await;
    let elsewhere = demo
        .master_data
        .locations
        .iter()
        .find(|l| l.name.contains("Köln"))
        .unwrap()
        .id
        .clone();
    let r = s
        .post(
            "/reactivate",
            &json!({"units": [pack], "location": elsewhere}),
        )
        .await;
    let d = problem(r, StatusCode::BAD_REQUEST).await;
    assert!(d.contains("same_location"), "{d}");
    let r = s
        .post("/reactivate", &json!({"units": [pack], "location": shelf}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        verdict(&s, &format!("id={}", enc(&pack))).await["verdict"],
        "authentic"
    );
    let r = s
        .post("/reactivate", &json!({"units": [pack], "location": shelf}))
        .await;
    let d = problem(r, StatusCode::CONFLICT).await;
    assert!(d.contains("not_decommissioned"), "{d}");
    s.stop().await;
}

#[tokio::test]
async fn serials_over_http() {
    let s = Server::start().await;
    let site = "urn:epc:id:sgln:0614141.00777.0";
    let r = s
        .post(
            "/serials",
            &json!({"gtin": "00614141999996", "count": 3, "method": "pattern", "prefix": "B-", "width": 4}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["serials"], json!(["B-0001", "B-0002", "B-0003"]));
    assert_eq!(a["requested_by"], "line-2");
    let got: Value = s.get(&loc).await.json().await.unwrap();
    assert_eq!(got["serials"], a["serials"]);
    let list: Value = s
        .get("/serials?gtin=00614141999996")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["allocations"].as_array().unwrap().len(), 1);
    assert!(list["allocations"][0].get("serials").is_none());
    let r = s
        .post(
            "/serials",
            &json!({"gtin": "00614141999996", "count": 2, "method": "random", "length": 2}),
        )
        .await;
    let d = problem(r, StatusCode::BAD_REQUEST).await;
    assert!(d.contains("EU FMD"), "{d}");
    problem(
        s.post(
            "/serials",
            &json!({"gtin": "123", "count": 1, "method": "sequential"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        s.post("/serials", &json!({"count": 1})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(s.get("/serials/SA99999999").await, StatusCode::NOT_FOUND).await;

    let id = a["id"].as_str().unwrap();
    let body = json!({"lot": "L1", "expiry": "2031-01-31", "location": site});
    let r = s.post(&format!("/serials/{id}/commission"), &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["commissioned"], 3);
    let d = problem(
        s.post(&format!("/serials/{id}/commission"), &body).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(d.contains("already commissioned"), "{d}");
    // A serial never allocated for this GTIN.
    let r = s
        .post(
            "/commission",
            &json!({"units": ["(01)00614141999996(21)B-0099"], "location": site}),
        )
        .await;
    let d = problem(r, StatusCode::BAD_REQUEST).await;
    assert!(d.contains("never allocated"), "{d}");
    let v = verdict(
        &s,
        "id=%2801%2900614141999996%2821%29B-0002&lot=L1&expiry=310131",
    )
    .await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    let v = verdict(&s, "id=%2801%2900614141999996%2821%29B-0099").await;
    assert_eq!(v["verdict"], "unknown", "{v}");
    s.stop().await;
}
