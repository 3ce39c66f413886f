//! Listing a test binary's tests with the harness (`--list --format terse`) and selecting them
//! as libtest does (FILTER, `--exact`, `--skip`, ignored tests).

use std::process::{Command, Stdio};

use crate::cargo_build::TestBinary;
use crate::cli::FrontArgs;
use crate::exit::Error;

/// One test of one binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    pub ignored: bool,
}

/// The tests of `bin`, in the harness's order, each marked ignored or not.
pub fn list(bin: &TestBinary) -> Result<Vec<TestCase>, Error> {
    let all = list_with(bin, &[])?;
    let ignored = list_with(bin, &["--ignored"])?;
    Ok(all
        .into_iter()
        .map(|name| TestCase {
            ignored: ignored.contains(&name),
            name,
        })
        .collect())
}

fn list_with(bin: &TestBinary, extra: &[&str]) -> Result<Vec<String>, Error> {
    let out = Command::new(&bin.path)
        .args(["--list", "--format", "terse"])
        .args(extra)
        .current_dir(&bin.cwd)
        .envs(bin.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::Listing(format!(
                "cannot list the tests of {} ({}): {e}",
                bin.binary_id,
                bin.path.display()
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Listing(format!(
            "listing the tests of {} failed (`{} --list --format terse` ended with {}){}",
            bin.binary_id,
            bin.path.display(),
            out.status,
            err.lines()
                .last()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        )));
    }
    Ok(parse_terse(&String::from_utf8_lossy(&out.stdout)))
}

/// `name: test` lines (benchmarks are left out).
pub fn parse_terse(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// Whether libtest would run `name` given the filters and skips.
pub fn selected(args: &FrontArgs, t: &TestCase) -> bool {
    let matches = |pat: &str| {
        if args.exact {
            t.name == pat
        } else {
            t.name.contains(pat)
        }
    };
    let by_filter = args.filters.is_empty() || args.filters.iter().any(|f| matches(f));
    let skipped = args.skip.iter().any(|s| matches(s));
    let by_ignore = if args.ignored {
        t.ignored
    } else {
        args.include_ignored || !t.ignored
    };
    by_filter && !skipped && by_ignore
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terse_listing_keeps_tests_only() {
        let text = "a::b: test\nc: benchmark\nd: test\n\n";
        assert_eq!(parse_terse(text), vec!["a::b", "d"]);
    }

    #[test]
    fn selection_is_libtests() {
        let t = |n: &str| TestCase {
            name: n.into(),
            ignored: false,
        };
        let mut a = FrontArgs {
            filters: vec!["lost".into()],
            ..Default::default()
        };
        assert!(selected(&a, &t("lost_update")));
        assert!(selected(&a, &t("rare_lost_update")));
        a.exact = true;
        assert!(!selected(&a, &t("rare_lost_update")));
        a.exact = false;
        a.skip = vec!["rare".into()];
        assert!(!selected(&a, &t("rare_lost_update")));
        let ig = TestCase {
            name: "lost".into(),
            ignored: true,
        };
        assert!(!selected(&a, &ig));
        a.ignored = true;
        assert!(selected(&a, &ig) && !selected(&a, &t("lost_update")));
    }
}
