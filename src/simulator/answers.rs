//! The bodies the simulator answers with, in each API version's shape: a journey's state, an
//! error, and the misbehaving answers faults call for.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::SimState;
use super::script::Fault;
use crate::clock::{Timestamp, format_timestamp};
use crate::journey::{ApiVersion, status_key};

/// The fictional customer's values in every answer (v1 `data`, v2 `context.subject`): personal
/// data, distinctive enough that a test can prove none of it reaches a log or an error.
pub const PERSONAL_DATA: [&str; 4] = ["Simtestwood", "447700900123", "1990-04-12", "203.0.113.77"];

/// The fictional customer, as an identity-verification answer holds them.
fn customer() -> Value {
    json!({
        "firstName": "Mara", "lastNames": ["Simtestwood"], "dateOfBirth": "1990-04-12",
        "phones": [{"type": "mobile", "number": "+447700900123"}],
    })
}

/// What a state answer says about a journey.
pub(super) struct JourneyView<'a> {
    pub instance_id: &'a str,
    pub status: &'a str,
    pub started_at: Timestamp,
    /// When it ended, if it has.
    pub ended_at: Option<Timestamp>,
    /// Answers given so far, this one included.
    pub answers: u32,
    /// v2: `context.result.status` instead of the one the status implies.
    pub outcome: Option<&'a str>,
    /// v2: whether an ended journey's answer carries `endedAt` and `durationMilliSec`.
    pub with_ended_at: bool,
    /// v1: added to `data` as its `checks` (see [`data_padding`]).
    pub data_padding: Option<&'a Value>,
}

/// A journey's state, as `version` answers it.
pub(super) fn state_body(version: ApiVersion, journey: &JourneyView) -> Value {
    match version {
        ApiVersion::V1 => {
            let mut body = v1_state_body(journey);
            if let Some(checks) = journey.data_padding {
                body["data"]["checks"] = checks.clone();
            }
            body
        }
        ApiVersion::V2 => v2_state_body(journey),
    }
}

fn v1_state_body(journey: &JourneyView) -> Value {
    json!({
        "metaData": {
            "createdTime": format_timestamp(journey.started_at),
            "completedTime": journey.ended_at.map(format_timestamp).unwrap_or_default(),
        },
        "status": journey.status,
        "data": {
            "initiator": "journeyd-simulator",
            "userIp": "203.0.113.77",
            "customer": customer(),
            "process": {"flow": {"sim-variant": {
                "status": journey.status,
                "answers": journey.answers,
                "outcome": implied_outcome(journey.status),
            }}},
        },
        "instanceId": journey.instance_id,
    })
}

/// Verification checks that make a v1 answer's `data` about `bytes` long, as a real answer's
/// results and profile make it; `None` when the unpadded `data` is that long already.
pub(super) fn data_padding(bytes: usize) -> Option<Value> {
    // What the rest of `data` takes, the customer and the flow's result included.
    const UNPADDED: usize = 330;
    let mut size = UNPADDED;
    let mut checks = Vec::new();
    while size < bytes {
        let check = json!({
            "name": format!("check-{:04}", checks.len()),
            "provider": "Simulated Registry",
            "result": "Match",
            "score": 97,
            "matchedFields": ["firstName", "lastName", "dateOfBirth", "address"],
            "checkedAt": "2026-03-01T09:00:00.000Z",
        });
        size += check.to_string().len() + 1;
        checks.push(check);
    }
    (!checks.is_empty()).then_some(Value::Array(checks))
}

/// The answer the simulator gives for journey `instance_id` in `status`, started at
/// `started_at`, its v1 `data` padded to `data_bytes`: a realistic answer for benchmarks that
/// write results without polling for them.
pub fn sample_answer(
    version: ApiVersion,
    instance_id: &str,
    status: &str,
    started_at: Timestamp,
    data_bytes: usize,
) -> Value {
    let ended = ends_journey(status);
    let padding = data_padding(data_bytes);
    state_body(
        version,
        &JourneyView {
            instance_id,
            status,
            started_at,
            ended_at: ended.then_some(started_at),
            answers: 1,
            outcome: None,
            with_ended_at: true,
            data_padding: padding.as_ref(),
        },
    )
}

/// Whether the simulator's journeys end in `status`.
pub(super) fn ends_journey(status: &str) -> bool {
    matches!(
        status_key(status).as_str(),
        "completed" | "failed" | "error"
    )
}

/// `context.result.status` as a journey's status implies it.
fn implied_outcome(status: &str) -> &'static str {
    match status_key(status).as_str() {
        "completed" => "completed",
        "failed" | "error" => "failed",
        _ => "pending",
    }
}

fn v2_state_body(journey: &JourneyView) -> Value {
    let mut info = json!({
        "name": "Simulated Onboarding Journey",
        "startedAt": format_timestamp(journey.started_at),
        "id": "5f3c5a7e9b1d2f4a6c8e0b2d4f6a8c0e1f3a5c7e9b1d3f5a7c9e0b2d4f6a8c1e",
        "version": "sim00001",
    });
    let ended = journey.ended_at.filter(|_| journey.with_ended_at);
    if let Some(ended_at) = ended {
        info["endedAt"] = json!(format_timestamp(ended_at));
        info["durationMilliSec"] = json!((ended_at - journey.started_at).num_milliseconds());
    }
    let outcome = journey
        .outcome
        .unwrap_or_else(|| implied_outcome(journey.status));
    // A finished journey's subject: the fictional customer.
    let subject = if journey.ended_at.is_some() {
        json!({"identity": customer(), "userIp": "203.0.113.77"})
    } else {
        json!({})
    };
    let steps = if journey.ended_at.is_some() {
        json!([{"nodeId": "data-verification-1",
                "result": {"status": "completed", "note": "", "advice": {}, "outcome": "Match"},
                "process": {}}])
    } else {
        json!([])
    };
    json!({
        "instanceId": journey.instance_id,
        "status": journey.status,
        "context": {
            "process": {
                "journey": info,
                "instance": {"id": journey.instance_id, "instanceId": journey.instance_id},
                "steps": steps,
            },
            "subject": subject,
            "result": {"status": outcome, "advice": {}},
        },
    })
}

/// An error answer's body, as `version` gives it.
pub(super) fn error_body(version: ApiVersion, status: StatusCode, problem: &str) -> Value {
    match version {
        ApiVersion::V1 => json!({
            "status": status.as_u16(),
            "message": problem,
            "error": status.canonical_reason(),
        }),
        ApiVersion::V2 => {
            let (code, name, location) = v2_error(status);
            // v2's prose may quote the request and the journey: personal data.
            json!({"errors": [{
                "code": code,
                "name": name,
                "location": location,
                "problem": format!("{problem} (journey of Mara Simtestwood, +447700900123)"),
                "action": "See the simulator's documentation",
            }]})
        }
    }
}

/// A v2 error's `code`, `name` and `location` for an HTTP status, after the project's v2
/// OpenAPI document (whose codes are illustrative: the vendor's table was not readable).
fn v2_error(status: StatusCode) -> (String, &'static str, &'static str) {
    let (name, location) = match status.as_u16() {
        400 => ("MISSING_FIELD", "Body"),
        401 => ("UNAUTHORIZED", "Authorization"),
        403 => ("FORBIDDEN", "Authorization"),
        404 => ("NOT_FOUND", "Body"),
        405 => ("METHOD_NOT_ALLOWED", "Path"),
        429 => ("TOO_MANY_REQUESTS", "Service"),
        503 => ("SERVICE_UNAVAILABLE", "Service"),
        500..=599 => ("INTERNAL_ERROR", "Service"),
        _ => ("REQUEST_FAILED", "Service"),
    };
    (format!("{}0", status.as_u16()), name, location)
}

/// The answer a fault gives instead of the journey's state.
pub(super) fn fault_answer(state: &SimState, version: ApiVersion, fault: Fault) -> Response {
    let error = |code: StatusCode| error_body(version, code, "injected fault");
    match fault {
        Fault::Malformed => {
            let field = match version {
                ApiVersion::V1 => "data",
                ApiVersion::V2 => "context",
            };
            state.answer(
                StatusCode::OK,
                json!({"status": 42, field: "not an object"}),
            )
        }
        Fault::MistypedPersonalData => {
            let person = "Mara Simtestwood, 1990-04-12, +447700900123";
            let body = match version {
                ApiVersion::V1 => json!({
                    "status": "InProgress",
                    "metaData": {"createdTime": person},
                    "data": {"customer": customer()},
                }),
                ApiVersion::V2 => json!({
                    "status": "InProgress",
                    "context": {"process": {"journey": {"durationMilliSec": person}},
                                "subject": {"identity": customer()}},
                }),
            };
            state.answer(StatusCode::OK, body)
        }
        Fault::Status(code) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            state.answer(code, error(code))
        }
        Fault::RetryAfter { status, header } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let mut response = state.answer(code, error(code));
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
