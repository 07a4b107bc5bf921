//! The store conformance suite on SQLite (every test gets its own database file), and a crash
//! test: a child process captures while it is killed; no acknowledged event may be lost and no
//! document may be half stored.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use unitrace_store::conformance::{crash, StoreFactory};
use unitrace_store::{Clock, Store};
use unitrace_store_sqlite::SqliteStore;

struct SqliteFactory {
    dir: PathBuf,
}

impl SqliteFactory {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "unitrace-store-test-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("create test directory");
        SqliteFactory { dir }
    }
}

impl Drop for SqliteFactory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[async_trait]
impl StoreFactory for SqliteFactory {
    async fn open(&mut self, clock: Arc<dyn Clock>) -> Arc<dyn Store> {
        Arc::new(
            SqliteStore::open(self.dir.join("store.db"), clock)
                .await
                .expect("open SQLite store"),
        )
    }

    async fn fail_unit_writes(&mut self, epc: &str) {
        let c = rusqlite::Connection::open(self.dir.join("store.db")).expect("open store file");
        let epc = epc.replace('\'', "''");
        c.execute_batch(&format!(
            "CREATE TRIGGER fail_ins BEFORE INSERT ON unit_state WHEN NEW.epc = '{epc}' \
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END; \
             CREATE TRIGGER fail_upd BEFORE UPDATE ON unit_state WHEN NEW.epc = '{epc}' \
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
        ))
        .expect("create fault triggers");
    }
}

unitrace_store::conformance_suite!(Some(SqliteFactory::new()));

const CRASH_DB_ENV: &str = "UNITRACE_CRASH_CHILD_DB";

/// Child side of `crash_loses_no_acknowledged_event`; does nothing when run alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by crash_loses_no_acknowledged_event as a child process"]
async fn crash_child() {
    let Ok(path) = std::env::var(CRASH_DB_ENV) else {
        return;
    };
    let clock: Arc<dyn Clock> = Arc::new(unitrace_store::SystemClock);
    let store = Arc::new(SqliteStore::open(&path, clock).await.expect("open"));
    crash::child_capture_loop(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_no_acknowledged_event() {
    let factory = SqliteFactory::new();
    let db = factory.dir.join("crash.db");
    let acked = crash::run_and_kill_child("crash_child", CRASH_DB_ENV, &db.to_string_lossy());
    let clock: Arc<dyn Clock> = Arc::new(unitrace_store::SystemClock);
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&db, clock)
            .await
            .expect("reopen after crash"),
    );
    crash::verify_after_crash(store, &acked).await;
}

/// A database written at schema version 2 (the release before event locations were indexed)
/// gives the same answers after this build migrates it, and still captures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_schema_2_keeps_answers() {
    use unitrace_store::conformance::upgrade;
    let factory = SqliteFactory::new();
    let db = factory.dir.join("v2.db");
    let clock: Arc<dyn Clock> = Arc::new(unitrace_store::SystemClock);
    let old: Arc<dyn Store> = Arc::new(
        SqliteStore::open_at_schema(&db, clock.clone(), 2)
            .await
            .expect("open at schema 2"),
    );
    upgrade::fill(&old).await;
    let before = upgrade::answers(&old).await;
    drop(old);
    let version = |db: &PathBuf| -> i64 {
        rusqlite::Connection::open(db)
            .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .expect("schema version")
    };
    assert_eq!(version(&db), 2);
    let new: Arc<dyn Store> = Arc::new(SqliteStore::open(&db, clock).await.expect("upgrade"));
    assert!(version(&db) > 2);
    assert_eq!(upgrade::answers(&new).await, before);
    upgrade::sensor_periods_filled_in(&new).await;
    upgrade::still_captures(&new).await;
}
