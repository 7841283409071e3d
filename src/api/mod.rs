//! The GBG GO client: bearer tokens ([`auth`]) and `POST /journey/state/fetch` on either API
//! version ([`v1`], [`v2`]), each journey on the version it was started on.

mod answer;
mod auth;
mod body;
pub mod v1;
pub mod v2;

pub use auth::{AccessToken, AuthError, TokenHealth, TokenSource};

use body::BodyError;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Response, StatusCode, Url, header};

use crate::clock::{self, Clock, Timestamp};
use crate::config::{ApiConfig, DaemonSettings};
use crate::journey::{ApiVersion, FailureClass, InstanceId, Observation, PollFailure};

/// The header GBG GO puts on every answer; its support asks for it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest error message from GBG GO kept in an error (v1's `message`, v2's codes and names):
/// enough for any message seen, too short to carry a copy of a request.
const MAX_MESSAGE_LEN: usize = 200;
/// Longest error body read for its message (a longer one is not read; its status says enough),
/// and longest answer of the token endpoint.
pub(crate) const MAX_SMALL_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("request timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("HTTP {status}{message}")]
    Http {
        status: u16,
        message: String,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("HTTP 401 twice: GBG GO refused a freshly issued token")]
    Unauthorized { request_id: Option<String> },
    #[error("malformed answer: {reason}")]
    Malformed {
        reason: String,
        request_id: Option<String>,
    },
    #[error("answer larger than `api.max_response_bytes` ({limit} bytes); not read further")]
    TooLarge {
        limit: usize,
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
            | Self::TooLarge { request_id, .. }
            | Self::Auth(
                AuthError::Rejected { request_id, .. } | AuthError::Unavailable { request_id, .. },
            ) => request_id.as_deref(),
            _ => None,
        }
    }

    pub fn class(&self) -> FailureClass {
        match self {
            Self::Timeout => FailureClass::Timeout,
            Self::Connect(_) => FailureClass::Connect,
            Self::Tls(_) => FailureClass::Tls,
            Self::Transport(_) => FailureClass::Transport,
            Self::Http { status, .. } => match *status {
                429 => FailureClass::RateLimited,
                403 => FailureClass::Forbidden,
                404 => FailureClass::NotFound,
                400 | 422 => FailureClass::Rejected,
                500.. => FailureClass::ServerError,
                _ => FailureClass::ClientError,
            },
            Self::Unauthorized { .. } => FailureClass::Unauthorized,
            Self::Malformed { .. } => FailureClass::Malformed,
            Self::TooLarge { .. } => FailureClass::TooLarge,
            Self::Auth(AuthError::Rejected { .. }) => FailureClass::TokenRejected,
            Self::Auth(_) => FailureClass::TokenUnavailable,
        }
    }

    fn from_transport(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else if is_tls_failure(&err) {
            Self::Tls(describe_transport_error(err))
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
        let retry_after = match &err {
            ApiError::Http { retry_after, .. } => *retry_after,
            _ => None,
        };
        PollFailure {
            class: err.class(),
            message,
            request_id,
            retry_after,
        }
    }
}

/// Client for one GBG GO region, sharing one connection pool and one token cache.
pub struct GbgClient {
    http: reqwest::Client,
    /// `journey/state/fetch` of v1 and of v2.
    state_urls: [Url; 2],
    tokens: TokenSource,
    clock: Arc<dyn Clock>,
    max_response_bytes: usize,
    v1_outcome_pointer: Option<String>,
}

impl GbgClient {
    /// A client for `settings`, with `api`'s timeout and answer size limit.
    pub fn new(
        settings: &DaemonSettings,
        api: &ApiConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(api.request_timeout)
            .connect_timeout(api.request_timeout)
            .user_agent(concat!("journeyd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ApiError::Transport(describe_transport_error(err)))?;
        // `join` would drop the last segment of a base URL without a trailing slash.
        let state_urls = ApiVersion::ALL.map(|version| {
            Url::parse(&format!(
                "{}/journey/state/fetch",
                settings
                    .base_urls
                    .get(version)
                    .as_str()
                    .trim_end_matches('/')
            ))
            .expect("a valid base URL plus a path is a valid URL")
        });
        let tokens = TokenSource::new(
            http.clone(),
            settings.token_url.clone(),
            settings.credentials.clone(),
            clock.clone(),
        );
        Ok(Self {
            http,
            state_urls,
            tokens,
            clock,
            max_response_bytes: api.max_response_bytes,
            v1_outcome_pointer: api.v1_outcome_pointer.clone(),
        })
    }

    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    /// Fetches the state of a journey started on `version`. A 401 renews the token and
    /// retries once.
    pub async fn fetch_state(
        &self,
        id: &InstanceId,
        version: ApiVersion,
    ) -> Result<Observation, ApiError> {
        let token = self.tokens.token().await?;
        match self.send(id, version, &token).await {
            Err(ApiError::Unauthorized { .. }) => {
                self.tokens.invalidate(&token).await;
                let token = self.tokens.token().await?;
                self.send(id, version, &token).await
            }
            other => other,
        }
    }

    async fn send(
        &self,
        id: &InstanceId,
        version: ApiVersion,
        token: &AccessToken,
    ) -> Result<Observation, ApiError> {
        let url = &self.state_urls[version as usize];
        let response = self
            .http
            .post(url.clone())
            .bearer_auth(token.expose())
            .json(&serde_json::json!({ "instanceId": id.as_str() }))
            .send()
            .await
            .map_err(ApiError::from_transport)?;
        let status = response.status();
        let request_id = request_id(&response);
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, self.clock.now())),
            _ => None,
        };
        if status == StatusCode::OK {
            let body = match body::read_limited(response, self.max_response_bytes).await {
                Ok(body) => body,
                Err(BodyError::TooLarge) => {
                    return Err(ApiError::TooLarge {
                        limit: self.max_response_bytes,
                        request_id,
                    });
                }
                Err(BodyError::Transport(err)) => return Err(ApiError::from_transport(err)),
            };
            let parsed = match version {
                ApiVersion::V1 => v1::parse_state(&body, id, self.v1_outcome_pointer.as_deref()),
                ApiVersion::V2 => v2::parse_state(&body),
            };
            return parsed.map_err(|reason| ApiError::Malformed { reason, request_id });
        }
        let message = match body::read_limited(response, MAX_SMALL_BODY).await {
            Ok(body) => match version {
                ApiVersion::V1 => v1::error_detail(&body),
                ApiVersion::V2 => v2::error_detail(&body),
            },
            Err(BodyError::TooLarge) => String::new(),
            Err(BodyError::Transport(err)) => return Err(ApiError::from_transport(err)),
        };
        match status {
            StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized { request_id }),
            _ => Err(ApiError::Http {
                status: status.as_u16(),
                message,
                request_id,
                retry_after,
            }),
        }
    }
}

/// `Retry-After` as a delay from `now`: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: Timestamp = httpdate::parse_http_date(value).ok()?.into();
    Some(clock::duration_between(now, at))
}

/// Whether a transport error comes from the TLS layer. rustls's error sits inside (possibly
/// nested) `io::Error`s, whose `source()` skips the error they wrap, hence the look inside.
fn is_tls_failure(err: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if current.is::<rustls::Error>() {
            return true;
        }
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_timestamp;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = parse_timestamp("2015-10-21T07:28:00Z").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn statuses_map_to_failure_classes() {
        let http = |status| ApiError::Http {
            status,
            message: String::new(),
            request_id: None,
            retry_after: None,
        };
        let classes: Vec<_> = [429, 403, 404, 400, 422, 405, 500, 503]
            .map(|status| http(status).class())
            .into();
        assert_eq!(
            classes,
            [
                FailureClass::RateLimited,
                FailureClass::Forbidden,
                FailureClass::NotFound,
                FailureClass::Rejected,
                FailureClass::Rejected,
                FailureClass::ClientError,
                FailureClass::ServerError,
                FailureClass::ServerError,
            ]
        );
    }
}
