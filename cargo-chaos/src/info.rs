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
    text.push_str(&stop_table(&stats));
    if let Some(p) = get("preemptions") {
        text.push_str(&format!(
            "preempted: {p} times ({} at uncounted positions, {} of them moved out of a hot loop; {} where a learned spin loop repeated)\n",
            get("uncounted_preemptions").unwrap_or(0),
            get("moved_out").unwrap_or(0),
            get("spin_watch_preemptions").unwrap_or(0)
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
    if let Some(note) = crate::timing::late_wakes_note(trace) {
        text.push_str(&format!("timing:    {note}\n"));
    }
    if let Some(n) = get("shared_memory_forks").filter(|&n| n > 0) {
        text.push_str(&format!(
            "warning:   the program forked {n} time(s) while sharing writable memory with the child; \
             what the child wrote there is not recorded, so replay may diverge\n"
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

fn ms(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// The stops by kind with the time spent handling each, the time in waitpid, the work timed
/// apart, and start-up (from the recorder's `stats`; empty for traces without them). Stops per
/// millisecond of native wall time when a benchmark wrote `native_ns` there.
fn stop_table(stats: &[(String, u64)]) -> String {
    let get = |k: &str| stats.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let mut rows: Vec<(String, u64, u64)> = stats
        .iter()
        .filter_map(|(k, v)| {
            let kind = k.strip_prefix("stops.")?;
            Some((
                kind.to_string(),
                *v,
                get(&format!("ns.{kind}")).unwrap_or(0),
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)));
    let native = get("native_ns").filter(|&n| n > 0);
    let mut out = String::from(
        "stops by kind (handling time: from waitpid's report to our next wait):
",
    );
    let per = if native.is_some() {
        "  per ms native"
    } else {
        ""
    };
    out.push_str(&format!(
        "  {:<16} {:>9} {:>11}{per}\n",
        "kind", "stops", "time"
    ));
    let per_ms = |n: u64| {
        native
            .map(|nat| format!("  {:>14.1}", n as f64 / (nat as f64 / 1e6)))
            .unwrap_or_default()
    };
    let (mut total, mut total_ns) = (0, 0);
    for (kind, n, ns) in &rows {
        total += n;
        total_ns += ns;
        out.push_str(&format!(
            "  {kind:<16} {n:>9} {:>11}{}\n",
            ms(*ns),
            per_ms(*n)
        ));
    }
    out.push_str(&format!(
        "  {:<16} {total:>9} {:>11}{}\n",
        "(all stops)",
        ms(total_ns),
        per_ms(total)
    ));
    if let Some(r) = get("ns.running") {
        out.push_str(&format!(
            "  {:<16} {:>9} {:>11}\n",
            "tracee running",
            "",
            ms(r)
        ));
    }
    let works: Vec<String> = stats
        .iter()
        .filter_map(|(k, n)| {
            let w = k.strip_prefix("work.")?;
            let ns = get(&format!("work_ns.{w}")).unwrap_or(0);
            Some(format!("{w} {n}x {}", ms(ns)))
        })
        .collect();
    if !works.is_empty() {
        out.push_str(&format!("  of which:       {}\n", works.join(", ")));
    }
    if let Some(t) = get("startup_ns.total") {
        let part = |k: &str| ms(get(&format!("startup_ns.{k}")).unwrap_or(0));
        out.push_str(&format!(
            "start-up:  {} to the first instruction (spawn {}, CPUID {}, ELF decoding {}, trace creation {}, storing the executable {}); finishing the trace {}\n",
            ms(t),
            part("spawn"),
            part("cpuid"),
            part("elf"),
            part("trace_create"),
            part("store_program"),
            ms(get("finish_ns").unwrap_or(0)),
        ));
    }
    out
}
