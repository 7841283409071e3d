//! Who may read the console: a caller with a token of the `/v1` API, of either scope.
//!
//! Browsers cannot send bearer headers from a typed URL, and a login form would need POST, so
//! people sign in with HTTP Basic: the token's NAME as the user name, the token as the
//! password. Programs may send `Authorization: Bearer` as they do to the API.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::layout;
use crate::config::{ApiTokens, Caller};

const CHALLENGE: &str = "Basic realm=\"journeyd console\", charset=\"UTF-8\"";

/// Lets a request through if it carries a valid token, with the caller as an extension.
pub(super) async fn authorize(
    State(tokens): State<Arc<ApiTokens>>,
    mut request: Request,
    next: Next,
) -> Response {
    match caller(&tokens, request.headers()) {
        Some(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => {
            let mut response = (StatusCode::UNAUTHORIZED, layout::sign_in_page()).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGE),
            );
            response
        }
    }
}

/// The caller the request's credentials name, if they are valid: Basic with a token and its
/// own NAME, or Bearer with a token.
fn caller(tokens: &ApiTokens, headers: &HeaderMap) -> Option<Caller> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return tokens.verify(credentials);
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(credentials).ok()?).ok()?;
    let (name, token) = decoded.split_once(':')?;
    tokens.verify(token).filter(|caller| caller.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scope;

    fn tokens() -> ApiTokens {
        ApiTokens::parse("support read Yk2f9QzT4u7LmN1pA8sX\nops write Qe8rT5yU2iO9pA6sD3fG\n")
            .unwrap()
    }

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn basic(user: &str, password: &str) -> HeaderMap {
        with(&format!(
            "Basic {}",
            STANDARD.encode(format!("{user}:{password}"))
        ))
    }

    #[test]
    fn basic_needs_the_token_and_its_own_name() {
        let tokens = tokens();
        let support = caller(&tokens, &basic("support", "Yk2f9QzT4u7LmN1pA8sX")).unwrap();
        assert_eq!(
            (support.name.as_str(), support.scope),
            ("support", Scope::Read)
        );
        assert!(caller(&tokens, &basic("ops", "Yk2f9QzT4u7LmN1pA8sX")).is_none());
        assert!(caller(&tokens, &basic("support", "Yk2f9QzT4u7LmN1pA8sx")).is_none());
        assert!(caller(&tokens, &basic("support", "")).is_none());
    }

    #[test]
    fn bearer_works_and_anything_else_does_not() {
        let tokens = tokens();
        let ops = caller(&tokens, &with("bearer Qe8rT5yU2iO9pA6sD3fG")).unwrap();
        assert_eq!(ops.scope, Scope::Write);
        assert!(caller(&tokens, &with("Digest Qe8rT5yU2iO9pA6sD3fG")).is_none());
        assert!(caller(&tokens, &with("Basic !!notbase64")).is_none());
        assert!(caller(&tokens, &HeaderMap::new()).is_none());
    }
}
