//! The overview: how many journeys are where, how GBG GO answers, what journeyd is doing.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::Html;
use maud::{Markup, html};

use super::format::{count, link, relative, span};
use super::layout::{self, ConsoleError, Section};
use crate::activity::ActivityReport;
use crate::clock::{self, Timestamp, format_timestamp};
use crate::config::Caller;
use crate::flow::{ApiState, DownCause, FlowReport};
use crate::http::HttpState;
use crate::storage::{JourneyStats, JourneyTotals};

/// "Errors in the last hour" counts journeys whose latest error is this recent.
const ERROR_WINDOW: Duration = Duration::from_secs(3_600);

pub(super) async fn page(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
) -> Result<Html<String>, ConsoleError> {
    let now = state.clock.now();
    let stats = state.store.stats(now).await?;
    let totals = state.store.totals(clock::sub(now, ERROR_WINDOW)).await?;
    let activity = state.activity.report(now);
    Ok(layout::page(
        "Overview",
        Section::Overview,
        &caller,
        figures(&stats, &totals, &activity, now),
    ))
}

/// The figures, refreshed in place every few seconds.
fn figures(
    stats: &JourneyStats,
    totals: &JourneyTotals,
    activity: &ActivityReport,
    now: Timestamp,
) -> Markup {
    let active: i64 = stats.active_by_status.iter().map(|(_, n)| n).sum();
    let stuck: i64 = stats.stuck_by_reason.iter().map(|(_, n)| n).sum();
    html! {
        section #figures data-refresh="5" {
            div.cards {
                (card("Active", &count(active), html! {
                    (count(stats.due)) " due now"
                }))
                (card("Ended", &count(totals.journeys - active), html! { "polling stopped" }))
                (card_link("Stuck", &count(stuck), "/console/stuck", html! {
                    @for (reason, n) in &stats.stuck_by_reason { (reason) ": " (count(*n)) " " }
                }))
                (card("Errors in the last hour", &count(totals.errored), html! {
                    "journeys whose latest error is that recent"
                }))
                (card("Polls since start", &count(activity.polls), html! {
                    "started " (relative(&format_timestamp(activity.started_at), now))
                }))
                (api_card(activity.flow.as_ref(), now))
                (budget_card(activity))
                (card("Oldest active journey", &oldest(stats.oldest_active_start, now), html! {
                    "since its start"
                }))
            }
            h2 { "Active journeys by status" }
            table #active-by-status {
                thead { tr { th { "Status" } th.number { "Journeys" } } }
                tbody {
                    @for (status, n) in &stats.active_by_status {
                        tr {
                            td {
                                @match status {
                                    Some(status) => a href=(link(&[("status", status.as_str()), ("state", "active")])) { (status) },
                                    None => span.muted { "not answered yet" },
                                }
                            }
                            td.number { (count(*n)) }
                        }
                    }
                }
            }
        }
    }
}

fn card(label: &str, figure: &str, note: Markup) -> Markup {
    html! {
        div.card {
            div.label { (label) }
            div.figure { (figure) }
            div.note { (note) }
        }
    }
}

fn card_link(label: &str, figure: &str, href: &str, note: Markup) -> Markup {
    html! { a.card-link href=(href) { (card(label, figure, note)) } }
}

fn oldest(start: Option<Timestamp>, now: Timestamp) -> String {
    match start {
        Some(start) => span(clock::duration_between(start, now)),
        None => "none".to_owned(),
    }
}

/// GBG GO's state as the flow control sees it, in words.
fn api_card(flow: Option<&FlowReport>, now: Timestamp) -> Markup {
    let (class, figure, note) = match flow.map(|flow| flow.state) {
        None => (
            "",
            "starting".to_owned(),
            "the scheduler has not turned yet".to_owned(),
        ),
        Some(ApiState::Healthy) => (
            "state-healthy",
            "healthy".to_owned(),
            "full request budget".to_owned(),
        ),
        Some(ApiState::Slowed) => (
            "state-slowed",
            "slowed by 429s".to_owned(),
            "the rate climbs back over api.recovery_period".to_owned(),
        ),
        Some(ApiState::Down {
            cause,
            since,
            next_probe,
        }) => (
            "state-down",
            match cause {
                DownCause::Unavailable => "in an outage".to_owned(),
                DownCause::AccessDenied => "access denied".to_owned(),
            },
            format!(
                "since {}; next probe {}",
                relative(&format_timestamp(since), now),
                relative(&format_timestamp(next_probe), now)
            ),
        ),
    };
    html! {
        div.card #api-state {
            div.label { "GBG GO" }
            div.figure class=(class) { (figure) }
            div.note { (note) }
        }
    }
}

/// Requests sent over the last seconds against what the flow control allows now.
fn budget_card(activity: &ActivityReport) -> Markup {
    let (figure, note) = match &activity.flow {
        Some(flow) if flow.rate > 0.0 => (
            format!("{:.0} %", 100.0 * activity.request_rate / flow.rate),
            format!(
                "{:.1} of {:.1} requests/s allowed (maximum {:.1})",
                activity.request_rate, flow.rate, flow.max_rate
            ),
        ),
        _ => ("–".to_owned(), "no budget yet".to_owned()),
    };
    card("Request budget in use", &figure, html! { (note) })
}
