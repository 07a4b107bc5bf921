//! Receiving, cycle counts and recalls over HTTP: the server on an ephemeral port with a temporary
//! SQLite store holding the demo dataset.

use std::sync::Arc;

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
    demo: unitrace_demo::Demo,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.sqlite"), Arc::new(SystemClock))
            .await
            .unwrap();
        let demo = unitrace_demo::generate(&Default::default());
        for l in &demo.master_data.locations {
            let mut loc = Location::new(l.id.clone(), l.parent.as_deref());
            loc.name = Some(l.name.clone());
            store.upsert_location(&loc).await.unwrap();
        }
        for doc in &demo.documents {
            let r = capture_document(
                &store,
                &serde_json::to_vec(doc).unwrap(),
                CaptureMode::Rollback,
            )
            .await
            .unwrap();
            assert!(r.report.first_failure().is_none());
        }
        let store: Arc<dyn Store> = Arc::new(store);
        let state = AppState::new(store, Config::default()).unwrap();
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
            demo,
            _dir: dir,
        }
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn get(&self, p: &str) -> Response {
        self.client.get(self.url(p)).send().await.unwrap()
    }

    async fn post_json(&self, p: &str, v: &Value) -> Response {
        self.client
            .post(self.url(p))
            .header("content-type", "application/json")
            .body(v.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn post_text(&self, p: &str, body: String) -> Response {
        self.client
            .post(self.url(p))
            .header("content-type", "text/plain")
            .body(body)
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

async fn ok_json(r: Response, status: StatusCode) -> Value {
    let s = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(s, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A problem+json answer with this status; returns its detail.
async fn problem(r: Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let v: Value = r.json().await.unwrap();
    v["detail"].as_str().unwrap().to_string()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_over_http() {
    let srv = Server::start().await;
    let lot = srv.demo.stories.recalled_lot.clone();
    let r = srv
        .post_json(
            "/recalls",
            &json!({"criteria": {"gtin": lot.gtin, "lots": [lot.lot]}, "reason": "dissolution"}),
        )
        .await;
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let created = ok_json(r, StatusCode::CREATED).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(loc, format!("/recalls/{id}"));
    assert_eq!(created["affected_count"], 400);
    // Paged unit list.
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let p = match &next {
            Some(t) => format!("/recalls/{id}/units?perPage=150&nextPageToken={t}"),
            None => format!("/recalls/{id}/units?perPage=150"),
        };
        let page = ok_json(srv.get(&p).await, StatusCode::OK).await;
        for u in page["units"].as_array().unwrap() {
            assert!(u["epc_uri"]
                .as_str()
                .unwrap()
                .starts_with("urn:epc:id:sgtin:0614141.020001."));
            assert!(["in_stock", "dispensed"].contains(&u["state"].as_str().unwrap()));
            all.push(u["epc_uri"].as_str().unwrap().to_string());
        }
        match page["next_page_token"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => break,
        }
    }
    all.sort();
    let mut want = lot.units.clone();
    want.sort();
    assert_eq!(all, want);
    let got = ok_json(srv.get(&format!("/recalls/{id}")).await, StatusCode::OK).await;
    assert_eq!(got["progress"]["outstanding"], 400);
    assert_eq!(got["progress"]["retrieved"], 0);
    let list = ok_json(srv.get("/recalls").await, StatusCode::OK).await;
    assert_eq!(list[0]["id"], json!(id));
    // Hold once.
    let held = ok_json(
        srv.post_json(&format!("/recalls/{id}/hold"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(held["status"], "held");
    let in_stock = got["progress"]["by_state"]["in_stock"].as_u64().unwrap();
    assert_eq!(held["held_count"].as_u64(), Some(in_stock));
    problem(
        srv.post_json(&format!("/recalls/{id}/hold"), &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    // A held unit says so on the unit API too.
    let one = &lot.units[0];
    let item = ok_json(
        srv.get(&format!("/items/{}", enc(one))).await,
        StatusCode::OK,
    )
    .await;
    let text = item.to_string();
    assert!(
        text.contains("recalled") || text.contains("dispensed"),
        "{text}"
    );
    // Exports.
    let r = srv.get(&format!("/recalls/{id}/export?format=csv")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 401);
    let r = srv.get(&format!("/recalls/{id}/export?format=epcis")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = r.bytes().await.unwrap();
    unitrace_epcis::validate_and_hash(&doc).expect("valid EPCIS export");
    // Bad requests.
    let d = problem(
        srv.post_json("/recalls", &json!({})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("criteria"), "{d}");
    let d = problem(
        srv.post_json("/recalls", &json!({"criteria": {}})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("empty"), "{d}");
    let d = problem(
        srv.post_json("/recalls", &json!({"criteria": {"gtn": "1"}}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("gtn"), "{d}");
    let d = problem(
        srv.post_json("/recalls", &json!({"criteria": {"gtin": "00614141200017"}}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("criteria.gtin"), "{d}");
    problem(
        srv.get("/recalls/RCL-00000999").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        srv.get(&format!("/recalls/{id}/export?format=xml")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        srv.get(&format!("/recalls/{id}/units?perPage=0")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        srv.get(&format!("/recalls/{id}/units?nextPageToken=zz"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let spec = ok_json(srv.get("/openapi.json").await, StatusCode::OK).await;
    for p in [
        "/recalls",
        "/recalls/{id}/units",
        "/receiving/{id}/scans",
        "/counts",
    ] {
        assert!(
            spec["paths"].get(p).is_some(),
            "{p} missing from /openapi.json"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiving_over_http() {
    let srv = Server::start().await;
    let units = srv.demo.stories.recalled_lot.units[..3].to_vec();
    let room = &srv.demo.master_data.locations.last().unwrap().id;
    let s = ok_json(
        srv.post_json("/receiving", &json!({"location": room, "expected": units}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["expected_count"], 3);
    // Text body: two expected units (one twice), one never commissioned.
    let body = format!(
        "{}\n{}\n\n{}\nurn:epc:id:sgtin:0614141.020001.NEVER1\n",
        units[0], units[1], units[0]
    );
    let r = ok_json(
        srv.post_text(&format!("/receiving/{id}/scans"), body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["scans"], 4);
    // JSON body.
    ok_json(
        srv.post_json(
            &format!("/receiving/{id}/scans"),
            &json!({"scan": units[1]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let st = ok_json(srv.get(&format!("/receiving/{id}")).await, StatusCode::OK).await;
    assert_eq!(st["counts"]["received"], 2);
    assert_eq!(st["counts"]["missing"], 1);
    assert_eq!(st["counts"]["unknown"], 1);
    assert_eq!(st["counts"]["duplicate_scan"], 2);
    assert_eq!(st["reconciliation"]["missing"], json!([units[2]]));
    // A bad line refuses the request and names it.
    let d = problem(
        srv.post_text(
            &format!("/receiving/{id}/scans"),
            format!("{}\nnot-a-code\n", units[2]),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("scan 2"), "{d}");
    let d = problem(
        srv.post_json(&format!("/receiving/{id}/scans"), &json!({"scans": "x"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("scans"), "{d}");
    let closed = ok_json(
        srv.post_json(&format!("/receiving/{id}/close"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["event_hash_ids"].as_array().unwrap().len(), 1);
    problem(
        srv.post_json(&format!("/receiving/{id}/close"), &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        srv.post_text(&format!("/receiving/{id}/scans"), units[2].clone())
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        srv.post_json("/receiving", &json!({"location": room}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        srv.get("/receiving/RCV-00000999").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let list = ok_json(srv.get("/receiving").await, StatusCode::OK).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_over_http() {
    let srv = Server::start().await;
    let m = srv.demo.stories.moved_without_scan.clone();
    let c = ok_json(
        srv.post_json("/counts", &json!({"location": m.recorded_location}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    // Scan nothing but one unit that is elsewhere: the moved one is among the missing.
    let other = &srv.demo.stories.recalled_lot.units[0];
    ok_json(
        srv.post_text(&format!("/counts/{id}/scans"), other.clone())
            .await,
        StatusCode::OK,
    )
    .await;
    let closed = ok_json(
        srv.post_json(&format!("/counts/{id}/close"), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let missing: Vec<&str> = closed["outcome"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(missing.contains(&m.epc.as_str()));
    assert_eq!(closed["outcome"]["unexpected"][0]["epc"], json!(other));
    let got = ok_json(srv.get(&format!("/counts/{id}")).await, StatusCode::OK).await;
    assert_eq!(
        got["outcome"]["missing"].as_array().unwrap().len(),
        missing.len()
    );
    let series = ok_json(
        srv.get(&format!("/counts?location={}", enc(&m.recorded_location)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(series["accuracy"].as_array().unwrap().len(), 1);
    assert_eq!(series["accuracy"][0]["accuracy"], 0.0);
    let same = ok_json(
        srv.get(&format!(
            "/locations/{}/accuracy",
            enc(&m.recorded_location)
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(same, series);
    problem(
        srv.post_json(&format!("/counts/{id}/close"), &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        srv.post_json("/counts", &json!({"location": other})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        srv.get("/counts?location=x&bogus=1").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    srv.stop().await;
}
