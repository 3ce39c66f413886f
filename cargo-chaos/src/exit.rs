//! Errors as the user sees them, and the documented exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | the program's | `record` and `replay` exit with the recorded program's status (or die of its signal) |
//! | 1 | internal error (a bug: please report it) |
//! | 2 | bad usage or bad input: missing program, missing or corrupt trace |
//! | 3 | replay diverged from the trace |
//! | 4 | the program did something the recorder cannot record (unsupported syscall) |
//! | 130 | interrupted (Ctrl-C); the trace is kept, marked incomplete |

use std::error::Error as _;
use std::process::ExitCode;

pub const INTERNAL: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const DIVERGED: u8 = 3;
pub const UNSUPPORTED: u8 = 4;
pub const INTERRUPTED: u8 = 130;
pub const TEST_FAILED: u8 = 100;
pub const BUILD_FAILED: u8 = 101;
pub const LIST_FAILED: u8 = 104;
pub const RECORDER_FAILED: u8 = 105;

/// An error of the command line, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot record {program}")]
    Record {
        program: String,
        #[source]
        source: recorder::Error,
    },
    #[error("cannot replay {trace}")]
    Replay {
        trace: String,
        #[source]
        source: replayer::Error,
    },
    #[error("cannot read trace {trace}")]
    Trace {
        trace: String,
        #[source]
        source: pack::Error,
    },
    #[error(
        "recording of {program} was interrupted ({doing}); the incomplete trace is at {trace}"
    )]
    Interrupted {
        program: String,
        trace: String,
        /// What the program's threads were doing then (blocked in which calls, or running).
        doing: String,
    },
    #[error("cannot write the result file {path}")]
    ResultFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Build(String),
    #[error("{0}")]
    Listing(String),
    #[error("{message}")]
    Io {
        message: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {what}")]
    Ci {
        what: String,
        #[source]
        source: ci::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit_code_number())
    }

    /// The documented exit code of this error.
    pub fn exit_code_number(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Trace { .. } => BAD_INPUT,
            Error::ResultFile { .. } | Error::Io { .. } => INTERNAL,
            Error::Build(_) => BUILD_FAILED,
            Error::Listing(_) => LIST_FAILED,
            Error::Record { source, .. } => {
                if source.is_unsupported() {
                    UNSUPPORTED
                } else if matches!(
                    source,
                    recorder::Error::Tracee(tracee::Error::Spawn { .. })
                        | recorder::Error::Trace(_)
                ) {
                    BAD_INPUT
                } else {
                    INTERNAL
                }
            }
            Error::Replay { source, .. } => match source {
                replayer::Error::Diverged { .. } => DIVERGED,
                replayer::Error::Trace(_)
                | replayer::Error::Unreplayable(_)
                | replayer::Error::TraceEnded { .. } => BAD_INPUT,
                replayer::Error::Tracee(tracee::Error::Spawn { .. }) => BAD_INPUT,
                _ => INTERNAL,
            },
            Error::Interrupted { .. } => INTERRUPTED,
            Error::Ci { source, .. } => {
                if source.is_bad_input() {
                    BAD_INPUT
                } else {
                    INTERNAL
                }
            }
        }
    }
}

/// The error and its causes on one line, `: `-separated (for result files and reports).
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut last = msg.clone();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if s != last && !s.is_empty() {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        last = s;
        cause = c.source();
    }
    msg
}

/// Print `error: ...` and its causes, one per line, in lowercase style.
pub fn report(e: &Error) {
    let mut msg = format!("error: {e}");
    let mut cause = e.source();
    let mut last = e.to_string();
    while let Some(c) = cause {
        let s = c.to_string();
        // Transparent wrappers repeat their inner message; print each text once.
        if s != last && !s.is_empty() {
            msg.push_str(&format!("\ncaused by: {s}"));
        }
        last = s;
        cause = c.source();
    }
    eprintln!("{msg}");
}
