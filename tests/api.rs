//! The `/v1` HTTP API of the real `journeyd run`, on SQLite and PostgreSQL: every route, every
//! error status, tokens right, wrong by one character, missing and of the wrong scope, and every
//! answer checked against `docs/openapi.json`.

mod common;

use std::path::Path;
use std::process::Command;

use common::api::{Api, READ_TOKEN, WRITE_TOKEN, tokens_file};
use common::daemon::{Daemon, STOPPED, count, simulator, wait_for_count};
use common::{Backend, TestDb, binary};
use journeyd::simulator::Script;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn every_route_answers_as_documented(backend: Backend) {
    let db = TestDb::on(backend).await;
    let sim = simulator().await;
    let ids = ["apijourney0001", "apijourney0002", "apijourney0003"];
    for id in ids {
        sim.add_journey(id, Script::polls(&[("InProgress", 1), ("Completed", 0)]));
    }
    sim.add_journey("apijourney0004", Script::polls(&[("InProgress", 0)]));
    let daemon = Daemon::start_with(&db, &sim, 1, &[tokens_file(&db)]);
    let api = Api::of(&daemon).await;
    let pool = db.outside().await;

    // Enqueue: new ones, then a mix; the answer says which is which.
    let (status, body) = api.enqueue(json!({"instanceIds": ids})).await;
    assert_eq!((status, &body["added"]), (StatusCode::OK, &json!(ids)));
    let (_, body) = api
        .enqueue(json!({"instanceIds": ["apijourney0001", "apijourney0004"], "apiVersion": "v1"}))
        .await;
    assert_eq!(
        body,
        json!({"added": ["apijourney0004"], "alreadyTracked": ["apijourney0001"]})
    );

    // Invalid IDs: each named, nothing written.
    let (status, body) = api
        .enqueue(json!({"instanceIds": ["apijourney0005", "bad id", "x".repeat(65)]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let invalid = body["invalidIds"].as_array().unwrap();
    assert_eq!(invalid.len(), 2, "{body}");
    assert_eq!(invalid[0]["instanceId"], "bad id");
    assert!(
        invalid[0]["problem"]
            .as_str()
            .unwrap()
            .contains("whitespace")
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM journeys").await, 4);

    // Bodies the API cannot take, each with its status.
    let post = || api.request(reqwest::Method::POST, "/journeys", Some(WRITE_TOKEN));
    let cases = [
        (
            post().body("{\"instanceIds\": [\"a1234567\"]}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            post()
                .header("content-type", "application/json")
                .body("{\"instanceIds\": ["),
            StatusCode::BAD_REQUEST,
        ),
        (
            post().json(&json!({"ids": ["a1234567"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post().json(&json!({"instanceIds": []})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post().json(&json!({"instanceIds": vec!["abcdefgh"; 10_001]})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post().json(&json!({"instanceIds": vec!["x".repeat(60); 20_000]})),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (request, expected) in cases {
        let (status, body) = api.send(request, "Problem").await;
        assert_eq!(status, expected, "{body}");
    }

    // Read: one journey with its transitions, once it ended; an unknown one is 404.
    wait_for_count(&pool, STOPPED, 3).await;
    let (status, body) = api
        .get("/journeys/apijourney0001", "JourneyWithTransitions")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["journey"]["status"], "Completed");
    assert_eq!(body["transitions"].as_array().unwrap().len(), 2);
    let (status, _) = api.get("/journeys/neverenqueued01", "Problem").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // List: pages by cursor, newest first, each journey once; filters; bad parameters.
    let mut seen = Vec::new();
    let mut path = "/journeys?limit=3".to_owned();
    loop {
        let (status, page) = api.get(&path, "JourneyPage").await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(
            page["journeys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["instance_id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/journeys?limit=3&after={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "apijourney0004",
            "apijourney0003",
            "apijourney0002",
            "apijourney0001"
        ]
    );
    let (_, active) = api.get("/journeys?active=true", "JourneyPage").await;
    assert_eq!(active["journeys"].as_array().unwrap().len(), 1);
    let (_, completed) = api
        .get("/journeys?status=COMPLETED&stopped=true", "JourneyPage")
        .await;
    assert_eq!(completed["journeys"].as_array().unwrap().len(), 3);
    for bad in [
        "/journeys?limit=0",
        "/journeys?limit=many",
        "/journeys?active=yes",
        "/journeys?active=true&stopped=true",
        "/journeys?after=not-a-cursor",
        "/journeys?colour=blue",
    ] {
        let (status, body) = api.get(bad, "Problem").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // Stop: a write token stops a journey once; the row stays, stopped as abandoned.
    let delete = |token| {
        api.request(
            reqwest::Method::DELETE,
            "/journeys/apijourney0004",
            Some(token),
        )
    };
    let (status, _) = api.send(delete(READ_TOKEN), "Problem").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = api.send(delete(WRITE_TOKEN), "StopResult").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"instanceId": "apijourney0004", "stopped": true, "stopReason": "abandoned"})
    );
    let (_, body) = api.send(delete(WRITE_TOKEN), "StopResult").await;
    assert_eq!(body["stopped"], false);
    let (_, body) = api
        .get("/journeys/apijourney0004", "JourneyWithTransitions")
        .await;
    assert_eq!(body["journey"]["stop_reason"], "abandoned");
    assert_eq!(body["journey"]["next_poll_at"], Value::Null);
    let unknown = api.request(
        reqwest::Method::DELETE,
        "/journeys/neverenqueued01",
        Some(WRITE_TOKEN),
    );
    assert_eq!(api.send(unknown, "Problem").await.0, StatusCode::NOT_FOUND);
    daemon
        .journey_event("journey_stopped", "apijourney0004")
        .await;

    // Tokens: none, wrong by one character, read on a write route.
    let (status, _) = api
        .send(
            api.request(reqwest::Method::GET, "/journeys", None),
            "Problem",
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut off_by_one = READ_TOKEN.to_owned();
    off_by_one.pop();
    off_by_one.push('Y');
    let response = api
        .request(reqwest::Method::GET, "/journeys", Some(&off_by_one))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let read_enqueue = api
        .request(reqwest::Method::POST, "/journeys", Some(READ_TOKEN))
        .json(&json!({"instanceIds": ["apijourney0009"]}));
    assert_eq!(
        api.send(read_enqueue, "Problem").await.0,
        StatusCode::FORBIDDEN
    );

    // Anything else: 405 and 404 in the same shape; the document is served as it is.
    let put = api.request(reqwest::Method::PUT, "/journeys", Some(WRITE_TOKEN));
    assert_eq!(
        api.send(put, "Problem").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        api.get("/nothing/here", "Problem").await.0,
        StatusCode::NOT_FOUND
    );
    let document: Value = api
        .request(reqwest::Method::GET, "/openapi.json", None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document, api.spec.document);

    let log = daemon.log_text();
    for token in [WRITE_TOKEN, READ_TOKEN, off_by_one.as_str()] {
        assert!(!log.contains(token), "a token in the log");
    }
    assert!(daemon.count_events("journeys_enqueued") >= 2);
}

on_both_backends!(multi_thread: every_route_answers_as_documented);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_the_api_is_off() {
    let db = TestDb::new();
    let sim = simulator().await;
    let daemon = Daemon::start(&db, &sim, 1);
    daemon.event("http_api_off").await;
    let (status, body) = daemon.get("/v1/journeys").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(daemon.get("/healthz").await.0, 200);
}

/// `journeyd run` with `env`, expected to refuse to start: its exit status and message.
fn refused(db: &TestDb, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(binary())
        .args(["run"])
        .current_dir(db.dir.path())
        .env("JOURNEYD_DATABASE__URL", &db.url)
        .env("JOURNEYD_API__REGION", "eu")
        .env("JOURNEYD_AUTH__CLIENT_ID", "id")
        .env("JOURNEYD_AUTH__CLIENT_SECRET", "secret")
        .env("JOURNEYD_AUTH__USERNAME", "user")
        .env("JOURNEYD_AUTH__PASSWORD", "password")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_malformed_tokens_file_stops_run_naming_the_line_not_the_token() {
    let db = TestDb::new();
    std::fs::write(
        db.dir.path().join("tokens"),
        format!("backoffice write {WRITE_TOKEN}\nwallboard admin {READ_TOKEN}\n"),
    )
    .unwrap();
    let (code, message) = refused(&db, &[("JOURNEYD_HTTP__TOKENS_FILE", "tokens")]);
    assert_eq!(code, Some(2), "{message}");
    assert!(
        message.contains("`http.tokens_file`") && message.contains("line 2"),
        "{message}"
    );
    assert!(
        !message.contains(READ_TOKEN) && !message.contains(WRITE_TOKEN),
        "{message}"
    );
    assert!(!db.path.exists(), "refused before the database was touched");
}

#[test]
fn tokens_off_loopback_need_tls_or_an_explicit_plaintext() {
    let db = TestDb::new();
    tokens_file(&db);
    let env = [
        ("JOURNEYD_HTTP__TOKENS_FILE", "tokens"),
        ("JOURNEYD_HTTP__LISTEN", "0.0.0.0:0"),
    ];
    let (code, message) = refused(&db, &env);
    assert_eq!(code, Some(2), "{message}");
    for key in [
        "http.tls_cert_file",
        "http.tls_key_file",
        "http.allow_plaintext",
    ] {
        assert!(message.contains(key), "{key} not named: {message}");
    }
    let (code, message) = refused(
        &db,
        &[("JOURNEYD_HTTP__TLS_CERT_FILE", "cert.pem"), env[0], env[1]],
    );
    assert_eq!(code, Some(2));
    assert!(
        message.contains("`http.tls_key_file` must be set"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_everything_is_served_encrypted() {
    let db = TestDb::new();
    let sim = simulator().await;
    let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    let daemon = Daemon::start_with(
        &db,
        &sim,
        1,
        &[
            tokens_file(&db),
            ("JOURNEYD_HTTP__TLS_CERT_FILE", cert.to_str().unwrap()),
            ("JOURNEYD_HTTP__TLS_KEY_FILE", key.to_str().unwrap()),
        ],
    );
    let event = daemon.event("http_listening").await;
    assert_eq!(event["tls"], true);
    let port = daemon
        .address()
        .await
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls.join("ca.pem")).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let health = https
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let listed = https
        .get(format!("https://localhost:{port}/v1/journeys"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let plain = reqwest::get(format!("http://localhost:{port}/healthz")).await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "no plain HTTP on a TLS listener"
    );
}
