//! `/healthz` and `/readyz` in the states a running daemon rarely shows: a loop that never
//! turned, a token endpoint that refuses, a database that is gone.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Harness};
use journeyd::api::GbgClient;
use journeyd::clock::{Clock, ManualClock};
use journeyd::config::Grant;
use journeyd::http::{self, HttpState};
use journeyd::journey::{ApiVersion, InstanceId};
use journeyd::service::Liveness;
use journeyd::simulator::SimulatorConfig;
use serde_json::Value;
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

struct Surface {
    address: std::net::SocketAddr,
    liveness: Arc<Liveness>,
    api: Arc<GbgClient>,
    clock: ManualClock,
    _stop: tokio_util::sync::DropGuard,
}

async fn serve(h: &Harness) -> Surface {
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    let api = Arc::new(
        GbgClient::new(
            &h.sim.daemon_settings(Grant::Password),
            &h.config.api,
            clock.clone(),
        )
        .unwrap(),
    );
    let liveness = Arc::new(Liveness::new(None));
    let listener = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let address = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let state = HttpState {
        metrics: None,
        liveness: liveness.clone(),
        store: h.store.clone(),
        api: api.clone(),
        clock,
        stalled_after: Duration::from_secs(13),
        gauges: Arc::default(),
        tokens: Arc::default(),
        activity: h.scheduler().activity(),
    };
    let limits = journeyd::daemon::listener_limits(&h.config);
    tokio::spawn(http::serve(listener, state, limits, None, stop.clone()));
    Surface {
        address,
        liveness,
        api,
        clock: h.clock.clone(),
        _stop: stop.drop_guard(),
    }
}

async fn get(surface: &Surface, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}{path}", surface.address))
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn healthz_says_whether_the_scheduler_loop_turns() {
    let h = Harness::new().await;
    let surface = serve(&h).await;

    let (code, body) = get(&surface, "/healthz").await;
    assert_eq!(
        (code, body["status"].as_str()),
        (503, Some("stalled")),
        "never turned"
    );

    surface.liveness.tick(surface.clock.now());
    let (code, body) = get(&surface, "/healthz").await;
    assert_eq!((code, body["status"].as_str()), (200, Some("ok")));

    surface.clock.advance(Duration::from_secs(14));
    let (code, body) = get(&surface, "/healthz").await;
    assert_eq!(
        (code, body["status"].as_str()),
        (503, Some("stalled")),
        "{body}"
    );
}

#[tokio::test]
async fn readyz_wants_the_scheduler_the_database_and_a_working_token() {
    let h = Harness::with(|_| {}, SimulatorConfig::default()).await;
    let surface = serve(&h).await;

    let (code, body) = get(&surface, "/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["checks"]["scheduler"], "not_running");

    surface.liveness.ready(surface.clock.now());
    let (code, body) = get(&surface, "/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["checks"]["token"], "not_needed_yet");
    assert_eq!(body["checks"]["database"], "ok");

    h.sim.set_token_endpoint_down(true);
    let id = InstanceId::parse("anything").unwrap();
    assert!(surface.api.fetch_state(&id, ApiVersion::V1).await.is_err());
    let (code, body) = get(&surface, "/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["checks"]["token"], "failing");

    h.sim.set_token_endpoint_down(false);
    surface.clock.advance(Duration::from_secs(6)); // past the token retry backoff
    let _ = surface.api.fetch_state(&id, ApiVersion::V1).await; // 404, but with a token
    let (code, body) = get(&surface, "/readyz").await;
    assert_eq!(
        (code, &body["checks"]["token"]),
        (200, &Value::from("valid"))
    );
}

#[tokio::test]
async fn readyz_says_when_the_database_is_gone() {
    let h = Harness::on(Backend::Postgres).await;
    let surface = serve(&h).await;
    surface.liveness.ready(surface.clock.now());
    let (code, body) = get(&surface, "/readyz").await;
    assert_eq!(
        (code, &body["checks"]["database"]),
        (200, &Value::from("ok"))
    );

    let url: reqwest::Url = h.db.url.parse().unwrap();
    let name = url.path().trim_start_matches('/');
    let mut admin = sqlx::PgConnection::connect(&common::postgres_admin_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    let (code, body) = get(&surface, "/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    let database = body["checks"]["database"].as_str().unwrap();
    assert!(
        database.starts_with("error") || database == "timeout",
        "{body}"
    );
}
