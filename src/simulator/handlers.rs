//! The simulator's endpoints: tokens, journey state, and everything else (404).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::script::{Fault, unit_draw};
use super::{IssuedToken, Rejection, SimJourney, SimState, TOKEN_PATH, lock};
use crate::clock::{self, format_timestamp};
use crate::journey::status_key;

pub(super) async fn not_found(
    State(state): State<Arc<SimState>>,
    uri: axum::http::Uri,
) -> Response {
    state.reject(uri.path(), StatusCode::NOT_FOUND, "no such endpoint")
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

pub(super) async fn fetch_state(
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
        Fault::Oversized { bytes, declared } => {
            let prefix = br#"{"status": "InProgress""#;
            let padding = bytes.saturating_sub(prefix.len() + 1);
            let mut response = streamed(state, prefix, Some(padding), Duration::ZERO, b"}");
            if declared {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
            }
            response
        }
        Fault::Endless { every } => streamed(
            state,
            br#"{"status": "InProgress", "data": {"#,
            None,
            every,
            b"",
        ),
        Fault::Slow(_) => unreachable!("a slow answer is a normal one, later"),
    }
}

/// A 200 streamed as it is read: `prefix`, then `padding` bytes of white space (`None`: for
/// ever), one every `every` (zero: as fast as the client reads), then `suffix`.
fn streamed(
    state: &SimState,
    prefix: &'static [u8],
    padding: Option<usize>,
    every: Duration,
    suffix: &'static [u8],
) -> Response {
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    // Ends when the client stops reading: its half of the pipe is dropped and writes fail.
    tokio::spawn(async move {
        let block = [b' '; 16 * 1024];
        let step = if every.is_zero() { block.len() } else { 1 };
        let mut left = padding.unwrap_or(usize::MAX);
        writer.write_all(prefix).await?;
        while left > 0 {
            let now = step.min(left);
            writer.write_all(&block[..now]).await?;
            left -= now;
            if !every.is_zero() {
                tokio::time::sleep(every).await;
            }
        }
        writer.write_all(suffix).await
    });
    let mut response = Response::new(Body::from_stream(ReaderStream::new(reader)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    state.with_request_id(response)
}
