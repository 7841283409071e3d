//! The HTTP listener, bounded so that no client can take it, or the process's file descriptors,
//! away from `/healthz` and `/metrics`:
//! - at most `http.max_connections` connections are open: one more closes the connection idle
//!   the longest (a client holding idle connections loses them to new ones), or is refused when
//!   every connection is serving a request;
//! - a request's headers must be complete within `http.header_timeout` of their first byte, and
//!   a connection with no request under way is closed after `http.idle_timeout` (newly opened
//!   or kept alive);
//! - when accepting fails (most often: the process is out of file descriptors) the listener
//!   pauses for a moment instead of retrying in a tight loop, and says so at most once a minute.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::connection::{Activity, Watched};
use crate::telemetry::metrics;

/// How long accepting pauses after it failed.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// A failing accept is logged at most this often.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(60);
/// At shutdown, how long connections get to finish the request they serve.
const DRAIN: Duration = Duration::from_secs(5);

/// The listener's bounds, from `http.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown`, within `limits`.
/// With `tls`, every connection speaks TLS, its handshake due within `http.header_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let registry = Arc::new(Registry::new(limits.max_connections));
    let mut connections = JoinSet::new();
    let mut warned_at: Option<Instant> = None;
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                pause_after(&err, &mut warned_at).await;
                continue;
            }
        };
        let Some(admitted) = registry.admit() else {
            metrics::record_http_connection_closed("refused");
            continue;
        };
        let (app, limits, shutdown, tls) =
            (app.clone(), limits.clone(), shutdown.clone(), tls.clone());
        connections.spawn(async move {
            match tls {
                None => serve_connection(stream, app, admitted, limits, shutdown).await,
                Some(tls) => {
                    let handshake = tokio::time::timeout(limits.header_timeout, tls.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, app, admitted, limits, shutdown).await;
                        }
                        Ok(Err(err)) => {
                            metrics::record_http_connection_closed("tls_handshake_failed");
                            tracing::debug!(error = %err, "TLS handshake failed");
                        }
                        Err(_) => metrics::record_http_connection_closed("header_timeout"),
                    }
                }
            }
        });
    }
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(DRAIN, drained).await;
}

/// After a failed accept. A connection its client gave up on is simply skipped; anything else
/// (most often EMFILE: out of file descriptors, which frees up as connections close) would fail
/// again at once, so accepting pauses; the waiting clients stay in the kernel's backlog.
async fn pause_after(err: &std::io::Error, warned_at: &mut Option<Instant>) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | Interrupted
    ) {
        return;
    }
    metrics::record_http_accept_failure();
    if warned_at.is_none_or(|at| at.elapsed() >= ACCEPT_WARN_EVERY) {
        *warned_at = Some(Instant::now());
        tracing::warn!(
            event = "http_accept_failed",
            error = %err,
            pause_seconds = ACCEPT_PAUSE.as_secs_f64(),
            "cannot accept HTTP connections; pausing (logged at most once a minute)"
        );
    }
    tokio::time::sleep(ACCEPT_PAUSE).await;
}

async fn serve_connection<S>(
    stream: S,
    app: Router,
    admitted: Admitted,
    limits: ListenerLimits,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = admitted.activity.clone();
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let app = app.clone();
        let busy = activity.request_started();
        async move {
            let response = app.oneshot(request).await;
            drop(busy);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header and idle timeouts are ours (see `Activity`); hyper's own would start counting
    // headers from the end of the previous answer.
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let activity = &admitted.activity;
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            reason = activity.expired(&limits), if !closing => {
                metrics::record_http_connection_closed(reason);
                break;
            }
            () = activity.evicted.cancelled(), if !closing => {
                metrics::record_http_connection_closed("evicted");
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            () = shutdown.cancelled(), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            // A connection asked to close gets a request's worth of time to finish.
            () = tokio::time::sleep(limits.header_timeout), if closing => break,
        }
    }
}

/// The open connections, for the cap and for eviction.
struct Registry {
    max: usize,
    open: Mutex<BTreeMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
}

impl Registry {
    fn new(max: usize) -> Self {
        metrics::set_http_connections(0);
        Self {
            max,
            open: Mutex::default(),
            next_id: AtomicU64::new(0),
        }
    }

    fn open(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Activity>>> {
        self.open.lock().expect("connection registry poisoned")
    }

    /// Makes room for a new connection, if need be by evicting the one idle the longest;
    /// `None` when every connection is serving a request.
    fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.open();
        if open.len() >= self.max {
            let longest_idle = open
                .iter()
                .filter_map(|(id, activity)| activity.idle_since().map(|since| (since, *id)))
                .min()
                .map(|(_, id)| id)?;
            let evicted = open.remove(&longest_idle).expect("found above");
            evicted.evicted.cancel();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        open.insert(id, activity.clone());
        metrics::set_http_connections(open.len());
        Some(Admitted {
            id,
            activity,
            registry: self.clone(),
        })
    }
}

/// A connection's place in the registry, given up when its task ends.
struct Admitted {
    id: u64,
    activity: Arc<Activity>,
    registry: Arc<Registry>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.registry.open();
        open.remove(&self.id);
        metrics::set_http_connections(open.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_capacity_the_connection_idle_longest_makes_room_unless_all_are_busy() {
        let registry = Arc::new(Registry::new(2));
        let first = registry.admit().unwrap();
        let second = registry.admit().unwrap();
        // The first is busy: the second, idle, is evicted for a third.
        let busy = first.activity.request_started();
        let third = registry.admit().unwrap();
        assert!(second.activity.evicted.is_cancelled());
        assert!(!first.activity.evicted.is_cancelled());
        // Both left are busy now: a fourth is refused.
        let _also_busy = third.activity.request_started();
        assert!(registry.admit().is_none());
        drop(busy);
        assert!(registry.admit().is_some(), "the first is idle again");
        assert!(first.activity.evicted.is_cancelled());
    }
}
