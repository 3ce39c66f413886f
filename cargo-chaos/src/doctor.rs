//! `doctor`: whether recording works on this machine, and why not. Each check is a real try
//! (record and replay `true`, arm a debug register, open a hardware counter, ask for CPUID
//! faulting) or a reading of /proc; one verdict line; how to fix what is missing.

use std::process::ExitCode;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    /// Worth knowing; recording works anyway.
    Note,
    /// Recording or replay cannot work until this is fixed.
    Fail,
}

struct Check {
    name: &'static str,
    level: Level,
    detail: String,
    fix: Option<String>,
}

fn check(name: &'static str, level: Level, detail: impl Into<String>) -> Check {
    Check {
        name,
        level,
        detail: detail.into(),
        fix: None,
    }
}

impl Check {
    fn fix(mut self, f: impl Into<String>) -> Check {
        self.fix = Some(f.into());
        self
    }
}

fn status_field(name: &str) -> Option<String> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
}

fn kernel() -> Check {
    let release = tracee::kernel_release();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    let arch = std::env::consts::ARCH;
    if arch != "x86_64" {
        return check("kernel", Level::Fail, format!("{release} on {arch}"))
            .fix("cargo-record-test records x86_64 Linux programs only");
    }
    if (major, minor) < (4, 8) {
        check("kernel", Level::Fail, format!("Linux {release} ({arch})"))
            .fix("use Linux 4.8 or newer (seccomp stops under ptrace as the recorder expects)")
    } else {
        check("kernel", Level::Ok, format!("Linux {release} ({arch})"))
    }
}

fn yama() -> Check {
    let caps = status_field("CapEff:")
        .and_then(|h| u64::from_str_radix(&h, 16).ok())
        .unwrap_or(0);
    let has_ptrace_cap = caps & (1 << 19) != 0;
    match std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    {
        None => check(
            "yama",
            Level::Ok,
            "no Yama LSM: ptrace is limited only by the usual permissions",
        ),
        Some(s @ (0 | 1)) => check(
            "yama",
            Level::Ok,
            format!("ptrace_scope {s}: a process may trace the programs it starts"),
        ),
        Some(2) if has_ptrace_cap => check(
            "yama",
            Level::Ok,
            "ptrace_scope 2 (admin only), and we have CAP_SYS_PTRACE",
        ),
        Some(2) => check(
            "yama",
            Level::Fail,
            "ptrace_scope 2: only CAP_SYS_PTRACE may trace",
        )
        .fix("`sudo sysctl kernel.yama.ptrace_scope=1`, or run with CAP_SYS_PTRACE"),
        Some(s) => check(
            "yama",
            Level::Fail,
            format!("ptrace_scope {s}: ptrace is disabled"),
        )
        .fix(
            "ptrace_scope 3 cannot be lowered until a reboot; boot with kernel.yama.ptrace_scope=1",
        ),
    }
}

fn container() -> Check {
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    let kind = if std::path::Path::new("/.dockerenv").exists() {
        Some("docker")
    } else if std::path::Path::new("/run/.containerenv").exists() {
        Some("podman")
    } else if cgroup.contains("kubepods") {
        Some("kubernetes")
    } else if cgroup.contains("docker") || cgroup.contains("containerd") {
        Some("docker/containerd")
    } else if cgroup.contains("lxc") {
        Some("lxc")
    } else {
        std::env::var("container").ok().map(|_| "a container")
    };
    let caps = status_field("CapEff:").unwrap_or_default();
    match kind {
        None => check("container", Level::Ok, "not in a container (as far as /proc tells)"),
        Some(k) => check(
            "container",
            Level::Note,
            format!("in {k} (effective capabilities {caps})"),
        )
        .fix("if ptrace fails below: `docker run --cap-add SYS_PTRACE --security-opt seccomp=unconfined`"),
    }
}

fn seccomp() -> Check {
    let mode = status_field("Seccomp:").unwrap_or_else(|| "?".into());
    let filters = status_field("Seccomp_filters:").unwrap_or_else(|| "?".into());
    match mode.as_str() {
        "0" => check("seccomp", Level::Ok, "no seccomp filter on this process"),
        "2" => check(
            "seccomp",
            Level::Note,
            format!("{filters} seccomp filter(s) on this process (a container's or a sandbox's)"),
        )
        .fix("if ptrace or perf fail below, run without the filter (seccomp=unconfined)"),
        m => check("seccomp", Level::Note, format!("seccomp mode {m}")),
    }
}

fn true_program() -> Option<std::path::PathBuf> {
    tracee::spawn::resolve_program("true".as_ref(), std::env::var_os("PATH").as_deref()).ok()
}

/// Record `true`, then replay the trace: the whole path a test takes.
fn record_and_replay() -> Check {
    let Some(prog) = true_program() else {
        return check(
            "record",
            Level::Note,
            "no `true` on PATH to try a recording with",
        );
    };
    let dir = std::env::temp_dir().join(format!("crt-doctor-{}", std::process::id()));
    let trace = dir.join("true.trace");
    let _ = std::fs::create_dir_all(&dir);
    let result = (|| -> Result<(), String> {
        let session = recorder::RecordSession::start(recorder::RecordOptions {
            program: prog.clone().into_os_string(),
            args: Vec::new(),
            output: trace.clone(),
            chaos: Some(recorder::ChaosOptions { seed: 1 }),
            env: None,
        })
        .map_err(|e| format!("recording: {}", crate::exit::one_line(&e)))?;
        session
            .run()
            .map_err(|e| format!("recording: {}", crate::exit::one_line(&e)))?;
        let replay = replayer::ReplaySession::start(replayer::ReplayOptions {
            trace: trace.clone(),
            echo: false,
        })
        .map_err(|e| format!("replay: {}", crate::exit::one_line(&e)))?;
        replay
            .run()
            .map_err(|e| format!("replay: {}", crate::exit::one_line(&e)))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => check(
            "record",
            Level::Ok,
            format!("recorded {} under chaos and replayed it", prog.display()),
        ),
        Err(e) => check("record", Level::Fail, e).fix(
            "ptrace must be allowed: see yama/container/seccomp above (in docker: --cap-add SYS_PTRACE --security-opt seccomp=unconfined)",
        ),
    }
}

fn debug_registers() -> Check {
    let Some(prog) = true_program() else {
        return check("debug regs", Level::Note, "no `true` on PATH to try with");
    };
    match tracee::probe::debug_registers(&prog) {
        Ok(()) => check(
            "debug regs",
            Level::Ok,
            "hardware breakpoints can be set through ptrace",
        ),
        Err(e) => check(
            "debug regs",
            Level::Fail,
            format!("cannot set a hardware breakpoint: {e}"),
        )
        .fix("the hypervisor must pass debug registers through (most do; some sandboxes do not)"),
    }
}

fn perf() -> Check {
    match tracee::probe::hardware_counter() {
        Ok(()) => check(
            "perf",
            Level::Ok,
            "hardware counters work (a PMU is present; not needed)",
        ),
        Err(e) => check(
            "perf",
            Level::Note,
            format!(
                "no hardware counter ({e}): fine, cargo-record-test does not need a PMU (rr does)"
            ),
        ),
    }
}

fn cpuid() -> Check {
    match tracee::probe::cpuid_faulting() {
        Ok(()) => check(
            "cpuid",
            Level::Ok,
            "CPUID faulting available: replay gives programs the recording CPU's CPUID",
        ),
        Err(e) => check(
            "cpuid",
            Level::Note,
            format!("no CPUID faulting ({e}): traces keep the recording CPU's CPUID; replay on another CPU warns when features differ"),
        ),
    }
}

pub fn run() -> ExitCode {
    let checks = [
        kernel(),
        yama(),
        container(),
        seccomp(),
        record_and_replay(),
        debug_registers(),
        perf(),
        cpuid(),
    ];
    for c in &checks {
        let tag = match c.level {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Fail => "FAIL",
        };
        println!("{:<11} {tag:<4}  {}", c.name, c.detail);
        if c.level != Level::Ok {
            if let Some(f) = &c.fix {
                println!("{:<11}       fix: {f}", "");
            }
        }
    }
    let failed: Vec<&Check> = checks.iter().filter(|c| c.level == Level::Fail).collect();
    match failed.first() {
        None => {
            println!("verdict: recording and replay work on this machine");
            ExitCode::SUCCESS
        }
        Some(f) => {
            println!(
                "verdict: recording does NOT work here: {} ({}); {}",
                f.name,
                f.detail,
                f.fix.as_deref().unwrap_or("see above")
            );
            ExitCode::from(crate::exit::INTERNAL)
        }
    }
}
