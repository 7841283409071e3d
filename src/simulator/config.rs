//! What a simulator is started with, and what it reports of the requests it turned away.

use std::time::Duration;

use super::script::Script;

/// The credentials the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
    pub scope: String,
    /// `expires_in` of the tokens it issues.
    pub token_lifetime: Duration,
    /// When set, an unknown instance ID is not a 404 but a journey that starts following this
    /// script at its first fetch (benchmarks track many journeys without listing them).
    pub unknown_journeys: Option<Script>,
    /// v1 answers' `data` is padded with verification checks to about this many bytes, the
    /// size of a real one (benchmarks); 0: no padding.
    pub data_bytes: usize,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            client_id: "journeyd-sim-client".into(),
            client_secret: "sim-client-secret".into(),
            username: "sim-user@example.com".into(),
            password: "sim-password".into(),
            scope: "gbg.token".into(),
            token_lifetime: Duration::from_secs(300),
            unknown_journeys: None,
            data_bytes: 0,
        }
    }
}

/// A request the simulator turned away, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub path: String,
    pub status: u16,
    pub reason: String,
}
