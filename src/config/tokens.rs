//! The bearer tokens of journeyd's HTTP API, read from `http.tokens_file`.
//!
//! One token a line, `NAME SCOPE TOKEN` separated by spaces; `#` starts a comment; SCOPE is
//! `read` (the GET routes) or `write` (everything). Only each token's SHA-256 digest is kept,
//! and a presented token is checked against every digest in constant time: the comparison of
//! digests tells neither which bytes nor how many matched, nor the token's length.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ConfigError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// Who presented a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's NAME, for logs.
    pub name: String,
    pub scope: Scope,
}

struct Entry {
    name: String,
    scope: Scope,
    digest: [u8; 32],
}

/// The tokens the API accepts; empty when none are configured (the API is then off).
#[derive(Default)]
pub struct ApiTokens {
    entries: Vec<Entry>,
}

impl fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
        f.debug_struct("ApiTokens").field("names", &names).finish()
    }
}

/// Shortest token accepted: shorter ones are guessable.
const MIN_TOKEN_LEN: usize = 16;

impl ApiTokens {
    /// Reads `http.tokens_file`. A malformed line is an error naming its number, never the
    /// token.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            super::invalid(
                "http.tokens_file",
                format!("cannot be read ({}): {err}", path.display()),
            )
        })?;
        Self::parse(&text).map_err(|(line, problem)| {
            super::invalid(
                "http.tokens_file",
                format!("line {line} of {}: {problem}", path.display()),
            )
        })
    }

    /// Parses a tokens file's text; an error is the line's number and what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut entries: Vec<Entry> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, scope, token] = fields[..] else {
                return Err((
                    number,
                    format!(
                        "expected `NAME SCOPE TOKEN`, found {} field(s)",
                        fields.len()
                    ),
                ));
            };
            let scope = match scope {
                "read" => Scope::Read,
                "write" => Scope::Write,
                _ => {
                    return Err((
                        number,
                        format!("the scope of {name:?} must be `read` or `write`"),
                    ));
                }
            };
            if token.len() < MIN_TOKEN_LEN {
                return Err((
                    number,
                    format!("the token of {name:?} is shorter than {MIN_TOKEN_LEN} characters"),
                ));
            }
            if entries.iter().any(|entry| entry.name == name) {
                return Err((number, format!("the name {name:?} is used twice")));
            }
            let digest = digest(token);
            if entries.iter().any(|entry| entry.digest == digest) {
                return Err((number, format!("the token of {name:?} is used twice")));
            }
            entries.push(Entry {
                name: name.to_owned(),
                scope,
                digest,
            });
        }
        Ok(Self { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Who `token` belongs to, if anyone. Every entry is compared, whatever matches.
    pub fn verify(&self, token: &str) -> Option<Caller> {
        let presented = digest(token);
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&presented)) {
                found = Some(Caller {
                    name: entry.name.clone(),
                    scope: entry.scope,
                });
            }
        }
        found
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
        # journeyd API tokens\n\
        backoffice  write  Yk2f9QzT4u7LmN1pA8sX\n\
        \n\
        dashboard read Qw3e4r5t6y7u8i9o0p1a  # the wallboard\n";

    #[test]
    fn tokens_are_named_scoped_and_checked_exactly() {
        let tokens = ApiTokens::parse(FILE).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            tokens.verify("Yk2f9QzT4u7LmN1pA8sX"),
            Some(Caller {
                name: "backoffice".into(),
                scope: Scope::Write
            })
        );
        assert_eq!(
            tokens.verify("Qw3e4r5t6y7u8i9o0p1a").map(|c| c.scope),
            Some(Scope::Read)
        );
        for wrong in [
            "Yk2f9QzT4u7LmN1pA8sY",
            "Yk2f9QzT4u7LmN1pA8s",
            "",
            "backoffice",
        ] {
            assert_eq!(tokens.verify(wrong), None, "{wrong:?}");
        }
        assert!(!format!("{tokens:?}").contains("Yk2f9"), "never printed");
    }

    #[test]
    fn a_malformed_line_is_named_by_its_number_never_by_its_token() {
        let cases = [
            (
                "a write\n",
                1,
                "expected `NAME SCOPE TOKEN`, found 2 field(s)",
            ),
            (
                "# ok\na admin Yk2f9QzT4u7LmN1pA8sX\n",
                2,
                "the scope of \"a\" must be `read` or `write`",
            ),
            ("a read short-secret\n", 1, "shorter than 16 characters"),
            (
                "a read Yk2f9QzT4u7LmN1pA8sX\na write Qw3e4r5t6y7u8i9o0p1a\n",
                2,
                "the name \"a\" is used twice",
            ),
            (
                "a read Yk2f9QzT4u7LmN1pA8sX\nb write Yk2f9QzT4u7LmN1pA8sX\n",
                2,
                "the token of \"b\" is used twice",
            ),
            ("a read Yk2f9QzT4u7LmN1pA8sX extra\n", 1, "found 4 field(s)"),
        ];
        for (text, line, problem) in cases {
            let (number, message) = ApiTokens::parse(text).err().unwrap();
            assert_eq!(number, line, "{text:?}");
            assert!(message.contains(problem), "{message:?}");
            assert!(!message.contains("Yk2f9") && !message.contains("short-secret"));
        }
    }
}
