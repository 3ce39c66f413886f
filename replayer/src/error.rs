//! Errors of replay.

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tracee(#[from] tracee::Error),
    #[error("cannot read the trace")]
    Trace(#[from] pack::Error),
    /// The program did something other than what the trace says: replay cannot go on.
    #[error("replay diverged at event {event}: expected {expected}, but the program {actual}")]
    Diverged {
        event: u64,
        expected: String,
        actual: String,
    },
    /// The trace of a recording that was cut short ends here.
    #[error("the trace ends at event {event}: its recording was cut short ({reason})")]
    TraceEnded { event: u64, reason: String },
    #[error("the trace cannot be replayed: {0}")]
    Unreplayable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
