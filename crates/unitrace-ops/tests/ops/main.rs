//! Integration tests of the operations (one binary): `a` serials, verification, alerts and
//! decommissioning; `b` receiving, cycle counts and recalls; `support` what both use.

mod a;
mod b;

mod support {
    //! PostgreSQL test databases: one per test, dropped when done.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use unitrace_store::{Store, SystemClock};

    /// The server URL from `UNITRACE_TEST_POSTGRES`; None (PostgreSQL part skipped) when unset,
    /// a failure when `UNITRACE_REQUIRE_POSTGRES=1`.
    pub fn pg_url() -> Option<String> {
        match std::env::var("UNITRACE_TEST_POSTGRES") {
            Ok(u) if !u.is_empty() => Some(u),
            _ => {
                assert!(
                    !std::env::var("UNITRACE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1"),
                    "UNITRACE_REQUIRE_POSTGRES=1 but UNITRACE_TEST_POSTGRES is not set"
                );
                eprintln!("notice: UNITRACE_TEST_POSTGRES is not set; PostgreSQL part skipped");
                None
            }
        }
    }

    async fn admin_client(url: &str) -> tokio_postgres::Client {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url}: {e}"));
        tokio::spawn(async move {
            let _ = conn.await;
        });
        c
    }

    /// A fresh database on the server at `admin`, dropped when this value is dropped.
    pub struct PgDb {
        admin: String,
        name: String,
    }

    impl PgDb {
        pub async fn create(admin: &str, tag: &str) -> PgDb {
            static N: AtomicU64 = AtomicU64::new(0);
            let micros = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or(0);
            let name = format!(
                "unitrace_{tag}_{}_{}_{micros}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            );
            admin_client(admin)
                .await
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .expect("CREATE DATABASE");
            PgDb {
                admin: admin.to_string(),
                name,
            }
        }

        /// The connection string of this database (the admin URL's host, port and user).
        pub fn url(&self) -> String {
            let cfg: tokio_postgres::Config = self.admin.parse().expect("PostgreSQL URL");
            let mut parts = Vec::new();
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
            parts.push(format!("dbname={}", self.name));
            parts.join(" ")
        }

        /// A store on this database (call again for a second node on the same database).
        pub async fn open(&self) -> Arc<dyn Store> {
            Arc::new(
                unitrace_store_postgres::PostgresStore::connect(&self.url(), Arc::new(SystemClock))
                    .await
                    .expect("connect PostgreSQL store"),
            )
        }
    }

    impl Drop for PgDb {
        fn drop(&mut self) {
            let (admin, name) = (self.admin.clone(), self.name.clone());
            // Dropped inside or outside a runtime: drop the database from a thread of its own.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    let c = admin_client(&admin).await;
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                });
            })
            .join();
        }
    }
}
