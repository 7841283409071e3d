//! One write to the database, on one connection, reported to [`WriteHealth`].
//!
//! A connection on which a write failed is never used again: it is closed and the pool opens a
//! fresh one. That is the point of this type. SQLite rolls a transaction back by itself when it
//! fails at COMMIT (a full disk), and sqlx, which did not see the rollback, would refuse every
//! later `BEGIN` on that connection ("non-zero transaction depth"); a PostgreSQL connection that
//! failed mid-transaction may be dead or still inside the failed transaction. Neither can be
//! trusted, and opening a new connection costs milliseconds.
//!
//! The session issues `BEGIN`/`COMMIT` itself, so sqlx keeps no transaction state of its own
//! that could go stale.

use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, IntoArguments, Pool};

use super::StoreError;
use super::health::WriteHealth;

/// How a session groups its statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Begin {
    /// One transaction, opened with this statement (SQLite: `BEGIN IMMEDIATE`, which takes the
    /// write lock at once: a deferred transaction that upgrades can fail whatever the busy
    /// timeout).
    Transaction(&'static str),
    /// Each statement on its own (one statement, or statements that must not share a
    /// transaction).
    Autocommit,
}

pub(super) const SQLITE_TRANSACTION: Begin = Begin::Transaction("BEGIN IMMEDIATE");
pub(super) const POSTGRES_TRANSACTION: Begin = Begin::Transaction("BEGIN");

pub(super) struct WriteSession<'h, DB: Database> {
    conn: PoolConnection<DB>,
    begin: Begin,
    operation: &'static str,
    health: &'h WriteHealth,
    /// Whether its success shows that journeys can be written again (see [`Self::upkeep`]).
    ends_outages: bool,
    finished: bool,
}

impl<'h, DB> WriteSession<'h, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
{
    /// Takes a connection from `pool` and begins. `operation` names the write in errors and
    /// events ("recording poll results").
    pub(super) async fn begin(
        pool: &Pool<DB>,
        begin: Begin,
        operation: &'static str,
        health: &'h WriteHealth,
    ) -> Result<Self, StoreError> {
        let conn = pool
            .acquire()
            .await
            .map_err(|err| health.failed(operation, err))?;
        let mut session = Self {
            conn,
            begin,
            operation,
            health,
            ends_outages: true,
            finished: false,
        };
        if let Begin::Transaction(statement) = begin
            && let Err(err) = sqlx::query::<DB>(statement)
                .execute(&mut *session.conn)
                .await
        {
            return Err(session.fail(err));
        }
        Ok(session)
    }

    /// Marks the session as upkeep (a WAL checkpoint): its failure is a write failure like any
    /// other, but its success proves nothing about writing journeys (a checkpoint copies pages
    /// in place on a full disk), so it does not end an outage.
    pub(super) fn upkeep(mut self) -> Self {
        self.ends_outages = false;
        self
    }

    pub(super) fn conn(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }

    /// Commits if `result` is a success, and reports the outcome. On any failure the
    /// connection is closed, never handed out again.
    pub(super) async fn finish<T>(
        mut self,
        result: Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        let result = match (result, self.begin) {
            (Ok(value), Begin::Transaction(_)) => sqlx::query::<DB>("COMMIT")
                .execute(&mut *self.conn)
                .await
                .map(|_| value),
            (result, _) => result,
        };
        match result {
            Ok(value) => {
                self.finished = true;
                if self.ends_outages {
                    self.health.succeeded();
                }
                Ok(value)
            }
            Err(err) => Err(self.fail(err)),
        }
    }

    fn fail(&mut self, err: sqlx::Error) -> StoreError {
        self.finished = true;
        self.conn.close_on_drop();
        self.health.failed(self.operation, err)
    }
}

impl<DB: Database> Drop for WriteSession<'_, DB> {
    /// A session dropped before it finished (its future was cancelled) left its connection in
    /// a state nobody knows.
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}
