//! What goes into and comes out of the outbox.

use serde::Serialize;

use crate::clock::Timestamp;

/// A configured endpoint as `webhook_endpoints` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    pub name: String,
    pub url: String,
    /// `*`, or the wanted event types between spaces.
    pub events: String,
}

/// A delivery leased to the sender, with what its payload is built from.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DueDelivery {
    pub delivery_id: i64,
    pub endpoint: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The `webhook-id` header.
    pub message_id: String,
    pub event_type: String,
    pub occurred_at: Timestamp,
    pub instance_id: String,
    pub sequence: i64,
    pub status: Option<String>,
    pub previous_status: Option<String>,
    pub created_time: Option<Timestamp>,
    pub completed_time: Option<Timestamp>,
    pub outcome: Option<String>,
    /// The event's other fields, a JSON object.
    pub detail: String,
    /// The journey's kept data as it is now, JSON text; sent only to endpoints with
    /// `include_data`.
    pub data: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// To be tried (again) at `next_attempt_at`.
    Pending {
        next_attempt_at: Timestamp,
    },
    Delivered,
    /// Retries ran out, or the endpoint is gone.
    GivenUp,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending { .. } => "pending",
            Self::Delivered => "delivered",
            Self::GivenUp => "given_up",
        }
    }
}

/// One HTTP attempt and what it decided.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    pub endpoint: String,
    pub attempted_at: Timestamp,
    /// The answer's status; `None` when none came (a timeout, a refused connection).
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// The first 2 KB of the answer's body.
    pub response: Option<String>,
    pub next: DeliveryState,
    /// The endpoint answered 410 Gone: it is disabled at once.
    pub gone: bool,
}

impl AttemptRecord {
    pub fn succeeded(&self) -> bool {
        self.next == DeliveryState::Delivered
    }
}

/// An endpoint that `record_attempts` disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledEndpoint {
    pub name: String,
    pub reason: String,
}

/// An endpoint with its backlog.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct EndpointStatus {
    pub name: String,
    pub url: String,
    pub events: String,
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    /// Deliveries pending.
    pub backlog: i64,
    /// When the oldest pending delivery was queued.
    pub oldest_pending_at: Option<Timestamp>,
}

/// Which attempts to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptFilter {
    pub endpoint: Option<String>,
    pub instance_id: Option<String>,
    pub limit: i64,
}

/// One row of `webhook_attempts`, with its delivery's event.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempted_at: Timestamp,
    pub endpoint: String,
    pub message_id: String,
    pub event_type: String,
    pub instance_id: String,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response: Option<String>,
    pub state: String,
}

/// Which events to send again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// One event, by its `webhook-id`.
    Event {
        message_id: String,
        endpoint: Option<String>,
    },
    /// Every event that occurred at or after a time.
    Since {
        since: Timestamp,
        endpoint: Option<String>,
    },
}
