//! A row the claim statement returns, read into a [`Claim`]: a timestamp another program wrote
//! unreadably makes the claim carry the problem instead of the journey.

use crate::clock::{Timestamp, parse_timestamp};
use crate::journey::TrackedJourney;
use crate::storage::{Claim, api_version_column};

#[derive(sqlx::FromRow)]
pub(super) struct ClaimedRow {
    instance_id: String,
    status: Option<String>,
    enqueued_at: String,
    created_time: Option<String>,
    polls: i64,
    unchanged_polls: i64,
    consecutive_errors: i64,
    consecutive_not_found: i64,
    stuck_since: Option<String>,
    pub(super) next_poll_at: Option<String>,
    api_version: String,
    outcome: Option<String>,
}

impl ClaimedRow {
    pub(super) fn into_claim(self) -> Claim {
        let journey = (|| {
            Ok(TrackedJourney {
                enqueued_at: column_timestamp("enqueued_at", &self.enqueued_at)?,
                created_time: self
                    .created_time
                    .as_deref()
                    .map(|text| column_timestamp("created_time", text))
                    .transpose()?,
                instance_id: self.instance_id.clone(),
                status: self.status,
                polls: self.polls,
                unchanged_polls: self.unchanged_polls,
                consecutive_errors: self.consecutive_errors,
                consecutive_not_found: self.consecutive_not_found,
                stuck: self.stuck_since.is_some(),
                api_version: api_version_column(&self.api_version)?,
                outcome: self.outcome,
            })
        })();
        Claim {
            due_at: self
                .next_poll_at
                .as_deref()
                .and_then(|text| parse_timestamp(text).ok()),
            instance_id: self.instance_id,
            polls: self.polls,
            journey,
        }
    }
}

fn column_timestamp(column: &str, text: &str) -> Result<Timestamp, String> {
    parse_timestamp(text).map_err(|err| format!("column `{column}`: {err}"))
}
