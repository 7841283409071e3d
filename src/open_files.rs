//! The process's open-file limit, and what fits in it.
//!
//! Every connection journeyd holds is a file descriptor: to GBG GO (up to `poll.concurrency`),
//! to the database (SQLite: six connections of three files each; PostgreSQL: ten), and to its
//! HTTP listener's clients. systemd's default soft limit is 1,024; its hard limit is far higher
//! and is what the soft limit may be raised to without privileges. journeyd raises it at start
//! (the unit sets `LimitNOFILE=` anyway), then caps its listener so that clients can never use
//! up what polling and the database need.

use crate::http::ListenerLimits;

/// Descriptors for everything but the listener and GBG GO: the database, the log, the runtime,
/// the lock file, and room to spare.
const RESERVED: u64 = 64;

/// Raises the soft open-file limit to the hard one; returns the soft limit in force (`None`
/// where it cannot be read).
pub fn raise_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            // A sandbox may forbid setrlimit; the limit in force still counts.
            let current = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
            tracing::warn!(
                error = %err,
                soft_limit = current.map(|(soft, _)| soft),
                "cannot raise the open-file limit"
            );
            current.map(|(soft, _)| soft)
        }
    }
}

/// `limits` with `http.max_connections` lowered, if need be, to what the open-file limit leaves
/// after polling with `concurrency` requests and the database.
pub fn fit(
    mut limits: ListenerLimits,
    open_files: Option<u64>,
    concurrency: usize,
) -> ListenerLimits {
    let Some(open_files) = open_files else {
        return limits;
    };
    // Each poll may hold a connection and open another while a token is renewed.
    let room = open_files.saturating_sub(RESERVED + 2 * concurrency as u64);
    let fits = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    if fits < limits.max_connections {
        tracing::warn!(
            open_files,
            configured = limits.max_connections,
            max_connections = fits,
            "the open-file limit leaves room for fewer HTTP connections than \
             `http.max_connections`; raise LimitNOFILE"
        );
        limits.max_connections = fits;
    }
    tracing::info!(
        event = "open_files",
        limit = open_files,
        http_max_connections = limits.max_connections,
        "open-file limit"
    );
    limits
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(max_connections: usize) -> ListenerLimits {
        ListenerLimits {
            max_connections,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_listener_gets_what_polling_and_the_database_leave() {
        assert_eq!(fit(limits(256), Some(65_536), 16).max_connections, 256);
        // 1,024 - 64 - 2 × 16 = 928: 256 fit.
        assert_eq!(fit(limits(256), Some(1_024), 16).max_connections, 256);
        // 256 - 64 - 2 × 16 = 160.
        assert_eq!(fit(limits(256), Some(256), 16).max_connections, 160);
        assert_eq!(fit(limits(256), Some(50), 16).max_connections, 1);
        assert_eq!(fit(limits(256), None, 16).max_connections, 256);
    }
}
