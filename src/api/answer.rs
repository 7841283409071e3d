//! What reading an answer means on either API version: its status, its times, fields that break
//! the spec named by their path, an outcome found by a JSON pointer.

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
        if path == "." {
            format!("{prefix}body is not a JSON object: {}", err.inner())
        } else {
            format!("`{prefix}{path}`: {}", err.inner())
        }
    })
}

/// A time an answer gives in `field`; absent or empty (`""`) is none.
pub(super) fn answer_time(field: &str, value: Option<&str>) -> Result<Option<Timestamp>, String> {
    match value {
        None | Some("") => Ok(None),
        Some(text) => crate::clock::parse_timestamp(text)
            .map(Some)
            .map_err(|err| format!("`{field}`: {err}")),
    }
}

/// The outcome at `pointer` (RFC 6901) in `data`: a string as it is, a number or a boolean as
/// written; anything else, or nothing there, is no outcome.
pub(super) fn outcome_at(data: &RawValue, pointer: &str) -> Result<Option<String>, String> {
    let data: serde_json::Value =
        serde_json::from_str(data.get()).map_err(|err| format!("`data`: {err}"))?;
    Ok(match data.pointer(pointer) {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Some(value.to_string())
        }
        _ => None,
    })
}
