//! Stuck journeys, oldest first: what operators look at when the stuck alert fires.

use axum::Extension;
use axum::extract::State;
use axum::response::Html;
use maud::html;

use super::format::{count, journey_link, relative, span};
use super::layout::{self, ConsoleError, Section};
use crate::clock::{self, parse_timestamp};
use crate::config::Caller;
use crate::http::HttpState;

/// Stuck journeys listed; the heading says how many there are in all.
const SHOWN: u32 = 500;

pub(super) async fn page(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
) -> Result<Html<String>, ConsoleError> {
    let now = state.clock.now();
    let rows = state.store.stuck(SHOWN).await?;
    let stats = state.store.stats(now).await?;
    let total: i64 = stats.stuck_by_reason.iter().map(|(_, n)| n).sum();
    let since = |text: &str| {
        parse_timestamp(text)
            .map(|at| span(clock::duration_between(at, now)))
            .unwrap_or_else(|_| "?".to_owned())
    };
    let body = html! {
        section #stuck-list data-refresh="5" {
            p #stuck-count {
                (count(total)) " stuck"
                @if total > i64::from(SHOWN) { ", the " (SHOWN) " oldest shown" }
                @for (reason, n) in &stats.stuck_by_reason { " · " (reason) ": " (count(*n)) }
            }
            @if !rows.is_empty() {
                table #stuck {
                    thead { tr {
                        th { "Instance ID" } th { "Status" } th { "Reason" } th { "Age" }
                        th { "In status" } th { "Marked" } th { "Last error" }
                    } }
                    tbody {
                        @for row in &rows {
                            tr {
                                td.id { a href=(journey_link(&row.instance_id)) { (row.instance_id) } }
                                td { (row.status.as_deref().unwrap_or("not answered yet")) }
                                td { (row.stuck_reason.as_deref().unwrap_or("?")) }
                                td { (since(row.created_time.as_deref().unwrap_or(&row.enqueued_at))) }
                                td { (since(row.status_changed_at.as_deref().unwrap_or(&row.enqueued_at))) }
                                td { (row.stuck_since.as_deref().map(|at| relative(at, now)).unwrap_or_default()) }
                                td { (row.last_error_class.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        "Stuck journeys",
        Section::Stuck,
        &caller,
        body,
    ))
}
