//! The gauges about the table, read from indexed queries at each scrape of `/metrics`.

use std::collections::BTreeSet;

use metrics::gauge;

use crate::clock::{Timestamp, duration_between};
use crate::storage::outbox::EndpointStatus;
use crate::storage::{JourneyStats, STUCK_AGE, STUCK_STATUS};
use crate::telemetry::metrics::{
    JOURNEYS_DUE, JOURNEYS_STUCK, JOURNEYS_TRACKED, OLDEST_ACTIVE_AGE, WEBHOOK_BACKLOG,
    WEBHOOK_ENDPOINT_DISABLED, WEBHOOK_OLDEST_PENDING_AGE,
};

/// The gauges about the table. Remembers which statuses it has reported, so a status that no
/// journey has any more drops to zero instead of keeping its last count.
#[derive(Debug)]
pub struct TableGauges {
    statuses: BTreeSet<String>,
}

impl Default for TableGauges {
    /// Starts with `none` (journeys not answered yet), so that `journeyd_journeys_tracked` has
    /// a series, at zero, even while no journey is tracked.
    fn default() -> Self {
        Self {
            statuses: BTreeSet::from([NO_STATUS.to_owned()]),
        }
    }
}

/// The `status` label of journeys GBG GO has not answered for yet.
const NO_STATUS: &str = "none";

impl TableGauges {
    pub fn update(&mut self, stats: &JourneyStats, now: Timestamp) {
        let mut seen = BTreeSet::new();
        for (status, count) in &stats.active_by_status {
            let status = status.clone().unwrap_or_else(|| NO_STATUS.into());
            gauge!(JOURNEYS_TRACKED, "status" => status.clone()).set(*count as f64);
            seen.insert(status);
        }
        for gone in self.statuses.difference(&seen) {
            gauge!(JOURNEYS_TRACKED, "status" => gone.clone()).set(0.0);
        }
        self.statuses.extend(seen);
        for reason in [STUCK_AGE, STUCK_STATUS] {
            let count = stats
                .stuck_by_reason
                .iter()
                .find(|(r, _)| r == reason)
                .map_or(0, |(_, count)| *count);
            gauge!(JOURNEYS_STUCK, "reason" => reason).set(count as f64);
        }
        gauge!(JOURNEYS_DUE).set(stats.due as f64);
        let oldest = stats
            .oldest_active_start
            .map_or(0.0, |start| duration_between(start, now).as_secs_f64());
        gauge!(OLDEST_ACTIVE_AGE).set(oldest);
    }
}

/// The gauges about the webhook outbox, an endpoint each.
pub fn update_webhooks(endpoints: &[EndpointStatus], now: Timestamp) {
    for endpoint in endpoints {
        let name = endpoint.name.clone();
        gauge!(WEBHOOK_BACKLOG, "endpoint" => name.clone()).set(endpoint.backlog as f64);
        let oldest = endpoint
            .oldest_pending_at
            .map_or(0.0, |queued| duration_between(queued, now).as_secs_f64());
        gauge!(WEBHOOK_OLDEST_PENDING_AGE, "endpoint" => name.clone()).set(oldest);
        let disabled = if endpoint.disabled_at.is_some() {
            1.0
        } else {
            0.0
        };
        gauge!(WEBHOOK_ENDPOINT_DISABLED, "endpoint" => name).set(disabled);
    }
}
