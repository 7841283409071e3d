//! The GBG GO client: bearer tokens ([`auth`]) and `POST /journey/state/fetch` ([`state`]).

mod auth;
mod state;

pub use auth::{AccessToken, AuthError, TokenSource};
pub use state::parse_state;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;

use crate::clock::Clock;
use crate::config::DaemonSettings;
use crate::journey::{InstanceId, Observation, PollFailure};

/// The header GBG GO puts on every answer; its support asks for it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest error message from GBG GO kept in an error.
const MAX_MESSAGE_LEN: usize = 500;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("request timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("HTTP {status}{message}")]
    Http {
        status: u16,
        message: String,
        request_id: Option<String>,
    },
    #[error("HTTP 401 twice: GBG GO refused a freshly issued token")]
    Unauthorized { request_id: Option<String> },
    #[error("malformed answer: {reason}")]
    Malformed {
        reason: String,
        request_id: Option<String>,
    },
    #[error("{0}")]
    Auth(#[from] AuthError),
}

impl ApiError {
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Http { request_id, .. }
            | Self::Unauthorized { request_id }
            | Self::Malformed { request_id, .. }
            | Self::Auth(
                AuthError::Rejected { request_id, .. } | AuthError::Unavailable { request_id, .. },
            ) => request_id.as_deref(),
            _ => None,
        }
    }

    fn from_transport(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else if err.is_connect() {
            Self::Connect(describe_transport_error(err))
        } else {
            Self::Transport(describe_transport_error(err))
        }
    }
}

impl From<ApiError> for PollFailure {
    fn from(err: ApiError) -> Self {
        let request_id = err.request_id().map(str::to_owned);
        let message = match &request_id {
            Some(id) => format!("{err} (X-Request-ID {id})"),
            None => err.to_string(),
        };
        PollFailure {
            message,
            request_id,
        }
    }
}

/// A v1 error body: `{"status": ..., "message": ..., "error": ...}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    message: Option<String>,
    error: Option<String>,
}

/// Client for one GBG GO region, sharing one connection pool and one token cache.
pub struct GbgClient {
    http: reqwest::Client,
    state_url: Url,
    tokens: TokenSource,
}

impl GbgClient {
    pub fn new(
        settings: &DaemonSettings,
        request_timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout)
            .user_agent(concat!("journeyd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ApiError::Transport(describe_transport_error(err)))?;
        // `join` would drop the last segment of a base URL without a trailing slash.
        let state_url = Url::parse(&format!(
            "{}/journey/state/fetch",
            settings.base_url.as_str().trim_end_matches('/')
        ))
        .expect("a valid base URL plus a path is a valid URL");
        let tokens = TokenSource::new(
            http.clone(),
            settings.token_url.clone(),
            settings.credentials.clone(),
            clock,
        );
        Ok(Self {
            http,
            state_url,
            tokens,
        })
    }

    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    /// Fetches a journey's state. A 401 renews the token and retries once.
    pub async fn fetch_state(&self, id: &InstanceId) -> Result<Observation, ApiError> {
        let token = self.tokens.token().await?;
        match self.send(id, &token).await {
            Err(ApiError::Unauthorized { .. }) => {
                self.tokens.invalidate(&token).await;
                let token = self.tokens.token().await?;
                self.send(id, &token).await
            }
            other => other,
        }
    }

    async fn send(&self, id: &InstanceId, token: &AccessToken) -> Result<Observation, ApiError> {
        let response = self
            .http
            .post(self.state_url.clone())
            .bearer_auth(token.expose())
            .json(&serde_json::json!({ "instanceId": id.as_str() }))
            .send()
            .await
            .map_err(ApiError::from_transport)?;
        let status = response.status();
        let request_id = request_id(&response);
        let body = response.bytes().await.map_err(ApiError::from_transport)?;
        match status {
            StatusCode::OK => {
                parse_state(&body, id).map_err(|reason| ApiError::Malformed { reason, request_id })
            }
            StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized { request_id }),
            _ => Err(ApiError::Http {
                status: status.as_u16(),
                message: error_message(&body),
                request_id,
            }),
        }
    }
}

/// `": <message>"` from a v1 error body, or nothing.
fn error_message(body: &[u8]) -> String {
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

pub(crate) fn request_id(response: &Response) -> Option<String> {
    response
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A transport error with its causes (reqwest's own message is only the outermost layer).
pub(crate) fn describe_transport_error(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
