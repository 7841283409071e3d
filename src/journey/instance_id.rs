//! Validation of GBG GO journey instance IDs.

use std::fmt;

/// Longest instance ID accepted. GBG GO's IDs seen so far are 16 to 64 characters.
pub const MAX_LEN: usize = 64;

/// A syntactically valid instance ID: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
///
/// Checked before anything is stored by `journeyd enqueue`, and again before polling a row that
/// another program inserted, so that nothing malformed is ever sent to GBG GO.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInstanceId {
    #[error("instance ID is empty")]
    Empty,
    #[error("instance ID {0:?} contains whitespace")]
    Whitespace(String),
    #[error("instance ID {id:?} is {len} characters long; at most {MAX_LEN} are allowed")]
    TooLong { id: String, len: usize },
    #[error("instance ID {id:?} contains {found:?}; only A-Z, a-z, 0-9, '_' and '-' are allowed")]
    BadCharacter { id: String, found: char },
}

impl InstanceId {
    pub fn parse(text: &str) -> Result<Self, InvalidInstanceId> {
        if text.is_empty() {
            return Err(InvalidInstanceId::Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(InvalidInstanceId::Whitespace(text.to_owned()));
        }
        let len = text.chars().count();
        if len > MAX_LEN {
            return Err(InvalidInstanceId::TooLong {
                id: text.to_owned(),
                len,
            });
        }
        if let Some(found) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(InvalidInstanceId::BadCharacter {
                id: text.to_owned(),
                found,
            });
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_gbg_shaped_ids() {
        for id in ["PiIuACmx8Q8R7qPnAkLAqBAT", "a", "A_b-9", &"x".repeat(64)] {
            assert_eq!(InstanceId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_each_kind_of_bad_id_with_a_reason() {
        assert_eq!(InstanceId::parse(""), Err(InvalidInstanceId::Empty));
        assert!(matches!(
            InstanceId::parse("ab c"),
            Err(InvalidInstanceId::Whitespace(_))
        ));
        assert!(matches!(
            InstanceId::parse(" abc"),
            Err(InvalidInstanceId::Whitespace(_))
        ));
        assert!(matches!(
            InstanceId::parse(&"x".repeat(65)),
            Err(InvalidInstanceId::TooLong { len: 65, .. })
        ));
        let err = InstanceId::parse("abc/def").unwrap_err();
        assert_eq!(
            err.to_string(),
            "instance ID \"abc/def\" contains '/'; only A-Z, a-z, 0-9, '_' and '-' are allowed"
        );
        assert!(matches!(
            InstanceId::parse("é"),
            Err(InvalidInstanceId::BadCharacter { found: 'é', .. })
        ));
    }
}
