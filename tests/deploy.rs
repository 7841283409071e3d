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
        // The Debian package's binary (README: by hand, the unit is pointed elsewhere).
        "ExecStart=/usr/bin/journeyd run --config /etc/journeyd/journeyd.toml",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
}

/// Runs the binary with `args`, outside any configuration.
fn journeyd(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_journeyd"))
        .args(args)
        .env_remove("JOURNEYD_CONFIG")
        .output()
        .expect("run journeyd")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `--version` names the commit built from; the completion scripts and the manual page are
/// generated from the command line itself, so every subcommand is in them.
#[test]
fn version_completions_and_manual_page_describe_the_command_line() {
    let version = stdout(&journeyd(&["--version"]));
    let commit = version
        .trim()
        .strip_prefix(&format!("journeyd {} (commit ", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{version}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = journeyd(&["completions", shell]);
        assert!(script.status.success(), "{}", stderr(&script));
        let text = stdout(&script);
        for subcommand in ["enqueue", "forget", "webhooks", "completions"] {
            assert!(text.contains(subcommand), "{shell} lacks {subcommand}");
        }
    }
    let manual = journeyd(&["man"]);
    let text = stdout(&manual);
    assert!(text.contains(".TH journeyd 1"), "{text}");
    for subcommand in ["enqueue", "forget", "webhooks", "completions"] {
        assert!(
            text.contains(subcommand),
            "the manual page lacks {subcommand}"
        );
    }
    let unknown = journeyd(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("tcsh"));
}
