//! Persistence of tracked journeys, behind one interface.
//!
//! The scheduler and the CLI talk to [`Store`] only; which database sits behind it is decided
//! once, from `database.url`, by [`open`].

mod dialect;
mod fault;
mod health;
pub mod outbox;
mod postgres;
mod row_write;
mod rows;
mod session;
mod shared;
pub mod sql;
mod sqlite;

pub use fault::WriteFault;
pub use health::WriteHealth;
pub use outbox::{AttemptFilter, AttemptRow, WebhookStore};
pub use postgres::PostgresStore;
pub use rows::{
    Abandoned, Enqueued, Forgotten, JourneyPage, JourneyRow, JourneyStats, JourneyTotals,
    ListCursor, ListFilter, NewlyStuck, Prunable, Retention, STUCK_AGE, STUCK_STATUS, SearchFilter,
    StuckRules, TransitionRow,
};
pub use sqlite::SqliteStore;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::journey::{ApiVersion, InstanceId, JourneyUpdate, TrackedJourney};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot write to the database ({fault}) while {operation}: {source}")]
    Write {
        operation: &'static str,
        fault: WriteFault,
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("`database.url`: {0}")]
    InvalidUrl(String),
    #[error(
        "another `journeyd run` is already using {database} (it holds {lock_file}); \
         a SQLite database is served by one daemon at a time"
    )]
    AlreadyRunning { database: String, lock_file: String },
    #[error("cannot create the database file {database}")]
    Create {
        database: String,
        source: std::io::Error,
    },
    #[error("cannot lock {lock_file}")]
    Lock {
        lock_file: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// What kind of failure a write met; `None` for errors that are not failed writes.
    pub fn write_fault(&self) -> Option<WriteFault> {
        match self {
            Self::Write { fault, .. } => Some(*fault),
            _ => None,
        }
    }
}

/// A due journey handed to one scheduler under a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub instance_id: String,
    pub polls: i64,
    /// When the journey fell due (its `next_poll_at`), if readable.
    pub due_at: Option<Timestamp>,
    /// The row's history, or what makes the row unusable (an unreadable timestamp written by
    /// another program, say).
    pub journey: Result<TrackedJourney, String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations. Only ever moves forward.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Makes this process the database's daemon where one daemon serves it at a time (SQLite:
    /// takes the one-daemon lock), before it writes anything of its own.
    async fn take_database(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Called once by a daemon before it claims work, under its lease-owner name: joins the
    /// replicas (SQLite: takes the one-daemon lock and frees a dead daemon's leases first).
    async fn register_daemon(&self, owner: &str, now: Timestamp) -> Result<(), StoreError>;

    /// A daemon's heartbeat: marks it alive at `now`, extends its leases of the journeys
    /// `in_flight` (its polls in flight) to `lease_until`, and returns
    /// how many replicas (itself included) beat after `alive_after`.
    async fn heartbeat(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        alive_after: Timestamp,
        in_flight: &[&str],
    ) -> Result<u64, StoreError>;

    /// Adds journeys to track on `api_version` (`None`: `api.version`, kept once polled), all
    /// or none; existing ones are left as they are.
    async fn enqueue(
        &self,
        ids: &[InstanceId],
        api_version: Option<ApiVersion>,
        now: Timestamp,
    ) -> Result<Enqueued, StoreError>;

    /// Leases up to `limit` journeys due at `now` to `owner` until `lease_until`, oldest due
    /// first; a journey without an API version is polled on `default_version`, which its first
    /// recorded poll keeps.
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        default_version: ApiVersion,
    ) -> Result<Vec<Claim>, StoreError>;

    /// Writes poll results in one transaction, each with its transition, and releases their
    /// leases. An update is skipped (`false`) when its row is no longer leased to `owner` or was
    /// polled by someone else since the claim.
    async fn record(&self, owner: &str, updates: &[JourneyUpdate])
    -> Result<Vec<bool>, StoreError>;

    /// Which of `updates` the database holds already. A commit whose connection broke during
    /// `COMMIT` may have gone through; when such a result is written again and finds its row
    /// moved on, this tells whether it was its own earlier commit that moved it.
    async fn recorded(&self, updates: &[JourneyUpdate]) -> Result<Vec<bool>, StoreError>;

    /// Periodic housekeeping while a daemon runs (SQLite: checkpoint and truncate the WAL,
    /// return free pages to the file system).
    async fn maintain(&self) -> Result<(), StoreError>;

    /// Checks the database answers (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether writes succeed now, as the latest writes found.
    fn write_health(&self) -> &WriteHealth;

    /// Marks journeys that became stuck at `now` by `rules`, and returns them.
    async fn mark_stuck(
        &self,
        now: Timestamp,
        rules: &StuckRules,
    ) -> Result<Vec<NewlyStuck>, StoreError>;

    /// Figures for the gauges.
    async fn stats(&self, now: Timestamp) -> Result<JourneyStats, StoreError>;

    /// What pruning journeys that stopped before `stopped_before` would delete.
    async fn prunable(&self, stopped_before: Timestamp) -> Result<Prunable, StoreError>;

    /// Applies `action` to up to `batch` journeys that stopped before `stopped_before`, oldest
    /// first, in one short transaction: clears their kept data, or deletes them with their
    /// transitions. Returns how many journeys it touched.
    async fn retain(
        &self,
        action: Retention,
        stopped_before: Timestamp,
        batch: u32,
    ) -> Result<u64, StoreError>;

    /// The earliest `next_poll_at` of a journey that is not leased at `now`.
    async fn next_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError>;

    /// Drops every lease `owner` holds, so its journeys can be claimed at once, and removes it
    /// from the replicas.
    async fn release(&self, owner: &str) -> Result<u64, StoreError>;

    async fn journey(&self, instance_id: &str) -> Result<Option<JourneyRow>, StoreError>;

    async fn transitions(&self, instance_id: &str) -> Result<Vec<TransitionRow>, StoreError>;

    /// A page of journeys, newest enqueued first, after `filter.after` if given.
    async fn list(&self, filter: &ListFilter) -> Result<JourneyPage, StoreError>;

    /// Stops polling `ids` (the application gave them up): `stop_reason = 'abandoned'`, their
    /// rows and history kept, a `journey.stopped` event written for each (`detail`: by whom).
    /// Says what became of each, in order.
    async fn abandon(
        &self,
        ids: &[&str],
        now: Timestamp,
        detail: &str,
    ) -> Result<Vec<Abandoned>, StoreError>;

    /// How many journeys there are, and how many had an error since `errors_since`.
    async fn totals(&self, errors_since: Timestamp) -> Result<JourneyTotals, StoreError>;

    /// A page of journeys whose instance ID starts with `filter.prefix`, by ID.
    async fn search(&self, filter: &SearchFilter) -> Result<Vec<JourneyRow>, StoreError>;

    /// The `limit` stuck journeys that started first.
    async fn stuck(&self, limit: u32) -> Result<Vec<JourneyRow>, StoreError>;

    /// The webhook outbox.
    fn webhooks(&self) -> &dyn WebhookStore;

    /// Deletes the journeys of `ids`, whether or not they are still polled, with everything
    /// recorded about them, in one transaction; a poll in flight for one drops its result.
    /// SQLite: the deleted content is overwritten in the file (`secure_delete`) and the WAL
    /// checkpointed, so no copy stays readable in it.
    async fn forget(&self, ids: &[&str]) -> Result<Forgotten, StoreError>;
}

/// How to open the database, beyond its URL (`database.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// SQLite: how long a write waits for another program's write lock before it fails (as
    /// `locked`, and is tried again later).
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The API version a claimed row names: one another program wrote may be anything.
fn api_version_column(text: &str) -> Result<ApiVersion, String> {
    text.parse()
        .map_err(|err| format!("column `api_version`: {err}"))
}

/// Opens the database named by `database.url`, with the default options.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &StoreOptions::default()).await
}

/// Opens the database named by `database.url`.
pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match Backend::of(url)? {
        Backend::Sqlite => Arc::new(SqliteStore::open(url, options).await?),
        Backend::Postgres => Arc::new(PostgresStore::open(url).await?),
    })
}

/// Checks a `database.url` without opening it, so bad configuration fails before anything runs.
pub fn check_url(url: &str) -> Result<(), StoreError> {
    match Backend::of(url)? {
        Backend::Sqlite => SqliteStore::options(url).map(drop),
        Backend::Postgres => PostgresStore::options(url).map(drop),
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            // Only the scheme is quoted: the rest may hold a password.
            _ => Err(StoreError::InvalidUrl(format!(
                "unsupported scheme `{scheme}:`; expected `sqlite:journeyd.db` or \
                 `postgres://user@host/database`"
            ))),
        }
    }
}
