//! Configuration: built-in defaults, then a TOML file, then `JOURNEYD_*` environment variables.
//!
//! Everything is loaded and checked up front by [`Config::load`], so a missing or invalid value
//! stops journeyd before it touches the database or the network, with a message naming the key.
//! Values only `journeyd run` needs (credentials, the API's address) are checked by
//! [`Config::daemon`], so that `journeyd enqueue` works without them.

mod base_urls;
mod check;
mod sections;
mod tokens;
mod webhooks;

pub use base_urls::{BaseUrls, version_path};
pub use tokens::{ApiTokens, Caller, Scope};
pub use webhooks::{WebhookConfig, WebhookDeliveryConfig};

pub use crate::telemetry::LogFormat;
pub use sections::{
    ApiConfig, AuthConfig, Config, DataConfig, DatabaseConfig, Grant, HttpConfig, LeaseConfig,
    LogConfig, PollConfig, Region, RetentionConfig, RetryConfig, ShutdownConfig, StuckConfig,
};

use std::fs;
use std::path::Path;
use std::sync::Arc;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use reqwest::Url;

use crate::journey::{TerminalStatuses, status_key};
use crate::policy::{ErrorCurve, Policy, ProgressCurve};
use crate::secret::Secret;
use crate::storage::{StoreOptions, StuckRules};
use check::http_url;

/// The GBG token endpoint shared by every region.
pub const GBG_TOKEN_URL: &str = "https://api.auth.gbgplc.com/as/token.oauth2";
/// Prefix of the environment variables that override the file; `__` separates nested keys.
pub const ENV_PREFIX: &str = "JOURNEYD_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Figment(String),
    #[error("invalid configuration: `{key}` {problem}")]
    Invalid { key: &'static str, problem: String },
    /// A key inside a list of tables, such as `webhooks[1].url`.
    #[error("invalid configuration: `{key}` {problem}")]
    InvalidEntry { key: String, problem: String },
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

/// Everything `journeyd run` needs beyond the common settings, checked.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub base_urls: BaseUrls,
    /// The HTTP API's tokens (empty: the API is off).
    pub api_tokens: Arc<ApiTokens>,
    pub token_url: Url,
    pub credentials: Credentials,
    /// The webhook endpoints, their secrets read.
    pub webhooks: Vec<crate::webhooks::Endpoint>,
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
            keep: self.data.keep.clone(),
        }
    }

    /// Checks and returns what only the daemon needs: where GBG GO is and how to log in.
    pub fn daemon(&self) -> Result<DaemonSettings, ConfigError> {
        let version = self.api.version;
        let base_url = match (&self.api.base_url, self.api.region) {
            (Some(url), _) => url.clone(),
            (None, Some(region)) => format!("{}{}", region.host(), version_path(version)),
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
        let api_tokens = match &self.http.tokens_file {
            Some(path) => ApiTokens::load(path)?,
            None => ApiTokens::default(),
        };
        Ok(DaemonSettings {
            base_urls: BaseUrls::from_base(http_url("api.base_url", &base_url)?, version),
            api_tokens: Arc::new(api_tokens),
            token_url: http_url("auth.token_url", &auth.token_url)?,
            credentials,
            webhooks: self.webhook_endpoints()?,
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
            daemon.base_urls.v1.as_str(),
            "https://us.platform.go.gbgplc.com/captain/api"
        );
        assert_eq!(
            daemon.base_urls.v2.as_str(),
            "https://us.platform.go.gbgplc.com/v2/captain"
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
