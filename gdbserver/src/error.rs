//! Errors of the gdb server.

/// Why serving gdb stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The replay failed (it diverged from the trace, or ptrace failed).
    #[error(transparent)]
    Replay(#[from] replayer::Error),
    #[error("the gdb connection failed")]
    Connection(#[source] std::io::Error),
    #[error("gdb protocol error: {0}")]
    Protocol(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
