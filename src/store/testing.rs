//! Fresh PostgreSQL databases for tests and benchmarks, so that the store's tests and the
//! multi-process tests run against both backends. The server comes from `POSTGRES_TEST_URL` (default
//! `postgres://postgres@127.0.0.1:5432`, the trust-auth server CI starts). Without a server the
//! PostgreSQL variants skip with a message, unless `POSTGRES_TEST_REQUIRED=1` (CI sets it).

use sqlx::{Connection, PgConnection};

/// A database of its own for one test, dropped (with any connections left) when it goes.
pub struct TestDatabase {
    pub url: String,
    server: String,
    name: String,
}

fn server() -> String {
    std::env::var("POSTGRES_TEST_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

impl TestDatabase {
    /// A new empty database, or `None` when no server answers and none is required.
    pub async fn create() -> Option<Self> {
        let server = server();
        match Self::create_on(&server).await {
            Ok(database) => Some(database),
            Err(e) if std::env::var("POSTGRES_TEST_REQUIRED").as_deref() == Ok("1") => {
                panic!("PostgreSQL at {server} is required (POSTGRES_TEST_REQUIRED=1): {e}")
            }
            Err(e) => {
                eprintln!("skipped: no PostgreSQL at {server} ({e}); set POSTGRES_TEST_URL to run this test");
                None
            }
        }
    }

    /// A new empty database on the server at `server` (a URL without a database name).
    pub async fn create_on(server: &str) -> anyhow::Result<Self> {
        let server = server.trim_end_matches('/').to_string();
        let mut conn = PgConnection::connect(&format!("{server}/postgres")).await?;
        let name = format!("portti_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        Ok(Self {
            url: format!("{server}/{name}"),
            server,
            name,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (format!("{}/postgres", self.server), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
