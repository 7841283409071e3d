//! One signed HTTP attempt at a delivery.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use super::endpoint::Endpoint;
use super::signature::signature_header;
use crate::api::{describe_transport_error, parse_retry_after};
use crate::clock::Timestamp;

/// How much of an answer's body is kept with the attempt.
pub const RESPONSE_PREFIX_BYTES: usize = 2 * 1024;

/// The HTTP client deliveries go through. It never follows a redirect: a receiver that moved
/// says so in its configuration, not by bouncing signed events to another address.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("journeyd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(describe_transport_error)
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The answer's status; `None` when no answer came.
    pub status: Option<u16>,
    /// `Retry-After`, on 429 or 503.
    pub retry_after: Option<Duration>,
    pub took: Duration,
    pub error: Option<String>,
    /// The first [`RESPONSE_PREFIX_BYTES`] of the answer's body.
    pub response: Option<String>,
}

/// Posts `body` to `endpoint` as message `message_id`, signed at `now` with each of the
/// endpoint's secrets. An answer counts only if its headers and the start of its body come
/// within the endpoint's timeout.
pub async fn send(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    message_id: &str,
    body: Vec<u8>,
    now: Timestamp,
) -> Sent {
    let timestamp = now.timestamp();
    let signature = signature_header(&endpoint.secrets, message_id, timestamp, &body);
    let request = client
        .post(endpoint.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header("webhook-id", message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body);
    let started = Instant::now();
    let answer = tokio::time::timeout(endpoint.timeout, async {
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, now));
        let mut prefix = Vec::new();
        while prefix.len() < RESPONSE_PREFIX_BYTES {
            match response.chunk().await? {
                Some(chunk) => prefix.extend_from_slice(&chunk),
                None => break,
            }
        }
        prefix.truncate(RESPONSE_PREFIX_BYTES);
        Ok::<_, reqwest::Error>((status, retry_after, prefix))
    })
    .await;
    let took = started.elapsed();
    match answer {
        Ok(Ok((status, retry_after, prefix))) => Sent {
            status: Some(status),
            retry_after: matches!(status, 429 | 503).then_some(retry_after).flatten(),
            took,
            error: (!(200..300).contains(&status)).then(|| format!("answered {status}")),
            response: (!prefix.is_empty()).then(|| String::from_utf8_lossy(&prefix).into_owned()),
        },
        Ok(Err(err)) => Sent {
            status: None,
            retry_after: None,
            took,
            error: Some(describe_transport_error(err)),
            response: None,
        },
        Err(_) => Sent {
            status: None,
            retry_after: None,
            took,
            error: Some(format!(
                "no answer within {}",
                humantime::format_duration(endpoint.timeout)
            )),
            response: None,
        },
    }
}
