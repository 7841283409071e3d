//! Errors of the HTTP API, in one shape: RFC 9457 problem details
//! (`application/problem+json`), `{"type", "title", "status", "detail"}` and, where it helps,
//! members of their own (`invalidIds`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    members: Map<String, Value>,
    /// `WWW-Authenticate` of a 401.
    challenge: Option<&'static str>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            members: Map::new(),
            challenge: None,
        }
    }

    /// Adds a member of its own to the body.
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.members.insert(name.to_owned(), value);
        self
    }

    /// A 401, with the challenge that says how to authenticate.
    pub fn unauthorized(detail: &str, challenge: &'static str) -> Self {
        Self {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, detail)
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Value::Object(fields) = &mut body {
            fields.extend(self.members);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(challenge) = self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
