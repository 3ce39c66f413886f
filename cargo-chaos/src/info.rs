//! `info TRACE`: what is in a trace.

use std::path::Path;

use crate::exit::Error;

pub fn run(trace: &Path) -> Result<(), Error> {
    let err = |source| Error::Trace {
        trace: trace.display().to_string(),
        source,
    };
    let reader = pack::TraceReader::open(trace).map_err(err)?;
    let summary = pack::summarize(reader).map_err(err)?;
    let name = |no: u32| tracee::syscalls::name(no as i64);
    let mut text = summary.display_with(&name).to_string();
    let stats = pack::read_stats(trace);
    let get = |k: &str| stats.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if let (Some(stops), Some(syscalls)) = (get("stops"), get("syscalls")) {
        text.push_str(&format!(
            "stops:     {stops} ptrace stops while recording ({:.2} per syscall)\n",
            stops as f64 / syscalls.max(1) as f64
        ));
    }
    if let Some(p) = get("preemptions") {
        text.push_str(&format!(
            "preempted: {p} times ({} at uncounted positions, {} of them moved out of a hot loop)\n",
            get("uncounted_preemptions").unwrap_or(0),
            get("moved_out").unwrap_or(0)
        ));
    }
    if let Some(n) = get("replay_seeks") {
        text.push_str(&format!(
            "seeking:   the last replay sought {n} positions with {} breakpoint stops, {} at most for one\n",
            get("replay_seek_stops").unwrap_or(0),
            get("replay_seek_max").unwrap_or(0)
        ));
    }
    if let Some(n) = get("wakes").filter(|&n| n > 0) {
        text.push_str(&format!(
            "wake-ups:  {n} threads woke from blocking calls; waited for the CPU {} us median, {} us at most, {} over 10 ms\n",
            get("wake_latency_median_us").unwrap_or(0),
            get("wake_latency_max_us").unwrap_or(0),
            get("wakes_over_10ms").unwrap_or(0)
        ));
    }
    if let Ok(h) = pack::TraceReader::read_header(trace) {
        text.push_str(&format!("env:       {} variables\n", h.env.len()));
        for e in &h.env {
            text.push_str(&format!("  {}\n", String::from_utf8_lossy(e)));
        }
    }
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(())
}
