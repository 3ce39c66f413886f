//! `record --result-file PATH`: a small JSON file saying how a recorded run ended, so a job runner
//! tells "the program failed" from "the recorder failed" without reading text.
//!
//! ```json
//! {"schema_version":1,"outcome":"exited","code":101,"trace":"target/record-test/x.trace","trace_kept":true,"seed":7}
//! {"schema_version":1,"outcome":"signaled","signal":11,"trace":"...","trace_kept":true,"seed":null}
//! {"schema_version":1,"outcome":"recorder-error","kind":"unsupported","message":"...","trace":"...","trace_kept":true,"seed":7}
//! ```
//!
//! `kind` is one of `unsupported` (the program made a syscall the recorder cannot record),
//! `interrupted` (SIGINT/SIGTERM/SIGHUP reached the recorder: the trace is kept, marked incomplete),
//! `bad-input` (the program could not be started, the trace could not be written) and `internal`
//! (a recorder bug). A recording cannot diverge; divergence is a replay error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

/// The whole result file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunResult {
    pub schema_version: u32,
    #[serde(flatten)]
    pub end: RunEnd,
    /// The trace directory (whether or not it was kept).
    pub trace: Option<PathBuf>,
    /// False when `--keep on-failure` deleted the trace of a passing run.
    pub trace_kept: bool,
    /// The chaos seed, for chaos recordings.
    pub seed: Option<u64>,
}

/// How the recorded run ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RunEnd {
    /// The program exited with this code.
    Exited { code: i32 },
    /// The program was killed by this signal.
    Signaled { signal: i32 },
    /// The recorder could not go on; the program's own status is unknown.
    RecorderError { kind: ErrorKind, message: String },
}

/// The kinds of recorder errors.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    Unsupported,
    Interrupted,
    BadInput,
    Internal,
}

impl RunResult {
    /// Write the file (best effort is not enough: a runner relies on it, so errors are returned).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string(self).map_err(std::io::Error::other)?;
        // Write beside and rename, so a reader never sees half a file.
        let tmp = path.with_extension("tmp-result");
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, path)
    }

    /// Read a result file written by `record --result-file`.
    pub fn read(path: &Path) -> Result<RunResult, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_file_round_trips_in_the_documented_shape() {
        let r = RunResult {
            schema_version: SCHEMA_VERSION,
            end: RunEnd::RecorderError {
                kind: ErrorKind::Unsupported,
                message: "io_uring".into(),
            },
            trace: Some("t.trace".into()),
            trace_kept: true,
            seed: Some(3),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"schema_version":1,"outcome":"recorder-error","kind":"unsupported","message":"io_uring","trace":"t.trace","trace_kept":true,"seed":3}"#
        );
        assert_eq!(serde_json::from_str::<RunResult>(&s).unwrap(), r);
        let e = RunEnd::Exited { code: 101 };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"outcome":"exited","code":101}"#
        );
    }
}
