//! What the flow control says about GBG GO, for people reading the console.

use super::{DownCause, FlowControl, Health};
use crate::clock::Timestamp;

/// GBG GO as journeyd sees it now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApiState {
    /// Requests go out at the full budget.
    Healthy,
    /// A 429 cut the rate; it is climbing back.
    Slowed,
    /// Only probes are sent, since `since`; the next at `next_probe`.
    Down {
        cause: DownCause,
        since: Timestamp,
        next_probe: Timestamp,
    },
}

/// The flow control's state at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowReport {
    pub state: ApiState,
    /// Requests per second allowed now.
    pub rate: f64,
    /// This replica's share of `api.max_requests_per_second`.
    pub max_rate: f64,
}

impl FlowControl {
    /// Where the flow control stands at `now`.
    pub fn report(&self, now: Timestamp) -> FlowReport {
        let rate = self.rate(now);
        let state = match self.health {
            Health::Down {
                cause,
                since,
                next_probe,
                ..
            } => ApiState::Down {
                cause,
                since,
                next_probe,
            },
            Health::Up { .. } if rate < self.settings.max_rate => ApiState::Slowed,
            Health::Up { .. } => ApiState::Healthy,
        };
        FlowReport {
            state,
            rate,
            max_rate: self.settings.max_rate,
        }
    }
}
