//! The outbox's reads and writes, written once for both backends (see
//! [`super::super::shared`]).

use sqlx::Executor;

use super::super::dialect::{Binder, Dialect};
use super::{
    AttemptRecord, DeliveryState, DisabledEndpoint, DueDelivery, EndpointRow, Replay, sql,
};
use crate::clock::{Timestamp, format_timestamp};
use crate::journey::Announcement;

/// Writes the events `announcements` of journey `instance_id` at `at`, each with its
/// deliveries, in the caller's transaction (nothing while no endpoint is configured).
pub(in crate::storage) async fn append<DB>(
    conn: &mut DB::Connection,
    instance_id: &str,
    announcements: &[Announcement],
    at: Timestamp,
) -> Result<(), sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    for announcement in announcements {
        let detail = serde_json::Value::Object(announcement.detail.clone()).to_string();
        let event_type = announcement.event_type.as_str();
        let ids = Binder::<DB>::new(sql::APPEND_EVENT)
            .text(Some(instance_id))
            .text(Some(event_type))
            .time(Some(at))
            .text(announcement.previous_status.as_deref())
            .text(Some(&detail))
            .fetch_as::<_, (i64,)>(&mut *conn)
            .await?;
        let Some((event_id,)) = ids.first() else {
            // No endpoint configured, or the journey is gone.
            return Ok(());
        };
        Binder::<DB>::new(sql::QUEUE_DELIVERIES)
            .int(Some(*event_id))
            .text(Some(instance_id))
            .time(Some(at))
            .text(Some(event_type))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// See [`super::WebhookStore::claim_deliveries`].
pub(in crate::storage) async fn claim<DB>(
    conn: &mut DB::Connection,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<DueDelivery>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
    DueDelivery: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let claimed: Vec<i64> = Binder::<DB>::new(DB::CLAIM_DELIVERIES)
        .text(Some(owner))
        .time(Some(lease_until))
        .time(Some(now))
        .int(Some(i64::try_from(limit).unwrap_or(i64::MAX)))
        .fetch_as::<_, (i64,)>(&mut *conn)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(&claimed).expect("integers serialize");
    let mut due: Vec<DueDelivery> = Binder::<DB>::new(DB::DUE_DELIVERIES)
        .text(Some(&ids))
        .fetch_as(&mut *conn)
        .await?;
    due.sort_by_key(|delivery| delivery.delivery_id);
    Ok(due)
}

/// See [`super::WebhookStore::record_attempts`].
pub(in crate::storage) async fn record_attempts<DB>(
    conn: &mut DB::Connection,
    owner: &str,
    attempts: &[AttemptRecord],
    now: Timestamp,
    failing_since_before: Timestamp,
) -> Result<Vec<DisabledEndpoint>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let rows = serde_json::Value::from(
        attempts
            .iter()
            .map(|attempt| {
                let (next_attempt_at, ended_at) = match attempt.next {
                    DeliveryState::Pending { next_attempt_at } => (Some(next_attempt_at), None),
                    _ => (None, Some(attempt.attempted_at)),
                };
                serde_json::json!({
                    "delivery_id": attempt.delivery_id,
                    "attempted_at": format_timestamp(attempt.attempted_at),
                    "status_code": attempt.status_code,
                    "duration_ms": attempt.duration_ms,
                    "error": attempt.error,
                    "response": attempt.response,
                    "state": attempt.next.as_str(),
                    "next_attempt_at": next_attempt_at.map(format_timestamp),
                    "ended_at": ended_at.map(format_timestamp),
                })
            })
            .collect::<Vec<_>>(),
    )
    .to_string();
    Binder::<DB>::new(DB::INSERT_ATTEMPTS)
        .text(Some(&rows))
        .execute(&mut *conn)
        .await?;
    Binder::<DB>::new(DB::SETTLE_DELIVERIES)
        .text(Some(&rows))
        .text(Some(owner))
        .execute(&mut *conn)
        .await?;
    // Each endpoint's latest news: a success ends its failing streak.
    let mut endpoints: std::collections::BTreeMap<&str, (bool, bool)> = Default::default();
    for attempt in attempts {
        let news = endpoints.entry(&attempt.endpoint).or_default();
        news.0 |= attempt.succeeded();
        news.1 |= attempt.gone;
    }
    let mut disabled = Vec::new();
    for (name, (succeeded, gone)) in endpoints {
        let statement = if succeeded {
            sql::ENDPOINT_SUCCEEDED
        } else {
            sql::ENDPOINT_FAILED
        };
        Binder::<DB>::new(statement)
            .text(Some(name))
            .time(Some(now))
            .execute(&mut *conn)
            .await?;
        let (reason, failing_before) = if gone {
            ("the endpoint answered 410 Gone".to_owned(), None)
        } else if succeeded {
            continue;
        } else {
            (
                format!(
                    "failing continuously since before {}",
                    format_timestamp(failing_since_before)
                ),
                Some(failing_since_before),
            )
        };
        let turned_off = Binder::<DB>::new(sql::DISABLE_ENDPOINT)
            .text(Some(name))
            .time(Some(now))
            .text(Some(&reason))
            .time(failing_before)
            .fetch_texts(&mut *conn)
            .await?;
        if !turned_off.is_empty() {
            disabled.push(DisabledEndpoint {
                name: name.to_owned(),
                reason,
            });
        }
    }
    Ok(disabled)
}

/// See [`super::WebhookStore::sync_endpoints`].
pub(in crate::storage) async fn sync_endpoints<DB>(
    conn: &mut DB::Connection,
    endpoints: &[EndpointRow],
) -> Result<(), sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    for endpoint in endpoints {
        Binder::<DB>::new(sql::UPSERT_ENDPOINT)
            .text(Some(&endpoint.name))
            .text(Some(&endpoint.url))
            .text(Some(&endpoint.events))
            .execute(&mut *conn)
            .await?;
    }
    let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
    Binder::<DB>::new(DB::REMOVE_ENDPOINTS)
        .text(Some(
            &serde_json::to_string(&names).expect("strings serialize"),
        ))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// See [`super::WebhookStore::replay`].
pub(in crate::storage) async fn replay<DB>(
    conn: &mut DB::Connection,
    replay: &Replay,
    now: Timestamp,
) -> Result<u64, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let (statement, endpoint) = match replay {
        Replay::Event { endpoint, .. } => (sql::REPLAY_EVENT, endpoint),
        Replay::Since { endpoint, .. } => (sql::REPLAY_SINCE, endpoint),
    };
    let query = Binder::<DB>::new(statement)
        .time(Some(now))
        .text(endpoint.as_deref());
    let query = match replay {
        Replay::Event { message_id, .. } => query.text(Some(message_id)),
        Replay::Since { since, .. } => query.time(Some(*since)),
    };
    query.execute(&mut *conn).await
}
