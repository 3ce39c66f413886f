//! The errors of the trace format. Messages are lowercase single lines; causes are chained with
//! `source()` so the binary can print `caused by:` lines.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong reading or writing a trace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("trace directory {} does not exist", path.display())]
    TraceDirMissing { path: PathBuf },

    #[error("{} is not a trace directory (it has no header file)", path.display())]
    NotATraceDir { path: PathBuf },

    #[error("trace directory {} already exists and is not empty", path.display())]
    TraceDirNotEmpty { path: PathBuf },

    #[error("header is truncated")]
    HeaderTruncated,

    #[error("header is not a cargo-record-test trace header")]
    HeaderBadMagic,

    #[error("header is corrupted: {reason}")]
    HeaderCorrupted { reason: String },

    #[error(
        "trace format version {found} is newer than this tool supports ({supported}); \
         upgrade cargo-record-test"
    )]
    NewerVersion { found: u32, supported: u32 },

    /// `event` is the number of the event that could not be read (events before it are fine).
    #[error("events stream is corrupted {}: {reason}", place(*event))]
    EventsCorrupted { event: u64, reason: String },

    /// `event` is the number of the event that could not be read (events before it are fine).
    #[error("events stream is truncated {}", place(*event))]
    EventsTruncated { event: u64 },

    /// The data stream ended before the memory writes of event `event` were complete.
    #[error("data stream is truncated at event {event}")]
    DataTruncated { event: u64 },

    #[error("data stream is corrupted at event {event}: {reason}")]
    DataCorrupted { event: u64, reason: String },

    #[error("invalid file reference {hash:?} in the trace")]
    BadFileRef { hash: String },

    #[error("stored file {hash} is missing from {} (was the store deleted?)", store.display())]
    StoredFileMissing { hash: String, store: PathBuf },

    #[error("stored file {} has length {found}, expected {expected}", path.display())]
    StoredFileWrongLength {
        path: PathBuf,
        found: u64,
        expected: u64,
    },

    #[error("file {} changed while it was being stored", path.display())]
    FileChanged { path: PathBuf },

    #[error("{} is neither a trace directory nor a packed trace", path.display())]
    NotPacked { path: PathBuf },

    #[error("packed trace is corrupted: {reason}")]
    PackedCorrupted { reason: String },

    #[error("packed trace is truncated: {found} bytes{}", match expected {
        Some(e) => format!(" of {e}"),
        None => String::new(),
    })]
    PackedTruncated { found: u64, expected: Option<u64> },

    #[error("the trace writer failed earlier and cannot continue")]
    WriterPoisoned,

    #[error("cannot {op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where event `n` (the first unreadable one) sits: after the last good event, or at the start.
fn place(n: u64) -> String {
    match n.checked_sub(1) {
        Some(last) => format!("after event {last}"),
        None => "at its start".to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Attach an operation and path to an io error.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
