//! Client-side flow control: how many requests journeyd may start now, for GBG GO as a whole.
//!
//! Three mechanisms, one state machine, driven by explicit timestamps so it is a pure function
//! of what happened and when:
//! - a token bucket keeps the request rate under `api.max_requests_per_second` (a burst of at
//!   most one second's worth);
//! - a 429 halves the rate, which then climbs back linearly to the maximum over
//!   `api.recovery_period`;
//! - when most recent requests fail because GBG GO (or its token endpoint) is unavailable, or as
//!   soon as it denies access (403, refused credentials), journeyd stops sending its backlog and
//!   sends one probe after `api.probe_interval`, then after twice that, up to
//!   `api.max_probe_interval`. The first probe that gets an answer ends the outage, and the rate
//!   starts again from one request per second, climbing like after a 429, so the backlog of an
//!   hour-long outage is not sent at once.

use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::{self, Timestamp};
use crate::events::FlowEvent;
use crate::journey::{FailureClass, PollResult};

/// How many recent outcomes decide whether GBG GO is down...
const OUTAGE_WINDOW: usize = 10;
/// ...and how many of them must have failed, at least (and more than half).
const OUTAGE_MIN_FAILURES: usize = 5;
/// The rate right after an outage, and the lowest a series of 429s can push it to.
const FLOOR_RATE: f64 = 1.0;
/// While access is denied, the ERROR is repeated at most this often.
const DENIED_ALARM_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
pub struct FlowSettings {
    pub max_rate: f64,
    pub recovery_period: Duration,
    pub probe_interval: Duration,
    pub max_probe_interval: Duration,
}

/// What one finished request says about GBG GO as a whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// It answered as a working service does (a 404, a 400 or an odd body included).
    Answered,
    /// It could not answer: timeout, connection or TLS failure, 5xx, token endpoint down.
    Unavailable { retry_after: Option<Duration> },
    /// 429: journeyd as a whole is too fast.
    TooManyRequests,
    /// 403, refused credentials, or a fresh token refused: access itself is the problem.
    AccessDenied,
}

impl Signal {
    /// The signal a poll's result gives; `None` when no request was made.
    pub fn of(result: &PollResult) -> Option<Self> {
        match result {
            PollResult::Observed(_) => Some(Self::Answered),
            PollResult::InvalidRow(_) => None,
            PollResult::Failed(failure) => Some(match failure.class {
                FailureClass::Timeout
                | FailureClass::Connect
                | FailureClass::Tls
                | FailureClass::Transport
                | FailureClass::ServerError
                | FailureClass::TokenUnavailable => Self::Unavailable {
                    retry_after: failure.retry_after,
                },
                FailureClass::RateLimited => Self::TooManyRequests,
                FailureClass::Forbidden
                | FailureClass::Unauthorized
                | FailureClass::TokenRejected => Self::AccessDenied,
                FailureClass::NotFound
                | FailureClass::Rejected
                | FailureClass::ClientError
                | FailureClass::Malformed => Self::Answered,
            }),
        }
    }
}

/// Why GBG GO is considered down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownCause {
    Unavailable,
    AccessDenied,
}

impl DownCause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::AccessDenied => "access_denied",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Health {
    Up {
        /// Latest outcomes, `true` for "unavailable".
        recent: VecDeque<bool>,
    },
    Down {
        cause: DownCause,
        since: Timestamp,
        next_probe: Timestamp,
        /// Gap before the probe after `next_probe`, if that one fails too.
        gap: Duration,
        probe_in_flight: bool,
        alarmed_at: Timestamp,
    },
}

/// How many requests may start now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Admission {
    pub allowed: usize,
    /// When more could be allowed, if fewer than asked for were.
    pub retry_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlowControl {
    settings: FlowSettings,
    tokens: f64,
    refilled_at: Option<Timestamp>,
    /// The rate was cut to this at that time; it climbs back over `recovery_period`.
    cut: Option<(f64, Timestamp)>,
    health: Health,
}

impl FlowControl {
    pub fn new(settings: FlowSettings) -> Self {
        Self {
            tokens: settings.max_rate.max(1.0),
            settings,
            refilled_at: None,
            cut: None,
            health: Health::Up {
                recent: VecDeque::with_capacity(OUTAGE_WINDOW),
            },
        }
    }

    /// Changes the maximum rate, e.g. when replicas sharing the budget come or go.
    pub fn set_max_rate(&mut self, max_rate: f64) {
        self.settings.max_rate = max_rate;
        self.tokens = self.tokens.min(max_rate.max(1.0));
    }

    /// The maximum rate, before any slowdown.
    pub fn max_rate(&self) -> f64 {
        self.settings.max_rate
    }

    /// The request rate allowed at `now`, in requests per second.
    pub fn rate(&self, now: Timestamp) -> f64 {
        let max = self.settings.max_rate;
        match self.cut {
            None => max,
            Some((cut_to, at)) => {
                let climbed = clock::duration_between(at, now).as_secs_f64()
                    / self.settings.recovery_period.as_secs_f64();
                (cut_to + (max - cut_to) * climbed).min(max)
            }
        }
    }

    /// Whether GBG GO is considered down, and why.
    pub fn down(&self) -> Option<DownCause> {
        match self.health {
            Health::Down { cause, .. } => Some(cause),
            Health::Up { .. } => None,
        }
    }

    /// Takes up to `wanted` permits to start requests at `now`.
    pub fn admit(&mut self, now: Timestamp, wanted: usize) -> Admission {
        if let Health::Down {
            next_probe,
            probe_in_flight,
            ..
        } = &mut self.health
        {
            return if *probe_in_flight || now < *next_probe || wanted == 0 {
                Admission {
                    allowed: 0,
                    // A probe in flight ends with an `observe`, which wakes the scheduler.
                    retry_at: (!*probe_in_flight).then_some(*next_probe),
                }
            } else {
                *probe_in_flight = true;
                Admission {
                    allowed: 1,
                    retry_at: None,
                }
            };
        }

        let rate = self.rate(now);
        let capacity = rate.max(1.0);
        let elapsed = self
            .refilled_at
            .map_or(Duration::ZERO, |at| clock::duration_between(at, now));
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate).min(capacity);
        self.refilled_at = Some(now);
        let allowed = (self.tokens.floor() as usize).min(wanted);
        self.tokens -= allowed as f64;
        let retry_at = (allowed < wanted).then(|| {
            let missing = 1.0 - self.tokens.fract();
            clock::add(now, Duration::from_secs_f64(missing / rate))
        });
        Admission { allowed, retry_at }
    }

    /// Returns permits that found no due journey to poll.
    pub fn give_back(&mut self, unused: usize) {
        if unused == 0 {
            return;
        }
        match &mut self.health {
            Health::Down {
                probe_in_flight, ..
            } => *probe_in_flight = false,
            Health::Up { .. } => {
                let capacity = self.settings.max_rate.max(1.0);
                self.tokens = (self.tokens + unused as f64).min(capacity);
            }
        }
    }

    /// Takes in what a finished request says; returns what operators should hear about.
    pub fn observe(&mut self, now: Timestamp, signal: Signal) -> Option<FlowEvent> {
        match (&mut self.health, signal) {
            (Health::Up { recent }, Signal::Answered | Signal::Unavailable { .. }) => {
                if recent.len() == OUTAGE_WINDOW {
                    recent.pop_front();
                }
                recent.push_back(matches!(signal, Signal::Unavailable { .. }));
                let (failures, of) = (
                    recent.iter().filter(|failed| **failed).count(),
                    recent.len(),
                );
                if failures >= OUTAGE_MIN_FAILURES && failures * 2 > of {
                    let retry_after = match signal {
                        Signal::Unavailable { retry_after } => retry_after,
                        _ => None,
                    };
                    self.go_down(
                        now,
                        DownCause::Unavailable,
                        self.settings.probe_interval,
                        retry_after,
                    );
                    return Some(FlowEvent::OutageStarted { failures, of });
                }
                None
            }
            (Health::Up { .. }, Signal::TooManyRequests) => {
                let halved = (self.rate(now) / 2.0).max(FLOOR_RATE.min(self.settings.max_rate));
                self.cut = Some((halved, now));
                Some(FlowEvent::RateLimited { rate: halved })
            }
            (Health::Up { .. }, Signal::AccessDenied) => {
                self.go_down(
                    now,
                    DownCause::AccessDenied,
                    self.settings.max_probe_interval,
                    None,
                );
                Some(FlowEvent::AccessDenied)
            }
            (
                Health::Down {
                    cause,
                    since,
                    probe_in_flight,
                    ..
                },
                Signal::Answered | Signal::TooManyRequests,
            ) => {
                // Only a probe ends an outage: answers to requests sent before it began say
                // nothing about now.
                if !*probe_in_flight {
                    return None;
                }
                let event = FlowEvent::Recovered {
                    cause: *cause,
                    down_for: clock::duration_between(*since, now),
                };
                self.health = Health::Up {
                    recent: VecDeque::with_capacity(OUTAGE_WINDOW),
                };
                self.cut = Some((FLOOR_RATE.min(self.settings.max_rate), now));
                self.tokens = 0.0;
                self.refilled_at = Some(now);
                Some(event)
            }
            (
                Health::Down {
                    cause,
                    next_probe,
                    gap,
                    probe_in_flight,
                    alarmed_at,
                    ..
                },
                Signal::Unavailable { .. } | Signal::AccessDenied,
            ) => {
                if !*probe_in_flight {
                    return None;
                }
                *probe_in_flight = false;
                let retry_after = match signal {
                    Signal::Unavailable { retry_after } => retry_after,
                    _ => None,
                };
                if signal == Signal::AccessDenied {
                    *cause = DownCause::AccessDenied;
                }
                let wait = (*gap).max(retry_after.unwrap_or_default());
                *next_probe = clock::add(now, wait);
                *gap = (*gap * 2).min(self.settings.max_probe_interval);
                if *cause == DownCause::AccessDenied {
                    if clock::duration_between(*alarmed_at, now) < DENIED_ALARM_EVERY {
                        return None;
                    }
                    *alarmed_at = now;
                    return Some(FlowEvent::AccessDenied);
                }
                Some(FlowEvent::ProbeFailed {
                    cause: *cause,
                    next_probe_in: wait,
                })
            }
        }
    }

    fn go_down(
        &mut self,
        now: Timestamp,
        cause: DownCause,
        first_gap: Duration,
        retry_after: Option<Duration>,
    ) {
        let wait = first_gap.max(retry_after.unwrap_or_default());
        self.health = Health::Down {
            cause,
            since: now,
            next_probe: clock::add(now, wait),
            gap: (first_gap * 2).min(self.settings.max_probe_interval),
            probe_in_flight: false,
            alarmed_at: now,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_timestamp;

    fn t(seconds: f64) -> Timestamp {
        clock::add(
            parse_timestamp("2026-01-01T00:00:00Z").unwrap(),
            Duration::from_secs_f64(seconds),
        )
    }

    fn flow(max_rate: f64) -> FlowControl {
        FlowControl::new(FlowSettings {
            max_rate,
            recovery_period: Duration::from_secs(60),
            probe_interval: Duration::from_secs(5),
            max_probe_interval: Duration::from_secs(60),
        })
    }

    const DOWN: Signal = Signal::Unavailable { retry_after: None };

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut flow = flow(10.0);
        assert_eq!(
            flow.admit(t(0.0), 25).allowed,
            10,
            "one second's worth at once"
        );
        let empty = flow.admit(t(0.0), 5);
        assert_eq!(empty.allowed, 0);
        assert_eq!(empty.retry_at, Some(t(0.1)));
        assert_eq!(flow.admit(t(0.55), 5).allowed, 5);
        assert_eq!(
            flow.admit(t(10.0), 100).allowed,
            10,
            "never more than the burst"
        );
    }

    #[test]
    fn unused_permits_come_back() {
        let mut flow = flow(2.0);
        assert_eq!(flow.admit(t(0.0), 2).allowed, 2);
        flow.give_back(2);
        assert_eq!(flow.admit(t(0.0), 2).allowed, 2);
    }

    #[test]
    fn a_429_halves_the_rate_which_climbs_back_over_the_recovery_period() {
        let mut flow = flow(20.0);
        assert!(matches!(
            flow.observe(t(0.0), Signal::TooManyRequests),
            Some(FlowEvent::RateLimited { rate }) if rate == 10.0
        ));
        assert_eq!(flow.rate(t(0.0)), 10.0);
        assert_eq!(flow.rate(t(30.0)), 15.0);
        flow.observe(t(30.0), Signal::TooManyRequests);
        assert_eq!(flow.rate(t(30.0)), 7.5);
        assert_eq!(flow.rate(t(90.0)), 20.0);
        for _ in 0..20 {
            flow.observe(t(90.0), Signal::TooManyRequests);
        }
        assert_eq!(flow.rate(t(90.0)), 1.0, "never below one request a second");
    }

    #[test]
    fn sporadic_failures_are_not_an_outage() {
        let mut flow = flow(10.0);
        for round in 0..50 {
            let signal = if round % 3 == 0 {
                DOWN
            } else {
                Signal::Answered
            };
            assert_eq!(flow.observe(t(0.0), signal), None);
        }
        assert_eq!(flow.down(), None);
    }

    #[test]
    fn an_outage_sends_only_probes_at_a_slowing_pace_then_ramps_up() {
        let mut flow = flow(10.0);
        for _ in 0..4 {
            assert_eq!(flow.observe(t(0.0), DOWN), None);
        }
        assert!(matches!(
            flow.observe(t(0.0), DOWN),
            Some(FlowEvent::OutageStarted { failures: 5, .. })
        ));
        assert_eq!(flow.down(), Some(DownCause::Unavailable));
        // Answers to requests already in flight change nothing: only probes count.
        assert_eq!(flow.observe(t(0.5), DOWN), None);
        assert_eq!(flow.observe(t(0.5), Signal::Answered), None);
        assert_eq!(flow.down(), Some(DownCause::Unavailable));

        let closed = flow.admit(t(1.0), 8);
        assert_eq!((closed.allowed, closed.retry_at), (0, Some(t(5.0))));
        let mut probes = Vec::new();
        let mut now = 5.0;
        while probes.len() < 6 {
            if flow.admit(t(now), 8).allowed == 1 {
                probes.push(now);
                assert_eq!(flow.admit(t(now), 8).allowed, 0, "one probe at a time");
                flow.observe(t(now), DOWN);
            }
            now += 1.0;
        }
        assert_eq!(probes, [5.0, 15.0, 35.0, 75.0, 135.0, 195.0]);

        let probe = flow.admit(t(255.0), 8);
        assert_eq!(probe.allowed, 1);
        assert!(matches!(
            flow.observe(t(255.0), Signal::Answered),
            Some(FlowEvent::Recovered { down_for, .. }) if down_for == Duration::from_secs(255)
        ));
        assert_eq!(flow.down(), None);
        assert_eq!(flow.rate(t(255.0)), 1.0);
        assert_eq!(flow.rate(t(285.0)), 5.5);
        assert_eq!(flow.admit(t(256.0), 100).allowed, 1, "no thundering herd");
    }

    #[test]
    fn retry_after_on_503_delays_the_first_probe() {
        let mut flow = flow(10.0);
        for _ in 0..4 {
            flow.observe(t(0.0), DOWN);
        }
        flow.observe(
            t(0.0),
            Signal::Unavailable {
                retry_after: Some(Duration::from_secs(120)),
            },
        );
        assert_eq!(flow.admit(t(5.0), 1).retry_at, Some(t(120.0)));
    }

    #[test]
    fn denied_access_pauses_at_once_and_alarms_once_a_minute() {
        let mut flow = flow(10.0);
        assert_eq!(
            flow.observe(t(0.0), Signal::AccessDenied),
            Some(FlowEvent::AccessDenied)
        );
        assert_eq!(flow.down(), Some(DownCause::AccessDenied));
        assert_eq!(flow.admit(t(30.0), 4).allowed, 0);
        for minute in 1..=3 {
            let now = t(60.0 * f64::from(minute));
            assert_eq!(flow.admit(now, 4).allowed, 1);
            assert_eq!(
                flow.observe(now, Signal::AccessDenied),
                Some(FlowEvent::AccessDenied)
            );
        }
        let now = t(240.0);
        assert_eq!(flow.admit(now, 4).allowed, 1);
        assert!(matches!(
            flow.observe(now, Signal::Answered),
            Some(FlowEvent::Recovered {
                cause: DownCause::AccessDenied,
                ..
            })
        ));
    }

    #[test]
    fn a_probe_that_finds_nothing_due_is_not_lost() {
        let mut flow = flow(10.0);
        flow.observe(t(0.0), Signal::AccessDenied);
        assert_eq!(flow.admit(t(60.0), 1).allowed, 1);
        flow.give_back(1);
        assert_eq!(flow.admit(t(61.0), 1).allowed, 1);
    }
}
