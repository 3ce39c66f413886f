//! The PR comment: one per PR, found again by [`MARKER`], listing each caught failure (test,
//! seed, the first lines of its failure, the artifact link) and the one command that downloads
//! and replays it.

use std::fmt::Write as _;

use crate::report::{Report, Run};

/// Hidden in the comment so the next run updates it instead of adding another.
pub const MARKER: &str = "<!-- cargo-record-test:flaky-report -->";

/// At most this many lines of a failure message go in a table cell.
const MESSAGE_LINES: usize = 3;
/// And at most this many characters.
const MESSAGE_CHARS: usize = 240;
/// Rows shown; the rest are counted.
const MAX_ROWS: usize = 30;

/// Text safe inside a Markdown table cell: no pipes, no HTML, no newlines.
pub(crate) fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace(['\r', '\n'], " ")
}

/// The first lines of a failure, for a cell.
pub(crate) fn first_lines(message: Option<&str>) -> String {
    let Some(m) = message.filter(|m| !m.trim().is_empty()) else {
        return "(no message)".into();
    };
    let lines: Vec<&str> = m
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(MESSAGE_LINES)
        .collect();
    let mut text = lines
        .iter()
        .map(|l| cell(l))
        .collect::<Vec<_>>()
        .join("<br>");
    if text.chars().count() > MESSAGE_CHARS {
        text = text.chars().take(MESSAGE_CHARS).collect::<String>() + "…";
    }
    text
}

/// The command that downloads the artifact and replays `run`'s packed trace.
pub fn replay_command(artifact_url: Option<&str>, run: &Run) -> String {
    let name = run.packed_name().unwrap_or_default();
    match artifact_url {
        Some(url) => format!("cargo record-test fetch {url} --trace {name} --replay"),
        None => format!("cargo record-test replay -a {name}"),
    }
}

/// The comment's Markdown for `report`; `artifact_url` is the uploaded traces' artifact.
pub fn render(report: &Report, artifact_url: Option<&str>, run_url: Option<&str>) -> String {
    let caught: Vec<&Run> = report.runs.iter().filter(|r| r.caught()).collect();
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}");
    if caught.is_empty() {
        let _ = writeln!(
            out,
            "### cargo-record-test: no failure caught\n\n{} runs of {} tests ({} mode), all passed.",
            s.runs, s.tests, report.mode
        );
    } else {
        let _ = writeln!(
            out,
            "### cargo-record-test: {} failing run{} caught ({} flaky test{}, {} runs of {} tests)\n",
            caught.len(),
            if caught.len() == 1 { "" } else { "s" },
            s.flaky,
            if s.flaky == 1 { "" } else { "s" },
            s.runs,
            s.tests
        );
        let _ = writeln!(out, "| test | seed | failure | trace |\n|---|---|---|---|");
        for r in caught.iter().take(MAX_ROWS) {
            let name = r.packed_name().unwrap_or_default();
            let trace = match artifact_url {
                Some(u) => format!("[{}]({u})", cell(&name)),
                None => cell(&name),
            };
            let outcome = if r.outcome == "timed-out" {
                "timed out: "
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "| `{}` {} | {} | {outcome}{} | {trace} |",
                cell(&r.test),
                cell(&r.binary_id),
                r.seed,
                first_lines(r.message.as_deref())
            );
        }
        if caught.len() > MAX_ROWS {
            let _ = writeln!(out, "\n… and {} more.", caught.len() - MAX_ROWS);
        }
        let _ = writeln!(
            out,
            "\nReplay one exactly on a Linux x86_64 machine (needs `GITHUB_TOKEN`, e.g. `export GITHUB_TOKEN=$(gh auth token)`; `gh run download` works too):\n"
        );
        for r in caught.iter().take(MAX_ROWS) {
            let _ = writeln!(
                out,
                "<details><summary><code>{}</code> seed {}</summary>\n\n```sh\n{}\n```\n</details>",
                cell(&r.test),
                r.seed,
                replay_command(artifact_url, r)
            );
        }
    }
    if let Some(u) = run_url {
        let _ = writeln!(out, "\n[workflow run]({u})");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_each_caught_run_with_its_command() {
        let r = crate::report::parse(crate::report::tests_sample()).unwrap();
        let url = "https://github.com/o/r/actions/runs/5/artifacts/9";
        let c = render(&r, Some(url), None);
        assert!(c.starts_with(MARKER));
        assert!(c.contains("| `lost_update` flaky::test/flaky | 42 | assertion failed<br>left: 39<br>right: 40 |"), "{c}");
        assert!(c.contains(&format!(
            "cargo record-test fetch {url} --trace flaky-lost_update-3.crtpack --replay"
        )));
        assert_eq!(c.matches("<details>").count(), 1);
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\n<c>"), "a\\|b &lt;c&gt;");
        assert_eq!(first_lines(None), "(no message)");
        assert!(first_lines(Some(&"x".repeat(1000))).ends_with('…'));
    }
}
