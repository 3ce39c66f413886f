//! The job summary (`$GITHUB_STEP_SUMMARY`): totals, every test that did not pass, and the
//! caught failures as in the PR comment.

use std::fmt::Write as _;

use crate::comment::{cell, first_lines, replay_command};
use crate::report::Report;

/// The Markdown for `report`.
pub fn render(report: &Report, artifact_url: Option<&str>) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## cargo-record-test ({} mode)\n\n| tests | runs | passed | failed | timed out | recorder errors | flaky |\n|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} |\n",
        report.mode, s.tests, s.runs, s.passed, s.failed, s.timed_out, s.recorder_errors, s.flaky
    );
    let bad: Vec<_> = report
        .tests
        .iter()
        .filter(|t| t.status != "passed")
        .collect();
    if !bad.is_empty() {
        let _ = writeln!(
            out,
            "| test | binary | status | runs | failed |\n|---|---|---|---|---|"
        );
        for t in bad {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                cell(&t.name),
                cell(&t.binary_id),
                cell(&t.status),
                t.runs,
                t.failed + t.timed_out
            );
        }
        out.push('\n');
    }
    for r in report.runs.iter().filter(|r| r.caught()) {
        let _ = writeln!(
            out,
            "* `{}` seed {}: {}\n  `{}`",
            cell(&r.test),
            r.seed,
            first_lines(r.message.as_deref()),
            replay_command(artifact_url, r)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn totals_and_flaky_tests() {
        let r = crate::report::parse(crate::report::tests_sample()).unwrap();
        let s = super::render(&r, None);
        assert!(s.contains("| 2 | 7 | 6 | 1 | 0 | 0 | 1 |"), "{s}");
        assert!(
            s.contains("| `lost_update` | flaky::test/flaky | flaky | 5 | 1 |"),
            "{s}"
        );
        assert!(s.contains("cargo record-test replay -a flaky-lost_update-3.crtpack"));
    }
}
