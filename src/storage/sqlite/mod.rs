//! The embedded SQLite backend.
//!
//! Dashboards read the database file while the daemon writes it, so: WAL mode; every write goes
//! through one writer connection, multi-statement writes inside `BEGIN IMMEDIATE` (a deferred
//! transaction that upgrades from read to write can fail with SQLITE_BUSY whatever the busy
//! timeout); reads go through a separate read-only pool. One daemon serves a database file at a
//! time, enforced by an advisory lock on a file next to it.

use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;

use super::rows::bind_search;
use super::{
    Forgotten, JourneyPage, JourneyRow, JourneyStats, ListFilter, SearchFilter, StoreError,
    TransitionRow, WriteHealth, shared, sql,
};
use crate::clock::{Timestamp, format_timestamp, parse_timestamp};
use crate::journey::status_key;

mod claimed;
mod connect;
mod files;

use claimed::ClaimedRow;
use files::DaemonLock;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// At daemon start, with the one-daemon lock held: every lease belongs to a dead daemon.
const RELEASE_ALL_LEASES: [&str; 2] = [
    "DELETE FROM journey_leases",
    // A delivery leased when the daemon died is sent again at once, under the same
    // `webhook-id`: the receiver may have had it already.
    "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL \
     WHERE lease_owner IS NOT NULL",
];

/// Active journeys by status, counted from the partial index of active rows alone (left to
/// itself, the planner prefers the index over all rows, stopped ones included).
const ACTIVE_BY_STATUS: &str = "\
    SELECT status, count(*) FROM journeys INDEXED BY journeys_active_status \
    WHERE stopped_at IS NULL GROUP BY status";

/// `journeyd list`: optional status key `$1`, active flag `$2`, stuck only `$4`, at most `$3`,
/// after the cursor `($5, $6)` if given; newest first, down `journeys_enqueued`.
const LIST: &str = "\
    SELECT *, enqueued_at AS cursor_at FROM journeys_full \
    WHERE ($1 IS NULL OR replace(lower(status), '_', '') = $1) \
      AND ($2 IS NULL OR (stopped_at IS NULL) = $2) \
      AND (NOT $4 OR stuck_since IS NOT NULL) \
      AND ($5 IS NULL OR (enqueued_at, instance_id) < ($5, $6)) \
    ORDER BY enqueued_at DESC, instance_id DESC LIMIT $3";

/// Free pages handed back to the file system per maintenance tick (4 KiB each).
const VACUUM_PAGES_PER_TICK: u32 = 2_000;

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// A connection of its own for checkpoints, with a short busy timeout.
    checkpointer: SqlitePool,
    /// Held for the life of a daemon; dropping the store unlocks.
    daemon_lock: DaemonLock,
    health: WriteHealth,
    /// Told when an event may have been written to the outbox: the sender's wake-up.
    pub(in crate::storage) outbox_notify: tokio::sync::Notify,
}

shared::store_impl!(
    SqliteStore,
    Sqlite,
    claimed: ClaimedRow,
    mark_stuck: (sql::MARK_STUCK_BY_AGE, sql::MARK_STUCK_BY_STATUS),
    {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn take_database(&self) -> Result<(), StoreError> {
        self.daemon_lock.take()
    }

    async fn register_daemon(&self, owner: &str, now: Timestamp) -> Result<(), StoreError> {
        self.daemon_lock.take()?;
        // Holding the lock proves no other daemon is alive, so every lease left in the file
        // belongs to one that died: free them instead of waiting for them to expire.
        let mut session = self.transaction("registering the daemon").await?;
        let conn = session.conn();
        let result = async {
            for release in RELEASE_ALL_LEASES {
                sqlx::query(release).execute(&mut *conn).await?;
            }
            sqlx::query("DELETE FROM replicas")
                .execute(&mut *conn)
                .await?;
            shared::heartbeat::<Sqlite>(conn, owner, now, now, now, &[]).await
        }
        .await;
        session.finish(result).await.map(drop)
    }

    /// Frees pages first, then checkpoints: the pages the vacuum moves go through the WAL, and
    /// the checkpoint after it leaves the WAL empty (when no reader holds it) instead of
    /// holding them until the next tick.
    async fn maintain(&self) -> Result<(), StoreError> {
        let mut session = self
            .autocommit(&self.writer, "returning free pages to the file system")
            .await?
            .upkeep();
        let vacuum = sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA incremental_vacuum({VACUUM_PAGES_PER_TICK})"
        )))
        .execute(session.conn())
        .await;
        session.finish(vacuum).await?;
        self.checkpoint().await
    }

    async fn stats(&self, now: Timestamp) -> Result<JourneyStats, StoreError> {
        let mut conn = self.readers.acquire().await?;
        let active_by_status = sqlx::query_as(ACTIVE_BY_STATUS)
            .fetch_all(&mut *conn)
            .await?;
        let stuck_by_reason = sqlx::query_as(sql::STUCK_BY_REASON)
            .fetch_all(&mut *conn)
            .await?;
        let due = sqlx::query_scalar(sql::COUNT_DUE)
            .bind(format_timestamp(now))
            .fetch_one(&mut *conn)
            .await?;
        let oldest: Option<String> = sqlx::query_scalar(sql::OLDEST_ACTIVE_START)
            .fetch_one(&mut *conn)
            .await?;
        Ok(JourneyStats {
            active_by_status,
            stuck_by_reason,
            due,
            oldest_active_start: oldest.and_then(|text| parse_timestamp(&text).ok()),
        })
    }

    async fn next_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<String> = sqlx::query_scalar(sql::NEXT_DUE)
            .bind(format_timestamp(now))
            .fetch_optional(&self.readers)
            .await?;
        // A value nobody can parse is due now: the claim will then report the row as invalid.
        Ok(next.map(|text| parse_timestamp(&text).unwrap_or(now)))
    }

    async fn journey(&self, instance_id: &str) -> Result<Option<JourneyRow>, StoreError> {
        Ok(sqlx::query_as(sql::JOURNEY)
            .bind(instance_id)
            .fetch_optional(&self.readers)
            .await?)
    }

    async fn transitions(&self, instance_id: &str) -> Result<Vec<TransitionRow>, StoreError> {
        Ok(sqlx::query_as(sql::TRANSITIONS)
            .bind(instance_id)
            .fetch_all(&self.readers)
            .await?)
    }

    async fn list(&self, filter: &ListFilter) -> Result<JourneyPage, StoreError> {
        let after = filter.after.as_ref();
        let rows = sqlx::query_as(LIST)
            .bind(filter.status.as_deref().map(status_key))
            .bind(filter.active)
            .bind(filter.limit)
            .bind(filter.stuck)
            .bind(after.map(|cursor| cursor.enqueued_at.as_str()))
            .bind(after.map(|cursor| cursor.instance_id.as_str()))
            .fetch_all(&self.readers)
            .await?;
        Ok(JourneyPage::of(rows, filter.limit))
    }

    async fn search(&self, filter: &SearchFilter) -> Result<Vec<JourneyRow>, StoreError> {
        Ok(bind_search!(sqlx::query_as(sql::SEARCH), filter)
            .fetch_all(&self.readers)
            .await?)
    }

    async fn stuck(&self, limit: u32) -> Result<Vec<JourneyRow>, StoreError> {
        Ok(sqlx::query_as(sql::STUCK_OLDEST)
            .bind(limit)
            .fetch_all(&self.readers)
            .await?)
    }

    async fn forget(&self, ids: &[&str]) -> Result<Forgotten, StoreError> {
        let mut session = self.transaction("forgetting journeys").await?;
        let deleted = shared::forget::<Sqlite>(session.conn(), ids).await;
        let forgotten = Forgotten::of(ids, session.finish(deleted).await?);
        // secure_delete zeroed the rows in the pages, but the WAL still holds the pages as
        // they were. A reader holding an old snapshot may keep this checkpoint from
        // finishing; the next maintenance tick tries again.
        if let Err(err) = self.checkpoint().await {
            tracing::warn!(error = %err, "could not checkpoint the WAL after forgetting journeys");
        }
        Ok(forgotten)
    }
});

#[cfg(test)]
mod tests;
