//! `journeyd webhooks ...`: the outbox for operators.

use anyhow::bail;
use clap::Subcommand;
use journeyd::clock::{self, Clock, SystemClock, Timestamp, format_timestamp, parse_timestamp};
use journeyd::config::Config;
use journeyd::storage::Store;
use journeyd::storage::outbox::{AttemptFilter, Replay};
use journeyd::webhooks;
use serde_json::json;

use super::UsageError;

#[derive(Debug, Subcommand)]
pub(crate) enum WebhooksCommand {
    /// The endpoints: backlog, oldest pending delivery, last success, disabled or not.
    List {
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Attempts, newest first.
    Attempts {
        /// Only attempts to this endpoint.
        #[arg(long, value_name = "NAME")]
        endpoint: Option<String>,
        /// Only attempts about this journey.
        #[arg(long, value_name = "ID")]
        instance_id: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send events again (under their own `webhook-id`), to every endpoint that wants them or
    /// to one.
    Replay {
        /// One event, by its `webhook-id`.
        #[arg(
            long,
            value_name = "ID",
            required_unless_present = "since",
            conflicts_with = "since"
        )]
        event: Option<String>,
        /// Every event since this time: RFC 3339 (`2026-12-01T09:00:00Z`) or an age (`2h`).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        #[arg(long, value_name = "NAME")]
        endpoint: Option<String>,
    },
    /// Send one signed `webhook.test` event to an endpoint now, and say what it answered.
    Test {
        /// The endpoint's name.
        endpoint: String,
    },
    /// Turn a disabled endpoint back on; `replay --since` sends what it missed.
    Enable {
        /// The endpoint's name.
        endpoint: String,
    },
}

pub(crate) async fn execute(
    config: &Config,
    store: &dyn Store,
    command: WebhooksCommand,
) -> anyhow::Result<()> {
    let outbox = store.webhooks();
    match command {
        WebhooksCommand::List { json } => {
            let now = SystemClock.now();
            for endpoint in outbox.endpoints().await? {
                if json {
                    println!("{}", serde_json::to_string(&endpoint)?);
                    continue;
                }
                let oldest = endpoint.oldest_pending_at.map_or("-".into(), |at| {
                    let age = clock::duration_between(at, now).as_secs();
                    humantime::format_duration(std::time::Duration::from_secs(age)).to_string()
                });
                let state = match (&endpoint.disabled_at, &endpoint.disabled_reason) {
                    (Some(at), reason) => format!(
                        "disabled at {} ({})",
                        format_timestamp(*at),
                        reason.as_deref().unwrap_or("no reason recorded")
                    ),
                    (None, _) => "enabled".into(),
                };
                println!(
                    "{}  {}\n  {state}; backlog {} (oldest {oldest}); last success {}",
                    endpoint.name,
                    endpoint.url,
                    endpoint.backlog,
                    endpoint
                        .last_success_at
                        .map_or("never".into(), format_timestamp),
                );
            }
        }
        WebhooksCommand::Attempts {
            endpoint,
            instance_id,
            limit,
            json,
        } => {
            let filter = AttemptFilter {
                endpoint,
                instance_id,
                limit,
            };
            for attempt in outbox.attempts(&filter).await? {
                if json {
                    println!("{}", serde_json::to_string(&attempt)?);
                    continue;
                }
                println!(
                    "{}  {}  {} {} ({})  {}  {} ms{}",
                    format_timestamp(attempt.attempted_at),
                    attempt.endpoint,
                    attempt.event_type,
                    attempt.message_id,
                    attempt.state,
                    attempt
                        .status_code
                        .map_or("no answer".into(), |status| status.to_string()),
                    attempt.duration_ms,
                    attempt
                        .error
                        .map_or(String::new(), |error| format!("  {error}")),
                );
            }
        }
        WebhooksCommand::Replay {
            event,
            since,
            endpoint,
        } => {
            let replay = match (event, since) {
                (Some(message_id), _) => Replay::Event {
                    message_id,
                    endpoint,
                },
                (None, Some(since)) => Replay::Since {
                    since: since_time(&since)?,
                    endpoint,
                },
                (None, None) => unreachable!("clap requires one"),
            };
            let queued = outbox.replay(&replay, SystemClock.now()).await?;
            println!("queued {queued} deliveries; a running daemon sends them");
        }
        WebhooksCommand::Test { endpoint } => test(config, &endpoint).await?,
        WebhooksCommand::Enable { endpoint } => {
            if !outbox.enable_endpoint(&endpoint).await? {
                return Err(
                    UsageError(format!("no webhook endpoint is named {endpoint:?}")).into(),
                );
            }
            println!("{endpoint}: enabled");
        }
    }
    Ok(())
}

/// `--since`: a time, or an age.
fn since_time(text: &str) -> Result<Timestamp, UsageError> {
    if let Ok(at) = parse_timestamp(text) {
        return Ok(at);
    }
    humantime::parse_duration(text)
        .map(|age| clock::sub(SystemClock.now(), age))
        .map_err(|_| {
            UsageError(format!(
                "--since {text:?} is neither an RFC 3339 time nor an age such as `2h`"
            ))
        })
}

/// Sends one signed test event to the endpoint named `name`.
async fn test(config: &Config, name: &str) -> anyhow::Result<()> {
    let endpoints = config.webhook_endpoints()?;
    let Some(endpoint) = endpoints.iter().find(|endpoint| endpoint.name == name) else {
        let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
        return Err(UsageError(format!(
            "no webhook endpoint is named {name:?} (configured: {})",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        ))
        .into());
    };
    let now = SystemClock.now();
    let message_id = format!("msg_test.{}", now.timestamp_millis());
    let body = serde_json::to_vec(&json!({
        "type": "webhook.test",
        "timestamp": format_timestamp(now),
        "data": { "endpoint": endpoint.name },
    }))?;
    let client = webhooks::client().map_err(anyhow::Error::msg)?;
    let sent = webhooks::send(&client, endpoint, &message_id, body, now).await;
    let answer = sent
        .status
        .map_or("no answer".into(), |status| format!("answered {status}"));
    println!(
        "{name}: sent {message_id}; {answer} in {} ms",
        sent.took.as_millis()
    );
    if let Some(response) = &sent.response {
        println!("{response}");
    }
    if !matches!(sent.status, Some(200..=299)) {
        bail!(
            "{name} did not accept the test event: {}",
            sent.error.as_deref().unwrap_or("no 2xx answer")
        );
    }
    Ok(())
}
