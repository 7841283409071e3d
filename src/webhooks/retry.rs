//! What an attempt's answer means for its delivery: a plain function of the answer, the
//! attempts so far and the schedule, so the sender only wires it to the clock and the outbox.

use std::time::Duration;

use crate::clock::{self, Timestamp};
use crate::policy::{jitter_seed, spread};
use crate::storage::outbox::DeliveryState;

/// How far each retry delay moves either way, so that deliveries failed together do not all
/// come back together.
pub const JITTER: f64 = 0.2;

/// The default retry schedule: the gap before each retry, after the first attempt failed.
pub fn default_schedule() -> Vec<Duration> {
    [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
        .map(Duration::from_secs)
        .to_vec()
}

/// What an attempt got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx within the timeout.
    Success,
    /// 410 Gone: the receiver says the endpoint no longer exists.
    Gone,
    /// Anything else: another status (redirects included: they are not followed), a timeout,
    /// no connection. `retry_after` is the answer's `Retry-After` on 429 or 503.
    Failure { retry_after: Option<Duration> },
}

impl Answer {
    /// What a status code (`None`: no answer) means.
    pub fn of(status: Option<u16>, retry_after: Option<Duration>) -> Self {
        match status {
            Some(200..=299) => Self::Success,
            Some(410) => Self::Gone,
            Some(429 | 503) => Self::Failure { retry_after },
            _ => Self::Failure { retry_after: None },
        }
    }
}

/// The delivery's state after an attempt at `now` that got `answer`, `attempts_before` attempts
/// having been made before it; `delivery_id` spreads the retries.
pub fn after_attempt(
    answer: Answer,
    attempts_before: i64,
    schedule: &[Duration],
    delivery_id: i64,
    now: Timestamp,
) -> DeliveryState {
    match answer {
        Answer::Success => DeliveryState::Delivered,
        Answer::Gone => DeliveryState::GivenUp,
        Answer::Failure { retry_after } => {
            let step = usize::try_from(attempts_before).unwrap_or(usize::MAX);
            let Some(base) = schedule.get(step) else {
                return DeliveryState::GivenUp;
            };
            let seed = jitter_seed(&delivery_id.to_string(), attempts_before);
            // `Retry-After` is a floor under the schedule, never a shortcut past it.
            let delay = spread(*base, JITTER, seed).max(retry_after.unwrap_or_default());
            DeliveryState::Pending {
                next_attempt_at: clock::add(now, delay),
            }
        }
    }
}

/// When an endpoint that has failed continuously since `failing_since` is disabled: `now`
/// minus `disable_after`; an endpoint failing since before it is disabled.
pub fn failing_since_before(now: Timestamp, disable_after: Duration) -> Timestamp {
    clock::sub(now, disable_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(seconds, 0).unwrap()
    }

    fn delay_after(answer: Answer, attempts_before: i64) -> Option<Duration> {
        match after_attempt(answer, attempts_before, &default_schedule(), 7, at(0)) {
            DeliveryState::Pending { next_attempt_at } => {
                Some(clock::duration_between(at(0), next_attempt_at))
            }
            _ => None,
        }
    }

    #[test]
    fn answers_are_read_from_their_status() {
        let wait = Some(Duration::from_secs(9));
        assert_eq!(Answer::of(Some(204), wait), Answer::Success);
        assert_eq!(Answer::of(Some(410), None), Answer::Gone);
        assert_eq!(
            Answer::of(Some(429), wait),
            Answer::Failure { retry_after: wait }
        );
        assert_eq!(
            Answer::of(Some(503), wait),
            Answer::Failure { retry_after: wait }
        );
        // Retry-After means nothing on other statuses; a redirect is a failure.
        assert_eq!(
            Answer::of(Some(500), wait),
            Answer::Failure { retry_after: None }
        );
        assert_eq!(
            Answer::of(Some(301), None),
            Answer::Failure { retry_after: None }
        );
        assert_eq!(
            Answer::of(None, None),
            Answer::Failure { retry_after: None }
        );
    }

    #[test]
    fn failures_follow_the_schedule_within_twenty_percent_then_give_up() {
        let failure = Answer::Failure { retry_after: None };
        for (step, base) in default_schedule().into_iter().enumerate() {
            let delay = delay_after(failure, step as i64).unwrap();
            assert!(
                delay >= base.mul_f64(0.8) && delay <= base.mul_f64(1.2),
                "retry {step}: {delay:?} for {base:?}"
            );
        }
        assert_eq!(delay_after(failure, 7), None);
        assert_eq!(
            after_attempt(failure, 7, &default_schedule(), 7, at(0)),
            DeliveryState::GivenUp
        );
    }

    #[test]
    fn jitter_spreads_deliveries_failed_together() {
        let failure = Answer::Failure { retry_after: None };
        let delays: std::collections::BTreeSet<_> = (0..20)
            .map(|id| after_attempt(failure, 1, &default_schedule(), id, at(0)))
            .map(|state| format!("{state:?}"))
            .collect();
        assert!(delays.len() > 15, "{delays:?}");
    }

    #[test]
    fn retry_after_is_a_floor_under_the_schedule() {
        let long = Answer::Failure {
            retry_after: Some(Duration::from_secs(3_600)),
        };
        assert_eq!(delay_after(long, 0), Some(Duration::from_secs(3_600)));
        let short = Answer::Failure {
            retry_after: Some(Duration::from_secs(1)),
        };
        assert!(delay_after(short, 1).unwrap() >= Duration::from_secs(240));
    }

    #[test]
    fn success_delivers_and_gone_gives_up_at_once() {
        let schedule = default_schedule();
        assert_eq!(
            after_attempt(Answer::Success, 3, &schedule, 1, at(0)),
            DeliveryState::Delivered
        );
        assert_eq!(
            after_attempt(Answer::Gone, 0, &schedule, 1, at(0)),
            DeliveryState::GivenUp
        );
    }

    #[test]
    fn endpoints_failing_longer_than_the_period_are_disabled() {
        let five_days = Duration::from_secs(5 * 86_400);
        assert_eq!(
            failing_since_before(at(10 * 86_400), five_days),
            at(5 * 86_400)
        );
    }
}
