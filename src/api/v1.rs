//! GBG GO API v1 (`/captain/api`): a `POST /journey/state/fetch` answer, checked against the
//! spec, and the detail of an error body.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::MAX_MESSAGE_LEN;
use super::answer::{answer_time, deserialize, outcome_at, status_of};
use crate::journey::{EndTimeSource, InstanceId, Observation};

#[derive(Deserialize)]
struct StateAnswer<'a> {
    #[serde(rename = "metaData")]
    meta_data: Option<MetaData>,
    status: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(rename = "instanceId")]
    instance_id: Option<String>,
}

#[derive(Deserialize)]
struct MetaData {
    #[serde(rename = "createdTime")]
    created_time: Option<String>,
    #[serde(rename = "completedTime")]
    completed_time: Option<String>,
}

/// Turns a 200 answer into an [`Observation`], or says what about it breaks the spec. The
/// outcome is what `outcome_pointer` (`api.v1_outcome_pointer`, a JSON pointer) points at in
/// `data`, when configured.
pub fn parse_state(
    body: &[u8],
    asked_for: &InstanceId,
    outcome_pointer: Option<&str>,
) -> Result<Observation, String> {
    let answer: StateAnswer = deserialize(body, "")?;

    let status = status_of(answer.status)?;
    if let Some(id) = &answer.instance_id
        && id != asked_for.as_str()
    {
        return Err("`instanceId` is another journey's than the one asked for".into());
    }
    if let Some(data) = answer.data
        && !data.get().starts_with('{')
    {
        return Err("`data` is not an object".into());
    }
    let (created, completed) = answer
        .meta_data
        .map(|meta| (meta.created_time, meta.completed_time))
        .unwrap_or_default();
    Ok(Observation {
        status,
        // GBG GO sends `""` for times that have not happened yet.
        created_time: answer_time("metaData.createdTime", created.as_deref())?,
        completed_time: answer_time("metaData.completedTime", completed.as_deref())?
            .map(|at| (at, EndTimeSource::CompletedTime)),
        outcome: match (outcome_pointer, answer.data) {
            (Some(pointer), Some(data)) => outcome_at(data, pointer)?,
            _ => None,
        },
        data: answer.data.map(|data| data.get().to_owned()),
    })
}

/// A v1 error body: `{"status": ..., "message": ..., "error": ...}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    message: Option<String>,
    error: Option<String>,
}

/// `": <message>"` from a v1 error body, or nothing.
pub fn error_detail(body: &[u8]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    match parsed.message.or(parsed.error) {
        Some(message) if !message.is_empty() => {
            let mut message: String = message.chars().take(MAX_MESSAGE_LEN).collect();
            message.insert_str(0, ": ");
            message
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::format_timestamp;

    fn id() -> InstanceId {
        InstanceId::parse("PiIuACmx8Q8R7qPnAkLAqBAT").unwrap()
    }

    #[test]
    fn parses_the_spec_example() {
        let body = br#"{
            "metaData": {"createdTime": "2024-02-15T22:16:33.213Z", "completedTime": ""},
            "status": "InProgress",
            "data": {"initiator": "api", "process": {"flow": {}}},
            "instanceId": "PiIuACmx8Q8R7qPnAkLAqBAT"
        }"#;
        let observation = parse_state(body, &id(), None).unwrap();
        assert_eq!(observation.status, "InProgress");
        assert_eq!(
            observation.created_time.map(format_timestamp).as_deref(),
            Some("2024-02-15T22:16:33.213Z")
        );
        assert_eq!(observation.completed_time, None);
        assert_eq!(
            observation.data.as_deref(),
            Some(r#"{"initiator": "api", "process": {"flow": {}}}"#)
        );
    }

    #[test]
    fn minimal_answer_is_only_a_status() {
        let observation = parse_state(br#"{"status":"Paused","data":null}"#, &id(), None).unwrap();
        assert_eq!(observation.status, "Paused");
        assert_eq!(observation.data, None);
    }

    #[test]
    fn says_what_breaks_the_spec() {
        let cases: [(&[u8], &str); 8] = [
            (b"<html>", "body is not a JSON object"),
            (
                br#"{"status": "In\u0000Progress"}"#,
                "`status` contains control characters",
            ),
            (
                br#"{"status": 5}"#,
                "`status`: invalid type: integer, expected",
            ),
            (br#"{"data": {}}"#, "`status` is missing"),
            (br#"{"status": " "}"#, "`status` is empty"),
            (
                br#"{"status": "Paused", "data": [1]}"#,
                "`data` is not an object",
            ),
            (
                br#"{"status": "Paused", "instanceId": "other"}"#,
                "`instanceId` is another journey's",
            ),
            (
                br#"{"status": "Paused", "metaData": {"createdTime": "soon"}}"#,
                "`metaData.createdTime`: not an RFC 3339 timestamp",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_state(body, &id(), None).unwrap_err();
            assert!(
                err.starts_with(expected),
                "{err:?} should start with {expected:?}"
            );
        }
    }
}
