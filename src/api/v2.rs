//! GBG GO API v2 (`/v2/captain`): a `POST /journey/state/fetch` answer, read into the same
//! [`Observation`] as v1's, and the detail of an error body.
//!
//! An answer is `{instanceId, status, context}`. There is no `metaData`: the start is
//! `context.process.journey.startedAt`, the end `endedAt` once the journey has ended (or, where
//! that is missing, `startedAt` plus `durationMilliSec`); the outcome is
//! `context.result.status` (`pending`, `completed`, `failed`). The whole `context` is the
//! answer's data; its `subject` holds the customer's personal data.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::MAX_MESSAGE_LEN;
use super::answer::{answer_time, deserialize, status_of};
use crate::clock;
use crate::journey::{EndTimeSource, Observation};

#[derive(Deserialize)]
struct StateAnswer<'a> {
    status: Option<String>,
    // `instanceId` is not compared with the one asked for: the vendor's own reference shows an
    // answer for another ID than its request (gbg-go-v2-notes.md).
    #[serde(borrow)]
    context: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Context {
    #[serde(default)]
    process: Process,
    result: Option<JourneyResult>,
}

#[derive(Deserialize, Default)]
struct Process {
    #[serde(default)]
    journey: JourneyInfo,
}

#[derive(Deserialize, Default)]
struct JourneyInfo {
    #[serde(rename = "startedAt")]
    started_at: Option<String>,
    #[serde(rename = "endedAt")]
    ended_at: Option<String>,
    #[serde(rename = "durationMilliSec")]
    duration_ms: Option<u64>,
}

#[derive(Deserialize)]
struct JourneyResult {
    status: Option<String>,
}

/// Turns a 200 answer into an [`Observation`], or says what about it breaks the spec.
pub fn parse_state(body: &[u8]) -> Result<Observation, String> {
    let answer: StateAnswer = deserialize(body, "")?;
    let status = status_of(answer.status)?;
    let context: Context = match answer.context {
        Some(raw) if !raw.get().starts_with('{') => {
            return Err("`context` is not an object".into());
        }
        Some(raw) => deserialize(raw.get().as_bytes(), "context.")?,
        None => Context::default(),
    };
    let journey = &context.process.journey;
    let started = answer_time(
        "context.process.journey.startedAt",
        journey.started_at.as_deref(),
    )?;
    let ended = answer_time(
        "context.process.journey.endedAt",
        journey.ended_at.as_deref(),
    )?;
    let completed_time = match (ended, started, journey.duration_ms) {
        (Some(ended), _, _) => Some((ended, EndTimeSource::EndedAt)),
        (None, Some(started), Some(ms)) => Some((
            clock::add(started, Duration::from_millis(ms)),
            EndTimeSource::StartedAtPlusDuration,
        )),
        _ => None,
    };
    Ok(Observation {
        status,
        created_time: started,
        completed_time,
        outcome: context
            .result
            .and_then(|result| result.status)
            .filter(|status| !status.trim().is_empty()),
        data: answer.context.map(|raw| raw.get().to_owned()),
    })
}

/// A v2 error body: `{"errors": [{"code", "name", "location", "problem", "action"}]}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    code: Option<String>,
    name: Option<String>,
}

/// `": <code> <name>"` of each error in a v2 error body, or nothing. Only the code and the
/// name: `problem` and `action` are prose that may quote the request.
pub fn error_detail(body: &[u8]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let errors: Vec<String> = parsed
        .errors
        .into_iter()
        .map(|error| {
            [error.code, error.name]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|error| !error.is_empty())
        .collect();
    if errors.is_empty() {
        return String::new();
    }
    let detail: String = errors.join("; ").chars().take(MAX_MESSAGE_LEN).collect();
    format!(": {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::format_timestamp;

    const COMPLETED: &[u8] = br#"{
        "instanceId": "Xk3v9TqLm0Za7RbYc2We1u",
        "status": "Completed",
        "context": {
            "process": {
                "journey": {
                    "name": "Sample", "startedAt": "2025-06-02T09:14:05.120Z",
                    "endedAt": "2025-06-02T09:16:11.480Z", "durationMilliSec": 126360
                },
                "instance": {"id": "Xk3v9TqLm0Za7RbYc2We1u"},
                "steps": [{"nodeId": "dv-1", "result": {"status": "completed"}}]
            },
            "subject": {"identity": {"firstName": "Mara"}},
            "result": {"status": "completed", "advice": {}}
        }
    }"#;

    #[test]
    fn a_finished_journey_gives_its_times_outcome_and_context() {
        let observation = parse_state(COMPLETED).unwrap();
        assert_eq!(observation.status, "Completed");
        assert_eq!(
            observation.created_time.map(format_timestamp).as_deref(),
            Some("2025-06-02T09:14:05.120Z")
        );
        let (ended, source) = observation.completed_time.unwrap();
        assert_eq!(format_timestamp(ended), "2025-06-02T09:16:11.480Z");
        assert_eq!(source, EndTimeSource::EndedAt);
        assert_eq!(observation.outcome.as_deref(), Some("completed"));
        assert!(observation.data.unwrap().contains("\"subject\""));
    }

    #[test]
    fn without_ended_at_the_end_is_the_start_plus_the_duration_or_unknown() {
        let body = br#"{"status": "Failed", "context": {"process": {"journey": {
            "startedAt": "2025-06-02T09:14:05.120Z", "durationMilliSec": 1500}},
            "result": {"status": "failed"}}}"#;
        let (ended, source) = parse_state(body).unwrap().completed_time.unwrap();
        assert_eq!(format_timestamp(ended), "2025-06-02T09:14:06.620Z");
        assert_eq!(source, EndTimeSource::StartedAtPlusDuration);

        let body = br#"{"status": "InProgress", "context": {"process": {"journey": {
            "startedAt": "2025-06-02T09:14:05.120Z"}}, "result": {"status": "pending"}}}"#;
        let observation = parse_state(body).unwrap();
        assert_eq!(observation.completed_time, None);
        assert_eq!(observation.outcome.as_deref(), Some("pending"));
    }

    #[test]
    fn says_what_breaks_the_spec() {
        let cases: [(&[u8], &str); 5] = [
            (b"[]", "body is not a JSON object"),
            (br#"{"context": {}}"#, "`status` is missing"),
            (br#"{"status": "Completed", "context": 4}"#, "`context` is not an object"),
            (
                br#"{"status": "Completed", "context": {"process": {"journey": {"endedAt": "late"}}}}"#,
                "`context.process.journey.endedAt`: not an RFC 3339 timestamp",
            ),
            (
                br#"{"status": "Completed", "context": {"result": {"status": 3}}}"#,
                "`context.result.status`: invalid type",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_state(body).unwrap_err();
            assert!(
                err.starts_with(expected),
                "{err:?} should start with {expected:?}"
            );
        }
    }

    #[test]
    fn an_error_body_gives_its_codes_and_names_and_nothing_else() {
        let body = br#"{"errors": [{"code": "4040", "name": "NOT_FOUND", "location": "Body",
            "problem": "No journey PiIuACmx8Q8R7qPnAkLAqBAT", "action": "Check it"}]}"#;
        assert_eq!(error_detail(body), ": 4040 NOT_FOUND");
        assert_eq!(error_detail(b"<html>"), "");
        assert_eq!(error_detail(br#"{"errors": []}"#), "");
    }
}
