//! `report.json`: the machine-readable account of a front-end run (schema in README.md, "The
//! report"), built from the event stream. The CI side reads it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::event::{Event, Exit, Mode, Outcome, RunRecord, Sink, Unit};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool_version: String,
    pub mode: String,
    pub started_at: String,
    pub duration_secs: f64,
    pub workspace_root: String,
    pub target_dir: String,
    pub summary: Summary,
    pub tests: Vec<TestEntry>,
    pub runs: Vec<RunEntry>,
}

#[derive(Serialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub tests: u64,
    pub runs: u64,
    pub passed: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub recorder_errors: u64,
    pub flaky: u64,
}

#[derive(Serialize, Clone, Debug)]
pub struct TestEntry {
    pub binary_id: String,
    pub name: String,
    pub runs: u64,
    pub passed: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub recorder_errors: u64,
    pub status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitEntry {
    Code(i32),
    Signal(i32),
}

#[derive(Serialize)]
pub struct RunEntry {
    pub binary_id: String,
    pub test: String,
    pub seed: u64,
    pub outcome: &'static str,
    pub duration_secs: f64,
    pub exit: Option<ExitEntry>,
    pub message: Option<String>,
    pub trace: Option<PathBuf>,
    pub replay_command: Option<String>,
}

/// Collects the events into a report.
pub struct Collector {
    pub mode: Mode,
    pub units: Vec<Unit>,
    pub runs: Vec<RunRecord>,
    pub elapsed: Duration,
}

impl Collector {
    pub fn new(mode: Mode) -> Collector {
        Collector {
            mode,
            units: Vec::new(),
            runs: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Per-unit counts, in unit order.
    pub fn tests(&self) -> Vec<TestEntry> {
        let mut by: BTreeMap<&Unit, TestEntry> = BTreeMap::new();
        for u in &self.units {
            by.insert(
                u,
                TestEntry {
                    binary_id: u.binary_id.clone(),
                    name: u.test.clone(),
                    runs: 0,
                    passed: 0,
                    failed: 0,
                    timed_out: 0,
                    recorder_errors: 0,
                    status: "passed",
                },
            );
        }
        for r in &self.runs {
            if let Some(t) = by.get_mut(&r.unit) {
                t.runs += 1;
                match r.outcome {
                    Outcome::Passed => t.passed += 1,
                    Outcome::Failed => t.failed += 1,
                    Outcome::TimedOut => t.timed_out += 1,
                    Outcome::RecorderError => t.recorder_errors += 1,
                }
            }
        }
        self.units
            .iter()
            .filter_map(|u| by.remove(u))
            .map(|mut t| {
                let failures = t.failed + t.timed_out;
                t.status = if failures > 0 && t.passed > 0 {
                    "flaky"
                } else if failures > 0 {
                    "failed"
                } else if t.recorder_errors > 0 {
                    "error"
                } else {
                    "passed"
                };
                t
            })
            .collect()
    }

    pub fn summary(&self) -> Summary {
        let tests = self.tests();
        let count = |o: Outcome| self.runs.iter().filter(|r| r.outcome == o).count() as u64;
        Summary {
            tests: tests.len() as u64,
            runs: self.runs.len() as u64,
            passed: count(Outcome::Passed),
            failed: count(Outcome::Failed),
            timed_out: count(Outcome::TimedOut),
            recorder_errors: count(Outcome::RecorderError),
            flaky: tests.iter().filter(|t| t.status == "flaky").count() as u64,
        }
    }

    pub fn report(&self, started_at: &str, workspace_root: &Path, target_dir: &Path) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            mode: self.mode.as_str().to_string(),
            started_at: started_at.to_string(),
            duration_secs: self.elapsed.as_secs_f64(),
            workspace_root: workspace_root.display().to_string(),
            target_dir: target_dir.display().to_string(),
            summary: self.summary(),
            tests: self.tests(),
            runs: self
                .runs
                .iter()
                .map(|r| RunEntry {
                    binary_id: r.unit.binary_id.clone(),
                    test: r.test.clone(),
                    seed: r.seed,
                    outcome: r.outcome.as_str(),
                    duration_secs: r.duration.as_secs_f64(),
                    exit: r.exit.map(|e| match e {
                        Exit::Code(c) => ExitEntry::Code(c),
                        Exit::Signal(s) => ExitEntry::Signal(s),
                    }),
                    message: r.message.clone(),
                    trace: r.trace.clone(),
                    replay_command: r.replay_command.clone(),
                })
                .collect(),
        }
    }
}

impl Sink for Collector {
    fn event(&mut self, e: &Event) {
        match e {
            Event::Started { units, .. } => self.units = units.clone(),
            Event::RunFinished(r) => self.runs.push(r.clone()),
            Event::Finished { elapsed } => self.elapsed = *elapsed,
            _ => {}
        }
    }
}

/// Write `report` as pretty JSON.
pub fn write(path: &Path, report: &Report) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)
}
