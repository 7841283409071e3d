//! One poll's update, flattened into the rows the group-commit statements take as JSON (see
//! [`super::sql::RECORD_SCHEDULE_SQLITE`] and its neighbours).

use serde_json::{Value, json};

use crate::clock::format_timestamp;
use crate::journey::{JourneyUpdate, UpdateOutcome};

/// A schedule row's poll counters, as [`super::sql::FINISH_SCHEDULE_SQLITE`] returns them
/// (after the instance ID): the time as text, in the form the backend gives it.
pub(super) struct ScheduleCounters {
    polls: i64,
    unchanged_polls: i64,
    last_polled_at: Option<String>,
    consecutive_errors: i64,
    consecutive_not_found: i64,
}

/// What [`super::sql::FINISH_SCHEDULE_SQLITE`] returns: an instance ID and its schedule row's
/// counters, in [`ScheduleCounters`]' order.
pub(super) type FinishedRow = (String, i64, i64, Option<String>, i64, i64);

impl ScheduleCounters {
    pub(super) fn of_row(row: FinishedRow) -> (String, Self) {
        let (id, polls, unchanged_polls, last_polled_at, consecutive_errors, not_found) = row;
        let counters = ScheduleCounters {
            polls,
            unchanged_polls,
            last_polled_at,
            consecutive_errors,
            consecutive_not_found: not_found,
        };
        (id, counters)
    }
}

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
                // A journey whose polling ends gets its counters there (see `journey`).
                journey: (created_time.is_some() || update.next_poll_at.is_none())
                    .then(|| journey(json!({"created_time": time(*created_time)}))),
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

    pub(super) fn instance_id(&self) -> &str {
        &self.update.instance_id
    }

    /// Whether the journey is polled no more after it: its schedule row goes
    /// ([`super::sql::FINISH_SCHEDULE_SQLITE`]) rather than being written.
    pub(super) fn ends_polling(&self) -> bool {
        self.update.next_poll_at.is_none()
    }

    /// A stop without a request (the journey expired) is no poll.
    fn attempted(&self) -> bool {
        !matches!(self.update.outcome, UpdateOutcome::Stopped { .. })
    }

    /// Its row for [`super::sql::RECORD_SCHEDULE_SQLITE`] or
    /// [`super::sql::FINISH_SCHEDULE_SQLITE`].
    pub(super) fn schedule(&self) -> Value {
        let update = self.update;
        json!({
            "instance_id": update.instance_id,
            "expected_polls": update.expected_polls,
            "attempted": self.attempted(),
            "polled_at": format_timestamp(update.polled_at),
            "next_poll_at": update.next_poll_at.map(format_timestamp),
            "unchanged_polls": self.unchanged_polls,
            "consecutive_errors": self.consecutive_errors,
            "consecutive_not_found": self.consecutive_not_found,
        })
    }

    /// Its row for [`super::sql::RECORD_JOURNEYS_SQLITE`], if it changes the journey row. For a
    /// poll that ends the journey's polling, `before` is what its schedule row held, and the
    /// row gets the counters the journey is left with: the schedule row's, with this poll's
    /// result applied as [`super::sql::RECORD_SCHEDULE_SQLITE`] would have.
    pub(super) fn journey(&self, before: Option<&ScheduleCounters>) -> Option<Value> {
        let mut row = self.journey.clone()?;
        if let (Some(before), Value::Object(fields)) = (before, &mut row) {
            let attempted = self.attempted();
            let counters = json!({
                "final_polls": before.polls + i64::from(attempted),
                "final_polled_at": if attempted {
                    Some(format_timestamp(self.update.polled_at))
                } else {
                    before.last_polled_at.clone()
                },
                "final_unchanged_polls": self.unchanged_polls.unwrap_or(before.unchanged_polls),
                "final_consecutive_errors":
                    self.consecutive_errors.unwrap_or(before.consecutive_errors),
                "final_consecutive_not_found":
                    self.consecutive_not_found.unwrap_or(before.consecutive_not_found),
            });
            if let Value::Object(counters) = counters {
                fields.extend(counters);
            }
        }
        Some(row)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_timestamp;
    use crate::journey::{ApiVersion, FailureClass, StopReason};

    fn ending(outcome: UpdateOutcome, stop: StopReason) -> JourneyUpdate {
        JourneyUpdate {
            instance_id: "j".into(),
            expected_polls: 3,
            polled_at: parse_timestamp("2026-01-01T00:10:00.000Z").unwrap(),
            next_poll_at: None,
            stop: Some(stop),
            outcome,
            api_version: ApiVersion::V1,
            announcements: Vec::new(),
        }
    }

    fn before() -> ScheduleCounters {
        ScheduleCounters::of_row((
            "j".into(),
            3,
            2,
            Some("2026-01-01T00:05:00.000Z".into()),
            1,
            1,
        ))
        .1
    }

    /// The counters a journey ends with are its schedule row's with the last poll applied, as
    /// the schedule update would have applied them.
    #[test]
    fn an_ending_poll_hands_on_the_counters_it_would_have_written() {
        let failed = ending(
            UpdateOutcome::Failed {
                class: FailureClass::NotFound,
                error: "404".into(),
                request_id: None,
                consecutive_errors: 2,
                consecutive_not_found: 2,
            },
            StopReason::NotFound,
        );
        let write = RowWrite::of(&failed);
        assert!(write.ends_polling());
        let row = write.journey(Some(&before())).unwrap();
        assert_eq!(row["final_polls"], 4);
        assert_eq!(row["final_polled_at"], "2026-01-01T00:10:00.000Z");
        assert_eq!(row["final_unchanged_polls"], 2, "a failure keeps it");
        assert_eq!(row["final_consecutive_errors"], 2);
        assert_eq!(row["final_consecutive_not_found"], 2);

        // A stop without a request is no poll: the count and the last poll's time stay.
        let expired = ending(UpdateOutcome::Stopped { error: None }, StopReason::Expired);
        let row = RowWrite::of(&expired).journey(Some(&before())).unwrap();
        assert_eq!(row["final_polls"], 3);
        assert_eq!(row["final_polled_at"], "2026-01-01T00:05:00.000Z");
        assert_eq!(row["final_consecutive_errors"], 1);
    }
}
