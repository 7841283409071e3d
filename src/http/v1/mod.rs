//! The HTTP API for applications, under `/v1`: enqueue, read, list, stop and forget journeys, with bearer
//! tokens (`http.tokens_file`) and one error shape (problem details). `docs/openapi.json`
//! describes it, and is served at `/v1/openapi.json`.
//!
//! A `read` token may use the GET routes, a `write` token every route. The scope a request needs
//! follows from its method, so a route added later cannot forget to ask for one.

mod journeys;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::HttpState;
use super::problem::Problem;
use crate::config::{ApiTokens, Scope};

/// Largest request body: 10,000 IDs of 64 characters fit with room to spare.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

const CHALLENGE: &str = "Bearer realm=\"journeyd\"";
const CHALLENGE_INVALID: &str = "Bearer realm=\"journeyd\", error=\"invalid_token\"";

/// The `/v1` routes, guarded by `tokens`.
pub fn routes(tokens: Arc<ApiTokens>) -> Router<HttpState> {
    Router::new()
        .route("/journeys", get(journeys::list).post(journeys::enqueue))
        .route("/journeys/forget", post(journeys::forget))
        .route(
            "/journeys/{instance_id}",
            get(journeys::show).delete(journeys::stop),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(tokens, authorize))
        // After the layer, so outside it: the document describes the API, it holds no data.
        .route("/openapi.json", get(openapi))
}

/// Lets a request through if its bearer token may do what its method does.
async fn authorize(
    State(tokens): State<Arc<ApiTokens>>,
    mut request: Request,
    next: Next,
) -> Response {
    let required = if matches!(*request.method(), Method::GET | Method::HEAD) {
        Scope::Read
    } else {
        Scope::Write
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = presented else {
        return Problem::unauthorized("a bearer token is required", CHALLENGE).into_response();
    };
    let Some(caller) = tokens.verify(token) else {
        return Problem::unauthorized("the bearer token is not valid", CHALLENGE_INVALID)
            .into_response();
    };
    if caller.scope < required {
        let detail = format!(
            "the token {:?} may only read; {} needs a write token",
            caller.name,
            request.method()
        );
        return Problem::new(StatusCode::FORBIDDEN, detail).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such route in the journeyd API")
}

async fn method_not_allowed(request: Request) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// A request body the JSON extractor turned down, as a problem with the fitting status.
fn rejected(rejection: JsonRejection) -> Problem {
    let status = rejection.status();
    let detail = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON, sent with `Content-Type: application/json`".to_owned()
        }
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the body is larger than {MAX_BODY_BYTES} bytes")
        }
        other => other.body_text(),
    };
    Problem::new(status, detail)
}
