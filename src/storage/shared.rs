//! The write paths both backends share. The statements are the same (see [`super::sql`]); what
//! differs is how a timestamp is bound, which [`Dialect`] says, so each write is written once.

use sqlx::query::Query;
use sqlx::{Database, Executor, IntoArguments};

use super::{RowWrite, sql};
use crate::clock::Timestamp;
use crate::journey::{InstanceId, JourneyUpdate, UpdateOutcome};

/// What the shared statements need from a backend: how to bind each kind of value.
pub(super) trait Dialect: Database {
    fn text<'q>(query: BoundQuery<'q, Self>, value: Option<&str>) -> BoundQuery<'q, Self>;
    fn int<'q>(query: BoundQuery<'q, Self>, value: Option<i64>) -> BoundQuery<'q, Self>;
    fn flag<'q>(query: BoundQuery<'q, Self>, value: bool) -> BoundQuery<'q, Self>;
    /// As stored: RFC 3339 text in SQLite, `timestamptz` in PostgreSQL.
    fn time<'q>(query: BoundQuery<'q, Self>, value: Option<Timestamp>) -> BoundQuery<'q, Self>;
}

pub(super) type BoundQuery<'q, DB> = Query<'q, DB, <DB as Database>::Arguments>;

/// Binds values in order, whatever their kind.
pub(super) struct Binder<'q, DB: Dialect>(BoundQuery<'q, DB>);

impl<'q, DB: Dialect> Binder<'q, DB> {
    pub(super) fn new(statement: &'static str) -> Self {
        Self(sqlx::query(statement))
    }

    pub(super) fn text(self, value: Option<&str>) -> Self {
        Self(DB::text(self.0, value))
    }

    pub(super) fn int(self, value: Option<i64>) -> Self {
        Self(DB::int(self.0, value))
    }

    pub(super) fn flag(self, value: bool) -> Self {
        Self(DB::flag(self.0, value))
    }

    pub(super) fn time(self, value: Option<Timestamp>) -> Self {
        Self(DB::time(self.0, value))
    }

    /// Runs the statement; returns the rows it changed.
    pub(super) async fn execute<'e, E>(self, executor: E) -> Result<u64, sqlx::Error>
    where
        E: Executor<'e, Database = DB>,
        <DB as Database>::Arguments: IntoArguments<DB>,
        DB::QueryResult: RowsAffected,
    {
        Ok(self.0.execute(executor).await?.rows_affected())
    }
}

/// `rows_affected` of each backend's query result.
pub(super) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// Inserts journeys not tracked yet; returns how many were new.
pub(super) async fn enqueue<DB>(
    conn: &mut DB::Connection,
    ids: &[InstanceId],
    now: Timestamp,
) -> Result<u64, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
{
    let mut added = 0;
    for id in ids {
        added += Binder::<DB>::new(sql::ENQUEUE)
            .text(Some(id.as_str()))
            .time(Some(now))
            .execute(&mut *conn)
            .await?;
    }
    Ok(added)
}

/// Writes poll results with their transitions; `true` for each one written.
///
/// Rows are written in instance-ID order, the order the heartbeat renews leases in, so two
/// transactions of one replica never wait for each other's rows (a PostgreSQL deadlock).
pub(super) async fn record<DB>(
    conn: &mut DB::Connection,
    owner: &str,
    updates: &[JourneyUpdate],
) -> Result<Vec<bool>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
{
    let mut order: Vec<usize> = (0..updates.len()).collect();
    order.sort_by_key(|&index| &updates[index].instance_id);
    let mut applied = vec![false; updates.len()];
    for index in order {
        let update = &updates[index];
        if let UpdateOutcome::Unchanged { unchanged_polls } = update.outcome {
            let written = Binder::<DB>::new(sql::RECORD_UNCHANGED)
                .text(Some(&update.instance_id))
                .text(Some(owner))
                .int(Some(unchanged_polls))
                .time(Some(update.polled_at))
                .time(update.next_poll_at)
                .int(Some(update.expected_polls))
                .execute(&mut *conn)
                .await?;
            applied[index] = written == 1;
            continue;
        }
        let write = RowWrite::from(update);
        let written = Binder::<DB>::new(sql::RECORD_POLL)
            .text(Some(write.instance_id))
            .text(Some(owner))
            .text(write.status)
            .time(write.created_time)
            .time(write.completed_time)
            .int(write.unchanged_polls)
            .flag(write.transition.is_some())
            .time(Some(write.polled_at))
            .text(write.data)
            .int(write.consecutive_errors)
            .text(write.error)
            .text(write.request_id)
            .time(write.next_poll_at)
            .time(write.stopped_at)
            .text(write.stop_reason)
            .int(Some(write.expected_polls))
            .int(write.consecutive_not_found)
            .text(write.error_class)
            .flag(write.attempted)
            .execute(&mut *conn)
            .await?
            == 1;
        if let (true, Some(transition)) = (written, write.transition) {
            Binder::<DB>::new(sql::INSERT_TRANSITION)
                .text(Some(write.instance_id))
                .text(transition.from.as_deref())
                .text(Some(&transition.to))
                .time(Some(write.polled_at))
                .execute(&mut *conn)
                .await?;
        }
        applied[index] = written;
    }
    Ok(applied)
}

/// Records `owner`'s heartbeat, extends its leases of the journeys `in_flight` (sorted by
/// instance ID), and forgets replicas silent for a day or more.
///
/// Only the polls in flight: a journey whose result could not be written stays leased to
/// `owner`, and renewing every lease it holds would keep that journey from everyone for good.
pub(super) async fn heartbeat<DB>(
    conn: &mut DB::Connection,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    in_flight: &[&str],
) -> Result<(), sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
{
    Binder::<DB>::new(sql::UPSERT_REPLICA)
        .text(Some(owner))
        .time(Some(now))
        .execute(&mut *conn)
        .await?;
    for instance_id in in_flight {
        Binder::<DB>::new(sql::RENEW_LEASE)
            .text(Some(instance_id))
            .text(Some(owner))
            .time(Some(lease_until))
            .execute(&mut *conn)
            .await?;
    }
    let long_gone = now - chrono::Duration::days(1);
    Binder::<DB>::new(sql::FORGET_REPLICAS)
        .time(Some(long_gone))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Drops `owner`'s leases and its replica row.
pub(super) async fn release<DB>(conn: &mut DB::Connection, owner: &str) -> Result<u64, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
{
    let released = Binder::<DB>::new(sql::RELEASE_LEASES)
        .text(Some(owner))
        .execute(&mut *conn)
        .await?;
    Binder::<DB>::new(sql::REMOVE_REPLICA)
        .text(Some(owner))
        .execute(&mut *conn)
        .await?;
    Ok(released)
}

/// Deletes up to `batch` journeys stopped before `cutoff`.
pub(super) async fn prune<DB>(
    conn: &mut DB::Connection,
    cutoff: Timestamp,
    batch: u32,
) -> Result<u64, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
{
    Binder::<DB>::new(sql::PRUNE)
        .time(Some(cutoff))
        .int(Some(i64::from(batch)))
        .execute(&mut *conn)
        .await
}

/// Implements [`Dialect`] for a backend whose timestamps are bound as `$time(timestamp)`.
macro_rules! dialect {
    ($database:ty, $time:expr) => {
        impl Dialect for $database {
            fn text<'q>(query: BoundQuery<'q, Self>, value: Option<&str>) -> BoundQuery<'q, Self> {
                query.bind(value)
            }

            fn int<'q>(query: BoundQuery<'q, Self>, value: Option<i64>) -> BoundQuery<'q, Self> {
                query.bind(value)
            }

            fn flag<'q>(query: BoundQuery<'q, Self>, value: bool) -> BoundQuery<'q, Self> {
                query.bind(value)
            }

            fn time<'q>(
                query: BoundQuery<'q, Self>,
                value: Option<Timestamp>,
            ) -> BoundQuery<'q, Self> {
                query.bind(value.map($time))
            }
        }
    };
}

dialect!(sqlx::Sqlite, crate::clock::format_timestamp);
dialect!(sqlx::Postgres, std::convert::identity);
