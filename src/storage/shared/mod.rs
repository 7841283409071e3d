//! The write paths (and a few reads) both backends share. The statements are the same (see [`super::sql`]); what
//! differs is how a timestamp is bound, which [`Dialect`] says, so each write is written once.

mod lifecycle;
mod store;

pub(super) use lifecycle::{abandon, enqueue, forget, mark_stuck, release, retain};
pub(super) use store::store_impl;

use sqlx::Executor;

use super::dialect::{Binder, Dialect};
use super::outbox::shared::append;
use super::row_write::RowWrite;
use super::rows::JourneyTotals;
use super::sql;
use crate::clock::{Timestamp, format_timestamp};
use crate::journey::{JourneyUpdate, UpdateOutcome};

/// Writes poll results with their transitions; `true` for each one written.
///
/// Polls that saw the same status again (most of them) are written by one statement for the
/// whole batch, the others one by one. Where writers may wait for each other (PostgreSQL), the
/// rows are first locked in instance-ID order, the order the heartbeat renews leases in, so two
/// transactions never wait for each other's rows (a deadlock).
pub(super) async fn record<DB>(
    conn: &mut DB::Connection,
    owner: &str,
    updates: &[JourneyUpdate],
) -> Result<Vec<bool>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut applied = vec![false; updates.len()];
    let ids: Vec<&str> = updates.iter().map(|u| u.instance_id.as_str()).collect();
    lock_rows::<DB>(conn, &json_array(&ids)).await?;
    if let Some(rows) = unchanged_rows(updates) {
        let written: std::collections::HashSet<String> =
            Binder::<DB>::new(DB::RECORD_UNCHANGED_BATCH)
                .text(Some(owner))
                .text(Some(&rows))
                .fetch_texts(&mut *conn)
                .await?
                .into_iter()
                .collect();
        for (update, applied) in updates.iter().zip(&mut applied) {
            if matches!(update.outcome, UpdateOutcome::Unchanged { .. }) {
                *applied = written.contains(&update.instance_id);
            }
        }
    }
    for (index, update) in updates.iter().enumerate() {
        let Some(write) = RowWrite::of(update) else {
            continue;
        };
        let written = Binder::<DB>::new(sql::RECORD_POLL)
            .text(Some(write.instance_id))
            .text(Some(owner))
            .text(write.status)
            .time(write.created_time)
            .time(write.completed_time)
            .int(write.unchanged_polls)
            .flag(write.transition.is_some())
            .time(Some(write.polled_at))
            .text(write.data)
            .int(write.consecutive_errors)
            .text(write.error)
            .text(write.request_id)
            .time(write.next_poll_at)
            .time(write.stopped_at)
            .text(write.stop_reason)
            .int(Some(write.expected_polls))
            .int(write.consecutive_not_found)
            .text(write.error_class)
            .flag(write.attempted)
            .text(write.outcome)
            .text(write.completed_time_source)
            .execute(&mut *conn)
            .await?
            == 1;
        if let (true, Some(transition)) = (written, write.transition) {
            Binder::<DB>::new(sql::INSERT_TRANSITION)
                .text(Some(write.instance_id))
                .text(transition.from.as_deref())
                .text(Some(&transition.to))
                .time(Some(write.polled_at))
                .execute(&mut *conn)
                .await?;
        }
        applied[index] = written;
    }
    for (update, _) in updates
        .iter()
        .zip(&applied)
        .filter(|(_, applied)| **applied)
    {
        append::<DB>(
            conn,
            &update.instance_id,
            &update.announcements,
            update.polled_at,
        )
        .await?;
    }
    Ok(applied)
}

/// How many journeys there are, and how many had an error since `errors_since`.
pub(super) async fn totals<DB>(
    conn: &mut DB::Connection,
    errors_since: Timestamp,
) -> Result<JourneyTotals, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let count = async |binder: Binder<'_, DB>, conn: &mut DB::Connection| {
        let rows: Vec<(i64,)> = binder.fetch_as(conn).await?;
        Ok::<_, sqlx::Error>(rows.first().map_or(0, |(count,)| *count))
    };
    Ok(JourneyTotals {
        journeys: count(Binder::new(sql::COUNT_JOURNEYS), &mut *conn).await?,
        errored: count(
            Binder::new(sql::COUNT_ERRORS_SINCE).time(Some(errors_since)),
            &mut *conn,
        )
        .await?,
    })
}

/// Which of `updates` the rows already hold (see [`sql::RECORDED`]).
pub(super) async fn recorded<DB>(
    conn: &mut DB::Connection,
    updates: &[JourneyUpdate],
) -> Result<Vec<bool>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut recorded = Vec::with_capacity(updates.len());
    for update in updates {
        let sent_request = !matches!(update.outcome, UpdateOutcome::Stopped { .. });
        let rows = Binder::<DB>::new(sql::RECORDED)
            .text(Some(&update.instance_id))
            .int(Some(update.expected_polls + i64::from(sent_request)))
            .time(Some(update.polled_at))
            .fetch_texts(&mut *conn)
            .await?;
        recorded.push(!rows.is_empty());
    }
    Ok(recorded)
}

/// Where writers may wait for each other's rows, locks the rows of the journeys in `ids` (a
/// JSON array) in instance-ID order, so that two transactions never wait for each other.
pub(super) async fn lock_rows<DB>(conn: &mut DB::Connection, ids: &str) -> Result<(), sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if let Some(lock) = DB::LOCK_ROWS {
        Binder::<DB>::new(lock)
            .text(Some(ids))
            .fetch_texts(&mut *conn)
            .await?;
    }
    Ok(())
}

pub(super) fn json_array(ids: &[&str]) -> String {
    serde_json::to_string(ids).expect("strings serialize")
}

/// The polls among `updates` that saw the same status again, as the JSON array the
/// backends' `RECORD_UNCHANGED_BATCH` unpacks; `None` when there are none.
fn unchanged_rows(updates: &[JourneyUpdate]) -> Option<String> {
    let rows: Vec<serde_json::Value> = updates
        .iter()
        .filter_map(|update| match update.outcome {
            UpdateOutcome::Unchanged {
                unchanged_polls,
                created_time,
            } => Some(serde_json::json!({
                "instance_id": update.instance_id,
                "unchanged_polls": unchanged_polls,
                "created_time": created_time.map(format_timestamp),
                "polled_at": format_timestamp(update.polled_at),
                "next_poll_at": update.next_poll_at.map(format_timestamp),
                "expected_polls": update.expected_polls,
            })),
            _ => None,
        })
        .collect();
    (!rows.is_empty()).then(|| serde_json::Value::from(rows).to_string())
}

/// Records `owner`'s heartbeat, extends its leases of the journeys `in_flight`, forgets
/// replicas silent for a day or more, and returns how many beat after `alive_after`.
///
/// Only the polls in flight: a journey whose result could not be written stays leased to
/// `owner`, and renewing every lease it holds would keep that journey from everyone for good.
pub(super) async fn heartbeat<DB>(
    conn: &mut DB::Connection,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    alive_after: Timestamp,
    in_flight: &[&str],
) -> Result<u64, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    Binder::<DB>::new(sql::UPSERT_REPLICA)
        .text(Some(owner))
        .time(Some(now))
        .execute(&mut *conn)
        .await?;
    if !in_flight.is_empty() {
        let ids = json_array(in_flight);
        lock_rows::<DB>(conn, &ids).await?;
        Binder::<DB>::new(DB::RENEW_LEASES)
            .text(Some(&ids))
            .text(Some(owner))
            .time(Some(lease_until))
            .execute(&mut *conn)
            .await?;
    }
    let long_gone = now - chrono::Duration::days(1);
    Binder::<DB>::new(sql::FORGET_REPLICAS)
        .time(Some(long_gone))
        .execute(&mut *conn)
        .await?;
    let alive = Binder::<DB>::new(sql::ALIVE_REPLICAS)
        .time(Some(alive_after))
        .fetch_as::<_, (i64,)>(&mut *conn)
        .await?;
    Ok(alive
        .first()
        .map_or(0, |(count,)| (*count).try_into().unwrap_or(0)))
}
