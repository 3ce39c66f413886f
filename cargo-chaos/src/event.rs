//! The one stream of events of a front-end run. The terminal display, the JUnit writer and the
//! report all read it through `Sink`; nothing else reports what happened.

use std::path::PathBuf;
use std::time::Duration;

/// `--until-fail` or `--runs N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    UntilFail,
    Sweep,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::UntilFail => "until-fail",
            Mode::Sweep => "sweep",
        }
    }
}

/// How one recorded run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    TimedOut,
    /// The recorder failed (unsupported syscall, crash, ...): never a caught flake.
    RecorderError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed-out",
            Outcome::RecorderError => "recorder-error",
        }
    }

    /// A test failure caught (a failure or a hang).
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::TimedOut)
    }
}

/// The program's end as the recorder saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// What we run: one test, or a whole binary (`--whole-binary`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unit {
    pub binary_id: String,
    /// The test name, or `WHOLE_BINARY`.
    pub test: String,
}

/// The `test` of a `--whole-binary` unit.
pub const WHOLE_BINARY: &str = "(whole binary)";

/// One finished run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub unit: Unit,
    /// The failing test a whole-binary run named (else the unit's test).
    pub test: String,
    pub seed: u64,
    pub outcome: Outcome,
    pub duration: Duration,
    pub exit: Option<Exit>,
    /// The panic message, the recorder's error, or what killed the run.
    pub message: Option<String>,
    /// The kept trace (failures, hangs, recorder errors that left one).
    pub trace: Option<PathBuf>,
    pub replay_command: Option<String>,
}

/// Why the run stopped before its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// `--until-fail` caught a failure.
    Caught,
    /// Ctrl-C (or SIGTERM/SIGHUP).
    Interrupted,
    /// `--max-time` was reached.
    MaxTime,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// The runs begin: the selected units, the jobs.
    Started {
        mode: Mode,
        units: Vec<Unit>,
        jobs: usize,
    },
    /// One run begins.
    RunStarted {
        unit: Unit,
    },
    RunFinished(RunRecord),
    /// `--until-fail` gave up on a unit whose recordings keep failing in the recorder.
    UnitRetired {
        unit: Unit,
        reason: String,
    },
    /// Stopping early; running jobs are being stopped.
    Stopping(StopReason),
    /// Everything ended.
    Finished {
        elapsed: Duration,
    },
}

/// A reader of the event stream.
pub trait Sink {
    fn event(&mut self, e: &Event);
}
