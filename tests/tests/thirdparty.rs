//! The third-party suite (issue 16): real crates' own test binaries (see
//! `tests/src/thirdparty.rs` for the crates and the one list of which binaries run where), each
//! recorded whole with the real `cargo-record-test` and replayed; the recording must pass (a
//! correct test that fails under recording is a false flake) and the replay must reproduce its
//! stdout, stderr and exit status byte for byte. Each record and each replay has a time limit,
//! past which its process group is killed.
//!
//! Before the first trial, the harness builds `cargo-record-test` (as `e2e.rs` does), fetches the
//! crates from the registry and builds their test binaries once under `TARGET/thirdparty/`.
//!
//! The binaries of tier `Ci` run by default; the others (`Stress`, `Known`) are ignored unless
//! `--include-ignored` or `CRT_THIRDPARTY_ALL=1`. Environment:
//! * `CRT_THIRDPARTY_SEEDS=N`: record each binary N times (1).
//! * `CRT_THIRDPARTY_CHAOS=1`: record under `--chaos`, with seeds 1..=N.
//! * `CRT_TIMEOUT_SECS`: the limit for one record or one replay (120).
//! * `CRT_BIN=PATH`: test that binary instead of building `cargo-record-test`.
//! * `CRT_KEEP_TEMP=1`: keep every temp dir (a failed trial always keeps its own).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use tests::thirdparty::{self, TestBinary, Tier, SUITE};
use tests::{
    build_binaries, compare_runs, disable_core_dumps, env_flag, env_number, run_with_timeout,
    Binaries, Input, Output, Status, TempDir, EXIT_DIVERGED,
};

struct Prepared {
    bins: Binaries,
    suite: Vec<TestBinary>,
}

static PREPARED: OnceLock<Result<Prepared, String>> = OnceLock::new();

fn prepared() -> Result<&'static Prepared, Failed> {
    PREPARED
        .get_or_init(|| {
            let bins = build_binaries()?;
            let suite = thirdparty::prepare(&bins.target_dir)?;
            Ok(Prepared { bins, suite })
        })
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))
}

fn timeout() -> Duration {
    Duration::from_secs(env_number("CRT_TIMEOUT_SECS", 120))
}

fn last_error(out: &Output) -> String {
    out.stderr_str()
        .lines()
        .rev()
        .find(|l| l.starts_with("error") || l.starts_with("caused by"))
        .unwrap_or_default()
        .to_string()
}

/// Record `tb` once (with `seed` under chaos) and replay it.
fn round_trip(
    crt: &Path,
    tb: &TestBinary,
    dir: &Path,
    seed: Option<u64>,
    n: u64,
) -> Result<(), String> {
    let trace = dir.join(format!("run-{n}.trace"));
    let mut rec = Command::new(crt);
    rec.current_dir(&tb.dir)
        .arg("record")
        .arg("--output")
        .arg(&trace);
    if let Some(seed) = seed {
        rec.arg("--chaos").arg("--seed").arg(seed.to_string());
    }
    rec.arg("--").arg(&tb.exe);
    let rec = run_with_timeout(&mut rec, Input::Null, timeout())?;
    let what = match seed {
        Some(s) => format!("recording under chaos seed {s}"),
        None => "recording".to_string(),
    };
    if rec.status != Status::Code(0) {
        return Err(format!(
            "the {what} ended with {} ({}): a test that passes natively failed or the tool \
             failed\nrecord: {}",
            rec.status,
            last_error(&rec),
            rec.describe()
        ));
    }
    let mut rep = Command::new(crt);
    rep.current_dir(&tb.dir).arg("replay").arg("-a").arg(&trace);
    let rep = run_with_timeout(&mut rep, Input::Null, timeout())
        .map_err(|e| format!("replay of the {what}: {e}"))?;
    if rep.status == Status::Code(EXIT_DIVERGED) {
        return Err(format!(
            "replay of the {what} diverged: {}\nreplay: {}",
            last_error(&rep),
            rep.describe()
        ));
    }
    compare_runs("record", &rec, "replay", &rep).map_err(|e| format!("{what}: {e}"))
}

fn run_trial(name: &str) -> Result<(), Failed> {
    let p = prepared()?;
    let tb = p
        .suite
        .iter()
        .find(|t| t.entry.name() == name)
        .ok_or_else(|| Failed::from(format!("{name} was not built")))?;
    let mut dir = TempDir::new(&format!("thirdparty-{name}")).map_err(|e| e.to_string())?;
    let runs = env_number("CRT_THIRDPARTY_SEEDS", 1).max(1);
    let chaos = env_flag("CRT_THIRDPARTY_CHAOS");
    for n in 1..=runs {
        let seed = chaos.then_some(n);
        if let Err(e) = round_trip(&p.bins.crt, tb, dir.path(), seed, n) {
            dir.keep();
            let known = match tb.entry.tier {
                Tier::Known(why) => format!("(known to fail: {why})\n"),
                _ => String::new(),
            };
            return Err(format!(
                "{known}run {n} of {runs}: {e}\n(traces kept in {})",
                dir.path().display()
            )
            .into());
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    disable_core_dumps();
    let all = env_flag("CRT_THIRDPARTY_ALL");
    let trials = SUITE
        .iter()
        .map(|entry| {
            let name = entry.name();
            let (kind, ignored) = match entry.tier {
                Tier::Ci => ("ci", false),
                Tier::Stress => ("stress", !all),
                Tier::Known(_) => ("known-failing", !all),
            };
            Trial::test(name.clone(), move || run_trial(&name))
                .with_kind(kind)
                .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
