//! Personal data: journeyd keeps of an answer only what `data.keep` asks for, clears it after
//! `retention.data_after`, forgets journeys on request, and never writes any of it to a log or
//! an error. The simulator's answers carry a fictional customer (`PERSONAL_DATA`) to look for.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::api::{Api, READ_TOKEN, WRITE_TOKEN, tokens_file};
use common::daemon::{Daemon, STOPPED, count, simulator, wait_for_count};
use common::{Backend, Harness, TestDb, journeyd};
use journeyd::clock::Clock;
use journeyd::housekeeping;
use journeyd::journey::ApiVersion;
use journeyd::policy::{DataKeep, KeepNamed};
use journeyd::simulator::{Fault, PERSONAL_DATA, Script, SimulatorConfig};
use journeyd::storage::Retention;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Fails naming the value if `text` (`what`) holds any of the customer's personal data.
fn assert_nothing_personal(what: &str, text: &str) {
    for value in PERSONAL_DATA {
        assert!(!text.contains(value), "{what} holds {value:?}");
    }
}

/// The SQLite database's files as bytes, the WAL's included: what a copy of them would give away.
fn sqlite_bytes(db: &TestDb) -> String {
    let mut bytes = std::fs::read(&db.path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", db.path.display())) {
        bytes.extend(wal);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Every answer that can carry the customer's data, on both API versions, through a daemon that
/// logs everything at trace level: none of it in the log, the errors or the database.
async fn nothing_personal_reaches_the_logs_the_errors_or_the_database(backend: Backend) {
    let db = TestDb::on(backend).await;
    let sim = simulator().await;
    let faults = [
        Fault::MistypedPersonalData,
        Fault::Status(500),
        Fault::Status(404),
        Fault::Malformed,
    ];
    let mut ids = Vec::new();
    for version in ApiVersion::ALL {
        let id = format!("personal{version}journey01");
        sim.add_journey_on(
            &id,
            version,
            Script::polls(&[("InProgress", 1), ("Completed", 0)]),
        );
        for fault in &faults {
            sim.inject(&id, fault.clone());
        }
        let (enqueued, printed) =
            journeyd(&db, &["enqueue", "--api-version", version.as_str(), &id]);
        assert!(enqueued, "{printed}");
        ids.push(id);
    }
    let daemon = Daemon::start_with(&db, &sim, 1, &[("JOURNEYD_LOG__LEVEL", "trace")]);
    let pool = db.outside().await;
    wait_for_count(&pool, STOPPED, 2).await;
    for id in &ids {
        daemon.journey_event("journey_completed", id).await;
    }

    let failures: Vec<Value> = daemon
        .events()
        .into_iter()
        .filter(|event| event["event"] == "journey_poll_failed")
        .collect();
    assert_eq!(failures.len(), 2 * faults.len(), "every fault was met");
    for failure in &failures {
        assert_nothing_personal("a journey_poll_failed event", &failure.to_string());
    }
    let malformed = failures
        .iter()
        .filter(|failure| failure["class"] == "malformed")
        .count();
    assert_eq!(malformed, 4, "the mistyped answers were read and refused");
    assert!(
        daemon.log_text().lines().count() > 100,
        "trace level logs a lot"
    );
    assert_nothing_personal("the log", &daemon.log_text());

    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT instance_id, data, last_error FROM journeys")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (id, data, last_error) in rows {
        assert_eq!(data, None, "{id}: data.keep is \"none\" by default");
        assert_nothing_personal(&id, &last_error.unwrap_or_default());
    }
    if backend == Backend::Sqlite {
        pool.close().await;
        assert_nothing_personal("the database file", &sqlite_bytes(&db));
    }
}

/// The database, its WAL, its shared memory and its lock file are created for the service's
/// user alone, even under a umask that would let everyone read them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_files_are_the_services_alone_whatever_the_umask() {
    let db = TestDb::new();
    let sim = simulator().await;
    sim.add_journey("privatefiles01", Script::polls(&[("InProgress", 0)]));
    let daemon = Daemon::start_with_umask(&db, &sim, 1, &[], 0);
    daemon.event("http_listening").await;
    let pool = db.outside().await;
    common::daemon::enqueue(&db, &["privatefiles01"]);
    wait_for_count(&pool, "SELECT polls FROM journey_schedule", 1).await;

    for suffix in ["", "-wal", "-shm", ".lock"] {
        let file = format!("{}{suffix}", db.path.display());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
}

/// `journeyd forget` while the journey's poll is in flight, and `POST /v1/journeys/forget`:
/// nothing of either journey is left, and the poll's result does not bring one back.
async fn forgotten_journeys_leave_nothing_behind(backend: Backend) {
    let db = TestDb::on(backend).await;
    let sim = simulator().await;
    let (in_flight, over_api) = ("forgetinflight01", "forgetoverapi001");
    // One still polled, one finished: both can be forgotten.
    sim.add_journey(in_flight, Script::polls(&[("InProgress", 0)]));
    sim.add_journey(
        over_api,
        Script::polls(&[("InProgress", 1), ("Completed", 0)]),
    );
    let env = [tokens_file(&db), ("JOURNEYD_DATA__KEEP", "all")];
    let daemon = Daemon::start_with(&db, &sim, 1, &env);
    let api = Api::of(&daemon).await;
    let pool = db.outside().await;
    api.enqueue(json!({"instanceIds": [in_flight, over_api]}))
        .await;
    daemon
        .journey_event("journey_status_changed", in_flight)
        .await;
    daemon.journey_event("journey_completed", over_api).await;

    // The next answer comes late: forget the journey while its poll waits for it.
    let fetched = sim.fetches(in_flight).len();
    sim.inject(in_flight, Fault::Slow(Duration::from_secs(2)));
    let deadline = std::time::Instant::now() + common::daemon::DEADLINE;
    while sim.fetches(in_flight).len() == fetched {
        assert!(
            std::time::Instant::now() < deadline,
            "no poll in flight: {}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (forgot, printed) = journeyd(&db, &["forget", in_flight, "neverenqueued01"]);
    assert!(!forgot, "an unknown ID is reported: {printed}");
    assert!(
        printed.contains(&format!("{in_flight}: forgotten")),
        "{printed}"
    );
    assert!(
        printed.contains("not tracked: neverenqueued01"),
        "{printed}"
    );
    daemon
        .journey_event("journey_result_discarded", in_flight)
        .await;

    // Over the API: a write token only; unknown IDs listed, the others forgotten.
    let forget = |token, ids: &[&str]| {
        api.request(reqwest::Method::POST, "/journeys/forget", Some(token))
            .json(&json!({"instanceIds": ids}))
    };
    let (status, _) = api.send(forget(READ_TOKEN, &[over_api]), "Problem").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.send(forget(WRITE_TOKEN, &[]), "Problem").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = api
        .send(
            forget(WRITE_TOKEN, &[over_api, "neverenqueued01", over_api]),
            "ForgetResult",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"forgotten": [over_api], "unknown": ["neverenqueued01"]})
    );
    let (status, _) = api.get(&format!("/journeys/{over_api}"), "Problem").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = api
        .send(forget(WRITE_TOKEN, &[over_api]), "ForgetResult")
        .await;
    assert_eq!(body, json!({"forgotten": [], "unknown": [over_api]}));

    let forgotten = daemon.journey_event("journey_forgotten", over_api).await;
    assert_eq!(forgotten["by"], r#"the HTTP API's caller "backoffice""#);
    assert_eq!(count(&pool, "SELECT count(*) FROM journeys").await, 0);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM journey_transitions").await,
        0
    );
}

on_both_backends!(
    multi_thread: nothing_personal_reaches_the_logs_the_errors_or_the_database,
    forgotten_journeys_leave_nothing_behind,
);

/// Polls `id` on `version` to its end under `keep`; returns what its row kept.
async fn kept(keep: DataKeep, version: ApiVersion) -> Option<Value> {
    let h = Harness::with(|config| config.data.keep = keep, SimulatorConfig::default()).await;
    let id = "keptjourney0001";
    h.sim.add_journey_on(
        id,
        version,
        Script::polls(&[("InProgress", 1), ("Completed", 0)]),
    );
    h.enqueue_as(&[id], Some(version)).await;
    h.poll_until_stopped(id).await;
    h.row(id)
        .await
        .data
        .map(|data| serde_json::from_str(&data).unwrap())
}

#[tokio::test]
async fn data_keep_keeps_nothing_everything_or_the_parts_it_names() {
    for version in ApiVersion::ALL {
        assert_eq!(kept(DataKeep::default(), version).await, None);
        let all = kept(DataKeep::Named(KeepNamed::All), version)
            .await
            .unwrap();
        assert!(all.to_string().contains("Simtestwood"), "{all}");
    }
    let v1_decision = DataKeep::Pointers(vec!["/process/flow/sim-variant/outcome".into()]);
    assert_eq!(
        kept(v1_decision, ApiVersion::V1).await,
        Some(json!({"process": {"flow": {"sim-variant": {"outcome": "completed"}}}}))
    );
    let v2_results = DataKeep::Pointers(vec![
        "/result/status".into(),
        "/process/steps/0/result/outcome".into(),
        "/subject/nothing-there".into(),
    ]);
    assert_eq!(
        kept(v2_results, ApiVersion::V2).await,
        Some(json!({
            "result": {"status": "completed"},
            "process": {"steps": [{"result": {"outcome": "Match"}}]},
        }))
    );
}

/// `retention.data_after` clears the data of journeys that stopped long enough ago, and only
/// theirs; the rows and their history stay until `retention.finished_after`.
async fn kept_data_is_cleared_after_data_after(backend: Backend) {
    let h = Harness::on_with(
        backend,
        |config| config.data.keep = DataKeep::Named(KeepNamed::All),
        SimulatorConfig::default(),
    )
    .await;
    h.sim
        .add_journey("endedearly00001", Script::polls(&[("Completed", 0)]));
    h.enqueue(&["endedearly00001"]).await;
    h.poll_until_stopped("endedearly00001").await;
    h.clock.advance(Duration::from_secs(10 * 86_400));
    h.sim
        .add_journey("endedlater00001", Script::polls(&[("Completed", 0)]));
    h.sim
        .add_journey("stillgoing00001", Script::polls(&[("InProgress", 0)]));
    h.enqueue(&["endedlater00001", "stillgoing00001"]).await;
    h.poll_until_stopped("endedlater00001").await;

    let cutoff = journeyd::clock::sub(h.clock.now(), Duration::from_secs(5 * 86_400));
    let cleared = housekeeping::apply_retention(h.store.as_ref(), Retention::ClearData, cutoff)
        .await
        .unwrap();

    assert_eq!(cleared, 1);
    let early = h.row("endedearly00001").await;
    assert_eq!(early.data, None);
    assert_eq!(early.status.as_deref(), Some("Completed"), "the row stays");
    assert_eq!(h.transitions("endedearly00001").await.len(), 1);
    assert!(h.row("endedlater00001").await.data.is_some());
    assert!(h.row("stillgoing00001").await.data.is_some());
    let again = housekeeping::apply_retention(h.store.as_ref(), Retention::ClearData, cutoff)
        .await
        .unwrap();
    assert_eq!(again, 0, "nothing left to clear");
}

on_both_backends!(kept_data_is_cleared_after_data_after);

/// SQLite keeps deleted content in free pages and old WAL frames until they are overwritten;
/// journeyd overwrites it (`secure_delete`) and checkpoints the WAL, whether a journey is
/// forgotten or only its data cleared.
#[tokio::test]
async fn forgotten_or_cleared_data_is_not_left_readable_in_the_sqlite_files() {
    let h = Harness::with(
        |config| config.data.keep = DataKeep::Named(KeepNamed::All),
        SimulatorConfig::default(),
    )
    .await;
    let (forgotten, cleared) = ("forgetmenot0001", "clearmydata0001");
    for id in [forgotten, cleared] {
        h.sim
            .add_journey_on(id, ApiVersion::V2, Script::polls(&[("Completed", 0)]));
    }
    h.enqueue_as(&[forgotten, cleared], Some(ApiVersion::V2))
        .await;
    for id in [forgotten, cleared] {
        h.poll_until_stopped(id).await;
    }
    h.store.maintain().await.unwrap();
    assert!(
        sqlite_bytes(&h.db).contains("Simtestwood"),
        "the kept data is in the file: what this test looks for can be seen"
    );

    let outcome = h.store.forget(&[forgotten]).await.unwrap();
    assert_eq!(outcome.forgotten, [forgotten]);
    h.clock.advance(Duration::from_secs(60));
    housekeeping::apply_retention(h.store.as_ref(), Retention::ClearData, h.clock.now())
        .await
        .unwrap();
    h.store.maintain().await.unwrap();

    let bytes = sqlite_bytes(&h.db);
    assert!(!bytes.contains(forgotten), "the forgotten ID is gone");
    assert!(bytes.contains(cleared), "the other row stays");
    assert_nothing_personal("the database files", &bytes);
}
