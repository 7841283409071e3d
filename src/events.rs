//! The structured log events journeyd promises to operators.
//!
//! Each event carries a stable `event` field (`journey_completed`, `journey_failed`, ...) so log
//! pipelines can match on it; the other fields are named in the README. Events are emitted only
//! after the change they describe is committed, so a crash can never announce something the
//! database does not hold.

use std::time::Duration;

use tracing::Level;

use crate::clock::{Timestamp, format_timestamp};
use crate::journey::{
    Announcement, EndTimeSource, EventType, FailureClass, StopReason, is_completed,
};
use crate::telemetry::metrics;

/// A journey reached a terminal status.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub instance_id: String,
    pub status: String,
    /// The journey's result (v2 `context.result.status`; v1 where configured), if known.
    pub outcome: Option<String>,
    pub created_time: Option<Timestamp>,
    pub completed_time: Timestamp,
    /// Where `completed_time` came from.
    pub completed_time_source: EndTimeSource,
    /// From `created_time` (or the enqueue time when GBG GO gave none) to `completed_time`.
    pub duration_seconds: f64,
    pub polls: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JourneyEvent {
    StatusChanged {
        instance_id: String,
        from: Option<String>,
        to: String,
    },
    Finished(Finished),
    PollFailed {
        instance_id: String,
        class: FailureClass,
        error: String,
        request_id: Option<String>,
        consecutive_errors: i64,
        retry_in: Duration,
    },
    Stopped {
        instance_id: String,
        reason: StopReason,
        detail: String,
    },
    /// The stuck check marked the journey.
    Stuck {
        instance_id: String,
        status: Option<String>,
        /// `age` or `status`.
        reason: String,
        /// Start of the period that was too long.
        since: String,
    },
    /// A stuck journey moved on or ended.
    Unstuck {
        instance_id: String,
        status: Option<String>,
        ended: bool,
    },
    /// The journey and everything recorded about it were deleted on request (an erasure).
    Forgotten {
        instance_id: String,
        /// Who asked: `journeyd forget`, or the HTTP API's caller.
        by: String,
    },
    /// Polling gave up: the journey was enqueued longer than `poll.give_up_after` ago.
    Expired {
        instance_id: String,
        status: Option<String>,
        enqueued_at: Timestamp,
        polls: i64,
    },
}

impl JourneyEvent {
    /// Writes the event to the log.
    pub fn emit(&self) {
        match self {
            Self::StatusChanged {
                instance_id,
                from,
                to,
            } => {
                metrics::record_transition(to);
                tracing::info!(
                event = "journey_status_changed",
                instance_id = %instance_id,
                from_status = from.as_deref(),
                to_status = %to,
                "journey status changed"
                );
            }
            Self::Finished(finished) => finished.emit(),
            Self::PollFailed {
                instance_id,
                class,
                error,
                request_id,
                consecutive_errors,
                retry_in,
            } => tracing::warn!(
                event = "journey_poll_failed",
                instance_id = %instance_id,
                class = %class,
                error = %error,
                request_id = request_id.as_deref(),
                consecutive_errors,
                retry_in_seconds = retry_in.as_secs_f64(),
                "polling journey failed"
            ),
            Self::Stopped {
                instance_id,
                reason,
                detail,
            } => {
                metrics::record_ended(reason.as_str());
                tracing::warn!(
                event = "journey_stopped",
                instance_id = %instance_id,
                reason = %reason,
                detail = %detail,
                "stopped polling journey"
                );
            }
            Self::Stuck {
                instance_id,
                status,
                reason,
                since,
            } => tracing::warn!(
                event = "journey_stuck",
                instance_id = %instance_id,
                status = status.as_deref(),
                reason = %reason,
                since = %since,
                "journey is stuck"
            ),
            Self::Unstuck {
                instance_id,
                status,
                ended,
            } => tracing::info!(
                event = "journey_unstuck",
                instance_id = %instance_id,
                status = status.as_deref(),
                ended,
                "stuck journey moved on"
            ),
            Self::Forgotten { instance_id, by } => tracing::info!(
                event = "journey_forgotten",
                instance_id = %instance_id,
                by = %by,
                "forgot a journey and everything recorded about it"
            ),
            Self::Expired {
                instance_id,
                status,
                enqueued_at,
                polls,
            } => {
                metrics::record_ended(StopReason::Expired.as_str());
                tracing::warn!(
                event = "journey_expired",
                instance_id = %instance_id,
                status = status.as_deref(),
                enqueued_at = %format_timestamp(*enqueued_at),
                polls,
                "gave up on a journey that did not end in time"
                );
            }
        }
    }
}

/// The webhook events that `events`, the log events of one change, announce: every kind but
/// failed polls (which change nothing an application acts on) and erasure (after which
/// nothing about the journey is kept, its outbox included).
pub fn announcements(events: &[JourneyEvent]) -> Vec<Announcement> {
    let previous_status = events.iter().find_map(|event| match event {
        JourneyEvent::StatusChanged { from, .. } => Some(from.clone()),
        _ => None,
    });
    events
        .iter()
        .filter_map(|event| {
            Some(match event {
                JourneyEvent::StatusChanged { .. } => Announcement::new(EventType::StatusChanged),
                JourneyEvent::Finished(finished) => {
                    let kind = if is_completed(&finished.status) {
                        EventType::Completed
                    } else {
                        EventType::Failed
                    };
                    Announcement::new(kind)
                        .with(
                            "completedTimeSource",
                            finished.completed_time_source.as_str(),
                        )
                        .with("durationSeconds", finished.duration_seconds)
                        .with("polls", finished.polls)
                }
                JourneyEvent::Stopped { reason, detail, .. } => {
                    Announcement::new(EventType::Stopped)
                        .with("reason", reason.as_str())
                        .with("detail", detail.as_str())
                }
                JourneyEvent::Expired {
                    enqueued_at, polls, ..
                } => Announcement::new(EventType::Expired)
                    .with("reason", StopReason::Expired.as_str())
                    .with("enqueuedAt", format_timestamp(*enqueued_at))
                    .with("polls", *polls),
                JourneyEvent::Stuck { reason, since, .. } => Announcement::new(EventType::Stuck)
                    .with("reason", reason.as_str())
                    .with("since", since.as_str()),
                JourneyEvent::Unstuck { ended, .. } => {
                    Announcement::new(EventType::Unstuck).with("ended", *ended)
                }
                JourneyEvent::PollFailed { .. } | JourneyEvent::Forgotten { .. } => return None,
            })
        })
        .map(|mut announcement| {
            if matches!(
                announcement.event_type,
                EventType::StatusChanged | EventType::Completed | EventType::Failed
            ) {
                announcement.previous_status = previous_status.clone().flatten();
            }
            announcement
        })
        .collect()
}

impl Finished {
    fn emit(&self) {
        // `tracing` needs an event's level as a constant, hence the macro over both levels.
        macro_rules! finished {
            ($level:expr, $event:literal, $message:literal) => {
                tracing::event!(
                    $level,
                    event = $event,
                    instance_id = %self.instance_id,
                    status = %self.status,
                    outcome = self.outcome.as_deref(),
                    created_time = self.created_time.map(format_timestamp).as_deref(),
                    completed_time = %format_timestamp(self.completed_time),
                    completed_time_source = self.completed_time_source.as_str(),
                    duration_seconds = self.duration_seconds,
                    polls = self.polls,
                    $message
                )
            };
        }
        metrics::record_journey_duration(self.duration_seconds);
        metrics::record_outcome(&self.status, self.outcome.as_deref());
        if is_completed(&self.status) {
            metrics::record_ended("completed");
            finished!(Level::INFO, "journey_completed", "journey completed");
        } else {
            metrics::record_ended("failed");
            finished!(
                Level::WARN,
                "journey_failed",
                "journey ended without completing"
            );
        }
    }
}
