//! Argument parsing and the subcommands. With no subcommand, the front end runs
//! (`--until-fail` or `--runs N`: see `front.rs`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::exit::Error;
use crate::record::{Keep, RecordRequest};
use crate::{info, pack_cmd, paths};

/// Record programs and tests, catch flaky failures, replay them exactly.
///
/// With no subcommand: build the tests with cargo and rerun them under chaos scheduling, one
/// recorded process per test, until one fails (`--until-fail`) or N times each (`--runs N`).
#[derive(Parser, Debug)]
#[command(
    name = "cargo record-test",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    front: FrontArgs,
}

/// The front end's flags (no subcommand).
#[derive(Args, Debug, Clone, Default)]
pub struct FrontArgs {
    /// Rerun the selected tests under chaos with fresh seeds until one fails.
    #[arg(long, conflicts_with = "runs", help_heading = "Mode")]
    pub until_fail: bool,
    /// Run each selected test N times under chaos (a sweep); a test that passed and failed is flaky.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Mode")]
    pub runs: Option<u64>,
    /// Run whole test binaries (their default test threads) instead of one test per process, to
    /// catch flakes between tests of one process.
    #[arg(long, help_heading = "Mode")]
    pub whole_binary: bool,

    /// Run the tests whose names contain one of these (libtest's filter).
    #[arg(value_name = "FILTER", help_heading = "Test selection")]
    pub filters: Vec<String>,
    /// Match FILTER and --skip exactly instead of as substrings.
    #[arg(long, help_heading = "Test selection")]
    pub exact: bool,
    /// Skip the tests whose names contain PAT (repeatable).
    #[arg(long, value_name = "PAT", help_heading = "Test selection")]
    pub skip: Vec<String>,
    /// Run only the ignored tests.
    #[arg(
        long,
        conflicts_with = "include_ignored",
        help_heading = "Test selection"
    )]
    pub ignored: bool,
    /// Run ignored and not ignored tests.
    #[arg(long, help_heading = "Test selection")]
    pub include_ignored: bool,
    /// Run one part of the tests: `hash:I/N` (by a hash of each name) or `count:I/N` (round robin).
    #[arg(long, value_name = "SPEC", help_heading = "Test selection")]
    pub partition: Option<String>,

    /// Runs per test for --until-fail.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        help_heading = "Budget"
    )]
    pub max_runs: u64,
    /// Stop after this many seconds in all (what finished by then is reported).
    #[arg(long, value_name = "SECS", help_heading = "Budget")]
    pub max_time: Option<f64>,
    /// Kill a run (its whole process group) after this many seconds; it counts as timed out and
    /// its trace is kept, replayable up to the kill.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60.0,
        help_heading = "Budget"
    )]
    pub timeout: f64,
    /// Recordings in parallel (default: the number of CPUs).
    #[arg(short, long, value_name = "N", help_heading = "Budget")]
    pub jobs: Option<usize>,

    /// Where traces and report.json go (default: TARGET/record-test).
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub trace_dir: Option<PathBuf>,
    /// Keep up to K failing traces per test in a sweep.
    #[arg(long, value_name = "K", default_value_t = 1, help_heading = "Output")]
    pub keep: usize,
    /// Write a JUnit report (nextest's dialect: flakyFailure, rerunFailure).
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    pub junit: Option<PathBuf>,

    /// Package to test (repeatable).
    #[arg(short, long, value_name = "SPEC", help_heading = "Package selection")]
    pub package: Vec<String>,
    /// Test all packages of the workspace.
    #[arg(long, help_heading = "Package selection")]
    pub workspace: bool,
    /// Exclude packages (with --workspace).
    #[arg(long, value_name = "SPEC", help_heading = "Package selection")]
    pub exclude: Vec<String>,
    /// Test only the library's unit tests.
    #[arg(long, help_heading = "Target selection")]
    pub lib: bool,
    /// Test all binaries' unit tests.
    #[arg(long, help_heading = "Target selection")]
    pub bins: bool,
    /// Test this binary's unit tests (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Target selection")]
    pub bin: Vec<String>,
    /// Test this integration test (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Target selection")]
    pub test: Vec<String>,
    /// Test all integration tests.
    #[arg(long, help_heading = "Target selection")]
    pub tests: bool,
    /// Features to activate (space or comma separated).
    #[arg(
        short = 'F',
        long,
        value_name = "FEATURES",
        help_heading = "Feature selection"
    )]
    pub features: Vec<String>,
    /// Activate all features.
    #[arg(long, help_heading = "Feature selection")]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long, help_heading = "Feature selection")]
    pub no_default_features: bool,
    /// Build in release mode.
    #[arg(short, long, conflicts_with = "profile", help_heading = "Compilation")]
    pub release: bool,
    /// Build with this profile.
    #[arg(long, value_name = "NAME", help_heading = "Compilation")]
    pub profile: Option<String>,
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH", help_heading = "Manifest")]
    pub manifest_path: Option<PathBuf>,
    /// Cargo's target directory.
    #[arg(long, value_name = "DIR", help_heading = "Compilation")]
    pub target_dir: Option<PathBuf>,
    /// Run cargo without accessing the network.
    #[arg(long, help_heading = "Manifest")]
    pub offline: bool,
    /// Require Cargo.lock to be up to date.
    #[arg(long, help_heading = "Manifest")]
    pub locked: bool,

    /// Arguments passed to each test process after `--exact NAME --nocapture`.
    #[arg(last = true, value_name = "TEST_ARGS")]
    pub test_args: Vec<OsString>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Record one run of a program; exits with the program's status.
    Record {
        /// The trace directory to create (default: target/record-test/NAME-N.trace).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Perturb thread scheduling (priorities, preemption at atomics, starvation) so races
        /// show up; everything stays recorded, so the run replays exactly.
        #[arg(long)]
        chaos: bool,
        /// The chaos seed (default: a fresh random one, kept in the trace header).
        #[arg(long, requires = "chaos")]
        seed: Option<u64>,
        /// Under CI (`CI` set) secret-looking variables (TOKEN, SECRET, PASSWORD, KEY,
        /// CREDENTIAL in the name) are not passed to the program: keep this one (repeatable).
        #[arg(long = "keep-env", value_name = "NAME")]
        keep_env: Vec<String>,
        /// Write how the run ended (exit code, signal or recorder error) as JSON to this file.
        #[arg(long, value_name = "PATH")]
        result_file: Option<PathBuf>,
        /// When to keep the trace: always, or only when the program did not exit with 0.
        #[arg(long, value_enum, default_value_t = Keep::Always)]
        keep: Keep,
        /// Name the trace after the test nextest runs (NEXTEST_TEST_NAME, NEXTEST_ATTEMPT,
        /// NEXTEST_STRESS_CURRENT), under TARGET/record-test/nextest/; for wrapper scripts.
        #[arg(long, conflicts_with = "output")]
        nextest: bool,
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
    /// Replay a trace under gdb (rust-gdb when installed), forwards and backwards; with -a,
    /// without a debugger, exiting with the recorded status.
    Replay {
        /// Run to the end without a debugger.
        #[arg(short = 'a', long = "autopilot")]
        autopilot: bool,
        /// With -a: tag each output of the program with its event number (`[event N] `), the
        /// number `-g` takes.
        #[arg(short = 'M', long = "mark-events", requires = "autopilot")]
        mark_events: bool,
        /// Only serve the replay to gdb on 127.0.0.1:PORT (for IDEs and scripts: `target remote
        /// 127.0.0.1:PORT`), without launching gdb.
        #[arg(long, value_name = "PORT", conflicts_with = "autopilot")]
        serve: Option<u16>,
        /// Start at this event (the number `monitor when` prints).
        #[arg(
            short = 'g',
            long = "goto",
            value_name = "EVENT",
            conflicts_with = "autopilot"
        )]
        goto: Option<u64>,
        /// The trace (default: the latest one recorded here).
        trace: Option<PathBuf>,
    },
    /// List every event of a trace, one per line.
    Dump {
        /// The trace (default: the latest one recorded here).
        trace: Option<PathBuf>,
    },
    /// Show what a trace holds.
    Info {
        /// The trace (default: the latest one recorded here).
        trace: Option<PathBuf>,
    },
    /// Pack a trace into one self-contained file (executable and libraries inside) for upload;
    /// `replay`, `info` and `dump` take the packed file like a trace directory.
    Pack {
        /// The trace directory (default: the latest one recorded here).
        trace: Option<PathBuf>,
        /// The packed file to write (default: NAME.crtpack beside NAME.trace).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Download a CI run's packed traces (from the PR comment's artifact link or a run id),
    /// verify them, and print the replay command (or replay with --replay). Needs GITHUB_TOKEN;
    /// `gh run download RUN -n NAME` works too.
    Fetch {
        /// https://github.com/OWNER/NAME/actions/runs/RUN/artifacts/ID, or a run id.
        source: String,
        /// The repository (default: the one in the link, else GITHUB_REPOSITORY).
        #[arg(long, value_name = "OWNER/NAME")]
        repo: Option<String>,
        /// The packed trace to replay when the artifact holds several.
        #[arg(long, value_name = "NAME.crtpack")]
        trace: Option<String>,
        /// Replay it (exits like the replayed program).
        #[arg(long)]
        replay: bool,
    },
    /// For CI workflows: the PR comment, the job summary, packing the caught failures.
    #[command(subcommand)]
    Ci(CiCommand),
    /// Check whether recording works on this machine (ptrace, Yama, containers, seccomp, debug
    /// registers, perf counters, CPUID faulting) and how to fix what is missing.
    Doctor,
}

#[derive(Subcommand, Debug)]
enum CiCommand {
    /// Create or update the one comment on a PR listing the caught failures.
    Comment {
        #[arg(long)]
        pr: u64,
        /// The report (default: target/record-test/report.json).
        #[arg(long)]
        report: Option<PathBuf>,
        /// The repository (default: GITHUB_REPOSITORY).
        #[arg(long, value_name = "OWNER/NAME")]
        repo: Option<String>,
        /// The uploaded traces' artifact (actions/upload-artifact's `artifact-url` output).
        #[arg(long)]
        artifact_url: Option<String>,
    },
    /// Print the job summary's Markdown (append it to $GITHUB_STEP_SUMMARY).
    Summary {
        #[arg(long)]
        report: Option<PathBuf>,
        #[arg(long)]
        artifact_url: Option<String>,
    },
    /// Pack the trace of every caught failure of the report into DIR.
    PackFailures {
        #[arg(long)]
        report: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

pub fn run(args: Vec<OsString>) -> Result<ExitCode, Error> {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                crate::exit::BAD_INPUT
            } else {
                0
            };
            let _ = e.print();
            return Ok(ExitCode::from(code));
        }
    };
    let Some(command) = cli.command else {
        return crate::front::run(cli.front);
    };
    match command {
        Command::Record {
            output,
            chaos,
            seed,
            keep_env,
            result_file,
            keep,
            nextest,
            command,
        } => {
            let chaos = chaos.then(|| recorder::ChaosOptions {
                seed: seed.unwrap_or_else(random_seed),
            });
            crate::record::run(RecordRequest {
                output,
                chaos,
                result_file,
                keep,
                nextest,
                keep_env,
                command,
            })
        }
        Command::Replay {
            autopilot,
            mark_events,
            serve,
            goto,
            trace,
        } => {
            let trace = pack_cmd::resolve(&trace.unwrap_or_else(paths::latest))?;
            if mark_events {
                let (trace, session) = start_replay(trace)?;
                crate::marked::run(&trace, session)
            } else if autopilot {
                replay(trace)
            } else {
                replay_under_gdb(trace, serve, goto)
            }
        }
        Command::Dump { trace } => {
            crate::dump::run(&pack_cmd::resolve(&trace.unwrap_or_else(paths::latest))?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Info { trace } => {
            let trace = trace.unwrap_or_else(paths::latest);
            if let Some(line) = pack_cmd::describe(&trace) {
                print!("{line}");
            }
            info::run(&pack_cmd::resolve(&trace)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Pack { trace, output } => {
            pack_cmd::run(&trace.unwrap_or_else(paths::latest), output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch {
            source,
            repo,
            trace,
            replay: run_it,
        } => match crate::ci_cmd::fetch(&source, repo, trace, run_it)? {
            Some(packed) => replay(pack_cmd::resolve(&packed)?),
            None => Ok(ExitCode::SUCCESS),
        },
        Command::Ci(c) => {
            match c {
                CiCommand::Comment {
                    pr,
                    report,
                    repo,
                    artifact_url,
                } => crate::ci_cmd::comment(pr, report, repo, artifact_url)?,
                CiCommand::Summary {
                    report,
                    artifact_url,
                } => crate::ci_cmd::summary(report, artifact_url)?,
                CiCommand::PackFailures { report, out } => {
                    crate::ci_cmd::pack_failures(report, &out)?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => Ok(crate::doctor::run()),
    }
}

/// A seed for a chaos run nobody gave one for.
pub fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return t ^ (u64::from(std::process::id()) << 32);
    }
    u64::from_le_bytes(b)
}

fn replay(trace: PathBuf) -> Result<ExitCode, Error> {
    let (trace, session) = start_replay(trace)?;
    let outcome = session.run().map_err(|source| {
        if matches!(source, replayer::Error::Diverged { .. }) {
            let stats = pack::read_stats(&trace);
            if stats
                .iter()
                .any(|(k, v)| k == "shared_memory_forks" && *v > 0)
            {
                eprintln!(
                    "note: the program shared writable memory with a child process it forked; \
                     what the child wrote there was not recorded (see `info`)"
                );
            }
        }
        Error::Replay {
            trace: trace.display().to_string(),
            source,
        }
    })?;
    Ok(crate::record::exit_like(Some(outcome.exit)))
}

fn replay_under_gdb(
    trace: PathBuf,
    serve: Option<u16>,
    goto: Option<u64>,
) -> Result<ExitCode, Error> {
    let (trace, session) = start_replay(trace)?;
    crate::gdb_cmd::run(crate::gdb_cmd::GdbRequest { trace, serve, goto }, session)
}

/// The replay of `trace` at its first instruction (after the CPU check's warning), and the
/// trace's absolute path.
fn start_replay(trace: PathBuf) -> Result<(PathBuf, replayer::ReplaySession), Error> {
    // The replayed program opens the trace's stored files from its own recorded working
    // directory, so a relative trace path must not reach the replayer.
    let trace = std::path::absolute(&trace).unwrap_or(trace);
    let err = |source| Error::Replay {
        trace: trace.display().to_string(),
        source,
    };
    if let Ok(h) = pack::TraceReader::read_header(&trace) {
        let diffs = replayer::cpu_differences(&h);
        if !diffs.is_empty() && replayer::uses_cpuid_faulting(&h) {
            eprintln!(
                "note: this trace was recorded on a CPU with other features; replay gives the program the recorded CPUID (CPUID faulting), though code using a feature this CPU lacks would still fail:\n  {}",
                diffs.join("\n  ")
            );
        } else if !diffs.is_empty() {
            eprintln!(
                "warning: this trace was recorded on a CPU with other features; replay may diverge:\n  {}",
                diffs.join("\n  ")
            );
            eprintln!("  (no CPUID faulting here, or CRT_NO_CPUID_FAULTING is set: the program sees this CPU's features)");
        }
    }
    let session = replayer::ReplaySession::start(replayer::ReplayOptions {
        trace: trace.clone(),
        echo: true,
    })
    .map_err(err)?;
    Ok((trace, session))
}
