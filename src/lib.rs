//! journeyd tracks GBG GO identity-verification journeys until they end.
//!
//! The tree follows the architecture:
//! - [`config`]: layered configuration, checked before anything runs;
//! - [`api`]: the GBG GO client (OAuth2 tokens and journey state);
//! - [`storage`]: the database behind one [`storage::Store`] interface;
//! - [`journey`]: the domain types; [`policy`]: the pure decisions (what a poll's result means,
//!   when to poll next);
//! - [`scheduler`]: claims due journeys, polls them, records results, and tells [`activity`]
//!   what it is doing; [`flow`]: how many
//!   requests may start now (rate budget, 429 slowdown, outage probing); [`daemon`] wires it up;
//! - [`housekeeping`]: stuck check, gauges, retention, database maintenance, on timers;
//! - [`events`], [`telemetry`]: structured log events and metrics; [`http`]: `/metrics`,
//!   `/healthz`, `/readyz`, the `/v1` API and the operator console; [`service`]: liveness and systemd notifications;
//!   [`shutdown`]: signal handling; [`open_files`]: the open-file limit and what fits in it;
//! - [`simulator`], [`demo`]: a simulated GBG GO and the demo that runs the daemon against it.

pub mod activity;
pub mod api;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod events;
pub mod flow;
pub mod housekeeping;
pub mod http;
pub mod journey;
pub mod open_files;
pub mod policy;
pub mod scheduler;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod simulator;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
