//! The writes on journeys that do not come from a poll: adding and stopping them, the stuck
//! marks, retention, forgetting, and a daemon's leases when it stops.

use sqlx::Executor;

use super::{end_leases, json_array, lock_rows};
use crate::clock::{self, Timestamp};
use crate::journey::{Announcement, ApiVersion, EventType, InstanceId, StopReason};
use crate::storage::dialect::{Binder, Dialect};
use crate::storage::outbox::shared::append;
use crate::storage::{Abandoned, NewlyStuck, Retention, STUCK_AGE, STUCK_STATUS, StuckRules, sql};

/// Inserts the journeys of `ids` not tracked yet; returns the IDs added.
pub(in crate::storage) async fn enqueue<DB>(
    conn: &mut DB::Connection,
    ids: &[InstanceId],
    api_version: Option<ApiVersion>,
    now: Timestamp,
) -> Result<Vec<String>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let ids: Vec<&str> = ids.iter().map(InstanceId::as_str).collect();
    Binder::<DB>::new(DB::ENQUEUE)
        .text(Some(&json_array(&ids)))
        .time(Some(now))
        .text(api_version.map(ApiVersion::as_str))
        .fetch_texts(&mut *conn)
        .await
}

/// Stops polling the journeys of `ids` at `now`, as abandoned (`detail` says by whom), with
/// their `journey.stopped` events; says what became of each.
pub(in crate::storage) async fn abandon<DB>(
    conn: &mut DB::Connection,
    ids: &[&str],
    now: Timestamp,
    detail: &str,
) -> Result<Vec<Abandoned>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (String, Option<String>): for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let json = json_array(ids);
    lock_rows::<DB>(conn, &json).await?;
    let stopped: std::collections::HashSet<String> = Binder::<DB>::new(DB::ABANDON)
        .text(Some(&json))
        .time(Some(now))
        .text(Some(StopReason::Abandoned.as_str()))
        .fetch_texts(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let stopped_ids: Vec<&str> = stopped.iter().map(String::as_str).collect();
    let stopped_ids = json_array(&stopped_ids);
    Binder::<DB>::new(DB::UNSCHEDULE)
        .text(Some(&stopped_ids))
        .execute(&mut *conn)
        .await?;
    end_leases::<DB>(conn, &stopped_ids).await?;
    let stopped_event = [Announcement::new(EventType::Stopped)
        .with("reason", StopReason::Abandoned.as_str())
        .with("detail", detail)];
    for id in &stopped {
        append::<DB>(conn, id, &stopped_event, now).await?;
    }
    let known: std::collections::HashMap<String, Option<String>> =
        Binder::<DB>::new(DB::STOP_REASONS)
            .text(Some(&json))
            .fetch_as::<_, (String, Option<String>)>(&mut *conn)
            .await?
            .into_iter()
            .collect();
    Ok(ids
        .iter()
        .map(|id| match known.get(*id) {
            None => Abandoned::Unknown,
            Some(_) if stopped.contains(*id) => Abandoned::Now,
            Some(reason) => Abandoned::Already(reason.clone()),
        })
        .collect())
}

/// Marks journeys that became stuck at `now` by `rules`, with the backend's renderings of
/// [`sql::MARK_STUCK_BY_AGE`] and [`sql::MARK_STUCK_BY_STATUS`]; returns them.
pub(in crate::storage) async fn mark_stuck<DB>(
    conn: &mut DB::Connection,
    (by_age, by_status): (&'static str, &'static str),
    now: Timestamp,
    rules: &StuckRules,
) -> Result<Vec<NewlyStuck>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    NewlyStuck: for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut stuck = Binder::<DB>::new(by_age)
        .time(Some(now))
        .time(Some(clock::sub(now, rules.after)))
        .text(Some(STUCK_AGE))
        .fetch_as(&mut *conn)
        .await?;
    for (status, limit) in &rules.by_status {
        stuck.extend(
            Binder::<DB>::new(by_status)
                .time(Some(now))
                .time(Some(clock::sub(now, *limit)))
                .text(Some(status))
                .text(Some(STUCK_STATUS))
                .fetch_as::<_, NewlyStuck>(&mut *conn)
                .await?,
        );
    }
    for journey in &stuck {
        let event = Announcement::new(EventType::Stuck)
            .with("reason", journey.stuck_reason.as_str())
            .with("since", journey.since.as_str());
        append::<DB>(conn, &journey.instance_id, &[event], now).await?;
    }
    Ok(stuck)
}

/// Drops `owner`'s leases and its replica row.
pub(in crate::storage) async fn release<DB>(
    conn: &mut DB::Connection,
    owner: &str,
) -> Result<u64, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let released = Binder::<DB>::new(sql::RELEASE_LEASES)
        .text(Some(owner))
        .execute(&mut *conn)
        .await?;
    Binder::<DB>::new(sql::REMOVE_REPLICA)
        .text(Some(owner))
        .execute(&mut *conn)
        .await?;
    Ok(released)
}

/// Applies `action` to up to `batch` journeys stopped before `cutoff`; returns how many it
/// touched.
pub(in crate::storage) async fn retain<DB>(
    conn: &mut DB::Connection,
    action: Retention,
    cutoff: Timestamp,
    batch: u32,
) -> Result<u64, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let statement = match action {
        Retention::ClearData => DB::CLEAR_DATA,
        Retention::Delete => DB::PRUNE,
    };
    Binder::<DB>::new(statement)
        .time(Some(cutoff))
        .int(Some(i64::from(batch)))
        .execute(&mut *conn)
        .await
}

/// Deletes the journeys of `ids` and everything recorded about them; returns the IDs deleted.
pub(in crate::storage) async fn forget<DB>(
    conn: &mut DB::Connection,
    ids: &[&str],
) -> Result<Vec<String>, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let json = json_array(ids);
    lock_rows::<DB>(conn, &json).await?;
    end_leases::<DB>(conn, &json).await?;
    Binder::<DB>::new(DB::FORGET)
        .text(Some(&json))
        .fetch_texts(&mut *conn)
        .await
}
