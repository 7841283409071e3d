//! Journey status strings and which of them end a journey.
//!
//! GBG GO spells statuses `InProgress` in v1 and `IN_PROGRESS` in older guides, so statuses are
//! compared by a key that ignores case and underscores. The API's own spelling is what gets
//! stored, and unknown statuses are kept verbatim rather than rejected.

use std::collections::BTreeSet;

/// The comparison key of a status: lower case, underscores removed.
pub fn status_key(status: &str) -> String {
    status
        .chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether two spellings name the same status.
pub fn same_status(a: &str, b: &str) -> bool {
    status_key(a) == status_key(b)
}

/// Whether a status is GBG GO's success status, `Completed`.
pub fn is_completed(status: &str) -> bool {
    status_key(status) == "completed"
}

/// The set of statuses after which a journey is no longer polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalStatuses(BTreeSet<String>);

impl TerminalStatuses {
    pub fn new<I, S>(statuses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self(
            statuses
                .into_iter()
                .map(|s| status_key(s.as_ref()))
                .collect(),
        )
    }

    pub fn contains(&self, status: &str) -> bool {
        self.0.contains(&status_key(status))
    }
}

impl Default for TerminalStatuses {
    fn default() -> Self {
        Self::new(["Completed", "Failed", "Error"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_compare_equal() {
        assert!(same_status("InProgress", "IN_PROGRESS"));
        assert!(same_status("completed", "COMPLETED"));
        assert!(!same_status("Paused", "InProgress"));
        assert!(is_completed("COMPLETED"));
        assert!(!is_completed("Failed"));
    }

    #[test]
    fn terminal_set_ignores_case_and_underscores() {
        let terminal = TerminalStatuses::default();
        for status in ["Completed", "FAILED", "error", "Fail_ed"] {
            assert!(terminal.contains(status), "{status}");
        }
        for status in ["InProgress", "Paused", "Abandoned"] {
            assert!(!terminal.contains(status), "{status}");
        }
        let custom = TerminalStatuses::new(["Abandoned"]);
        assert!(custom.contains("ABANDONED"));
        assert!(!custom.contains("Completed"));
    }
}
