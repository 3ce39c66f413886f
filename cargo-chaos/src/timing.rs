//! Whether a failure may be the recording's doing: threads run one at a time, so a thread whose
//! sleep or timed wait ended can wait for the CPU (DESIGN.md 6.2). A test with a tight timing
//! tolerance (flume's `recv_deadline`: 5 ms on a 350 ms deadline) then fails under recording and
//! passes natively: a false flake. A failed run whose trace shows late wake-ups says so, in
//! `record`'s output, in the front end's failure message (and so in JUnit and the report), and
//! `info` shows it for any trace.

use std::path::Path;

/// A woken thread that waited this long for the CPU may have broken a timing tolerance.
const LATE_US: u64 = 5_000;

/// The note for a trace whose threads woke late, if they did.
pub fn late_wakes_note(trace: &Path) -> Option<String> {
    let stats = pack::read_stats(trace);
    let get = |k: &str| {
        stats
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    };
    let max = get("wake_latency_max_us");
    if max < LATE_US {
        return None;
    }
    Some(format!(
        "threads ran one at a time here and a woken thread waited up to {:.1} ms for the CPU \
         ({} waits over 10 ms): a test with a tight timing tolerance may fail under recording \
         and pass natively",
        max as f64 / 1000.0,
        get("wakes_over_10ms")
    ))
}
