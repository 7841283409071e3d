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
    next_poll_at: Option<String>,
    api_version: String,
    outcome: Option<String>,
}

impl From<ClaimedRow> for Claim {
    fn from(row: ClaimedRow) -> Self {
        let journey = (|| {
            Ok(TrackedJourney {
                enqueued_at: column_timestamp("enqueued_at", &row.enqueued_at)?,
                created_time: row
                    .created_time
                    .as_deref()
                    .map(|text| column_timestamp("created_time", text))
                    .transpose()?,
                instance_id: row.instance_id.clone(),
                status: row.status,
                polls: row.polls,
                unchanged_polls: row.unchanged_polls,
                consecutive_errors: row.consecutive_errors,
                consecutive_not_found: row.consecutive_not_found,
                stuck: row.stuck_since.is_some(),
                api_version: api_version_column(&row.api_version)?,
                outcome: row.outcome,
            })
        })();
        Claim {
            due_at: row
                .next_poll_at
                .as_deref()
                .and_then(|text| parse_timestamp(text).ok()),
            instance_id: row.instance_id,
            polls: row.polls,
            journey,
        }
    }
}

fn column_timestamp(column: &str, text: &str) -> Result<Timestamp, String> {
    parse_timestamp(text).map_err(|err| format!("column `{column}`: {err}"))
}
