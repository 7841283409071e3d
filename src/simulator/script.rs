//! What simulated journeys do: their scripts, and the faults injected into their answers.

use std::time::Duration;

/// The statuses a simulated journey goes through. The last step lasts for ever.
#[derive(Debug, Clone)]
pub enum Script {
    /// Each status for that many answers (faulty answers do not count).
    Polls(Vec<(String, u32)>),
    /// Each status for that long after the journey was added.
    Timed(Vec<(String, Duration)>),
}

impl Script {
    pub fn polls(steps: &[(&str, u32)]) -> Self {
        Self::Polls(steps.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect())
    }

    pub fn timed(steps: &[(&str, Duration)]) -> Self {
        Self::Timed(steps.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect())
    }

    pub(super) fn status_at(&self, answered_before: u32, elapsed: Duration) -> &str {
        fn pick<T: Copy + PartialOrd + std::ops::Add<Output = T>>(
            steps: &[(String, T)],
            position: T,
            zero: T,
        ) -> &str {
            let mut end = zero;
            for (status, span) in steps {
                end = end + *span;
                if position < end {
                    return status;
                }
            }
            steps
                .last()
                .map_or("InProgress", |(status, _)| status.as_str())
        }
        match self {
            Self::Polls(steps) => pick(steps, answered_before, 0),
            Self::Timed(steps) => pick(steps, elapsed, Duration::ZERO),
        }
    }
}

/// A misbehaviour of one state fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 200 with a body that breaks the spec.
    Malformed,
    /// 200 whose body puts the customer's personal data where a time (v1
    /// `metaData.createdTime`) or a number (v2 `durationMilliSec`) belongs: a parser that quotes
    /// what it could not read would copy it into an error.
    MistypedPersonalData,
    /// This status code with an error body.
    Status(u16),
    /// This status (429 or 503) with this `Retry-After` header value.
    RetryAfter { status: u16, header: String },
    /// The right answer, this much later.
    Slow(Duration),
    /// 200 with a valid state answer padded with white space to this many bytes, sent as fast
    /// as it is read; with a `Content-Length` when `declared`, else chunked.
    Oversized { bytes: usize, declared: bool },
    /// 200 whose body starts like a state answer and never ends: one more byte every so often.
    Endless { every: Duration },
}

/// How often each misbehaviour strikes a state fetch, as probabilities from 0 to 1. The draws
/// come from a fixed-seed sequence, so a run's faults are the same every time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultRates {
    pub server_error: f64,
    pub rate_limited: f64,
    /// `Retry-After` seconds sent with the 429s.
    pub retry_after_seconds: u64,
    pub malformed: f64,
    pub slow: f64,
    pub slow_by: Duration,
    /// Answers of `oversized_bytes`, without a `Content-Length`.
    pub oversized: f64,
    pub oversized_bytes: usize,
}

impl FaultRates {
    pub(super) fn pick(&self, draw: f64) -> Option<Fault> {
        let mut threshold = 0.0;
        let faults = [
            (self.server_error, Fault::Status(500)),
            (
                self.rate_limited,
                Fault::RetryAfter {
                    status: 429,
                    header: self.retry_after_seconds.to_string(),
                },
            ),
            (self.malformed, Fault::Malformed),
            (self.slow, Fault::Slow(self.slow_by)),
            (
                self.oversized,
                Fault::Oversized {
                    bytes: self.oversized_bytes,
                    declared: false,
                },
            ),
        ];
        for (rate, fault) in faults {
            threshold += rate;
            if draw < threshold {
                return Some(fault);
            }
        }
        None
    }
}

/// The `n`-th number of a fixed pseudo-random sequence in [0, 1).
pub(super) fn unit_draw(n: u64) -> f64 {
    let mut x = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_walk_their_steps() {
        let by_polls = Script::polls(&[("InProgress", 2), ("Paused", 1), ("Completed", 0)]);
        let seen: Vec<_> = (0..5)
            .map(|n| by_polls.status_at(n, Duration::ZERO))
            .collect();
        assert_eq!(
            seen,
            [
                "InProgress",
                "InProgress",
                "Paused",
                "Completed",
                "Completed"
            ]
        );

        let secs = Duration::from_secs;
        let timed = Script::timed(&[("InProgress", secs(2)), ("Failed", secs(0))]);
        assert_eq!(timed.status_at(9, secs(1)), "InProgress");
        assert_eq!(timed.status_at(0, secs(2)), "Failed");
    }
}
