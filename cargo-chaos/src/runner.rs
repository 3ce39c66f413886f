//! Running the plan: `--jobs` workers, each recording one test process at a time under chaos
//! (`cargo-record-test record --chaos --seed S ...`) in its own process group, with a timeout
//! (SIGTERM to the recorder, which closes the trace; SIGKILL to the group after a grace period),
//! cancellation (SIGKILL to the group: a cancelled run's trace is dropped), and every result sent
//! as an `Event`.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::cargo_build::TestBinary;
use crate::event::{Event, Exit, Mode, Outcome, RunRecord, StopReason, Unit, WHOLE_BINARY};
use crate::libtest_output;
use crate::record::shell_quote;
use crate::result_file::{RunEnd, RunResult};

/// How long a stopped recorder gets to close its trace before its group is killed.
const GRACE: Duration = Duration::from_secs(5);
/// `--until-fail` gives up on a unit after this many recorder errors.
const RECORDER_ERRORS_TO_RETIRE: u64 = 3;

/// One thing to run repeatedly.
#[derive(Debug, Clone)]
pub struct PlannedUnit {
    pub unit: Unit,
    pub bin: Arc<TestBinary>,
    /// The test binary's arguments (`--exact NAME --nocapture ...`).
    pub args: Vec<OsString>,
}

pub struct Plan {
    pub mode: Mode,
    pub units: Vec<PlannedUnit>,
    /// Runs per unit: `--runs N`, or `--max-runs` for `--until-fail`.
    pub runs_per_unit: u64,
    pub jobs: usize,
    pub timeout: Duration,
    /// Failing traces kept per unit in a sweep.
    pub keep: usize,
    pub trace_dir: PathBuf,
    pub recorder: PathBuf,
    /// Set by the front end's SIGINT/SIGTERM/SIGHUP handler. A recorder spawned just as the
    /// interrupt reached the process group can die of it before its own handler is in place
    /// (glibc's posix_spawn holds the signal pending until just before exec); such a run was
    /// stopped from outside, not failed by the recorder.
    pub interrupted: Arc<AtomicBool>,
}

#[derive(Default)]
struct UnitState {
    started: u64,
    recorder_errors: u64,
    kept: usize,
    retired: bool,
}

struct Shared {
    units: Vec<UnitState>,
    stop: Option<StopReason>,
}

/// The workers' common state; `stop` may be called from any thread.
pub struct Runner {
    plan: Plan,
    shared: Mutex<Shared>,
    cancel: AtomicBool,
    counter: AtomicU64,
}

impl Runner {
    pub fn new(plan: Plan) -> Arc<Runner> {
        let units = plan.units.iter().map(|_| UnitState::default()).collect();
        Arc::new(Runner {
            plan,
            shared: Mutex::new(Shared { units, stop: None }),
            cancel: AtomicBool::new(false),
            counter: AtomicU64::new(0),
        })
    }

    /// Stop early: no new runs; running ones are stopped (their results dropped). True when
    /// this was the first reason to stop.
    pub fn stop(&self, reason: StopReason) -> bool {
        let mut s = self.shared.lock().expect("not poisoned");
        if s.stop.is_none() {
            s.stop = Some(reason);
            self.cancel.store(true, Ordering::SeqCst);
            true
        } else {
            false
        }
    }

    /// Why the runs stopped early, if they did.
    pub fn stopped(&self) -> Option<StopReason> {
        self.shared.lock().expect("not poisoned").stop.clone()
    }

    /// Start the workers; they end when the budget is spent or `stop` is called, and send
    /// every event to `tx`.
    pub fn spawn(self: &Arc<Runner>, tx: Sender<Event>) -> Vec<std::thread::JoinHandle<()>> {
        let cpus = tracee::affinity::OriginalMask::current().cpus();
        (0..self.plan.jobs.max(1))
            .map(|slot| {
                let me = Arc::clone(self);
                let tx = tx.clone();
                let cpu = (!cpus.is_empty()).then(|| cpus[slot % cpus.len()]);
                std::thread::spawn(move || me.work(cpu, &tx))
            })
            .collect()
    }

    fn next(&self) -> Option<usize> {
        let mut s = self.shared.lock().expect("not poisoned");
        if s.stop.is_some() {
            return None;
        }
        let n = self.plan.runs_per_unit;
        let i = s
            .units
            .iter()
            .enumerate()
            .filter(|(_, u)| !u.retired && u.started < n)
            .min_by_key(|(i, u)| (u.started, *i))
            .map(|(i, _)| i)?;
        s.units[i].started += 1;
        Some(i)
    }

    fn work(&self, cpu: Option<usize>, tx: &Sender<Event>) {
        while let Some(i) = self.next() {
            let pu = &self.plan.units[i];
            let seed = crate::cli::random_seed();
            let _ = tx.send(Event::RunStarted {
                unit: pu.unit.clone(),
            });
            let Some(mut rec) = self.run_one(pu, seed, cpu) else {
                continue; // cancelled: the run is not counted
            };
            let mut s = self.shared.lock().expect("not poisoned");
            let st = &mut s.units[i];
            match rec.outcome {
                Outcome::RecorderError => {
                    st.recorder_errors += 1;
                    if self.plan.mode == Mode::UntilFail
                        && st.recorder_errors >= RECORDER_ERRORS_TO_RETIRE
                    {
                        st.retired = true;
                        let _ = tx.send(Event::UnitRetired {
                            unit: pu.unit.clone(),
                            reason: format!(
                                "the recorder failed on {} of its runs",
                                st.recorder_errors
                            ),
                        });
                    }
                }
                o if o.is_failure() => {
                    if self.plan.mode == Mode::Sweep && st.kept >= self.plan.keep {
                        if let Some(t) = rec.trace.take() {
                            let _ = std::fs::remove_dir_all(t);
                        }
                        rec.replay_command = None;
                    } else {
                        st.kept += 1;
                    }
                }
                _ => {}
            }
            let caught = self.plan.mode == Mode::UntilFail && rec.outcome.is_failure();
            // A failure caught while stopping still counts: send it before any Stopping.
            if caught && s.stop.is_none() {
                s.stop = Some(StopReason::Caught);
                self.cancel.store(true, Ordering::SeqCst);
                let _ = tx.send(Event::RunFinished(rec));
                let _ = tx.send(Event::Stopping(StopReason::Caught));
            } else {
                let _ = tx.send(Event::RunFinished(rec));
            }
        }
    }

    /// Record one run; `None` when it was cancelled.
    fn run_one(&self, pu: &PlannedUnit, seed: u64, cpu: Option<usize>) -> Option<RunRecord> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let dir = &self.plan.trace_dir;
        let scratch = dir
            .join(".runs")
            .join(format!("{}-{n}", std::process::id()));
        let trace = dir.join(format!(
            "{}-{}-{seed:016x}.trace",
            crate::paths::sanitize(&pu.unit.binary_id),
            crate::paths::sanitize(&pu.unit.test)
        ));
        let started = Instant::now();
        let record = |outcome, message: String| RunRecord {
            unit: pu.unit.clone(),
            test: pu.unit.test.clone(),
            seed,
            outcome,
            duration: started.elapsed(),
            exit: None,
            message: Some(message),
            trace: None,
            replay_command: None,
        };
        if let Err(e) = std::fs::create_dir_all(&scratch) {
            return Some(record(
                Outcome::RecorderError,
                format!("cannot create {}: {e}", scratch.display()),
            ));
        }
        let result_path = scratch.join("result.json");
        let (out_path, err_path) = (scratch.join("stdout"), scratch.join("stderr"));
        let files = std::fs::File::create(&out_path)
            .and_then(|o| Ok((o, std::fs::File::create(&err_path)?)));
        let (out, err) = match files {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&scratch);
                return Some(record(Outcome::RecorderError, e.to_string()));
            }
        };
        let mut cmd = Command::new(&self.plan.recorder);
        cmd.args(["record", "--chaos", "--seed", &seed.to_string(), "-o"])
            .arg(&trace)
            .arg("--result-file")
            .arg(&result_path)
            .arg("--")
            .arg(&pu.bin.path)
            .args(&pu.args)
            .current_dir(&pu.bin.cwd)
            .envs(pu.bin.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        if let Some(c) = cpu {
            cmd.env("CRT_CPU", c.to_string());
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&scratch);
                return Some(record(
                    Outcome::RecorderError,
                    format!("cannot run {}: {e}", self.plan.recorder.display()),
                ));
            }
        };
        let ended = self.wait(child);
        let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        let result = RunResult::read(&result_path);
        let _ = std::fs::remove_dir_all(&scratch);
        let mut rec = record(Outcome::Passed, String::new());
        rec.message = None;
        match ended {
            Ended::Cancelled => {
                let _ = std::fs::remove_dir_all(&trace);
                return None;
            }
            Ended::TimedOut => {
                rec.outcome = Outcome::TimedOut;
                // The recorder says what the threads were doing when it was stopped: all
                // blocked (a hang) or still running (slow under recording).
                let doing = match &result {
                    Ok(RunResult {
                        end: RunEnd::RecorderError { message, .. },
                        ..
                    }) => format!(": {message}"),
                    _ => String::new(),
                };
                rec.message = Some(format!(
                    "timed out after {:.0} s; the run was killed and its trace kept up to the kill{doing}",
                    self.plan.timeout.as_secs_f64()
                ));
            }
            Ended::Exited(status) if result.is_err() && self.killed_by_the_interrupt(status) => {
                let _ = std::fs::remove_dir_all(&trace);
                return None;
            }
            Ended::Exited(status) => match result {
                Err(e) => {
                    rec.outcome = Outcome::RecorderError;
                    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
                    rec.message = Some(format!(
                        "the recorder ended with {status} and no result file ({e}){}",
                        last.map(|l| format!(": {l}")).unwrap_or_default()
                    ));
                }
                Ok(r) => match r.end {
                    RunEnd::Exited { code: 0 } => {}
                    RunEnd::Exited { code } => {
                        rec.outcome = Outcome::Failed;
                        rec.exit = Some(Exit::Code(code));
                    }
                    RunEnd::Signaled { signal } => {
                        rec.outcome = Outcome::Failed;
                        rec.exit = Some(Exit::Signal(signal));
                    }
                    RunEnd::RecorderError { kind, message } => {
                        rec.outcome = Outcome::RecorderError;
                        rec.message = Some(format!("recorder error ({kind:?}): {message}"));
                    }
                },
            },
        }
        if rec.outcome == Outcome::Failed {
            let failing = libtest_output::failed_tests(&stdout);
            if pu.unit.test == WHOLE_BINARY {
                // The first panic (stderr is in time order with --nocapture) is the cause; the
                // others (a poisoned lock, ...) follow from it.
                let first_panic = libtest_output::panics(&stderr)
                    .into_iter()
                    .find(|p| failing.contains(&p.thread));
                if let Some(t) = first_panic.map(|p| p.thread).or(failing.first().cloned()) {
                    rec.test = t;
                }
            }
            let name = (rec.test != WHOLE_BINARY).then_some(rec.test.as_str());
            let panic = libtest_output::message_of(name, &stdout, &stderr);
            let why = match rec.exit {
                Some(Exit::Code(c)) => format!("exited with code {c}"),
                Some(Exit::Signal(s)) => format!("killed by signal {s} ({})", signal_name(s)),
                None => String::new(),
            };
            let mut msg = panic.unwrap_or(why);
            if failing.len() > 1 {
                msg.push_str(&format!("\n(failed tests: {})", failing.join(", ")));
            }
            if let Some(note) = crate::timing::late_wakes_note(&trace) {
                msg.push_str(&format!("\n(note: {note})"));
            }
            rec.message = Some(msg);
        }
        if rec.outcome.is_failure() && trace.exists() {
            rec.replay_command = Some(format!(
                "cargo record-test replay -a {}",
                shell_quote(&trace.display().to_string())
            ));
            rec.trace = Some(trace);
        } else {
            let _ = std::fs::remove_dir_all(&trace);
        }
        rec.duration = started.elapsed();
        Some(rec)
    }

    /// Wait for the recorder, stopping it at the timeout or on cancel. Its process group is
    /// killed in every case, so nothing it started outlives it.
    /// Whether a recorder that left no result died of the interrupt the front end got too
    /// (whose handler may run a moment after the child was reaped).
    fn killed_by_the_interrupt(&self, status: std::process::ExitStatus) -> bool {
        use std::os::unix::process::ExitStatusExt;
        let by_interrupt = matches!(
            status.signal(),
            Some(libc::SIGINT) | Some(libc::SIGTERM) | Some(libc::SIGHUP)
        );
        if !by_interrupt {
            return false;
        }
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            if self.plan.interrupted.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn wait(&self, mut child: Child) -> Ended {
        let pid = Pid::from_raw(child.id() as i32);
        let deadline = Instant::now() + self.plan.timeout;
        let started = Instant::now();
        let mut stopping: Option<(Instant, bool)> = None; // (since, timed out)
        let ended = loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    break match stopping {
                        Some((_, true)) => Ended::TimedOut,
                        Some((_, false)) => Ended::Cancelled,
                        None => Ended::Exited(status),
                    }
                }
                Ok(None) => {}
                Err(_) => break Ended::Cancelled,
            }
            let now = Instant::now();
            match stopping {
                None => {
                    let why = if self.cancel.load(Ordering::SeqCst) {
                        Some(false)
                    } else if now >= deadline {
                        Some(true)
                    } else {
                        None
                    };
                    match why {
                        // The recorder closes the trace (marked incomplete) on SIGTERM.
                        Some(true) => {
                            let _ = kill(pid, Signal::SIGTERM);
                            stopping = Some((now, true));
                        }
                        // A cancelled run's trace is dropped: no need to wait for it.
                        Some(false) => {
                            let _ = killpg(pid, Signal::SIGKILL);
                            stopping = Some((now, false));
                        }
                        None => {}
                    }
                }
                Some((since, _)) if now - since > GRACE => {
                    let _ = killpg(pid, Signal::SIGKILL);
                }
                _ => {}
            }
            // Poll fast at first (most runs are short), then gently.
            let age = started.elapsed();
            std::thread::sleep(if age < Duration::from_millis(200) {
                Duration::from_millis(1)
            } else {
                Duration::from_millis(10)
            });
        };
        let _ = killpg(pid, Signal::SIGKILL);
        ended
    }
}

enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Cancelled,
}

fn signal_name(s: i32) -> &'static str {
    Signal::try_from(s).map(|s| s.as_str()).unwrap_or("?")
}
