//! `[[webhooks]]` endpoints and `[webhook_delivery]`: checked with the rest of the
//! configuration; the secrets are read when the daemon (or `journeyd webhooks test`) needs them.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::http_url;
use super::{Config, ConfigError};
use crate::journey::EventType;
use crate::webhooks::{DeliverySettings, Endpoint, WebhookSecret, default_name, retry};

/// One receiver, as the file spells it; what it leaves out takes the default below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Default: the URL without its query string.
    pub name: Option<String>,
    pub url: String,
    /// `whsec_` + base64, a secret a line; two lines during a rotation (both sign).
    pub secret_file: PathBuf,
    /// Event types sent; default: all.
    pub events: Option<Vec<String>>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Send the journey's kept `data` in the payload.
    pub include_data: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            name: None,
            url: String::new(),
            secret_file: PathBuf::new(),
            events: None,
            timeout: Duration::from_secs(15),
            include_data: false,
        }
    }
}

/// How the sender works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDeliveryConfig {
    /// The gap before each retry after a failed attempt; then the delivery is given up.
    pub retry_schedule: Vec<humantime_serde::Serde<Duration>>,
    /// An endpoint failing continuously for this long is disabled.
    #[serde(with = "humantime_serde")]
    pub disable_after: Duration,
    /// Attempts in flight at most, all endpoints together.
    pub concurrency: usize,
}

impl Default for WebhookDeliveryConfig {
    fn default() -> Self {
        Self {
            retry_schedule: retry::default_schedule()
                .into_iter()
                .map(humantime_serde::Serde::from)
                .collect(),
            disable_after: Duration::from_secs(5 * 86_400),
            concurrency: 64,
        }
    }
}

fn invalid(index: usize, key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::InvalidEntry {
        key: format!("webhooks[{index}].{key}"),
        problem: problem.into(),
    }
}

impl Config {
    /// Checks every entry without reading its secret: URLs, filters, unique names.
    pub(super) fn check_webhooks(&self) -> Result<(), ConfigError> {
        let delivery = &self.webhook_delivery;
        if delivery.concurrency == 0 {
            return Err(super::invalid(
                "webhook_delivery.concurrency",
                "must be at least 1",
            ));
        }
        if delivery.disable_after.is_zero() {
            return Err(super::invalid(
                "webhook_delivery.disable_after",
                "must be longer than zero",
            ));
        }
        if delivery.retry_schedule.iter().any(|step| step.is_zero()) {
            return Err(super::invalid(
                "webhook_delivery.retry_schedule",
                "must hold delays longer than zero",
            ));
        }
        let mut names = HashSet::new();
        for (index, entry) in self.webhooks.iter().enumerate() {
            let name = self.webhook_name(index)?;
            if !names.insert(name.clone()) {
                return Err(invalid(
                    index,
                    "name",
                    format!("{name:?} names another endpoint too; give each its own `name`"),
                ));
            }
            if entry.timeout.is_zero() {
                return Err(invalid(index, "timeout", "must be longer than zero"));
            }
            if entry.secret_file.as_os_str().is_empty() {
                return Err(invalid(index, "secret_file", "must be set"));
            }
            event_filter(index, entry.events.as_deref())?;
        }
        Ok(())
    }

    /// The name of entry `index`: its own, or its URL without the query string.
    fn webhook_name(&self, index: usize) -> Result<String, ConfigError> {
        let entry = &self.webhooks[index];
        let url = http_url("webhooks[].url", &entry.url)
            .map_err(|err| invalid(index, "url", describe(err)))?;
        match &entry.name {
            Some(name) if name.trim().is_empty() => {
                Err(invalid(index, "name", "must not be empty"))
            }
            Some(name) => Ok(name.clone()),
            None => Ok(default_name(&url)),
        }
    }

    /// The endpoints with their secrets read.
    pub fn webhook_endpoints(&self) -> Result<Vec<Endpoint>, ConfigError> {
        (0..self.webhooks.len())
            .map(|index| {
                let entry = &self.webhooks[index];
                Ok(Endpoint {
                    name: self.webhook_name(index)?,
                    url: http_url("webhooks[].url", &entry.url)
                        .map_err(|err| invalid(index, "url", describe(err)))?,
                    secrets: read_secrets(index, entry)?,
                    events: event_filter(index, entry.events.as_deref())?,
                    timeout: entry.timeout,
                    include_data: entry.include_data,
                })
            })
            .collect()
    }

    /// How the sender works.
    pub fn delivery_settings(&self) -> DeliverySettings {
        let delivery = &self.webhook_delivery;
        DeliverySettings {
            retry_schedule: delivery.retry_schedule.iter().map(|step| **step).collect(),
            disable_after: delivery.disable_after,
            concurrency: delivery.concurrency,
            grace_period: self.shutdown.grace_period,
        }
    }
}

/// The problem of a URL error, without the key `http_url` gave it.
fn describe(err: ConfigError) -> String {
    match err {
        ConfigError::Invalid { problem, .. } => problem,
        other => other.to_string(),
    }
}

fn event_filter(
    index: usize,
    events: Option<&[String]>,
) -> Result<Option<BTreeSet<EventType>>, ConfigError> {
    let Some(events) = events else {
        return Ok(None);
    };
    if events.is_empty() {
        return Err(invalid(
            index,
            "events",
            "is empty; leave it out to send every event type",
        ));
    }
    events
        .iter()
        .map(|name| name.parse().map_err(|err| invalid(index, "events", err)))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// One or two secrets, a line each. Errors name the file and the line, never the text.
fn read_secrets(index: usize, entry: &WebhookConfig) -> Result<Vec<WebhookSecret>, ConfigError> {
    let path = &entry.secret_file;
    let text = std::fs::read_to_string(path).map_err(|err| {
        invalid(
            index,
            "secret_file",
            format!("cannot read {}: {err}", path.display()),
        )
    })?;
    let secrets = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            WebhookSecret::parse(line).map_err(|problem| {
                invalid(
                    index,
                    "secret_file",
                    format!("{} line {}: {problem}", path.display(), number + 1),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !(1..=2).contains(&secrets.len()) {
        return Err(invalid(
            index,
            "secret_file",
            format!(
                "{} holds {} secrets; it must hold one, or two during a rotation",
                path.display(),
                secrets.len()
            ),
        ));
    }
    Ok(secrets)
}
