//! The domain: what a tracked journey is, what a poll can learn about it, and the change a poll
//! makes to it. Pure data; the policy decides, storage persists.

mod instance_id;
mod status;

pub use instance_id::{InstanceId, InvalidInstanceId, MAX_LEN as MAX_INSTANCE_ID_LEN};
pub use status::{TerminalStatuses, is_completed, same_status, status_key};

use std::fmt;

use serde::Serialize;

use crate::clock::Timestamp;

/// A journey claimed for polling, with the history the policy needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedJourney {
    /// As stored. Rows inserted by other programs may hold an invalid ID: the scheduler checks
    /// it before anything is sent.
    pub instance_id: String,
    /// The last status observed, as GBG GO spelled it; `None` before the first answer.
    pub status: Option<String>,
    pub enqueued_at: Timestamp,
    pub created_time: Option<Timestamp>,
    /// Poll attempts so far, failed ones included.
    pub polls: i64,
    /// Successful polls in a row that saw the same status as the one before.
    pub unchanged_polls: i64,
    /// Failed polls in a row.
    pub consecutive_errors: i64,
}

/// What a successful poll learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub status: String,
    pub created_time: Option<Timestamp>,
    pub completed_time: Option<Timestamp>,
    /// The answer's `data` object as JSON text.
    pub data: Option<String>,
}

/// A poll that learned nothing, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct PollFailure {
    pub message: String,
    /// GBG GO's `X-Request-ID`, which its support asks for.
    pub request_id: Option<String>,
}

/// The result of one attempt to poll a journey.
#[derive(Debug, Clone, PartialEq)]
pub enum PollResult {
    Observed(Observation),
    Failed(PollFailure),
    /// The stored row cannot be polled (an instance ID GBG GO could not have issued, an
    /// unreadable timestamp); nothing was sent. Says what is wrong.
    InvalidRow(String),
}

/// Why journeyd stopped polling a journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The journey reached a terminal status.
    Terminal,
    /// The row cannot be polled, e.g. its instance ID is malformed.
    InvalidRow,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terminal => "terminal",
            Self::InvalidRow => "invalid_row",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status change: one row of `journey_transitions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<String>,
    pub to: String,
}

/// The change one poll makes to a journey's row. Storage writes it atomically, together with the
/// transition it carries, and only if the row is still as it was claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyUpdate {
    pub instance_id: String,
    /// `polls` as claimed: the write is skipped if anything else polled the row meanwhile.
    pub expected_polls: i64,
    pub polled_at: Timestamp,
    /// When to poll next; `None` when polling stops.
    pub next_poll_at: Option<Timestamp>,
    pub stop: Option<StopReason>,
    pub outcome: UpdateOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    Observed {
        status: String,
        created_time: Option<Timestamp>,
        completed_time: Option<Timestamp>,
        unchanged_polls: i64,
        /// Present when the status differs from the last one seen; `data` is then replaced.
        transition: Option<Transition>,
        data: Option<String>,
    },
    Failed {
        error: String,
        request_id: Option<String>,
        consecutive_errors: i64,
    },
}
