//! The console's style sheet and script, embedded in the binary: no CDN, works offline.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::layout::ConsoleError;

pub(super) const STYLESHEET: &str = "/console/assets/console.css";
pub(super) const SCRIPT: &str = "/console/assets/console.js";

const FILES: [(&str, &str, &str); 2] = [
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    ),
];

pub(super) async fn serve(Path(name): Path<String>) -> Result<Response, ConsoleError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no asset {name:?}.")))?;
    // An hour: they change only with the binary, and a restart is rarely closer than that.
    let headers = [
        (header::CONTENT_TYPE, *content_type),
        (header::CACHE_CONTROL, "public, max-age=3600"),
    ];
    Ok((headers, *body).into_response())
}
