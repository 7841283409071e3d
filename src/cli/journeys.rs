//! The commands that show and change tracked journeys: status, list, stop, forget.

use std::io::{IsTerminal, Write};

use anyhow::bail;
use journeyd::clock::{Clock, SystemClock};
use journeyd::events::JourneyEvent;
use journeyd::journey::StopReason;
use journeyd::storage::{Abandoned, JourneyRow, ListCursor, ListFilter, Store};

use super::{ListArgs, UsageError};

pub(super) async fn status(store: &dyn Store, instance_id: &str, json: bool) -> anyhow::Result<()> {
    let Some(row) = store.journey(instance_id).await? else {
        bail!(UsageError(format!(
            "journey {instance_id:?} is not tracked"
        )));
    };
    let transitions = store.transitions(instance_id).await?;
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({ "journey": row, "transitions": transitions });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let serde_json::Value::Object(fields) = serde_json::to_value(&row)? else {
        unreachable!("a row serialises to an object")
    };
    for (column, value) in fields {
        let text = match value {
            serde_json::Value::Null => "-".to_owned(),
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        writeln!(out, "{column:<22} {text}")?;
    }
    writeln!(out, "\ntransitions")?;
    for t in &transitions {
        writeln!(
            out,
            "  {}  {} -> {}",
            t.observed_at,
            t.from_status.as_deref().unwrap_or("(first seen)"),
            t.to_status
        )?;
    }
    Ok(())
}

pub(super) async fn list(store: &dyn Store, args: ListArgs) -> anyhow::Result<()> {
    let filter = ListFilter {
        status: args.status,
        active: match (args.active, args.stopped) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        stuck: args.stuck,
        limit: args.limit,
        after: args
            .after
            .as_deref()
            .map(|token| {
                ListCursor::decode(token)
                    .ok_or_else(|| UsageError(format!("{token:?} is not a cursor of `list`")))
            })
            .transpose()?,
    };
    let page = store.list(&filter).await?;
    let rows = &page.journeys;
    let mut out = std::io::stdout().lock();
    if let Some(next) = &page.next {
        eprintln!("more: journeyd list --after {}", next.encode());
    }
    if args.json {
        for row in rows {
            writeln!(out, "{}", serde_json::to_string(row)?)?;
        }
        return Ok(());
    }
    let header = [
        "INSTANCE_ID",
        "STATUS",
        "POLLS",
        "ERRORS",
        "NEXT_POLL / STOPPED",
        "ENQUEUED",
    ]
    .map(str::to_owned);
    writeln!(out, "{}", table_line(&header))?;
    for row in rows {
        let cells = [
            row.instance_id.clone(),
            row.status.clone().unwrap_or_else(|| "-".into()),
            row.polls.to_string(),
            row.error_count.to_string(),
            polling_state(row),
            row.enqueued_at.clone(),
        ];
        writeln!(out, "{}", table_line(&cells))?;
    }
    if std::io::stdout().is_terminal() {
        writeln!(out, "({} shown, at most {})", rows.len(), args.limit)?;
    }
    Ok(())
}

pub(super) async fn stop(store: &dyn Store, ids: &[String]) -> anyhow::Result<()> {
    let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    let detail = "stopped with `journeyd stop`";
    let outcomes = store.abandon(&asked, SystemClock.now(), detail).await?;
    let mut unknown = Vec::new();
    for (id, outcome) in asked.iter().zip(outcomes) {
        match outcome {
            Abandoned::Now => {
                JourneyEvent::Stopped {
                    instance_id: (*id).to_owned(),
                    reason: StopReason::Abandoned,
                    detail: detail.into(),
                }
                .emit();
                println!("{id}: stopped");
            }
            Abandoned::Already(reason) => println!(
                "{id}: already stopped ({})",
                reason.as_deref().unwrap_or("no reason recorded")
            ),
            Abandoned::Unknown => unknown.push(*id),
        }
    }
    if !unknown.is_empty() {
        bail!(UsageError(format!(
            "not tracked: {}; the others were handled",
            unknown.join(", ")
        )));
    }
    Ok(())
}

/// Deletes journeys for good; an unknown ID is reported after the others are forgotten.
pub(super) async fn forget(store: &dyn Store, ids: &[String]) -> anyhow::Result<()> {
    let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    let outcome = store.forget(&asked).await?;
    for id in &outcome.forgotten {
        JourneyEvent::Forgotten {
            instance_id: id.clone(),
            by: "journeyd forget".into(),
        }
        .emit();
        println!("{id}: forgotten");
    }
    if !outcome.unknown.is_empty() {
        bail!(UsageError(format!(
            "not tracked: {}; the others were forgotten",
            outcome.unknown.join(", ")
        )));
    }
    Ok(())
}

fn table_line([id, status, polls, errors, polling, enqueued]: &[String; 6]) -> String {
    format!("{id:<26} {status:<12} {polls:>5} {errors:>6}  {polling:<26} {enqueued}")
}

fn polling_state(row: &JourneyRow) -> String {
    match (&row.next_poll_at, &row.stop_reason) {
        (_, Some(reason)) => format!("stopped: {reason}"),
        (Some(next), None) => next.clone(),
        (None, None) => "-".into(),
    }
}
