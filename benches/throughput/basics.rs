//! What every part of the benchmark shares: its constants, its runtime, reading options.

use std::time::Duration;

/// Polls in flight, for journeyd and for the raw loop alike.
pub(super) const CONCURRENCY: usize = 64;
/// Time given to each run to reach its steady state before measuring.
pub(super) const WARM_UP: Duration = Duration::from_secs(3);

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub(super) fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1))
        .map(String::as_str)
}

/// "≤ X ms", the upper bound of the histogram bucket.
pub(super) fn milliseconds(value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value.is_infinite() {
        "> 60 s".into()
    } else {
        format!("≤ {value} ms")
    }
}
