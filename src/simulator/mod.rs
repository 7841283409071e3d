//! A simulated GBG GO: the token endpoint and `POST /journey/state/fetch`, on loopback.
//!
//! `journeyd demo` runs the real daemon against it, and the tests use it as their fake. It is
//! strict like the real service: a wrong path is 404, a body without a string `instanceId` is
//! 400, a missing, unknown or expired bearer token is 401, and every answer carries an
//! `X-Request-ID`. Journeys follow scripts, by poll count (deterministic, for tests) or by time
//! (for the demo); faults can be injected per journey. It reads time from a [`Clock`], so tests
//! can expire its tokens by moving a manual clock.

mod answers;
mod config;
pub mod demo_journeys;
mod handlers;
mod script;

pub use answers::{PERSONAL_DATA, sample_answer};
pub use config::{Rejection, SimulatorConfig};
pub use script::{Fault, FaultRates, Script};

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, Timestamp};
use crate::config::{BaseUrls, Credentials, DaemonSettings, Grant, version_path};
use crate::journey::ApiVersion;
use crate::secret::Secret;

/// Path of the token endpoint, as on GBG's auth host.
pub const TOKEN_PATH: &str = "/as/token.oauth2";
/// Base path of API v1, as on the regional hosts (v2's is [`version_path`]'s other one).
pub const API_BASE_PATH: &str = "/captain/api";
/// Request bodies kept for [`Simulator::request_bodies`]: the latest ones, a bounded number.
const LOGGED_REQUESTS: usize = 1_000;

struct SimJourney {
    /// The API version it was started on: the only one that knows it.
    version: ApiVersion,
    script: Script,
    added_at: Timestamp,
    fetches: Vec<Timestamp>,
    /// Fetches answered with the journey's state: a script advances only on those.
    answered: u32,
    completed_at: Option<Timestamp>,
    faults: VecDeque<Fault>,
    /// v2: `context.result.status` in place of the one its status implies.
    outcome: Option<String>,
    /// v2: whether an ended journey's answers carry `endedAt` and `durationMilliSec`.
    with_ended_at: bool,
}

impl SimJourney {
    fn new(version: ApiVersion, script: Script, added_at: Timestamp) -> Self {
        Self {
            version,
            script,
            added_at,
            fetches: Vec::new(),
            answered: 0,
            completed_at: None,
            faults: VecDeque::new(),
            outcome: None,
            with_ended_at: true,
        }
    }
}

struct IssuedToken {
    expires_at: Timestamp,
    /// Authorised state fetches made with it.
    fetches: u64,
}

struct SimState {
    config: SimulatorConfig,
    clock: Arc<dyn Clock>,
    journeys: Mutex<HashMap<String, SimJourney>>,
    tokens: Mutex<HashMap<String, IssuedToken>>,
    rejections: Mutex<Vec<Rejection>>,
    /// Journeys with a state fetch being answered right now.
    in_flight: Mutex<HashSet<String>>,
    /// Fetches that arrived while another fetch of the same journey was being answered.
    overlaps: AtomicU64,
    fault_rates: Mutex<FaultRates>,
    draws: AtomicU64,
    api_down: AtomicBool,
    token_endpoint_down: AtomicBool,
    token_requests: AtomicU64,
    state_requests: AtomicU64,
    request_ids: AtomicU64,
    /// The latest state requests' bodies, with the version they were sent to.
    request_log: Mutex<VecDeque<(ApiVersion, Value)>>,
    /// What pads v1 answers' `data` to `config.data_bytes`, made once.
    data_padding: Option<Value>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("simulator state poisoned")
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: CancellationToken,
}

impl Simulator {
    /// Starts serving on an ephemeral loopback port.
    pub async fn start(config: SimulatorConfig, clock: Arc<dyn Clock>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState {
            data_padding: answers::data_padding(config.data_bytes),
            config,
            clock,
            journeys: Mutex::default(),
            tokens: Mutex::default(),
            rejections: Mutex::default(),
            in_flight: Mutex::default(),
            overlaps: AtomicU64::new(0),
            fault_rates: Mutex::default(),
            draws: AtomicU64::new(0),
            api_down: AtomicBool::new(false),
            token_endpoint_down: AtomicBool::new(false),
            token_requests: AtomicU64::new(0),
            state_requests: AtomicU64::new(0),
            request_ids: AtomicU64::new(0),
            request_log: Mutex::default(),
        });
        let app = Router::new()
            .route(TOKEN_PATH, post(handlers::issue_token))
            .route(&state_path(ApiVersion::V1), post(handlers::fetch_state_v1))
            .route(&state_path(ApiVersion::V2), post(handlers::fetch_state_v2))
            .fallback(handlers::not_found)
            .with_state(state.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await
                .ok();
        });
        Ok(Self { addr, state, stop })
    }

    /// The base of API v1.
    pub fn base_url(&self) -> String {
        self.base_url_of(ApiVersion::V1)
    }

    /// The base of `version`'s endpoints.
    pub fn base_url_of(&self, version: ApiVersion) -> String {
        format!("http://{}{}", self.addr, version_path(version))
    }

    pub fn token_url(&self) -> String {
        format!("http://{}{TOKEN_PATH}", self.addr)
    }

    /// Settings that point journeyd at this simulator (both API versions), logging in with
    /// `grant`.
    pub fn daemon_settings(&self, grant: Grant) -> DaemonSettings {
        let config = &self.state.config;
        let credentials = match grant {
            Grant::Password => Credentials::Password {
                client_id: config.client_id.clone(),
                client_secret: Secret::new(&config.client_secret),
                username: config.username.clone(),
                password: Secret::new(&config.password),
            },
            Grant::ClientCredentials => Credentials::ClientCredentials {
                client_id: config.client_id.clone(),
                client_secret: Secret::new(&config.client_secret),
                scope: config.scope.clone(),
            },
        };
        DaemonSettings {
            base_urls: BaseUrls::from_base(
                self.base_url().parse().expect("valid URL"),
                ApiVersion::V1,
            ),
            api_tokens: Default::default(),
            token_url: self.token_url().parse().expect("valid URL"),
            credentials,
            webhooks: Vec::new(),
        }
    }

    pub fn config(&self) -> &SimulatorConfig {
        &self.state.config
    }

    /// Makes `instance_id` known on API v1, following `script` from now on.
    pub fn add_journey(&self, instance_id: &str, script: Script) {
        self.add_journey_on(instance_id, ApiVersion::V1, script);
    }

    /// Makes `instance_id` known on `version` only, following `script` from now on.
    pub fn add_journey_on(&self, instance_id: &str, version: ApiVersion, script: Script) {
        let journey = SimJourney::new(version, script, self.state.clock.now());
        lock(&self.state.journeys).insert(instance_id.to_owned(), journey);
    }

    /// v2: answers for `instance_id` give `outcome` as `context.result.status`, whatever its
    /// status implies (a completed journey whose verification failed, say).
    pub fn set_outcome(&self, instance_id: &str, outcome: &str) {
        if let Some(journey) = lock(&self.state.journeys).get_mut(instance_id) {
            journey.outcome = Some(outcome.to_owned());
        }
    }

    /// v2: answers for `instance_id`, once it ended, leave out `endedAt` and
    /// `durationMilliSec`, as the vendor's older documentation shows them.
    pub fn without_ended_at(&self, instance_id: &str) {
        if let Some(journey) = lock(&self.state.journeys).get_mut(instance_id) {
            journey.with_ended_at = false;
        }
    }

    /// The bodies of the latest state requests (at most a thousand), with the API version
    /// each was sent to, oldest first.
    pub fn request_bodies(&self) -> Vec<(ApiVersion, Value)> {
        lock(&self.state.request_log).iter().cloned().collect()
    }

    /// Queues a misbehaviour for the next fetch of `instance_id`.
    pub fn inject(&self, instance_id: &str, fault: Fault) {
        if let Some(journey) = lock(&self.state.journeys).get_mut(instance_id) {
            journey.faults.push_back(fault);
        }
    }

    /// Makes every state fetch misbehave at these rates (on top of injected faults).
    pub fn set_fault_rates(&self, rates: FaultRates) {
        *lock(&self.state.fault_rates) = rates;
    }

    /// While down, every state fetch is answered 503 before anything else is looked at.
    pub fn set_api_down(&self, down: bool) {
        self.state.api_down.store(down, Ordering::SeqCst);
    }

    /// While down, the token endpoint answers 503.
    pub fn set_token_endpoint_down(&self, down: bool) {
        self.state.token_endpoint_down.store(down, Ordering::SeqCst);
    }

    /// Requests that reached the state endpoint, whatever became of them.
    pub fn state_requests(&self) -> u64 {
        self.state.state_requests.load(Ordering::Relaxed)
    }

    /// Invalidates every token issued so far, as a key rotation on GBG's side would.
    pub fn revoke_tokens(&self) {
        lock(&self.state.tokens).clear();
    }

    /// When each authorised state fetch of `instance_id` arrived (faulty answers included).
    pub fn fetches(&self, instance_id: &str) -> Vec<Timestamp> {
        lock(&self.state.journeys)
            .get(instance_id)
            .map(|journey| journey.fetches.clone())
            .unwrap_or_default()
    }

    /// Authorised state fetches of every journey.
    pub fn total_fetches(&self) -> usize {
        lock(&self.state.journeys)
            .values()
            .map(|journey| journey.fetches.len())
            .sum()
    }

    pub fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::Relaxed)
    }

    /// Fetches of a journey that arrived while another fetch of it was still being answered:
    /// a journey polled by two schedulers at once.
    pub fn overlapping_fetches(&self) -> u64 {
        self.state.overlaps.load(Ordering::SeqCst)
    }

    /// Authorised state fetches per token issued, in no particular order: with one token per
    /// client, how the work was shared.
    pub fn fetches_per_token(&self) -> Vec<u64> {
        lock(&self.state.tokens)
            .values()
            .map(|token| token.fetches)
            .collect()
    }

    /// Requests turned away with 400, 401 or 404.
    pub fn rejections(&self) -> Vec<Rejection> {
        lock(&self.state.rejections).clone()
    }
}

/// The path of `journey/state/fetch` on `version`.
fn state_path(version: ApiVersion) -> String {
    format!("{}/journey/state/fetch", version_path(version))
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl SimState {
    fn answer(&self, status: StatusCode, body: Value) -> Response {
        self.with_request_id((status, axum::Json(body)).into_response())
    }

    /// Adds an `X-Request-ID`, as GBG GO does to every answer.
    fn with_request_id(&self, mut response: Response) -> Response {
        let id = self.request_ids.fetch_add(1, Ordering::Relaxed) + 1;
        response.headers_mut().insert(
            "x-request-id",
            HeaderValue::from_str(&format!("sim-{id:06}")).expect("ASCII header"),
        );
        response
    }

    fn reject(
        &self,
        version: ApiVersion,
        path: &str,
        status: StatusCode,
        reason: &str,
    ) -> Response {
        lock(&self.rejections).push(Rejection {
            path: path.to_owned(),
            status: status.as_u16(),
            reason: reason.to_owned(),
        });
        self.answer(status, answers::error_body(version, status, reason))
    }

    fn log_request(&self, version: ApiVersion, body: &Value) {
        let mut log = lock(&self.request_log);
        if log.len() == LOGGED_REQUESTS {
            log.pop_front();
        }
        log.push_back((version, body.clone()));
    }

    fn bearer_is_valid(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or("missing bearer token")?;
        let mut tokens = lock(&self.tokens);
        let issued = tokens.get_mut(token).ok_or("unknown or revoked token")?;
        if self.clock.now() >= issued.expires_at {
            return Err("expired token");
        }
        issued.fetches += 1;
        Ok(())
    }
}
