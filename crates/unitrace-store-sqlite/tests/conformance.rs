//! The store conformance suite on SQLite: every test gets its own database file.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use unitrace_store::conformance::StoreFactory;
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
}

unitrace_store::conformance_suite!(Some(SqliteFactory::new()));
