//! Journeys: search by instance ID (the whole ID or its first characters) with the filters of
//! `journeyd list`, a page at a time (keyset pagination: a page starts after the last row of
//! the one before, so rows enqueued meanwhile neither repeat nor go missing).

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};
use serde::Deserialize;

use super::format::{journey_link, link, next_poll, relative, time};
use super::layout::{self, ConsoleError, Section};
use crate::clock::Timestamp;
use crate::config::Caller;
use crate::http::HttpState;
use crate::journey::MAX_INSTANCE_ID_LEN;
use crate::storage::{JourneyRow, ListCursor, ListFilter, SearchFilter};

/// Journeys on one page.
const PAGE: u32 = 50;

/// The form's fields, as query parameters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Params {
    /// An instance ID or its first characters; empty: every journey, newest first.
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    /// `active`, `stopped`, or anything else for both.
    #[serde(default)]
    state: String,
    /// Present: stuck journeys only.
    stuck: Option<String>,
    /// Where the page starts: the last ID of the page before (with `q`), else a list cursor.
    after: Option<String>,
}

pub(super) async fn page(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> Result<Html<String>, ConsoleError> {
    let now = state.clock.now();
    let prefix = params.q.trim();
    if prefix.chars().count() > MAX_INSTANCE_ID_LEN {
        return Err(ConsoleError::BadRequest(format!(
            "An instance ID has at most {MAX_INSTANCE_ID_LEN} characters."
        )));
    }
    let status = Some(params.status.trim()).filter(|status| !status.is_empty());
    let active = match params.state.as_str() {
        "active" => Some(true),
        "stopped" => Some(false),
        _ => None,
    };
    let stuck = params
        .stuck
        .as_deref()
        .is_some_and(|stuck| !stuck.is_empty());
    let (rows, next) = if prefix.is_empty() {
        let after = params
            .after
            .as_deref()
            .map(|token| {
                ListCursor::decode(token).ok_or_else(|| {
                    ConsoleError::BadRequest("The page link is not one the console made.".into())
                })
            })
            .transpose()?;
        let filter = ListFilter {
            status: status.map(str::to_owned),
            active,
            stuck,
            limit: PAGE,
            after,
        };
        let page = state.store.list(&filter).await?;
        (page.journeys, page.next.map(|cursor| cursor.encode()))
    } else {
        let filter = SearchFilter {
            prefix: prefix.to_owned(),
            status: status.map(str::to_owned),
            active,
            stuck,
            limit: PAGE,
            after: params.after.clone(),
        };
        let rows = state.store.search(&filter).await?;
        let next = (rows.len() == PAGE as usize)
            .then(|| rows.last().map(|row| row.instance_id.clone()))
            .flatten();
        (rows, next)
    };
    let body = html! {
        (form(&params, prefix, stuck))
        (results(&rows, prefix, now))
        @if let Some(next) = next {
            p.pager {
                a #next-page href=(link(&[
                    ("q", prefix),
                    ("status", params.status.as_str()),
                    ("state", params.state.as_str()),
                    ("stuck", if stuck { "on" } else { "" }),
                    ("after", next.as_str()),
                ])) { "Next page →" }
            }
        }
    };
    Ok(layout::page("Journeys", Section::Journeys, &caller, body))
}

fn form(params: &Params, prefix: &str, stuck: bool) -> Markup {
    let state_option = |value: &str, label: &str| {
        html! { option value=(value) selected[params.state == value] { (label) } }
    };
    html! {
        form.search method="get" action="/console/journeys" {
            label { "Instance ID or its start"
                input #q type="search" name="q" value=(prefix) size="40" autofocus;
            }
            label { "Status"
                input #status type="text" name="status" value=(params.status) placeholder="any";
            }
            label { "Polling"
                select #state name="state" {
                    (state_option("", "any"))
                    (state_option("active", "still polled"))
                    (state_option("stopped", "stopped"))
                }
            }
            label { "Stuck only"
                input #stuck type="checkbox" name="stuck" value="on" checked[stuck];
            }
            button #search type="submit" { "Search" }
        }
    }
}

fn results(rows: &[JourneyRow], prefix: &str, now: Timestamp) -> Markup {
    html! {
        @if rows.is_empty() {
            p #no-results.muted { "No journey matches." }
        } @else {
            table #results {
                thead { tr {
                    th { "Instance ID" } th { "Status" } th { "Enqueued" } th { "Last polled" }
                    th.number { "Polls" } th { "Next poll" } th { "Marks" }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            td.id {
                                a href=(journey_link(&row.instance_id)) { (row.instance_id) }
                                @if row.instance_id == prefix { " " span.muted { "(exact)" } }
                            }
                            td { (row.status.as_deref().unwrap_or("–")) }
                            td { (time(&row.enqueued_at)) }
                            td { (row.last_polled_at.as_deref().map(|at| relative(at, now)).unwrap_or_default()) }
                            td.number { (row.polls) }
                            td { (next_poll(row, now)) }
                            td {
                                @if row.stuck_since.is_some() { span.stuck-mark { "stuck" } " " }
                                @if let Some(class) = &row.last_error_class { span.muted { (class) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
