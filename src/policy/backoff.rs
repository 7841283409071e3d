//! The two delay curves, as plain functions.
//!
//! Jitter is derived from a hash of the instance ID and the poll count instead of a random
//! number generator: journeys enqueued together still spread out, and the same history always
//! gives the same delay, which keeps the policy a pure function and its tests exact.

use std::time::Duration;

/// Progress polling: the gap while a journey's status stays the same.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressCurve {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// Fraction of the delay by which it may move either way (0.1: ±10 %).
    pub jitter: f64,
}

/// Error backoff: the gap after failed polls.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorCurve {
    pub initial: Duration,
    pub max: Duration,
    /// Fraction of the delay that may be taken off it (1.0: "full jitter", anywhere in [0, d]).
    pub jitter: f64,
}

impl ProgressCurve {
    /// The gap before the next poll after `unchanged_polls` polls in a row saw the same status
    /// (0 right after a change): `initial × multiplier^unchanged_polls`, at most `max`.
    pub fn delay(&self, unchanged_polls: i64, seed: u64) -> Duration {
        let base = grow(self.initial, self.multiplier, unchanged_polls, self.max);
        spread(base, self.jitter, seed).min(self.max)
    }
}

impl ErrorCurve {
    /// The gap after the `consecutive_errors`-th failure in a row (1 for the first):
    /// `initial × 2^(consecutive_errors − 1)`, at most `max`, minus up to `jitter` of it.
    pub fn delay(&self, consecutive_errors: i64, seed: u64) -> Duration {
        let base = grow(self.initial, 2.0, consecutive_errors - 1, self.max);
        base.mul_f64(1.0 - self.jitter * unit(seed))
    }
}

/// `base` moved either way by up to `jitter` of it (0.2: ±20 %), by `seed`.
pub fn spread(base: Duration, jitter: f64, seed: u64) -> Duration {
    base.mul_f64(1.0 + jitter * (2.0 * unit(seed) - 1.0))
}

/// `initial × factor^steps`, capped at `max`, without overflowing for large step counts.
fn grow(initial: Duration, factor: f64, steps: i64, max: Duration) -> Duration {
    let steps = steps.clamp(0, 1_000) as i32;
    let secs = initial.as_secs_f64() * factor.powi(steps);
    if !secs.is_finite() || secs >= max.as_secs_f64() {
        max
    } else {
        Duration::from_secs_f64(secs)
    }
}

/// A seed for [`ProgressCurve::delay`] and [`ErrorCurve::delay`] from the journey's identity and
/// how many times it was polled (or for [`spread`] from any name and count).
pub fn jitter_seed(instance_id: &str, polls: i64) -> u64 {
    // FNV-1a over the ID, then mixed with the poll count.
    let hash = instance_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    splitmix64(hash ^ polls as u64)
}

/// Maps a seed to a well-spread number in [0, 1).
fn unit(seed: u64) -> f64 {
    (splitmix64(seed) >> 11) as f64 / (1u64 << 53) as f64
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn progress(jitter: f64) -> ProgressCurve {
        ProgressCurve {
            initial: secs(5.0),
            max: secs(60.0),
            multiplier: 2.0,
            jitter,
        }
    }

    #[test]
    fn progress_grows_geometrically_up_to_the_cap() {
        let curve = progress(0.0);
        let gaps: Vec<_> = (0..6).map(|n| curve.delay(n, 7).as_secs_f64()).collect();
        assert_eq!(gaps, [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]);
        assert_eq!(curve.delay(i64::MAX, 7), secs(60.0));
    }

    #[test]
    fn progress_jitter_stays_within_its_fraction_and_the_cap() {
        let curve = progress(0.2);
        for seed in 0..1_000 {
            let first = curve.delay(0, seed).as_secs_f64();
            assert!((4.0..=6.0).contains(&first), "{first}");
            assert!(curve.delay(10, seed) <= secs(60.0));
        }
    }

    #[test]
    fn error_curve_doubles_with_full_jitter_below_it() {
        let exact = ErrorCurve {
            initial: secs(1.0),
            max: secs(30.0),
            jitter: 0.0,
        };
        let gaps: Vec<_> = (1..8).map(|n| exact.delay(n, 3).as_secs_f64()).collect();
        assert_eq!(gaps, [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]);

        let full = ErrorCurve {
            jitter: 1.0,
            ..exact
        };
        let delays: Vec<_> = (0..1_000).map(|seed| full.delay(3, seed)).collect();
        assert!(delays.iter().all(|d| *d <= secs(4.0)));
        let mean = delays.iter().map(Duration::as_secs_f64).sum::<f64>() / 1_000.0;
        assert!(
            (1.8..2.2).contains(&mean),
            "full jitter averages half the delay, got {mean}"
        );
    }

    #[test]
    fn seeds_differ_by_journey_and_by_poll() {
        assert_eq!(jitter_seed("abc", 1), jitter_seed("abc", 1));
        assert_ne!(jitter_seed("abc", 1), jitter_seed("abc", 2));
        assert_ne!(jitter_seed("abc", 1), jitter_seed("abd", 1));
    }
}
