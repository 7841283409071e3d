//! The real binary's maintenance commands: config, migrate, prune, and configuration errors.

mod common;

use std::process::Command;

use common::cli::{journeyd, row_count, stderr, stdout};
use common::{Backend, TestDb, binary};

#[tokio::test]
async fn config_shows_effective_settings_without_secrets() {
    let db = TestDb::new();
    std::fs::write(
        db.dir.path().join("journeyd.toml"),
        "[poll]\nconcurrency = 7\n[auth]\nclient_secret = \"very-secret-value\"\n",
    )
    .unwrap();
    // --config works after the subcommand as well as before it.
    for args in [
        ["--config", "journeyd.toml", "config"],
        ["config", "--config", "journeyd.toml"],
    ] {
        let output = journeyd(&db, &args);
        let text = stdout(&output);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(text.contains("concurrency = 7"), "{text}");
        assert!(text.contains("client_secret = \"[redacted]\""), "{text}");
        assert!(!text.contains("very-secret-value"));
    }
    // ...or comes from JOURNEYD_CONFIG.
    let output = Command::new(binary())
        .arg("config")
        .current_dir(db.dir.path())
        .env("JOURNEYD_CONFIG", "journeyd.toml")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("concurrency = 7"));
}

#[tokio::test]
async fn bad_configuration_stops_run_before_it_does_anything() {
    let db = TestDb::new();
    let output = Command::new(binary())
        .arg("run")
        .current_dir(db.dir.path())
        .env("JOURNEYD_DATABASE__URL", &db.url)
        .env("JOURNEYD_POLL__MULTIPLIER", "0.5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("`poll.multiplier`"),
        "{}",
        stderr(&output)
    );

    let output = Command::new(binary())
        .arg("run")
        .current_dir(db.dir.path())
        .env("JOURNEYD_DATABASE__URL", &db.url)
        .env("JOURNEYD_API__REGION", "eu")
        .env("JOURNEYD_AUTH__CLIENT_SECRET", "top-secret")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("`auth.client_id`"), "{message}");
    assert!(!message.contains("top-secret"));
    assert!(!db.path.exists(), "nothing was created");
}

#[tokio::test]
async fn migrate_creates_the_schema() {
    let db = TestDb::new();
    let output = journeyd(&db, &["migrate"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(row_count(&db).await, 0);
    let pool = db.outside_pool().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

async fn prune_deletes_long_finished_journeys_and_dry_run_only_counts(backend: Backend) {
    let db = TestDb::on(backend).await;
    assert!(
        journeyd(&db, &["enqueue", "old-1", "old-2", "recent", "active"])
            .status
            .success()
    );
    let pool = db.outside().await;
    let days_ago = match backend {
        Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || $2 || ' days')",
        Backend::Postgres => "now() - CAST($2 AS INTEGER) * interval '1 day'",
    };
    for (id, days) in [("old-1", 40), ("old-2", 35), ("recent", 3)] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE journeys SET status = 'Completed', stop_reason = 'terminal', \
             stopped_at = {days_ago} WHERE instance_id = $1"
        )))
        .bind(id)
        .bind(days.to_string())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO journey_transitions (instance_id, to_status, observed_at) \
             VALUES ($1, 'Completed', '2026-01-01T00:00:00.000Z')",
        )
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    }

    let dry = journeyd(&db, &["prune", "--older-than", "30d", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).starts_with("would delete 2 journey(s) and 2 transition(s)"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(row_count(&db).await, 4);

    let real = journeyd(&db, &["prune", "--older-than", "30d"]);
    assert!(
        stdout(&real).starts_with("deleted 2 journey(s)"),
        "{}",
        stdout(&real)
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT instance_id FROM journeys ORDER BY 1")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["active", "recent"]);

    let bad = journeyd(&db, &["prune", "--older-than", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
}

on_both_backends!(prune_deletes_long_finished_journeys_and_dry_run_only_counts);
