//! Persistence of tracked journeys, behind one interface.
//!
//! The scheduler and the CLI talk to [`Store`] only; which database sits behind it is decided
//! once, from `database.url`, by [`open`].

mod sqlite;

pub use sqlite::SqliteStore;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::clock::Timestamp;
use crate::journey::{InstanceId, JourneyUpdate, TrackedJourney};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("`database.url`: {0}")]
    InvalidUrl(String),
    #[error(
        "another `journeyd run` is already using {database} (it holds {lock_file}); \
         a SQLite database is served by one daemon at a time"
    )]
    AlreadyRunning { database: String, lock_file: String },
    #[error("cannot lock {lock_file}: {source}")]
    Lock {
        lock_file: String,
        source: std::io::Error,
    },
}

/// A due journey handed to one scheduler under a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub instance_id: String,
    pub polls: i64,
    /// The row's history, or what makes the row unusable (an unreadable timestamp written by
    /// another program, say).
    pub journey: Result<TrackedJourney, String>,
}

/// A journey's row as stored, for people and programs reading it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct JourneyRow {
    pub instance_id: String,
    pub status: Option<String>,
    pub enqueued_at: String,
    pub created_time: Option<String>,
    pub completed_time: Option<String>,
    pub data: Option<String>,
    pub status_changed_at: Option<String>,
    pub polls: i64,
    pub unchanged_polls: i64,
    pub last_polled_at: Option<String>,
    pub next_poll_at: Option<String>,
    pub consecutive_errors: i64,
    pub error_count: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub last_request_id: Option<String>,
    pub stopped_at: Option<String>,
    pub stop_reason: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<String>,
}

/// One row of `journey_transitions`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct TransitionRow {
    pub id: i64,
    pub instance_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub observed_at: String,
}

/// Which journeys `list` returns, newest enqueued first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Compared without regard to case or underscores.
    pub status: Option<String>,
    /// `Some(true)`: still being polled; `Some(false)`: polling stopped.
    pub active: Option<bool>,
    pub limit: u32,
}

/// Outcome of an enqueue batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub added: u64,
    pub already_tracked: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations. Only ever moves forward.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Called once by a daemon before it claims work, under its lease-owner name.
    async fn register_daemon(&self, owner: &str) -> Result<(), StoreError>;

    /// Adds journeys to track, all or none; existing ones are left as they are.
    async fn enqueue(&self, ids: &[InstanceId], now: Timestamp) -> Result<Enqueued, StoreError>;

    /// Leases up to `limit` journeys due at `now` to `owner` until `lease_until`, oldest due first.
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Claim>, StoreError>;

    /// Writes poll results in one transaction, each with its transition, and releases their
    /// leases. An update is skipped (`false`) when its row is no longer leased to `owner` or was
    /// polled by someone else since the claim.
    async fn record(&self, owner: &str, updates: &[JourneyUpdate])
    -> Result<Vec<bool>, StoreError>;

    /// The earliest `next_poll_at` of a journey that is not leased at `now`.
    async fn next_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError>;

    /// Drops every lease `owner` holds, so its journeys can be claimed at once.
    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError>;

    async fn journey(&self, instance_id: &str) -> Result<Option<JourneyRow>, StoreError>;

    async fn transitions(&self, instance_id: &str) -> Result<Vec<TransitionRow>, StoreError>;

    async fn list(&self, filter: &ListFilter) -> Result<Vec<JourneyRow>, StoreError>;
}

/// Opens the database named by `database.url`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::InvalidUrl(unsupported_url(url)))
    }
}

/// Checks a `database.url` without opening it, so bad configuration fails before anything runs.
pub fn check_url(url: &str) -> Result<(), StoreError> {
    if url.starts_with("sqlite:") {
        SqliteStore::options(url).map(drop)
    } else {
        Err(StoreError::InvalidUrl(unsupported_url(url)))
    }
}

fn unsupported_url(url: &str) -> String {
    let scheme = url.split(':').next().unwrap_or_default();
    format!("unsupported scheme `{scheme}:`; expected a `sqlite:` URL such as `sqlite:journeyd.db`")
}
