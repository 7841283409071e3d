//! The operator console under `/console/`: journeyd's own read-only web pages, for support staff
//! ("where is this customer's verification?") and operators ("what is stuck, and why?").
//!
//! Server-rendered HTML from templates the compiler checks ([`maud`]); the one script and the
//! style sheet are embedded in the binary, so the console works offline and has no build step.
//! The same tokens as the `/v1` API let people in (HTTP Basic: the token's NAME and the token;
//! a bearer header works too), and it is served only when tokens are configured.
//!
//! Read-only by construction: the outermost layer answers every method but GET and HEAD with
//! 405 before any route is looked at, so a route added later cannot accept a write.

mod access;
mod assets;
mod format;
mod journey;
mod layout;
mod overview;
mod search;
mod stuck;
mod timeline;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::config::ApiTokens;
use crate::http::HttpState;

/// No inline script or style, nothing from another origin, never in a frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// The console's routes, guarded by `tokens`, to be merged into the listener's router. Full
/// paths and a catch-all rather than a nested router with a fallback: the overview is at
/// `/console/` (a nested `/` is `/console` alone), and unknown pages under `/console/` still
/// pass the guards.
pub fn routes(tokens: Arc<ApiTokens>) -> Router<HttpState> {
    Router::new()
        .route("/console/", get(overview::page))
        .route("/console/journeys", get(search::page))
        .route("/console/journeys/{instance_id}", get(journey::page))
        .route("/console/stuck", get(stuck::page))
        .route("/console/{*unknown}", get(layout::not_found))
        .layer(middleware::from_fn_with_state(tokens, access::authorize))
        // After the layer, so outside it: the style sheet and script hold no data, and the
        // sign-in page needs its style sheet before anyone has signed in.
        .route("/console/assets/{name}", get(assets::serve))
        .route("/console", get(redirect_to_overview))
        .layer(middleware::from_fn(read_only))
        .layer(middleware::map_response(secure_headers))
}

/// `/console` without its slash: the overview, where relative links resolve as written.
async fn redirect_to_overview() -> Redirect {
    Redirect::permanent("/console/")
}

/// Answers every method but GET and HEAD with 405.
async fn read_only(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let detail = format!(
        "the console is read-only: {} is not allowed",
        request.method()
    );
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, detail).into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

/// The headers every answer of the console carries: a strict Content-Security-Policy, no
/// framing, no sniffing, no referrer (page URLs carry instance IDs), and pages never cached
/// (assets say otherwise themselves).
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
