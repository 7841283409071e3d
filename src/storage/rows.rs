//! What the store hands out to people and programs: rows as stored, pages of them, figures.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::clock::{Timestamp, parse_timestamp};
use crate::journey::InstanceId;

/// A journey's row as stored, for people and programs reading it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct JourneyRow {
    pub instance_id: String,
    pub status: Option<String>,
    pub enqueued_at: String,
    pub created_time: Option<String>,
    pub completed_time: Option<String>,
    pub data: Option<String>,
    pub status_changed_at: Option<String>,
    pub polls: i64,
    pub unchanged_polls: i64,
    pub last_polled_at: Option<String>,
    pub next_poll_at: Option<String>,
    pub consecutive_errors: i64,
    pub error_count: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub last_request_id: Option<String>,
    pub stopped_at: Option<String>,
    pub stop_reason: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<String>,
    pub consecutive_not_found: i64,
    pub last_error_class: Option<String>,
    pub stuck_since: Option<String>,
    pub stuck_reason: Option<String>,
    pub api_version: Option<String>,
    pub outcome: Option<String>,
    pub outcome_at: Option<String>,
    pub completed_time_source: Option<String>,
}

/// One row of `journey_transitions`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct TransitionRow {
    pub id: i64,
    pub instance_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub observed_at: String,
}

/// Which journeys `list` returns, newest enqueued first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Compared without regard to case or underscores.
    pub status: Option<String>,
    /// `Some(true)`: still being polled; `Some(false)`: polling stopped.
    pub active: Option<bool>,
    /// Only journeys marked stuck.
    pub stuck: bool,
    pub limit: u32,
    /// Only journeys after this one, in the list's order: the next page.
    pub after: Option<ListCursor>,
}

/// Where a page of `list` ended: the last journey's enqueue time (as precise as stored) and
/// instance ID. Keyset pagination: the next page starts after it whatever was enqueued since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub enqueued_at: String,
    pub instance_id: String,
}

impl ListCursor {
    /// The cursor as an opaque token for a URL.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}\n{}", self.enqueued_at, self.instance_id))
    }

    /// Reads a token made by [`ListCursor::encode`].
    pub fn decode(token: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
        let (enqueued_at, instance_id) = text.split_once('\n')?;
        parse_timestamp(enqueued_at).ok()?;
        Some(Self {
            enqueued_at: enqueued_at.to_owned(),
            instance_id: instance_id.to_owned(),
        })
    }
}

/// A page of `list`, and where the next one starts (`None`: this is the last).
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyPage {
    pub journeys: Vec<JourneyRow>,
    pub next: Option<ListCursor>,
}

/// A journey's row, as `list` reads it: with its enqueue time as precise as stored, for the
/// cursor (PostgreSQL keeps microseconds where the row's text shows milliseconds).
#[derive(sqlx::FromRow)]
pub(super) struct ListedRow {
    #[sqlx(flatten)]
    pub journey: JourneyRow,
    pub cursor_at: String,
}

impl JourneyPage {
    /// The page of `rows`, asked for with `limit`: a full page may have a next one.
    pub(super) fn of(rows: Vec<ListedRow>, limit: u32) -> Self {
        let next = (rows.len() == limit as usize)
            .then(|| rows.last())
            .flatten()
            .map(|last| ListCursor {
                enqueued_at: last.cursor_at.clone(),
                instance_id: last.journey.instance_id.clone(),
            });
        Self {
            journeys: rows.into_iter().map(|row| row.journey).collect(),
            next,
        }
    }
}

/// Which journeys the console's search returns, by instance ID.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchFilter {
    /// The instance ID or its first characters.
    pub prefix: String,
    /// The filters of `journeyd list`: status (compared without regard to case or
    /// underscores), still polled or not, stuck only.
    pub status: Option<String>,
    pub active: Option<bool>,
    pub stuck: bool,
    pub limit: u32,
    /// Only journeys whose ID sorts after this one: the next page.
    pub after: Option<String>,
}

impl SearchFilter {
    /// The smallest text above every ID that starts with the prefix, in byte order: the
    /// prefix followed by the highest character.
    pub(super) fn upper_bound(&self) -> String {
        format!("{}{}", self.prefix, char::MAX)
    }
}

/// Binds a [`SearchFilter`] to [`super::sql::SEARCH`] (or its PostgreSQL rendering) in its
/// numbered order. A macro: each backend's query takes the values through its own `Encode`.
macro_rules! bind_search {
    ($query:expr, $filter:expr) => {{
        let filter: &$crate::storage::SearchFilter = $filter;
        $query
            .bind(filter.prefix.as_str())
            .bind(filter.upper_bound())
            .bind(filter.status.as_deref().map($crate::journey::status_key))
            .bind(filter.active)
            .bind(filter.stuck)
            .bind(filter.after.as_deref())
            .bind(i64::from(filter.limit))
    }};
}
pub(super) use bind_search;

/// Figures for the console's overview beside [`JourneyStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JourneyTotals {
    /// Every journey in the table, polled or not.
    pub journeys: i64,
    /// Journeys whose latest error came since the time asked about.
    pub errored: i64,
}

/// When a journey counts as stuck, from `stuck.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct StuckRules {
    /// Not ended this long after its start (`created_time`, else `enqueued_at`).
    pub after: Duration,
    /// In this status (a [`status_key`](crate::journey::status_key)) for longer than this.
    pub by_status: Vec<(String, Duration)>,
}

/// Why a journey was marked stuck (`stuck_reason`).
pub const STUCK_AGE: &str = "age";
pub const STUCK_STATUS: &str = "status";

/// A journey the stuck check has just marked.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NewlyStuck {
    pub instance_id: String,
    pub status: Option<String>,
    pub stuck_reason: String,
    /// Start of the period that was too long: the journey's start, or when its status began.
    pub since: String,
}

/// Figures for the gauges, read on a timer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JourneyStats {
    /// Journeys still polled, by status (`None`: not answered yet).
    pub active_by_status: Vec<(Option<String>, i64)>,
    pub stuck_by_reason: Vec<(String, i64)>,
    /// Journeys whose next poll time has passed.
    pub due: i64,
    /// Start of the oldest journey still polled.
    pub oldest_active_start: Option<Timestamp>,
}

/// What retention does to a batch of journeys that stopped being polled long ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Clears their kept `data` (`retention.data_after`); the rows stay.
    ClearData,
    /// Deletes them with their transitions (`retention.finished_after`).
    Delete,
}

impl Retention {
    /// What a write of this kind is doing, for the errors it may meet.
    pub(super) fn operation(self) -> &'static str {
        match self {
            Self::ClearData => "clearing the data of finished journeys",
            Self::Delete => "deleting finished journeys",
        }
    }
}

/// What a prune would delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prunable {
    pub journeys: i64,
    pub transitions: i64,
}

/// Outcome of an enqueue batch: which IDs were new and which were tracked already (each once,
/// in the order asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub added: Vec<String>,
    pub already_tracked: Vec<String>,
}

impl Enqueued {
    /// Sorts `asked` by whether the database reported it `added`.
    pub(super) fn of(asked: &[InstanceId], added: Vec<String>) -> Self {
        let (added, already_tracked) = partition(asked.iter().map(InstanceId::as_str), &added);
        Self {
            added,
            already_tracked,
        }
    }
}

/// Outcome of forgetting journeys: which IDs were deleted and which journeyd did not know (each
/// once, in the order asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgotten {
    pub forgotten: Vec<String>,
    pub unknown: Vec<String>,
}

impl Forgotten {
    /// Sorts `asked` by whether the database reported it `deleted`.
    pub(super) fn of(asked: &[&str], deleted: Vec<String>) -> Self {
        let (forgotten, unknown) = partition(asked.iter().copied(), &deleted);
        Self { forgotten, unknown }
    }
}

/// Splits `asked` (each once, in order) into those in `hit` and the others.
fn partition<'a>(
    asked: impl Iterator<Item = &'a str>,
    hit: &[String],
) -> (Vec<String>, Vec<String>) {
    let hit: std::collections::HashSet<&str> = hit.iter().map(String::as_str).collect();
    let mut seen = std::collections::HashSet::new();
    let (mut hits, mut misses) = (Vec::with_capacity(hit.len()), Vec::new());
    for id in asked.filter(|id| seen.insert(*id)) {
        if hit.contains(id) {
            hits.push(id.to_owned());
        } else {
            misses.push(id.to_owned());
        }
    }
    (hits, misses)
}

/// What asking to stop polling a journey (abandoning it) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abandoned {
    /// It was being polled and no longer is.
    Now,
    /// Polling had stopped already, for this reason.
    Already(Option<String>),
    /// journeyd does not know it.
    Unknown,
}
