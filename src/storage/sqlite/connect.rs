//! Opening the database: the checked URL, the one writer connection, the read pool and the
//! checkpointer; and the sessions every write goes through.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::super::session::{Begin, SQLITE_TRANSACTION, WriteSession};
use super::super::{StoreError, StoreOptions, WriteHealth};
use super::SqliteStore;
use super::files::{self, DaemonLock};

/// How long a checkpoint waits for readers of old snapshots. It holds up journeyd's own writes
/// meanwhile, so it gives up quickly and tries again at the next maintenance tick.
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// Size the WAL file is truncated back to after a checkpoint.
const JOURNAL_SIZE_LIMIT: &str = "67108864";
const READ_CONNECTIONS: u32 = 4;

impl SqliteStore {
    /// Parses and checks a `sqlite:` URL.
    pub fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| StoreError::InvalidUrl(format!("cannot parse `{url}`: {err}")))?;
        let in_memory = options
            .get_filename()
            .to_string_lossy()
            .starts_with("file:sqlx-in-memory")
            || url.contains("mode=memory");
        if in_memory || options.get_filename() == Path::new("") {
            return Err(StoreError::InvalidUrl(format!(
                "`{url}` is an in-memory database, which would lose every journey on exit; \
                 name a file, e.g. `sqlite:journeyd.db`"
            )));
        }
        Ok(options
            .foreign_keys(true)
            .busy_timeout(StoreOptions::default().busy_timeout)
            // FULL: a commit survives power loss, not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            // Deleted content (forgotten journeys, cleared data) is overwritten with zeros
            // instead of staying readable in free space until the page is reused.
            .pragma("secure_delete", "ON"))
    }

    /// Opens (creating if needed) the database file named by `url`.
    pub async fn open(url: &str, settings: &StoreOptions) -> Result<Self, StoreError> {
        let options = Self::options(url)?.busy_timeout(settings.busy_timeout);
        let path = options.get_filename();
        files::create_private(path).map_err(|source| StoreError::Create {
            database: path.display().to_string(),
            source,
        })?;
        let daemon_lock = DaemonLock::for_database(path);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    // Takes effect when the file is created: lets retention hand freed pages
                    // back a few at a time instead of needing a VACUUM that locks everything.
                    .auto_vacuum(SqliteAutoVacuum::Incremental)
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT),
            )
            .await?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options.clone().busy_timeout(CHECKPOINT_BUSY_TIMEOUT));
        let readers = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_lazy_with(options.read_only(true));
        Ok(Self {
            writer,
            readers,
            checkpointer,
            daemon_lock,
            health: WriteHealth::default(),
            outbox_notify: tokio::sync::Notify::new(),
        })
    }

    /// A write transaction on the writer connection.
    pub(in crate::storage) async fn transaction(
        &self,
        operation: &'static str,
    ) -> Result<WriteSession<'_, Sqlite>, StoreError> {
        WriteSession::begin(&self.writer, SQLITE_TRANSACTION, operation, &self.health).await
    }

    /// The writer connection outside a transaction: statements that commit one by one.
    pub(in crate::storage) async fn write_autocommit(
        &self,
        operation: &'static str,
    ) -> Result<WriteSession<'_, Sqlite>, StoreError> {
        self.autocommit(&self.writer, operation).await
    }

    /// The pool reads go through.
    pub(in crate::storage) fn reader(&self) -> &SqlitePool {
        &self.readers
    }

    /// Copies the WAL into the database file and empties it.
    ///
    /// SQLite checkpoints passively on its own, but a WAL that readers keep in use is never
    /// reset and only grows. TRUNCATE waits (briefly) for those readers to move on, copies
    /// everything into the database file and empties the WAL, old copies of pages included.
    pub(super) async fn checkpoint(&self) -> Result<(), StoreError> {
        let mut session = self
            .autocommit(&self.checkpointer, "checkpointing the WAL")
            .await?
            .upkeep();
        let checkpoint = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(session.conn())
            .await;
        let (busy, wal_frames, checkpointed): (i64, i64, i64) = session.finish(checkpoint).await?;
        if busy != 0 {
            tracing::debug!(
                wal_frames,
                checkpointed,
                "WAL checkpoint incomplete: readers hold old snapshots; retrying next time"
            );
        }
        Ok(())
    }

    /// The writer connection for one statement, or statements that must not share a transaction.
    pub(super) async fn autocommit(
        &self,
        pool: &SqlitePool,
        operation: &'static str,
    ) -> Result<WriteSession<'_, Sqlite>, StoreError> {
        WriteSession::begin(pool, Begin::Autocommit, operation, &self.health).await
    }
}
