//! A webhook receiver on a local port, as an application would run one: it records every
//! request and answers as the test tells it, and checks signatures with an implementation
//! independent of journeyd's (the `standardwebhooks` crate).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;

use super::daemon::DEADLINE;

/// The secret the receivers of these tests share with journeyd.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub json: Value,
    pub at: Instant,
}

impl Received {
    pub fn event_type(&self) -> &str {
        self.json["type"].as_str().unwrap_or_default()
    }

    pub fn instance_id(&self) -> &str {
        self.json["data"]["instanceId"].as_str().unwrap_or_default()
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// A status with a `Retry-After` of this many seconds.
    RetryAfter(u16, u64),
    /// 302 Found, to this location.
    Redirect(String),
    /// Never answers.
    Hang,
}

#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<Received>>,
    /// Answers for the next requests, in order; then `Status(204)`.
    next: Mutex<VecDeque<Answer>>,
}

pub struct Receiver {
    pub url: String,
    inbox: Arc<Inbox>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// A receiver on `listener` (a port chosen earlier: a receiver that comes back).
    pub fn start_on(listener: TcpListener) -> Self {
        let url = format!("http://{}/hooks/journeyd", listener.local_addr().unwrap());
        let inbox = Arc::new(Inbox::default());
        let app = Router::new().fallback(receive).with_state(inbox.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, inbox, server }
    }

    /// Answers the next requests so, in order.
    pub fn answer_next(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inbox.next.lock().unwrap().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().unwrap().clone()
    }

    /// Waits until what arrived satisfies `done`; returns it.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "waited in vain for {what}; received: {:#?}",
                received.iter().map(|r| &r.json).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops listening: the port refuses connections.
    pub fn stop(self) {
        self.server.abort();
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    inbox.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body: body.to_vec(),
        at: Instant::now(),
    });
    let answer = inbox
        .next
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Status(204));
    match answer {
        Answer::Status(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Answer::RetryAfter(status, seconds) => (
            StatusCode::from_u16(status).unwrap(),
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
        Answer::Redirect(location) => (StatusCode::FOUND, [("location", location)]).into_response(),
        Answer::Hang => std::future::pending().await,
    }
}

/// Checks `received`'s signature with `secret`, as a receiver would.
pub fn verify(received: &Received, secret: &str) -> Result<(), String> {
    let webhook = standardwebhooks::Webhook::new(secret).map_err(|err| err.to_string())?;
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("webhook-id", received.id.parse().unwrap());
    headers.insert("webhook-timestamp", received.timestamp.parse().unwrap());
    headers.insert("webhook-signature", received.signature.parse().unwrap());
    webhook
        .verify(&received.body, &headers)
        .map_err(|err| err.to_string())
}
