//! journeyd's HTTP surface on `http.listen`: for operators `/metrics` (Prometheus text format),
//! `/healthz` (the process is alive and its scheduler loop turns) and `/readyz` (the database
//! answers and takes writes, and a token was obtained, or none was needed yet); for
//! applications the `/v1` API ([`v1`]) and for people the console ([`console`]), when
//! tokens are configured.

mod connection;
pub mod console;
mod gauges;
mod problem;
mod server;
pub mod tls;
pub mod v1;

pub use gauges::TableGauges;
pub use server::ListenerLimits;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::api::{GbgClient, TokenHealth};
use crate::clock::{Clock, duration_between, format_timestamp};
use crate::config::ApiTokens;
use crate::service::Liveness;
use crate::storage::Store;

/// The readiness check and the gauges give the database this long to answer.
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct HttpState {
    /// `None` when no recorder is installed (the demo, tests).
    pub metrics: Option<PrometheusHandle>,
    pub liveness: Arc<Liveness>,
    pub store: Arc<dyn Store>,
    pub api: Arc<GbgClient>,
    pub clock: Arc<dyn Clock>,
    /// The loop counts as stalled when it has not turned for this long.
    pub stalled_after: Duration,
    /// Gauges about the table, refreshed from indexed queries at each scrape.
    pub gauges: Arc<Mutex<TableGauges>>,
    /// The API's tokens; empty: the `/v1` API and the console are off.
    pub tokens: Arc<ApiTokens>,
    /// What the scheduler is doing, for the console.
    pub activity: Arc<Activity>,
}

/// Binds the listener (at start, so a taken port stops journeyd before it does anything).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until shutdown, within `limits`; over TLS with `tls`.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            event = "http_listening",
            address = %addr,
            max_connections = limits.max_connections,
            tls = tls.is_some(),
            "serving /metrics, /healthz, /readyz"
        );
    }
    let mut app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found);
    if state.tokens.is_empty() {
        tracing::info!(
            event = "http_api_off",
            "no API tokens configured (`http.tokens_file`): the /v1 API and the console are off"
        );
    } else {
        tracing::info!(
            event = "http_api_on",
            tokens = state.tokens.len(),
            "serving the /v1 API and the console at /console/"
        );
        app = app
            .nest("/v1", v1::routes(state.tokens.clone()))
            .merge(console::routes(state.tokens.clone()));
    }
    let app = app.with_state(state);
    server::serve(listener, app, limits, tls, shutdown).await;
}

async fn not_found() -> problem::Problem {
    problem::Problem::new(StatusCode::NOT_FOUND, "no such route")
}

async fn metrics(State(state): State<HttpState>) -> Response {
    match &state.metrics {
        Some(handle) => {
            let now = state.clock.now();
            match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, state.store.stats(now)).await {
                Ok(Ok(stats)) => state.gauges.lock().await.update(&stats, now),
                Ok(Err(err)) => tracing::warn!(error = %err, "could not refresh table gauges"),
                Err(_) => tracing::warn!("table gauges: the database did not answer in time"),
            }
            let endpoints = state.store.webhooks().endpoints();
            match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, endpoints).await {
                Ok(Ok(endpoints)) => gauges::update_webhooks(&endpoints, now),
                Ok(Err(err)) => tracing::warn!(error = %err, "could not refresh webhook gauges"),
                Err(_) => tracing::warn!("webhook gauges: the database did not answer in time"),
            }
            handle.run_upkeep();
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}

async fn healthz(State(state): State<HttpState>) -> Response {
    let now = state.clock.now();
    let since_tick = state
        .liveness
        .last_tick()
        .map(|tick| duration_between(tick, now));
    let alive = since_tick.is_some_and(|since| since <= state.stalled_after);
    let body = json!({
        "status": if alive { "ok" } else { "stalled" },
        "last_tick": state.liveness.last_tick().map(format_timestamp),
        "seconds_since_tick": since_tick.map(|since| since.as_secs_f64()),
    });
    (code(alive), axum::Json(body)).into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    let database = match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(err)) => format!("error: {err}"),
        Err(_) => "timeout".to_owned(),
    };
    // A database that answers reads may still refuse writes (a full disk, a held lock).
    let writes = match state.store.write_health().fault() {
        None => "ok".to_owned(),
        Some(fault) => format!("failing: {fault}"),
    };
    let token = state.api.tokens().health();
    let scheduler = state.liveness.is_ready();
    let ready = database == "ok" && writes == "ok" && token != TokenHealth::Failing && scheduler;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "database": database,
            "database_writes": writes,
            "token": token.as_str(),
            "scheduler": if scheduler { "running" } else { "not_running" },
        },
    });
    (code(ready), axum::Json(body)).into_response()
}

fn code(ok: bool) -> StatusCode {
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
