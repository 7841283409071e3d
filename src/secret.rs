//! A string that must never be printed: client secrets, passwords, access tokens.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// What a secret looks like wherever it would otherwise be shown.
pub const REDACTED: &str = "[redacted]";

/// A secret string. `Debug`, `Display` and `Serialize` all print [`REDACTED`]; the only way to the
/// value is [`Secret::expose`], so every place that reveals it is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// Takes strings only, and refuses anything else without repeating it: serde's own message
/// ("invalid type: integer `123456`") would print a secret written as a bare number.
struct SecretVisitor;

impl SecretVisitor {
    fn refuse<E: de::Error>(kind: &str) -> Result<Secret, E> {
        Err(E::custom(format!(
            "a secret must be a string, not {kind} (quote it)"
        )))
    }
}

impl de::Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Secret, E> {
        Ok(Secret::new(value))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Self::refuse("a boolean")
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Self::refuse("a number")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Self::refuse("a number")
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Self::refuse("a number")
    }

    fn visit_char<E: de::Error>(self, value: char) -> Result<Secret, E> {
        Ok(Secret::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_bare_number_is_refused_without_being_repeated() {
        let err = serde_json::from_str::<Secret>("9876")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a secret must be a string"), "{err}");
        assert!(!err.contains("9876"), "{err}");
        let quoted: Secret = serde_json::from_str("\"9876\"").unwrap();
        assert_eq!(quoted.expose(), "9876");
    }
}
