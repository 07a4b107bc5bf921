//! The server on an ephemeral port with a temporary SQLite store, driven over HTTP.
//! The GS1 examples are read from `../shared/gs1-epcis/examples` next to the project.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use unitrace_server::{run, AppState, Config};
use unitrace_store::SystemClock;
use unitrace_store_sqlite::SqliteStore;

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/gs1-epcis/examples"
);

struct Server {
    base: String,
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(config: Config) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.sqlite"), Arc::new(SystemClock))
            .await
            .unwrap();
        Server::start_on(Arc::new(store), config, dir).await
    }

    async fn start_on(
        store: Arc<dyn unitrace_store::Store>,
        config: Config,
        dir: tempfile::TempDir,
    ) -> Server {
        let state = AppState::new(store, config).unwrap();
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
            _dir: dir,
        }
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn get(&self, p: &str) -> Response {
        self.client.get(self.url(p)).send().await.unwrap()
    }

    async fn post(&self, p: &str, ct: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url(p))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// POST /capture and wait for the job; returns the job document.
    async fn capture(&self, ct: &str, body: Vec<u8>) -> Result<Value, (StatusCode, Value)> {
        let r = self.post("/capture", ct, body).await;
        if r.status() != StatusCode::ACCEPTED {
            let s = r.status();
            return Err((s, problem(r).await));
        }
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        for _ in 0..600 {
            let j: Value = self.get(&loc).await.json().await.unwrap();
            if j["running"] == false {
                return Ok(j);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("capture job {loc} did not finish");
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

async fn problem(r: Response) -> Value {
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json", "status {}", r.status());
    let v: Value = r.json().await.unwrap();
    assert!(v["type"].as_str().unwrap().starts_with("epcisException:"));
    v
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

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

const UNIT_DOC: &str = r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
 "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z",
 "epcisBody":{"eventList":[
  {"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD",
   "epcList":["https://id.gs1.org/01/10614141073464/21/2017","urn:epc:id:sgtin:0614141.107346.2018","urn:epc:id:sgtin:0614141.107346.2019"],
   "bizStep":"commissioning","disposition":"active",
   "bizLocation":{"id":"urn:epc:id:sgln:0614141.07346.0"},
   "ilmd":{"cbvmda:lotNumber":"LOT7","cbvmda:itemExpirationDate":"2027-01-31"}},
  {"type":"AggregationEvent","eventTime":"2024-01-02T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD",
   "parentID":"urn:epc:id:sscc:0614141.1234567890","childEPCs":["urn:epc:id:sgtin:0614141.107346.2017"],
   "bizStep":"packing","bizLocation":{"id":"urn:epc:id:sgln:0614141.07346.0"}},
  {"type":"ObjectEvent","eventTime":"2024-01-03T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE",
   "epcList":["urn:epc:id:sscc:0614141.1234567890"],"bizStep":"urn:epcglobal:cbv:bizstep:shipping",
   "disposition":"in_transit","readPoint":{"id":"urn:epc:id:sgln:0614141.07346.1"}}
 ]}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_gs1_examples_over_http() {
    let base = Path::new(EXAMPLES);
    assert!(
        base.is_dir(),
        "reference data missing: {} (the tests read ../shared/gs1-epcis next to the project)",
        base.display()
    );
    let mut files = Vec::new();
    walk(base, &mut files);
    files.sort();
    assert!(files.len() >= 120);
    let srv = Server::start(Config::default()).await;
    let (mut ok, mut refused, mut xml_ok) = (0, 0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(EXAMPLES).unwrap().display().to_string();
        let bytes = std::fs::read(f).unwrap();
        let xml = rel.ends_with(".xml");
        let ct = if xml {
            "application/xml"
        } else {
            "application/ld+json"
        };
        let oracle = unitrace_epcis::validate_document(&bytes);
        let hashes = unitrace_epcis::hash_document(&bytes).ok();
        match (oracle, srv.capture(ct, bytes).await) {
            (Ok(()), Ok(job)) => {
                // Another example may carry the same eventID with other content: a conflict is
                // reported per event, never a server fault.
                if job["success"] != true {
                    let errs = job["errors"].as_array().unwrap();
                    if !errs
                        .iter()
                        .all(|e| e["message"].as_str().unwrap().starts_with("conflict"))
                    {
                        failures.push(format!("{rel}: job failed: {job}"));
                    }
                    continue;
                }
                // Read back every event by its hash ID.
                for h in hashes.unwrap_or_default() {
                    let r = srv.get(&format!("/events/{}", enc(&h))).await;
                    if r.status() != StatusCode::OK {
                        failures.push(format!("{rel}: event {h} not found after capture"));
                    }
                }
                ok += 1;
                xml_ok += usize::from(xml);
            }
            (Ok(()), Err((s, p))) => failures.push(format!("{rel}: valid, refused {s}: {p}")),
            (Err(_), Ok(_)) => failures.push(format!("{rel}: invalid, accepted")),
            (Err(expected), Err((s, p))) => {
                if s != StatusCode::BAD_REQUEST
                    || p["type"] != "epcisException:ValidationException"
                    || p["problems"].as_array().map(Vec::len) != Some(expected.len().min(1000))
                    || p["problems"][0]["pointer"] != json!(expected[0].pointer)
                {
                    failures.push(format!("{rel}: refused with {s} {p}"));
                }
                refused += 1;
            }
        }
    }
    eprintln!("{ok} captured ({xml_ok} XML), {refused} refused");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ok >= 100 && xml_ok >= 20 && refused >= 5);

    // Read back through queries, in all three formats.
    let r = srv.get("/events?eventType=ObjectEvent&perPage=5").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(r.headers().get("link").is_some());
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["type"], "EPCISQueryDocument");
    let list = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap();
    assert_eq!(list.len(), 5);
    assert!(list.iter().all(|e| e["type"] == "ObjectEvent"));
    let r = srv
        .client
        .get(srv.url("/events?perPage=20"))
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("urn:epcglobal:cbv:"),
        "CBV values as URNs in XML by default"
    );
    let r = srv
        .client
        .get(srv.url("/events?perPage=20"))
        .header("accept", "application/xml")
        .header("GS1-CBV-XML-Format", "Always_Web_URI")
        .send()
        .await
        .unwrap();
    let web = r.text().await.unwrap();
    assert!(
        web.contains("https://ref.gs1.org/cbv/") && !web.contains(">urn:epcglobal:cbv:bizstep")
    );
    assert!(
        text.contains("EPCISQueryDocument"),
        "{}",
        &text[..200.min(text.len())]
    );
    // Every page of a paginated query, following Link headers.
    let mut url = srv.url("/events?perPage=20");
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    loop {
        let r = srv.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_string()
        });
        let d: Value = r.json().await.unwrap();
        for e in d["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            .as_array()
            .unwrap()
        {
            assert!(seen.insert(e.to_string()), "an event on two pages");
        }
        pages += 1;
        match next {
            Some(n) => url = srv.url(&n),
            None => break,
        }
    }
    assert!(
        pages > 2 && seen.len() > 50,
        "{pages} pages, {} events",
        seen.len()
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_in_every_identifier_form() {
    let srv = Server::start(Config::default()).await;
    unit_scenario(&srv).await;
    srv.stop().await;
}

/// The same scenario on PostgreSQL, in a database of its own, when `UNITRACE_TEST_POSTGRES`
/// holds a server URL (skipped with a notice otherwise; `UNITRACE_REQUIRE_POSTGRES=1` fails).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_in_every_identifier_form_on_postgres() {
    let url = match std::env::var("UNITRACE_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert!(
                std::env::var("UNITRACE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "UNITRACE_REQUIRE_POSTGRES=1 but UNITRACE_TEST_POSTGRES is not set"
            );
            eprintln!("notice: UNITRACE_TEST_POSTGRES is not set; PostgreSQL server test skipped");
            return;
        }
    };
    let db = format!("unitrace_server_test_{}", std::process::id());
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url}: {e}"));
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let mut cfg: tokio_postgres::Config = url.parse().unwrap();
    cfg.dbname(&db);
    let mut parts = vec![format!("dbname={db}")];
    for h in cfg.get_hosts() {
        if let tokio_postgres::config::Host::Tcp(h) = h {
            parts.push(format!("host={h}"));
        }
    }
    if let Some(p) = cfg.get_ports().first() {
        parts.push(format!("port={p}"));
    }
    if let Some(u) = cfg.get_user() {
        parts.push(format!("user={u}"));
    }
    if let Some(pw) = cfg.get_password() {
        parts.push(format!("password={}", String::from_utf8_lossy(pw)));
    }
    let store =
        unitrace_store_postgres::PostgresStore::connect(&parts.join(" "), Arc::new(SystemClock))
            .await
            .unwrap();
    let srv = Server::start_on(
        Arc::new(store),
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    unit_scenario(&srv).await;
    srv.stop().await;
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await;
}

async fn unit_scenario(srv: &Server) {
    let job = srv
        .capture("application/ld+json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    assert_eq!(job["success"], true, "{job}");
    let forms = [
        "urn:epc:id:sgtin:0614141.107346.2017",
        "https://id.gs1.org/01/10614141073464/21/2017",
        "(01)10614141073464(21)2017",
    ];
    let mut answers = Vec::new();
    for f in forms {
        let r = srv.get(&format!("/items/{}", enc(f))).await;
        assert_eq!(r.status(), StatusCode::OK, "{f}");
        answers.push(r.json::<Value>().await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    let item = &answers[0];
    assert_eq!(
        item["identity"]["epc_uri"],
        "urn:epc:id:sgtin:0614141.107346.2017"
    );
    assert_eq!(
        item["identity"]["digital_link"],
        "https://id.gs1.org/01/10614141073464/21/2017"
    );
    assert_eq!(item["identity"]["bracketed"], "(01)10614141073464(21)2017");
    let st = &item["state"];
    assert_eq!(st["lot"], "LOT7");
    assert_eq!(st["expiry"], "2027-01-31");
    assert_eq!(st["parent"], "urn:epc:id:sscc:0614141.1234567890");
    assert_eq!(st["commissioned_at"], "2024-01-01T00:00:00.000Z");
    for k in [
        "biz_location",
        "read_point",
        "disposition",
        "persistent_dispositions",
        "last_event_time",
    ] {
        assert!(st.get(k).is_some(), "state.{k}");
    }
    let tl = item["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 3, "{tl:?}");
    assert_eq!(tl[2]["inferred"], true);
    assert_eq!(tl[0]["inferred"], false);
    assert_eq!(
        item["current_location"]["biz_location"],
        "urn:epc:id:sgln:0614141.07346.0"
    );

    // The resolver: JSON, HTML, and a lot.
    let r = srv.get("/01/10614141073464/21/2017").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], item["id"]);
    let r = srv
        .client
        .get(srv.url("/01/10614141073464/21/2017"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("LOT7"));
    let r = srv.get("/01/10614141073464/10/LOT7").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = srv.get("/00/106141412345678908").await;
    assert_eq!(r.status(), StatusCode::OK);
    let sscc: Value = r.json().await.unwrap();
    assert_eq!(
        sscc["children"],
        json!(["urn:epc:id:sgtin:0614141.107346.2017"])
    );
    // A location: GLN with extension.
    let r = srv.get("/414/0614141073467/254/0").await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["location_id"], "urn:epc:id:sgln:0614141.07346.0");
    let r = srv
        .get("/01/10614141073464/21/2017?linkType=gs1:certificationInfo")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    problem(r).await;

    // Tree and genealogy.
    let t: Value = srv
        .get("/items/urn%3Aepc%3Aid%3Asscc%3A0614141.1234567890/tree")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        t["children"][0]["epc"],
        "urn:epc:id:sgtin:0614141.107346.2017"
    );
    let g = srv
        .get(&format!("/items/{}/genealogy", enc(forms[0])))
        .await;
    assert_eq!(g.status(), StatusCode::OK);

    // Listing and pagination of units.
    let mut url = srv.url("/items?gtin=10614141073464&perPage=2");
    let mut ids = Vec::new();
    loop {
        let r = srv.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_string()
        });
        let v: Value = r.json().await.unwrap();
        for i in v["items"].as_array().unwrap() {
            ids.push(i["id"].as_str().unwrap().to_string());
        }
        match next {
            Some(n) => url = srv.url(&n),
            None => break,
        }
    }
    assert_eq!(ids.len(), 3);
    let v: Value = srv
        .get("/items?lot=LOT7&location=urn%3Aepc%3Aid%3Asgln%3A0614141.07346.0")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 3);

    // Unknown and invalid identifiers.
    let r = srv
        .get("/items/urn%3Aepc%3Aid%3Asgtin%3A0614141.107346.9999")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        problem(r).await["type"],
        "epcisException:NoSuchResourceException"
    );
    let r = srv.get("/items/(01)10614141073465(21)2017").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let p = problem(r).await;
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("not a valid identifier"));

    // Queries by the resource routes, normalised values, named queries.
    for p in [
        "/bizSteps/shipping/events",
        "/bizSteps/urn%3Aepcglobal%3Acbv%3Abizstep%3Ashipping/events",
        "/events?EQ_bizStep=https%3A%2F%2Fref.gs1.org%2Fcbv%2FBizStep-shipping",
        "/epcs/urn%3Aepc%3Aid%3Asscc%3A0614141.1234567890/events?eventType=ObjectEvent",
    ] {
        let d: Value = srv.get(p).await.json().await.unwrap();
        assert_eq!(
            d["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "{p}"
        );
    }
    let r = srv
        .client
        .post(srv.url("/queries"))
        .json(&json!({"name": "shipped", "query": {"EQ_bizStep": ["shipping"], "eventType": "ObjectEvent"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let d: Value = srv
        .get("/queries/shipped/events")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(d["epcisBody"]["queryResults"]["queryName"], "shipped");
    let list: Value = srv.get("/queries").await.json().await.unwrap();
    assert_eq!(list[0]["name"], "shipped");
    let r = srv
        .client
        .delete(srv.url("/queries/shipped"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        srv.get("/queries/shipped").await.status(),
        StatusCode::NOT_FOUND
    );

    // GS1-EPC-Format on output.
    let r = srv
        .client
        .get(srv.url("/events?EQ_bizStep=commissioning"))
        .header("GS1-EPC-Format", "Always_GS1_Digital_Link")
        .send()
        .await
        .unwrap();
    let d: Value = r.json().await.unwrap();
    let epcs = &d["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]["epcList"];
    assert!(epcs
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e.as_str().unwrap().starts_with("https://id.gs1.org/01/")));

    // POST /events: one event, synchronous.
    let ev = json!({"type":"ObjectEvent","eventTime":"2024-01-04T00:00:00Z","eventTimeZoneOffset":"+00:00",
        "action":"OBSERVE","epcList":["urn:epc:id:sgtin:0614141.107346.2018"],"bizStep":"receiving",
        "bizLocation":{"id":"urn:epc:id:sgln:0614141.07346.5"}});
    let r = srv
        .post("/events", "application/ld+json", ev.to_string())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(srv.get(&loc).await.status(), StatusCode::OK);
    let r = srv
        .post("/events", "application/ld+json", ev.to_string())
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a duplicate is not stored twice"
    );
    let it: Value = srv
        .get("/items/urn%3Aepc%3Aid%3Asgtin%3A0614141.107346.2018")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        it["state"]["biz_location"],
        "urn:epc:id:sgln:0614141.07346.5"
    );

    // Master data.
    let r = srv
        .client
        .put(srv.url("/locations/urn%3Aepc%3Aid%3Asgln%3A0614141.07346.5"))
        .json(&json!({"name": "Dock 5", "parent_id": "urn:epc:id:sgln:0614141.07346.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let l: Value = srv
        .get("/locations/https%3A%2F%2Fid.gs1.org%2F414%2F0614141073467%2F254%2F5")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["name"], "Dock 5");
    assert_eq!(l["ancestors"], json!(["urn:epc:id:sgln:0614141.07346.0"]));
    let r = srv
        .client
        .put(srv.url("/products/10614141073464"))
        .json(&json!({"name": "Widget", "storage_temp_max_c": 8.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = srv
        .get("/products/10614141073464")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p["name"], "Widget");
    let r = srv.get("/products/10614141073465").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_problem_never_a_500() {
    let srv = Server::start(Config {
        max_capture_bytes: 64 * 1024,
        max_events_per_capture: 3,
        ..Config::default()
    })
    .await;
    let cases: Vec<(&str, &str, &str, Vec<u8>, u16)> = vec![
        (
            "POST",
            "/capture",
            "application/json",
            b"{\"type\":".to_vec(),
            400,
        ),
        (
            "POST",
            "/capture",
            "application/xml",
            b"<EPCISDocument><".to_vec(),
            400,
        ),
        (
            "POST",
            "/capture",
            "text/plain",
            UNIT_DOC.as_bytes().to_vec(),
            415,
        ),
        (
            "POST",
            "/capture",
            "application/xml",
            UNIT_DOC.as_bytes().to_vec(),
            400,
        ),
        (
            "POST",
            "/capture",
            "application/json",
            vec![b' '; 100 * 1024],
            413,
        ),
        ("POST", "/capture", "application/json", b"[]".to_vec(), 400),
        ("POST", "/events", "application/json", b"{}".to_vec(), 400),
        ("POST", "/events", "application/json", b"nope".to_vec(), 400),
        (
            "POST",
            "/queries",
            "application/json",
            b"{\"name\":\"q\",\"query\":{\"bogus\":1}}".to_vec(),
            400,
        ),
        ("GET", "/events?bogus=1", "", vec![], 400),
        ("GET", "/events?GE_eventTime=yesterday", "", vec![], 400),
        ("GET", "/events?perPage=0", "", vec![], 400),
        ("GET", "/events?perPage=5000", "", vec![], 400),
        ("GET", "/events?nextPageToken=3132", "", vec![], 400),
        ("GET", "/events?nextPageToken=zz", "", vec![], 400),
        ("GET", "/items?nextPageToken=7531", "", vec![], 400),
        ("GET", "/items?colour=red", "", vec![], 400),
        ("GET", "/items/not-an-identifier", "", vec![], 400),
        ("GET", "/items/%FF%FE", "", vec![], 400),
        (
            "GET",
            "/events/ni%3A%2F%2F%2Fsha-256%3Bdeadbeef",
            "",
            vec![],
            404,
        ),
        ("GET", "/capture/999", "", vec![], 404),
        ("GET", "/capture/abc", "", vec![], 404),
        ("GET", "/queries/none/events", "", vec![], 404),
        ("GET", "/nowhere", "", vec![], 404),
        ("GET", "/01/123", "", vec![], 400),
        (
            "PUT",
            "/locations/x",
            "application/json",
            b"[1]".to_vec(),
            400,
        ),
        (
            "PUT",
            "/products/123",
            "application/json",
            b"{}".to_vec(),
            400,
        ),
    ];
    for (method, path, ct, body, status) in cases {
        let mut req = srv
            .client
            .request(method.parse().unwrap(), srv.url(path))
            .body(body);
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        problem(r).await;
    }
    // Too many events for the capture limit.
    let r = srv
        .post(
            "/capture",
            "application/json",
            UNIT_DOC.replace("\"eventList\":[", "\"eventList\":[{\"type\":\"ObjectEvent\",\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventTimeZoneOffset\":\"+00:00\",\"action\":\"OBSERVE\",\"epcList\":[]},"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        problem(r).await["type"],
        "epcisException:CaptureLimitExceededException"
    );
    // A bad capture error behaviour.
    let r = srv
        .client
        .post(srv.url("/capture"))
        .header("content-type", "application/json")
        .header("GS1-Capture-Error-Behaviour", "sometimes")
        .body(UNIT_DOC)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A tampered page token of a real query.
    srv.capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    let r = srv.get("/events?perPage=1").await;
    let link = r.headers()["link"].to_str().unwrap().to_string();
    let url = &link[link.find('<').unwrap() + 1..link.find('>').unwrap()];
    let last = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &url[..url.len() - 1]);
    let r = srv.get(&tampered).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{tampered}");
    assert_eq!(
        problem(r).await["type"],
        "epcisException:QueryParameterException"
    );
    // The same token for another query.
    let token = &url[url.find("nextPageToken=").unwrap() + 14..];
    let r = srv
        .get(&format!(
            "/events?perPage=1&eventType=ObjectEvent&nextPageToken={token}"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Unacceptable output type.
    let r = srv
        .client
        .get(srv.url("/events"))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_health_metrics_docs() {
    let srv = Server::start(Config::default()).await;
    for (p, allow) in [
        ("/capture", "OPTIONS, GET, POST"),
        ("/capture/1", "OPTIONS, GET"),
        ("/events", "OPTIONS, GET, POST"),
        ("/queries", "OPTIONS, GET, POST"),
        ("/queries/q", "OPTIONS, GET, DELETE"),
        ("/queries/q/subscriptions/s1", "OPTIONS, GET, DELETE"),
        ("/bizSteps/shipping/events", "OPTIONS, GET"),
        ("/", "OPTIONS, GET"),
    ] {
        let r = srv
            .client
            .request(reqwest::Method::OPTIONS, srv.url(p))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{p}");
        let h = r.headers();
        assert_eq!(h["GS1-EPCIS-Version"], "2.0.0");
        assert_eq!(h["GS1-CBV-Version"], "2.0.0");
        assert_eq!(h["GS1-EPCIS-Capture-Limit"], "10000");
        assert_eq!(h["allow"], allow, "{p}");
        assert_eq!(h["GS1-EPC-Format"], "No_Preference");
        for k in [
            "GS1-EPCIS-Capture-File-Size-Limit",
            "GS1-Extensions",
            "GS1-EPC-Format",
            "GS1-CBV-XML-Format",
        ] {
            assert!(h.get(k).is_some(), "{p}: {k}");
        }
    }
    assert_eq!(srv.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(srv.get("/readyz").await.status(), StatusCode::OK);
    let o: Value = srv.get("/openapi.json").await.json().await.unwrap();
    assert!(o["paths"]["/items/{id}"].is_object());
    let d = srv.get("/docs").await.text().await.unwrap();
    assert!(d.contains("/openapi.json") && !d.contains("cdn"));
    srv.capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    let m = srv.get("/metrics").await.text().await.unwrap();
    assert!(m.contains("unitrace_events_captured_total 3"), "{m}");
    assert!(m.contains("unitrace_events_stored 3\n"), "{m}");
    assert!(m.contains("unitrace_units_stored 4\n"), "{m}");
    assert!(m.contains("unitrace_units_stored_capped 0\n"), "{m}");
    assert!(m.contains("unitrace_subscriptions 0"), "{m}");
    assert!(m.contains("route=\"/capture/{id}\""), "{m}");
    assert!(m.contains("unitrace_http_request_duration_seconds_bucket"));
    // Listings are JSON-LD collections, as GS1's binding has them.
    let et: Value = srv.get("/eventTypes").await.json().await.unwrap();
    assert_eq!(et["type"], "Collection");
    assert_eq!(et["member"].as_array().unwrap().len(), 5);
    let epcs: Value = srv.get("/epcs").await.json().await.unwrap();
    assert_eq!(epcs["member"].as_array().unwrap().len(), 4);
    let bl: Value = srv.get("/bizLocations").await.json().await.unwrap();
    assert_eq!(bl["member"], json!(["urn:epc:id:sgln:0614141.07346.0"]));
    let rp: Value = srv.get("/readPoints").await.json().await.unwrap();
    assert_eq!(rp["member"], json!(["urn:epc:id:sgln:0614141.07346.1"]));
    // Paging: one at a time through the Link header, every EPC once.
    let mut next = Some("/epcs?perPage=1".to_string());
    let mut seen = Vec::new();
    while let Some(p) = next.take() {
        let r = srv.get(&p).await;
        assert_eq!(r.status(), StatusCode::OK, "{p}");
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_string()
        });
        let v: Value = r.json().await.unwrap();
        seen.extend(v["member"].as_array().unwrap().iter().cloned());
        assert!(seen.len() <= 4, "{seen:?}");
    }
    assert_eq!(seen.len(), 4);
    let r = srv.get("/readPoints?nextPageToken=forged").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    problem(r).await;
    // Version negotiation, and parameters of one-page listings.
    for (h, v, status) in [
        ("GS1-EPCIS-Min", "3.0", 406),
        ("GS1-CBV-Max", "vZ", 400),
        ("GS1-EPCIS-Max", "2.0.0", 200),
    ] {
        let r = srv
            .client
            .get(srv.url("/eventTypes"))
            .header(h, v)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{h}: {v}");
    }
    for p in [
        "/eventTypes?perPage=null",
        "/bizSteps?nextPageToken=x",
        "/queries?foo=1",
    ] {
        let r = srv.get(p).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{p}");
        problem(r).await;
    }
    let r = srv
        .client
        .delete(srv.url("/nextPageToken/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
    problem(r).await;
    let root: Value = srv.get("/").await.json().await.unwrap();
    assert_eq!(root["member"].as_array().unwrap().len(), 9);
    let one: Value = srv.get("/bizSteps/shipping").await.json().await.unwrap();
    assert_eq!(one["member"], json!(["events"]));
    // Names that are not there: NoSuchNameException.
    for p in [
        "/queries/nope",
        "/capture/999",
        "/queries/nope/subscriptions/sub1",
    ] {
        let r = srv.get(p).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{p}");
        assert_eq!(
            problem(r).await["type"],
            "epcisException:NoSuchNameException",
            "{p}"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_accepted_captures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let store = SqliteStore::open(&path, Arc::new(SystemClock))
        .await
        .unwrap();
    let state = AppState::new(Arc::new(store), Config::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, state, async {
        let _ = rx.await;
    }));
    let client = Client::new();
    let r = client
        .post(format!("{base}/capture"))
        .header("content-type", "application/json")
        .body(UNIT_DOC)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
    // Everything accepted is stored.
    let store = SqliteStore::open(&path, Arc::new(SystemClock))
        .await
        .unwrap();
    let page = unitrace_store::Store::query_events(&store, &Default::default())
        .await
        .unwrap();
    assert_eq!(page.events.len(), 3);
    // And the job's record says so.
    let job = unitrace_server::jobs::get(&store, 1, "another node")
        .await
        .unwrap()
        .unwrap();
    assert!(!job.running && job.success && job.stored == 3, "{job:?}");
}

/// What the webhook receiver got: (GS1-Signature header, body) per delivery.
type Deliveries = Arc<std::sync::Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// A webhook receiver: fails its first answer (to exercise the retry), records every delivery.
async fn receiver() -> (String, Deliveries) {
    use axum::routing::post;
    let got: Deliveries = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let g = g.clone();
                let calls = calls.clone();
                async move {
                    if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let sig = headers
                        .get("GS1-Signature")
                        .map(|v| v.to_str().unwrap().to_string());
                    g.lock().unwrap().push((sig, body.to_vec()));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, got)
}

/// A webhook receiver over TLS with a fresh self-signed certificate for `localhost`: its URL,
/// the certificate (PEM, to trust), and what it got. A minimal HTTP/1.1 responder: one request
/// per connection, answered 204.
async fn tls_receiver() -> (String, String, Deliveries) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://localhost:{}/hook", l.local_addr().unwrap().port());
    let got: Deliveries = Arc::default();
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                return;
            };
            let (acceptor, g) = (acceptor.clone(), g.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, len) = loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let sig = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("GS1-Signature")
                        .then(|| v.trim().to_string())
                });
                g.lock()
                    .unwrap()
                    .push((sig, buf[head_end..head_end + len].to_vec()));
                let _ = s
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    .await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, pem, got)
}

/// Webhooks over https: delivered when the receiver's certificate chains to a trusted root
/// (here the configured extra CA file), refused (and retried, recorded as the last error) when not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_over_tls_with_a_configured_root() {
    let (hook, pem, got) = tls_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    // Not trusted: the delivery fails and says why.
    let untrusting = Server::start(Config::default()).await;
    query_all(&untrusting).await;
    let sub = subscribe_all(&untrusting, &hook).await;
    untrusting
        .capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    let path = format!(
        "/queries/all/subscriptions/{}",
        sub["subscriptionID"].as_str().unwrap()
    );
    let mut last = Value::Null;
    for _ in 0..200 {
        last = untrusting.get(&path).await.json().await.unwrap();
        if last["failures"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(last["failures"].as_u64().unwrap() >= 1, "{last}");
    assert_eq!(last["deliveries"], 0, "{last}");
    assert!(got.lock().unwrap().is_empty());
    untrusting.stop().await;
    // Trusted through webhook_ca_file: delivered, signed.
    let srv = Server::start(Config {
        webhook_ca_file: Some(ca),
        ..Config::default()
    })
    .await;
    query_all(&srv).await;
    subscribe_all(&srv, &hook).await;
    srv.capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    wait_for(&got, 3).await;
    srv.stop().await;
    // A CA file without certificates is refused at start.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here").unwrap();
    let store = SqliteStore::open(dir.path().join("e.sqlite"), Arc::new(SystemClock))
        .await
        .unwrap();
    let err = AppState::new(
        Arc::new(store),
        Config {
            webhook_ca_file: Some(empty),
            ..Config::default()
        },
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("empty.pem"), "{err}");
}

fn delivered_events(got: &[(Option<String>, Vec<u8>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (sig, body) in got {
        assert_eq!(
            sig.as_deref(),
            Some(format!("sha256={}", unitrace_server::subs::sign("s3cret", body)).as_str()),
            "every delivery is signed"
        );
        let d: Value = serde_json::from_slice(body).unwrap();
        for e in d["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            .as_array()
            .unwrap()
        {
            out.push(e["eventTime"].as_str().unwrap().to_string() + e["type"].as_str().unwrap());
        }
    }
    out
}

async fn wait_for(got: &Deliveries, n: usize) {
    for _ in 0..300 {
        if delivered_events(&got.lock().unwrap()).len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "only {:?} delivered",
        delivered_events(&got.lock().unwrap())
    );
}

/// Creates the named query `all` (Object and Aggregation events).
async fn query_all(srv: &Server) {
    let r = srv
        .client
        .post(srv.url("/queries"))
        .json(&json!({"name": "all", "query": {"eventType": ["ObjectEvent", "AggregationEvent"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Subscribes `hook` to the query `all` from 2000 on, signed with `s3cret`; the subscription.
async fn subscribe_all(srv: &Server, hook: &str) -> Value {
    let r = srv
        .client
        .post(srv.url("/queries/all/subscriptions"))
        .json(
            &json!({"dest": hook, "signatureToken": "s3cret", "stream": true,
            "initialRecordTime": "2000-01-01T00:00:00Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_subscription_delivers_exactly_once_across_a_restart() {
    let (hook, got) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.sqlite");
    let config = Config::default;
    let open = || async { Arc::new(SqliteStore::open(&db, Arc::new(SystemClock)).await.unwrap()) };
    let srv = Server::start_on(open().await, config(), tempfile::tempdir().unwrap()).await;
    query_all(&srv).await;
    let sub = subscribe_all(&srv, &hook).await;
    srv.capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    wait_for(&got, 3).await;
    srv.stop().await;

    // A new process: the query, the subscription and its watermark are back.
    let srv = Server::start_on(open().await, config(), tempfile::tempdir().unwrap()).await;
    let s: Value = srv
        .get(&format!(
            "/queries/all/subscriptions/{}",
            sub["subscriptionID"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(s["deliveries"].as_u64().unwrap() >= 1, "{s}");
    let ev = json!({"type":"ObjectEvent","eventTime":"2024-01-09T00:00:00Z","eventTimeZoneOffset":"+00:00",
        "action":"OBSERVE","epcList":["urn:epc:id:sgtin:0614141.107346.2019"],"bizStep":"receiving"});
    let r = srv
        .post("/events", "application/ld+json", ev.to_string())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    wait_for(&got, 4).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut all = delivered_events(&got.lock().unwrap());
    assert_eq!(all.len(), 4, "{all:?}");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "nothing twice");
    // Deleting the query deletes its subscriptions.
    let r = srv
        .client
        .delete(srv.url("/queries/all"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = srv.get("/queries/all/subscriptions").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_subscription_delivers_on_its_schedule() {
    let (hook, got) = receiver().await;
    let srv = Server::start(Config::default()).await;
    srv.client
        .post(srv.url("/queries"))
        .json(&json!({"name": "objects", "query": {"eventType": "ObjectEvent"}}))
        .send()
        .await
        .unwrap();
    for (body, status) in [
        (json!({"dest": hook, "schedule": {"hour": "25"}}), 400),
        (
            json!({"dest": hook, "stream": true, "schedule": {"second": "0"}}),
            400,
        ),
        (json!({"dest": "ftp://example.com/x", "stream": true}), 400),
        (
            json!({"dest": hook, "stream": true, "initialRecordTime": null}),
            400,
        ),
        (
            json!({"dest": hook, "stream": true, "reportIfEmpty": null}),
            400,
        ),
        (
            json!({"dest": hook, "stream": true, "signatureToken": null}),
            400,
        ),
        (
            json!({"dest": hook, "signatureToken": "s3cret", "schedule": {"second": "[0-59]"},
                "initialRecordTime": "2000-01-01T00:00:00Z"}),
            201,
        ),
    ] {
        let r = srv
            .client
            .post(srv.url("/queries/objects/subscriptions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
    }
    srv.capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    wait_for(&got, 2).await;
    let list: Value = srv
        .get("/queries/objects/subscriptions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["schedule"], json!({"second": "[0-59]"}));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscription_streams_new_events() {
    use tokio_tungstenite::tungstenite::Message;
    let srv = Server::start(Config::default()).await;
    srv.client
        .post(srv.url("/queries"))
        .json(&json!({"name": "shipping", "query": {"EQ_bizStep": "shipping"}}))
        .send()
        .await
        .unwrap();
    let ws_url = format!(
        "{}/queries/shipping/events",
        srv.base.replacen("http://", "ws://", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    srv.capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(10), futures_next(&mut ws))
        .await
        .expect("a message within 10 s");
    let Message::Text(t) = msg else {
        panic!("{msg:?}")
    };
    let d: Value = serde_json::from_str(&t).unwrap();
    let list = d["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["bizStep"], "urn:epcglobal:cbv:bizstep:shipping");
    // The server stops: the stream ends instead of holding shutdown up.
    srv.stop().await;
}

async fn futures_next<S>(ws: &mut S) -> tokio_tungstenite::tungstenite::Message
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    ws.next().await.unwrap().unwrap()
}

/// Two nodes on one database (two stores on one SQLite file, as two processes would have): named
/// queries, subscriptions and capture jobs are shared, and the subscription delivers every event
/// exactly once although both nodes run delivery loops racing for its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_deliver_each_event_once() {
    let (hook, got) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.sqlite");
    let open = || async { Arc::new(SqliteStore::open(&db, Arc::new(SystemClock)).await.unwrap()) };
    let a = Server::start_on(
        open().await,
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let b = Server::start_on(
        open().await,
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    query_all(&a).await;
    // The other node knows the query and refuses the same name.
    assert_eq!(b.get("/queries/all").await.status(), StatusCode::OK);
    let r = b
        .client
        .post(b.url("/queries"))
        .json(&json!({"name": "all", "query": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        problem(r).await["type"],
        "epcisException:ResourceAlreadyExistsException"
    );
    let sub = subscribe_all(&b, &hook).await;
    let id = sub["subscriptionID"].as_str().unwrap().to_string();
    let seen: Value = a
        .get(&format!("/queries/all/subscriptions/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["dest"], hook.as_str());
    // A capture job accepted by one node is answered by the other.
    let job = a
        .capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    let on_b: Value = b
        .get(&format!("/capture/{}", job["captureID"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(on_b, job);
    // Events arrive through both nodes while both deliver.
    for i in 0..12 {
        let srv = if i % 2 == 0 { &a } else { &b };
        let ev = json!({"type":"ObjectEvent","eventTime":format!("2024-02-01T00:00:{i:02}Z"),
            "eventTimeZoneOffset":"+00:00","action":"OBSERVE",
            "epcList":["urn:epc:id:sgtin:0614141.107346.2018"],"bizStep":"receiving"});
        let r = srv
            .post("/events", "application/ld+json", ev.to_string())
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    wait_for(&got, 15).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut all = delivered_events(&got.lock().unwrap());
    assert_eq!(all.len(), 15, "{all:?}");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 15, "nothing twice");
    let metrics = a.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("unitrace_subscriptions 1"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "unitrace_subscription_lag_seconds{{subscription=\"{id}\"}} 0"
        )),
        "{metrics}"
    );
    a.stop().await;
    b.stop().await;
}

/// Capture jobs are records: they outlive a restart, IDs keep counting, and only the newest
/// `jobs_kept` finished ones are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_jobs_outlive_a_restart_and_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("j.sqlite");
    let open = || async { Arc::new(SqliteStore::open(&db, Arc::new(SystemClock)).await.unwrap()) };
    let config = || Config {
        jobs_kept: 2,
        ..Config::default()
    };
    let srv = Server::start_on(open().await, config(), tempfile::tempdir().unwrap()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let ev = json!({"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z",
            "epcisBody":{"eventList":[{"type":"ObjectEvent","eventTime":format!("2024-03-01T00:00:0{i}Z"),
            "eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":["urn:epc:id:sgtin:0614141.107346.1"]}]}});
        let j = srv
            .capture("application/json", ev.to_string().into_bytes())
            .await
            .unwrap();
        assert_eq!(j["storedCount"], 1, "{j}");
        ids.push(j["captureID"].as_str().unwrap().to_string());
    }
    // A job with a failing event keeps its per-event errors.
    let bad = r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z",
        "epcisBody":{"eventList":[
        {"type":"ObjectEvent","eventID":"ni:///sha-256;x?ver=CBV2.0","eventTime":"2024-03-02T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":["urn:epc:id:sgtin:0614141.107346.2"]},
        {"type":"ObjectEvent","eventID":"ni:///sha-256;x?ver=CBV2.0","eventTime":"2024-03-03T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":["urn:epc:id:sgtin:0614141.107346.3"]}]}}"#;
    let r = srv
        .client
        .post(srv.url("/capture"))
        .header("content-type", "application/json")
        .header("GS1-Capture-Error-Behaviour", "proceed")
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    srv.stop().await;

    let srv = Server::start_on(open().await, config(), tempfile::tempdir().unwrap()).await;
    let j: Value = srv.get(&loc).await.json().await.unwrap();
    assert_eq!(j["running"], false, "{j}");
    assert_eq!(j["success"], false, "{j}");
    assert_eq!(j["storedCount"], 1, "{j}");
    assert_eq!(j["errorCount"], 1, "{j}");
    assert_eq!(j["errors"][0]["eventIndex"], 1, "{j}");
    // Jobs 1 and 2 were pruned (two kept); 3 and 4 are listed.
    assert_eq!(ids, ["1", "2", "3"]);
    for gone in ["/capture/1", "/capture/2"] {
        let r = srv.get(gone).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{gone}");
        problem(r).await;
    }
    let list: Value = srv.get("/capture").await.json().await.unwrap();
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["captureID"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["3", "4"]);
    let r = srv.get("/capture?perPage=1").await;
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(link.contains("nextPageToken=3"), "{link}");
    // IDs keep counting after the restart.
    let j = srv
        .capture("application/json", UNIT_DOC.as_bytes().to_vec())
        .await
        .unwrap();
    assert_eq!(j["captureID"], "5");
    srv.stop().await;
}

/// A job still `running` whose node is gone (no lease, or a lapsed one) is settled as failed by
/// the node that reads it; a job of a live node is left running; a stopped node gives its lease up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_a_dead_node_are_settled() {
    use unitrace_server::jobs::{key, Lease, JOB_KIND, NODE_KIND, ORPHANED};
    use unitrace_store::RecordStore;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = Arc::new(
        SqliteStore::open(dir.path().join("d.sqlite"), Arc::new(SystemClock))
            .await
            .unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (id, node) in [(1u64, "dead"), (2, "lapsed"), (3, "alive")] {
        let job = unitrace_server::Job {
            id,
            created_at: now - 60_000,
            finished_at: None,
            running: true,
            success: true,
            mode: "rollback".into(),
            events: 4,
            stored: 0,
            errors: Vec::new(),
            error_count: 0,
            node: Some(node.into()),
        };
        store
            .create_record(JOB_KIND, &key(id), &serde_json::to_value(&job).unwrap())
            .await
            .unwrap();
    }
    for (node, expires_ms) in [("lapsed", now - 1_000), ("alive", now + 600_000)] {
        let lease = Lease {
            node: node.into(),
            expires_ms,
        };
        store
            .create_record(NODE_KIND, node, &serde_json::to_value(&lease).unwrap())
            .await
            .unwrap();
    }
    let srv = Server::start_on(
        store.clone(),
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    for id in [1, 2] {
        let j: Value = srv
            .get(&format!("/capture/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(j["running"], false, "{j}");
        assert_eq!(j["success"], false, "{j}");
        assert_eq!(j["errorCount"], 4, "{j}");
        assert_eq!(j["errors"][0]["message"], ORPHANED, "{j}");
        // Written back: the record itself is settled (and can be pruned).
        let r = store.get_record(JOB_KIND, &key(id)).await.unwrap().unwrap();
        assert_eq!(r.body["running"], false);
    }
    let j: Value = srv.get("/capture/3").await.json().await.unwrap();
    assert_eq!(j["running"], true, "{j}");
    let list: Value = srv.get("/capture").await.json().await.unwrap();
    let running: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["running"])
        .collect();
    assert_eq!(running, [&json!(false), &json!(false), &json!(true)]);
    // The server holds a lease of its own while it runs, and gives it up when it stops.
    let leases = |s: Arc<SqliteStore>| async move {
        let mut v: Vec<String> = s
            .list_records(NODE_KIND, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect();
        v.sort();
        v
    };
    let held = leases(store.clone()).await;
    assert_eq!(held.len(), 3, "{held:?}");
    srv.stop().await;
    assert_eq!(leases(store.clone()).await, ["alive", "lapsed"]);
}

/// The JSON state file of earlier versions is imported once into the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_of_an_earlier_version_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unitrace-server-state.json");
    let old = json!({
        "queries": {"old": {"EQ_bizStep": "shipping"}},
        "subscriptions": {"sub7": {
            "id": "sub7", "query_name": "old", "dest": "http://127.0.0.1:9/hook",
            "report_if_empty": false, "created_at": 1_700_000_000_000i64,
            "watermark": 1_700_000_000_000i64, "delivered_at_watermark": [],
            "deliveries": 3, "failures": 0, "next_attempt": 4_000_000_000_000i64,
            "schedule_checked": 0}},
        "next_subscription": 7
    });
    std::fs::write(&file, old.to_string()).unwrap();
    let config = Config {
        state_file: Some(file.clone()),
        ..Config::default()
    };
    let srv = Server::start(config).await;
    let q: Value = srv.get("/queries/old").await.json().await.unwrap();
    assert_eq!(q["query"], json!({"EQ_bizStep": "shipping"}));
    let s: Value = srv
        .get("/queries/old/subscriptions/sub7")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["deliveries"], 3, "{s}");
    assert!(!file.exists(), "the state file is read once");
    assert!(dir
        .path()
        .join("unitrace-server-state.json.imported")
        .exists());
    let r = srv
        .client
        .post(srv.url("/queries/old/subscriptions"))
        .json(&json!({"dest": "http://127.0.0.1:9/other", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let s: Value = r.json().await.unwrap();
    assert_eq!(
        s["subscriptionID"], "sub8",
        "new IDs follow the imported ones"
    );
    srv.stop().await;
    // A state file that is not JSON stops the start with a clear error.
    std::fs::write(&file, "{not json").unwrap();
    let store = SqliteStore::open(dir.path().join("x.sqlite"), Arc::new(SystemClock))
        .await
        .unwrap();
    let err = AppState::new(
        Arc::new(store),
        Config {
            state_file: Some(file.clone()),
            ..Config::default()
        },
    )
    .err()
    .expect("refused");
    assert!(
        err.to_string().contains("unitrace-server-state.json"),
        "{err}"
    );
}
