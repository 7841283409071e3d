//! A simulated GBG GO: the token endpoint and `POST /journey/state/fetch`, on loopback.
//!
//! `journeyd demo` runs the real daemon against it, and the tests use it as their fake. It is
//! strict like the real service: a wrong path is 404, a body without a string `instanceId` is
//! 400, a missing, unknown or expired bearer token is 401, and every answer carries an
//! `X-Request-ID`. Journeys follow scripts, by poll count (deterministic, for tests) or by time
//! (for the demo); faults can be injected per journey. It reads time from a [`Clock`], so tests
//! can expire its tokens by moving a manual clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::clock::{self, Clock, Timestamp, format_timestamp};
use crate::config::{Credentials, DaemonSettings, Grant};
use crate::journey::status_key;
use crate::secret::Secret;

/// Path of the token endpoint, as on GBG's auth host.
pub const TOKEN_PATH: &str = "/as/token.oauth2";
/// Base path of the API, as on the regional hosts.
pub const API_BASE_PATH: &str = "/captain/api";

/// The credentials the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
    pub scope: String,
    /// `expires_in` of the tokens it issues.
    pub token_lifetime: Duration,
    /// When set, an unknown instance ID is not a 404 but a journey that starts following this
    /// script at its first fetch (benchmarks track many journeys without listing them).
    pub unknown_journeys: Option<Script>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            client_id: "journeyd-sim-client".into(),
            client_secret: "sim-client-secret".into(),
            username: "sim-user@example.com".into(),
            password: "sim-password".into(),
            scope: "gbg.token".into(),
            token_lifetime: Duration::from_secs(300),
            unknown_journeys: None,
        }
    }
}

/// The statuses a simulated journey goes through. The last step lasts for ever.
#[derive(Debug, Clone)]
pub enum Script {
    /// Each status for that many answers (faulty answers do not count).
    Polls(Vec<(String, u32)>),
    /// Each status for that long after the journey was added.
    Timed(Vec<(String, Duration)>),
}

impl Script {
    pub fn polls(steps: &[(&str, u32)]) -> Self {
        Self::Polls(steps.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect())
    }

    pub fn timed(steps: &[(&str, Duration)]) -> Self {
        Self::Timed(steps.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect())
    }

    fn status_at(&self, answered_before: u32, elapsed: Duration) -> &str {
        fn pick<T: Copy + PartialOrd + std::ops::Add<Output = T>>(
            steps: &[(String, T)],
            position: T,
            zero: T,
        ) -> &str {
            let mut end = zero;
            for (status, span) in steps {
                end = end + *span;
                if position < end {
                    return status;
                }
            }
            steps
                .last()
                .map_or("InProgress", |(status, _)| status.as_str())
        }
        match self {
            Self::Polls(steps) => pick(steps, answered_before, 0),
            Self::Timed(steps) => pick(steps, elapsed, Duration::ZERO),
        }
    }
}

/// A misbehaviour of one state fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 200 with a body that breaks the spec.
    Malformed,
    /// This status code with a v1 error body.
    Status(u16),
    /// This status (429 or 503) with this `Retry-After` header value.
    RetryAfter { status: u16, header: String },
    /// The right answer, this much later.
    Slow(Duration),
}

/// How often each misbehaviour strikes a state fetch, as probabilities from 0 to 1. The draws
/// come from a fixed-seed sequence, so a run's faults are the same every time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultRates {
    pub server_error: f64,
    pub rate_limited: f64,
    /// `Retry-After` seconds sent with the 429s.
    pub retry_after_seconds: u64,
    pub malformed: f64,
    pub slow: f64,
    pub slow_by: Duration,
}

impl FaultRates {
    fn pick(&self, draw: f64) -> Option<Fault> {
        let mut threshold = 0.0;
        let faults = [
            (self.server_error, Fault::Status(500)),
            (
                self.rate_limited,
                Fault::RetryAfter {
                    status: 429,
                    header: self.retry_after_seconds.to_string(),
                },
            ),
            (self.malformed, Fault::Malformed),
            (self.slow, Fault::Slow(self.slow_by)),
        ];
        for (rate, fault) in faults {
            threshold += rate;
            if draw < threshold {
                return Some(fault);
            }
        }
        None
    }
}

/// A request the simulator turned away, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub path: String,
    pub status: u16,
    pub reason: String,
}

struct SimJourney {
    script: Script,
    added_at: Timestamp,
    fetches: Vec<Timestamp>,
    /// Fetches answered with the journey's state: a script advances only on those.
    answered: u32,
    completed_at: Option<Timestamp>,
    faults: VecDeque<Fault>,
}

impl SimJourney {
    fn new(script: Script, added_at: Timestamp) -> Self {
        Self {
            script,
            added_at,
            fetches: Vec::new(),
            answered: 0,
            completed_at: None,
            faults: VecDeque::new(),
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
        });
        let app = Router::new()
            .route(TOKEN_PATH, post(issue_token))
            .route(
                &format!("{API_BASE_PATH}/journey/state/fetch"),
                post(fetch_state),
            )
            .fallback(not_found)
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

    pub fn base_url(&self) -> String {
        format!("http://{}{API_BASE_PATH}", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!("http://{}{TOKEN_PATH}", self.addr)
    }

    /// Settings that point journeyd at this simulator, logging in with `grant`.
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
            base_url: self.base_url().parse().expect("valid URL"),
            token_url: self.token_url().parse().expect("valid URL"),
            credentials,
        }
    }

    pub fn config(&self) -> &SimulatorConfig {
        &self.state.config
    }

    /// Makes `instance_id` known, following `script` from now on.
    pub fn add_journey(&self, instance_id: &str, script: Script) {
        let now = self.state.clock.now();
        lock(&self.state.journeys).insert(instance_id.to_owned(), SimJourney::new(script, now));
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

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl SimState {
    fn answer(&self, status: StatusCode, body: Value) -> Response {
        let id = self.request_ids.fetch_add(1, Ordering::Relaxed) + 1;
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            "x-request-id",
            HeaderValue::from_str(&format!("sim-{id:06}")).expect("ASCII header"),
        );
        response
    }

    fn reject(&self, path: &str, status: StatusCode, reason: &str) -> Response {
        lock(&self.rejections).push(Rejection {
            path: path.to_owned(),
            status: status.as_u16(),
            reason: reason.to_owned(),
        });
        self.answer(
            status,
            json!({"status": status.as_u16(), "message": reason, "error": status.canonical_reason()}),
        )
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

async fn not_found(State(state): State<Arc<SimState>>, uri: axum::http::Uri) -> Response {
    state.reject(uri.path(), StatusCode::NOT_FOUND, "no such endpoint")
}

async fn issue_token(
    State(state): State<Arc<SimState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    state.token_requests.fetch_add(1, Ordering::Relaxed);
    if state.token_endpoint_down.load(Ordering::SeqCst) {
        return state.answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "temporarily_unavailable"}),
        );
    }
    let config = &state.config;
    let field = |name: &str| form.get(name).map(String::as_str);
    let grant_ok = match field("grant_type") {
        Some("password") => {
            field("username") == Some(&config.username)
                && field("password") == Some(&config.password)
        }
        Some("client_credentials") => field("scope") == Some(&config.scope),
        _ => false,
    };
    if !grant_ok {
        lock(&state.rejections).push(Rejection {
            path: TOKEN_PATH.into(),
            status: 400,
            reason: "invalid grant".into(),
        });
        return state.answer(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
    }
    if field("client_id") != Some(&config.client_id)
        || field("client_secret") != Some(&config.client_secret)
    {
        lock(&state.rejections).push(Rejection {
            path: TOKEN_PATH.into(),
            status: 401,
            reason: "invalid client".into(),
        });
        return state.answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
    }
    let serial = state.token_requests.load(Ordering::Relaxed);
    let token = format!(
        "sim-token-{serial}-{:x}",
        state.clock.now().timestamp_micros()
    );
    lock(&state.tokens).insert(
        token.clone(),
        IssuedToken {
            expires_at: clock::add(state.clock.now(), config.token_lifetime),
            fetches: 0,
        },
    );
    state.answer(
        StatusCode::OK,
        json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": config.token_lifetime.as_secs(),
        }),
    )
}

async fn fetch_state(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const PATH: &str = "/captain/api/journey/state/fetch";
    state.state_requests.fetch_add(1, Ordering::Relaxed);
    if state.api_down.load(Ordering::SeqCst) {
        return fault_answer(&state, Fault::Status(503));
    }
    if let Err(reason) = state.bearer_is_valid(&headers) {
        return state.reject(PATH, StatusCode::UNAUTHORIZED, reason);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return state.reject(
            PATH,
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json",
        );
    }
    let instance_id = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(fields)) => match fields.get("instanceId") {
            Some(Value::String(id)) => id.clone(),
            _ => {
                return state.reject(PATH, StatusCode::BAD_REQUEST, "instanceId must be a string");
            }
        },
        _ => return state.reject(PATH, StatusCode::BAD_REQUEST, "body must be a JSON object"),
    };

    let _answering = InFlight::enter(&state, &instance_id);
    match journey_answer(&state, &instance_id) {
        Ok((body, None)) => state.answer(StatusCode::OK, body),
        Ok((body, Some(delay))) => {
            tokio::time::sleep(delay).await;
            state.answer(StatusCode::OK, body)
        }
        Err(response) => *response,
    }
}

/// Marks a journey's fetch as being answered, and counts overlapping ones.
struct InFlight<'a> {
    state: &'a SimState,
    instance_id: String,
    counted: bool,
}

impl<'a> InFlight<'a> {
    fn enter(state: &'a SimState, instance_id: &str) -> Self {
        let counted = lock(&state.in_flight).insert(instance_id.to_owned());
        if !counted {
            state.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        Self {
            state,
            instance_id: instance_id.to_owned(),
            counted,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.counted {
            lock(&self.state.in_flight).remove(&self.instance_id);
        }
    }
}

/// The state of a journey as the next fetch sees it, and how long to wait before answering; or
/// the whole answer when it is not the journey's state.
fn journey_answer(
    state: &SimState,
    instance_id: &str,
) -> Result<(Value, Option<Duration>), Box<Response>> {
    let now = state.clock.now();
    let mut journeys = lock(&state.journeys);
    if let Some(script) = &state.config.unknown_journeys
        && !journeys.contains_key(instance_id)
    {
        journeys.insert(instance_id.to_owned(), SimJourney::new(script.clone(), now));
    }
    let Some(journey) = journeys.get_mut(instance_id) else {
        drop(journeys);
        return Err(Box::new(state.reject(
            "/captain/api/journey/state/fetch",
            StatusCode::NOT_FOUND,
            "journey instance not found",
        )));
    };
    journey.fetches.push(now);
    let fault = journey.faults.pop_front().or_else(|| {
        let draw = state.draws.fetch_add(1, Ordering::Relaxed);
        lock(&state.fault_rates).pick(unit_draw(draw))
    });
    let delay = match fault {
        Some(Fault::Slow(delay)) => Some(delay),
        Some(fault) => {
            drop(journeys);
            return Err(Box::new(fault_answer(state, fault)));
        }
        None => None,
    };
    let answered_before = journey.answered;
    journey.answered += 1;
    let elapsed = clock::duration_between(journey.added_at, now);
    let status = journey
        .script
        .status_at(answered_before, elapsed)
        .to_owned();
    let terminal = matches!(
        status_key(&status).as_str(),
        "completed" | "failed" | "error"
    );
    if terminal {
        journey.completed_at.get_or_insert(now);
    }
    let completed_time = journey
        .completed_at
        .filter(|_| terminal)
        .map(format_timestamp)
        .unwrap_or_default();
    let body = json!({
        "metaData": {
            "createdTime": format_timestamp(journey.added_at),
            "completedTime": completed_time,
        },
        "status": status,
        "data": {
            "initiator": "journeyd-simulator",
            "process": {"flow": {"sim-variant": {"status": status, "answers": answered_before + 1}}},
        },
        "instanceId": instance_id,
    });
    Ok((body, delay))
}

/// The answer a fault gives instead of the journey's state.
fn fault_answer(state: &SimState, fault: Fault) -> Response {
    let error_body = |code: StatusCode| json!({"status": code.as_u16(), "message": "injected fault", "error": code.canonical_reason()});
    match fault {
        Fault::Malformed => state.answer(
            StatusCode::OK,
            json!({"status": 42, "data": "not an object"}),
        ),
        Fault::Status(code) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            state.answer(code, error_body(code))
        }
        Fault::RetryAfter { status, header } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let mut response = state.answer(code, error_body(code));
            if let Ok(value) = HeaderValue::from_str(&header) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Fault::Slow(_) => unreachable!("a slow answer is a normal one, later"),
    }
}

/// The `n`-th number of a fixed pseudo-random sequence in [0, 1).
fn unit_draw(n: u64) -> f64 {
    let mut x = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_walk_their_steps() {
        let by_polls = Script::polls(&[("InProgress", 2), ("Paused", 1), ("Completed", 0)]);
        let seen: Vec<_> = (0..5)
            .map(|n| by_polls.status_at(n, Duration::ZERO))
            .collect();
        assert_eq!(
            seen,
            [
                "InProgress",
                "InProgress",
                "Paused",
                "Completed",
                "Completed"
            ]
        );

        let secs = Duration::from_secs;
        let timed = Script::timed(&[("InProgress", secs(2)), ("Failed", secs(0))]);
        assert_eq!(timed.status_at(9, secs(1)), "InProgress");
        assert_eq!(timed.status_at(0, secs(2)), "Failed");
    }
}
