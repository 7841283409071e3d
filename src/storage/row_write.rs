//! One poll's update, flattened into the column values its statement binds.

use crate::clock::Timestamp;
use crate::journey::{JourneyUpdate, Transition, UpdateOutcome};

/// The column values one [`JourneyUpdate`] writes, flattened for binding. Columns a poll does
/// not touch are `None` and keep their value (`COALESCE`/`CASE` in the statement).
pub(super) struct RowWrite<'a> {
    pub(super) instance_id: &'a str,
    pub(super) expected_polls: i64,
    pub(super) polled_at: Timestamp,
    /// A request was sent (false when polling stops without one).
    pub(super) attempted: bool,
    pub(super) next_poll_at: Option<Timestamp>,
    pub(super) stopped_at: Option<Timestamp>,
    pub(super) stop_reason: Option<&'static str>,
    /// The observed status; `None` unless the poll observed one.
    pub(super) status: Option<&'a str>,
    pub(super) created_time: Option<Timestamp>,
    pub(super) completed_time: Option<Timestamp>,
    pub(super) completed_time_source: Option<&'static str>,
    /// The outcome, when it changed.
    pub(super) outcome: Option<&'a str>,
    pub(super) unchanged_polls: Option<i64>,
    pub(super) transition: Option<&'a Transition>,
    pub(super) data: Option<&'a str>,
    pub(super) consecutive_errors: Option<i64>,
    pub(super) consecutive_not_found: Option<i64>,
    /// The failure's class; `None` unless the poll failed.
    pub(super) error_class: Option<&'static str>,
    /// What goes to `last_error`.
    pub(super) error: Option<&'a str>,
    pub(super) request_id: Option<&'a str>,
}

impl<'a> RowWrite<'a> {
    /// What `update` writes, if it is written row by row: [`UpdateOutcome::Unchanged`] ones are
    /// written for a whole batch at once instead.
    pub(super) fn of(update: &'a JourneyUpdate) -> Option<Self> {
        let common = RowWrite {
            instance_id: &update.instance_id,
            expected_polls: update.expected_polls,
            polled_at: update.polled_at,
            attempted: true,
            next_poll_at: update.next_poll_at,
            stopped_at: update.stop.map(|_| update.polled_at),
            stop_reason: update.stop.map(|reason| reason.as_str()),
            status: None,
            created_time: None,
            completed_time: None,
            completed_time_source: None,
            outcome: None,
            unchanged_polls: None,
            transition: None,
            data: None,
            consecutive_errors: None,
            consecutive_not_found: None,
            error_class: None,
            error: None,
            request_id: None,
        };
        Some(match &update.outcome {
            UpdateOutcome::Unchanged { .. } => return None,
            UpdateOutcome::Observed {
                status,
                created_time,
                completed_time,
                outcome,
                unchanged_polls,
                transition,
                data,
            } => RowWrite {
                status: Some(status),
                created_time: *created_time,
                completed_time: completed_time.map(|(at, _)| at),
                completed_time_source: completed_time.map(|(_, source)| source.as_str()),
                outcome: outcome.as_deref(),
                unchanged_polls: Some(*unchanged_polls),
                transition: transition.as_ref(),
                data: data.as_deref(),
                consecutive_errors: Some(0),
                consecutive_not_found: Some(0),
                ..common
            },
            UpdateOutcome::Failed {
                class,
                error,
                request_id,
                consecutive_errors,
                consecutive_not_found,
            } => RowWrite {
                consecutive_errors: Some(*consecutive_errors),
                consecutive_not_found: Some(*consecutive_not_found),
                error_class: Some(class.as_str()),
                error: Some(error),
                request_id: request_id.as_deref(),
                ..common
            },
            UpdateOutcome::Stopped { error } => RowWrite {
                attempted: false,
                error: error.as_deref(),
                ..common
            },
        })
    }
}
