//! The HTTP API of a spawned daemon, as an application calls it: bearer tokens, and every answer
//! checked against `docs/openapi.json`.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use super::TestDb;
use super::daemon::Daemon;
use super::openapi::Spec;

pub const WRITE_TOKEN: &str = "w-Yk2f9QzT4u7LmN1pA8sX3v";
pub const READ_TOKEN: &str = "r-Qw3e4r5t6y7u8i9o0p1aZz";

/// Writes the tokens file into the test's directory; returns the setting that names it.
pub fn tokens_file(db: &TestDb) -> (&'static str, &'static str) {
    std::fs::write(
        db.dir.path().join("tokens"),
        format!(
            "# the application and the wallboard\n\
             backoffice write {WRITE_TOKEN}\n\
             wallboard  read  {READ_TOKEN}\n"
        ),
    )
    .unwrap();
    ("JOURNEYD_HTTP__TOKENS_FILE", "tokens")
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub spec: Spec,
}

impl Api {
    pub async fn of(daemon: &Daemon) -> Self {
        Self {
            base: format!("http://{}/v1", daemon.address().await),
            http: reqwest::Client::new(),
            spec: Spec::read(Path::new("docs/openapi.json")),
        }
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request`; returns the status and the JSON body, checked against `schema`.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        schema: &str,
    ) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body: Value = response.json().await.unwrap();
        let schema = if status.is_success() {
            schema
        } else {
            "Problem"
        };
        if schema == "Problem" {
            assert_eq!(content_type, "application/problem+json", "{body}");
            assert_eq!(body["status"], status.as_u16(), "{body}");
        }
        let violations = self.spec.violations(&body, self.spec.schema(schema));
        assert!(violations.is_empty(), "{schema}: {violations:#?}\n{body:#}");
        (status, body)
    }

    pub async fn enqueue(&self, body: Value) -> (StatusCode, Value) {
        let request = self
            .request(reqwest::Method::POST, "/journeys", Some(WRITE_TOKEN))
            .json(&body);
        self.send(request, "EnqueueResult").await
    }

    pub async fn get(&self, path: &str, schema: &str) -> (StatusCode, Value) {
        self.send(
            self.request(reqwest::Method::GET, path, Some(READ_TOKEN)),
            schema,
        )
        .await
    }
}
