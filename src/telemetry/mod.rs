//! Telemetry: logging, set up once per process, and [`metrics`] for Prometheus.

pub mod metrics;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use serde::{Deserialize, Serialize};

/// How log lines are written (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Installs the global subscriber: JSON lines (one object per event, fields at the top level)
/// or human-readable text, on stderr. `format`: `None` chooses by whether stderr is a terminal;
/// `level` is a `tracing` filter.
pub fn init(format: Option<LogFormat>, level: &str) {
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    // `Config::load` has already checked the filter.
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
        LogFormat::Pretty => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// For the commands other than `run` and `demo`: journeyd's own events (`stop` and `forget`
/// leave a record of what they did) in `log.format`, and only warnings from the libraries below
/// it, whose start-up chatter would drown a command's output.
pub fn init_for_command(format: Option<LogFormat>) {
    init(format, "warn,journeyd=info");
}

/// For `journeyd demo`: the daemon's events, human-readable and timed from the start, on stdout
/// beside the demo's own narrative.
pub fn init_for_demo() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("info,sqlx=warn"))
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(false)
        .compact()
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout)
        .init();
}
