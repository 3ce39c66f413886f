//! CPUID faulting in replay: the replayed program's `cpuid` answers come from the trace header.
//! A trace is copied with the pack crate's reader and writer and its header's leaves changed (as
//! if recorded on another CPU): the replayed `examples` program `cpuid` then prints the changed
//! values, also after an exec; unchanged traces of it, of python3 and of ls replay exactly, with
//! their `cpuid` instructions answered by replay (counted in `CRT_DEBUG` output).
//!
//! Every trial needs CPUID faulting (the `cpuid_fault` flag of /proc/cpuinfo); without it they
//! are reported ignored. Environment: `CRT_TIMEOUT_SECS` (120), `CRT_KEEP_TEMP=1`, `CRT_BIN`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use tests::{
    build_binaries, compare_runs, disable_core_dumps, env_number, run_with_timeout, Binaries,
    Input, Output, Status, TempDir,
};

static BINARIES: OnceLock<Result<Binaries, String>> = OnceLock::new();

fn binaries() -> Result<&'static Binaries, Failed> {
    BINARIES
        .get_or_init(build_binaries)
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))
}

fn run(bins: &Binaries, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Output, String> {
    let mut c = Command::new(&bins.crt);
    c.current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("CI")
        .env_remove("CRT_SCRUB_ENV")
        .env_remove("CRT_DEBUG")
        .env_remove("CRT_NO_CPUID_FAULTING")
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let timeout = Duration::from_secs(env_number("CRT_TIMEOUT_SECS", 120));
    run_with_timeout(&mut c, Input::Null, timeout)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Record `program args` into `dir/NAME.trace`; it must exit 0.
fn record(
    bins: &Binaries,
    dir: &Path,
    name: &str,
    program: &Path,
    args: &[&str],
) -> Result<(PathBuf, Output), String> {
    let trace = dir.join(format!("{name}.trace"));
    let mut a = vec!["record", "-o", path_str(&trace), "--", path_str(program)];
    a.extend_from_slice(args);
    let out = run(bins, dir, &a, &[])?;
    if out.status != Status::Code(0) {
        return Err(format!("recording {name} failed\n{}", out.describe()));
    }
    Ok((trace, out))
}

fn replay(
    bins: &Binaries,
    dir: &Path,
    trace: &Path,
    env: &[(&str, &str)],
) -> Result<Output, String> {
    run(bins, dir, &["replay", "-a", path_str(trace)], env)
}

/// A copy of `trace` beside it (sharing its file store) whose header `edit` changed, and what
/// `edit` returned.
fn copy_with_header<T>(
    trace: &Path,
    edit: impl FnOnce(&mut pack::Header) -> Result<T, String>,
) -> Result<(PathBuf, T), String> {
    let dest = trace.with_extension("edited.trace");
    let e = |e: pack::Error| format!("copy {}: {e}", trace.display());
    let mut r = pack::TraceReader::open(trace).map_err(e)?;
    let mut h = r.header().clone();
    let t = edit(&mut h)?;
    let mut w = pack::TraceWriter::create(&dest, &h).map_err(e)?;
    while let Some(ev) = r.next_event().map_err(e)? {
        w.push(&ev).map_err(e)?;
    }
    w.finish(&h).map_err(e)?;
    let program = trace.join(pack::PROGRAM_FILE);
    std::fs::copy(&program, dest.join(pack::PROGRAM_FILE))
        .map_err(|e| format!("copy {}: {e}", program.display()))?;
    Ok((dest, t))
}

/// As if recorded on another CPU of the same vendor: another leaf 1 (family, model and stepping
/// in eax; the hypervisor flag of ecx flipped, a feature difference `replay` notes). Nothing
/// that changes what the program's loader does, or the trace would not match: the vendor (glibc
/// then takes another path through its cache setup and makes other syscalls) or an ISA level's
/// flag (it picks glibc-hwcaps directories by them). Returns the lines the `cpuid` example
/// prints for that leaf.
fn other_cpu(h: &mut pack::Header) -> Result<String, String> {
    let l1 = h
        .cpuid
        .iter_mut()
        .find(|l| l.leaf == 1 && l.subleaf == 0)
        .ok_or("the header has no cpuid leaf 1")?;
    l1.eax ^= 0x0000_0f0f;
    l1.ecx ^= 1 << 31;
    Ok(format!(
        "leaf1.eax {:#010x}\n0x00000001.0: {:08x} {:08x} {:08x} {:08x}",
        l1.eax, l1.eax, l1.ebx, l1.ecx, l1.edx
    ))
}

/// The replayed program printed the other CPU's values (`lines`), not this one's, and replay
/// noted the feature difference.
fn check_other_cpu(rec: &Output, rep: &Output, lines: &str) -> Result<(), String> {
    let out = rep.stdout_str();
    let missing: Vec<&str> = lines.lines().filter(|l| !out.contains(l)).collect();
    if rep.status != Status::Code(0) || !missing.is_empty() {
        return Err(format!(
            "the replay does not show the header's CPUID ({missing:?})\nrecording: {}\n\nreplay: {}",
            rec.describe(),
            rep.describe()
        ));
    }
    if lines.lines().any(|l| rec.stdout_str().contains(l)) {
        return Err("the recording already saw the changed leaf".into());
    }
    if !rep
        .stderr_str()
        .contains("recorded on a CPU with other features")
        || !rep.stderr_str().contains("leaf 0x1.0 ecx")
    {
        return Err(format!(
            "replay does not note the changed feature\n{}",
            rep.describe()
        ));
    }
    Ok(())
}

/// The `cpuid` example replays exactly; a copy whose header says another CPU replays with the
/// program printing that CPU's leaf 1; without faulting it sees this CPU's, with a warning.
fn header_leaves_reach_the_program(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let (trace, rec) = record(bins, dir, "cpuid", &bins.example("cpuid"), &[])?;
    let rep = replay(bins, dir, &trace, &[])?;
    compare_runs("record", &rec, "replay", &rep)?;
    let (edited, lines) = copy_with_header(&trace, other_cpu)?;
    let rep = replay(bins, dir, &edited, &[])?;
    check_other_cpu(&rec, &rep, &lines)?;
    let native = replay(bins, dir, &edited, &[("CRT_NO_CPUID_FAULTING", "1")])?;
    // (Not all of its output: the APIC ids in it are those of the CPU replay runs on.)
    let leaf1 = rec
        .stdout_str()
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    if !native.stdout_str().contains(&leaf1) || !native.stderr_str().contains("replay may diverge")
    {
        return Err(format!(
            "with CRT_NO_CPUID_FAULTING the program should see this CPU and replay warn\n{}",
            native.describe()
        ));
    }
    Ok(())
}

/// `sh -c 'exec cpuid'`: faulting, reset by the exec, is set again for the new image.
fn faulting_survives_exec(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let script = format!("exec {}", path_str(&bins.example("cpuid")));
    let (trace, rec) = record(bins, dir, "sh", Path::new("/bin/sh"), &["-c", &script])?;
    let (edited, lines) = copy_with_header(&trace, other_cpu)?;
    let rep = replay(bins, dir, &edited, &[])?;
    check_other_cpu(&rec, &rep, &lines)
}

/// glibc programs query cpuid at startup: they replay exactly with every `cpuid` answered.
fn glibc_programs_replay(bins: &Binaries, dir: &Path) -> Result<(), String> {
    let cases: [(&str, &str, &[&str]); 2] = [
        ("python3", "/usr/bin/python3", &["-c", "pass"]),
        ("ls", "/bin/ls", &["-la", "/usr/share"]),
    ];
    for (name, prog, args) in cases {
        let (trace, rec) = record(bins, dir, name, Path::new(prog), args)?;
        let rep = replay(bins, dir, &trace, &[])?;
        compare_runs(&format!("record {name}"), &rec, "replay", &rep)?;
        let debug = replay(bins, dir, &trace, &[("CRT_DEBUG", "1")])?;
        let answered = debug
            .stderr_str()
            .lines()
            .filter(|l| l.starts_with("[replay] cpuid 0x"))
            .count();
        if debug.status != Status::Code(0) || answered == 0 {
            return Err(format!(
                "{name}: replay answered {answered} cpuid instructions (expected some)\nstatus {}",
                debug.status
            ));
        }
    }
    Ok(())
}

type Case = fn(&Binaries, &Path) -> Result<(), String>;

const CASES: &[(&str, Case)] = &[
    (
        "header_leaves_reach_the_program",
        header_leaves_reach_the_program,
    ),
    ("faulting_survives_exec", faulting_survives_exec),
    ("glibc_programs_replay", glibc_programs_replay),
];

/// Whether the kernel can make cpuid fault here (what `arch_prctl(ARCH_SET_CPUID)` needs).
fn cpuid_faulting() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|s| {
        s.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "cpuid_fault"))
    })
}

fn main() {
    let args = Arguments::from_args();
    disable_core_dumps();
    let faulting = cpuid_faulting();
    let trials = CASES
        .iter()
        .map(|&(name, case)| {
            Trial::test(name, move || {
                let bins = binaries()?;
                let mut tmp = TempDir::new(name).map_err(|e| format!("temp dir: {e}"))?;
                case(bins, tmp.path()).map_err(|e| {
                    tmp.keep();
                    Failed::from(format!("{e}\n\nfiles kept in {}", tmp.path().display()))
                })
            })
            .with_ignored_flag(!faulting)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
