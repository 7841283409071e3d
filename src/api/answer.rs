//! What reading an answer means on either API version: its status, its times, fields that break
//! the spec named by their path, an outcome found by a JSON pointer.
//!
//! An answer's body holds personal data, and what is wrong with it goes into `last_error` and
//! the logs. So a problem is described by where it is and what kind of thing was found there,
//! never by the value: serde's own messages quote it (`invalid type: string "Mara"`).

use serde_json::value::RawValue;

use crate::clock::Timestamp;

/// A `status` as journeyd stores it: present, not blank, and without control characters (a
/// NUL, for one, is a value PostgreSQL cannot store).
pub(super) fn status_of(status: Option<String>) -> Result<String, String> {
    match status {
        Some(status) if status.chars().any(char::is_control) => {
            Err("`status` contains control characters".into())
        }
        Some(status) if !status.trim().is_empty() => Ok(status),
        Some(_) => Err("`status` is empty".into()),
        None => Err("`status` is missing".into()),
    }
}

/// Deserializes an answer's `body`, naming the field (under `prefix`) that breaks the spec.
pub(super) fn deserialize<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    prefix: &str,
) -> Result<T, String> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let problem = problem_of(err.inner());
        if path == "." {
            format!("{prefix}body is not a JSON object: {problem}")
        } else {
            format!("`{prefix}{path}`: {problem}")
        }
    })
}

/// What `err` found wrong, without the value it found.
///
/// A syntax error names a line and column, never the text there. A data error is rebuilt from
/// its parts: the kind of value found (`string`, `integer`, ...) and what the type expected,
/// which comes from journeyd's own types.
fn problem_of(err: &serde_json::Error) -> String {
    if !err.is_data() {
        return err.to_string();
    }
    let message = err.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(message, _)| message);
    let expected = message
        .split_once(", expected ")
        .map(|(_, expected)| format!(", expected {expected}"))
        .unwrap_or_default();
    for (prefix, problem) in [
        ("invalid type: ", "invalid type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(found) = message.strip_prefix(prefix) {
            // `string "..."`, `integer `5``, `floating point `1.5``, `sequence`, `map`, ...
            let kind = found
                .split([' ', ','])
                .next()
                .filter(|kind| kind.chars().all(|c| c.is_ascii_alphabetic()))
                .unwrap_or("value");
            return format!("{problem}: {kind}{expected}");
        }
    }
    if message.starts_with("missing field ") || message.starts_with("duplicate field ") {
        // Field names come from journeyd's types.
        return message.to_owned();
    }
    format!("not as the spec has it{expected}")
}

/// A time an answer gives in `field`; absent or empty (`""`) is none.
pub(super) fn answer_time(field: &str, value: Option<&str>) -> Result<Option<Timestamp>, String> {
    match value {
        None | Some("") => Ok(None),
        Some(text) => crate::clock::parse_timestamp(text)
            .map(Some)
            .map_err(|_| format!("`{field}`: not an RFC 3339 timestamp")),
    }
}

/// The outcome at `pointer` (RFC 6901) in `data`: a string as it is, a number or a boolean as
/// written; anything else, or nothing there, is no outcome.
pub(super) fn outcome_at(data: &RawValue, pointer: &str) -> Result<Option<String>, String> {
    let data: serde_json::Value =
        serde_json::from_str(data.get()).map_err(|err| format!("`data`: {}", problem_of(&err)))?;
    Ok(match data.pointer(pointer) {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Some(value.to_string())
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Answer {
        status: String,
        count: Option<u64>,
    }

    #[test]
    fn a_problem_names_the_place_and_the_kind_never_the_value() {
        let cases: [(&[u8], &str); 6] = [
            (
                br#"{"status": "x", "count": "Mara Simtestwood"}"#,
                "`count`: invalid type: string, expected u64",
            ),
            (
                br#"{"status": "x", "count": -7700900123}"#,
                "`count`: invalid value: integer, expected u64",
            ),
            (
                br#"{"status": "x", "count": 1.5}"#,
                "`count`: invalid type: floating, expected u64",
            ),
            (
                br#"{"status": ["Mara"]}"#,
                "`status`: invalid type: sequence, expected a string",
            ),
            (
                br#"{"count": 1}"#,
                "body is not a JSON object: missing field `status`",
            ),
            (
                br#"{"status": "Mara Simtestwood"#,
                "`status`: EOF while parsing a string at line 1 column 28",
            ),
        ];
        for (body, expected) in cases {
            let err = deserialize::<Answer>(body, "").unwrap_err();
            assert_eq!(err, expected);
            assert!(
                !err.contains("Mara") && !err.contains("7700900123"),
                "{err}"
            );
        }
        assert_eq!(
            answer_time("endedAt", Some("1990-04-12 Mara")).unwrap_err(),
            "`endedAt`: not an RFC 3339 timestamp"
        );
    }
}
