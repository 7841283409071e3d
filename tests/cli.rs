//! The real binary's journey commands: enqueue, status, list, stop (configuration, migrations
//! and pruning: `tests/cli_maintenance.rs`).

mod common;

use common::cli::{journeyd, journeyd_with_input, row_count, stderr, stdout};
use common::{Backend, TestDb};

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
         stop_reason = 'terminal' WHERE instance_id = 'watched-2'",
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
    list_stuck_shows_only_stuck_journeys,
);
