//! A configured receiver, and how the sender works.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Url;

use super::signature::WebhookSecret;
use crate::journey::EventType;
use crate::storage::outbox::EndpointRow;

/// One `[[webhooks]]` entry, checked, its secrets read.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Names it in the CLI, the outbox and the metrics.
    pub name: String,
    pub url: Url,
    /// One, or two during a rotation: every message is signed with each.
    pub secrets: Vec<WebhookSecret>,
    /// The event types it wants; `None`: all.
    pub events: Option<BTreeSet<EventType>>,
    /// An attempt without a complete answer after this long has failed.
    pub timeout: Duration,
    /// Send the journey's kept `data` in the payload.
    pub include_data: bool,
}

impl Endpoint {
    /// As `webhook_endpoints` holds it.
    pub fn row(&self) -> EndpointRow {
        EndpointRow {
            name: self.name.clone(),
            url: self.url.to_string(),
            events: events_column(self.events.as_ref()),
        }
    }
}

/// `*`, or the types between spaces, so that `LIKE '% type %'` finds one.
fn events_column(events: Option<&BTreeSet<EventType>>) -> String {
    match events {
        None => "*".into(),
        Some(types) => {
            let names: Vec<&str> = types.iter().map(|kind| kind.as_str()).collect();
            format!(" {} ", names.join(" "))
        }
    }
}

/// The name an endpoint gets when its entry gives none: its URL without the query string
/// (which may hold a token).
pub fn default_name(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    shown.to_string()
}

/// How the sender works (`[webhook_delivery]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// The gap before each retry; when it runs out, the delivery is given up.
    pub retry_schedule: Vec<Duration>,
    /// An endpoint failing continuously for this long is disabled.
    pub disable_after: Duration,
    /// Attempts in flight at most.
    pub concurrency: usize,
    /// At shutdown, how long attempts in flight may take to finish before they are cut off
    /// (`shutdown.grace_period`); a cut-off delivery is sent again after the restart.
    pub grace_period: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_stored_so_that_like_finds_each_type() {
        assert_eq!(events_column(None), "*");
        let wanted = BTreeSet::from([EventType::Failed, EventType::Completed]);
        assert_eq!(
            events_column(Some(&wanted)),
            " journey.completed journey.failed "
        );
    }

    #[test]
    fn default_names_drop_the_query_and_any_password() {
        let url = Url::parse("https://user:pw@hooks.example/in?token=abc#x").unwrap();
        assert_eq!(default_name(&url), "https://user@hooks.example/in");
    }
}
