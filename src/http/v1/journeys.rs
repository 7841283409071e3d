//! `/v1/journeys`: what applications do with journeys.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::rejected;
use crate::config::Caller;
use crate::events::JourneyEvent;
use crate::http::HttpState;
use crate::http::problem::Problem;
use crate::journey::{ApiVersion, InstanceId, StopReason};
use crate::storage::{Abandoned, ListCursor, ListFilter, StoreError};

/// Most IDs one enqueue (or forget) may carry.
pub const MAX_ENQUEUE: usize = 10_000;
/// Most journeys one page of the list may hold, and how many it holds unless asked.
const MAX_PAGE: u32 = 1_000;
const DEFAULT_PAGE: u32 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct EnqueueRequest {
    instance_ids: Vec<String>,
    api_version: Option<ApiVersion>,
}

/// `POST /v1/journeys`: adds journeys, all or none, as `journeyd enqueue` does.
pub(super) async fn enqueue(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<EnqueueRequest>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    let Json(request) = body.map_err(rejected)?;
    check_count(&request.instance_ids)?;
    let mut ids = Vec::with_capacity(request.instance_ids.len());
    let mut invalid = Vec::new();
    for raw in &request.instance_ids {
        match InstanceId::parse(raw) {
            Ok(id) => ids.push(id),
            Err(err) => invalid.push(json!({"instanceId": raw, "problem": err.to_string()})),
        }
    }
    if !invalid.is_empty() {
        let detail = format!(
            "{} invalid instance ID(s); nothing was enqueued",
            invalid.len()
        );
        return Err(
            Problem::new(StatusCode::BAD_REQUEST, detail).with("invalidIds", invalid.into())
        );
    }
    let enqueued = state
        .store
        .enqueue(&ids, request.api_version, state.clock.now())
        .await
        .map_err(store_failed)?;
    tracing::info!(
        event = "journeys_enqueued",
        caller = %caller.name,
        added = enqueued.added.len(),
        already_tracked = enqueued.already_tracked.len(),
        "journeys enqueued over the HTTP API"
    );
    Ok(Json(json!({
        "added": enqueued.added,
        "alreadyTracked": enqueued.already_tracked,
    })))
}

/// `GET /v1/journeys/{instanceId}`: a journey and its transitions, as `journeyd status --json`.
pub(super) async fn show(
    State(state): State<HttpState>,
    Path(instance_id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let Some(journey) = state
        .store
        .journey(&instance_id)
        .await
        .map_err(store_failed)?
    else {
        return Err(unknown(&instance_id));
    };
    let transitions = state
        .store
        .transitions(&instance_id)
        .await
        .map_err(store_failed)?;
    Ok(Json(
        json!({"journey": journey, "transitions": transitions}),
    ))
}

/// The filters of `journeyd list`, as query parameters; all text, so that a bad one is named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    status: Option<String>,
    active: Option<String>,
    stopped: Option<String>,
    stuck: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// `GET /v1/journeys`: a page of journeys, newest first, and the cursor of the next.
pub(super) async fn list(
    State(state): State<HttpState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(params) =
        params.map_err(|err| Problem::new(StatusCode::BAD_REQUEST, err.body_text()))?;
    let active = flag("active", params.active.as_deref())?;
    let stopped = flag("stopped", params.stopped.as_deref())?;
    if active && stopped {
        return Err(bad_parameter("`active` and `stopped` exclude each other"));
    }
    let limit = match params.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| {
                bad_parameter(&format!("`limit` must be 1 to {MAX_PAGE}, not {text:?}"))
            })?,
    };
    let after = params
        .after
        .as_deref()
        .map(|token| {
            ListCursor::decode(token).ok_or_else(|| {
                bad_parameter("`after` is not a cursor this API gave (`next` of a page)")
            })
        })
        .transpose()?;
    let filter = ListFilter {
        status: params.status,
        active: match (active, stopped) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        stuck: flag("stuck", params.stuck.as_deref())?,
        limit,
        after,
    };
    let page = state.store.list(&filter).await.map_err(store_failed)?;
    Ok(Json(json!({
        "journeys": page.journeys,
        "next": page.next.map(|cursor| cursor.encode()),
    })))
}

/// `DELETE /v1/journeys/{instanceId}`: stop tracking a journey the application gave up, as
/// `journeyd stop` does; its row and history stay.
pub(super) async fn stop(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    Path(instance_id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let detail = format!("stopped over the HTTP API by {:?}", caller.name);
    let outcome = state
        .store
        .abandon(&[instance_id.as_str()], state.clock.now(), &detail)
        .await
        .map_err(store_failed)?;
    let (stopped, reason) = match outcome.into_iter().next() {
        Some(Abandoned::Now) => {
            JourneyEvent::Stopped {
                instance_id: instance_id.clone(),
                reason: StopReason::Abandoned,
                detail,
            }
            .emit();
            (true, Some(StopReason::Abandoned.as_str().to_owned()))
        }
        Some(Abandoned::Already(reason)) => (false, reason),
        Some(Abandoned::Unknown) | None => return Err(unknown(&instance_id)),
    };
    Ok(Json(json!({
        "instanceId": instance_id,
        "stopped": stopped,
        "stopReason": reason,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ForgetRequest {
    instance_ids: Vec<String>,
}

/// `POST /v1/journeys/forget`: deletes journeys and everything journeyd holds about them,
/// polled or not, in one transaction, as `journeyd forget` does (an erasure request). An ID
/// journeyd does not know is listed in `unknown`; the others are forgotten all the same.
pub(super) async fn forget(
    State(state): State<HttpState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<ForgetRequest>, JsonRejection>,
) -> Result<Json<Value>, Problem> {
    let Json(request) = body.map_err(rejected)?;
    check_count(&request.instance_ids)?;
    let asked: Vec<&str> = request.instance_ids.iter().map(String::as_str).collect();
    let outcome = state.store.forget(&asked).await.map_err(store_failed)?;
    for id in &outcome.forgotten {
        JourneyEvent::Forgotten {
            instance_id: id.clone(),
            by: format!("the HTTP API's caller {:?}", caller.name),
        }
        .emit();
    }
    Ok(Json(json!({
        "forgotten": outcome.forgotten,
        "unknown": outcome.unknown,
    })))
}

/// A request's `instanceIds` holds 1 to [`MAX_ENQUEUE`] of them.
fn check_count(ids: &[String]) -> Result<(), Problem> {
    let count = ids.len();
    if (1..=MAX_ENQUEUE).contains(&count) {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("`instanceIds` must hold 1 to {MAX_ENQUEUE} IDs, not {count}"),
    ))
}

/// A boolean query parameter: `true` or `false`; absent is false.
fn flag(name: &str, value: Option<&str>) -> Result<bool, Problem> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(bad_parameter(&format!(
            "`{name}` must be `true` or `false`, not {other:?}"
        ))),
    }
}

fn bad_parameter(detail: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, detail)
}

fn unknown(instance_id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("journey {instance_id:?} is not tracked"),
    )
}

/// The database failed: a 503 (it can be written again later, as the daemon's own writes are)
/// whose detail names the class of fault, not the database's own words.
fn store_failed(err: StoreError) -> Problem {
    tracing::warn!(error = %err, "an API request could not use the database");
    let detail = match err.write_fault() {
        Some(fault) => format!("the database cannot be written now ({fault}); try again later"),
        None => "the database cannot be read now; try again later".to_owned(),
    };
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail)
}
