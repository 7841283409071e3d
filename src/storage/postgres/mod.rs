//! The PostgreSQL backend, for several replicas sharing one database.
//!
//! Replicas claim due journeys with `FOR UPDATE SKIP LOCKED`, so they never wait for each
//! other's picks; a claim is a lease row (owner and expiry, in an UNLOGGED table) whose primary
//! key settles any race, which the owner's heartbeat extends while the poll is in flight and
//! which simply runs out if the owner dies. Timestamps
//! are `timestamptz`; rows read for people are rendered in the same RFC 3339 text as SQLite's.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres};

use super::rows::bind_search;
use super::session::{Begin, POSTGRES_TRANSACTION, WriteSession};
use super::{
    Claim, Forgotten, JourneyPage, JourneyRow, JourneyStats, ListFilter, SearchFilter, StoreError,
    TransitionRow, WriteHealth, api_version_column, shared, sql,
};
use crate::clock::Timestamp;
use crate::journey::{TrackedJourney, status_key};

mod statements;

use statements::{
    ACTIVE_BY_STATUS, JOURNEY, LIST, MARK_STUCK_BY_AGE, MARK_STUCK_BY_STATUS, SEARCH, STUCK_OLDEST,
    TRANSITIONS,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const MAX_CONNECTIONS: u32 = 10;
/// How long to wait for a connection from the pool (or for the server to answer a connect).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: PgPool,
    health: WriteHealth,
    /// Told when an event may have been written to the outbox: the sender's wake-up.
    pub(in crate::storage) outbox_notify: tokio::sync::Notify,
}

impl PostgresStore {
    /// Parses and checks a `postgres://` URL. Errors never repeat the URL: it may hold a
    /// password.
    pub fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
        PgConnectOptions::from_str(url)
            .map_err(|err| StoreError::InvalidUrl(format!("not a usable PostgreSQL URL: {err}")))
    }

    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(Self::options(url)?)
            .await?;
        Ok(Self {
            pool,
            health: WriteHealth::default(),
            outbox_notify: tokio::sync::Notify::new(),
        })
    }

    /// A write transaction.
    pub(in crate::storage) async fn transaction(
        &self,
        operation: &'static str,
    ) -> Result<WriteSession<'_, Postgres>, StoreError> {
        self.session(POSTGRES_TRANSACTION, operation).await
    }

    /// A connection outside a transaction: statements that commit one by one.
    pub(in crate::storage) async fn write_autocommit(
        &self,
        operation: &'static str,
    ) -> Result<WriteSession<'_, Postgres>, StoreError> {
        self.session(Begin::Autocommit, operation).await
    }

    /// The pool reads go through.
    pub(in crate::storage) fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn session(
        &self,
        begin: Begin,
        operation: &'static str,
    ) -> Result<WriteSession<'_, Postgres>, StoreError> {
        WriteSession::begin(&self.pool, begin, operation, &self.health).await
    }
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    instance_id: String,
    status: Option<String>,
    enqueued_at: Timestamp,
    created_time: Option<Timestamp>,
    polls: i64,
    unchanged_polls: i64,
    consecutive_errors: i64,
    consecutive_not_found: i64,
    stuck_since: Option<Timestamp>,
    next_poll_at: Option<Timestamp>,
    api_version: String,
    outcome: Option<String>,
}

impl From<ClaimedRow> for Claim {
    fn from(row: ClaimedRow) -> Self {
        let api_version = api_version_column(&row.api_version);
        Claim {
            instance_id: row.instance_id.clone(),
            polls: row.polls,
            due_at: row.next_poll_at,
            journey: api_version.map(|api_version| TrackedJourney {
                instance_id: row.instance_id,
                status: row.status,
                enqueued_at: row.enqueued_at,
                created_time: row.created_time,
                polls: row.polls,
                unchanged_polls: row.unchanged_polls,
                consecutive_errors: row.consecutive_errors,
                consecutive_not_found: row.consecutive_not_found,
                stuck: row.stuck_since.is_some(),
                api_version,
                outcome: row.outcome,
            }),
        }
    }
}

shared::store_impl!(
    PostgresStore,
    Postgres,
    claimed: ClaimedRow,
    mark_stuck: (MARK_STUCK_BY_AGE.as_str(), MARK_STUCK_BY_STATUS.as_str()),
    {
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock: replicas starting together migrate once.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn register_daemon(&self, owner: &str, now: Timestamp) -> Result<(), StoreError> {
        let mut session = self
            .session(Begin::Autocommit, "registering the daemon")
            .await?;
        let result = shared::heartbeat::<Postgres>(session.conn(), owner, now, now, now, &[]).await;
        session.finish(result).await.map(drop)
    }

    async fn maintain(&self) -> Result<(), StoreError> {
        // PostgreSQL's autovacuum does the housekeeping SQLite needs done by hand.
        Ok(())
    }

    async fn stats(&self, now: Timestamp) -> Result<JourneyStats, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(JourneyStats {
            active_by_status: sqlx::query_as(ACTIVE_BY_STATUS)
                .fetch_all(&mut *conn)
                .await?,
            stuck_by_reason: sqlx::query_as(sql::STUCK_BY_REASON)
                .fetch_all(&mut *conn)
                .await?,
            due: sqlx::query_scalar(sql::COUNT_DUE)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?,
            oldest_active_start: sqlx::query_scalar(sql::OLDEST_ACTIVE_START)
                .fetch_one(&mut *conn)
                .await?,
        })
    }

    async fn next_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        Ok(sqlx::query_scalar(sql::NEXT_DUE)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn journey(&self, instance_id: &str) -> Result<Option<JourneyRow>, StoreError> {
        Ok(sqlx::query_as(AssertSqlSafe(JOURNEY.as_str()))
            .bind(instance_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn transitions(&self, instance_id: &str) -> Result<Vec<TransitionRow>, StoreError> {
        Ok(sqlx::query_as(AssertSqlSafe(TRANSITIONS.as_str()))
            .bind(instance_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn list(&self, filter: &ListFilter) -> Result<JourneyPage, StoreError> {
        let after = filter.after.as_ref();
        let rows = sqlx::query_as(AssertSqlSafe(LIST.as_str()))
            // Planned for the filters given, each time: a plan kept for any filters would
            // choose its index without knowing which of them are set.
            .persistent(false)
            .bind(filter.status.as_deref().map(status_key))
            .bind(filter.active)
            .bind(i64::from(filter.limit))
            .bind(filter.stuck)
            .bind(after.map(|cursor| cursor.enqueued_at.as_str()))
            .bind(after.map(|cursor| cursor.instance_id.as_str()))
            .fetch_all(&self.pool)
            .await?;
        Ok(JourneyPage::of(rows, filter.limit))
    }

    async fn search(&self, filter: &SearchFilter) -> Result<Vec<JourneyRow>, StoreError> {
        let query = sqlx::query_as(AssertSqlSafe(SEARCH.as_str())).persistent(false);
        Ok(bind_search!(query, filter).fetch_all(&self.pool).await?)
    }

    async fn stuck(&self, limit: u32) -> Result<Vec<JourneyRow>, StoreError> {
        Ok(sqlx::query_as(AssertSqlSafe(STUCK_OLDEST.as_str()))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn forget(&self, ids: &[&str]) -> Result<Forgotten, StoreError> {
        let mut session = self
            .session(POSTGRES_TRANSACTION, "forgetting journeys")
            .await?;
        let deleted = shared::forget::<Postgres>(session.conn(), ids).await;
        Ok(Forgotten::of(ids, session.finish(deleted).await?))
    }
});
