//! The configuration's sections, as the TOML file spells them, and their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::GBG_TOKEN_URL;
use super::webhooks::{WebhookConfig, WebhookDeliveryConfig};
use crate::journey::ApiVersion;
use crate::policy::DataKeep;
use crate::secret::Secret;
use crate::storage::StoreOptions;
use crate::telemetry::LogFormat;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub api: ApiConfig,
    pub auth: AuthConfig,
    pub poll: PollConfig,
    pub retry: RetryConfig,
    pub lease: LeaseConfig,
    pub shutdown: ShutdownConfig,
    pub http: HttpConfig,
    pub stuck: StuckConfig,
    pub retention: RetentionConfig,
    pub data: DataConfig,
    pub log: LogConfig,
    /// `[[webhooks]]`: the receivers of journey events.
    pub webhooks: Vec<WebhookConfig>,
    pub webhook_delivery: WebhookDeliveryConfig,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// May hold a password (`postgres://user:password@host/db`): shown only through
    /// [`DatabaseConfig::shown_url`].
    #[serde(serialize_with = "serialize_shown_url")]
    pub url: String,
    /// How often the daemon does database housekeeping (SQLite: a WAL checkpoint).
    #[serde(with = "humantime_serde")]
    pub maintenance_interval: Duration,
    /// SQLite: how long a write waits for another program's write lock before it fails.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
}

impl DatabaseConfig {
    /// The URL with its password, if it has one, redacted.
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }
}

fn shown_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            // Only URLs that cannot have a password refuse one, and this one has one.
            let _ = url.set_password(Some(crate::secret::REDACTED));
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

fn serialize_shown_url<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&shown_url(url))
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.shown_url())
            .field("maintenance_interval", &self.maintenance_interval)
            .field("busy_timeout", &self.busy_timeout)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Eu,
    Us,
    Au,
}

impl Region {
    /// The region's host; each API version has its path on it.
    pub fn host(self) -> &'static str {
        match self {
            Self::Eu => "https://eu.platform.go.gbgplc.com",
            Self::Us => "https://us.platform.go.gbgplc.com",
            Self::Au => "https://au.platform.go.gbgplc.com",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The API version of journeys that do not name one.
    pub version: ApiVersion,
    pub region: Option<Region>,
    /// Overrides `region`: the base of `version`, up to and including `/captain/api` (v1) or
    /// `/v2/captain` (v2); the other version is on the same host under its own path.
    pub base_url: Option<String>,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Requests per second at most, token bucket with a burst of one second's worth.
    pub max_requests_per_second: f64,
    /// After a 429 or an outage, how long the rate takes to climb back from its floor to
    /// `max_requests_per_second`.
    #[serde(with = "humantime_serde")]
    pub recovery_period: Duration,
    /// While GBG GO is down, the first gap between probes; it doubles after each failed probe...
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// ...up to this.
    #[serde(with = "humantime_serde")]
    pub max_probe_interval: Duration,
    /// Longest `state/fetch` answer read, in bytes; a longer one is a failure (`too_large`).
    pub max_response_bytes: usize,
    /// A JSON pointer (RFC 6901) to a v1 journey's outcome in its answer's `data`; none: v1
    /// journeys have no outcome.
    pub v1_outcome_pointer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    Password,
    ClientCredentials,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub token_url: String,
    pub grant: Grant,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub scope: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    pub multiplier: f64,
    pub jitter: f64,
    pub concurrency: usize,
    #[serde(with = "humantime_serde")]
    pub scan_interval: Duration,
    pub terminal_statuses: Vec<String>,
    /// Stop polling a journey after this many 404 answers in a row.
    pub not_found_after: u32,
    /// Stop polling journeys enqueued longer ago than this.
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    pub jitter: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseConfig {
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// After SIGTERM, how long polls in flight may take to finish before they are abandoned.
    #[serde(with = "humantime_serde")]
    pub grace_period: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of `/metrics`, `/healthz` and `/readyz`; empty turns the listener off.
    pub listen: String,
    /// Connections open at most; one more closes the connection idle the longest.
    pub max_connections: usize,
    /// A request's headers must be complete this long after their first byte.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A connection without a request under way is closed after this long.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The API's bearer tokens, `NAME SCOPE TOKEN` a line; none: the `/v1` API is off.
    pub tokens_file: Option<PathBuf>,
    /// PEM certificate chain and private key: the listener speaks HTTPS.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Serve the API over plain HTTP on a non-loopback address anyway (behind a TLS proxy).
    pub allow_plaintext: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StuckConfig {
    /// A journey not ended this long after its start is stuck.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// A journey in one of these statuses for longer than its limit is stuck.
    pub status_after: BTreeMap<String, humantime_serde::Serde<Duration>>,
    /// How often the stuck check runs.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Journeys that stopped being polled longer ago than this are deleted, with their
    /// transitions.
    #[serde(with = "humantime_serde")]
    pub finished_after: Duration,
    /// How often the daemon deletes them (and clears old `data`).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// The kept `data` of journeys that stopped being polled longer ago than this is cleared.
    #[serde(with = "humantime_serde")]
    pub data_after: Duration,
}

/// What journeyd keeps of the personal data in answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// What of an answer's `data` (v1) or `context` (v2) is stored.
    pub keep: DataKeep,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `None`: JSON when stderr is not a terminal, pretty when it is.
    pub format: Option<LogFormat>,
    /// A `tracing` filter: a level, or directives such as `info,journeyd=debug`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database: DatabaseConfig {
                url: "sqlite:journeyd.db".into(),
                maintenance_interval: Duration::from_secs(30),
                busy_timeout: StoreOptions::default().busy_timeout,
            },
            api: ApiConfig {
                version: ApiVersion::V1,
                region: None,
                base_url: None,
                request_timeout: Duration::from_secs(10),
                max_requests_per_second: 20.0,
                recovery_period: Duration::from_secs(60),
                probe_interval: Duration::from_secs(5),
                max_probe_interval: Duration::from_secs(60),
                // Real answers are kilobytes: room for a hundredfold, a bounded cost per slot.
                max_response_bytes: 4 * 1024 * 1024,
                v1_outcome_pointer: None,
            },
            auth: AuthConfig {
                token_url: GBG_TOKEN_URL.into(),
                grant: Grant::Password,
                client_id: None,
                client_secret: None,
                client_secret_file: None,
                username: None,
                password: None,
                password_file: None,
                scope: "gbg.token".into(),
            },
            poll: PollConfig {
                initial_interval: Duration::from_secs(5),
                max_interval: Duration::from_secs(300),
                multiplier: 2.0,
                jitter: 0.1,
                concurrency: 16,
                scan_interval: Duration::from_secs(1),
                terminal_statuses: vec!["Completed".into(), "Failed".into(), "Error".into()],
                not_found_after: 3,
                give_up_after: Duration::from_secs(30 * 86_400),
            },
            retry: RetryConfig {
                initial_backoff: Duration::from_secs(2),
                max_backoff: Duration::from_secs(300),
                jitter: 1.0,
            },
            lease: LeaseConfig {
                ttl: Duration::from_secs(30),
            },
            shutdown: ShutdownConfig {
                grace_period: Duration::from_secs(10),
            },
            http: HttpConfig {
                listen: "127.0.0.1:9464".into(),
                max_connections: 256,
                header_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                tokens_file: None,
                tls_cert_file: None,
                tls_key_file: None,
                allow_plaintext: false,
            },
            stuck: StuckConfig {
                after: Duration::from_secs(86_400),
                status_after: BTreeMap::new(),
                check_interval: Duration::from_secs(60),
            },
            retention: RetentionConfig {
                finished_after: Duration::from_secs(90 * 86_400),
                interval: Duration::from_secs(3_600),
                data_after: Duration::from_secs(30 * 86_400),
            },
            data: DataConfig {
                keep: DataKeep::default(),
            },
            log: LogConfig {
                format: None,
                level: "info".into(),
            },
            webhooks: Vec::new(),
            webhook_delivery: WebhookDeliveryConfig::default(),
        }
    }
}
