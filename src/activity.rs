//! What this daemon's scheduler is doing now, for people: the scheduler publishes it as it
//! goes, the console reads it. Kept in memory only: it describes this process, not the fleet
//! (the database answers for the fleet).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{self, Timestamp};
use crate::flow::FlowReport;

/// The request rate is averaged over this window.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// The window's seconds and the current one, which is not over yet.
const BUCKETS: usize = RATE_WINDOW.as_secs() as usize + 1;

#[derive(Debug)]
pub struct Activity {
    started_at: Timestamp,
    /// Counted once per poll, so without the lock.
    polls: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    requests: RecentRequests,
    flow: Option<FlowReport>,
}

/// A snapshot of [`Activity`].
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityReport {
    pub started_at: Timestamp,
    /// Polls finished since the daemon started.
    pub polls: u64,
    /// Requests started per second, over the last [`RATE_WINDOW`].
    pub request_rate: f64,
    /// `None` until the scheduler has turned once.
    pub flow: Option<FlowReport>,
}

impl Activity {
    pub fn new(started_at: Timestamp) -> Self {
        Self {
            started_at,
            polls: AtomicU64::new(0),
            state: Mutex::default(),
        }
    }

    /// Polls were started at `now` (each a request, or a probe).
    pub fn requests_started(&self, now: Timestamp, count: usize) {
        self.state().requests.add(now, count as u64);
    }

    pub fn poll_finished(&self) {
        self.polls.fetch_add(1, Ordering::Relaxed);
    }

    /// What the flow control says at this turn of the scheduler loop.
    pub fn flow(&self, report: FlowReport) {
        self.state().flow = Some(report);
    }

    pub fn report(&self, now: Timestamp) -> ActivityReport {
        let state = self.state();
        ActivityReport {
            started_at: self.started_at,
            polls: self.polls.load(Ordering::Relaxed),
            request_rate: state.requests.rate(now),
            flow: state.flow,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("activity state poisoned")
    }
}

/// Requests started, counted per second over the last [`RATE_WINDOW`].
#[derive(Debug, Default)]
struct RecentRequests {
    /// `(second since the epoch, requests started in it)`, indexed by second modulo their
    /// number.
    buckets: [(i64, u64); BUCKETS],
}

impl RecentRequests {
    fn add(&mut self, now: Timestamp, count: u64) {
        let second = now.timestamp();
        let bucket = &mut self.buckets[second.rem_euclid(BUCKETS as i64) as usize];
        if bucket.0 != second {
            *bucket = (second, 0);
        }
        bucket.1 += count;
    }

    /// Requests per second over the window's full seconds before `now`'s.
    fn rate(&self, now: Timestamp) -> f64 {
        let current = now.timestamp();
        let oldest = clock::sub(now, RATE_WINDOW).timestamp();
        let started: u64 = self
            .buckets
            .iter()
            .filter(|(second, _)| (oldest..current).contains(second))
            .map(|(_, count)| count)
            .sum();
        started as f64 / RATE_WINDOW.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_timestamp;

    fn t(seconds: u64) -> Timestamp {
        clock::add(
            parse_timestamp("2026-01-01T00:00:00Z").unwrap(),
            Duration::from_secs(seconds),
        )
    }

    #[test]
    fn the_rate_counts_the_last_ten_full_seconds() {
        let activity = Activity::new(t(0));
        activity.requests_started(t(0), 50);
        activity.requests_started(t(9), 50);
        activity.requests_started(t(10), 1_000);
        assert_eq!(
            activity.report(t(10)).request_rate,
            10.0,
            "t(10) is not over"
        );
        assert_eq!(activity.report(t(11)).request_rate, 105.0);
        assert_eq!(
            activity.report(t(20)).request_rate,
            100.0,
            "t(0) and t(9) left the window"
        );
        assert_eq!(activity.report(t(21)).request_rate, 0.0);
    }

    #[test]
    fn a_bucket_is_reused_for_a_later_second() {
        let activity = Activity::new(t(0));
        activity.requests_started(t(3), 7);
        activity.requests_started(t(14), 2);
        assert_eq!(activity.report(t(15)).request_rate, 0.2);
    }

    #[test]
    fn polls_count_since_the_start() {
        let activity = Activity::new(t(0));
        activity.poll_finished();
        activity.poll_finished();
        let report = activity.report(t(1));
        assert_eq!(
            (report.polls, report.started_at, report.flow),
            (2, t(0), None)
        );
    }
}
