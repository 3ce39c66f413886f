//! `stats`: a small text file of counters the recorder leaves beside the streams (ptrace stops,
//! preemptions, ...): for `info` and benchmarks, never needed to replay. `key value` per line.

use std::path::Path;

/// The file name inside a trace directory.
pub const STATS_FILE: &str = "stats";

/// Write the counters (best effort: a trace without stats is still whole).
pub fn write_stats(trace_dir: &Path, stats: &[(&str, u64)]) {
    let text: String = stats.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    let _ = std::fs::write(trace_dir.join(STATS_FILE), text);
}

/// Set some counters, keeping the others (best effort): replay adds what it measured.
pub fn update_stats(trace_dir: &Path, stats: &[(&str, u64)]) {
    let mut all = read_stats(trace_dir);
    for &(k, v) in stats {
        match all.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v,
            None => all.push((k.to_string(), v)),
        }
    }
    let refs: Vec<(&str, u64)> = all.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    write_stats(trace_dir, &refs);
}

/// Read the counters; empty when the file is missing or unreadable. Malformed lines are skipped.
pub fn read_stats(trace_dir: &Path) -> Vec<(String, u64)> {
    let Ok(text) = std::fs::read_to_string(trace_dir.join(STATS_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .take(256)
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}
