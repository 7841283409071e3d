//! The simulator's endpoints: tokens, journey state, and everything else (404).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::answers::{JourneyView, ends_journey, fault_answer, state_body};
use super::script::{Fault, unit_draw};
use super::{IssuedToken, Rejection, SimJourney, SimState, TOKEN_PATH, lock, state_path};
use crate::clock;
use crate::journey::ApiVersion;

pub(super) async fn not_found(
    State(state): State<Arc<SimState>>,
    uri: axum::http::Uri,
) -> Response {
    let version = if uri.path().starts_with("/v2/") {
        ApiVersion::V2
    } else {
        ApiVersion::V1
    };
    state.reject(
        version,
        uri.path(),
        StatusCode::NOT_FOUND,
        "no such endpoint",
    )
}

pub(super) async fn issue_token(
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

pub(super) async fn fetch_state_v1(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fetch_state(&state, ApiVersion::V1, &headers, &body).await
}

pub(super) async fn fetch_state_v2(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fetch_state(&state, ApiVersion::V2, &headers, &body).await
}

async fn fetch_state(
    state: &SimState,
    version: ApiVersion,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let path = state_path(version);
    state.state_requests.fetch_add(1, Ordering::Relaxed);
    if state.api_down.load(Ordering::SeqCst) {
        return fault_answer(state, version, Fault::Status(503));
    }
    if let Err(reason) = state.bearer_is_valid(headers) {
        return state.reject(version, &path, StatusCode::UNAUTHORIZED, reason);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return state.reject(
            version,
            &path,
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json",
        );
    }
    let request = serde_json::from_slice::<Value>(body);
    if let Ok(request) = &request {
        state.log_request(version, request);
    }
    let instance_id = match request {
        Ok(Value::Object(fields)) => match fields.get("instanceId") {
            Some(Value::String(id)) => id.clone(),
            _ => {
                let reason = "instanceId must be a string";
                return state.reject(version, &path, StatusCode::BAD_REQUEST, reason);
            }
        },
        _ => {
            let reason = "body must be a JSON object";
            return state.reject(version, &path, StatusCode::BAD_REQUEST, reason);
        }
    };

    let _answering = InFlight::enter(state, &instance_id);
    match journey_answer(state, version, &instance_id) {
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

/// The state of a journey as the next fetch on `version` sees it, and how long to wait before
/// answering; or the whole answer when it is not the journey's state. A journey is known only
/// on the API version it was started on.
fn journey_answer(
    state: &SimState,
    version: ApiVersion,
    instance_id: &str,
) -> Result<(Value, Option<Duration>), Box<Response>> {
    let now = state.clock.now();
    let mut journeys = lock(&state.journeys);
    if let Some(script) = &state.config.unknown_journeys
        && !journeys.contains_key(instance_id)
    {
        let journey = SimJourney::new(version, script.clone(), now);
        journeys.insert(instance_id.to_owned(), journey);
    }
    let Some(journey) = journeys
        .get_mut(instance_id)
        .filter(|journey| journey.version == version)
    else {
        drop(journeys);
        return Err(Box::new(state.reject(
            version,
            &state_path(version),
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
            return Err(Box::new(fault_answer(state, version, fault)));
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
    let terminal = ends_journey(&status);
    if terminal {
        journey.completed_at.get_or_insert(now);
    }
    let view = JourneyView {
        instance_id,
        status: &status,
        started_at: journey.added_at,
        ended_at: journey.completed_at.filter(|_| terminal),
        answers: answered_before + 1,
        outcome: journey.outcome.as_deref(),
        with_ended_at: journey.with_ended_at,
        data_padding: state.data_padding.as_ref(),
    };
    Ok((state_body(version, &view), delay))
}
