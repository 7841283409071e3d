//! Answers too large to keep: over `api.max_response_bytes`, whether announced by
//! `Content-Length` or not, and endless ones. Each is a failure of its own class on that journey,
//! recorded without its body and retried on the error curve; the answers after it are recorded
//! as usual, so no status is lost. The clock is manual; only the endless answer's own timeout
//! runs on real time.

mod common;

use std::time::Duration;

use common::{Backend, Harness, expected_path, path};
use journeyd::clock::{Clock, parse_timestamp};
use journeyd::simulator::{Fault, Script, SimulatorConfig};

const LIMIT: usize = 64 * 1024;

async fn harness(backend: Backend) -> Harness {
    Harness::on_with(
        backend,
        |config| {
            config.api.max_response_bytes = LIMIT;
            config.api.request_timeout = Duration::from_millis(500);
        },
        SimulatorConfig::default(),
    )
    .await
}

/// Polls `id` once, expecting the poll to fail as `class` with a message starting with
/// `message`, recorded without the body and retried a second later.
async fn fails_as(h: &Harness, id: &str, class: &str, message: &str) {
    let polled_at = h.clock.now();
    assert_eq!(h.poll().await, 1);
    let row = h.row(id).await;
    assert_eq!(row.last_error_class.as_deref(), Some(class), "{row:?}");
    let error = row.last_error.unwrap();
    assert!(error.starts_with(message), "{error:?}");
    assert!(error.len() < 300, "no body in the error: {error:?}");
    assert_eq!(row.data, None, "nothing of the answer is stored");
    assert_eq!(row.stopped_at, None, "still polled");
    assert_eq!(
        parse_timestamp(&row.next_poll_at.unwrap()).unwrap(),
        polled_at + chrono::Duration::seconds(1),
        "on the error curve"
    );
}

async fn answers_over_the_limit_are_a_failure_of_their_own(backend: Backend) {
    let h = harness(backend).await;
    h.sim.add_journey(
        "big-1",
        Script::polls(&[("InProgress", 1), ("Paused", 1), ("Completed", 0)]),
    );
    h.enqueue(&["big-1"]).await;

    // 64 MiB without a length: abandoned after the first 64 KiB.
    h.sim.inject(
        "big-1",
        Fault::Oversized {
            bytes: 64 << 20,
            declared: false,
        },
    );
    fails_as(
        &h,
        "big-1",
        "too_large",
        "answer larger than `api.max_response_bytes` (65536 bytes)",
    )
    .await;
    let row = h.row("big-1").await;
    assert!(
        row.last_request_id.is_some(),
        "GBG GO's X-Request-ID is kept"
    );

    // Declared too long: refused before a byte of the body is read.
    h.poll_when_due("big-1").await;
    h.sim.inject(
        "big-1",
        Fault::Oversized {
            bytes: LIMIT + 1,
            declared: true,
        },
    );
    h.poll_when_due("big-1").await;
    assert_eq!(
        h.row("big-1").await.last_error_class.as_deref(),
        Some("too_large")
    );

    // An answer of exactly the limit is read.
    h.sim.inject(
        "big-1",
        Fault::Oversized {
            bytes: LIMIT,
            declared: false,
        },
    );
    h.poll_when_due("big-1").await;
    assert_eq!(h.row("big-1").await.status.as_deref(), Some("InProgress"));

    h.poll_until_stopped("big-1").await;
    assert_eq!(
        path(&h.transitions("big-1").await),
        expected_path(&["InProgress", "Paused", "Completed"]),
        "a refused answer costs no status"
    );
    let row = h.row("big-1").await;
    assert_eq!(row.error_count, 2);
}

async fn an_endless_answer_ends_with_the_request_timeout(backend: Backend) {
    let h = harness(backend).await;
    h.sim.add_journey(
        "endless-1",
        Script::polls(&[("InProgress", 1), ("Completed", 0)]),
    );
    h.enqueue(&["endless-1"]).await;

    h.sim.inject(
        "endless-1",
        Fault::Endless {
            every: Duration::from_millis(5),
        },
    );
    fails_as(&h, "endless-1", "timeout", "request timed out").await;

    // One that streams fast enough hits the size limit first.
    h.poll_when_due("endless-1").await;
    h.sim.inject(
        "endless-1",
        Fault::Oversized {
            bytes: usize::MAX,
            declared: false,
        },
    );
    h.poll_when_due("endless-1").await;
    assert_eq!(
        h.row("endless-1").await.last_error_class.as_deref(),
        Some("too_large")
    );

    h.poll_until_stopped("endless-1").await;
    assert_eq!(
        path(&h.transitions("endless-1").await),
        expected_path(&["InProgress", "Completed"])
    );
}

on_both_backends!(
    answers_over_the_limit_are_a_failure_of_their_own,
    an_endless_answer_ends_with_the_request_timeout,
);
