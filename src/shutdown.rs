//! One shutdown signal for the whole process.
//!
//! SIGTERM or SIGINT cancels the returned token: the scheduler stops claiming work and lets the
//! polls in flight finish. A second signal means the operator will not wait: exit at once.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit status after a second signal, as a shell reports a process killed by SIGINT.
const FORCED_EXIT_CODE: i32 = 130;

/// Starts listening for SIGTERM and SIGINT.
pub fn on_signals() -> std::io::Result<CancellationToken> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        for round in 0.. {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            if round == 0 {
                tracing::info!(
                    signal = name,
                    "shutting down; send it again to exit at once"
                );
                cancel.cancel();
            } else {
                tracing::warn!(signal = name, "second signal: exiting without waiting");
                std::process::exit(FORCED_EXIT_CODE);
            }
        }
    });
    Ok(token)
}
