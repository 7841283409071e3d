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

mod event;
mod report;

pub use event::FlowEvent;
pub use report::{ApiState, FlowReport};

use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::{self, Timestamp};
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
                // Said of the database, not of GBG GO.
                FailureClass::Unrecordable => return None,
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
                | FailureClass::Malformed
                | FailureClass::TooLarge => Self::Answered,
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
        match self.health {
            Health::Up { .. } => self.observe_up(now, signal),
            Health::Down { .. } => self.observe_down(now, signal),
        }
    }

    /// While GBG GO is up: a 429 halves the rate, a denial takes it down at once, and so does
    /// a window where most requests found it unavailable.
    fn observe_up(&mut self, now: Timestamp, signal: Signal) -> Option<FlowEvent> {
        let retry_after = match signal {
            Signal::Answered => None,
            Signal::Unavailable { retry_after } => retry_after,
            Signal::TooManyRequests => {
                let halved = (self.rate(now) / 2.0).max(FLOOR_RATE.min(self.settings.max_rate));
                self.cut = Some((halved, now));
                return Some(FlowEvent::RateLimited { rate: halved });
            }
            Signal::AccessDenied => {
                let gap = self.settings.max_probe_interval;
                self.go_down(now, DownCause::AccessDenied, gap, None);
                return Some(FlowEvent::AccessDenied);
            }
        };
        let Health::Up { recent } = &mut self.health else {
            return None;
        };
        if recent.len() == OUTAGE_WINDOW {
            recent.pop_front();
        }
        recent.push_back(matches!(signal, Signal::Unavailable { .. }));
        let failures = recent.iter().filter(|failed| **failed).count();
        let of = recent.len();
        if failures >= OUTAGE_MIN_FAILURES && failures * 2 > of {
            let gap = self.settings.probe_interval;
            self.go_down(now, DownCause::Unavailable, gap, retry_after);
            return Some(FlowEvent::OutageStarted { failures, of });
        }
        None
    }

    /// While GBG GO is down, only the probe's answer counts: an answer ends the outage and the
    /// rate climbs again from its floor; a failure puts the next probe further away.
    fn observe_down(&mut self, now: Timestamp, signal: Signal) -> Option<FlowEvent> {
        let Health::Down {
            cause,
            since,
            next_probe,
            gap,
            probe_in_flight,
            alarmed_at,
        } = &mut self.health
        else {
            return None;
        };
        // Answers to requests sent before the outage began say nothing about now.
        if !*probe_in_flight {
            return None;
        }
        let retry_after = match signal {
            Signal::Answered | Signal::TooManyRequests => {
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
                return Some(event);
            }
            Signal::Unavailable { retry_after } => retry_after,
            Signal::AccessDenied => {
                *cause = DownCause::AccessDenied;
                None
            }
        };
        *probe_in_flight = false;
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
mod tests;
