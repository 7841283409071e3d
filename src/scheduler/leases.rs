//! The leases of a replica's polls in flight, and which of them a heartbeat renews.
//!
//! A claim leases a journey for `lease.ttl`; nearly every poll is written back long before
//! that, and a renewal it never needed is a row update all the same. So a heartbeat renews
//! only the leases set at least half a heartbeat interval ago: a lease is then renewed at the
//! latest one and a half intervals after it was set, half a term before it would run out.

use std::collections::HashMap;
use std::time::Duration;

use crate::clock::Timestamp;

/// How often a replica beats, for a lease term `ttl`: three beats a term, so a lease outlives
/// a beat or two that comes late.
pub(super) fn heartbeat_interval(ttl: Duration) -> Duration {
    ttl / 3
}

/// Journeys claimed and not yet written back, each with when its lease was last set.
#[derive(Default)]
pub(super) struct InFlight {
    leased_at: HashMap<String, Timestamp>,
}

impl InFlight {
    pub(super) fn claimed(&mut self, ids: impl IntoIterator<Item = String>, now: Timestamp) {
        self.leased_at.extend(ids.into_iter().map(|id| (id, now)));
    }

    /// Its result is written (or given up): the lease is no longer ours to renew.
    pub(super) fn finished(&mut self, id: &str) {
        self.leased_at.remove(id);
    }

    /// The leases a heartbeat at `now` renews, beating every `interval`.
    pub(super) fn to_renew(&self, now: Timestamp, interval: Duration) -> Vec<String> {
        let set_before = now - interval / 2;
        self.leased_at
            .iter()
            .filter(|(_, leased_at)| **leased_at <= set_before)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// `ids` were renewed at `now`; those written back meanwhile stay gone.
    pub(super) fn renewed(&mut self, ids: &[String], now: Timestamp) {
        for id in ids {
            if let Some(leased_at) = self.leased_at.get_mut(id) {
                *leased_at = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_timestamp;

    fn at(seconds: i64) -> Timestamp {
        parse_timestamp("2026-01-01T00:00:00.000Z").unwrap() + chrono::Duration::seconds(seconds)
    }

    #[test]
    fn a_lease_is_renewed_once_it_is_half_an_interval_old_then_every_beat() {
        let interval = heartbeat_interval(Duration::from_secs(30));
        let mut in_flight = InFlight::default();
        in_flight.claimed(["quick".to_owned(), "slow".to_owned()], at(0));
        assert!(in_flight.to_renew(at(4), interval).is_empty());
        in_flight.finished("quick");
        let due = in_flight.to_renew(at(5), interval);
        assert_eq!(due, ["slow"]);
        in_flight.renewed(&due, at(5));
        // The next beat, a little early, still renews it: its lease never gets short.
        assert_eq!(in_flight.to_renew(at(14), interval), ["slow"]);
        assert!(in_flight.to_renew(at(9), interval).is_empty());
    }

    #[test]
    fn a_lease_written_back_during_the_heartbeat_is_not_brought_back() {
        let interval = heartbeat_interval(Duration::from_secs(30));
        let mut in_flight = InFlight::default();
        in_flight.claimed(["j".to_owned()], at(0));
        let due = in_flight.to_renew(at(10), interval);
        in_flight.finished("j");
        in_flight.renewed(&due, at(10));
        assert!(in_flight.to_renew(at(30), interval).is_empty());
    }
}
