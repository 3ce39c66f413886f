//! The third-party suite: real crates' own test binaries, fetched from the registry and built
//! once under `TARGET/thirdparty/` (its own workspace and target dir), then recorded whole and
//! replayed by `tests/thirdparty.rs`, `bench/thirdparty.py` and `bench/thirdparty_stress.sh`.
//!
//! [`SUITE`] is the one list of which binaries run where: in CI (`cargo test --workspace`), only
//! in the stress run, or known to fail (with the reason), also only in the stress run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{excerpt, run_with_timeout, Input, Status};

/// The crates, at exact versions so that a run is repeatable.
pub const CRATES: &[(&str, &str)] = &[
    ("crossbeam-channel", "0.5.17"),
    ("crossbeam-utils", "0.8.23"),
    ("crossbeam-queue", "0.3.14"),
    ("parking_lot", "0.12.5"),
];

/// Where a binary of the suite runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// In CI: passes and replays every time, in a few seconds.
    Ci,
    /// Only in the stress run: passes and replays, but takes long.
    Stress,
    /// Only in the stress run: fails today, for this reason.
    Known(&'static str),
}

/// One test binary of the suite: a crate and one of its test targets (`lib` for the unit tests).
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub krate: &'static str,
    pub target: &'static str,
    pub tier: Tier,
}

const fn e(krate: &'static str, target: &'static str, tier: Tier) -> Entry {
    Entry {
        krate,
        target,
        tier,
    }
}

use Tier::{Ci, Known, Stress};

// Measured with the release build (bench/thirdparty.py, 120 s limits): on main 414c314, then
// on the learned spin loops of 12-07 (zero, array_queue and seg_queue replay since).
/// Issue 16 cases 1 and 6: threads polling without blocking; recording does not end in time.
const STARVED: &str = "issue 16 cases 1 and 6: threads that poll a channel without blocking \
                       (its `loop_try` test: two pollers and a 500 ms select); recording is \
                       killed at the 120 s limit (natively 17-26 s)";
/// Issue 16 case 7: stress tests with thousands of preemptions.
const SLOW_STRESS: &str = "issue 16 case 7: its stress tests preempt about 200 times a second \
                           and wait 2 ms median for the CPU; recording is killed at the 120 s \
                           limit (natively 6 s)";
/// Heavy futex traffic: every futex call is two ptrace stops.
const FUTEX_HEAVY: &str = "condvar and mutex tests make 1.4 million futex calls in 40 s of \
                           recording (21 of 89 tests done); recording is killed at the 120 s \
                           limit (natively 7.6 s)";

/// Every test binary of [`CRATES`], and where it runs.
pub const SUITE: &[Entry] = &[
    e("crossbeam-channel", "lib", Ci),
    e("crossbeam-channel", "after", Stress),
    e("crossbeam-channel", "array", Stress),
    e("crossbeam-channel", "golang", Stress),
    e("crossbeam-channel", "iter", Stress),
    e("crossbeam-channel", "list", Known(SLOW_STRESS)),
    e("crossbeam-channel", "mpsc", Stress),
    e("crossbeam-channel", "never", Ci),
    e("crossbeam-channel", "ready", Stress),
    e("crossbeam-channel", "same_channel", Ci),
    e("crossbeam-channel", "select", Known(STARVED)),
    e("crossbeam-channel", "select_macro", Known(STARVED)),
    e("crossbeam-channel", "thread_locals", Ci),
    e("crossbeam-channel", "tick", Ci),
    e("crossbeam-channel", "zero", Stress),
    e("crossbeam-utils", "lib", Ci),
    e("crossbeam-utils", "atomic_cell", Ci),
    e("crossbeam-utils", "cache_padded", Ci),
    e("crossbeam-utils", "parker", Ci),
    e("crossbeam-utils", "sharded_lock", Stress),
    e("crossbeam-utils", "thread", Ci),
    e("crossbeam-utils", "wait_group", Ci),
    e("crossbeam-queue", "lib", Ci),
    e("crossbeam-queue", "array_queue", Stress),
    e("crossbeam-queue", "seg_queue", Stress),
    e("parking_lot", "lib", Known(FUTEX_HEAVY)),
    e("parking_lot", "issue_203", Ci),
    e("parking_lot", "issue_392", Ci),
];

impl Entry {
    /// `crate/target`, as trials and benchmark lines name it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.krate, self.target)
    }
}

/// A built test binary of the suite.
#[derive(Clone, Debug)]
pub struct TestBinary {
    pub entry: Entry,
    /// The executable.
    pub exe: PathBuf,
    /// The crate's source directory: the binary runs there, as `cargo test` runs it.
    pub dir: PathBuf,
}

/// `$CARGO_HOME`, or `~/.cargo`.
fn cargo_home() -> Result<PathBuf, String> {
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(h));
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo"))
        .ok_or_else(|| "neither CARGO_HOME nor HOME is set".to_string())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot inspect {}: {e}", src.display()))?;
        if kind.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)
                .map_err(|e| format!("cannot copy {} to {}: {e}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// Run cargo (`$CARGO` or `cargo`) with `args`; its stdout on success.
fn cargo(args: &[&str], what: &str) -> Result<Vec<u8>, String> {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.args(args)
        // Ours would point the suite's build into the workspace's target dir.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    let out = run_with_timeout(&mut cmd, Input::Null, Duration::from_secs(1800))?;
    if out.status != Status::Code(0) {
        return Err(format!(
            "{what} failed: `{}` ended with {}\n{}",
            out.command,
            out.status,
            excerpt(&out.stderr, 6000)
        ));
    }
    Ok(out.stdout)
}

/// Fetch [`CRATES`] (a throwaway package depending on them, `cargo fetch`), copy their sources
/// from the registry cache to `TARGET/thirdparty/`, build every test binary there once (a
/// workspace of them; cargo keeps it up to date), and return the binaries of [`SUITE`].
pub fn prepare(target_dir: &Path) -> Result<Vec<TestBinary>, String> {
    let root = target_dir.join("thirdparty");
    let fetch = root.join("fetch");
    let mut deps = String::new();
    for (name, version) in CRATES {
        deps.push_str(&format!("{name} = \"={version}\"\n"));
    }
    write(
        &fetch.join("Cargo.toml"),
        &format!(
            "# Written by tests/src/thirdparty.rs: makes `cargo fetch` download the suite.\n\
             [package]\nname = \"thirdparty-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[dependencies]\n{deps}"
        ),
    )?;
    write(&fetch.join("src/lib.rs"), "")?;
    let manifest = fetch.join("Cargo.toml");
    cargo(
        &["fetch", "--manifest-path", &manifest.to_string_lossy()],
        "fetching the third-party crates",
    )?;

    let registry = cargo_home()?.join("registry/src");
    let mut members = Vec::new();
    for (name, version) in CRATES {
        let dir_name = format!("{name}-{version}");
        let dst = root.join(&dir_name);
        if !dst.join("Cargo.toml").exists() {
            let src = std::fs::read_dir(&registry)
                .map_err(|e| format!("cannot read {}: {e}", registry.display()))?
                .filter_map(|d| d.ok())
                .map(|d| d.path().join(&dir_name))
                .find(|p| p.join("Cargo.toml").exists())
                .ok_or_else(|| {
                    format!(
                        "{dir_name} is not in {} after cargo fetch",
                        registry.display()
                    )
                })?;
            let partial = root.join(format!("{dir_name}.partial"));
            let _ = std::fs::remove_dir_all(&partial);
            copy_dir(&src, &partial)?;
            std::fs::rename(&partial, &dst)
                .map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
        }
        members.push(format!("\"{dir_name}\""));
    }
    write(
        &root.join("Cargo.toml"),
        &format!(
            "# Written by tests/src/thirdparty.rs: the third-party crates whose tests we record.\n\
             [workspace]\nresolver = \"2\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    )?;
    let manifest = root.join("Cargo.toml");
    let build_dir = root.join("target");
    let json = cargo(
        &[
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json",
            "--manifest-path",
            &manifest.to_string_lossy(),
            "--target-dir",
            &build_dir.to_string_lossy(),
        ],
        "building the third-party test binaries",
    )?;
    let built = artifacts(&json);
    SUITE
        .iter()
        .map(|entry| {
            built
                .iter()
                .find(|(k, t, _)| k == entry.krate && t == entry.target)
                .map(|(_, _, exe)| TestBinary {
                    entry: *entry,
                    exe: exe.clone(),
                    dir: root.join(
                        CRATES
                            .iter()
                            .find(|(n, _)| *n == entry.krate)
                            .map(|(n, v)| format!("{n}-{v}"))
                            .unwrap_or_default(),
                    ),
                })
                .ok_or_else(|| format!("cargo built no test binary {}", entry.name()))
        })
        .collect()
}

/// The test executables in cargo's JSON messages: (crate, target or `lib`, path).
fn artifacts(json: &[u8]) -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for line in json.split(|&b| b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let kinds = msg["target"]["kind"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let target = if kinds.iter().any(|k| k == "test") {
            msg["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else if kinds.iter().any(|k| k == "lib" || k == "rlib") {
            "lib".to_string()
        } else {
            continue;
        };
        // The package id names the crate: `path+file:///...#name@version`.
        let Some(krate) = msg["package_id"]
            .as_str()
            .and_then(|id| id.rsplit('#').next())
            .and_then(|tail| tail.split('@').next())
        else {
            continue;
        };
        out.push((krate.to_string(), target, PathBuf::from(exe)));
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn suite_names_only_listed_crates_once() {
        let mut seen = std::collections::BTreeSet::new();
        for e in SUITE {
            assert!(CRATES.iter().any(|(n, _)| *n == e.krate), "{}", e.name());
            assert!(seen.insert(e.name()), "{} twice", e.name());
        }
    }

    #[test]
    fn artifacts_are_read() {
        let json = br#"{"reason":"compiler-artifact","package_id":"path+file:///t/crossbeam-channel-0.5.17#crossbeam-channel@0.5.17","target":{"kind":["test"],"name":"after"},"profile":{"test":true},"executable":"/t/deps/after-1"}
{"reason":"compiler-artifact","package_id":"path+file:///t/parking_lot-0.12.5#parking_lot@0.12.5","target":{"kind":["lib"],"name":"parking_lot"},"profile":{"test":true},"executable":"/t/deps/parking_lot-2"}
{"reason":"compiler-artifact","package_id":"path+file:///t/parking_lot-0.12.5#parking_lot@0.12.5","target":{"kind":["lib"],"name":"parking_lot"},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","package_id":"path+file:///t/crossbeam-channel-0.5.17#crossbeam-channel@0.5.17","target":{"kind":["example"],"name":"fibonacci"},"profile":{"test":false},"executable":"/t/examples/fibonacci"}
"#;
        let a = artifacts(json);
        assert_eq!(
            a,
            vec![
                (
                    "crossbeam-channel".to_string(),
                    "after".to_string(),
                    PathBuf::from("/t/deps/after-1")
                ),
                (
                    "parking_lot".to_string(),
                    "lib".to_string(),
                    PathBuf::from("/t/deps/parking_lot-2")
                ),
            ]
        );
    }
}
