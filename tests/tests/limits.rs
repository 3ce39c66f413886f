//! What a recording cannot capture, it says: at the end of the recording (a `warning:` line on
//! stderr), in `info`, and beside a replay that diverges. Real programs: python3's
//! multiprocessing pool (its semaphores live in `/dev/shm`, mapped shared with the forked
//! workers, which run untraced) warns; python3's subprocess (a fork with nothing shared) does not.
//!
//! Environment: `CRT_TIMEOUT_SECS` (120), `CRT_KEEP_TEMP=1`, `CRT_BIN`.

use std::path::Path;
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Failed, Trial};
use tests::{build_binaries, compare_runs, path_utf8, Binaries, Status, TempDir};

static BINARIES: OnceLock<Result<Binaries, String>> = OnceLock::new();

fn binaries() -> Result<&'static Binaries, Failed> {
    BINARIES
        .get_or_init(build_binaries)
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))
}

/// Debian's python3 (`.ci/run` installs it); a `python3` on PATH may be a pyenv shim.
const PYTHON3: &str = "/usr/bin/python3";
const WARNING: &str = "sharing writable memory";

fn python(bins: &Binaries, dir: &Path, name: &str, code: &str) -> Result<(), String> {
    let (trace, rec) = bins.record(dir, name, Path::new(PYTHON3), &["-c", code])?;
    if rec.status != Status::Code(0) {
        return Err(format!("recording {name} failed\n{}", rec.describe()));
    }
    let warned = rec.stderr_str().contains(WARNING);
    let info = bins.crt(dir, &["info", path_utf8(&trace)?])?;
    let info_warns = info.stdout_str().contains(WARNING);
    let rep = bins.crt(dir, &["replay", "-a", path_utf8(&trace)?])?;
    match (name, warned, info_warns) {
        ("pool", true, true) => {
            // Replay may or may not diverge; when it does, it says why it may have.
            if rep.status != rec.status && !rep.stderr_str().contains("shared writable memory") {
                return Err(format!(
                    "the replay failed without the note on shared memory\n{}",
                    rep.describe()
                ));
            }
        }
        ("subprocess", false, false) => compare_runs("record", &rec, "replay", &rep)?,
        _ => {
            return Err(format!(
                "{name}: recording warned {warned}, info warned {info_warns}\nrecording:\n{}\ninfo:\n{}",
                rec.describe(),
                info.describe()
            ))
        }
    }
    Ok(())
}

fn trial(name: &'static str, code: &'static str) -> Trial {
    Trial::test(format!("python3_{name}"), move || {
        let bins = binaries()?;
        let mut dir = TempDir::new(name).map_err(|e| Failed::from(e.to_string()))?;
        let r = python(bins, dir.path(), name, code);
        if r.is_err() {
            dir.keep();
        }
        r.map_err(Failed::from)
    })
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        // The workers share the pool's semaphores (`sem_open`: /dev/shm, MAP_SHARED).
        trial(
            "pool",
            "import multiprocessing as m\nwith m.Pool(2) as p: print(sum(p.map(abs, range(-100, 100))))",
        ),
        trial(
            "subprocess",
            "import subprocess; print(subprocess.run(['echo', 'x'], capture_output=True).stdout)",
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
