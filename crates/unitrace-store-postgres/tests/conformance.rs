//! The store conformance suite on PostgreSQL. Runs when `UNITRACE_TEST_POSTGRES` holds a server URL
//! (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its own database there
//! and drops it at the end. Without the variable the tests are skipped with a notice, unless
//! `UNITRACE_REQUIRE_POSTGRES=1`, which makes a missing or unreachable server fail them.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_postgres::NoTls;
use unitrace_store::conformance::{crash, StoreFactory};
use unitrace_store::{Clock, Store};
use unitrace_store_postgres::PostgresStore;

fn required() -> bool {
    std::env::var("UNITRACE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

struct PgFactory {
    admin_url: String,
    db: String,
    created: bool,
}

fn factory() -> Option<PgFactory> {
    match std::env::var("UNITRACE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(PgFactory {
            admin_url: url,
            db: format!("unitrace_test_{:016x}", fastrand::u64(..)),
            created: false,
        }),
        _ => {
            if required() {
                panic!("UNITRACE_REQUIRE_POSTGRES=1 but UNITRACE_TEST_POSTGRES is not set");
            }
            eprintln!("notice: UNITRACE_TEST_POSTGRES is not set; PostgreSQL store test skipped");
            None
        }
    }
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at UNITRACE_TEST_POSTGRES={url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

impl PgFactory {
    fn db_url(&self) -> String {
        let mut config: tokio_postgres::Config = self
            .admin_url
            .parse()
            .expect("UNITRACE_TEST_POSTGRES is not a PostgreSQL URL");
        config.dbname(&self.db);
        // Rebuild as key=value form, which tokio-postgres accepts as well as URLs.
        let mut parts = Vec::new();
        for h in config.get_hosts() {
            if let tokio_postgres::config::Host::Tcp(h) = h {
                parts.push(format!("host={h}"));
            }
        }
        if let Some(p) = config.get_ports().first() {
            parts.push(format!("port={p}"));
        }
        if let Some(u) = config.get_user() {
            parts.push(format!("user={u}"));
        }
        if let Some(pw) = config.get_password() {
            parts.push(format!("password={}", String::from_utf8_lossy(pw)));
        }
        parts.push(format!("dbname={}", self.db));
        parts.join(" ")
    }
}

#[async_trait]
impl StoreFactory for PgFactory {
    async fn open(&mut self, clock: Arc<dyn Clock>) -> Arc<dyn Store> {
        if !self.created {
            let a = admin(&self.admin_url).await;
            a.batch_execute(&format!("CREATE DATABASE {}", self.db))
                .await
                .expect("CREATE DATABASE");
            self.created = true;
        }
        Arc::new(
            PostgresStore::connect(&self.db_url(), clock)
                .await
                .expect("connect PostgreSQL store"),
        )
    }

    async fn fail_unit_writes(&mut self, epc: &str) {
        let mut config: tokio_postgres::Config =
            self.admin_url.parse().expect("UNITRACE_TEST_POSTGRES URL");
        config.dbname(&self.db);
        let (c, conn) = config.connect(NoTls).await.expect("connect test database");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let epc = epc.replace('\'', "''");
        c.batch_execute(&format!(
            "CREATE FUNCTION fail_unit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$; \
             CREATE TRIGGER fail_unit BEFORE INSERT OR UPDATE ON unit_state FOR EACH ROW \
             WHEN (NEW.epc = '{epc}') EXECUTE FUNCTION fail_unit();"
        ))
        .await
        .expect("create fault trigger");
    }
}

impl Drop for PgFactory {
    fn drop(&mut self) {
        if !self.created {
            return;
        }
        let (url, db) = (self.admin_url.clone(), self.db.clone());
        // Drop runs inside the test's runtime: do the cleanup on a thread with its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let a = admin(&url).await;
                if let Err(e) = a
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                    .await
                {
                    eprintln!("warning: could not drop test database {db}: {e}");
                }
            });
        })
        .join();
        if done.is_err() {
            eprintln!("warning: cleanup of test database {} failed", self.db);
        }
    }
}

unitrace_store::conformance_suite!(factory());

#[tokio::test]
async fn bad_url_is_a_clear_error() {
    let clock: Arc<dyn Clock> = Arc::new(unitrace_store::SystemClock);
    match PostgresStore::connect("postgres://[bad", clock).await {
        Err(unitrace_store::StoreError::InvalidInput(m)) => assert!(m.contains("URL"), "{m}"),
        Err(e) => panic!("expected InvalidInput, got {e}"),
        Ok(_) => panic!("connected with a bad URL"),
    }
}

const CRASH_URL_ENV: &str = "UNITRACE_CRASH_CHILD_URL";

/// Child side of `crash_loses_no_acknowledged_event`; does nothing when run alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by crash_loses_no_acknowledged_event as a child process"]
async fn crash_child() {
    let Ok(url) = std::env::var(CRASH_URL_ENV) else {
        return;
    };
    let clock: Arc<dyn Clock> = Arc::new(unitrace_store::SystemClock);
    let store = Arc::new(PostgresStore::connect(&url, clock).await.expect("connect"));
    crash::child_capture_loop(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_no_acknowledged_event() {
    let Some(mut factory) = factory() else { return };
    let clock: Arc<dyn Clock> = Arc::new(unitrace_store::SystemClock);
    drop(factory.open(clock.clone()).await); // creates the database and its schema
    let url = factory.db_url();
    let acked = crash::run_and_kill_child("crash_child", CRASH_URL_ENV, &url);
    let store: Arc<dyn Store> = Arc::new(
        PostgresStore::connect(&url, clock)
            .await
            .expect("reconnect after crash"),
    );
    crash::verify_after_crash(store, &acked).await;
}

/// Two nodes on one database capture at once while a reader polls: every snapshot the reader
/// sees holds every event with a lower sequence number than its highest, so that readers that
/// tail the store by (recordTime, seq) never skip an event that commits later. Each group
/// reserves its sequence numbers under the write lock, which it holds until it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_follow_commit_order_across_nodes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use unitrace_store::conformance::obj;
    use unitrace_store::{Action, CaptureMode, CaptureOutcome, EventQuery};
    let Some(mut factory) = factory() else { return };
    let clock: Arc<dyn Clock> = Arc::new(unitrace_store::SystemClock);
    let nodes = [
        factory.open(clock.clone()).await,
        factory.open(clock.clone()).await,
    ];
    let all = || EventQuery {
        per_page: Some(1000),
        ..EventQuery::default()
    };
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (node, done, query) = (nodes[1].clone(), done.clone(), all());
        tokio::spawn(async move {
            let mut snapshots = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let page = node.query_events(&query).await.unwrap();
                snapshots.push(page.events.iter().map(|e| e.seq).collect::<Vec<i64>>());
            }
            snapshots
        })
    };
    let epc = |n: u32| format!("urn:epc:id:sgtin:0614141.107346.{n}");
    let mut tasks = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for t in 0..4u32 {
            let node = node.clone();
            let base = (i as u32 * 4 + t) * 10_000;
            tasks.push(tokio::spawn(async move {
                for r in 0..25u32 {
                    let n = base + r * 10;
                    // A commissioning of several units (COPY) and one of one unit (a statement).
                    let events = vec![
                        obj(
                            n,
                            i64::from(r),
                            Action::Add,
                            &[&epc(n), &epc(n + 1), &epc(n + 2)],
                        ),
                        obj(n + 3, i64::from(r), Action::Add, &[&epc(n + 3)]),
                    ];
                    let report = node.capture(events, CaptureMode::Rollback).await.unwrap();
                    for o in &report.outcomes {
                        assert!(matches!(o, CaptureOutcome::Stored { .. }), "{o:?}");
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let snapshots = reader.await.unwrap();
    let mut events = nodes[0].query_events(&all()).await.unwrap().events;
    assert_eq!(events.len(), 2 * 4 * 25 * 2);
    events.sort_by_key(|e| e.seq);
    for w in events.windows(2) {
        assert!(w[0].seq < w[1].seq, "sequence number {} twice", w[0].seq);
        assert!(w[0].record_time <= w[1].record_time, "recordTime goes back");
    }
    let stored: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert!(
        snapshots.len() > 1,
        "the reader saw nothing while capture ran"
    );
    for seen in &snapshots {
        let Some(&max) = seen.iter().max() else {
            continue;
        };
        let before = stored.iter().filter(|&&s| s <= max).count();
        assert_eq!(
            seen.len(),
            before,
            "a reader saw sequence number {max} before an event with a lower one committed"
        );
    }
}

/// A database written at schema version 2 (the release before event locations were indexed)
/// gives the same answers after this build migrates it, and still captures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_schema_2_keeps_answers() {
    use unitrace_store::conformance::upgrade;
    let Some(mut factory) = factory() else { return };
    let clock: Arc<dyn Clock> = Arc::new(unitrace_store::SystemClock);
    drop(factory.open(clock.clone()).await); // creates the database
    let url = factory.db_url();
    let a = admin(&url).await;
    a.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        .await
        .expect("empty the database");
    let old: Arc<dyn Store> = Arc::new(
        PostgresStore::connect_at_schema(&url, clock.clone(), 2)
            .await
            .expect("connect at schema 2"),
    );
    upgrade::fill(&old).await;
    let before = upgrade::answers(&old).await;
    drop(old);
    let version = || async {
        let v: i64 = a
            .query_one("SELECT version FROM unitrace_schema", &[])
            .await
            .expect("schema version")
            .get(0);
        v
    };
    assert_eq!(version().await, 2);
    let new: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url, clock).await.expect("upgrade"));
    assert!(version().await > 2);
    assert_eq!(upgrade::answers(&new).await, before);
    upgrade::sensor_periods_filled_in(&new).await;
    upgrade::still_captures(&new).await;
}
