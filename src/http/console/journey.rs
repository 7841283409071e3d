//! A journey's page: where it is, how it got there and how long each step took, what went
//! wrong, when it is polled next, and what its webhooks said. Its kept data, if the
//! configuration keeps any, is collapsed until asked for.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Html;
use maud::{Markup, html};

use super::format::{count, next_poll, relative, span, time};
use super::layout::{self, ConsoleError, Section};
use super::timeline::{Stretch, stretches};
use crate::clock::{Timestamp, format_timestamp};
use crate::config::Caller;
use crate::http::HttpState;
use crate::storage::{AttemptFilter, AttemptRow, JourneyRow, STUCK_AGE, STUCK_STATUS};

/// Webhook attempts shown, newest first.
const ATTEMPTS_SHOWN: i64 = 20;

pub(super) async fn page(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(instance_id): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    let now = state.clock.now();
    let row = state.store.journey(&instance_id).await?.ok_or_else(|| {
        ConsoleError::NotFound(format!(
            "journeyd does not track a journey {instance_id:?}."
        ))
    })?;
    let transitions = state.store.transitions(&instance_id).await?;
    let timeline = stretches(&transitions, row.stopped_at.as_deref(), now);
    let attempts = state
        .store
        .webhooks()
        .attempts(&AttemptFilter {
            instance_id: Some(instance_id.clone()),
            limit: ATTEMPTS_SHOWN,
            ..AttemptFilter::default()
        })
        .await?;
    let body = html! {
        section #journey data-refresh="5" {
            (facts(&row, now))
            h2 { "Timeline" }
            (timeline_table(&timeline))
            (errors(&row))
            (webhooks(&attempts, now))
        }
        (data(&row))
    };
    Ok(layout::page(&instance_id, Section::Journeys, &caller, body))
}

fn facts(row: &JourneyRow, now: Timestamp) -> Markup {
    let stopped = row.stopped_at.as_deref().map(|at| {
        format!(
            "{} ({})",
            time(at),
            row.stop_reason.as_deref().unwrap_or("?")
        )
    });
    html! {
        dl.facts #facts {
            dt { "Status" } dd #status { strong { (row.status.as_deref().unwrap_or("not answered yet")) } }
            @if let Some(outcome) = &row.outcome { dt { "Outcome" } dd { (outcome) } }
            @if let (Some(since), Some(reason)) = (&row.stuck_since, &row.stuck_reason) {
                dt { "Stuck" }
                dd #stuck { span.stuck-mark { "stuck" } " since " (relative(since, now)) " (" (stuck_reason(reason)) ")" }
            }
            dt { "Next poll" } dd #next-poll { (next_poll(row, now)) }
            dt { "Enqueued" } dd { (time(&row.enqueued_at)) " (" (relative(&row.enqueued_at, now)) ")" }
            @if let Some(created) = &row.created_time { dt { "Started at GBG GO" } dd { (time(created)) } }
            @if let Some(completed) = &row.completed_time { dt { "Completed" } dd { (time(completed)) } }
            @if let Some(stopped) = stopped { dt { "Polling stopped" } dd { (stopped) } }
            dt { "Polls" } dd { (count(row.polls)) " (" (count(row.unchanged_polls)) " in a row without change)" }
            @if let Some(polled) = &row.last_polled_at { dt { "Last polled" } dd { (relative(polled, now)) } }
            dt { "API version" } dd { (row.api_version.as_deref().unwrap_or("api.version when first polled")) }
        }
    }
}

fn stuck_reason(reason: &str) -> &str {
    match reason {
        STUCK_AGE => "not ended within stuck.after of its start",
        STUCK_STATUS => "in its status longer than stuck.status_after allows",
        other => other,
    }
}

fn timeline_table(timeline: &[Stretch]) -> Markup {
    html! {
        @if timeline.is_empty() {
            p #no-transitions.muted { "GBG GO has not been asked yet, or has not answered." }
        } @else {
            table #timeline {
                thead { tr { th { "Status" } th { "From" } th { "Seen at" } th { "Time in status" } } }
                tbody {
                    @for stretch in timeline {
                        tr.current[stretch.current] {
                            td.status { (stretch.status) }
                            td { (stretch.from_status.as_deref().unwrap_or("–")) }
                            td { (time(&stretch.observed_at)) }
                            td {
                                (stretch.lasted.map(span).unwrap_or_else(|| "?".to_owned()))
                                @if stretch.current { " so far" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn errors(row: &JourneyRow) -> Markup {
    html! {
        h2 { "Errors" }
        @if row.error_count == 0 {
            p.muted { "None." }
        } @else {
            dl.facts #errors {
                dt { "Errors" } dd { (count(row.error_count)) " in all, " (count(row.consecutive_errors)) " in a row now" }
                @if let Some(class) = &row.last_error_class { dt { "Last class" } dd { code { (class) } } }
                @if let Some(at) = &row.last_error_at { dt { "Last at" } dd { (time(at)) } }
                @if let Some(error) = &row.last_error { dt { "Last message" } dd #last-error { (error) } }
                @if let Some(id) = &row.last_request_id { dt { "GBG GO request ID" } dd { code { (id) } } }
            }
        }
    }
}

fn webhooks(attempts: &[AttemptRow], now: Timestamp) -> Markup {
    html! {
        @if !attempts.is_empty() {
            h2 { "Webhook attempts" }
            table #webhook-attempts {
                thead { tr { th { "When" } th { "Endpoint" } th { "Event" } th { "Answer" } th { "Delivery" } } }
                tbody {
                    @for attempt in attempts {
                        tr {
                            td { (relative(&format_timestamp(attempt.attempted_at), now)) }
                            td { (attempt.endpoint) }
                            td { code { (attempt.event_type) } " " span.muted { (attempt.message_id) } }
                            td {
                                @match (attempt.status_code, &attempt.error) {
                                    (Some(code), _) => { "HTTP " (code) }
                                    (None, Some(error)) => { (error) }
                                    (None, None) => { "–" }
                                }
                            }
                            td { (attempt.state) }
                        }
                    }
                }
            }
        }
    }
}

/// The data GBG GO answered, kept by `data.keep`: collapsed, since it is personal.
fn data(row: &JourneyRow) -> Markup {
    let Some(data) = &row.data else {
        return html! {};
    };
    let pretty = serde_json::from_str::<serde_json::Value>(data)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or_else(|_| data.clone());
    html! {
        details.data #data {
            summary { "Personal data kept by data.keep (" (count(data.len() as u64)) " bytes): show" }
            pre { (pretty) }
        }
    }
}
