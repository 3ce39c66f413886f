//! Where a recording's time goes: the recorder's `stats` break its ptrace stops down by kind,
//! with the time spent handling each, and time start-up apart (`info` shows both). Real
//! programs: `cat` of a file and the threaded `spin_flag` and `threads8` examples. The kinds add
//! up to the total, the kinds each program must have are there, and the timed parts fit in the
//! recording's wall time.
//!
//! Environment: `CRT_TIMEOUT_SECS` (120), `CRT_KEEP_TEMP=1`, `CRT_BIN`.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use tests::{binaries, compare_runs, path_utf8, Binaries, Status, TempDir};

/// Record `program args` into `dir/NAME.trace` (it must exit 0) and replay it exactly.
fn record_and_replay(
    bins: &Binaries,
    dir: &Path,
    name: &str,
    program: &Path,
    args: &[&str],
) -> Result<PathBuf, String> {
    let (trace, rec) = bins.record(dir, name, program, args)?;
    if rec.status != Status::Code(0) {
        return Err(format!("recording {name} failed\n{}", rec.describe()));
    }
    let rep = bins.crt(dir, &["replay", "-a", path_utf8(&trace)?])?;
    compare_runs("record", &rec, "replay", &rep)?;
    Ok(trace)
}

struct Stats(Vec<(String, u64)>);

impl Stats {
    fn get(&self, k: &str) -> u64 {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }

    fn sum(&self, prefix: &str) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| *v)
            .sum()
    }

    fn show(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The checks every recording's breakdown passes; `must` lists kinds that must have stops.
fn check_breakdown(
    bins: &Binaries,
    dir: &Path,
    trace: &Path,
    must: &[&str],
) -> Result<Stats, String> {
    let stats = Stats(pack::read_stats(trace));
    let fail = |what: String| Err(format!("{what}\nstats:\n{}", stats.show()));
    let total = stats.get("stops");
    if total == 0 || stats.sum("stops.") != total {
        return fail(format!(
            "the stops by kind add up to {}, not to the {total} stops",
            stats.sum("stops.")
        ));
    }
    for k in must {
        if stats.get(&format!("stops.{k}")) == 0 {
            return fail(format!("no `{k}` stops"));
        }
    }
    // Every syscall the recorder saw enters with one stop; all leave with one but those that
    // never return (a thread's last call: exit, exit_group, or the call it is in when the
    // process exits; at most one per thread exit stop) and those a preemption backed the thread
    // out of (it enters them again when next scheduled).
    let (entries, exits) = (
        stats.get("stops.syscall_entry"),
        stats.get("stops.syscall_exit"),
    );
    let unreturned = stats.get("stops.exit") + stats.get("preemptions");
    if entries != stats.get("syscalls") || exits > entries || exits + unreturned < entries {
        return fail(format!(
            "{entries} syscall entries and {exits} exits for {} syscalls",
            stats.get("syscalls")
        ));
    }
    // The timed parts lie within the recording's wall time (start-up before it), and cover most
    // of it.
    let timed = stats.sum("ns.");
    let wall = stats.get("duration_ns") + stats.get("startup_ns.total");
    if timed > wall + 2_000_000 || timed < wall / 2 {
        return fail(format!(
            "{timed} ns timed in stops and waits against {wall} ns of recording"
        ));
    }
    let startup = stats.get("startup_ns.total");
    let parts = stats.get("startup_ns.spawn")
        + stats.get("startup_ns.cpuid")
        + stats.get("startup_ns.trace_create")
        + stats.get("startup_ns.store_program");
    if stats.get("startup_ns.spawn") == 0 || parts > startup {
        return fail(format!(
            "start-up parts of {parts} ns against {startup} ns in all"
        ));
    }
    let info = bins.crt(dir, &["info", path_utf8(trace)?])?;
    let text = info.stdout_str();
    if info.status != Status::Code(0)
        || !text.contains("stops by kind")
        || !text.contains("syscall_entry")
        || !text.contains("start-up:")
    {
        return Err(format!(
            "info does not show the breakdown\n{}",
            info.describe()
        ));
    }
    Ok(stats)
}

fn cat_of_a_file(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let file = dir.join("input");
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).map_err(|e| format!("write {}: {e}", file.display()))?;
    let trace = record_and_replay(
        bins,
        dir,
        "cat",
        Path::new("/bin/cat"),
        &[path_utf8(&file)?],
    )?;
    check_breakdown(
        bins,
        dir,
        &trace,
        &["syscall_entry", "syscall_exit", "exec", "exit"],
    )?;
    Ok(())
}

fn threads(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let trace = record_and_replay(bins, dir, "threads8", &bins.example("threads8"), &[])?;
    check_breakdown(
        bins,
        dir,
        &trace,
        &[
            "syscall_entry",
            "syscall_exit",
            "clone",
            "new_thread",
            "exit",
        ],
    )?;
    Ok(())
}

/// A spin-wait on a flag: its PAUSE is a spin hint (or, spinning past a slice, it is
/// interrupted): either way a kind of its own, not a syscall.
fn spinning(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let trace = record_and_replay(bins, dir, "spin_flag", &bins.example("spin_flag"), &[])?;
    let stats = check_breakdown(bins, dir, &trace, &["clone", "new_thread"])?;
    if stats.get("stops.spin_hint") + stats.get("stops.interrupt") == 0 {
        return Err(format!(
            "no spin hint or interrupt stops for a spinning thread\n{}",
            stats.show()
        ));
    }
    Ok(())
}

/// Start-up: what decoding the program's files found (spin hints, chaos points) is cached by
/// the files' identity. A recording with a hot cache finds the same chaos points as one with a
/// cold cache, and replays exactly where replay scans afresh (the cache off): the cached spin
/// hints are the scanned ones.
fn decoding_cached_equals_a_fresh_scan(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let cache = dir.join("cache");
    let on = [("CRT_CACHE_DIR", path_utf8(&cache)?)];
    let exe = bins.example("spin_flag");
    let mut points = Vec::new();
    let mut last = None;
    for run in ["cold", "hot"] {
        let trace = dir.join(format!("{run}.trace"));
        let args = [
            "record",
            "--chaos",
            "--seed",
            "7",
            "-o",
            path_utf8(&trace)?,
            "--",
            path_utf8(&exe)?,
        ];
        let rec = bins.crt_env(dir, &args, &on)?;
        if rec.status != Status::Code(0) {
            return Err(format!(
                "recording ({run} cache) failed\n{}",
                rec.describe()
            ));
        }
        let header = pack::TraceReader::read_header(&trace).map_err(|e| e.to_string())?;
        points.push(header.chaos.map(|c| c.points).unwrap_or_default());
        last = Some((trace, rec));
    }
    let entries = std::fs::read_dir(cache.join("scan"))
        .map(|d| d.count())
        .unwrap_or(0);
    if entries == 0 {
        return Err(format!("nothing was cached in {}", cache.display()));
    }
    if points[0] != points[1] || points[0].is_empty() {
        return Err(format!(
            "chaos points: {} with a cold cache, {} with a hot one (or none)",
            points[0].len(),
            points[1].len()
        ));
    }
    let (trace, rec) = last.expect("two recordings");
    let rep = bins.crt_env(
        dir,
        &["replay", "-a", path_utf8(&trace)?],
        &[("CRT_CACHE_DIR", "")],
    )?;
    compare_runs("record (hot cache)", &rec, "replay (no cache)", &rep)
}

fn main() {
    let args = Arguments::from_args();
    type Case = fn(&Binaries, &Path) -> Result<(), String>;
    let cases: [(&str, Case); 4] = [
        ("cat_of_a_file", cat_of_a_file),
        ("threads", threads),
        ("spinning", spinning),
        (
            "decoding_cached_equals_a_fresh_scan",
            decoding_cached_equals_a_fresh_scan,
        ),
    ];
    let trials = cases
        .into_iter()
        .map(|(name, f)| {
            Trial::test(name, move || {
                let bins = binaries()?;
                let mut dir = TempDir::new(name).map_err(|e| e.to_string())?;
                let r = f(bins, dir.path());
                if r.is_err() {
                    dir.keep();
                }
                r.map_err(Failed::from)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
