//! The operator console of the real `journeyd run`: guarded by the API's tokens, read-only
//! whatever the route, with strict headers; its pages read the same on SQLite and PostgreSQL;
//! and, in a real headless Chromium, a support person signs in, finds a journey, watches it
//! move along without reloading, and finds a stuck one.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::api::{READ_TOKEN, WRITE_TOKEN, tokens_file};
use common::browser::Browser;
use common::daemon::{Daemon, simulator};
use common::{Backend, TestDb};
use fantoccini::Locator;
use journeyd::clock::{Clock, ManualClock, SystemClock};
use journeyd::simulator::{Script, Simulator, SimulatorConfig};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

/// Stuck after a second on hold, checked every second: the stuck list fills within the test.
const STUCK_CONFIG: &str = r#"
[stuck]
check_interval = "1s"
[stuck.status_after]
OnHold = "1s"
"#;

/// `method path` on the console, with `auth` applied to the request.
async fn call(
    address: &str,
    method: Method,
    path: &str,
    auth: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    auth(client.request(method, format!("http://{address}{path}")))
        .send()
        .await
        .unwrap()
}

fn as_wallboard(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.basic_auth("wallboard", Some(READ_TOKEN))
}

async fn page(address: &str, path: &str) -> String {
    let response = call(address, Method::GET, path, as_wallboard).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.text().await.unwrap()
}

async fn pages_are_guarded_read_only_and_complete(backend: Backend) {
    let db = TestDb::on(backend).await;
    let sim = simulator().await;
    let ids: Vec<String> = (0..60).map(|n| format!("pagejourney-{n:03}")).collect();
    for id in &ids {
        sim.add_journey(id, Script::polls(&[("InProgress", 1), ("Completed", 0)]));
    }
    sim.add_journey("held-0001", Script::polls(&[("OnHold", 1_000_000)]));
    let daemon = Daemon::start_with_config(&db, &sim, 1, &[tokens_file(&db)], STUCK_CONFIG);
    let address = daemon.address().await;
    let mut all = ids.clone();
    all.push("held-0001".into());
    let enqueued = call(&address, Method::POST, "/v1/journeys", |r| {
        r.bearer_auth(WRITE_TOKEN)
            .json(&json!({"instanceIds": all}))
    })
    .await;
    assert_eq!(enqueued.status(), StatusCode::OK);
    daemon.journey_event("journey_stuck", "held-0001").await;
    for id in &ids {
        daemon.journey_event("journey_completed", id).await;
    }

    // Refused without a valid token, with a challenge a browser answers by asking.
    let refusals = [
        call(&address, Method::GET, "/console/", |r| r).await,
        call(&address, Method::GET, "/console/", |r| {
            r.basic_auth("backoffice", Some(READ_TOKEN))
        })
        .await,
        call(&address, Method::GET, "/console/stuck", |r| {
            r.basic_auth("wallboard", Some("r-Qw3e4r5t6y7u8i9o0p1aZZ"))
        })
        .await,
    ];
    for response in refusals {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = &response.headers()[header::WWW_AUTHENTICATE];
        assert!(challenge.to_str().unwrap().starts_with("Basic realm="));
        assert!(response.text().await.unwrap().contains("Sign in"));
    }

    // Signed in (Basic, or a bearer token): strict headers on every page.
    let bearer = call(&address, Method::GET, "/console/", |r| {
        r.bearer_auth(WRITE_TOKEN)
    })
    .await;
    assert_eq!(bearer.status(), StatusCode::OK);
    let overview = call(&address, Method::GET, "/console/", as_wallboard).await;
    let headers = overview.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let overview = overview.text().await.unwrap();
    assert!(overview.contains("signed in as <strong>wallboard</strong>"));
    assert!(
        !overview.contains("<script>") && !overview.contains("style="),
        "nothing inline"
    );
    for figure in [
        "Active",
        "Ended",
        "Stuck",
        "Errors in the last hour",
        "Polls since start",
    ] {
        assert!(overview.contains(figure), "{figure}");
    }

    // Read-only whatever the route: every other method is 405, signed in or not, known
    // route or not.
    for (method, path) in [
        (Method::POST, "/console/"),
        (Method::PUT, "/console/journeys"),
        (Method::DELETE, "/console/journeys/held-0001"),
        (Method::PATCH, "/console/no-such-page"),
        (Method::POST, "/console/assets/console.js"),
    ] {
        let response = call(&address, method.clone(), path, as_wallboard).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
        let anonymous = call(&address, method.clone(), path, |r| r).await;
        assert_eq!(anonymous.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let head = call(&address, Method::HEAD, "/console/stuck", as_wallboard).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.text().await.unwrap().is_empty());
    let bare = call(&address, Method::GET, "/console", |r| r).await;
    assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.headers()[header::LOCATION], "/console/");

    // Assets need no token and are embedded; unknown pages are 404.
    let script = call(&address, Method::GET, "/console/assets/console.js", |r| r).await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.text().await.unwrap().contains("data-refresh"));
    for path in [
        "/console/no-such-page",
        "/console/journeys/not-tracked-0001",
    ] {
        let response = call(&address, Method::GET, path, as_wallboard).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }

    // Search by prefix, a page at a time, and the list filters.
    let first = page(&address, "/console/journeys?q=pagejourney-").await;
    assert_eq!(
        first
            .matches("href=\"/console/journeys/pagejourney-")
            .count(),
        50
    );
    let next = first
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next page")
        .replace("&amp;", "&");
    let second = page(&address, &next).await;
    assert_eq!(
        second
            .matches("href=\"/console/journeys/pagejourney-")
            .count(),
        10
    );
    assert!(second.contains("pagejourney-059") && !second.contains("next-page"));
    let exact = page(&address, "/console/journeys?q=pagejourney-007").await;
    assert!(exact.contains("(exact)"));
    let stuck = page(&address, "/console/journeys?stuck=on&state=active").await;
    assert!(stuck.contains("held-0001") && !stuck.contains("pagejourney-"));
    let completed = page(&address, "/console/journeys?status=completed").await;
    assert_eq!(
        completed
            .matches("href=\"/console/journeys/pagejourney-")
            .count(),
        50
    );
    assert!(completed.contains("id=\"next-page\""));
    let too_long = call(
        &address,
        Method::GET,
        &format!("/console/journeys?q={}", "x".repeat(65)),
        as_wallboard,
    )
    .await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);

    // A journey's page: its timeline with times in each status; the stuck list.
    let journey = page(&address, "/console/journeys/pagejourney-003").await;
    for text in [
        "InProgress",
        "Completed",
        "Time in status",
        "stopped (terminal)",
    ] {
        assert!(journey.contains(text), "{text}");
    }
    let held = page(&address, "/console/journeys/held-0001").await;
    assert!(held.contains("stuck-mark") && held.contains("stuck.status"));
    let stuck_list = page(&address, "/console/stuck").await;
    assert!(stuck_list.contains("held-0001") && stuck_list.contains("1 stuck"));
}

#[tokio::test]
async fn pages_are_guarded_read_only_and_complete_on_sqlite() {
    pages_are_guarded_read_only_and_complete(Backend::Sqlite).await;
}

#[tokio::test]
async fn pages_are_guarded_read_only_and_complete_on_postgres() {
    pages_are_guarded_read_only_and_complete(Backend::Postgres).await;
}

#[tokio::test]
async fn without_tokens_there_is_no_console() {
    let db = TestDb::new();
    let sim = simulator().await;
    let daemon = Daemon::start(&db, &sim, 1);
    let (status, _) = daemon.get("/console/").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_support_person_follows_a_journey_in_a_real_browser() {
    let db = TestDb::new();
    // The fake GBG GO's time moves only when the test says: the journey stays in a status
    // until the test moves it along, however slow the browser is to start.
    let gbg_clock = ManualClock::new(SystemClock.now());
    let sim = Simulator::start(
        SimulatorConfig {
            token_lifetime: Duration::from_secs(3_600),
            ..SimulatorConfig::default()
        },
        Arc::new(gbg_clock.clone()),
    )
    .await
    .unwrap();
    let moving = "consolemove-7f3a";
    let step = Duration::from_secs(60);
    sim.add_journey(
        moving,
        Script::timed(&[
            ("InProgress", step),
            ("Referred", step),
            ("Completed", Duration::ZERO),
        ]),
    );
    let held = "consoleheld-2b9c";
    sim.add_journey(held, Script::polls(&[("OnHold", 1_000_000)]));
    let daemon = Daemon::start_with_config(&db, &sim, 1, &[tokens_file(&db)], STUCK_CONFIG);
    let address = daemon.address().await;
    let enqueued = call(&address, Method::POST, "/v1/journeys", |r| {
        r.bearer_auth(WRITE_TOKEN)
            .json(&json!({"instanceIds": [moving, held]}))
    })
    .await;
    assert_eq!(enqueued.status(), StatusCode::OK);
    let browser = Browser::start().await;
    let client = &browser.client;

    // No token, or a wrong one: refused. The browser is left asking for credentials, with
    // nothing of the console on the page; the answers it got say 401.
    client
        .goto(&format!("http://{address}/console/"))
        .await
        .unwrap();
    let source = client.source().await.unwrap();
    assert!(!source.contains("figures"), "{source}");
    browser.screenshot("refused").await;
    client
        .goto(&format!("http://{address}/console/assets/console.css"))
        .await
        .unwrap();
    let statuses = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const wrong = 'Basic ' + btoa('wallboard:r-Qw3e4r5t6y7u8i9o0p1aZZ');
             Promise.all([
                 fetch('/console/', {credentials: 'omit'}),
                 fetch('/console/stuck', {credentials: 'omit', headers: {Authorization: wrong}}),
             ]).then((answers) => done(answers.map((answer) => answer.status)));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!([401, 401]));

    // Signed in with the read token: the overview.
    client
        .goto(&format!("http://wallboard:{READ_TOKEN}@{address}/console/"))
        .await
        .unwrap();
    browser
        .wait_for("#figures", |text| text.contains("Polls since start"))
        .await;
    browser
        .wait_for("#api-state", |text| text.contains("healthy"))
        .await;
    browser.screenshot("overview").await;

    // Search by the ID's start from the header, and open the journey.
    let query = client.find(Locator::Css("#find")).await.unwrap();
    query.send_keys("consolemove").await.unwrap();
    browser.click(Locator::Css("#find-button")).await;
    browser
        .wait_for("#results", |text| text.contains(moving))
        .await;
    browser.screenshot("search").await;
    browser.click(Locator::LinkText(moving)).await;
    let first = browser
        .wait_for("#timeline", |text| text.contains("InProgress"))
        .await;
    assert!(!first.contains("Referred"), "{first}");

    // The page follows the journey as GBG GO moves it along, without reloading.
    client
        .execute("window.openedOnce = true;", vec![])
        .await
        .unwrap();
    gbg_clock.advance(step);
    browser
        .wait_for("#timeline", |text| text.contains("Referred"))
        .await;
    browser
        .wait_for("#status", |text| text.contains("Referred"))
        .await;
    gbg_clock.advance(step);
    let last = browser
        .wait_for("#timeline", |text| text.contains("Completed"))
        .await;
    assert!(
        last.contains("InProgress") && last.contains("Referred"),
        "{last}"
    );
    browser
        .wait_for("#status", |text| text.contains("Completed"))
        .await;
    let same_page = client
        .execute("return window.openedOnce === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, json!(true), "refreshed in place, never reloaded");
    browser.screenshot("journey").await;

    // The stuck list names the journey on hold; its page says why.
    client
        .goto(&format!("http://{address}/console/stuck"))
        .await
        .unwrap();
    browser
        .wait_for("#stuck-list", |text| text.contains(held))
        .await;
    browser.screenshot("stuck").await;
    browser.click(Locator::LinkText(held)).await;
    browser
        .wait_for("#stuck", |text| text.contains("stuck.status"))
        .await;
    browser.close().await;
}
