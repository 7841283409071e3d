//! Operations against a real SQLite database with a manual clock: the stuck check, the gauges'
//! figures, retention, and the dashboard views.

mod common;

use std::time::Duration;

use common::{Backend, Harness};
use journeyd::clock::{Clock, format_timestamp};
use journeyd::housekeeping;
use journeyd::journey::ApiVersion;
use journeyd::simulator::{Fault, Script, SimulatorConfig};
use journeyd::storage::{ListFilter, Retention};

const MINUTE: Duration = Duration::from_secs(60);

async fn stuck_harness(backend: Backend) -> Harness {
    Harness::on_with(
        backend,
        |c| {
            c.stuck.after = Duration::from_secs(3_600);
            c.stuck
                .status_after
                .insert("PAUSED".into(), (10 * MINUTE).into());
            c.poll.max_interval = MINUTE;
        },
        SimulatorConfig::default(),
    )
    .await
}

/// Moves the clock a minute at a time, polling what is due, for `minutes`.
async fn run_for(h: &Harness, minutes: u32) {
    for _ in 0..minutes {
        h.clock.advance(MINUTE);
        h.poll().await;
    }
}

async fn stuck_reason(h: &Harness, id: &str) -> Option<String> {
    h.row(id).await.stuck_reason
}

async fn stuck_journeys_are_marked_once_and_cleared_when_they_move_or_end(backend: Backend) {
    let h = stuck_harness(backend).await;
    h.sim
        .add_journey("never-ends", Script::polls(&[("InProgress", 0)]));
    h.sim.add_journey(
        "long-review",
        Script::polls(&[("Paused", 14), ("InProgress", 1), ("Completed", 0)]),
    );
    h.sim.add_journey(
        "quick",
        Script::polls(&[("InProgress", 1), ("Completed", 0)]),
    );
    h.enqueue(&["never-ends", "long-review", "quick"]).await;
    h.poll().await;
    let rules = h.config.stuck_rules();

    run_for(&h, 11).await;
    housekeeping::check_stuck(h.store.as_ref(), h.clock.now(), &rules)
        .await
        .unwrap();
    assert_eq!(
        stuck_reason(&h, "long-review").await.as_deref(),
        Some("status")
    );
    assert_eq!(
        stuck_reason(&h, "never-ends").await,
        None,
        "not an hour old yet"
    );
    assert_eq!(stuck_reason(&h, "quick").await, None);
    let marked = h.row("long-review").await.stuck_since.unwrap();
    let listed = h
        .store
        .list(&ListFilter {
            stuck: true,
            limit: 10,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.journeys.len(), 1);

    h.clock.advance(MINUTE);
    assert!(
        h.store
            .mark_stuck(h.clock.now(), &rules)
            .await
            .unwrap()
            .is_empty(),
        "a journey is marked once"
    );
    assert_eq!(h.row("long-review").await.stuck_since.unwrap(), marked);

    run_for(&h, 10).await; // the review ends: Paused → InProgress
    let moved = h.row("long-review").await;
    assert_ne!(moved.status.as_deref(), Some("Paused"));
    assert_eq!(moved.stuck_since, None, "moving on clears the mark");

    run_for(&h, 40).await;
    let newly = h.store.mark_stuck(h.clock.now(), &rules).await.unwrap();
    let names: Vec<_> = newly
        .iter()
        .map(|s| (s.instance_id.as_str(), s.stuck_reason.as_str()))
        .collect();
    assert_eq!(
        names,
        [("never-ends", "age")],
        "over an hour old and still going"
    );
    assert_eq!(
        h.row("long-review").await.stop_reason.as_deref(),
        Some("terminal")
    );
}

/// A poll in flight was decided without a mark made meanwhile: if it moved the journey on, the
/// mark would vanish with no `journey_unstuck`. So the check leaves it for next time.
async fn a_journey_whose_poll_is_in_flight_is_marked_at_the_next_check(backend: Backend) {
    let h = stuck_harness(backend).await;
    h.sim
        .add_journey("in-flight", Script::polls(&[("InProgress", 0)]));
    h.enqueue(&["in-flight"]).await;
    let rules = h.config.stuck_rules();
    h.clock.advance(61 * MINUTE);
    let now = h.clock.now();
    let lease = chrono::Duration::seconds(30);
    let claimed = h
        .store
        .claim_due("another-replica", now, now + lease, 10, ApiVersion::V1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    assert!(h.store.mark_stuck(now, &rules).await.unwrap().is_empty());
    assert_eq!(stuck_reason(&h, "in-flight").await, None);
    h.clock.advance(Duration::from_secs(31)); // the lease ran out
    let newly = h.store.mark_stuck(h.clock.now(), &rules).await.unwrap();
    assert_eq!(newly.len(), 1);
    assert_eq!(stuck_reason(&h, "in-flight").await.as_deref(), Some("age"));
}

async fn stats_count_what_the_gauges_show(backend: Backend) {
    let h = stuck_harness(backend).await;
    h.sim.add_journey("a", Script::polls(&[("InProgress", 0)]));
    h.sim.add_journey("b", Script::polls(&[("Paused", 0)]));
    h.sim.add_journey("c", Script::polls(&[("Completed", 0)]));
    h.enqueue(&["a", "b", "c"]).await;
    let started = h.clock.now();
    h.enqueue(&["never-answered"]).await; // 404s, stays due
    h.poll().await;
    run_for(&h, 11).await;
    housekeeping::check_stuck(h.store.as_ref(), h.clock.now(), &h.config.stuck_rules())
        .await
        .unwrap();

    let stats = h.store.stats(h.clock.now()).await.unwrap();
    let mut by_status = stats.active_by_status.clone();
    by_status.sort();
    assert_eq!(
        by_status,
        [
            (None, 0),
            (Some("InProgress".into()), 1),
            (Some("Paused".into()), 1)
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect::<Vec<_>>(),
        "the 404 journey stopped as not_found"
    );
    assert_eq!(stats.stuck_by_reason, [("status".to_owned(), 1)]);
    assert_eq!(stats.oldest_active_start, Some(started));
    assert_eq!(stats.due, 0);
    h.clock.advance(Duration::from_secs(3_600));
    assert_eq!(h.store.stats(h.clock.now()).await.unwrap().due, 2);
}

async fn retention_deletes_old_finished_journeys_in_batches(backend: Backend) {
    let h = Harness::on(backend).await;
    let outside = h.db.outside().await;
    let now = h.clock.now();
    let long_ago = format_timestamp(now - chrono::Duration::days(100));
    let lately = format_timestamp(now - chrono::Duration::days(5));
    let mut tx = outside.begin().await.unwrap();
    let rows = (0..1_234)
        .map(|n| (format!("old-{n:04}"), Some(long_ago.clone())))
        .chain([
            ("recent".to_owned(), Some(lately)),
            ("active".to_owned(), None),
        ]);
    for (id, stopped_at) in rows {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO journeys (instance_id, status, stopped_at, stop_reason) \
             VALUES ($1, 'Completed', {}, CASE WHEN $2 IS NULL THEN NULL ELSE 'terminal' END)",
            common::timestamp(backend, "$2"),
        )))
        .bind(&id)
        .bind(stopped_at)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO journey_transitions (instance_id, to_status, observed_at) \
             VALUES ($1, 'Completed', {})",
            common::timestamp(backend, "'2026-01-01T00:00:00.000Z'")
        )))
        .bind(&id)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let cutoff = now - chrono::Duration::days(90);

    let prunable = h.store.prunable(cutoff).await.unwrap();
    assert_eq!((prunable.journeys, prunable.transitions), (1_234, 1_234));
    let deleted = housekeeping::apply_retention(h.store.as_ref(), Retention::Delete, cutoff)
        .await
        .unwrap();

    assert_eq!(deleted, 1_234);
    let left: Vec<String> = sqlx::query_scalar("SELECT instance_id FROM journeys ORDER BY 1")
        .fetch_all(&outside)
        .await
        .unwrap();
    assert_eq!(left, ["active", "recent"]);
    let transitions: i64 = sqlx::query_scalar("SELECT count(*) FROM journey_transitions")
        .fetch_one(&outside)
        .await
        .unwrap();
    assert_eq!(transitions, 2, "transitions went with their journeys");
    h.store.maintain().await.unwrap();
    if backend == Backend::Sqlite {
        let freelist: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&outside)
            .await
            .unwrap();
        assert_eq!(freelist, 0, "incremental vacuum gave the pages back");
    }
}

async fn every_dashboard_view_answers_on_a_populated_database(backend: Backend) {
    let h = stuck_harness(backend).await;
    h.sim.add_journey(
        "done-1",
        Script::polls(&[("InProgress", 2), ("Completed", 0)]),
    );
    h.sim
        .add_journey("done-2", Script::polls(&[("Completed", 0)]));
    h.sim
        .add_journey("failed", Script::polls(&[("InProgress", 1), ("Failed", 0)]));
    h.sim
        .add_journey("reviewing", Script::polls(&[("Paused", 0)]));
    h.sim
        .add_journey("flaky", Script::polls(&[("InProgress", 0)]));
    h.sim.inject("flaky", Fault::Status(502));
    h.enqueue(&["done-1", "done-2", "failed", "reviewing", "flaky"])
        .await;
    h.poll().await;
    run_for(&h, 12).await;
    housekeeping::check_stuck(h.store.as_ref(), h.clock.now(), &h.config.stuck_rules())
        .await
        .unwrap();
    let outside = h.db.outside().await;

    let counts: Vec<(Option<String>, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT status, journeys, active, stopped, stuck FROM journey_status_counts ORDER BY 1",
    )
    .fetch_all(&outside)
    .await
    .unwrap();
    assert_eq!(
        counts,
        [
            (Some("Completed".into()), 2, 0, 2, 0),
            (Some("Failed".into()), 1, 0, 1, 0),
            (Some("InProgress".into()), 1, 1, 0, 0),
            (Some("Paused".into()), 1, 1, 0, 1),
        ]
    );

    let stuck: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT instance_id, stuck_reason, age_seconds FROM stuck_journeys")
            .fetch_all(&outside)
            .await
            .unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(
        (stuck[0].0.as_str(), stuck[0].1.as_str()),
        ("reviewing", "status")
    );

    let daily: Vec<CompletionDay> = sqlx::query_as(
        "SELECT day, finished, completed, failed, p50_seconds, p90_seconds, p99_seconds, \
                max_seconds FROM completion_times_daily",
    )
    .fetch_all(&outside)
    .await
    .unwrap();
    assert_eq!(daily.len(), 1);
    let day = &daily[0];
    assert_eq!(day.day, "2026-03-01");
    assert_eq!((day.finished, day.completed, day.failed), (3, 2, 1));
    assert!(
        0.0 <= day.p50_seconds
            && day.p50_seconds <= day.p90_seconds
            && day.p90_seconds <= day.p99_seconds
            && day.p99_seconds <= day.max_seconds,
        "{day:?}"
    );

    let hourly: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT hour, to_status, transitions FROM transitions_hourly ORDER BY 2")
            .fetch_all(&outside)
            .await
            .unwrap();
    assert!(
        hourly
            .iter()
            .all(|(hour, _, _)| hour.starts_with("2026-03-01T09:00:00"))
    );
    assert_eq!(hourly.iter().map(|(_, _, n)| n).sum::<i64>(), 7);

    let errors: Vec<(String, i64, i64, i64)> =
        sqlx::query_as("SELECT error_class, journeys, failing_now, errors FROM error_hot_spots")
            .fetch_all(&outside)
            .await
            .unwrap();
    assert_eq!(errors, [("server_error".into(), 1, 0, 1)]);
}

/// A row of `completion_times_daily`.
#[derive(Debug, sqlx::FromRow)]
struct CompletionDay {
    day: String,
    finished: i64,
    completed: i64,
    failed: i64,
    p50_seconds: f64,
    p90_seconds: f64,
    p99_seconds: f64,
    max_seconds: f64,
}

on_both_backends!(
    stuck_journeys_are_marked_once_and_cleared_when_they_move_or_end,
    a_journey_whose_poll_is_in_flight_is_marked_at_the_next_check,
    stats_count_what_the_gauges_show,
    retention_deletes_old_finished_journeys_in_batches,
    every_dashboard_view_answers_on_a_populated_database,
);
