//! The real binary's commands other than `run`: enqueue, status, list, migrate, config.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{Backend, TestDb, binary};

/// Runs `journeyd` in the test database's directory with a clean `JOURNEYD_*` environment.
fn journeyd(db: &TestDb, args: &[&str]) -> Output {
    journeyd_with_input(db, args, None)
}

fn journeyd_with_input(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .current_dir(db.dir.path())
        .env("JOURNEYD_DATABASE__URL", &db.url)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("JOURNEYD_") && name != "JOURNEYD_DATABASE__URL" {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().expect("start journeyd");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("journeyd runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn row_count(db: &TestDb) -> i64 {
    let pool = db.outside().await;
    sqlx::query_scalar("SELECT count(*) FROM journeys")
        .fetch_one(&pool)
        .await
        .unwrap()
}

async fn enqueue_is_idempotent(backend: Backend) {
    let db = TestDb::on(backend).await;
    let first = journeyd(&db, &["enqueue", "PiIuACmx8Q8R7qPnAkLAqBAT", "second_id-2"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        stdout(&first),
        "enqueued 2 new journey(s); 0 already tracked\n"
    );

    let again = journeyd(&db, &["enqueue", "second_id-2", "third"]);
    assert_eq!(
        stdout(&again),
        "enqueued 1 new journey(s); 1 already tracked\n"
    );
    assert_eq!(row_count(&db).await, 3);
}

async fn an_invalid_id_fails_the_whole_batch_and_stores_nothing(backend: Backend) {
    let db = TestDb::on(backend).await;
    let output = journeyd(&db, &["enqueue", "good-one", "bad id", "good-two"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("\"bad id\" contains whitespace")
            && message.contains("nothing was enqueued"),
        "{message}"
    );
    assert_nothing_stored(&db).await;

    let long = "x".repeat(65);
    for bad in ["", long.as_str(), "semi;colon"] {
        let output = journeyd(&db, &["enqueue", "good-one", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad:?} accepted");
    }
    assert_nothing_stored(&db).await;
}

async fn enqueue_may_name_the_api_version(backend: Backend) {
    let db = TestDb::on(backend).await;
    let output = journeyd(&db, &["enqueue", "--api-version", "v2", "on-v2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = journeyd(&db, &["enqueue", "no-version"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let pool = db.outside().await;
    let versions: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT instance_id, api_version FROM journeys ORDER BY instance_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        versions,
        [
            ("no-version".to_owned(), None),
            ("on-v2".to_owned(), Some("v2".to_owned()))
        ],
        "without --api-version, the daemon's api.version applies at the first poll"
    );

    let output = journeyd(&db, &["enqueue", "--api-version", "v3", "on-v3"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("\"v3\" is not an API version"),
        "{}",
        stderr(&output)
    );
}

async fn stop_abandons_journeys_and_list_pages_by_cursor(backend: Backend) {
    let db = TestDb::on(backend).await;
    let output = journeyd(&db, &["enqueue", "page-1", "page-2", "page-3"]);
    assert!(output.status.success(), "{}", stderr(&output));

    let output = journeyd(&db, &["stop", "page-2", "never-seen"]);
    assert_eq!(output.status.code(), Some(2), "an unknown ID is an error");
    assert_eq!(stdout(&output), "page-2: stopped\n");
    assert!(
        stderr(&output).contains("not tracked: never-seen"),
        "{}",
        stderr(&output)
    );
    let output = journeyd(&db, &["stop", "page-2"]);
    assert_eq!(stdout(&output), "page-2: already stopped (abandoned)\n");

    let first = journeyd(&db, &["list", "--limit", "2", "--json"]);
    let more = stderr(&first);
    let cursor = more
        .trim()
        .strip_prefix("more: journeyd list --after ")
        .unwrap_or_else(|| panic!("{more}"));
    let second = journeyd(&db, &["list", "--limit", "2", "--json", "--after", cursor]);
    assert!(
        stderr(&second).is_empty(),
        "the last page: {}",
        stderr(&second)
    );
    let ids: Vec<String> = [stdout(&first), stdout(&second)]
        .concat()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .map(|row| row["instance_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "each journey once: {ids:?}");
    let output = journeyd(&db, &["list", "--after", "garbage"]);
    assert_eq!(output.status.code(), Some(2));
}

/// The database was not even touched: no SQLite file, no tables in PostgreSQL.
async fn assert_nothing_stored(db: &TestDb) {
    match db.backend {
        Backend::Sqlite => assert!(!db.path.exists(), "the database is not even created"),
        Backend::Postgres => {
            let tables: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_one(&db.outside().await)
            .await
            .unwrap();
            assert_eq!(tables, 0, "the database is not even migrated");
        }
    }
}

async fn enqueue_reads_files_and_standard_input(backend: Backend) {
    let db = TestDb::on(backend).await;
    let file = db.dir.path().join("ids.txt");
    std::fs::write(&file, "alpha-1\r\n\nbeta_2\ngamma 3\n").unwrap();
    let output = journeyd(&db, &["enqueue", "--file", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("line 4 of"), "{message}");
    assert!(message.contains("\"gamma 3\""), "{message}");

    std::fs::write(&file, "alpha-1\r\n\nbeta_2\n").unwrap();
    let output = journeyd(&db, &["enqueue", "-f", file.to_str().unwrap(), "delta"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "enqueued 3 new journey(s); 0 already tracked\n"
    );

    let output = journeyd_with_input(&db, &["enqueue", "--file", "-"], Some("epsilon\nalpha-1\n"));
    assert_eq!(
        stdout(&output),
        "enqueued 1 new journey(s); 1 already tracked\n"
    );
    assert_eq!(row_count(&db).await, 4);
}

async fn status_and_list_show_what_is_stored(backend: Backend) {
    let db = TestDb::on(backend).await;
    assert!(
        journeyd(&db, &["enqueue", "watched-1", "watched-2"])
            .status
            .success()
    );
    let pool = db.outside().await;
    sqlx::query(
        "UPDATE journeys SET status = 'Completed', stopped_at = '2026-01-01T00:00:00.000Z', \
         stop_reason = 'terminal', next_poll_at = NULL WHERE instance_id = 'watched-2'",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO journey_transitions (instance_id, from_status, to_status, observed_at) \
         VALUES ('watched-2', NULL, 'Completed', '2026-01-01T00:00:00.000Z')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let status = journeyd(&db, &["status", "watched-2"]);
    let text = stdout(&status);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(text.contains("status                 Completed"), "{text}");
    assert!(text.contains("(first seen) -> Completed"), "{text}");

    let json = journeyd(&db, &["status", "watched-2", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["journey"]["stop_reason"], "terminal");
    assert_eq!(value["transitions"][0]["to_status"], "Completed");

    let unknown = journeyd(&db, &["status", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("\"nobody\" is not tracked"));

    let active = stdout(&journeyd(&db, &["list", "--active"]));
    assert!(
        active.contains("watched-1") && !active.contains("watched-2"),
        "{active}"
    );
    let stopped = stdout(&journeyd(&db, &["list", "--stopped"]));
    assert!(
        stopped.contains("watched-2") && !stopped.contains("watched-1"),
        "{stopped}"
    );
    let by_status = stdout(&journeyd(&db, &["list", "--status", "COMPLETED", "--json"]));
    assert_eq!(by_status.lines().count(), 1, "{by_status}");
    assert!(by_status.contains("\"watched-2\""));
}

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
             next_poll_at = NULL, stopped_at = {days_ago} WHERE instance_id = $1"
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

async fn list_stuck_shows_only_stuck_journeys(backend: Backend) {
    let db = TestDb::on(backend).await;
    assert!(
        journeyd(&db, &["enqueue", "stuck-one", "fine-one"])
            .status
            .success()
    );
    let pool = db.outside().await;
    sqlx::query(
        "UPDATE journeys SET stuck_since = '2026-01-01T00:00:00.000Z', stuck_reason = 'age' \
         WHERE instance_id = 'stuck-one'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let listed = stdout(&journeyd(&db, &["list", "--stuck", "--json"]));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("\"stuck-one\"") && listed.contains("\"stuck_reason\":\"age\""));
}

on_both_backends!(
    enqueue_is_idempotent,
    enqueue_may_name_the_api_version,
    stop_abandons_journeys_and_list_pages_by_cursor,
    an_invalid_id_fails_the_whole_batch_and_stores_nothing,
    enqueue_reads_files_and_standard_input,
    status_and_list_show_what_is_stored,
    prune_deletes_long_finished_journeys_and_dry_run_only_counts,
    list_stuck_shows_only_stuck_journeys,
);
