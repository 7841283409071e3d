//! Whether the database can be written now, as every write finds out.
//!
//! Every write goes through a [`WriteSession`](super::session::WriteSession), which reports here.
//! A write that fails because the database cannot be written at all (a full disk, a read-only
//! file, a held lock, a lost connection: [`WriteFault::is_outage`]) starts an outage: one ERROR
//! event `database_write_failed` naming the class, not one per failed write; another only if the
//! class changes. The next write that succeeds ends it with one INFO event `database_recovered`.
//! Meanwhile `/readyz` answers 503, and the scheduler keeps its results instead of dropping them.

use std::sync::Mutex;
use std::time::Instant;

use super::StoreError;
use super::fault::WriteFault;
use crate::telemetry::metrics;

#[derive(Debug)]
pub struct WriteHealth {
    outage: Mutex<Option<Outage>>,
}

#[derive(Debug, Clone, Copy)]
struct Outage {
    fault: WriteFault,
    since: Instant,
    failed_writes: u64,
}

impl Default for WriteHealth {
    fn default() -> Self {
        publish(None);
        Self {
            outage: Mutex::new(None),
        }
    }
}

impl WriteHealth {
    /// The class of the outage under way, if the database cannot be written now.
    pub fn fault(&self) -> Option<WriteFault> {
        self.lock().map(|outage| outage.fault)
    }

    /// A write failed with `err` while `operation` ran; returns the error to hand up, classified.
    pub(super) fn failed(&self, operation: &'static str, err: sqlx::Error) -> StoreError {
        let fault = WriteFault::of(&err);
        metrics::record_database_write_failure(fault.as_str());
        if fault.is_outage() {
            let mut outage = self.lock();
            let announce = match &mut *outage {
                None => {
                    *outage = Some(Outage {
                        fault,
                        since: Instant::now(),
                        failed_writes: 1,
                    });
                    true
                }
                Some(current) => {
                    current.failed_writes += 1;
                    std::mem::replace(&mut current.fault, fault) != fault
                }
            };
            drop(outage);
            if announce {
                publish(Some(fault));
                tracing::error!(
                    event = "database_write_failed",
                    class = fault.as_str(),
                    operation,
                    error = %err,
                    "the database cannot be written; poll results are kept in memory and \
                     written once it can"
                );
            }
        }
        StoreError::Write {
            operation,
            fault,
            source: err,
        }
    }

    /// A write succeeded: ends the outage, if there was one.
    pub(super) fn succeeded(&self) {
        let Some(outage) = self.lock().take() else {
            return;
        };
        publish(None);
        tracing::info!(
            event = "database_recovered",
            class = outage.fault.as_str(),
            down_seconds = outage.since.elapsed().as_secs_f64(),
            failed_writes = outage.failed_writes,
            "the database can be written again"
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        self.outage.lock().expect("write health poisoned")
    }
}

/// Sets the `journeyd_database_unwritable` gauge of every outage class: 1 for `fault`'s.
fn publish(fault: Option<WriteFault>) {
    for class in WriteFault::ALL
        .into_iter()
        .filter(|class| class.is_outage())
    {
        metrics::set_database_unwritable(class.as_str(), fault == Some(class));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection_reset() -> sqlx::Error {
        sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())
    }

    #[test]
    fn an_outage_lasts_from_the_first_failed_write_to_the_next_success() {
        let health = WriteHealth::default();
        assert_eq!(health.fault(), None);
        let err = health.failed("recording poll results", connection_reset());
        assert_eq!(err.write_fault(), Some(WriteFault::ConnectionLost));
        assert_eq!(health.fault(), Some(WriteFault::ConnectionLost));
        health.failed("claiming due journeys", connection_reset());
        assert_eq!(health.lock().unwrap().failed_writes, 2);
        health.succeeded();
        assert_eq!(health.fault(), None);
    }

    #[test]
    fn a_refused_statement_is_no_outage() {
        let health = WriteHealth::default();
        let err = health.failed("recording poll results", sqlx::Error::RowNotFound);
        assert_eq!(err.write_fault(), Some(WriteFault::Refused));
        assert_eq!(health.fault(), None);
    }
}
