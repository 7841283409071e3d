//! The daemon's parts (scheduler, client, SQLite store) against the simulated GBG GO, with a
//! manual clock: every poll time and token expiry below is exact, and nothing sleeps.

mod common;

use std::time::Duration;

use common::{Backend, Harness, expected_path, gaps, path};
use journeyd::clock::{Clock, parse_timestamp};
use journeyd::config::{Credentials, Grant};
use journeyd::journey::ApiVersion;
use journeyd::simulator::{Fault, Script, SimulatorConfig};

const ID: &str = "PiIuACmx8Q8R7qPnAkLAqBAT";

async fn transitions_are_recorded_once_each_and_in_order(backend: Backend) {
    let h = Harness::on(backend).await;
    h.sim.add_journey(
        ID,
        Script::polls(&[
            ("InProgress", 2),
            ("Paused", 2),
            ("IN_PROGRESS", 1),
            ("Completed", 0),
        ]),
    );
    h.enqueue(&[ID]).await;

    let rounds = h.poll_until_stopped(ID).await;

    assert_eq!(rounds, 6, "one poll per scripted answer");
    assert_eq!(
        path(&h.transitions(ID).await),
        expected_path(&["InProgress", "Paused", "IN_PROGRESS", "Completed"])
    );
    let row = h.row(ID).await;
    assert_eq!(row.status.as_deref(), Some("Completed"));
    assert_eq!(row.stop_reason.as_deref(), Some("terminal"));
    assert_eq!(row.next_poll_at, None);
    assert_eq!(row.polls, 6);
    assert!(row.completed_time.is_some());
    assert_eq!(row.data, None, "data.keep is \"none\" unless asked");

    // Stopped means stopped: much later, nothing is polled.
    h.clock.advance(Duration::from_secs(86_400));
    assert_eq!(h.poll().await, 0);
    assert_eq!(h.sim.fetches(ID).len(), 6);
    assert!(h.sim.rejections().is_empty(), "{:?}", h.sim.rejections());
}

async fn progress_gaps_grow_while_nothing_changes_and_reset_on_a_change(backend: Backend) {
    // initial 10 s, ×2, at most 80 s, no jitter
    let h = Harness::on(backend).await;
    h.sim.add_journey(
        ID,
        Script::polls(&[("InProgress", 5), ("Paused", 3), ("Completed", 0)]),
    );
    h.enqueue(&[ID]).await;

    h.poll_until_stopped(ID).await;

    assert_eq!(
        gaps(&h.sim.fetches(ID)),
        [10.0, 20.0, 40.0, 80.0, 80.0, 10.0, 20.0, 40.0]
    );
}

async fn failed_polls_back_off_on_their_own_curve_and_success_resets_it(backend: Backend) {
    // errors: 1 s doubling; progress: 10 s doubling
    let h = Harness::on(backend).await;
    h.sim
        .add_journey(ID, Script::polls(&[("InProgress", 6), ("Completed", 0)]));
    h.enqueue(&[ID]).await;
    h.poll().await; // InProgress; next in 10 s
    for _ in 0..3 {
        h.sim.inject(ID, Fault::Status(503));
    }

    for _ in 0..5 {
        h.poll_when_due(ID).await;
    }

    // 10 s, then three failures (retried after 1, 2, 4 s), then progress again from the
    // unchanged-poll count it had: the second same-status answer waits 20 s.
    assert_eq!(gaps(&h.sim.fetches(ID)), [10.0, 1.0, 2.0, 4.0, 20.0]);
    let row = h.row(ID).await;
    assert_eq!(row.consecutive_errors, 0);
    assert_eq!(row.error_count, 3);
    assert!(
        row.last_error
            .unwrap()
            .starts_with("HTTP 503: injected fault")
    );
}

async fn a_malformed_answer_is_recorded_on_the_row_and_polling_goes_on(backend: Backend) {
    let h = Harness::on(backend).await;
    h.sim
        .add_journey(ID, Script::polls(&[("InProgress", 2), ("Completed", 0)]));
    h.sim.inject(ID, Fault::Malformed);
    h.enqueue(&[ID]).await;

    h.poll().await;

    let row = h.row(ID).await;
    let error = row.last_error.expect("error recorded");
    assert!(error.starts_with("malformed answer: `status`"), "{error}");
    let request_id = row.last_request_id.expect("request id kept");
    assert!(
        error.contains(&request_id),
        "{error} should name {request_id}"
    );
    assert_eq!(row.consecutive_errors, 1);
    assert_eq!(row.status, None);
    assert!(row.stopped_at.is_none());

    h.poll_until_stopped(ID).await;
    let row = h.row(ID).await;
    assert_eq!(row.status.as_deref(), Some("Completed"));
    assert_eq!(row.consecutive_errors, 0);
    assert_eq!(row.error_count, 1);
    assert_eq!(
        path(&h.transitions(ID).await),
        expected_path(&["InProgress", "Completed"])
    );
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    // 60 s tokens are renewed 30 s before expiry.
    let sim = SimulatorConfig {
        token_lifetime: Duration::from_secs(60),
        ..SimulatorConfig::default()
    };
    let h = Harness::with(|_| {}, sim).await;
    h.sim.add_journey(ID, Script::polls(&[("InProgress", 0)]));
    h.enqueue(&[ID]).await;

    h.poll().await;
    assert_eq!(h.sim.token_requests(), 1);
    h.clock.advance(Duration::from_secs(29));
    h.poll().await; // due after 10 s
    assert_eq!(h.sim.token_requests(), 1, "still fresh");
    h.clock.advance(Duration::from_secs(2));
    h.sim.inject(ID, Fault::Status(503)); // make it due at once again
    h.poll_when_due(ID).await;
    h.poll_when_due(ID).await;
    assert_eq!(h.sim.token_requests(), 2, "renewed 30 s before expiry");

    // Long after every token expired, the next poll renews first instead of meeting a 401.
    h.clock.advance(Duration::from_secs(3_600));
    h.poll().await;
    assert_eq!(h.sim.token_requests(), 3);
    assert!(h.sim.rejections().is_empty(), "{:?}", h.sim.rejections());
}

#[tokio::test]
async fn a_401_renews_the_token_once_for_all_polls_and_retries() {
    let ids: Vec<String> = (0..8).map(|n| format!("journey-{n:02}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let h = Harness::with(|c| c.poll.concurrency = 8, SimulatorConfig::default()).await;
    for id in &ids {
        h.sim
            .add_journey(id, Script::polls(&[("InProgress", 1), ("Paused", 0)]));
    }
    h.enqueue(&ids).await;

    assert_eq!(h.poll().await, 8);
    assert_eq!(
        h.sim.token_requests(),
        1,
        "concurrent first polls share one token"
    );

    h.sim.revoke_tokens();
    h.clock.advance(Duration::from_secs(10));
    assert_eq!(h.poll().await, 8);

    assert_eq!(h.sim.token_requests(), 2, "eight 401s, one renewal");
    let rejections = h.sim.rejections();
    assert!(!rejections.is_empty() && rejections.iter().all(|r| r.status == 401));
    for id in &ids {
        let row = h.row(id).await;
        assert_eq!(
            row.status.as_deref(),
            Some("Paused"),
            "{id} retried after renewal"
        );
        assert_eq!(row.error_count, 0);
    }
}

/// A harness with journey `ID` (always `InProgress`) inserted by `statement`, which binds the
/// instance ID, as another program would.
async fn inserted_by_another_program(backend: Backend, statement: &'static str) -> Harness {
    let h = Harness::on(backend).await;
    h.sim.add_journey(ID, Script::polls(&[("InProgress", 0)]));
    sqlx::query(statement)
        .bind(ID)
        .execute(&h.db.outside().await)
        .await
        .unwrap();
    // The column defaults use the real time; the manual clock must be past it.
    h.clock
        .set(journeyd::clock::SystemClock.now() + chrono::Duration::seconds(1));
    h
}

async fn a_row_inserted_by_plain_sql_is_picked_up(backend: Backend) {
    let h = inserted_by_another_program(backend, "INSERT INTO journeys (instance_id) VALUES ($1)")
        .await;
    assert_eq!(h.poll().await, 1);

    let row = h.row(ID).await;
    assert_eq!(row.status.as_deref(), Some("InProgress"));
    assert!(
        parse_timestamp(&row.enqueued_at).is_ok(),
        "default has the stored format"
    );
    assert_eq!(
        path(&h.transitions(ID).await),
        expected_path(&["InProgress"])
    );
}

/// A row another system inserted with the status it knew: a poll that sees the same status
/// records no transition, but still learns GBG GO's `createdTime`.
async fn a_row_inserted_with_its_status_learns_its_created_time(backend: Backend) {
    let h = inserted_by_another_program(
        backend,
        "INSERT INTO journeys (instance_id, status) VALUES ($1, 'InProgress')",
    )
    .await;
    assert_eq!(h.poll().await, 1);

    let row = h.row(ID).await;
    assert_eq!(row.polls, 1);
    assert_eq!(row.unchanged_polls, 1);
    let created = row.created_time.expect("createdTime stored");
    assert!(parse_timestamp(&created).is_ok(), "{created}");
    assert!(h.transitions(ID).await.is_empty(), "no transition");
}

async fn a_bad_row_is_stopped_with_its_reason_and_never_sent(backend: Backend) {
    let h = Harness::on(backend).await;
    h.sim.add_journey(ID, Script::polls(&[("InProgress", 0)]));
    h.enqueue(&[ID]).await;
    let outside = h.db.outside().await;
    let insert = match backend {
        Backend::Sqlite => "INSERT INTO journeys (instance_id, enqueued_at) VALUES ($1, $2)",
        Backend::Postgres => {
            "INSERT INTO journeys (instance_id, enqueued_at) VALUES ($1, CAST($2 AS TIMESTAMPTZ))"
        }
    };
    // Due at the harness's time, whatever the enqueue time says.
    let due = format!(
        "UPDATE journey_schedule SET next_poll_at = {} WHERE instance_id = $1",
        common::timestamp(backend, "$2")
    );
    let mut polled = 1;
    for (id, enqueued_at) in [
        ("has space", "2026-03-01T08:00:00Z"),
        ("ok-id", "last tuesday"),
    ] {
        let inserted = sqlx::query(insert)
            .bind(id)
            .bind(enqueued_at)
            .execute(&outside)
            .await;
        if inserted.is_ok() {
            sqlx::query(sqlx::AssertSqlSafe(due.as_str()))
                .bind(id)
                .bind("2026-03-01T08:00:00.000Z")
                .execute(&outside)
                .await
                .unwrap();
        }
        match (backend, id) {
            // PostgreSQL's types refuse what SQLite stores and journeyd then has to reject.
            (Backend::Postgres, "ok-id") => assert!(inserted.is_err()),
            _ => {
                inserted.unwrap();
                polled += 1;
            }
        }
    }

    assert_eq!(h.poll().await, polled);

    if backend == Backend::Sqlite {
        let bad_time = h.row("ok-id").await;
        assert_eq!(bad_time.stop_reason.as_deref(), Some("invalid_row"));
        assert!(bad_time.last_error.unwrap().contains("enqueued_at"));
    }

    let bad_id = h.row("has space").await;
    assert_eq!(bad_id.stop_reason.as_deref(), Some("invalid_row"));
    assert!(bad_id.last_error.unwrap().contains("contains whitespace"));
    assert_eq!(h.row(ID).await.status.as_deref(), Some("InProgress"));
    assert!(h.sim.rejections().is_empty(), "nothing malformed was sent");
}

#[tokio::test]
async fn leases_left_by_a_dead_daemon_are_freed_when_the_next_one_starts() {
    let h = Harness::new().await;
    h.sim
        .add_journey(ID, Script::polls(&[("InProgress", 1), ("Completed", 0)]));
    h.enqueue(&[ID]).await;
    // A daemon claimed the journey and died before writing anything.
    let now = h.clock.now();
    let claims = h
        .store
        .claim_due(
            "dead-daemon",
            now,
            now + chrono::Duration::hours(1),
            10,
            ApiVersion::V1,
        )
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(h.poll().await, 0, "leased journeys are not claimed twice");

    h.store
        .register_daemon("next-daemon", h.clock.now())
        .await
        .unwrap();

    assert_eq!(h.poll().await, 1);
    h.poll_until_stopped(ID).await;
    assert_eq!(
        path(&h.transitions(ID).await),
        expected_path(&["InProgress", "Completed"])
    );
}

#[tokio::test]
async fn the_client_credentials_grant_works_and_refused_credentials_are_recorded() {
    let h = Harness::logging_in(
        |_| {},
        SimulatorConfig::default(),
        |sim| sim.daemon_settings(Grant::ClientCredentials),
    )
    .await;
    h.sim.add_journey(ID, Script::polls(&[("InProgress", 0)]));
    h.enqueue(&[ID]).await;
    h.poll().await;
    assert_eq!(h.row(ID).await.status.as_deref(), Some("InProgress"));

    let refused = Harness::logging_in(
        |_| {},
        SimulatorConfig::default(),
        |sim| {
            let mut settings = sim.daemon_settings(Grant::ClientCredentials);
            if let Credentials::ClientCredentials { scope, .. } = &mut settings.credentials {
                *scope = "not-the-scope".into();
            }
            settings
        },
    )
    .await;
    refused
        .sim
        .add_journey(ID, Script::polls(&[("InProgress", 0)]));
    refused.enqueue(&[ID]).await;
    refused.poll().await;
    let row = refused.row(ID).await;
    assert_eq!(row.status, None);
    let error = row.last_error.unwrap();
    assert!(
        error.starts_with("token endpoint refused the credentials (HTTP 400, invalid_grant)"),
        "{error}"
    );
    assert!(!error.contains(&refused.sim.config().client_secret));
}

on_both_backends!(
    transitions_are_recorded_once_each_and_in_order,
    progress_gaps_grow_while_nothing_changes_and_reset_on_a_change,
    failed_polls_back_off_on_their_own_curve_and_success_resets_it,
    a_malformed_answer_is_recorded_on_the_row_and_polling_goes_on,
    a_row_inserted_by_plain_sql_is_picked_up,
    a_row_inserted_with_its_status_learns_its_created_time,
    a_bad_row_is_stopped_with_its_reason_and_never_sent,
);
