//! Configuration: built-in defaults, then a TOML file, then `JOURNEYD_*` environment variables.
//!
//! Everything is loaded and checked up front by [`Config::load`], so a missing or invalid value
//! stops journeyd before it touches the database or the network, with a message naming the key.
//! Values only `journeyd run` needs (credentials, the API's address) are checked by
//! [`Config::daemon`], so that `journeyd enqueue` works without them.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::journey::{TerminalStatuses, status_key};
use crate::policy::{ErrorCurve, Policy, ProgressCurve};
use crate::secret::Secret;
use crate::storage::{StoreOptions, StuckRules};

/// The GBG token endpoint shared by every region.
pub const GBG_TOKEN_URL: &str = "https://api.auth.gbgplc.com/as/token.oauth2";
/// The smallest `api.max_response_bytes`: below it, ordinary answers would not fit.
const MIN_RESPONSE_BYTES: usize = 1024;
/// Prefix of the environment variables that override the file; `__` separates nested keys.
pub const ENV_PREFIX: &str = "JOURNEYD_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Figment(String),
    #[error("invalid configuration: `{key}` {problem}")]
    Invalid { key: &'static str, problem: String },
    #[error("missing configuration: `{key}` must be set ({hint})")]
    Missing {
        key: &'static str,
        hint: &'static str,
    },
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

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
    pub log: LogConfig,
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
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Eu => "https://eu.platform.go.gbgplc.com/captain/api",
            Self::Us => "https://us.platform.go.gbgplc.com/captain/api",
            Self::Au => "https://au.platform.go.gbgplc.com/captain/api",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    pub region: Option<Region>,
    /// Overrides `region`; everything up to and including `/captain/api`.
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
    /// How often the daemon deletes them.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
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
                region: None,
                base_url: None,
                request_timeout: Duration::from_secs(10),
                max_requests_per_second: 20.0,
                recovery_period: Duration::from_secs(60),
                probe_interval: Duration::from_secs(5),
                max_probe_interval: Duration::from_secs(60),
                // Real answers are kilobytes: room for a hundredfold, a bounded cost per slot.
                max_response_bytes: 4 * 1024 * 1024,
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
            },
            stuck: StuckConfig {
                after: Duration::from_secs(86_400),
                status_after: BTreeMap::new(),
                check_interval: Duration::from_secs(60),
            },
            retention: RetentionConfig {
                finished_after: Duration::from_secs(90 * 86_400),
                interval: Duration::from_secs(3_600),
            },
            log: LogConfig {
                format: None,
                level: "info".into(),
            },
        }
    }
}

/// Everything `journeyd run` needs beyond the common settings, checked.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub base_url: Url,
    pub token_url: Url,
    pub credentials: Credentials,
}

/// OAuth2 credentials for one of the two grants GBG accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    Password {
        client_id: String,
        client_secret: Secret,
        username: String,
        password: Secret,
    },
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
        scope: String,
    },
}

impl Config {
    /// Loads the layers: defaults < `file` (if any) < environment, then reads secret files and
    /// checks every value.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::Figment(format!(
                    "config file {} does not exist or is not a file",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        // The secrets are read from the environment as they are, below: figment parses values,
        // and would turn `0123` into the number 123.
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&[
            "config",
            "auth.client_secret",
            "auth.password",
        ]));
        let mut config: Config = figment.extract().map_err(|err| {
            ConfigError::Figment(err.into_iter().map(describe).collect::<Vec<_>>().join("; "))
        })?;
        let auth = &mut config.auth;
        for (key, inline, file_key, file) in [
            (
                "auth.client_secret",
                &mut auth.client_secret,
                "auth.client_secret_file",
                &auth.client_secret_file,
            ),
            (
                "auth.password",
                &mut auth.password,
                "auth.password_file",
                &auth.password_file,
            ),
        ] {
            let variable = format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase());
            if let Some(value) = std::env::var_os(variable) {
                let value = value
                    .into_string()
                    .map_err(|_| invalid(key, "is not valid UTF-8 in the environment"))?;
                *inline = Some(Secret::new(value));
            }
            *inline = read_secret(key, inline.take(), file_key, file.as_deref())?;
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        crate::storage::check_url(&self.database.url)
            .map_err(|err| invalid("database.url", err.to_string()))?;
        let positive = [
            ("api.request_timeout", self.api.request_timeout),
            ("poll.initial_interval", self.poll.initial_interval),
            ("poll.max_interval", self.poll.max_interval),
            ("poll.scan_interval", self.poll.scan_interval),
            ("retry.initial_backoff", self.retry.initial_backoff),
            ("retry.max_backoff", self.retry.max_backoff),
            ("lease.ttl", self.lease.ttl),
            ("api.recovery_period", self.api.recovery_period),
            ("api.probe_interval", self.api.probe_interval),
            ("api.max_probe_interval", self.api.max_probe_interval),
            ("poll.give_up_after", self.poll.give_up_after),
            ("shutdown.grace_period", self.shutdown.grace_period),
            ("stuck.after", self.stuck.after),
            ("stuck.check_interval", self.stuck.check_interval),
            ("retention.finished_after", self.retention.finished_after),
            ("retention.interval", self.retention.interval),
            (
                "database.maintenance_interval",
                self.database.maintenance_interval,
            ),
            ("database.busy_timeout", self.database.busy_timeout),
            ("http.header_timeout", self.http.header_timeout),
            ("http.idle_timeout", self.http.idle_timeout),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(invalid(key, "must be longer than zero"));
            }
        }
        if self.poll.max_interval < self.poll.initial_interval {
            return Err(invalid(
                "poll.max_interval",
                "must be at least `poll.initial_interval`",
            ));
        }
        if self.retry.max_backoff < self.retry.initial_backoff {
            return Err(invalid(
                "retry.max_backoff",
                "must be at least `retry.initial_backoff`",
            ));
        }
        if !(self.poll.multiplier >= 1.0 && self.poll.multiplier.is_finite()) {
            return Err(invalid(
                "poll.multiplier",
                format!(
                    "must be a number of at least 1.0, not {}",
                    self.poll.multiplier
                ),
            ));
        }
        for (key, jitter) in [
            ("poll.jitter", self.poll.jitter),
            ("retry.jitter", self.retry.jitter),
        ] {
            if !(0.0..=1.0).contains(&jitter) {
                return Err(invalid(
                    key,
                    format!("must be between 0.0 and 1.0, not {jitter}"),
                ));
            }
        }
        if self.lease.ttl < self.api.request_timeout * 2 {
            return Err(invalid(
                "lease.ttl",
                "must be at least twice `api.request_timeout`, so a poll never outlives its lease",
            ));
        }
        if self.poll.concurrency == 0 {
            return Err(invalid("poll.concurrency", "must be at least 1"));
        }
        if self.api.max_response_bytes < MIN_RESPONSE_BYTES {
            return Err(invalid(
                "api.max_response_bytes",
                format!(
                    "must be at least {MIN_RESPONSE_BYTES} bytes, not {}",
                    self.api.max_response_bytes
                ),
            ));
        }
        if self.http.max_connections == 0 {
            return Err(invalid("http.max_connections", "must be at least 1"));
        }
        if self.poll.not_found_after == 0 {
            return Err(invalid("poll.not_found_after", "must be at least 1"));
        }
        if !(self.api.max_requests_per_second > 0.0 && self.api.max_requests_per_second.is_finite())
        {
            return Err(invalid(
                "api.max_requests_per_second",
                format!(
                    "must be a positive number, not {}",
                    self.api.max_requests_per_second
                ),
            ));
        }
        if self.api.max_probe_interval < self.api.probe_interval {
            return Err(invalid(
                "api.max_probe_interval",
                "must be at least `api.probe_interval`",
            ));
        }
        if self
            .poll
            .terminal_statuses
            .iter()
            .any(|s| s.trim().is_empty())
        {
            return Err(invalid(
                "poll.terminal_statuses",
                "must not contain empty statuses",
            ));
        }
        if let Some(base_url) = &self.api.base_url {
            http_url("api.base_url", base_url)?;
        }
        http_url("auth.token_url", &self.auth.token_url)?;
        self.http_listen()?;
        if let Some((status, _)) = self
            .stuck
            .status_after
            .iter()
            .find(|(_, limit)| limit.is_zero())
        {
            return Err(invalid(
                "stuck.status_after",
                format!("gives {status:?} a zero limit; it must be longer than zero"),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|err| invalid("log.level", format!("is not a valid filter: {err}")))?;
        Ok(())
    }

    /// Where to serve `/metrics`, `/healthz` and `/readyz`; `None` when `http.listen` is empty.
    pub fn http_listen(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let listen = self.http.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| {
            invalid(
                "http.listen",
                format!("must be an IP address and port such as 127.0.0.1:9464, not {listen:?}"),
            )
        })
    }

    /// How to open the database.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            busy_timeout: self.database.busy_timeout,
        }
    }

    /// When journeys count as stuck.
    pub fn stuck_rules(&self) -> StuckRules {
        StuckRules {
            after: self.stuck.after,
            by_status: self
                .stuck
                .status_after
                .iter()
                .map(|(status, limit)| (status_key(status), **limit))
                .collect(),
        }
    }

    /// The polling policy these settings describe.
    pub fn policy(&self) -> Policy {
        Policy {
            progress: ProgressCurve {
                initial: self.poll.initial_interval,
                max: self.poll.max_interval,
                multiplier: self.poll.multiplier,
                jitter: self.poll.jitter,
            },
            errors: ErrorCurve {
                initial: self.retry.initial_backoff,
                max: self.retry.max_backoff,
                jitter: self.retry.jitter,
            },
            terminal: TerminalStatuses::new(&self.poll.terminal_statuses),
            not_found_after: i64::from(self.poll.not_found_after),
            give_up_after: self.poll.give_up_after,
        }
    }

    /// Checks and returns what only the daemon needs: where GBG GO is and how to log in.
    pub fn daemon(&self) -> Result<DaemonSettings, ConfigError> {
        let base_url = match (&self.api.base_url, self.api.region) {
            (Some(url), _) => url.clone(),
            (None, Some(region)) => region.base_url().to_owned(),
            (None, None) => {
                return Err(ConfigError::Missing {
                    key: "api.region",
                    hint: "`eu`, `us` or `au`; or set `api.base_url`",
                });
            }
        };
        let auth = &self.auth;
        let client_id = required(
            "auth.client_id",
            &auth.client_id,
            "JOURNEYD_AUTH__CLIENT_ID",
        )?;
        let client_secret = required(
            "auth.client_secret",
            &auth.client_secret,
            "or `auth.client_secret_file`, or JOURNEYD_AUTH__CLIENT_SECRET",
        )?;
        let credentials = match auth.grant {
            Grant::Password => Credentials::Password {
                client_id,
                client_secret,
                username: required(
                    "auth.username",
                    &auth.username,
                    "the password grant needs a user",
                )?,
                password: required(
                    "auth.password",
                    &auth.password,
                    "or `auth.password_file`, or JOURNEYD_AUTH__PASSWORD",
                )?,
            },
            Grant::ClientCredentials => Credentials::ClientCredentials {
                client_id,
                client_secret,
                scope: auth.scope.clone(),
            },
        };
        Ok(DaemonSettings {
            base_url: http_url("api.base_url", &base_url)?,
            token_url: http_url("auth.token_url", &auth.token_url)?,
            credentials,
        })
    }
}

/// A figment error as `` `key`: problem (in source) ``, keys spelled as in the file.
fn describe(err: figment::Error) -> String {
    let origin = err
        .metadata
        .as_ref()
        .map(|metadata| match &metadata.source {
            Some(source) => format!(" (in {source})"),
            None => format!(" (in {})", metadata.name),
        });
    let origin = origin.unwrap_or_default();
    if err.path.is_empty() {
        format!("{}{origin}", err.kind)
    } else {
        format!(
            "`{}`: {}{origin}",
            err.path.join(".").to_lowercase(),
            err.kind
        )
    }
}

fn required<T: Clone>(
    key: &'static str,
    value: &Option<T>,
    hint: &'static str,
) -> Result<T, ConfigError> {
    value.clone().ok_or(ConfigError::Missing { key, hint })
}

fn http_url(key: &'static str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|err| invalid(key, format!("is not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(key, "must be an http:// or https:// URL"));
    }
    Ok(url)
}

/// A secret given inline or as a file (e.g. a systemd credential); not both.
fn read_secret(
    key: &'static str,
    inline: Option<Secret>,
    file_key: &'static str,
    file: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(
            key,
            format!("and `{file_key}` are both set; choose one"),
        )),
        (inline, None) => Ok(inline),
        (None, Some(path)) => {
            let text = fs::read_to_string(path).map_err(|err| {
                invalid(
                    file_key,
                    format!("cannot be read ({}): {err}", path.display()),
                )
            })?;
            let value = text.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                return Err(invalid(
                    file_key,
                    format!("names an empty file ({})", path.display()),
                ));
            }
            Ok(Some(Secret::new(value)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().check().unwrap();
    }

    #[test]
    fn region_picks_the_base_url() {
        let mut config = Config::default();
        config.api.region = Some(Region::Us);
        config.auth.client_id = Some("id".into());
        config.auth.client_secret = Some(Secret::new("s"));
        config.auth.grant = Grant::ClientCredentials;
        let daemon = config.daemon().unwrap();
        assert_eq!(
            daemon.base_url.as_str(),
            "https://us.platform.go.gbgplc.com/captain/api"
        );
        assert_eq!(
            daemon.credentials,
            Credentials::ClientCredentials {
                client_id: "id".into(),
                client_secret: Secret::new("s"),
                scope: "gbg.token".into()
            }
        );
    }
}
