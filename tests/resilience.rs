//! How journeyd behaves when GBG GO misbehaves, request by request: every failure class,
//! Retry-After, the request budget, 429 slowdown, access denied, and expiry (outages and
//! recovery: `tests/recovery.rs`). Time is a
//! manual clock throughout; nothing sleeps except where a real timeout is the point.

mod common;

use std::time::Duration;

use common::{Backend, CapturedLogs, Harness, forever};
use journeyd::clock::{Clock, format_timestamp, parse_timestamp};
use journeyd::config::{BaseUrls, Grant};
use journeyd::flow::DownCause;
use journeyd::journey::ApiVersion;
use journeyd::simulator::{Fault, Script, SimulatorConfig};

const ID: &str = "PiIuACmx8Q8R7qPnAkLAqBAT";

/// A harness whose state fetches go to `base_url` instead of the simulator.
async fn pointed_at(
    base_url: String,
    adjust: impl FnOnce(&mut journeyd::config::Config),
) -> Harness {
    Harness::logging_in(adjust, SimulatorConfig::default(), move |sim| {
        let mut settings = sim.daemon_settings(Grant::Password);
        settings.base_urls = BaseUrls::from_base(base_url.parse().unwrap(), ApiVersion::V1);
        settings
    })
    .await
}

async fn assert_recorded(h: &Harness, class: &str, message_start: &str) {
    let row = h.row(ID).await;
    assert_eq!(row.last_error_class.as_deref(), Some(class), "{row:?}");
    let error = row.last_error.clone().unwrap();
    assert!(
        error.starts_with(message_start),
        "{error:?} should start with {message_start:?}"
    );
    assert_eq!(row.consecutive_errors, 1);
    assert!(
        row.stopped_at.is_none(),
        "a transient failure keeps the journey polled"
    );
    let next = parse_timestamp(row.next_poll_at.as_deref().unwrap()).unwrap();
    // error curve: 1 s for the first failure (no jitter)
    assert_eq!(
        next,
        h.clock.now() + chrono::Duration::seconds(1),
        "{row:?}"
    );
}

#[tokio::test]
async fn a_timeout_is_recorded_and_retried() {
    let h = Harness::with(
        |c| c.api.request_timeout = Duration::from_millis(200),
        SimulatorConfig::default(),
    )
    .await;
    h.sim.add_journey(ID, forever("InProgress"));
    h.sim.inject(ID, Fault::Slow(Duration::from_secs(5)));
    h.enqueue(&[ID]).await;
    h.poll().await;
    assert_recorded(&h, "timeout", "request timed out").await;
}

#[tokio::test]
async fn a_refused_connection_is_recorded_and_retried() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let h = pointed_at(format!("http://127.0.0.1:{port}/captain/api"), |_| {}).await;
    h.enqueue(&[ID]).await;
    h.poll().await;
    assert_recorded(&h, "connect", "connection failed").await;
}

#[tokio::test]
async fn a_connection_dropped_mid_request_is_recorded_and_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream); // accepted, then closed without an answer
        }
    });
    let h = pointed_at(format!("http://127.0.0.1:{port}/captain/api"), |_| {}).await;
    h.enqueue(&[ID]).await;
    h.poll().await;
    assert_recorded(&h, "transport", "request failed").await;
}

#[tokio::test]
async fn a_tls_failure_is_recorded_and_retried() {
    // An https URL to the simulator, which speaks plain HTTP: the handshake cannot succeed.
    let h = Harness::logging_in(
        |_| {},
        SimulatorConfig::default(),
        |sim| {
            let mut settings = sim.daemon_settings(Grant::Password);
            let https = sim.base_url().replacen("http://", "https://", 1);
            settings.base_urls = BaseUrls::from_base(https.parse().unwrap(), ApiVersion::V1);
            settings
        },
    )
    .await;
    h.enqueue(&[ID]).await;
    h.poll().await;
    assert_recorded(&h, "tls", "TLS handshake failed").await;
}

async fn a_server_error_is_recorded_and_retried(backend: Backend) {
    let h = Harness::on(backend).await;
    h.sim.add_journey(ID, forever("InProgress"));
    h.sim.inject(ID, Fault::Status(500));
    h.enqueue(&[ID]).await;
    h.poll().await;
    assert_recorded(
        &h,
        "server_error",
        "HTTP 500: injected fault (X-Request-ID sim-",
    )
    .await;
}

async fn retry_after_on_429_and_503_delays_that_journey(backend: Backend) {
    let h = Harness::on(backend).await;
    let other = "another-journey";
    h.sim.add_journey(ID, forever("InProgress"));
    h.sim.add_journey(other, forever("InProgress"));
    h.sim.inject(
        ID,
        Fault::RetryAfter {
            status: 429,
            header: "120".into(),
        },
    );
    let in_90_s = h.clock.now() + chrono::Duration::seconds(90);
    h.sim.inject(
        other,
        Fault::RetryAfter {
            status: 503,
            header: httpdate::fmt_http_date(in_90_s.into()),
        },
    );
    h.enqueue(&[ID, other]).await;
    h.poll().await;

    let now = h.clock.now();
    let limited = h.row(ID).await;
    assert_eq!(limited.last_error_class.as_deref(), Some("rate_limited"));
    assert_eq!(
        limited.next_poll_at.as_deref(),
        Some(format_timestamp(now + chrono::Duration::seconds(120)).as_str())
    );
    let unavailable = h.row(other).await;
    assert_eq!(
        unavailable.last_error_class.as_deref(),
        Some("server_error")
    );
    assert_eq!(
        unavailable.next_poll_at.as_deref(),
        Some(format_timestamp(now + chrono::Duration::seconds(90)).as_str()),
        "an HTTP date works too"
    );
}

#[tokio::test]
async fn a_429_slows_the_whole_client_and_the_rate_recovers_gradually() {
    let h = Harness::with(
        |c| {
            c.api.max_requests_per_second = 10.0;
            c.poll.concurrency = 50;
        },
        SimulatorConfig::default(),
    )
    .await;
    let ids: Vec<String> = (0..40).map(|n| format!("busy-{n:02}")).collect();
    for id in &ids {
        h.sim.add_journey(id, forever("InProgress"));
    }
    h.sim.inject(
        "busy-00",
        Fault::RetryAfter {
            status: 429,
            header: "1".into(),
        },
    );
    h.enqueue(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        .await;

    assert_eq!(h.poll().await, 10, "a burst of one second's worth");
    assert_eq!(h.scheduler().request_rate(), 5.0, "halved by the 429");
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(h.poll().await, 5, "the next second at the halved rate");
    h.clock.advance(Duration::from_secs(29));
    assert!((h.scheduler().request_rate() - 7.5).abs() < 1e-9);
    h.clock.advance(Duration::from_secs(31));
    assert_eq!(
        h.scheduler().request_rate(),
        10.0,
        "back to the maximum after the recovery period"
    );
}

async fn due_work_beyond_the_budget_waits_in_next_poll_time_order(backend: Backend) {
    let h = Harness::on_with(
        backend,
        |c| {
            c.api.max_requests_per_second = 4.0;
            c.poll.concurrency = 50;
        },
        SimulatorConfig::default(),
    )
    .await;
    // Enqueued a second apart, newest first in name order, so order is by time, not by name.
    let ids: Vec<String> = (0..12).rev().map(|n| format!("queued-{n:02}")).collect();
    for id in &ids {
        h.sim.add_journey(id, forever("InProgress"));
        h.enqueue(&[id]).await;
        h.clock.advance(Duration::from_secs(1));
    }

    let mut rounds = Vec::new();
    for _ in 0..3 {
        h.poll().await;
        let mut polled = Vec::new();
        for id in &ids {
            if h.sim.fetches(id).len() == 1 && !rounds.iter().flatten().any(|p| p == id) {
                polled.push(id.clone());
            }
        }
        rounds.push(polled);
        h.clock.advance(Duration::from_secs(1));
    }
    let expected: Vec<Vec<String>> = ids.chunks(4).map(<[String]>::to_vec).collect();
    assert_eq!(rounds, expected, "four a second, longest waiting first");
}

#[tokio::test]
async fn a_401_after_renewal_is_an_access_problem() {
    let h = Harness::new().await;
    h.sim.add_journey(ID, forever("InProgress"));
    h.sim.inject(ID, Fault::Status(401));
    h.sim.inject(ID, Fault::Status(401));
    h.enqueue(&[ID]).await;
    h.poll().await;
    assert_eq!(h.sim.token_requests(), 2, "renewed once");
    assert_eq!(h.sim.fetches(ID).len(), 2, "retried once");
    let row = h.row(ID).await;
    assert_eq!(row.last_error_class.as_deref(), Some("unauthorized"));
    assert_eq!(h.scheduler().api_down(), Some(DownCause::AccessDenied));
}

#[tokio::test]
async fn a_403_pauses_polling_until_access_is_back() {
    let h = Harness::new().await;
    let ids: Vec<String> = (0..6).map(|n| format!("paused-{n}")).collect();
    for id in &ids {
        h.sim.add_journey(id, forever("InProgress"));
    }
    h.sim.inject("paused-0", Fault::Status(403));
    h.sim.inject("paused-1", Fault::Status(403));
    h.enqueue(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        .await;

    let logs = CapturedLogs::start();
    h.poll().await; // four slots: all polled at once, two answered 403
    assert_eq!(h.scheduler().api_down(), Some(DownCause::AccessDenied));
    let denied = logs.events("api_access_denied");
    assert_eq!(denied.len(), 1, "one ERROR for both 403s: {denied:?}");
    assert_eq!(denied[0]["level"], "ERROR");
    assert_eq!(
        h.row("paused-0").await.last_error_class.as_deref(),
        Some("forbidden")
    );
    let sent = h.sim.state_requests();
    for _ in 0..59 {
        h.clock.advance(Duration::from_secs(1));
        assert_eq!(h.poll().await, 0, "paused");
    }
    assert_eq!(h.sim.state_requests(), sent);
    assert_eq!(
        logs.events("api_access_denied").len(),
        1,
        "no more than one ERROR a minute"
    );

    h.clock.advance(Duration::from_secs(1));
    assert_eq!(h.poll().await, 1, "one probe a minute");
    assert_eq!(h.scheduler().api_down(), None, "the probe got through");
    h.clock.advance(Duration::from_secs(2));
    assert!(h.poll().await >= 1, "polling resumed");
}

async fn repeated_404s_stop_the_journey_as_not_found(backend: Backend) {
    let h = Harness::on(backend).await;
    h.enqueue(&[ID]).await; // the simulator has never heard of it: 404
    let rounds = h.poll_until_stopped(ID).await;
    assert_eq!(rounds, 3, "poll.not_found_after");
    let row = h.row(ID).await;
    assert_eq!(row.stop_reason.as_deref(), Some("not_found"));
    assert_eq!(row.consecutive_not_found, 3);
    assert_eq!(row.last_error_class.as_deref(), Some("not_found"));
    assert_eq!(
        h.scheduler().api_down(),
        None,
        "a 404 says nothing about GBG GO's health"
    );
}

async fn a_400_stops_the_journey_as_rejected_with_the_message(backend: Backend) {
    let h = Harness::on(backend).await;
    h.sim.add_journey(ID, forever("InProgress"));
    h.sim.inject(ID, Fault::Status(400));
    h.enqueue(&[ID]).await;
    h.poll().await;
    let row = h.row(ID).await;
    assert_eq!(row.stop_reason.as_deref(), Some("rejected"));
    assert!(
        row.last_error
            .unwrap()
            .starts_with("HTTP 400: injected fault")
    );
    assert_eq!(row.next_poll_at, None);
}

async fn an_unknown_status_is_stored_verbatim_and_polling_goes_on(backend: Backend) {
    let h = Harness::on(backend).await;
    h.sim.add_journey(
        ID,
        Script::polls(&[("AwaitingDocuments", 2), ("Completed", 0)]),
    );
    h.enqueue(&[ID]).await;
    h.poll().await;
    let row = h.row(ID).await;
    assert_eq!(row.status.as_deref(), Some("AwaitingDocuments"));
    assert!(row.next_poll_at.is_some() && row.stopped_at.is_none());
    h.poll_until_stopped(ID).await;
    assert_eq!(h.row(ID).await.status.as_deref(), Some("Completed"));
}

async fn journeys_older_than_give_up_after_expire_without_a_request(backend: Backend) {
    let h = Harness::on_with(
        backend,
        |c| c.poll.give_up_after = Duration::from_secs(3_600),
        SimulatorConfig::default(),
    )
    .await;
    h.sim.add_journey(ID, forever("InProgress"));
    h.enqueue(&[ID]).await;
    h.poll().await;
    h.clock.advance(Duration::from_secs(3_601));
    let logs = CapturedLogs::start();
    h.poll().await;
    let row = h.row(ID).await;
    assert_eq!(row.stop_reason.as_deref(), Some("expired"));
    assert_eq!(row.polls, 1, "no request for the expiry");
    assert_eq!(h.sim.fetches(ID).len(), 1);
    let expired = logs.events("journey_expired");
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["level"], "WARN");
    assert_eq!(expired[0]["instance_id"], ID);
    assert_eq!(expired[0]["status"], "InProgress");
}

on_both_backends!(
    a_server_error_is_recorded_and_retried,
    due_work_beyond_the_budget_waits_in_next_poll_time_order,
    repeated_404s_stop_the_journey_as_not_found,
    a_400_stops_the_journey_as_rejected_with_the_message,
    an_unknown_status_is_stored_verbatim_and_polling_goes_on,
    retry_after_on_429_and_503_delays_that_journey,
    journeys_older_than_give_up_after_expire_without_a_request,
);
