//! What a change to a journey tells the application that started it: a webhook event, written
//! to the outbox in the same transaction as the change.

use std::fmt;

/// A webhook event's `type`: the log events operators already have, under stable dotted names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    StatusChanged,
    Completed,
    Failed,
    Expired,
    /// Every other way polling ends (not found, invalid row, abandoned, ...), with its reason:
    /// an application relying on webhooks alone never waits for a journey journeyd gave up on.
    Stopped,
    Stuck,
    Unstuck,
}

impl EventType {
    pub const ALL: [Self; 7] = [
        Self::StatusChanged,
        Self::Completed,
        Self::Failed,
        Self::Expired,
        Self::Stopped,
        Self::Stuck,
        Self::Unstuck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StatusChanged => "journey.status_changed",
            Self::Completed => "journey.completed",
            Self::Failed => "journey.failed",
            Self::Expired => "journey.expired",
            Self::Stopped => "journey.stopped",
            Self::Stuck => "journey.stuck",
            Self::Unstuck => "journey.unstuck",
        }
    }
}

impl std::str::FromStr for EventType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|kind| kind.as_str()).collect();
                format!("{text:?} is not an event type ({})", known.join(", "))
            })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event to announce. The journey's status, times and outcome are read from its row when
/// the event is written; this carries what the row does not say.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub event_type: EventType,
    /// The status before a change (status changes and the ends they bring).
    pub previous_status: Option<String>,
    /// The event's other fields (`reason`, `since`, ...), a JSON object, camelCase names.
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl Announcement {
    pub fn new(event_type: EventType) -> Self {
        Self {
            event_type,
            previous_status: None,
            detail: serde_json::Map::new(),
        }
    }

    /// Adds a field to `detail`.
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(name.to_owned(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_read_back_from_their_names() {
        for kind in EventType::ALL {
            assert_eq!(kind.as_str().parse::<EventType>(), Ok(kind));
        }
        let err = "journey.done".parse::<EventType>().unwrap_err();
        assert!(
            err.contains("journey.done") && err.contains("journey.completed"),
            "{err}"
        );
    }
}
