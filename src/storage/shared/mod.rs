//! The write paths (and a few reads) both backends share. The statements are the same (see [`super::sql`]); what
//! differs is how a timestamp is bound, which [`Dialect`] says, so each write is written once.

mod lifecycle;
mod store;

pub(super) use lifecycle::{abandon, enqueue, forget, mark_stuck, release, retain};
pub(super) use store::store_impl;

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sqlx::Executor;

use super::dialect::{Binder, Dialect};
use super::outbox::shared::append;
use super::row_write::{FinishedRow, RowWrite, ScheduleCounters};
use super::rows::JourneyTotals;
use super::sql;
use crate::clock::Timestamp;
use crate::journey::{ApiVersion, JourneyUpdate, UpdateOutcome};

/// Writes poll results with their transitions; `true` for each one written.
///
/// One statement for each table a commit writes, whatever its size: the schedule of every poll
/// (guarded by its lease and poll count, which says which are written; a journey whose polling
/// ends leaves the schedule), then what the written ones changed of their journeys, their
/// transitions, and the end of their leases. Where writers may wait for each other
/// (PostgreSQL), the leases are first locked in instance-ID order, the order the heartbeat
/// renews them in, so two transactions never wait for each other's rows (a deadlock).
pub(super) async fn record<DB>(
    conn: &mut DB::Connection,
    owner: &str,
    updates: &[JourneyUpdate],
) -> Result<Vec<bool>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
    FinishedRow: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = updates.iter().map(|u| u.instance_id.as_str()).collect();
    lock_rows::<DB>(conn, &json_array(&ids)).await?;
    let writes: Vec<RowWrite> = updates.iter().map(RowWrite::of).collect();
    let schedule_rows = |ending: bool| -> Option<String> {
        let rows: Vec<Value> = writes
            .iter()
            .filter(|write| write.ends_polling() == ending)
            .map(RowWrite::schedule)
            .collect();
        (!rows.is_empty()).then(|| Value::from(rows).to_string())
    };
    let mut written: HashSet<String> = HashSet::new();
    if let Some(rows) = schedule_rows(false) {
        written = Binder::<DB>::new(DB::RECORD_SCHEDULE)
            .text(Some(owner))
            .text(Some(&rows))
            .fetch_texts(&mut *conn)
            .await?
            .into_iter()
            .collect();
    }
    let mut finished: HashMap<String, ScheduleCounters> = HashMap::new();
    if let Some(rows) = schedule_rows(true) {
        let before: Vec<FinishedRow> = Binder::<DB>::new(DB::FINISH_SCHEDULE)
            .text(Some(owner))
            .text(Some(&rows))
            .fetch_as(&mut *conn)
            .await?;
        finished.extend(before.into_iter().map(ScheduleCounters::of_row));
    }
    written.extend(finished.keys().cloned());
    let applied: Vec<bool> = ids.iter().map(|id| written.contains(*id)).collect();
    let kept = || {
        writes
            .iter()
            .zip(&applied)
            .filter(|(_, applied)| **applied)
            .map(|(write, _)| write)
    };
    let journeys: Vec<Value> = kept()
        .filter_map(|write| write.journey(finished.get(write.instance_id())))
        .collect();
    if !journeys.is_empty() {
        Binder::<DB>::new(DB::RECORD_JOURNEYS)
            .text(Some(
                &serde_json::to_string(&journeys).expect("JSON values serialize"),
            ))
            .execute(&mut *conn)
            .await?;
    }
    let transitions: Vec<Value> = kept().filter_map(RowWrite::transition).collect();
    if !transitions.is_empty() {
        Binder::<DB>::new(DB::INSERT_TRANSITIONS)
            .text(Some(&Value::from(transitions).to_string()))
            .execute(&mut *conn)
            .await?;
    }
    let written_ids: Vec<&str> = written.iter().map(String::as_str).collect();
    end_leases::<DB>(conn, &json_array(&written_ids)).await?;
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

/// Leases up to `limit` journeys due at `now` to `owner` until `lease_until`; returns what
/// their polls need, as the backend's `Claimed` rows (see [`Dialect::CLAIM`]).
pub(super) async fn claim<DB, Claimed>(
    conn: &mut DB::Connection,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
    default_version: ApiVersion,
) -> Result<Vec<Claimed>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Claimed: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let statements = DB::CLAIM;
    let claimed = Binder::<DB>::new(statements.claim)
        .text(Some(owner))
        .time(Some(lease_until))
        .time(Some(now))
        .int(Some(i64::try_from(limit).unwrap_or(i64::MAX)))
        .fetch_texts(&mut *conn)
        .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    Binder::<DB>::new(statements.read)
        .text(Some(
            &serde_json::to_string(&claimed).expect("strings serialize"),
        ))
        .text(Some(default_version.as_str()))
        .fetch_as(&mut *conn)
        .await
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

/// Ends the leases of the journeys in `ids` (a JSON array).
pub(super) async fn end_leases<DB>(conn: &mut DB::Connection, ids: &str) -> Result<(), sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    Binder::<DB>::new(DB::END_LEASES)
        .text(Some(ids))
        .execute(&mut *conn)
        .await
        .map(drop)
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
