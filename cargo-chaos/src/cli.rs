//! Argument parsing and the subcommands.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pack::ExitStatus;

use crate::exit::Error;
use crate::{info, pack_cmd, paths};

/// Record programs and tests, catch flaky failures, replay them exactly.
#[derive(Parser, Debug)]
#[command(name = "cargo record-test", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
    /// Replay a trace; exits with the recorded status.
    Replay {
        /// Run to the end without a debugger (the only mode so far).
        #[arg(short = 'a', long = "autopilot")]
        autopilot: bool,
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
    match cli.command {
        Command::Record {
            output,
            chaos,
            seed,
            keep_env,
            command,
        } => {
            let chaos = chaos.then(|| recorder::ChaosOptions {
                seed: seed.unwrap_or_else(random_seed),
            });
            record(
                output,
                chaos,
                crate::secrets::record_env(&keep_env),
                command,
            )
        }
        Command::Replay { autopilot, trace } => {
            if !autopilot {
                return Err(Error::Usage(
                    "replay needs -a (autopilot); the gdb server comes later".into(),
                ));
            }
            replay(pack_cmd::resolve(&trace.unwrap_or_else(paths::latest))?)
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
    }
}

/// A seed for a chaos run nobody gave one for.
fn random_seed() -> u64 {
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

fn record(
    output: Option<PathBuf>,
    chaos: Option<recorder::ChaosOptions>,
    env: Option<Vec<Vec<u8>>>,
    mut command: Vec<OsString>,
) -> Result<ExitCode, Error> {
    let program = command.remove(0);
    let pname = program.to_string_lossy().into_owned();
    let default_place = output.is_none();
    let output = output.unwrap_or_else(|| paths::new_trace_path(&pname));
    if default_place {
        if let Some(parent) = output.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
    }
    let err = |source| Error::Record {
        program: pname.clone(),
        source,
    };
    let session = recorder::RecordSession::start(recorder::RecordOptions {
        program,
        args: command,
        output: output.clone(),
        chaos,
        env,
    })
    .map_err(err)?;
    let outcome = session.run();
    if default_place {
        paths::set_latest(&output);
        eprintln!("record-test: trace saved to {}", output.display());
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(recorder::Error::Other(m)) if m.starts_with("recording interrupted") => {
            return Err(Error::Interrupted {
                program: pname,
                trace: output.display().to_string(),
            })
        }
        Err(e) => return Err(err(e)),
    };
    Ok(exit_like(outcome.exit))
}

fn replay(trace: PathBuf) -> Result<ExitCode, Error> {
    let err = |source| Error::Replay {
        trace: trace.display().to_string(),
        source,
    };
    if let Ok(h) = pack::TraceReader::read_header(&trace) {
        let diffs = replayer::cpu_differences(&h);
        if !diffs.is_empty() {
            eprintln!(
                "warning: this trace was recorded on a CPU with other features; replay may diverge:\n  {}",
                diffs.join("\n  ")
            );
            if !tracee::cpuid::faulting_available() {
                eprintln!("  (this machine has no CPUID faulting, so the program sees its own CPU's features)");
            }
        }
    }
    let session = replayer::ReplaySession::start(replayer::ReplayOptions {
        trace: trace.clone(),
        echo: true,
    })
    .map_err(err)?;
    let outcome = session.run().map_err(err)?;
    Ok(exit_like(Some(outcome.exit)))
}

/// Exit the way the program did: its code, or death by its signal.
fn exit_like(status: Option<ExitStatus>) -> ExitCode {
    match status {
        Some(ExitStatus::Exited(code)) => ExitCode::from(code as u8),
        Some(ExitStatus::Signaled { signal, .. }) => tracee::interrupt::die_of_signal(signal),
        None => ExitCode::from(crate::exit::INTERNAL),
    }
}
