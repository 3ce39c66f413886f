//! End-to-end tests of the front end (issue 12), with the real binary through `cargo-record-test`
//! (as `cargo record-test` runs it): `--until-fail` on `examples/flaky` and the printed replay
//! command; a temporary workspace of two packages that this file writes (`good`: correct tests, a
//! hanging ignored test and a build error behind a feature; `shaky`: a flaky test, a test that
//! always fails, a correct one); sweeps, JUnit, partitions, timeouts, `--whole-binary`, the
//! `record` flags a job runner uses, and the clear errors with their exit codes.
//!
//! The temporary workspace lives under this test's target dir (`front-ws/`, its own
//! `front-ws-target/`) and has no dependencies, so it builds once, offline.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use nix::sys::signal::Signal;
use tests::{
    build_binaries, disable_core_dumps, has_panic_text, run_with_signal, run_with_timeout,
    Binaries, Input, Output, SendSignal, Status, TempDir,
};

const LIMIT: Duration = Duration::from_secs(600);
const TEST_FAILED: i32 = 100;
const BUILD_FAILED: i32 = 101;
const USAGE: i32 = 2;
const LIST_FAILED: i32 = 104;
const INTERRUPTED: i32 = 130;

fn bins() -> Result<&'static Binaries, Failed> {
    static BINS: OnceLock<Result<Binaries, String>> = OnceLock::new();
    BINS.get_or_init(build_binaries)
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

const WS_MANIFEST: &str = r#"[workspace]
resolver = "2"
members = ["good", "shaky", "odd"]
default-members = ["good", "shaky"]
"#;

const GOOD_MANIFEST: &str = r#"[package]
name = "good"
version = "1.2.3"
edition = "2021"
description = "correct tests"
publish = false

[features]
broken = []
"#;

const GOOD_LIB: &str = r#"#[cfg(feature = "broken")]
compile_error!("the broken feature does not build");

pub fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds() {
        assert_eq!(super::add(2, 3), 5);
    }

    #[test]
    fn runs_like_cargo_test() {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        assert_eq!(var("CARGO_PKG_NAME"), env!("CARGO_PKG_NAME"));
        assert_eq!(var("CARGO_PKG_VERSION"), env!("CARGO_PKG_VERSION"));
        assert_eq!(var("CARGO_PKG_VERSION_MINOR"), "2");
        assert_eq!(var("CARGO_PKG_DESCRIPTION"), env!("CARGO_PKG_DESCRIPTION"));
        assert_eq!(var("CARGO_MANIFEST_DIR"), env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            std::env::current_dir().unwrap(),
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        );
    }

    #[test]
    fn one() {}
    #[test]
    fn two() {}
    #[test]
    fn three() {}
    #[test]
    fn four() {}
    #[test]
    fn five() {}

    #[test]
    #[ignore = "hangs on purpose"]
    fn hangs_forever() {
        // A child outside the recording too: the timeout must kill the whole process group.
        let marker = std::env::var("FRONT_HANG_MARKER").unwrap_or_default();
        let _child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 300; : {marker}"))
            .spawn();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    #[test]
    #[ignore = "deadlocks on purpose"]
    fn deadlocks() {
        use std::sync::{Arc, Barrier, Mutex};
        let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
        let both = Arc::new(Barrier::new(2));
        let (a2, b2, both2) = (a.clone(), b.clone(), both.clone());
        let t = std::thread::spawn(move || {
            let _b = b2.lock().unwrap();
            both2.wait();
            let _a = a2.lock().unwrap();
        });
        let _a = a.lock().unwrap();
        both.wait();
        let _b = b.lock().unwrap();
        t.join().unwrap();
    }
}
"#;

const SHAKY_MANIFEST: &str = r#"[package]
name = "shaky"
version = "0.1.0"
edition = "2021"
publish = false
"#;

const SHAKY_LIB: &str = r#"#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

    /// Two threads increment with a separate load and store: an update can be lost.
    #[test]
    fn racy_counter() {
        static N: AtomicU64 = AtomicU64::new(0);
        N.store(0, SeqCst);
        let ts: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..20 {
                        let v = N.load(SeqCst);
                        N.store(v + 1, SeqCst);
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(N.load(SeqCst), 40, "an increment was lost");
    }

    #[test]
    fn always_fails() {
        assert_eq!(1 + 1, 3, "arithmetic is broken");
    }

    #[test]
    fn steady() {
        assert_eq!(vec![1, 2, 3].iter().sum::<i32>(), 6);
    }
}
"#;

const ODD_MANIFEST: &str = r#"[package]
name = "odd"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
test = false

[[test]]
name = "nolist"
path = "nolist.rs"
harness = false
"#;

/// A test target whose harness cannot list its tests.
const ODD_NOLIST: &str = r#"fn main() {
    if std::env::args().any(|a| a == "--list") {
        eprintln!("this harness cannot list its tests");
        std::process::exit(3);
    }
}
"#;

/// The temporary workspace (written once per run of this file; unchanged files keep their
/// times, so cargo builds it only once) and its target dir.
fn workspace() -> Result<&'static (PathBuf, PathBuf), Failed> {
    static WS: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    WS.get_or_init(|| {
        let b = build_binaries_cached()?;
        let root = b.target_dir.join("front-ws");
        let target = b.target_dir.join("front-ws-target");
        let files: [(&str, &str); 8] = [
            ("odd/Cargo.toml", ODD_MANIFEST),
            ("odd/nolist.rs", ODD_NOLIST),
            ("odd/src/lib.rs", ""),
            ("Cargo.toml", WS_MANIFEST),
            ("good/Cargo.toml", GOOD_MANIFEST),
            ("good/src/lib.rs", GOOD_LIB),
            ("shaky/Cargo.toml", SHAKY_MANIFEST),
            ("shaky/src/lib.rs", SHAKY_LIB),
        ];
        for (rel, text) in files {
            let p = root.join(rel);
            if std::fs::read_to_string(&p).ok().as_deref() != Some(text) {
                std::fs::create_dir_all(p.parent().expect("has a parent"))
                    .and_then(|_| std::fs::write(&p, text))
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            }
        }
        Ok((root, target))
    })
    .as_ref()
    .map_err(|e| Failed::from(e.as_str()))
}

fn build_binaries_cached() -> Result<&'static Binaries, String> {
    bins().map_err(|e| format!("{e:?}"))
}

/// `cargo-record-test ARGS` on the temporary workspace, traces under `traces`.
fn front_ws(args: &[&str], traces: &Path) -> Result<Output, Failed> {
    let b = bins()?;
    let (root, target) = workspace()?;
    let mut cmd = Command::new(&b.crt);
    cmd.args(args)
        .arg("--trace-dir")
        .arg(traces)
        .arg("--offline")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .env("RUST_BACKTRACE", "0");
    Ok(run_with_timeout(&mut cmd, Input::Null, LIMIT)?)
}

/// `cargo-record-test ARGS` on this repository's `examples/flaky`.
fn front_flaky(args: &[&str], traces: &Path) -> Result<Output, Failed> {
    let b = bins()?;
    let mut cmd = Command::new(&b.crt);
    cmd.args(args)
        .args(["-p", "flaky", "--test", "flaky", "--trace-dir"])
        .arg(traces)
        .arg("--manifest-path")
        .arg(repo_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&b.target_dir)
        .env("RUST_BACKTRACE", "0");
    if b.profile != "dev" {
        cmd.args(["--profile", &b.profile]);
    }
    Ok(run_with_timeout(&mut cmd, Input::Null, LIMIT)?)
}

fn expect_code(out: &Output, code: i32) -> Result<(), Failed> {
    if out.status != Status::Code(code) {
        return Err(format!("expected exit code {code}\n{}", out.describe()).into());
    }
    if has_panic_text(&out.stderr) && !out.stderr_str().contains("message:") {
        return Err(format!("the tool panicked\n{}", out.describe()).into());
    }
    Ok(())
}

fn read_report(traces: &Path) -> Result<serde_json::Value, Failed> {
    let p = traces.join("report.json");
    let text =
        std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("report.json: {e}"))?)
}

/// The report's entry for test `name`.
fn test_entry<'a>(r: &'a serde_json::Value, name: &str) -> Result<&'a serde_json::Value, Failed> {
    r["tests"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .ok_or_else(|| format!("report has no test {name}: {r:#}").into())
}

/// The line after `label` in the until-fail summary.
fn summary_field(stderr: &str, label: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(|s| s.trim().to_string())
}

fn until_fail_catches_a_flake_and_its_replay_reproduces_it() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("front-until-fail")?;
    let out = front_flaky(
        &[
            "--until-fail",
            "--exact",
            "lost_update",
            "--max-runs",
            "100",
        ],
        tmp.path(),
    )?;
    expect_code(&out, TEST_FAILED)?;
    let err = out.stderr_str();
    if !err.contains("caught a failure: lost_update in flaky::test/flaky") {
        return Err(format!("no catch reported\n{}", out.describe()).into());
    }
    let msg = summary_field(&err, "message:").unwrap_or_default();
    if !msg.contains("an increment was lost") {
        return Err(format!("the panic message is missing\n{}", out.describe()).into());
    }
    let seed = summary_field(&err, "seed:").unwrap_or_default();
    let replay = summary_field(&err, "replay:")
        .ok_or_else(|| format!("no replay command\n{}", out.describe()))?;
    let trace = replay
        .strip_prefix("cargo record-test replay -a ")
        .ok_or_else(|| format!("unexpected replay command {replay:?}"))?;
    // The report agrees with the terminal.
    let r = read_report(tmp.path())?;
    let failed: Vec<&serde_json::Value> = r["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["outcome"] == "failed")
        .collect();
    let f = failed.first().ok_or("report.json has no failed run")?;
    if f["seed"].as_u64().map(|s| s.to_string()).as_ref() != Some(&seed)
        || f["trace"] != trace
        || f["replay_command"] != replay.as_str()
        || r["mode"] != "until-fail"
        || r["schema_version"] != 1
        || r["summary"]["failed"].as_u64() < Some(1)
    {
        return Err(format!("report.json disagrees with the terminal: {r:#}").into());
    }
    // Only the failing trace is kept.
    let traces: Vec<String> = std::fs::read_dir(tmp.path())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".trace"))
        .collect();
    if traces.len() != failed.len() {
        return Err(format!("kept traces {traces:?}, failing runs {}", failed.len()).into());
    }
    // The printed command replays the failure.
    let mut cmd = Command::new(&b.crt);
    cmd.args(["replay", "-a", trace]);
    let rep = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
    if rep.status != Status::Code(101) || !rep.stderr_str().contains("an increment was lost") {
        return Err(format!(
            "the replay does not reproduce the failure\n{}",
            rep.describe()
        )
        .into());
    }
    // Regression: a relative trace path (the test ran in another directory than ours).
    let name = Path::new(trace).file_name().ok_or("trace has a name")?;
    let mut cmd = Command::new(&b.crt);
    cmd.args(["replay", "-a"]).arg(name).current_dir(tmp.path());
    let rel = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
    if rel.status != Status::Code(101) || rel.stdout != rep.stdout {
        return Err(format!("replay by a relative path differs\n{}", rel.describe()).into());
    }
    Ok(())
}

fn whole_binary_catches_two_tests_sharing_a_global() -> Result<(), Failed> {
    let tmp = TempDir::new("front-whole")?;
    let out = front_flaky(
        &[
            "--until-fail",
            "--whole-binary",
            "global_state",
            "--max-runs",
            "60",
        ],
        tmp.path(),
    )?;
    expect_code(&out, TEST_FAILED)?;
    let err = out.stderr_str();
    let named = err.contains("caught a failure: global_state_a in")
        || err.contains("caught a failure: global_state_b in");
    if !named || !err.contains("saw another test's entries") {
        return Err(format!(
            "the failing test or its message is missing\n{}",
            out.describe()
        )
        .into());
    }
    Ok(())
}

/// 40 runs: racy_counter fails in about 22% of chaos runs here, so all 40 pass with p < 1e-4.
fn sweep_marks_the_flake_flaky_and_writes_junit() -> Result<(), Failed> {
    let tmp = TempDir::new("front-sweep")?;
    let junit = tmp.path().join("junit.xml");
    let out = front_ws(
        &[
            "--runs",
            "40",
            "-p",
            "shaky",
            "--keep",
            "2",
            "--junit",
            junit.to_str().ok_or("utf-8 path")?,
        ],
        tmp.path(),
    )?;
    expect_code(&out, TEST_FAILED)?;
    let r = read_report(tmp.path())?;
    let status = |n: &str| -> Result<String, Failed> {
        Ok(test_entry(&r, n)?["status"]
            .as_str()
            .unwrap_or("")
            .to_string())
    };
    let (racy, always, steady) = (
        status("tests::racy_counter")?,
        status("tests::always_fails")?,
        status("tests::steady")?,
    );
    if (racy.as_str(), always.as_str(), steady.as_str()) != ("flaky", "failed", "passed") {
        return Err(format!(
            "statuses racy_counter={racy} always_fails={always} steady={steady}\n{r:#}"
        )
        .into());
    }
    if r["summary"]["runs"] != 120 || r["summary"]["flaky"] != 1 || r["mode"] != "sweep" {
        return Err(format!("summary: {r:#}").into());
    }
    // --keep 2: at most two failing traces per test.
    let kept = r["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["test"] == "tests::always_fails" && !x["trace"].is_null())
        .count();
    if kept != 2 {
        return Err(format!("always_fails kept {kept} traces, expected 2").into());
    }
    // JUnit in nextest's dialect.
    let xml = std::fs::read_to_string(&junit)?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| format!("junit.xml: {e}\n{xml}"))?;
    let case = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .ok_or_else(|| Failed::from(format!("junit.xml has no testcase {name}\n{xml}")))
    };
    let racy = case("tests::racy_counter")?;
    let flaky = children(racy, "flakyFailure");
    let failed_runs = test_entry(&r, "tests::racy_counter")?["failed"]
        .as_u64()
        .unwrap_or(0) as usize;
    if flaky.len() != failed_runs || !children(racy, "failure").is_empty() {
        return Err(format!(
            "racy_counter: {} flakyFailure for {failed_runs} failed runs\n{xml}",
            flaky.len()
        )
        .into());
    }
    let text = flaky[0].text().unwrap_or("");
    if !text.contains("an increment was lost") {
        return Err(format!("flakyFailure text lacks the panic message\n{xml}").into());
    }
    let always = case("tests::always_fails")?;
    let failure = children(always, "failure");
    let reruns = children(always, "rerunFailure");
    if failure.len() != 1 || reruns.len() != 39 {
        return Err(format!(
            "always_fails: {} failure, {} rerunFailure (expected 1 and 39)\n{xml}",
            failure.len(),
            reruns.len()
        )
        .into());
    }
    let ftext = failure[0].text().unwrap_or("");
    if !ftext.contains("arithmetic is broken")
        || !ftext.contains("replay: cargo record-test replay -a ")
    {
        return Err(
            format!("the failure text lacks the message or the replay command\n{xml}").into(),
        );
    }
    let steady = case("tests::steady")?;
    if steady.children().any(|c| c.is_element()) {
        return Err(format!("steady is not a plain success\n{xml}").into());
    }
    if doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .count()
        != 1
    {
        return Err(format!("expected one testsuite (one binary)\n{xml}").into());
    }
    Ok(())
}

fn children<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    n.children().filter(|c| c.has_tag_name(tag)).collect()
}

fn partitions_are_disjoint_and_cover_all_tests() -> Result<(), Failed> {
    let tmp = TempDir::new("front-partition")?;
    let names = |r: &serde_json::Value| -> BTreeSet<String> {
        r["tests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| format!("{} {}", t["binary_id"], t["name"]))
            .collect()
    };
    let out = front_ws(&["--runs", "1", "-p", "good"], tmp.path())?;
    expect_code(&out, 0)?;
    let r = read_report(tmp.path())?;
    let all = names(&r);
    if all.len() != 7 || r["summary"]["passed"] != 7 {
        return Err(format!(
            "expected the 7 tests of good, all passed (hangs_forever is ignored)\n{r:#}"
        )
        .into());
    }
    for kind in ["hash", "count"] {
        let mut union = BTreeSet::new();
        let mut total = 0;
        for i in 1..=3 {
            let part = format!("{kind}:{i}/3");
            let out = front_ws(
                &["--runs", "1", "-p", "good", "--partition", &part],
                tmp.path(),
            )?;
            expect_code(&out, 0)?;
            let r = read_report(tmp.path())?;
            let n = if out.stderr_str().contains("no tests in this partition") {
                BTreeSet::new()
            } else {
                names(&r)
            };
            total += n.len();
            union.extend(n);
        }
        if union != all || total != all.len() {
            return Err(format!(
                "{kind}: parts cover {union:?} with {total} entries; all: {all:?}"
            )
            .into());
        }
    }
    Ok(())
}

fn hanging_test_times_out_and_leaves_no_process() -> Result<(), Failed> {
    let tmp = TempDir::new("front-hang")?;
    let marker = format!("front-hang-marker-{}", std::process::id());
    let run = timed_out_run(&tmp, "tests::hangs_forever", &marker)?;
    // Its threads sleep in a loop and wait for it: blocked, one with a timeout.
    let msg = run["message"].as_str().unwrap_or_default();
    if !msg.contains("every thread") || !msg.contains("with a timeout (clock_nanosleep") {
        return Err(format!("the message does not say what the threads did\n{run:#}").into());
    }
    let trace = run["trace"]
        .as_str()
        .ok_or("the hung run's trace was not kept")?;
    if !Path::new(trace).is_dir() {
        return Err(format!("trace {trace} is missing").into());
    }
    // Nothing of the run is left: not the recorder, not the test, not its child.
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_with(&marker);
    if !left.is_empty() {
        return Err(format!("processes left after the timeout: {left:?}").into());
    }
    Ok(())
}

/// A deadlocked test times out, and its message says every thread was blocked, its two with no
/// timeout (a timed-out run that still computed says it was slow instead).
fn deadlocked_test_times_out_named_a_deadlock() -> Result<(), Failed> {
    let tmp = TempDir::new("front-deadlock")?;
    let run = timed_out_run(&tmp, "tests::deadlocks", "front-deadlock")?;
    let msg = run["message"].as_str().unwrap_or_default();
    // Its two threads wait on each other's lock, libtest's main thread waits for it (with a
    // timeout, to warn of slow tests).
    if !msg.contains("every thread (3) was blocked, 2 with no timeout (futex x2)") {
        return Err(format!("the message does not name a deadlock\n{run:#}").into());
    }
    Ok(())
}

/// `--until-fail` on the ignored test `name` of `good` with a 3 s timeout: its one run, which
/// must have timed out.
fn timed_out_run(tmp: &TempDir, name: &str, marker: &str) -> Result<serde_json::Value, Failed> {
    let b = bins()?;
    let (root, target) = workspace()?;
    let mut cmd = Command::new(&b.crt);
    cmd.args(["--until-fail", "--ignored", "--exact", name])
        .args([
            "-p",
            "good",
            "--timeout",
            "3",
            "--max-runs",
            "1",
            "--offline",
        ])
        .arg("--trace-dir")
        .arg(tmp.path())
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .env("FRONT_HANG_MARKER", marker);
    let out = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
    expect_code(&out, TEST_FAILED)?;
    let r = read_report(tmp.path())?;
    let run = &r["runs"][0];
    if run["outcome"] != "timed-out" || r["summary"]["timed_out"] != 1 {
        return Err(format!("expected a timed-out run\n{r:#}").into());
    }
    Ok(run.clone())
}

/// Processes whose command line or environment holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut left = Vec::new();
    for e in std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
    {
        if e.path().join("cmdline").exists()
            && e.file_name().to_string_lossy().parse::<u32>().is_ok()
        {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(marker)
                || String::from_utf8_lossy(&environ).contains(marker)
            {
                left.push(format!(
                    "{}: {}",
                    e.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                ));
            }
        }
    }
    left
}

fn ctrl_c_stops_cleanly_and_keeps_the_report() -> Result<(), Failed> {
    let b = bins()?;
    let (root, target) = workspace()?;
    let tmp = TempDir::new("front-ctrl-c")?;
    // Build first, so that the SIGINT below reaches the runs, not cargo.
    let out = front_ws(
        &["--runs", "1", "-p", "good", "--exact", "tests::adds"],
        tmp.path(),
    )?;
    expect_code(&out, 0)?;
    let marker = format!("front-ctrl-c-marker-{}", std::process::id());
    let mut cmd = Command::new(&b.crt);
    cmd.args([
        "--until-fail",
        "--exact",
        "tests::adds",
        "-p",
        "good",
        "--offline",
    ])
    .args(["--max-runs", "100000"])
    .arg("--trace-dir")
    .arg(tmp.path())
    .arg("--manifest-path")
    .arg(root.join("Cargo.toml"))
    .env("CARGO_TARGET_DIR", target)
    .env("FRONT_MARKER", &marker);
    // As a terminal's Ctrl-C: SIGINT to the foreground process group.
    let send = SendSignal {
        after: Duration::from_secs(6),
        signal: Signal::SIGINT,
        group: true,
    };
    let out = run_with_signal(&mut cmd, Input::Null, LIMIT, Some(send))?;
    expect_code(&out, INTERRUPTED)?;
    let r = read_report(tmp.path())?;
    if r["summary"]["runs"].as_u64() < Some(1) || r["summary"]["passed"] != r["summary"]["runs"] {
        return Err(format!("the report after Ctrl-C: {r:#}\n{}", out.describe()).into());
    }
    if !out.stderr_str().contains("interrupted") {
        return Err(format!("no word of the interruption\n{}", out.describe()).into());
    }
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_with(&marker);
    if !left.is_empty() {
        return Err(format!("processes left after Ctrl-C: {left:?}").into());
    }
    let stray: Vec<_> = std::fs::read_dir(tmp.path())?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".trace"))
        .collect();
    if !stray.is_empty() {
        return Err(format!("traces of passing or stopped runs were left: {stray:?}").into());
    }
    Ok(())
}

fn record_flags_for_job_runners() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("front-record")?;
    let run = |args: &[&str], envs: &[(&str, &str)]| -> Result<Output, Failed> {
        let mut cmd = Command::new(&b.crt);
        cmd.arg("record").args(args).current_dir(tmp.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Ok(run_with_timeout(&mut cmd, Input::Null, LIMIT)?)
    };
    let res = |name: &str| -> Result<serde_json::Value, Failed> {
        let t = std::fs::read_to_string(tmp.path().join(name))?;
        Ok(serde_json::from_str(&t).map_err(|e| format!("{name}: {e}: {t}"))?)
    };
    // A passing run with --keep on-failure: no trace left.
    let out = run(
        &[
            "--keep",
            "on-failure",
            "--result-file",
            "pass.json",
            "-o",
            "pass.trace",
            "--",
            "true",
        ],
        &[],
    )?;
    expect_code(&out, 0)?;
    let r = res("pass.json")?;
    if r["outcome"] != "exited"
        || r["code"] != 0
        || r["trace_kept"] != false
        || tmp.path().join("pass.trace").exists()
    {
        return Err(format!("passing run: {r}").into());
    }
    // A failing run keeps it.
    let out = run(
        &[
            "--keep",
            "on-failure",
            "--result-file",
            "fail.json",
            "-o",
            "fail.trace",
            "--",
            "sh",
            "-c",
            "exit 7",
        ],
        &[],
    )?;
    expect_code(&out, 7)?;
    let r = res("fail.json")?;
    if r["code"] != 7 || r["trace_kept"] != true || !tmp.path().join("fail.trace").is_dir() {
        return Err(format!("failing run: {r}").into());
    }
    // A program that cannot start is a recorder error, not a program status.
    let out = run(
        &[
            "--result-file",
            "bad.json",
            "-o",
            "bad.trace",
            "--",
            "/nonexistent/prog",
        ],
        &[],
    )?;
    expect_code(&out, USAGE)?;
    let r = res("bad.json")?;
    if r["outcome"] != "recorder-error" || r["kind"] != "bad-input" {
        return Err(format!("unstartable program: {r}").into());
    }
    // --nextest names the trace after the test and its attempt.
    let exe = b.example("twenty");
    let exe = exe.to_str().ok_or("utf-8 path")?;
    let out = run(
        &[
            "--nextest",
            "--keep",
            "on-failure",
            "--",
            "sh",
            "-c",
            "exit 1",
        ],
        &[
            ("NEXTEST_TEST_NAME", "m::t"),
            ("NEXTEST_BINARY_ID", "pkg::bin"),
            ("NEXTEST_ATTEMPT", "2"),
            ("NEXTEST_STRESS_CURRENT", "5"),
            ("CARGO_TARGET_DIR", tmp.path().to_str().ok_or("utf-8 path")?),
        ],
    )?;
    expect_code(&out, 1)?;
    let want = tmp
        .path()
        .join("record-test/nextest/pkg__bin-m__t-stress5-try2.trace");
    if !want.is_dir() || !out.stderr_str().contains("cargo record-test replay -a") {
        return Err(format!("expected {}\n{}", want.display(), out.describe()).into());
    }
    let out = run(&["--nextest", "--", exe], &[])?;
    expect_code(&out, USAGE)?;
    if !out
        .stderr_str()
        .starts_with("error: --nextest needs NEXTEST_TEST_NAME")
    {
        return Err(format!("--nextest outside nextest\n{}", out.describe()).into());
    }
    Ok(())
}

fn bad_input_gives_clear_errors_and_exit_codes() -> Result<(), Failed> {
    let b = bins()?;
    let tmp = TempDir::new("front-bad")?;
    // Our error is one line after what cargo printed (clap adds its usage lines after it).
    let first_line = |o: &Output| {
        let e = o.stderr_str();
        e.lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or("")
            .to_string()
    };
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["--until-fail", "--no-such-flag"],
            USAGE,
            "error: unexpected argument '--no-such-flag'",
        ),
        (&[], USAGE, "error: give --until-fail or --runs N"),
        (
            &["--until-fail", "--partition", "hash:4/3"],
            USAGE,
            "error: invalid --partition",
        ),
        (
            &["--until-fail", "--timeout", "0"],
            USAGE,
            "error: --timeout must be",
        ),
        (
            &["--until-fail", "no_test_has_this_name"],
            USAGE,
            "error: no tests match",
        ),
    ];
    for (args, code, want) in cases {
        let out = front_ws(args, tmp.path())?;
        expect_code(&out, code)?;
        if !first_line(&out).starts_with(want) {
            return Err(format!("{args:?}: expected {want:?}\n{}", out.describe()).into());
        }
    }
    // A missing manifest.
    let mut cmd = Command::new(&b.crt);
    cmd.args(["--until-fail", "--manifest-path"])
        .arg(tmp.path().join("nowhere/Cargo.toml"));
    let out = run_with_timeout(&mut cmd, Input::Null, LIMIT)?;
    expect_code(&out, USAGE)?;
    if !first_line(&out).starts_with("error: manifest path") {
        return Err(format!("missing manifest\n{}", out.describe()).into());
    }
    // A harness that cannot list its tests: exit 104.
    let out = front_ws(&["--runs", "1", "-p", "odd"], tmp.path())?;
    expect_code(&out, LIST_FAILED)?;
    if !first_line(&out).starts_with("error: listing the tests of odd::test/nolist failed") {
        return Err(format!("listing failure\n{}", out.describe()).into());
    }
    // A build error: cargo's diagnostic, then ours, and exit 101.
    let out = front_ws(
        &["--runs", "1", "-p", "good", "--features", "broken"],
        tmp.path(),
    )?;
    expect_code(&out, BUILD_FAILED)?;
    let err = out.stderr_str();
    if !err.contains("the broken feature does not build")
        || !err
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("error: building the tests failed")
    {
        return Err(format!("build error\n{}", out.describe()).into());
    }
    Ok(())
}

fn main() {
    disable_core_dumps();
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "until_fail_catches_a_flake_and_its_replay_reproduces_it",
            until_fail_catches_a_flake_and_its_replay_reproduces_it,
        ),
        Trial::test(
            "whole_binary_catches_two_tests_sharing_a_global",
            whole_binary_catches_two_tests_sharing_a_global,
        ),
        Trial::test(
            "sweep_marks_the_flake_flaky_and_writes_junit",
            sweep_marks_the_flake_flaky_and_writes_junit,
        ),
        Trial::test(
            "partitions_are_disjoint_and_cover_all_tests",
            partitions_are_disjoint_and_cover_all_tests,
        ),
        Trial::test(
            "hanging_test_times_out_and_leaves_no_process",
            hanging_test_times_out_and_leaves_no_process,
        ),
        Trial::test(
            "deadlocked_test_times_out_named_a_deadlock",
            deadlocked_test_times_out_named_a_deadlock,
        ),
        Trial::test(
            "ctrl_c_stops_cleanly_and_keeps_the_report",
            ctrl_c_stops_cleanly_and_keeps_the_report,
        ),
        Trial::test("record_flags_for_job_runners", record_flags_for_job_runners),
        Trial::test(
            "bad_input_gives_clear_errors_and_exit_codes",
            bad_input_gives_clear_errors_and_exit_codes,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
