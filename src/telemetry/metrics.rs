//! Prometheus metrics. Recorded through the `metrics` facade, rendered by
//! `metrics-exporter-prometheus` on `/metrics`. Until [`install`] runs (the daemon does it,
//! library tests do not) every recording is a no-op.
//!
//! Counters move with events (after the change they count is committed); gauges about the
//! table are refreshed from indexed queries at each scrape (see [`crate::http`]).

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::clock::Timestamp;
use crate::flow::DownCause;

pub const POLLS: &str = "journeyd_polls_total";
pub const POLL_DURATION: &str = "journeyd_poll_duration_seconds";
pub const POLL_LATENESS: &str = "journeyd_poll_lateness_seconds";
pub const API_ERRORS: &str = "journeyd_api_errors_total";
pub const TRANSITIONS: &str = "journeyd_transitions_total";
pub const JOURNEYS_ENDED: &str = "journeyd_journeys_ended_total";
pub const JOURNEY_DURATION: &str = "journeyd_journey_duration_seconds";
pub const JOURNEY_OUTCOMES: &str = "journeyd_journey_outcomes_total";
pub const JOURNEYS_TRACKED: &str = "journeyd_journeys_tracked";
pub const JOURNEYS_STUCK: &str = "journeyd_journeys_stuck";
pub const JOURNEYS_DUE: &str = "journeyd_journeys_due";
pub const OLDEST_ACTIVE_AGE: &str = "journeyd_oldest_active_journey_age_seconds";
pub const TOKEN_REQUESTS: &str = "journeyd_token_requests_total";
pub const RATE_LIMIT_WAITS: &str = "journeyd_rate_limit_waits_total";
pub const REQUEST_RATE: &str = "journeyd_request_rate_limit";
pub const API_DOWN: &str = "journeyd_api_down";
pub const LAST_SUCCESSFUL_POLL: &str = "journeyd_last_successful_poll_timestamp_seconds";
pub const DATABASE_WRITE_FAILURES: &str = "journeyd_database_write_failures_total";
pub const DATABASE_UNWRITABLE: &str = "journeyd_database_unwritable";
pub const RESULTS_UNWRITTEN: &str = "journeyd_poll_results_unwritten";
pub const HTTP_CONNECTIONS: &str = "journeyd_http_connections";
pub const HTTP_CONNECTIONS_CLOSED: &str = "journeyd_http_connections_closed_total";
pub const HTTP_ACCEPT_FAILURES: &str = "journeyd_http_accept_failures_total";
pub const WEBHOOK_DELIVERIES: &str = "journeyd_webhook_deliveries_total";
pub const WEBHOOK_ATTEMPT_DURATION: &str = "journeyd_webhook_attempt_duration_seconds";
pub const WEBHOOK_BACKLOG: &str = "journeyd_webhook_backlog";
pub const WEBHOOK_OLDEST_PENDING_AGE: &str = "journeyd_webhook_oldest_pending_age_seconds";
pub const WEBHOOK_ENDPOINT_DISABLED: &str = "journeyd_webhook_endpoint_disabled";
pub const WEBHOOK_ENDPOINTS_DISABLED: &str = "journeyd_webhook_endpoints_disabled_total";

/// Installs the global recorder; returns the handle that renders `/metrics`.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(POLL_DURATION.into()),
            &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(POLL_LATENESS.into()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 60.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(WEBHOOK_ATTEMPT_DURATION.into()),
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 30.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(JOURNEY_DURATION.into()),
            &[
                10.0, 30.0, 60.0, 300.0, 900.0, 1_800.0, 3_600.0, 14_400.0, 43_200.0, 86_400.0,
                259_200.0, 604_800.0,
            ],
        )?
        .install_recorder()?;
    describe();
    // Until the first success, "since the start": so "no successful poll for N minutes"
    // can fire for a daemon that starts during an outage.
    gauge!(LAST_SUCCESSFUL_POLL).set(unix_seconds(chrono::Utc::now()));
    Ok(handle)
}

fn describe() {
    describe_counter!(
        POLLS,
        "Polls of GBG GO by outcome (ok, or the failure class)."
    );
    describe_histogram!(
        POLL_DURATION,
        "Duration of one poll of GBG GO, token included."
    );
    describe_histogram!(
        POLL_LATENESS,
        "Time from a journey's due time to the start of its poll."
    );
    describe_counter!(API_ERRORS, "Failed polls by failure class.");
    describe_counter!(
        TRANSITIONS,
        "Status transitions recorded, by target status."
    );
    describe_counter!(
        JOURNEYS_ENDED,
        "Journeys no longer polled, by outcome (completed, failed, expired, not_found, \
         rejected, invalid_row, abandoned)."
    );
    describe_histogram!(JOURNEY_DURATION, "Time from start to a terminal status.");
    describe_counter!(
        JOURNEY_OUTCOMES,
        "Journeys that reached a terminal status, by that status and their outcome (the \
         result GBG GO gave; none when unknown)."
    );
    describe_gauge!(JOURNEYS_TRACKED, "Journeys still polled, by status.");
    describe_gauge!(JOURNEYS_STUCK, "Journeys marked stuck, by reason.");
    describe_gauge!(JOURNEYS_DUE, "Journeys whose next poll time has passed.");
    describe_gauge!(OLDEST_ACTIVE_AGE, "Age of the oldest journey still polled.");
    describe_counter!(
        TOKEN_REQUESTS,
        "Token requests by result (success, failure)."
    );
    describe_counter!(
        RATE_LIMIT_WAITS,
        "Times due work waited for the request budget or an outage probe."
    );
    describe_gauge!(
        REQUEST_RATE,
        "Requests per second the flow control allows now."
    );
    describe_gauge!(API_DOWN, "1 while GBG GO is considered down, by cause.");
    describe_counter!(
        DATABASE_WRITE_FAILURES,
        "Failed database writes by class (disk_full, read_only, locked, connection_lost, \
         io_error, server_error, refused)."
    );
    describe_gauge!(
        DATABASE_UNWRITABLE,
        "1 while the database cannot be written, by class of the latest failure."
    );
    describe_gauge!(
        RESULTS_UNWRITTEN,
        "Poll results kept in memory because the database could not take them yet."
    );
    describe_gauge!(HTTP_CONNECTIONS, "Open connections to the HTTP listener.");
    describe_counter!(
        HTTP_CONNECTIONS_CLOSED,
        "HTTP connections closed by journeyd, by reason (idle_timeout, header_timeout, \
         evicted, refused)."
    );
    describe_counter!(
        HTTP_ACCEPT_FAILURES,
        "Failed accepts on the HTTP listener (most often: out of file descriptors)."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook attempts by endpoint and what they left the delivery (delivered, retrying, \
         given_up)."
    );
    describe_histogram!(
        WEBHOOK_ATTEMPT_DURATION,
        "Duration of one webhook attempt, by endpoint."
    );
    describe_gauge!(WEBHOOK_BACKLOG, "Webhook deliveries pending, by endpoint.");
    describe_gauge!(
        WEBHOOK_OLDEST_PENDING_AGE,
        "Age of the oldest pending webhook delivery, by endpoint (0 when none)."
    );
    describe_gauge!(
        WEBHOOK_ENDPOINT_DISABLED,
        "1 while a webhook endpoint is disabled (410 Gone, or failing for too long)."
    );
    describe_counter!(
        WEBHOOK_ENDPOINTS_DISABLED,
        "Times a webhook endpoint was disabled, by endpoint."
    );
    describe_gauge!(
        LAST_SUCCESSFUL_POLL,
        "Unix time of the last poll GBG GO answered (the daemon's start until then)."
    );
}

/// One poll of GBG GO: `outcome` is `ok` or a failure class.
pub fn record_poll(outcome: &'static str, took: Duration, at: Timestamp) {
    counter!(POLLS, "outcome" => outcome).increment(1);
    histogram!(POLL_DURATION).record(took.as_secs_f64());
    if outcome == "ok" {
        gauge!(LAST_SUCCESSFUL_POLL).set(unix_seconds(at));
    } else {
        counter!(API_ERRORS, "class" => outcome).increment(1);
    }
}

fn unix_seconds(at: Timestamp) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

/// A poll started `late` after its journey fell due.
pub fn record_lateness(late: Duration) {
    histogram!(POLL_LATENESS).record(late.as_secs_f64());
}

pub fn record_transition(to_status: &str) {
    counter!(TRANSITIONS, "to_status" => to_status.to_owned()).increment(1);
}

pub fn record_ended(outcome: &'static str) {
    counter!(JOURNEYS_ENDED, "outcome" => outcome).increment(1);
}

pub fn record_journey_duration(seconds: f64) {
    histogram!(JOURNEY_DURATION).record(seconds);
}

/// Longest label value taken as it is; statuses and outcomes come from GBG GO (or a v1 answer's
/// `data`), and a label must not take on unbounded values.
const MAX_LABEL_LEN: usize = 32;

/// A journey ended in `status` with `outcome`.
pub fn record_outcome(status: &str, outcome: Option<&str>) {
    counter!(
        JOURNEY_OUTCOMES,
        "status" => bounded_label(status),
        "outcome" => outcome.map_or_else(|| "none".to_owned(), bounded_label),
    )
    .increment(1);
}

/// `value` lower-cased, or `other` when it is long or holds more than letters, digits, `_`,
/// `-` and spaces.
fn bounded_label(value: &str) -> String {
    let plain = value.len() <= MAX_LABEL_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' '));
    if plain && !value.is_empty() {
        value.to_ascii_lowercase()
    } else {
        "other".to_owned()
    }
}

pub fn record_token_request(succeeded: bool) {
    let result = if succeeded { "success" } else { "failure" };
    counter!(TOKEN_REQUESTS, "result" => result).increment(1);
}

pub fn record_rate_limit_wait() {
    counter!(RATE_LIMIT_WAITS).increment(1);
}

/// The flow control's state after a change.
pub fn set_flow(rate: f64, down: Option<DownCause>) {
    gauge!(REQUEST_RATE).set(rate);
    for cause in [DownCause::Unavailable, DownCause::AccessDenied] {
        let value = if down == Some(cause) { 1.0 } else { 0.0 };
        gauge!(API_DOWN, "cause" => cause.as_str()).set(value);
    }
}

pub fn record_database_write_failure(class: &'static str) {
    counter!(DATABASE_WRITE_FAILURES, "class" => class).increment(1);
}

/// Whether the database cannot be written, with `class` the cause.
pub fn set_database_unwritable(class: &'static str, unwritable: bool) {
    gauge!(DATABASE_UNWRITABLE, "class" => class).set(if unwritable { 1.0 } else { 0.0 });
}

pub fn set_results_unwritten(count: usize) {
    gauge!(RESULTS_UNWRITTEN).set(count as f64);
}

pub fn set_http_connections(open: usize) {
    gauge!(HTTP_CONNECTIONS).set(open as f64);
}

pub fn record_http_connection_closed(reason: &'static str) {
    counter!(HTTP_CONNECTIONS_CLOSED, "reason" => reason).increment(1);
}

pub fn record_http_accept_failure() {
    counter!(HTTP_ACCEPT_FAILURES).increment(1);
}

/// One webhook attempt to `endpoint` that left its delivery `outcome`.
pub fn record_webhook_attempt(endpoint: &str, outcome: &'static str, took: Duration) {
    counter!(WEBHOOK_DELIVERIES, "endpoint" => endpoint.to_owned(), "outcome" => outcome)
        .increment(1);
    histogram!(WEBHOOK_ATTEMPT_DURATION, "endpoint" => endpoint.to_owned())
        .record(took.as_secs_f64());
}

pub fn record_webhook_endpoint_disabled(endpoint: &str) {
    counter!(WEBHOOK_ENDPOINTS_DISABLED, "endpoint" => endpoint.to_owned()).increment(1);
}
