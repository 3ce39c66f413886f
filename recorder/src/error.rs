//! Errors of recording.

/// Why a recording could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tracee(#[from] tracee::Error),
    #[error("cannot write the trace")]
    Trace(#[from] pack::Error),
    #[error("the program made syscall {name} (number {no}), which cannot be recorded: {reason}")]
    Unsupported {
        name: String,
        no: i64,
        reason: String,
    },
    #[error("the program made syscall number {0}, which this tool does not know")]
    UnknownSyscall(i64),
    #[error("cannot store mapped file {path}")]
    StoreFile {
        path: String,
        #[source]
        source: pack::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Whether the program did something the recorder cannot record (vs. an environment problem).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported { .. } | Error::UnknownSyscall(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
