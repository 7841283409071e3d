//! What kind of failure a database write met.
//!
//! Two questions hang on it. Can the database be written at all right now (a full disk, a
//! read-only file or server, a lock held by another program, a lost connection)? Then a batch of
//! poll results is kept whole and written again once it can. Or did the database refuse this one
//! statement (a constraint, a value it cannot store, a deadlock it broke up)? Then the other
//! results of the batch can still be written on their own. The class is also what operators see,
//! in the log, in metrics and on `/readyz`.

use std::fmt;

/// A database write failure, by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteFault {
    /// The disk (or the server's) is full.
    DiskFull,
    /// The database accepts no writes: a read-only file or mount, or a standby server after a
    /// failover.
    ReadOnly,
    /// Another connection held the lock longer than journeyd waits for it (SQLite's busy
    /// timeout), or a lock wait was cancelled.
    Locked,
    /// The connection broke or could not be made: a server restart, a failover, a terminated
    /// backend, a network fault, no free connection.
    ConnectionLost,
    /// The storage under the database failed (an I/O error, an unopenable or damaged file).
    Io,
    /// The server could not do it for want of a resource other than disk (memory, an internal
    /// error).
    ServerError,
    /// The database refused this statement; others may well succeed.
    Refused,
}

impl WriteFault {
    pub const ALL: [Self; 7] = [
        Self::DiskFull,
        Self::ReadOnly,
        Self::Locked,
        Self::ConnectionLost,
        Self::Io,
        Self::ServerError,
        Self::Refused,
    ];

    /// Classifies a failure of SQLite or PostgreSQL.
    pub fn of(err: &sqlx::Error) -> Self {
        match err {
            sqlx::Error::Database(db) => {
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    Self::of_sqlstate(pg.code())
                } else {
                    db.code()
                        .and_then(|code| code.parse::<i32>().ok())
                        .map_or(Self::Refused, Self::of_sqlite_code)
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::InvalidSavePointStatement
            | sqlx::Error::BeginFailed => Self::ConnectionLost,
            _ => Self::Refused,
        }
    }

    /// SQLite's (extended) result code: its low byte is the primary code.
    fn of_sqlite_code(code: i32) -> Self {
        match code & 0xff {
            13 => Self::DiskFull,             // SQLITE_FULL
            8 => Self::ReadOnly,              // SQLITE_READONLY
            5 | 6 => Self::Locked,            // SQLITE_BUSY, SQLITE_LOCKED
            10 | 11 | 14 | 26 => Self::Io,    // IOERR, CORRUPT, CANTOPEN, NOTADB
            7 | 15 | 22 => Self::ServerError, // NOMEM, PROTOCOL, NOLFS
            _ => Self::Refused,
        }
    }

    /// PostgreSQL's SQLSTATE (appendix A of its manual).
    fn of_sqlstate(code: &str) -> Self {
        match code {
            "53100" => Self::DiskFull,
            "25006" => Self::ReadOnly,
            "55P03" | "57014" => Self::Locked,
            "57P01" | "57P02" | "57P03" | "53300" => Self::ConnectionLost,
            _ if code.starts_with("08") => Self::ConnectionLost,
            _ if code.starts_with("58") => Self::Io,
            _ if code.starts_with("53") || code.starts_with("XX") => Self::ServerError,
            _ => Self::Refused,
        }
    }

    /// Whether the database as a whole cannot be written now, rather than refusing one
    /// statement: a batch that meets it is kept whole and written again later.
    pub fn is_outage(self) -> bool {
        self != Self::Refused
    }

    /// The class as operators see it: the `class` of log events and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DiskFull => "disk_full",
            Self::ReadOnly => "read_only",
            Self::Locked => "locked",
            Self::ConnectionLost => "connection_lost",
            Self::Io => "io_error",
            Self::ServerError => "server_error",
            Self::Refused => "refused",
        }
    }
}

impl fmt::Display for WriteFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_name_the_fault() {
        let cases = [
            (13, WriteFault::DiskFull),
            (8, WriteFault::ReadOnly),
            (1032, WriteFault::ReadOnly), // SQLITE_READONLY_DBMOVED
            (5, WriteFault::Locked),
            (517, WriteFault::Locked), // SQLITE_BUSY_SNAPSHOT
            (10, WriteFault::Io),
            (778, WriteFault::Io), // SQLITE_IOERR_WRITE
            (19, WriteFault::Refused),
            (2067, WriteFault::Refused), // SQLITE_CONSTRAINT_UNIQUE
            (20, WriteFault::Refused),
        ];
        for (code, fault) in cases {
            assert_eq!(WriteFault::of_sqlite_code(code), fault, "code {code}");
        }
    }

    #[test]
    fn sqlstates_name_the_fault() {
        let cases = [
            ("53100", WriteFault::DiskFull),
            ("25006", WriteFault::ReadOnly),
            ("55P03", WriteFault::Locked),
            ("57P01", WriteFault::ConnectionLost),
            ("08006", WriteFault::ConnectionLost),
            ("53300", WriteFault::ConnectionLost),
            ("58030", WriteFault::Io),
            ("53200", WriteFault::ServerError),
            ("40P01", WriteFault::Refused),
            ("23505", WriteFault::Refused),
            ("22021", WriteFault::Refused),
        ];
        for (code, fault) in cases {
            assert_eq!(WriteFault::of_sqlstate(code), fault, "SQLSTATE {code}");
        }
    }

    #[test]
    fn a_broken_connection_is_an_outage_and_a_refusal_is_not() {
        let io = sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(WriteFault::of(&io), WriteFault::ConnectionLost);
        assert_eq!(
            WriteFault::of(&sqlx::Error::PoolTimedOut),
            WriteFault::ConnectionLost
        );
        assert!(WriteFault::of(&io).is_outage());
        assert!(!WriteFault::of(&sqlx::Error::RowNotFound).is_outage());
    }
}
