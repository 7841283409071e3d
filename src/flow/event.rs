//! What the flow control tells operators about GBG GO as a whole.

use std::time::Duration;

use super::DownCause;

/// What journeyd's flow control has to say about GBG GO as a whole.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowEvent {
    /// Most recent requests failed: only probes are sent until one is answered.
    OutageStarted { failures: usize, of: usize },
    /// A probe failed; the next one is further away.
    ProbeFailed {
        cause: DownCause,
        next_probe_in: Duration,
    },
    /// GBG GO answers again; the rate climbs back from its floor.
    Recovered {
        cause: DownCause,
        down_for: Duration,
    },
    /// A 429: the overall rate was cut to this many requests per second.
    RateLimited { rate: f64 },
    /// GBG GO refuses journeyd's credentials; polling is paused until a probe gets through.
    AccessDenied,
}

impl FlowEvent {
    pub fn emit(&self) {
        match self {
            Self::OutageStarted { failures, of } => tracing::error!(
                event = "api_outage_started",
                failures,
                of,
                "GBG GO looks unavailable; pausing polls and probing"
            ),
            Self::ProbeFailed {
                cause,
                next_probe_in,
            } => tracing::warn!(
                event = "api_probe_failed",
                cause = cause.as_str(),
                next_probe_in_seconds = next_probe_in.as_secs_f64(),
                "GBG GO still unavailable"
            ),
            Self::Recovered { cause, down_for } => tracing::info!(
                event = "api_recovered",
                cause = cause.as_str(),
                down_seconds = down_for.as_secs_f64(),
                "GBG GO answers again; ramping the request rate back up"
            ),
            Self::RateLimited { rate } => tracing::warn!(
                event = "api_rate_limited",
                requests_per_second = rate,
                "GBG GO answered 429; slowing down"
            ),
            Self::AccessDenied => tracing::error!(
                event = "api_access_denied",
                "GBG GO denies access (403, refused credentials or token); check the API \
                 client's credentials and roles; polling is paused and retried every minute"
            ),
        }
    }
}
