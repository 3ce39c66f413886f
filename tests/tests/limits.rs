//! What a recording cannot capture, it says: at the end of the recording (a `warning:` line on
//! stderr), in `info`, and beside a replay that diverges. Real programs: python3's
//! multiprocessing pool (its semaphores live in `/dev/shm`, mapped shared with the forked
//! workers, which run untraced) warns; python3's subprocess (a fork with nothing shared) does not.
//!
//! A correct program with a tight timing tolerance (`examples/tight_deadline`) that fails under
//! recording because its sleeper waits for the CPU says that the failure may be the recording's.
//!
//! Environment: `CRT_TIMEOUT_SECS` (120), `CRT_KEEP_TEMP=1`, `CRT_BIN`.

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};
use tests::{binaries, compare_runs, path_utf8, Binaries, Status, TempDir};

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

/// `tight_deadline` fails recorded (its sleeper wakes late behind a computing thread): the
/// recording says so, as `info` does.
fn tight_deadline(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let exe = bins.example("tight_deadline");
    let (trace, rec) = bins.record(dir, "tight", &exe, &[])?;
    let info = bins.crt(dir, &["info", path_utf8(&trace)?])?;
    let noted = rec
        .stderr_str()
        .contains("may fail under recording and pass natively");
    let info_noted = info.stdout_str().contains("timing:");
    match rec.status {
        Status::Code(101) if noted && info_noted => Ok(()),
        Status::Code(0) => Err(format!(
            "the sleeper woke on time behind a computing thread: this trial needs a program \
             that fails under recording\n{}",
            rec.describe()
        )),
        _ => Err(format!(
            "a late wake-up failure, noted by record {noted}, by info {info_noted}\n{}\n{}",
            rec.describe(),
            info.describe()
        )),
    }
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
        Trial::test("tight_deadline_failure_noted_as_maybe_the_recordings", || {
            let bins = binaries()?;
            let mut dir = TempDir::new("tight").map_err(|e| Failed::from(e.to_string()))?;
            let r = tight_deadline(bins, dir.path());
            if r.is_err() {
                dir.keep();
            }
            r.map_err(Failed::from)
        }),
        trial(
            "subprocess",
            "import subprocess; print(subprocess.run(['echo', 'x'], capture_output=True).stdout)",
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
