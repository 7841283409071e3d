//! One connection's life on the listener: what it is doing (idle, receiving a request's
//! headers, serving), which decides when it times out and whether it may be evicted.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ListenerLimits;

/// What a connection is doing, which decides when it times out and whether it may be evicted.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// No request under way, nothing of the next one received.
    Idle { since: Instant },
    /// The first bytes of a request arrived; its headers are not complete yet.
    ReadingHead { since: Instant },
    /// Serving this many requests.
    Busy { requests: usize },
}

pub(super) struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
    pub(super) evicted: CancellationToken,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Idle {
                since: Instant::now(),
            }),
            changed: Notify::new(),
            evicted: CancellationToken::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().expect("connection phase poisoned")
    }

    pub(super) fn idle_since(&self) -> Option<Instant> {
        match *self.phase() {
            Phase::Idle { since } => Some(since),
            _ => None,
        }
    }

    fn bytes_received(&self) {
        let mut phase = self.phase();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::ReadingHead {
                since: Instant::now(),
            };
            self.changed.notify_one();
        }
    }

    /// A request's headers are complete and it is being served, until the guard is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> Busy {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            _ => Phase::Busy { requests: 1 },
        };
        self.changed.notify_one();
        Busy(self.clone())
    }

    /// When the connection times out as it stands, and why.
    pub(super) fn deadline(&self, limits: &ListenerLimits) -> Option<(Instant, &'static str)> {
        match *self.phase() {
            Phase::Idle { since } => Some((since + limits.idle_timeout, "idle_timeout")),
            Phase::ReadingHead { since } => Some((since + limits.header_timeout, "header_timeout")),
            Phase::Busy { .. } => None,
        }
    }

    /// Resolves once the connection has timed out, with the reason.
    pub(super) async fn expired(&self, limits: &ListenerLimits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the phase is read, so no change between the two is missed.
            changed.as_mut().enable();
            match self.deadline(limits) {
                None => changed.await,
                Some((at, reason)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {
                        if self.deadline(limits) == Some((at, reason)) {
                            return reason;
                        }
                    }
                    () = changed => {}
                },
            }
        }
    }
}

/// A request being served.
pub(super) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let mut phase = activity.phase();
        *phase = match *phase {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            _ => Phase::Idle {
                since: Instant::now(),
            },
        };
        activity.changed.notify_one();
    }
}

/// A connection's socket, telling its [`Activity`] when bytes arrive.
pub(super) struct Watched<S> {
    pub(super) stream: S,
    pub(super) activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_received();
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> ListenerLimits {
        ListenerLimits {
            max_connections: 2,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_times_out_idle_or_halfway_through_its_headers_never_while_busy() {
        let activity = Arc::new(Activity::new());
        let opened = Instant::now();
        assert_eq!(
            activity.deadline(&limits()),
            Some((opened + Duration::from_secs(60), "idle_timeout"))
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        activity.bytes_received();
        assert_eq!(
            activity.deadline(&limits()),
            Some((opened + Duration::from_secs(6), "header_timeout"))
        );
        let busy = activity.request_started();
        assert_eq!(activity.deadline(&limits()), None);
        tokio::time::advance(Duration::from_secs(600)).await;
        drop(busy);
        assert_eq!(
            activity.deadline(&limits()),
            Some((Instant::now() + Duration::from_secs(60), "idle_timeout")),
            "idle again from the end of the answer"
        );
        assert_eq!(activity.expired(&limits()).await, "idle_timeout");
    }
}
