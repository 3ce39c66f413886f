//! The front end: `cargo record-test --until-fail | --runs N`. Build the tests with cargo, list
//! and select them, run each under chaos in its own recorded process, and report through the one
//! event stream (terminal, JUnit, report.json). Exit codes: see `exit.rs`.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::cargo_build::{self, TestBinary};
use crate::cli::FrontArgs;
use crate::display::Display;
use crate::event::{Event, Mode, Outcome, RunRecord, Sink, StopReason, Unit, WHOLE_BINARY};
use crate::exit::{self, Error};
use crate::listing;
use crate::partition::Partition;
use crate::report::Collector;
use crate::runner::{Plan, PlannedUnit, Runner};

pub fn run(args: FrontArgs) -> Result<ExitCode, Error> {
    let mode = match (args.until_fail, args.runs) {
        (true, _) => Mode::UntilFail,
        (false, Some(_)) => Mode::Sweep,
        (false, None) => {
            return Err(Error::Usage(
                "give --until-fail or --runs N, or a subcommand (record, replay, info, dump, doctor); see --help"
                    .into(),
            ))
        }
    };
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err(Error::Usage(
            "--timeout must be a positive number of seconds".into(),
        ));
    }
    if args.max_time.is_some_and(|t| !(t > 0.0 && t.is_finite())) {
        return Err(Error::Usage(
            "--max-time must be a positive number of seconds".into(),
        ));
    }
    if args.jobs == Some(0) {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    if args.max_runs == 0 {
        return Err(Error::Usage("--max-runs must be at least 1".into()));
    }
    let partition = args
        .partition
        .as_deref()
        .map(Partition::parse)
        .transpose()?;
    let started_at = chrono::Utc::now().to_rfc3339();
    let ws = cargo_build::workspace(&args)?;
    let bins = cargo_build::build(&args, &ws)?;
    let units = plan_units(&args, bins, partition)?;
    if units.is_empty() {
        if partition.is_some() {
            eprintln!("record-test: no tests in this partition");
            return Ok(ExitCode::SUCCESS);
        }
        return Err(Error::Usage(
            "no tests match the selection (note: targets with `test = false` need --test NAME)"
                .into(),
        ));
    }
    let trace_dir = args
        .trace_dir
        .clone()
        .unwrap_or_else(|| ws.target_dir.join("record-test"));
    std::fs::create_dir_all(&trace_dir).map_err(|e| Error::Io {
        message: format!("cannot create {}", trace_dir.display()),
        source: e,
    })?;
    let trace_dir = std::fs::canonicalize(&trace_dir).unwrap_or(trace_dir);
    let recorder = std::env::current_exe().map_err(|e| Error::Io {
        message: "cannot find our own executable".into(),
        source: e,
    })?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runs_per_unit = match mode {
        Mode::UntilFail => args.max_runs,
        Mode::Sweep => args.runs.unwrap_or(1),
    };
    let unit_list: Vec<Unit> = units.iter().map(|u| u.unit.clone()).collect();
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&interrupted));
    }
    let runner = Runner::new(Plan {
        mode,
        units,
        runs_per_unit,
        jobs,
        timeout: Duration::from_secs_f64(args.timeout),
        keep: args.keep,
        trace_dir: trace_dir.clone(),
        recorder,
        interrupted: Arc::clone(&interrupted),
    });

    let total = (mode == Mode::Sweep).then_some(runs_per_unit * unit_list.len() as u64);
    let mut display = Display::new(total, mode);
    let mut collector = Collector::new(mode);
    let mut emit = |e: &Event| {
        display.event(e);
        collector.event(e);
    };
    let started = Instant::now();
    emit(&Event::Started {
        mode,
        units: unit_list,
        jobs,
    });
    let (tx, rx) = mpsc::channel();
    let handles = runner.spawn(tx);
    let max_time = args.max_time.map(Duration::from_secs_f64);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(e) => emit(&e),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if interrupted.load(Ordering::SeqCst) && runner.stop(StopReason::Interrupted) {
            emit(&Event::Stopping(StopReason::Interrupted));
        }
        if max_time.is_some_and(|m| started.elapsed() >= m) && runner.stop(StopReason::MaxTime) {
            emit(&Event::Stopping(StopReason::MaxTime));
        }
    }
    for h in handles {
        let _ = h.join();
    }
    emit(&Event::Finished {
        elapsed: started.elapsed(),
    });
    let _ = std::fs::remove_dir(trace_dir.join(".runs"));

    let report = collector.report(
        &started_at,
        ws.metadata.workspace_root.as_std_path(),
        &ws.target_dir,
    );
    let report_path = trace_dir.join("report.json");
    crate::report::write(&report_path, &report).map_err(|e| Error::Io {
        message: format!("cannot write {}", report_path.display()),
        source: e,
    })?;
    if let Some(j) = &args.junit {
        crate::junit::write(j, &collector).map_err(|e| Error::Io {
            message: format!("cannot write the JUnit report {}", j.display()),
            source: e,
        })?;
    }
    let stopped = runner.stopped();
    print_summary(&args, mode, &collector, stopped.as_ref(), runs_per_unit);
    eprintln!("record-test: report written to {}", report_path.display());
    let s = collector.summary();
    let code = if s.failed + s.timed_out > 0 {
        exit::TEST_FAILED
    } else if s.recorder_errors > 0 {
        exit::RECORDER_FAILED
    } else if stopped == Some(StopReason::Interrupted) {
        exit::INTERRUPTED
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

/// List every binary, select its tests, partition, and give each unit its arguments.
fn plan_units(
    args: &FrontArgs,
    bins: Vec<TestBinary>,
    partition: Option<Partition>,
) -> Result<Vec<PlannedUnit>, Error> {
    let mut ignore_flag: Vec<OsString> = Vec::new();
    if args.ignored {
        ignore_flag.push("--ignored".into());
    } else if args.include_ignored {
        ignore_flag.push("--include-ignored".into());
    }
    let mut selected: Vec<(Arc<TestBinary>, String)> = Vec::new();
    let mut per_bin_total = std::collections::BTreeMap::new();
    for b in bins {
        let tests = listing::list(&b)?;
        per_bin_total.insert(b.binary_id.clone(), tests.len());
        let b = Arc::new(b);
        for t in tests.iter().filter(|t| listing::selected(args, t)) {
            selected.push((Arc::clone(&b), t.name.clone()));
        }
    }
    if let Some(p) = partition {
        selected = p.apply(selected, |(b, t)| (b.binary_id.clone(), t.clone()));
    }
    let mut units = Vec::new();
    if args.whole_binary {
        // One unit per binary, running the selected tests with the harness's own threads.
        let mut by_bin: Vec<(Arc<TestBinary>, Vec<String>)> = Vec::new();
        for (b, t) in selected {
            match by_bin.last_mut() {
                Some((lb, ts)) if lb.binary_id == b.binary_id => ts.push(t),
                _ => by_bin.push((b, vec![t])),
            }
        }
        for (b, tests) in by_bin {
            let mut a: Vec<OsString> = Vec::new();
            let all = per_bin_total.get(&b.binary_id) == Some(&tests.len());
            if !all {
                a.push("--exact".into());
                a.extend(tests.iter().map(OsString::from));
            }
            a.push("--nocapture".into());
            a.extend(ignore_flag.iter().cloned());
            a.extend(args.test_args.iter().cloned());
            units.push(PlannedUnit {
                unit: Unit {
                    binary_id: b.binary_id.clone(),
                    test: WHOLE_BINARY.into(),
                },
                bin: b,
                args: a,
            });
        }
    } else {
        for (b, t) in selected {
            let mut a: Vec<OsString> = vec!["--exact".into(), (&t).into(), "--nocapture".into()];
            a.extend(ignore_flag.iter().cloned());
            a.extend(args.test_args.iter().cloned());
            units.push(PlannedUnit {
                unit: Unit {
                    binary_id: b.binary_id.clone(),
                    test: t,
                },
                bin: b,
                args: a,
            });
        }
    }
    Ok(units)
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn print_summary(
    args: &FrontArgs,
    mode: Mode,
    c: &Collector,
    stopped: Option<&StopReason>,
    runs_per_unit: u64,
) {
    let s = c.summary();
    let elapsed = format!("{:.1} s", c.elapsed.as_secs_f64());
    let failures: Vec<&RunRecord> = c.runs.iter().filter(|r| r.outcome.is_failure()).collect();
    match mode {
        Mode::UntilFail => {
            if let Some(first) = failures.first() {
                let of_it = c.runs.iter().filter(|r| r.unit == first.unit).count();
                let verb = if first.outcome == Outcome::TimedOut {
                    "caught a hang"
                } else {
                    "caught a failure"
                };
                eprintln!(
                    "\n{verb}: {} in {} (run {of_it} of this test, {} in all, {elapsed})",
                    first.test,
                    first.unit.binary_id,
                    plural(s.runs, "run"),
                );
                eprintln!("  seed:    {}", first.seed);
                if let Some(m) = &first.message {
                    eprintln!("  message: {}", m.replace('\n', "\n           "));
                }
                match (&first.trace, &first.replay_command) {
                    (Some(t), Some(cmd)) => {
                        eprintln!("  trace:   {}", t.display());
                        eprintln!("  replay:  {cmd}");
                    }
                    _ => eprintln!("  trace:   (none was left)"),
                }
                if failures.len() > 1 {
                    eprintln!(
                        "  ({} more failing runs finished while stopping; see report.json)",
                        failures.len() - 1
                    );
                }
            } else {
                let why = match stopped {
                    Some(StopReason::Interrupted) => "interrupted".to_string(),
                    Some(StopReason::MaxTime) => {
                        format!("--max-time {} s reached", args.max_time.unwrap_or_default())
                    }
                    _ => format!("the budget is spent (--max-runs {runs_per_unit} per test)"),
                };
                eprintln!(
                    "\nno failure caught: {} of {} without a failure in {elapsed}; {why}",
                    plural(s.runs, "run"),
                    plural(s.tests, "test"),
                );
            }
        }
        Mode::Sweep => {
            eprintln!();
            for t in c.tests() {
                let label = match t.status {
                    "passed" => "passed",
                    "flaky" => "FLAKY ",
                    "failed" => "FAILED",
                    _ => "ERROR ",
                };
                eprintln!(
                    "  {label} {:>4}/{:<4} passed  {} {}{}",
                    t.passed,
                    t.runs,
                    t.binary_id,
                    t.name,
                    if t.recorder_errors > 0 {
                        format!("  ({} recorder errors)", t.recorder_errors)
                    } else {
                        String::new()
                    }
                );
            }
            for f in &failures {
                if let Some(cmd) = &f.replay_command {
                    eprintln!("  kept: {} seed {}: {cmd}", f.test, f.seed);
                }
            }
            if let Some(StopReason::Interrupted) = stopped {
                eprintln!("  (interrupted)");
            }
        }
    }
    eprintln!(
        "record-test: {} in {elapsed}: {} passed, {} failed, {} timed out, {}; {} flaky",
        plural(s.runs, "run"),
        s.passed,
        s.failed,
        s.timed_out,
        plural(s.recorder_errors, "recorder error"),
        plural(s.flaky, "test"),
    );
}
