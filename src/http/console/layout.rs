//! The frame every console page shares, and the pages for refusals and failures.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::assets;
use crate::config::Caller;
use crate::storage::StoreError;

/// Which entry of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Overview,
    Journeys,
    Stuck,
}

impl Section {
    const ALL: [(Self, &'static str, &'static str); 3] = [
        (Self::Overview, "Overview", "/console/"),
        (Self::Journeys, "Journeys", "/console/journeys"),
        (Self::Stuck, "Stuck", "/console/stuck"),
    ];
}

/// A whole page: `title`, the navigation with `section` marked, who is signed in, `body`.
pub(super) fn page(title: &str, section: Section, caller: &Caller, body: Markup) -> Html<String> {
    let header = html! {
        header {
            a.brand href="/console/" { "journeyd" }
            nav {
                @for (entry, label, href) in Section::ALL {
                    a href=(href) aria-current=[(entry == section).then_some("page")] { (label) }
                }
            }
            form.find method="get" action="/console/journeys" {
                input #find type="search" name="q" placeholder="Instance ID or its start"
                    aria-label="Find a journey by instance ID";
                button #find-button type="submit" { "Find" }
            }
            span.caller { "signed in as " strong { (caller.name) } }
        }
    };
    document(title, Some(header), body)
}

/// What a browser shows when it has no valid credentials (with the 401's challenge, it asks).
pub(super) fn sign_in_page() -> Html<String> {
    document(
        "Sign in",
        None,
        html! {
            p { "The console needs a token of journeyd's HTTP API (read or write scope)." }
            p { "Sign in with the token's " strong { "name" } " as user name and the "
                strong { "token" } " as password." }
        },
    )
}

/// The HTML document around a page: its header (`None` where nobody may be signed in, and
/// then without the script, which only refreshes signed-in pages) and its body.
fn document(title: &str, header: Option<Markup>, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · journeyd" }
                    link rel="stylesheet" href=(assets::STYLESHEET);
                    @if header.is_some() { script src=(assets::SCRIPT) defer {} }
                }
                body {
                    @if let Some(header) = header { (header) }
                    main {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

pub(super) async fn not_found() -> Response {
    ConsoleError::NotFound("There is no such page in the console.".to_owned()).into_response()
}

/// What keeps a console page from being shown.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConsoleError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the database did not answer: {0}")]
    Database(#[from] StoreError),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
            Self::Database(err) => {
                tracing::warn!(error = %err, "a console page could not be read");
                (StatusCode::SERVICE_UNAVAILABLE, "Database unavailable")
            }
        };
        let body = html! {
            p.problem { (self.to_string()) }
            p { a href="/console/" { "Back to the overview" } }
        };
        (status, document(title, None, body)).into_response()
    }
}
