//! The domain: what a tracked journey is, what a poll can learn about it, and the change a poll
//! makes to it. Pure data; the policy decides, storage persists.

mod announcement;
mod instance_id;
mod status;

pub use announcement::{Announcement, EventType};
pub use instance_id::{InstanceId, InvalidInstanceId, MAX_LEN as MAX_INSTANCE_ID_LEN};
pub use status::{TerminalStatuses, is_completed, same_status, status_key};

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// The GBG GO API version a journey was started on, and is polled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    V1,
    V2,
}

impl ApiVersion {
    pub const ALL: [Self; 2] = [Self::V1, Self::V2];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

impl std::str::FromStr for ApiVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "v1" => Ok(Self::V1),
            "v2" => Ok(Self::V2),
            other => Err(format!("{other:?} is not an API version (`v1` or `v2`)")),
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// Answers in a row that were 404 Not Found.
    pub consecutive_not_found: i64,
    /// Marked stuck by the stuck check.
    pub stuck: bool,
    /// The API version it is polled on.
    pub api_version: ApiVersion,
    /// The journey's result as last seen (v2 `context.result.status`; v1 where configured).
    pub outcome: Option<String>,
}

/// What a successful poll learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub status: String,
    /// When the journey started (v1 `metaData.createdTime`, v2 `startedAt`).
    pub created_time: Option<Timestamp>,
    /// When it ended, and where that came from.
    pub completed_time: Option<(Timestamp, EndTimeSource)>,
    /// The journey's result, when the answer says: v2 `context.result.status`, or what
    /// `api.v1_outcome_pointer` points at in a v1 answer.
    pub outcome: Option<String>,
    /// The answer's `data` object (v1) or `context` object (v2) as JSON text.
    pub data: Option<String>,
}

/// Where a journey's end time came from (`completed_time_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndTimeSource {
    /// v1 `metaData.completedTime`.
    CompletedTime,
    /// v2 `context.process.journey.endedAt`.
    EndedAt,
    /// v2 `startedAt` plus `durationMilliSec`.
    StartedAtPlusDuration,
    /// The answer gave none: the time journeyd first saw the journey ended.
    Observed,
}

impl EndTimeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CompletedTime => "completed_time",
            Self::EndedAt => "ended_at",
            Self::StartedAtPlusDuration => "started_at_plus_duration",
            Self::Observed => "observed",
        }
    }
}

/// What kind of failure a poll met. Each class has its own handling (see the policy and the
/// flow control) and is stored in `last_error_class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// No answer within `api.request_timeout`.
    Timeout,
    /// The connection could not be made (refused, unreachable, DNS).
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The connection broke while the request was under way (reset, closed).
    Transport,
    /// 5xx, including 503.
    ServerError,
    /// 429 Too Many Requests.
    RateLimited,
    /// 401 again after a fresh token.
    Unauthorized,
    /// 403: the credentials lack a role.
    Forbidden,
    /// 404: GBG GO does not know the instance.
    NotFound,
    /// 400 or 422: GBG GO refuses the request for this instance.
    Rejected,
    /// Another 4xx status.
    ClientError,
    /// A 200 whose body breaks the spec.
    Malformed,
    /// An answer larger than `api.max_response_bytes`; it was not read to its end.
    TooLarge,
    /// The database refused to store what the poll learned (a constraint, a value it cannot
    /// hold); the poll is recorded as this failure instead.
    Unrecordable,
    /// The token endpoint is down or unreachable.
    TokenUnavailable,
    /// The token endpoint refuses the credentials.
    TokenRejected,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Transport => "transport",
            Self::ServerError => "server_error",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Rejected => "rejected",
            Self::ClientError => "client_error",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::Unrecordable => "unrecordable",
            Self::TokenUnavailable => "token_unavailable",
            Self::TokenRejected => "token_rejected",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A poll that learned nothing, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct PollFailure {
    pub class: FailureClass,
    pub message: String,
    /// GBG GO's `X-Request-ID`, which its support asks for.
    pub request_id: Option<String>,
    /// From a `Retry-After` header on 429 or 503: do not ask again before this long.
    pub retry_after: Option<Duration>,
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
    /// GBG GO answered 404 `poll.not_found_after` times in a row.
    NotFound,
    /// GBG GO refused the request (400); its message is in `last_error`.
    Rejected,
    /// The journey was enqueued longer than `poll.give_up_after` ago.
    Expired,
    /// The application gave it up (`journeyd stop`, `DELETE /v1/journeys/{id}`).
    Abandoned,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terminal => "terminal",
            Self::InvalidRow => "invalid_row",
            Self::NotFound => "not_found",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Abandoned => "abandoned",
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
    /// The API version the journey was polled on: a journey enqueued without one keeps it.
    pub api_version: ApiVersion,
    /// The webhook events the change brings, written to the outbox with it.
    pub announcements: Vec<Announcement>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    Observed {
        status: String,
        created_time: Option<Timestamp>,
        completed_time: Option<(Timestamp, EndTimeSource)>,
        /// Present when the outcome differs from the one last seen; written with the poll's
        /// time as `outcome_at`.
        outcome: Option<String>,
        unchanged_polls: i64,
        /// Present when the status differs from the last one seen; `data` is then replaced.
        transition: Option<Transition>,
        data: Option<String>,
    },
    /// The same status as before, spelled the same, and not ended: the common case, which
    /// writes only the journey's schedule.
    Unchanged {
        unchanged_polls: i64,
        /// GBG GO's start time, when this answer is the first to give it (or gives another):
        /// then the journey's row is written too.
        created_time: Option<Timestamp>,
    },
    Failed {
        class: FailureClass,
        error: String,
        request_id: Option<String>,
        consecutive_errors: i64,
        consecutive_not_found: i64,
    },
    /// Polling stops without a request being sent; `error` (if any) goes to `last_error`.
    Stopped { error: Option<String> },
}
