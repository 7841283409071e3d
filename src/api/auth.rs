//! Bearer tokens from GBG's OAuth2 token endpoint.
//!
//! GBG issues no refresh tokens: a token is used until shortly before `expires_in` runs out, then
//! a new one is requested with the same credentials. The cache sits behind an async mutex that is
//! held during the request, so when many polls find the token stale at once they wait for one
//! renewal instead of each sending their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::body::{BodyError, read_limited};
use super::{MAX_SMALL_BODY, describe_transport_error, request_id};
use crate::clock::{self, Clock, Timestamp};
use crate::config::Credentials;
use crate::secret::Secret;
use crate::telemetry::metrics;

/// Renew this long before expiry at most (the vendor's own sample uses 30 s)...
const MAX_RENEW_MARGIN: Duration = Duration::from_secs(30);
/// ...and assume this lifetime when an answer gives none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// After a failed token request no other is sent for this long, doubling with each failure in a
/// row up to the maximum: a down or refusing token endpoint gets a few requests a minute.
const RETRY_MIN: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("token endpoint refused the credentials (HTTP {status}{detail})")]
    Rejected {
        status: u16,
        detail: String,
        request_id: Option<String>,
    },
    #[error("token endpoint answered HTTP {status}{detail}")]
    Unavailable {
        status: u16,
        detail: String,
        request_id: Option<String>,
    },
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
    #[error("token endpoint sent an unusable answer: {0}")]
    Malformed(String),
}

/// Whether journeyd holds a usable token, for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHealth {
    /// No poll has needed one yet.
    NotNeededYet,
    /// The last token request succeeded.
    Valid,
    /// The last token request failed.
    Failing,
}

impl TokenHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotNeededYet => "not_needed_yet",
            Self::Valid => "valid",
            Self::Failing => "failing",
        }
    }
}

/// An access token. Cheap to clone; never printed.
#[derive(Debug, Clone)]
pub struct AccessToken(Arc<Secret>);

impl AccessToken {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    fn same(&self, other: &AccessToken) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

struct CachedToken {
    token: AccessToken,
    renew_at: Timestamp,
}

/// The last token request failed: its error stands until `retry_at`.
struct RecentFailure {
    error: AuthError,
    retry_at: Timestamp,
    gap: Duration,
}

#[derive(Default)]
struct TokenState {
    cached: Option<CachedToken>,
    failure: Option<RecentFailure>,
}

pub struct TokenSource {
    http: reqwest::Client,
    token_url: Url,
    credentials: Credentials,
    clock: Arc<dyn Clock>,
    state: Mutex<TokenState>,
    requests: AtomicU64,
    health: AtomicU8,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<f64>,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
}

impl TokenSource {
    pub fn new(
        http: reqwest::Client,
        token_url: Url,
        credentials: Credentials,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            token_url,
            credentials,
            clock,
            state: Mutex::new(TokenState::default()),
            requests: AtomicU64::new(0),
            health: AtomicU8::new(TokenHealth::NotNeededYet as u8),
        }
    }

    /// A token that is not about to expire, renewing it first if needed. Right after a failed
    /// renewal, that failure is returned again without asking until its backoff has passed.
    pub async fn token(&self) -> Result<AccessToken, AuthError> {
        let mut state = self.state.lock().await;
        let now = self.clock.now();
        if let Some(current) = &state.cached
            && now < current.renew_at
        {
            return Ok(current.token.clone());
        }
        if let Some(failure) = &state.failure
            && now < failure.retry_at
        {
            return Err(failure.error.clone());
        }
        let result = self.request().await;
        metrics::record_token_request(result.is_ok());
        let health = if result.is_ok() {
            TokenHealth::Valid
        } else {
            TokenHealth::Failing
        };
        self.health.store(health as u8, Ordering::SeqCst);
        match result {
            Ok(fresh) => {
                let token = fresh.token.clone();
                *state = TokenState {
                    cached: Some(fresh),
                    failure: None,
                };
                Ok(token)
            }
            Err(error) => {
                let gap = state
                    .failure
                    .as_ref()
                    .map_or(RETRY_MIN, |previous| (previous.gap * 2).min(RETRY_MAX));
                tracing::warn!(
                    event = "token_request_failed",
                    error = %error,
                    retry_in_seconds = gap.as_secs_f64(),
                    "could not obtain a GBG access token"
                );
                state.failure = Some(RecentFailure {
                    error: error.clone(),
                    retry_at: clock::add(self.clock.now(), gap),
                    gap,
                });
                Err(error)
            }
        }
    }

    /// Forgets `rejected` after the API answered 401 to it, so the next [`token`](Self::token)
    /// renews. A token renewed meanwhile by another poll is kept.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut state = self.state.lock().await;
        if state
            .cached
            .as_ref()
            .is_some_and(|c| c.token.same(rejected))
        {
            state.cached = None;
        }
    }

    pub fn health(&self) -> TokenHealth {
        match self.health.load(Ordering::SeqCst) {
            h if h == TokenHealth::Valid as u8 => TokenHealth::Valid,
            h if h == TokenHealth::Failing as u8 => TokenHealth::Failing,
            _ => TokenHealth::NotNeededYet,
        }
    }

    /// Requests sent to the token endpoint so far.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn request(&self) -> Result<CachedToken, AuthError> {
        let form: Vec<(&str, &str)> = match &self.credentials {
            Credentials::Password {
                client_id,
                client_secret,
                username,
                password,
            } => vec![
                ("grant_type", "password"),
                ("client_id", client_id),
                ("client_secret", client_secret.expose()),
                ("username", username),
                ("password", password.expose()),
            ],
            Credentials::ClientCredentials {
                client_id,
                client_secret,
                scope,
            } => vec![
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret.expose()),
                ("scope", scope),
            ],
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let asked_at = self.clock.now();
        let response = self
            .http
            .post(self.token_url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|err| AuthError::Transport(describe_transport_error(err)))?;
        let status = response.status();
        let request_id = request_id(&response);
        let body = match read_limited(response, MAX_SMALL_BODY).await {
            Ok(body) => body,
            // An error's fields are only quoted; without them its status says enough.
            Err(BodyError::TooLarge) if !status.is_success() => Vec::new(),
            Err(BodyError::TooLarge) => {
                return Err(AuthError::Malformed(format!(
                    "answer longer than {MAX_SMALL_BODY} bytes"
                )));
            }
            Err(BodyError::Transport(err)) => {
                return Err(AuthError::Transport(describe_transport_error(err)));
            }
        };

        if !status.is_success() {
            // Only the OAuth error fields are quoted: never echo a whole body from this endpoint.
            let oauth: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
            let detail = [oauth.error, oauth.error_description]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(", {detail}")
            };
            return Err(match status {
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    AuthError::Rejected {
                        status: status.as_u16(),
                        detail,
                        request_id,
                    }
                }
                _ => AuthError::Unavailable {
                    status: status.as_u16(),
                    detail,
                    request_id,
                },
            });
        }

        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| AuthError::Malformed("body is not the expected JSON object".into()))?;
        let token = answer
            .access_token
            .filter(|token| !token.is_empty())
            .ok_or_else(|| AuthError::Malformed("no `access_token`".into()))?;
        let lifetime = match answer.expires_in {
            Some(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
            Some(_) => return Err(AuthError::Malformed("`expires_in` is not positive".into())),
            None => DEFAULT_LIFETIME,
        };
        let margin = MAX_RENEW_MARGIN.min(lifetime / 2);
        tracing::debug!(
            lifetime_seconds = lifetime.as_secs_f64(),
            "obtained a GBG access token"
        );
        Ok(CachedToken {
            token: AccessToken(Arc::new(Secret::new(token))),
            renew_at: clock::add(asked_at, lifetime - margin),
        })
    }
}
