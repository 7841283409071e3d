//! The command line: what each subcommand does, on top of the library.

mod input;
mod journeys;
mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use journeyd::clock::{self, Clock, SystemClock};
use journeyd::config::{Config, ConfigError};
use journeyd::journey::ApiVersion;
use journeyd::storage::{self, Retention, Store};
use journeyd::telemetry::metrics;
use journeyd::{daemon, demo, housekeeping, shutdown, telemetry};

/// Tracks GBG GO identity-verification journeys until they end.
#[derive(Debug, Parser)]
#[command(name = "journeyd", version = env!("BUILD_VERSION_WITH_COMMIT"), about, max_term_width = 100)]
pub struct Cli {
    /// TOML configuration file (environment variables JOURNEYD_* override it).
    #[arg(
        long,
        short,
        global = true,
        env = "JOURNEYD_CONFIG",
        value_name = "PATH"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: poll every due journey until SIGTERM or SIGINT.
    Run,
    /// Add journeys to track (idempotent; all or nothing).
    Enqueue(EnqueueArgs),
    /// Show one journey and its status history.
    Status {
        instance_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List tracked journeys, newest first.
    List(ListArgs),
    /// Stop polling journeys the application gave up; their rows and history stay.
    Stop {
        /// Instance IDs to stop tracking.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Delete journeys and everything journeyd holds about them, polled or not (an erasure
    /// request).
    Forget {
        /// Instance IDs to forget.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Apply database migrations (`run` also does this at start).
    Migrate,
    /// The webhook outbox: endpoints, attempts, replays, a test event.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Delete journeys that stopped being polled long ago, with their transitions.
    Prune {
        /// Delete journeys stopped longer ago than this, e.g. `30d`.
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Run the daemon against a simulated GBG GO on a fresh database; no credentials needed.
    Demo {
        /// Keep the demo database at this path instead of a temporary file.
        #[arg(long, value_name = "PATH")]
        keep_database: Option<PathBuf>,
        /// The GBG GO API version the journeys run on.
        #[arg(long, value_name = "VERSION", default_value = "v1")]
        api_version: ApiVersion,
    },
    /// Print the shell completion script for bash, zsh or fish (generated from this very
    /// command line, so it never drifts from it).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), generated from this very command line.
    Man,
}

#[derive(Debug, Args)]
pub(crate) struct EnqueueArgs {
    /// Instance IDs to track.
    ids: Vec<String>,
    /// The GBG GO API version the journeys were started on (default: `api.version` when the
    /// daemon first polls them).
    #[arg(long, value_name = "VERSION")]
    api_version: Option<ApiVersion>,
    /// Also read IDs from this file, one a line (`-` for standard input; blank lines skipped).
    #[arg(long, short, value_name = "FILE")]
    file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only journeys in this status (case and underscores ignored).
    #[arg(long)]
    status: Option<String>,
    /// Only journeys still being polled.
    #[arg(long, conflicts_with = "stopped")]
    active: bool,
    /// Only journeys no longer polled.
    #[arg(long)]
    stopped: bool,
    /// Only journeys marked stuck.
    #[arg(long)]
    stuck: bool,
    /// At most this many rows.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Only journeys after this cursor (printed after a full page): the next page.
    #[arg(long, value_name = "CURSOR")]
    after: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Bad input or configuration, as opposed to a failure while working.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(String);

pub fn is_usage_error(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| cause.is::<UsageError>() || cause.is::<ConfigError>())
}

pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo {
        keep_database,
        api_version,
    } = &cli.command
    {
        telemetry::init_for_demo();
        let mut stdout = std::io::stdout();
        demo::run(keep_database.as_deref(), *api_version, &mut stdout).await?;
        return Ok(());
    }

    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "journeyd",
                &mut std::io::stdout(),
            );
            return Ok(());
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("cannot write the manual page")?;
            return Ok(());
        }
        _ => {}
    }

    let config = Config::load(cli.config.as_deref())?;
    if !matches!(cli.command, Command::Run) {
        telemetry::init_for_command(config.log.format);
    }
    match cli.command {
        Command::Config => {
            print!(
                "{}",
                toml::to_string_pretty(&config).context("cannot render configuration")?
            );
        }
        Command::Run => {
            // Credentials and the API's address are checked before anything is opened.
            let settings = config.daemon()?;
            telemetry::init(config.log.format, &config.log.level);
            // Before the store opens, so that its write-health gauges are published.
            let metrics = metrics::install().context("cannot set up metrics")?;
            let store = open_store(&config).await?;
            let shutdown = shutdown::on_signals().context("cannot listen for signals")?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            daemon::run(&config, &settings, store, clock, shutdown, Some(metrics)).await?;
        }
        Command::Enqueue(args) => {
            // Every ID is checked before the database is touched: all or nothing.
            let ids = input::instance_ids(&args)?;
            let store = open_store(&config).await?;
            let result = store
                .enqueue(&ids, args.api_version, SystemClock.now())
                .await?;
            println!(
                "enqueued {} new journey(s); {} already tracked",
                result.added.len(),
                result.already_tracked.len()
            );
        }
        Command::Status { instance_id, json } => {
            journeys::status(open_store(&config).await?.as_ref(), &instance_id, json).await?;
        }
        Command::List(args) => journeys::list(open_store(&config).await?.as_ref(), args).await?,
        Command::Stop { ids } => journeys::stop(open_store(&config).await?.as_ref(), &ids).await?,
        Command::Forget { ids } => {
            journeys::forget(open_store(&config).await?.as_ref(), &ids).await?;
        }
        Command::Webhooks(command) => {
            let store = open_store(&config).await?;
            webhooks::execute(&config, store.as_ref(), command).await?;
        }
        Command::Migrate => {
            open_store(&config).await?;
            println!("database is up to date ({})", config.database.shown_url());
        }
        Command::Prune {
            older_than,
            dry_run,
        } => {
            let store = open_store(&config).await?;
            let cutoff = clock::sub(SystemClock.now(), older_than);
            if dry_run {
                let prunable = store.prunable(cutoff).await?;
                println!(
                    "would delete {} journey(s) and {} transition(s) stopped before {}",
                    prunable.journeys,
                    prunable.transitions,
                    clock::format_timestamp(cutoff)
                );
            } else {
                let deleted =
                    housekeeping::apply_retention(store.as_ref(), Retention::Delete, cutoff)
                        .await?;
                println!(
                    "deleted {deleted} journey(s) stopped before {}, with their transitions",
                    clock::format_timestamp(cutoff)
                );
            }
        }
        Command::Demo { .. } | Command::Completions { .. } | Command::Man => {
            unreachable!("handled above")
        }
    }
    Ok(())
}

/// Opens the configured database and brings its schema up to date.
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = storage::open_with(&config.database.url, &config.store_options())
        .await
        .context("cannot open the database")?;
    store.migrate().await?;
    Ok(store)
}
