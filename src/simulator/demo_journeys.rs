//! The journeys `journeyd demo` tracks, scripted for the simulator: some complete, one fails,
//! one sits in manual review, one gets two bad answers first, and one is enqueued by a plain
//! SQL `INSERT` while the daemon runs. Beside the simulator, which serves them.

use std::time::Duration;

use super::{Fault, Script};

/// The journey the demo inserts with plain SQL rather than through `journeyd enqueue`.
pub const SQL_INSERTED: &str = "DemoInsertedBySql0000006";

/// Each demo journey: its instance ID, what GBG GO answers over time, and the faults its first
/// answers carry.
pub fn journeys() -> Vec<(&'static str, Script, Vec<Fault>)> {
    let s = Duration::from_secs_f64;
    vec![
        (
            "DemoCompletes00000000001",
            Script::timed(&[
                ("InProgress", s(2.0)),
                ("Paused", s(2.0)),
                ("InProgress", s(1.5)),
                ("Completed", s(0.0)),
            ]),
            vec![],
        ),
        (
            "DemoQuick000000000000002",
            Script::timed(&[("InProgress", s(1.0)), ("Completed", s(0.0))]),
            vec![],
        ),
        (
            "DemoFails000000000000003",
            Script::timed(&[
                ("InProgress", s(2.0)),
                ("Paused", s(1.0)),
                ("Failed", s(0.0)),
            ]),
            vec![],
        ),
        (
            "DemoManualReview00000004",
            Script::timed(&[
                ("InProgress", s(1.0)),
                ("Paused", s(5.0)),
                ("Completed", s(0.0)),
            ]),
            vec![],
        ),
        (
            "DemoFlakyAnswers00000005",
            Script::timed(&[("InProgress", s(3.0)), ("Completed", s(0.0))]),
            vec![Fault::Malformed, Fault::Status(503)],
        ),
        (
            SQL_INSERTED,
            Script::timed(&[("InProgress", s(2.0)), ("Completed", s(0.0))]),
            vec![],
        ),
    ]
}
