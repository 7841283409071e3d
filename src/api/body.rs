//! Answers read with a size limit, enforced while reading.
//!
//! A body is never buffered whole and then measured: a `Content-Length` over the limit is
//! refused before a byte is read, and a body without one (chunked, or an endless stream) is
//! abandoned as soon as what has arrived passes the limit. Dropping the response then closes the
//! connection, so the rest is never read.

use reqwest::Response;

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It is longer than the limit.
    TooLarge,
    /// The connection failed while reading it.
    Transport(reqwest::Error),
}

/// Reads `response`'s body, if it is at most `limit` bytes long.
pub(crate) async fn read_limited(
    mut response: Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let announced = response.content_length();
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    // Trust a length only as far as the limit: the server may not keep its word.
    let mut body = Vec::with_capacity(announced.map_or(0, |length| length as usize));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
