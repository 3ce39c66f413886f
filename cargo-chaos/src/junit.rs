//! JUnit XML in nextest's dialect (quick-junit, the crate nextest itself uses), built from the
//! collected events: one `<testsuite>` per test binary, one `<testcase>` per test. A flaky test
//! (passed and failed) is a success carrying one `<flakyFailure>` per failed run; a test that
//! always failed has a `<failure>` and one `<rerunFailure>` per further failed run; a test whose
//! runs only met recorder errors is an `<error>`. Each failure's text has the panic message and
//! the replay command.

use std::collections::BTreeMap;
use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use crate::event::{Outcome, RunRecord, Unit};
use crate::report::Collector;

fn text_of(r: &RunRecord) -> String {
    let mut t = format!("seed {}", r.seed);
    if let Some(m) = &r.message {
        t.push('\n');
        t.push_str(m);
    }
    if let Some(c) = &r.replay_command {
        t.push_str("\nreplay: ");
        t.push_str(c);
    }
    t
}

fn kind_text(r: &RunRecord) -> &'static str {
    match r.outcome {
        Outcome::TimedOut => "test timeout",
        Outcome::RecorderError => "recorder error",
        _ => "test failure",
    }
}

fn rerun(r: &RunRecord, kind: NonSuccessKind) -> TestRerun {
    let mut x = TestRerun::new(kind);
    x.set_type(kind_text(r))
        .set_time(r.duration)
        .set_description(text_of(r));
    if let Some(m) = &r.message {
        x.set_message(m.lines().next().unwrap_or(""));
    }
    x
}

/// The JUnit document for the collected runs.
pub fn build(c: &Collector, name: &str) -> Report {
    let mut runs: BTreeMap<&Unit, Vec<&RunRecord>> = BTreeMap::new();
    for r in &c.runs {
        runs.entry(&r.unit).or_default().push(r);
    }
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for u in &c.units {
        let rs = runs.get(u).cloned().unwrap_or_default();
        let failures: Vec<&RunRecord> = rs
            .iter()
            .copied()
            .filter(|r| r.outcome.is_failure())
            .collect();
        let errors: Vec<&RunRecord> = rs
            .iter()
            .copied()
            .filter(|r| r.outcome == Outcome::RecorderError)
            .collect();
        let passed = rs.iter().any(|r| r.outcome == Outcome::Passed);
        let status = if rs.is_empty() {
            let mut s = TestCaseStatus::skipped();
            s.set_message("not run: the run stopped first");
            s
        } else if !failures.is_empty() && passed {
            TestCaseStatus::Success {
                flaky_runs: failures
                    .iter()
                    .map(|r| rerun(r, NonSuccessKind::Failure))
                    .collect(),
            }
        } else if let Some((first, rest)) = failures.split_first() {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(kind_text(first)).set_description(text_of(first));
            if let Some(m) = &first.message {
                s.set_message(m.lines().next().unwrap_or(""));
            }
            s.add_reruns(rest.iter().map(|r| rerun(r, NonSuccessKind::Failure)));
            s
        } else if let (Some(first), false) = (errors.first(), passed) {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("recorder error").set_description(text_of(first));
            if let Some(m) = &first.message {
                s.set_message(m.lines().next().unwrap_or(""));
            }
            s
        } else {
            TestCaseStatus::success()
        };
        let mut tc = TestCase::new(u.test.as_str(), status);
        tc.set_classname(u.binary_id.as_str());
        tc.set_time(rs.iter().map(|r| r.duration).sum());
        suites
            .entry(u.binary_id.as_str())
            .or_insert_with(|| TestSuite::new(u.binary_id.as_str()))
            .add_test_case(tc);
    }
    let mut report = Report::new(name);
    report.set_time(c.elapsed);
    report.add_test_suites(suites.into_values());
    report
}

pub fn write(path: &Path, c: &Collector) -> std::io::Result<()> {
    let xml = build(c, "record-test")
        .to_string()
        .map_err(std::io::Error::other)?;
    if let Some(p) = path.parent() {
        if !p.as_os_str().is_empty() {
            std::fs::create_dir_all(p)?;
        }
    }
    std::fs::write(path, xml)
}
