//! `journeyd demo`: the real daemon against a simulated GBG GO, on a fresh SQLite file.
//!
//! Six journeys are tracked from start to end in about ten seconds: some complete, one fails,
//! one sits in manual review, one gets two bad answers first, and one is enqueued by a plain SQL
//! `INSERT` from another connection while the daemon runs, the way a back-office system would.
//! It runs on GBG GO API v1 or v2, with the answers in that version's shape.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock, parse_timestamp};
use crate::config::{Config, Grant};
use crate::journey::{ApiVersion, InstanceId};
use crate::simulator::demo_journeys::{SQL_INSERTED, journeys};
use crate::simulator::{Simulator, SimulatorConfig};
use crate::storage::{self, JourneyRow, ListFilter, Store, StoreError};

/// The demo gives up after this long; it normally ends in about ten seconds.
const DEADLINE: Duration = Duration::from_secs(50);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the simulated GBG GO: {0}")]
    Simulator(std::io::Error),
    #[error("cannot create the demo database: {0}")]
    TempDir(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot insert a row by plain SQL: {0}")]
    Insert(sqlx::Error),
    #[error(transparent)]
    Daemon(#[from] crate::daemon::DaemonError),
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
    #[error("the demo did not finish within {0:?}")]
    Timeout(Duration),
}

/// What the demo observed, for the summary and for tests.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub journeys: Vec<JourneyRow>,
    pub transitions: usize,
    pub state_fetches: usize,
    pub token_requests: u64,
    pub rejected_requests: usize,
    pub elapsed: Duration,
}

/// The demo's settings: short intervals so journeys finish in seconds; journeys on `version`,
/// and v1 outcomes read where the simulator puts them.
fn demo_config(database_url: String, version: ApiVersion) -> Config {
    let mut config = Config::default();
    config.database.url = database_url;
    config.api.version = version;
    config.api.v1_outcome_pointer = Some("/process/flow/sim-variant/outcome".into());
    config.http.listen = String::new();
    config.poll.initial_interval = Duration::from_millis(300);
    config.poll.max_interval = Duration::from_secs(2);
    config.poll.multiplier = 1.5;
    config.poll.concurrency = 4;
    config.poll.scan_interval = Duration::from_millis(250);
    config.retry.initial_backoff = Duration::from_millis(400);
    config.retry.max_backoff = Duration::from_secs(2);
    config
}

/// Runs the demo on API `version`, writing a narrative and a summary to `out`. The daemon's own
/// log events go wherever the global subscriber sends them. With `keep`, the database is left at
/// that path.
pub async fn run(
    keep: Option<&Path>,
    version: ApiVersion,
    out: &mut (dyn Write + Send),
) -> Result<DemoSummary, DemoError> {
    let started = Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let simulator = Simulator::start(
        SimulatorConfig {
            token_lifetime: Duration::from_secs(4),
            ..SimulatorConfig::default()
        },
        clock.clone(),
    )
    .await
    .map_err(DemoError::Simulator)?;

    let temp_dir = tempfile::tempdir().map_err(DemoError::TempDir)?;
    let db_path: PathBuf = match keep {
        Some(path) => path.to_owned(),
        None => temp_dir.path().join("journeyd-demo.db"),
    };
    let config = demo_config(format!("sqlite:{}", db_path.display()), version);
    let store = storage::open_with(&config.database.url, &config.store_options()).await?;
    store.migrate().await?;

    writeln!(
        out,
        "journeyd demo: simulated GBG GO API {version} at {}",
        simulator.base_url_of(version)
    )?;
    writeln!(out, "database: {}", db_path.display())?;
    let mut enqueued = Vec::new();
    for (id, script, faults) in journeys() {
        simulator.add_journey_on(id, version, script);
        for fault in faults {
            simulator.inject(id, fault);
        }
        if id != SQL_INSERTED {
            enqueued.push(InstanceId::parse(id).expect("demo IDs are valid"));
        }
    }
    store.enqueue(&enqueued, Some(version), clock.now()).await?;
    writeln!(
        out,
        "enqueued {} journeys; the sixth arrives by plain SQL in a second\n",
        enqueued.len()
    )?;
    out.flush()?;

    let shutdown = CancellationToken::new();
    let daemon = {
        let (config, store, clock, shutdown) = (
            config.clone(),
            store.clone(),
            clock.clone(),
            shutdown.clone(),
        );
        let settings = simulator.daemon_settings(Grant::Password);
        tokio::spawn(async move {
            crate::daemon::run(&config, &settings, store, clock, shutdown, None).await
        })
    };

    tokio::time::sleep(Duration::from_secs(1)).await;
    insert_by_sql(&db_path, SQL_INSERTED).await?;

    let finished = wait_until_all_stopped(store.as_ref(), journeys().len()).await;
    shutdown.cancel();
    daemon.await.expect("daemon task panicked")?;
    finished?;

    let mut journeys = store
        .list(&ListFilter {
            limit: 100,
            ..ListFilter::default()
        })
        .await?
        .journeys;
    journeys.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    let mut transitions = 0;
    writeln!(out, "\nsummary")?;
    writeln!(
        out,
        "{:<26} {:<10} {:<10} {:>5} {:>6} {:>9}  path",
        "instance", "final", "outcome", "polls", "errors", "duration"
    )?;
    for row in &journeys {
        let history = store.transitions(&row.instance_id).await?;
        transitions += history.len();
        let path = history
            .iter()
            .map(|t| t.to_status.as_str())
            .collect::<Vec<_>>()
            .join(" → ");
        writeln!(
            out,
            "{:<26} {:<10} {:<10} {:>5} {:>6} {:>8.1}s  {}",
            row.instance_id,
            row.status.as_deref().unwrap_or("-"),
            row.outcome.as_deref().unwrap_or("-"),
            row.polls,
            row.error_count,
            duration_seconds(row),
            path
        )?;
    }
    let summary = DemoSummary {
        journeys,
        transitions,
        state_fetches: simulator.total_fetches(),
        token_requests: simulator.token_requests(),
        rejected_requests: simulator.rejections().len(),
        elapsed: started.elapsed(),
    };
    writeln!(
        out,
        "\n{} journeys, {} transitions, {} state fetches, {} token requests \
         (tokens live 4 s), {} requests rejected by the simulator, {:.1} s in all",
        summary.journeys.len(),
        summary.transitions,
        summary.state_fetches,
        summary.token_requests,
        summary.rejected_requests,
        summary.elapsed.as_secs_f64()
    )?;
    if keep.is_some() {
        writeln!(out, "the database is kept at {}", db_path.display())?;
    }
    Ok(summary)
}

/// What a dashboard or a back-office system would do: its own connection, a bare INSERT.
async fn insert_by_sql(db_path: &Path, instance_id: &str) -> Result<(), DemoError> {
    let mut conn = SqliteConnection::connect(&format!("sqlite:{}", db_path.display()))
        .await
        .map_err(DemoError::Insert)?;
    sqlx::query("INSERT INTO journeys (instance_id) VALUES (?1)")
        .bind(instance_id)
        .execute(&mut conn)
        .await
        .map_err(DemoError::Insert)?;
    conn.close().await.map_err(DemoError::Insert)?;
    tracing::info!(instance_id, "inserted a journey by plain SQL");
    Ok(())
}

async fn wait_until_all_stopped(store: &dyn Store, expected: usize) -> Result<(), DemoError> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let all = store
            .list(&ListFilter {
                limit: 100,
                ..ListFilter::default()
            })
            .await?
            .journeys;
        if all.len() == expected && all.iter().all(|row| row.stopped_at.is_some()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DemoError::Timeout(DEADLINE));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn duration_seconds(row: &JourneyRow) -> f64 {
    let start = row.created_time.as_deref().unwrap_or(&row.enqueued_at);
    match (
        parse_timestamp(start),
        row.completed_time.as_deref().map(parse_timestamp),
    ) {
        (Ok(start), Some(Ok(end))) => (end - start).num_milliseconds() as f64 / 1000.0,
        _ => f64::NAN,
    }
}
