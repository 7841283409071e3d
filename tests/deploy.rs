//! The files under `deploy/` stay consistent with the code: the production config loads, and
//! the Grafana dashboard and the Prometheus alerts only use metrics journeyd exports. (CI also
//! runs `systemd-analyze verify`/`security` and `promtool check rules` on them.)
// `Jail` fixes the closures' error type to figment's own, which is large; nothing to do about it.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::path::Path;

use figment::Jail;
use journeyd::config::Config;
use journeyd::telemetry::metrics;

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(name),
    )
    .unwrap()
}

/// Every `journeyd_*` metric name a text refers to, without histogram suffixes.
fn referenced_metrics(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("journeyd_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        names.insert(base.to_owned());
        rest = &tail[end..];
    }
    names
}

fn exported() -> BTreeSet<String> {
    [
        metrics::POLLS,
        metrics::POLL_DURATION,
        metrics::POLL_LATENESS,
        metrics::API_ERRORS,
        metrics::TRANSITIONS,
        metrics::JOURNEYS_ENDED,
        metrics::JOURNEY_DURATION,
        metrics::JOURNEY_OUTCOMES,
        metrics::JOURNEYS_TRACKED,
        metrics::JOURNEYS_STUCK,
        metrics::JOURNEYS_DUE,
        metrics::OLDEST_ACTIVE_AGE,
        metrics::TOKEN_REQUESTS,
        metrics::RATE_LIMIT_WAITS,
        metrics::REQUEST_RATE,
        metrics::API_DOWN,
        metrics::LAST_SUCCESSFUL_POLL,
        metrics::DATABASE_WRITE_FAILURES,
        metrics::DATABASE_UNWRITABLE,
        metrics::RESULTS_UNWRITTEN,
        metrics::HTTP_CONNECTIONS,
        metrics::HTTP_CONNECTIONS_CLOSED,
        metrics::HTTP_ACCEPT_FAILURES,
        metrics::WEBHOOK_DELIVERIES,
        metrics::WEBHOOK_ATTEMPT_DURATION,
        metrics::WEBHOOK_BACKLOG,
        metrics::WEBHOOK_OLDEST_PENDING_AGE,
        metrics::WEBHOOK_ENDPOINT_DISABLED,
        metrics::WEBHOOK_ENDPOINTS_DISABLED,
    ]
    .map(str::to_owned)
    .into()
}

#[test]
fn the_dashboard_and_the_alerts_use_exported_metrics_only() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&deploy_file("grafana/journeyd.json")).expect("valid JSON");
    let exprs: String = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap())
        .map(|target| target["expr"].as_str().unwrap().to_owned() + "\n")
        .collect();
    for (file, text) in [
        ("grafana/journeyd.json", exprs),
        (
            "prometheus/alerts.yml",
            deploy_file("prometheus/alerts.yml"),
        ),
    ] {
        let unknown: Vec<_> = referenced_metrics(&text)
            .difference(&exported())
            .cloned()
            .collect();
        assert!(
            unknown.is_empty(),
            "{file} uses unknown metrics {unknown:?}"
        );
        assert!(
            !referenced_metrics(&text).is_empty(),
            "{file} uses no metric"
        );
    }
}

#[test]
fn the_production_config_loads() {
    Jail::expect_with(|jail| {
        // The credential paths exist only under systemd; stand-ins here.
        jail.create_file("client_secret", "s")?;
        jail.create_file("password", "p")?;
        jail.set_env("JOURNEYD_AUTH__CLIENT_SECRET_FILE", "client_secret");
        jail.set_env("JOURNEYD_AUTH__PASSWORD_FILE", "password");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/journeyd.toml");
        let config = Config::load(Some(&path)).map_err(|e| e.to_string())?;
        config.daemon().map_err(|e| e.to_string())?;
        assert_eq!(config.database.url, "sqlite:/var/lib/journeyd/journeyd.db");
        assert_eq!(config.stuck_rules().by_status.len(), 1);
        Ok(())
    });
}

#[test]
fn the_unit_is_a_notify_service_with_a_watchdog_and_credentials() {
    let unit = deploy_file("journeyd.service");
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=journeyd",
        "ConfigurationDirectory=journeyd",
        "LoadCredential=client_secret:",
        "LoadCredential=password:",
        "LimitNOFILE=65536",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
}
