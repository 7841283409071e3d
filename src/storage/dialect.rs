//! How each backend binds values, so that the write paths of [`super::shared`] are written once:
//! the statements are the same, a timestamp is bound as RFC 3339 text for SQLite and as
//! `timestamptz` for PostgreSQL, and the statements that take a JSON array of rows unpack it
//! each their own way.

use sqlx::query::Query;
use sqlx::{Database, Executor, IntoArguments};

use super::outbox;
use super::sql;
use crate::clock::Timestamp;

/// What the shared statements need from a backend: how to bind each kind of value, and the
/// statements that take a JSON array of rows, which each backend unpacks its own way.
// The bounds on the associated types hold for both backends; stated here, every generic
// function over a `Dialect` has them without saying so.
pub(super) trait Dialect:
    Database<Arguments: IntoArguments<Self>, QueryResult: RowsAffected>
{
    /// How it claims due journeys and reads what their polls need.
    const CLAIM: ClaimStatements;
    /// Writes a group commit's scheduling state (see [`sql::RECORD_SCHEDULE_SQLITE`]).
    const RECORD_SCHEDULE: &'static str;
    /// Takes the journeys whose polling a group commit ends off the schedule (see
    /// [`sql::FINISH_SCHEDULE_SQLITE`]).
    const FINISH_SCHEDULE: &'static str;
    /// Writes what a group commit changed of its journeys (see
    /// [`sql::RECORD_JOURNEYS_SQLITE`]).
    const RECORD_JOURNEYS: &'static str;
    /// Adds a group commit's transitions (see [`sql::INSERT_TRANSITIONS_SQLITE`]).
    const INSERT_TRANSITIONS: &'static str;
    /// Ends the leases of the journeys in a JSON array (see [`sql::END_LEASES_SQLITE`]).
    const END_LEASES: &'static str;
    /// Locks the leases of `$1` (a JSON array of instance IDs) in instance-ID order before a
    /// group commit writes them, where writers may wait for each other's rows.
    const LOCK_ROWS: Option<&'static str>;
    /// Extends leases of the journeys in a JSON array (see [`sql::RENEW_LEASES_SQLITE`]).
    const RENEW_LEASES: &'static str;
    /// Deletes the journeys of a JSON array (see [`sql::FORGET_SQLITE`]).
    const FORGET: &'static str;
    /// Deletes a batch of long-finished journeys (see [`sql::PRUNE_SQLITE`]).
    const PRUNE: &'static str;
    /// Clears the data of a batch of finished journeys (see [`sql::CLEAR_DATA_SQLITE`]).
    const CLEAR_DATA: &'static str;
    /// Adds the journeys of a JSON array not tracked yet (see [`sql::ENQUEUE_SQLITE`]).
    const ENQUEUE: &'static str;
    /// Stops polling the journeys of a JSON array (see [`sql::ABANDON_SQLITE`]).
    const ABANDON: &'static str;
    /// Takes the journeys of a JSON array off the schedule (see [`sql::UNSCHEDULE_SQLITE`]).
    const UNSCHEDULE: &'static str;
    /// The stop reasons of the journeys of a JSON array (see [`sql::STOP_REASONS_SQLITE`]).
    const STOP_REASONS: &'static str;
    /// Leases due webhook deliveries (see [`outbox::sql::CLAIM_DELIVERIES_SQLITE`]).
    const CLAIM_DELIVERIES: &'static str;
    /// The payload sources of deliveries in a JSON array of ids (see
    /// [`outbox::sql::DUE_DELIVERIES_SQLITE`]).
    const DUE_DELIVERIES: &'static str;
    /// Records webhook attempts given as a JSON array (see
    /// [`outbox::sql::INSERT_ATTEMPTS_SQLITE`]).
    const INSERT_ATTEMPTS: &'static str;
    /// Settles the deliveries of those attempts (see
    /// [`outbox::sql::SETTLE_DELIVERIES_SQLITE`]).
    const SETTLE_DELIVERIES: &'static str;
    /// Deletes the endpoints not in a JSON array of names (see
    /// [`outbox::sql::REMOVE_ENDPOINTS_SQLITE`]).
    const REMOVE_ENDPOINTS: &'static str;

    fn text<'q>(query: BoundQuery<'q, Self>, value: Option<&str>) -> BoundQuery<'q, Self>;
    /// The text in the first column of `row`.
    fn first_text(row: &Self::Row) -> Result<String, sqlx::Error>;
    fn int<'q>(query: BoundQuery<'q, Self>, value: Option<i64>) -> BoundQuery<'q, Self>;
    /// As stored: RFC 3339 text in SQLite, `timestamptz` in PostgreSQL.
    fn time<'q>(query: BoundQuery<'q, Self>, value: Option<Timestamp>) -> BoundQuery<'q, Self>;
}

/// How a backend claims due journeys and reads what their polls need: the claim returns the
/// IDs it leased (`$1` owner, `$2` lease expiry, `$3` now, `$4` how many), then `read` reads
/// those (`$1` the IDs as a JSON array, `$2` the default API version).
pub(super) struct ClaimStatements {
    pub(super) claim: &'static str,
    pub(super) read: &'static str,
    /// Both in one transaction (SQLite: its one writer does them back to back), or each on its
    /// own (PostgreSQL: the read then sees the rows as they are once the claim has committed,
    /// even if another replica wrote them while the claim ran). On its own, a read that fails
    /// leaves its journeys leased until the lease runs out.
    pub(super) in_one_transaction: bool,
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

    pub(super) fn time(self, value: Option<Timestamp>) -> Self {
        Self(DB::time(self.0, value))
    }

    /// Runs the statement; returns its rows as `T`s.
    pub(super) async fn fetch_as<'e, E, T>(self, executor: E) -> Result<Vec<T>, sqlx::Error>
    where
        E: Executor<'e, Database = DB>,
        T: for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        self.0
            .fetch_all(executor)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }

    /// Runs the statement; returns its rows' first column as text.
    pub(super) async fn fetch_texts<'e, E>(self, executor: E) -> Result<Vec<String>, sqlx::Error>
    where
        E: Executor<'e, Database = DB>,
    {
        self.0
            .fetch_all(executor)
            .await?
            .iter()
            .map(DB::first_text)
            .collect()
    }

    /// Runs the statement; returns the rows it changed.
    pub(super) async fn execute<'e, E>(self, executor: E) -> Result<u64, sqlx::Error>
    where
        E: Executor<'e, Database = DB>,
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

/// Implements [`Dialect`] for a backend whose timestamps are bound as `$time(timestamp)`, which
/// locks a commit's rows with `$lock_rows`, and whose statements over JSON arrays are those
/// named.
macro_rules! dialect {
    (
        $database:ty,
        time: $time:expr,
        lock_rows: $lock_rows:expr,
        claim: $claim:expr,
        $($name:ident = $statement:expr),* $(,)?
    ) => {
        impl Dialect for $database {
            const LOCK_ROWS: Option<&'static str> = $lock_rows;
            const CLAIM: ClaimStatements = $claim;
            $(const $name: &'static str = $statement;)*

            fn text<'q>(query: BoundQuery<'q, Self>, value: Option<&str>) -> BoundQuery<'q, Self> {
                query.bind(value)
            }

            fn first_text(row: &Self::Row) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(row, 0)
            }

            fn int<'q>(query: BoundQuery<'q, Self>, value: Option<i64>) -> BoundQuery<'q, Self> {
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

// SQLite has one writer at a time: nobody to wait for.
dialect!(
    sqlx::Sqlite,
    time: crate::clock::format_timestamp,
    lock_rows: None,
    claim: ClaimStatements {
        claim: sql::CLAIM_DUE_SQLITE,
        read: sql::CLAIMED_SQLITE,
        in_one_transaction: true,
    },
    RECORD_SCHEDULE = sql::RECORD_SCHEDULE_SQLITE,
    FINISH_SCHEDULE = sql::FINISH_SCHEDULE_SQLITE,
    RECORD_JOURNEYS = sql::RECORD_JOURNEYS_SQLITE,
    INSERT_TRANSITIONS = sql::INSERT_TRANSITIONS_SQLITE,
    END_LEASES = sql::END_LEASES_SQLITE,
    RENEW_LEASES = sql::RENEW_LEASES_SQLITE,
    FORGET = sql::FORGET_SQLITE,
    PRUNE = sql::PRUNE_SQLITE,
    CLEAR_DATA = sql::CLEAR_DATA_SQLITE,
    ENQUEUE = sql::ENQUEUE_SQLITE,
    ABANDON = sql::ABANDON_SQLITE,
    UNSCHEDULE = sql::UNSCHEDULE_SQLITE,
    STOP_REASONS = sql::STOP_REASONS_SQLITE,
    CLAIM_DELIVERIES = outbox::sql::CLAIM_DELIVERIES_SQLITE,
    DUE_DELIVERIES = outbox::sql::DUE_DELIVERIES_SQLITE,
    REMOVE_ENDPOINTS = outbox::sql::REMOVE_ENDPOINTS_SQLITE,
    INSERT_ATTEMPTS = outbox::sql::INSERT_ATTEMPTS_SQLITE,
    SETTLE_DELIVERIES = outbox::sql::SETTLE_DELIVERIES_SQLITE,
);
dialect!(
    sqlx::Postgres,
    time: std::convert::identity,
    lock_rows: Some(sql::LOCK_ROWS_POSTGRES),
    claim: ClaimStatements {
        claim: sql::CLAIM_DUE_POSTGRES,
        read: sql::CLAIMED_POSTGRES,
        in_one_transaction: false,
    },
    RECORD_SCHEDULE = sql::RECORD_SCHEDULE_POSTGRES,
    FINISH_SCHEDULE = sql::FINISH_SCHEDULE_POSTGRES,
    RECORD_JOURNEYS = sql::RECORD_JOURNEYS_POSTGRES,
    INSERT_TRANSITIONS = sql::INSERT_TRANSITIONS_POSTGRES,
    END_LEASES = sql::END_LEASES_POSTGRES,
    RENEW_LEASES = sql::RENEW_LEASES_POSTGRES,
    FORGET = sql::FORGET_POSTGRES,
    PRUNE = sql::PRUNE_POSTGRES,
    CLEAR_DATA = sql::CLEAR_DATA_POSTGRES,
    ENQUEUE = sql::ENQUEUE_POSTGRES,
    ABANDON = sql::ABANDON_POSTGRES,
    UNSCHEDULE = sql::UNSCHEDULE_POSTGRES,
    STOP_REASONS = sql::STOP_REASONS_POSTGRES,
    CLAIM_DELIVERIES = outbox::sql::CLAIM_DELIVERIES_POSTGRES,
    DUE_DELIVERIES = outbox::sql::DUE_DELIVERIES_POSTGRES,
    REMOVE_ENDPOINTS = outbox::sql::REMOVE_ENDPOINTS_POSTGRES,
    INSERT_ATTEMPTS = outbox::sql::INSERT_ATTEMPTS_POSTGRES,
    SETTLE_DELIVERIES = outbox::sql::SETTLE_DELIVERIES_POSTGRES,
);
