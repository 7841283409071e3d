//! The webhook outbox: events written with the changes they describe, one delivery per
//! endpoint that wants each, and a row per HTTP attempt. The sender (`crate::webhooks`) works
//! it off through [`WebhookStore`]; the CLI reads it. Both backends implement it with the same
//! statements ([`sql`]), bound through their [`Dialect`](super::dialect::Dialect).

mod backends;
mod rows;
pub(super) mod shared;
pub mod sql;

pub use rows::{
    AttemptFilter, AttemptRecord, AttemptRow, DeliveryState, DisabledEndpoint, DueDelivery,
    EndpointRow, EndpointStatus, Replay,
};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::StoreError;
use crate::clock::Timestamp;
use crate::journey::JourneyUpdate;

/// Wakes the sender after `updates` were committed, if they announced anything.
pub(super) fn wake_sender(sender: &Notify, updates: &[JourneyUpdate]) {
    if updates
        .iter()
        .any(|update| !update.announcements.is_empty())
    {
        sender.notify_one();
    }
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Makes `webhook_endpoints` hold the configured endpoints: their URL and event filter
    /// written, endpoints no longer configured deleted with their deliveries. An endpoint's
    /// disabled mark and history stay.
    async fn sync_endpoints(&self, endpoints: &[EndpointRow]) -> Result<(), StoreError>;

    /// Leases up to `limit` deliveries due at `now` to `owner` until `lease_until`, with what
    /// their payloads are built from: oldest due first, each the oldest pending one of its
    /// journey for its endpoint (a journey's next event waits for the one before), none to a
    /// disabled endpoint.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records attempts in one transaction: each attempt's row, its delivery's new state,
    /// its endpoint's last success or failing streak. Disables endpoints that answered
    /// 410 Gone or have failed since before `failing_since_before`; returns those.
    async fn record_attempts(
        &self,
        owner: &str,
        attempts: &[AttemptRecord],
        now: Timestamp,
        failing_since_before: Timestamp,
    ) -> Result<Vec<DisabledEndpoint>, StoreError>;

    /// When the next pending delivery falls due, if any is not leased at `now`.
    async fn next_delivery_at(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError>;

    /// Every endpoint with its backlog, for `journeyd webhooks list` and the gauges.
    async fn endpoints(&self) -> Result<Vec<EndpointStatus>, StoreError>;

    /// Attempts, newest first.
    async fn attempts(&self, filter: &AttemptFilter) -> Result<Vec<AttemptRow>, StoreError>;

    /// Sends events again: makes their deliveries pending and due at `now` (new ones for
    /// endpoints that had none); returns how many deliveries it queued.
    async fn replay(&self, replay: &Replay, now: Timestamp) -> Result<u64, StoreError>;

    /// Clears an endpoint's disabled mark and failing streak; `false` if it is unknown.
    async fn enable_endpoint(&self, name: &str) -> Result<bool, StoreError>;

    /// Resolves when an event may have been written since the last call: the sender's wake-up.
    async fn outbox_written(&self);
}
