//! One poll's update, flattened into the rows the group-commit statements take as JSON (see
//! [`super::sql::RECORD_SCHEDULE_SQLITE`] and its neighbours).

use serde_json::{Value, json};

use crate::clock::format_timestamp;
use crate::journey::{JourneyUpdate, UpdateOutcome};

/// The column values one [`JourneyUpdate`] writes. Columns a poll does not touch are null and
/// keep their value (`COALESCE`/`CASE` in the statements).
pub(super) struct RowWrite<'a> {
    update: &'a JourneyUpdate,
    unchanged_polls: Option<i64>,
    consecutive_errors: Option<i64>,
    consecutive_not_found: Option<i64>,
    /// The columns of `journeys` it writes, when it writes any: most polls see the same status
    /// again and write only the schedule.
    journey: Option<Value>,
}

impl<'a> RowWrite<'a> {
    pub(super) fn of(update: &'a JourneyUpdate) -> Self {
        let time = |at: Option<crate::clock::Timestamp>| at.map(format_timestamp);
        let polled_at = format_timestamp(update.polled_at);
        // What `journeys` gets: every field named by RECORD_JOURNEYS, null unless set.
        let journey = |fields: Value| {
            let mut row = json!({
                "instance_id": update.instance_id,
                "polled_at": polled_at,
                "stopped_at": update.stop.map(|_| polled_at.clone()),
                "stop_reason": update.stop.map(|reason| reason.as_str()),
                "api_version": update.api_version.as_str(),
            });
            if let (Value::Object(row), Value::Object(fields)) = (&mut row, fields) {
                row.extend(fields);
            }
            row
        };
        let blank = RowWrite {
            update,
            unchanged_polls: None,
            consecutive_errors: None,
            consecutive_not_found: None,
            journey: None,
        };
        match &update.outcome {
            UpdateOutcome::Unchanged {
                unchanged_polls,
                created_time,
            } => RowWrite {
                unchanged_polls: Some(*unchanged_polls),
                consecutive_errors: Some(0),
                consecutive_not_found: Some(0),
                journey: created_time.map(|at| journey(json!({"created_time": time(Some(at))}))),
                ..blank
            },
            UpdateOutcome::Observed {
                status,
                created_time,
                completed_time,
                outcome,
                unchanged_polls,
                transition,
                data,
            } => RowWrite {
                unchanged_polls: Some(*unchanged_polls),
                consecutive_errors: Some(0),
                consecutive_not_found: Some(0),
                journey: Some(journey(json!({
                    "status": status,
                    "changed": transition.is_some(),
                    "created_time": time(*created_time),
                    "completed_time": time(completed_time.map(|(at, _)| at)),
                    "completed_time_source": completed_time.map(|(_, source)| source.as_str()),
                    "outcome": outcome,
                    "data": data,
                }))),
                ..blank
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
                journey: Some(journey(json!({
                    "error_class": class.as_str(),
                    "error": error,
                    "request_id": request_id,
                }))),
                ..blank
            },
            UpdateOutcome::Stopped { error } => RowWrite {
                journey: Some(journey(json!({"error": error}))),
                ..blank
            },
        }
    }

    /// Its row for [`super::sql::RECORD_SCHEDULE_SQLITE`].
    pub(super) fn schedule(&self) -> Value {
        let update = self.update;
        json!({
            "instance_id": update.instance_id,
            "expected_polls": update.expected_polls,
            // A stop without a request (the journey expired) is no poll.
            "attempted": !matches!(update.outcome, UpdateOutcome::Stopped { .. }),
            "polled_at": format_timestamp(update.polled_at),
            "next_poll_at": update.next_poll_at.map(format_timestamp),
            "unchanged_polls": self.unchanged_polls,
            "consecutive_errors": self.consecutive_errors,
            "consecutive_not_found": self.consecutive_not_found,
        })
    }

    /// Its row for [`super::sql::RECORD_JOURNEYS_SQLITE`], if it changes the journey row.
    pub(super) fn journey(&self) -> Option<&Value> {
        self.journey.as_ref()
    }

    /// Its row for [`super::sql::INSERT_TRANSITIONS_SQLITE`], if it saw a new status.
    pub(super) fn transition(&self) -> Option<Value> {
        let UpdateOutcome::Observed {
            transition: Some(transition),
            ..
        } = &self.update.outcome
        else {
            return None;
        };
        Some(json!({
            "instance_id": self.update.instance_id,
            "from_status": transition.from,
            "to_status": transition.to,
            "observed_at": format_timestamp(self.update.polled_at),
        }))
    }
}
