//! A scenario's database: made for it and dropped after it, and the plain SQL a scenario runs
//! beside the daemon.

use std::time::{Duration, Instant};

use sqlx::Connection;

use super::basics::runtime;

/// A connection to either backend, for the plain SQL a scenario runs beside the daemon.
pub(super) async fn any_connection(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

/// Waits until the query `count` counts nothing; after `limit`, gives up with what it counts.
pub(super) async fn wait_until_none(
    url: &str,
    count: &'static str,
    limit: Duration,
) -> Result<(), i64> {
    let mut conn = any_connection(url).await;
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (left,): (i64,) = sqlx::query_as(count).fetch_one(&mut conn).await.unwrap();
        if left == 0 {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(left);
        }
    }
}

/// A database for one scenario, removed afterwards.
pub(super) struct TestDatabase {
    pub(super) url: String,
    pub(super) _dir: Option<tempfile::TempDir>,
    pub(super) postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// On the PostgreSQL server of `postgres_admin_url`, or a SQLite file without one.
    pub(super) async fn create(postgres_admin_url: Option<&str>) -> Self {
        match postgres_admin_url {
            None => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("bench.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Some(admin_url) => {
                let name = format!("journeyd_bench_{}", std::process::id());
                let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name}"
                )))
                .execute(&mut admin)
                .await
                .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let mut url: reqwest::Url = admin_url.parse().unwrap();
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    _dir: None,
                    postgres: Some((admin_url.to_owned(), name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            std::thread::spawn(move || {
                runtime().block_on(async {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                            .execute(&mut admin)
                            .await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}
