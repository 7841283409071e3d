//! Handing out work: claims as many due journeys as free slots and the request budget allow,
//! starts their polls, and says how long to sleep when it can hand out no more.

use std::time::Duration;

use tokio::task::JoinSet;

use super::{Scheduler, SchedulerError, poll};
use crate::clock::{self, Timestamp};
use crate::telemetry::metrics;

/// Shortest pause between scans, so a store that keeps reporting due work it then cannot hand
/// out (leased elsewhere, say) is not asked again in a tight loop.
const MIN_PAUSE: Duration = Duration::from_millis(5);

/// What stopped one round of handing out work.
pub(super) enum Limit {
    /// Every free slot got a journey; more may be due.
    Slots,
    /// Some journeys were claimed, fewer than wanted: perhaps nothing more is due, perhaps
    /// another replica took rows this one had picked.
    Short,
    /// The request budget (or an outage) allows no more until then (`None`: until a probe ends).
    Budget(Option<Timestamp>),
    /// Nothing more is due.
    Drained,
}

impl Scheduler {
    /// How long to sleep until `at` (capped by the scan interval).
    pub(super) fn pause_until(&self, at: Option<Timestamp>) -> Duration {
        let shared = &self.shared;
        let now = shared.clock.now();
        let latest = clock::add(now, shared.settings.scan_interval);
        let wake_at = at.map_or(latest, |at| at.min(latest));
        shared.wakeup.plan(wake_at);
        clock::duration_between(now, wake_at).max(MIN_PAUSE)
    }

    /// How long to sleep when nothing more is due now.
    pub(super) async fn pause_until_due(&self) -> Duration {
        let now = self.shared.clock.now();
        let next_due = match self.shared.store.next_due_at(now).await {
            Ok(next) => next,
            Err(err) => {
                tracing::error!(error = %err, "reading the next due time failed");
                None
            }
        };
        self.pause_until(next_due)
    }

    /// Claims as many due journeys as slots and the request budget allow, and starts polling
    /// them. Returns how many it claimed and what stopped it.
    pub(super) async fn dispatch(
        &self,
        polls: &mut JoinSet<()>,
    ) -> Result<(usize, Limit), SchedulerError> {
        let shared = &self.shared;
        let free = shared.slots.available_permits();
        if free == 0 {
            return Ok((0, Limit::Slots));
        }
        let now = shared.clock.now();
        let admission = shared.flow().admit(now, free);
        if admission.allowed == 0 {
            return Ok((0, Limit::Budget(admission.retry_at)));
        }
        let claims = shared
            .store
            .claim_due(
                &shared.settings.owner,
                now,
                clock::add(now, shared.settings.lease_ttl),
                admission.allowed,
                shared.settings.default_api_version,
            )
            .await;
        let claims = match claims {
            Ok(claims) => claims,
            Err(err) => {
                shared.flow().give_back(admission.allowed);
                return Err(err.into());
            }
        };
        let claimed = claims.len();
        shared.flow().give_back(admission.allowed - claimed);
        shared.activity.requests_started(now, claimed);
        shared
            .in_flight()
            .claimed(claims.iter().map(|claim| claim.instance_id.clone()), now);
        for claim in claims {
            if let Some(due) = claim.due_at {
                metrics::record_lateness(clock::duration_between(due, now));
            }
            let slot =
                shared.slots.clone().try_acquire_owned().expect(
                    "only the dispatcher takes slots, and it claimed no more than were free",
                );
            polls.spawn(poll::poll_journey(shared.clone(), claim, slot));
        }
        let limit = if claimed == 0 {
            Limit::Drained
        } else if claimed < admission.allowed {
            Limit::Short
        } else if admission.allowed < free {
            Limit::Budget(admission.retry_at)
        } else {
            Limit::Slots
        };
        Ok((claimed, limit))
    }
}
