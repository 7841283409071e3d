//! The checks every value goes through before anything runs, each failure naming its key.

use std::net::SocketAddr;

use reqwest::Url;

use super::{Config, ConfigError, invalid};

/// The smallest `api.max_response_bytes`: below it, ordinary answers would not fit.
const MIN_RESPONSE_BYTES: usize = 1024;

impl Config {
    /// Every check, in groups; the first failure is the error.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        crate::storage::check_url(&self.database.url)
            .map_err(|err| invalid("database.url", err.to_string()))?;
        self.check_durations()?;
        self.check_numbers()?;
        self.check_formats()?;
        self.check_http()?;
        self.check_webhooks()?;
        Ok(())
    }

    /// Durations: none zero, and each pair in the order it must be.
    fn check_durations(&self) -> Result<(), ConfigError> {
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
            ("retention.data_after", self.retention.data_after),
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
        if self.lease.ttl < self.api.request_timeout * 2 {
            return Err(invalid(
                "lease.ttl",
                "must be at least twice `api.request_timeout`, so a poll never outlives its lease",
            ));
        }
        if self.retention.data_after > self.retention.finished_after {
            return Err(invalid(
                "retention.data_after",
                "must be at most `retention.finished_after`: the data goes before the rows",
            ));
        }
        if self.api.max_probe_interval < self.api.probe_interval {
            return Err(invalid(
                "api.max_probe_interval",
                "must be at least `api.probe_interval`",
            ));
        }
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
        Ok(())
    }

    /// Counts, rates and factors within their ranges.
    fn check_numbers(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    /// Values with a syntax: JSON pointers, statuses, URLs, the log filter.
    fn check_formats(&self) -> Result<(), ConfigError> {
        if let Some(pointer) = &self.api.v1_outcome_pointer
            && !pointer.starts_with('/')
        {
            return Err(invalid(
                "api.v1_outcome_pointer",
                format!("must be a JSON pointer starting with `/`, not {pointer:?}"),
            ));
        }
        if let Some(pointer) = self.data.keep.invalid_pointer() {
            return Err(invalid(
                "data.keep",
                format!(
                    "must be \"none\", \"all\" or a list of JSON pointers starting with `/`, \
                     and {pointer:?} is not one"
                ),
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
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|err| invalid("log.level", format!("is not a valid filter: {err}")))?;
        Ok(())
    }

    /// The listener's TLS: a certificate and a key together, and both whenever tokens guard
    /// the API on an address other hosts can reach (the tokens would cross the network in the
    /// clear), unless `http.allow_plaintext` says so on purpose.
    fn check_http(&self) -> Result<(), ConfigError> {
        let http = &self.http;
        let tls = match (&http.tls_cert_file, &http.tls_key_file) {
            (Some(_), Some(_)) => true,
            (None, None) => false,
            (Some(_), None) => {
                return Err(invalid(
                    "http.tls_key_file",
                    "must be set with `http.tls_cert_file`",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "http.tls_cert_file",
                    "must be set with `http.tls_key_file`",
                ));
            }
        };
        if let Some(address) = self.http_listen()?
            && !address.ip().is_loopback()
            && http.tokens_file.is_some()
            && !tls
            && !http.allow_plaintext
        {
            return Err(invalid(
                "http.listen",
                format!(
                    "is {address}, reachable from other hosts, and `http.tokens_file` guards the \
                     API: set `http.tls_cert_file` and `http.tls_key_file`, or \
                     `http.allow_plaintext = true` behind a proxy that speaks TLS"
                ),
            ));
        }
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
}

pub(super) fn http_url(key: &'static str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|err| invalid(key, format!("is not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(key, "must be an http:// or https:// URL"));
    }
    Ok(url)
}
