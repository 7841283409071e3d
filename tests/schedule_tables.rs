//! The scheduling state's own tables (`journey_schedule`, `journey_leases`): the migration
//! that moved it out of `journeys` keeps every value, a journey no longer polled leaves the
//! schedule with its counters kept, and what the README tells other programs to run against
//! the database still works.

mod common;

use common::{Backend, Harness, TestDb, timestamp};
use journeyd::clock::{Clock, SystemClock};
use journeyd::simulator::Script;
use journeyd::storage;

/// The first migration after which the scheduling state has its own tables.
fn schedule_migration(backend: Backend) -> (&'static str, i64) {
    match backend {
        Backend::Sqlite => ("migrations/sqlite", 10),
        Backend::Postgres => ("migrations/postgres", 8),
    }
}

/// Rows written before the move, leased and not, keep every value, now read through
/// `journeys_full` under the same names; the dashboards' view over a moved column still counts.
async fn the_move_carries_every_value_over(backend: Backend) {
    let db = TestDb::on(backend).await;
    // The database as the release before the move left it.
    let (directory, moved_at) = schedule_migration(backend);
    let all = sqlx::migrate::Migrator::new(std::path::Path::new(directory))
        .await
        .unwrap();
    let before = all
        .iter()
        .filter(|migration| migration.version < moved_at)
        .cloned()
        .collect();
    drop(storage::open(&db.url).await.unwrap());
    let outside = db.outside().await;
    sqlx::migrate::Migrator::with_migrations(before)
        .run(&outside)
        .await
        .unwrap();
    let time = |text: &str| timestamp(backend, &format!("'{text}'"));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO journeys (instance_id, status, polls, unchanged_polls, last_polled_at, \
                               next_poll_at, consecutive_errors, consecutive_not_found, \
                               error_count, last_error_class, lease_owner, lease_expires_at) \
         VALUES ('leased', 'InProgress', 7, 3, {}, {}, 2, 1, 2, 'server_error', 'host:1:2:3', {}), \
                ('ended', 'Completed', 4, 0, {}, NULL, 0, 0, 0, NULL, NULL, NULL)",
        time("2026-03-01T09:00:00.000Z"),
        time("2026-03-01T09:05:00.000Z"),
        time("2026-03-01T09:00:30.000Z"),
        time("2026-03-01T08:00:00.000Z"),
    )))
    .execute(&outside)
    .await
    .unwrap();

    let store = storage::open(&db.url).await.unwrap();
    store.migrate().await.unwrap();

    let leased = store.journey("leased").await.unwrap().unwrap();
    assert_eq!(
        (
            leased.polls,
            leased.unchanged_polls,
            leased.consecutive_errors,
            leased.consecutive_not_found
        ),
        (7, 3, 2, 1)
    );
    assert_eq!(
        leased.last_polled_at.as_deref(),
        Some("2026-03-01T09:00:00.000Z")
    );
    assert_eq!(
        leased.next_poll_at.as_deref(),
        Some("2026-03-01T09:05:00.000Z")
    );
    assert_eq!(leased.lease_owner.as_deref(), Some("host:1:2:3"));
    assert_eq!(
        leased.lease_expires_at.as_deref(),
        Some("2026-03-01T09:00:30.000Z")
    );
    let ended = store.journey("ended").await.unwrap().unwrap();
    assert_eq!(
        (ended.polls, ended.next_poll_at, ended.lease_owner),
        (4, None, None)
    );
    assert_eq!(
        ended.last_polled_at.as_deref(),
        Some("2026-03-01T08:00:00.000Z")
    );
    // Only the journey still polled keeps a schedule row; the ended one's counters moved on.
    assert_eq!(scheduled(&outside).await, ["leased"]);
    let failing_now: i64 = sqlx::query_scalar(
        "SELECT failing_now FROM error_hot_spots WHERE error_class = 'server_error'",
    )
    .fetch_one(&outside)
    .await
    .unwrap();
    assert_eq!(failing_now, 1);
}

/// The journeys with a schedule row.
async fn scheduled(outside: &sqlx::AnyPool) -> Vec<String> {
    sqlx::query_scalar("SELECT instance_id FROM journey_schedule ORDER BY instance_id")
        .fetch_all(outside)
        .await
        .unwrap()
}

/// A journey leaves the schedule when its polling ends, by its last poll or by an operator,
/// and its counters stay readable; polled again, it goes on from them.
async fn an_ended_journey_keeps_its_counters_off_the_schedule(backend: Backend) {
    let h = Harness::on(backend).await;
    h.sim.add_journey(
        "ends",
        Script::polls(&[("InProgress", 1), ("InProgress", 1), ("Completed", 0)]),
    );
    h.sim
        .add_journey("abandoned", Script::polls(&[("InProgress", 10)]));
    h.enqueue(&["ends", "abandoned"]).await;
    let polls = h.poll_until_stopped("ends").await;
    let outside = h.db.outside().await;
    assert_eq!(scheduled(&outside).await, ["abandoned"]);
    let ended = h.row("ends").await;
    assert_eq!(
        (
            ended.polls as usize,
            ended.unchanged_polls,
            ended.next_poll_at
        ),
        (polls, 0, None)
    );
    assert!(ended.last_polled_at.is_some());

    let abandoned = h.row("abandoned").await;
    h.store
        .abandon(&["abandoned"], h.clock.now(), "a test")
        .await
        .unwrap();
    assert!(scheduled(&outside).await.is_empty());
    let stopped = h.row("abandoned").await;
    assert_eq!(
        (
            stopped.polls,
            stopped.unchanged_polls,
            stopped.last_polled_at
        ),
        (
            abandoned.polls,
            abandoned.unchanged_polls,
            abandoned.last_polled_at
        )
    );
    assert_eq!(stopped.stop_reason.as_deref(), Some("abandoned"));
}

/// The README's statement for polling a stopped journey again, as it is written there.
fn repoll_statement(id: &str) -> String {
    let readme = include_str!("../README.md");
    let after = readme
        .split("To poll a stopped journey again:\n`")
        .nth(1)
        .expect("the README says how to poll a stopped journey again");
    let statement = after.split('`').next().unwrap();
    assert!(statement.contains("'...'"), "{statement}");
    statement.replace("'...'", &format!("'{id}'"))
}

/// The example queries of the README's database section (its `sql` blocks), one by one.
fn example_queries() -> Vec<String> {
    let readme = include_str!("../README.md");
    let database = readme
        .split("\n## Database\n")
        .nth(1)
        .expect("the README has a database section")
        .split("\n## ")
        .next()
        .unwrap();
    let queries: Vec<String> = database
        .split("```sql\n")
        .skip(1)
        .flat_map(|block| block.split("```").next().unwrap().split(';'))
        .map(|query| {
            query
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|query| !query.trim().is_empty())
        .map(|query| query.replace("'PiIuACmx8Q8R7qPnAkLAqBAT'", "'readme-1'"))
        .collect();
    assert!(queries.len() >= 8, "{queries:?}");
    queries
}

/// A journey that ended is polled again once the README's statement says so; every example
/// query of the database section runs and answers.
async fn the_readmes_sql_still_works(backend: Backend) {
    let h = Harness::on(backend).await;
    // The statement makes the journey due by the database's clock: the manual one starts there.
    h.clock.set(SystemClock.now());
    h.sim.add_journey(
        "readme-1",
        Script::polls(&[("InProgress", 1), ("Completed", 0)]),
    );
    h.enqueue(&["readme-1"]).await;
    h.poll_until_stopped("readme-1").await;
    let outside = h.db.outside().await;
    for query in example_queries() {
        // Counted rather than read: the plain driver cannot read every type a query gives.
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM ({query}) AS answer"
        )))
        .fetch_one(&outside)
        .await
        .unwrap_or_else(|err| panic!("{query}: {err}"));
        if query.contains("journey_transitions") {
            assert_eq!(rows, 2, "{query}");
        }
    }

    let polls_before = h.row("readme-1").await.polls;
    sqlx::query(sqlx::AssertSqlSafe(repoll_statement("readme-1")))
        .execute(&outside)
        .await
        .unwrap();
    let row = h.row("readme-1").await;
    assert!(row.stopped_at.is_none() && row.next_poll_at.is_some());
    assert_eq!(row.polls, polls_before);
    assert_eq!(scheduled(&outside).await, ["readme-1"]);
    // Due by the database's clock, which the manual one must pass.
    let database_now = SystemClock.now() + chrono::Duration::seconds(1);
    h.clock.set(database_now.max(h.clock.now()));
    assert_eq!(h.poll().await, 1);
    let row = h.row("readme-1").await;
    assert_eq!(row.polls, polls_before + 1);
    assert_eq!(row.stop_reason.as_deref(), Some("terminal"));
}

on_both_backends!(
    the_move_carries_every_value_over,
    an_ended_journey_keeps_its_counters_off_the_schedule,
    the_readmes_sql_still_works
);
