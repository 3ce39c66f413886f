//! `target/record-test/report.json` as `--until-fail` / `--runs` write it (schema version 1),
//! read with types of our own that ignore fields they do not know.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The whole report.
#[derive(Clone, Debug, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    #[serde(default)]
    pub tool_version: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub duration_secs: f64,
    #[serde(default)]
    pub summary: Summary,
    #[serde(default)]
    pub tests: Vec<TestResult>,
    #[serde(default)]
    pub runs: Vec<Run>,
}

/// The totals.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub tests: u64,
    #[serde(default)]
    pub runs: u64,
    #[serde(default)]
    pub passed: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub timed_out: u64,
    #[serde(default)]
    pub recorder_errors: u64,
    #[serde(default)]
    pub flaky: u64,
}

/// One test over all its runs.
#[derive(Clone, Debug, Deserialize)]
pub struct TestResult {
    pub binary_id: String,
    pub name: String,
    #[serde(default)]
    pub runs: u64,
    #[serde(default)]
    pub passed: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub timed_out: u64,
    #[serde(default)]
    pub status: String,
}

/// One recorded run.
#[derive(Clone, Debug, Deserialize)]
pub struct Run {
    pub binary_id: String,
    pub test: String,
    #[serde(default)]
    pub seed: u64,
    pub outcome: String,
    #[serde(default)]
    pub duration_secs: f64,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub trace: Option<PathBuf>,
    #[serde(default)]
    pub replay_command: Option<String>,
}

impl Run {
    /// Whether this run caught a failure worth uploading (failed or timed out, with a trace).
    pub fn caught(&self) -> bool {
        matches!(self.outcome.as_str(), "failed" | "timed-out") && self.trace.is_some()
    }

    /// The packed file's name for this run's trace: `NAME.crtpack` for `.../NAME.trace`.
    pub fn packed_name(&self) -> Option<String> {
        let t = self.trace.as_ref()?;
        let n = t.file_name()?.to_string_lossy();
        Some(format!(
            "{}.{}",
            n.trim_end_matches('/').trim_end_matches(".trace"),
            pack::PACK_EXTENSION
        ))
    }
}

/// The schema version this reader understands.
pub const SCHEMA_VERSION: u32 = 1;

/// Parse a report.
pub fn parse(text: &str) -> std::result::Result<Report, String> {
    let r: Report = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if r.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "schema version {} (this tool reads {SCHEMA_VERSION})",
            r.schema_version
        ));
    }
    Ok(r)
}

/// Read the report at `path`.
pub fn read(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        what: "read",
        path: path.to_owned(),
        source: e,
    })?;
    parse(&text).map_err(|reason| Error::Report {
        path: path.to_owned(),
        reason,
    })
}

/// A sample report for the tests of this crate.
#[cfg(test)]
pub(crate) fn tests_sample() -> &'static str {
    tests::SAMPLE
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const SAMPLE: &str = r#"{"schema_version":1,"tool_version":"0.1.0","mode":"until-fail",
      "started_at":"2026-12-01T22:00:00Z","duration_secs":12.5,"workspace_root":"/w","target_dir":"/w/target",
      "summary":{"tests":2,"runs":7,"passed":6,"failed":1,"timed_out":0,"recorder_errors":0,"flaky":1,"future":3},
      "tests":[{"binary_id":"flaky::test/flaky","name":"lost_update","runs":5,"passed":4,"failed":1,
                "timed_out":0,"recorder_errors":0,"status":"flaky"}],
      "runs":[{"binary_id":"flaky::test/flaky","test":"lost_update","seed":42,"outcome":"failed",
               "duration_secs":0.4,"exit":{"code":101},"message":"assertion failed\nleft: 39\nright: 40",
               "trace":"/w/target/record-test/flaky-lost_update-3.trace","replay_command":"cargo record-test replay -a X"},
              {"binary_id":"flaky::test/flaky","test":"lost_update","seed":1,"outcome":"passed",
               "duration_secs":0.3,"exit":null,"message":null,"trace":null,"replay_command":null,"new":true}]}"#;

    #[test]
    fn reads_the_schema_and_ignores_unknown_fields() {
        let r = parse(SAMPLE).unwrap();
        assert_eq!(r.summary.flaky, 1);
        assert_eq!(r.runs.len(), 2);
        assert!(r.runs[0].caught());
        assert!(!r.runs[1].caught());
        assert_eq!(
            r.runs[0].packed_name().as_deref(),
            Some("flaky-lost_update-3.crtpack")
        );
    }

    #[test]
    fn refuses_other_versions_and_garbage() {
        assert!(parse(r#"{"schema_version":2}"#).unwrap_err().contains("2"));
        assert!(parse("nope").is_err());
    }
}
