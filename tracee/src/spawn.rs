//! Starting a program under ptrace with the recording model's settings: ASLR off, rdtsc
//! trapping, death with the tracer, and (for replay) a seccomp filter that stops at every syscall.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use crate::error::{Error, Result};
use crate::seccomp;
use crate::task::Task;

/// What to run and how.
pub struct SpawnOptions {
    /// Absolute path of the executable.
    pub program: PathBuf,
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Option<PathBuf>,
    /// Install a seccomp filter that makes every syscall a PTRACE_EVENT_SECCOMP stop (replay).
    pub seccomp_trace_all: bool,
    /// Give the program /dev/null as stdin, stdout and stderr (replay).
    pub null_stdio: bool,
}

/// Find `program` the way execvp would: a name with a slash is a path, else search PATH.
pub fn resolve_program(program: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf> {
    let display = program.to_string_lossy().into_owned();
    let fail = |reason: &str| Error::Spawn {
        program: display.clone(),
        reason: reason.to_string(),
    };
    if program.is_empty() {
        return Err(fail("empty program name"));
    }
    let candidates: Vec<PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![PathBuf::from(program)]
    } else {
        let path = path_var
            .map(|p| p.to_owned())
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .collect()
    };
    let mut saw_non_exec = false;
    for c in candidates {
        match std::fs::metadata(&c) {
            Ok(m) if m.is_file() => {
                if nix::unistd::access(&c, nix::unistd::AccessFlags::X_OK).is_ok() {
                    return std::path::absolute(&c).map_err(|e| fail(&e.to_string()));
                }
                saw_non_exec = true;
            }
            Ok(m) if m.is_dir() => saw_non_exec = true,
            _ => {}
        }
    }
    if saw_non_exec {
        Err(fail("permission denied (not an executable file)"))
    } else {
        Err(fail("no such file or directory"))
    }
}

fn cstring(bytes: &[u8], what: &str, program: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::Spawn {
        program: program.to_string(),
        reason: format!("{what} contains a NUL byte"),
    })
}

/// The ptrace options every tracee gets. Child processes (fork, vfork) are caught only long
/// enough to undo what they inherited from us (rdtsc trapping), then detached.
pub fn trace_options() -> Options {
    Options::PTRACE_O_EXITKILL
        | Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACESECCOMP
}

/// Fork and exec the program; return its main thread stopped at the PTRACE_EVENT_EXEC stop.
pub fn spawn(opts: &SpawnOptions) -> Result<Task> {
    let pname = opts.program.display().to_string();
    let program = cstring(opts.program.as_os_str().as_bytes(), "program path", &pname)?;
    let argv = opts
        .argv
        .iter()
        .map(|a| cstring(a, "an argument", &pname))
        .collect::<Result<Vec<_>>>()?;
    let env = opts
        .env
        .iter()
        .map(|a| cstring(a, "an environment entry", &pname))
        .collect::<Result<Vec<_>>>()?;
    let cwd = match &opts.cwd {
        Some(c) => Some(cstring(c.as_os_str().as_bytes(), "cwd", &pname)?),
        None => None,
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let filter = seccomp::trace_all_filter();
    let devnull = if opts.null_stdio {
        Some(
            std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(|e| Error::Spawn {
                    program: pname.clone(),
                    reason: format!("cannot open /dev/null: {e}"),
                })?,
        )
    } else {
        None
    };
    let devnull_fd = devnull.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    // A pipe that tells the parent why exec failed (closed on a successful exec).
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Spawn {
        program: pname.clone(),
        reason: format!("pipe: {e}"),
    })?;
    let wr_fd = std::os::fd::AsRawFd::as_raw_fd(&wr);
    // A pipe on which the child waits until the parent has seized it.
    let (go_rd, go_wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Spawn {
            program: pname.clone(),
            reason: format!("pipe: {e}"),
        })?;
    let go_fd = std::os::fd::AsRawFd::as_raw_fd(&go_rd);

    // SAFETY: the recorder is single-threaded when it spawns; the child only makes
    // async-signal-safe calls (raw syscalls) on memory prepared before the fork, then execs or
    // exits with _exit.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(Error::Spawn {
            program: pname,
            reason: format!("fork: {e}"),
        }),
        Ok(ForkResult::Child) => {
            // SAFETY: only raw syscalls on pre-built, NUL-terminated buffers; no allocation.
            unsafe {
                child_after_fork(
                    &program,
                    &argv_ptrs,
                    &env_ptrs,
                    cwd.as_ref(),
                    opts.seccomp_trace_all.then_some(&filter),
                    devnull_fd,
                    wr_fd,
                    go_fd,
                )
            }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(wr);
            drop(go_rd);
            drop(devnull);
            let r = parent_after_fork(child, opts.seccomp_trace_all, &pname, rd, go_wr);
            if r.is_err() {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
            }
            r
        }
    }
}

/// # Safety
/// Must only be called in the child right after fork.
#[allow(clippy::too_many_arguments)]
unsafe fn child_after_fork(
    program: &CString,
    argv: &[*const libc::c_char],
    env: &[*const libc::c_char],
    cwd: Option<&CString>,
    filter: Option<&seccomp::Filter>,
    devnull: Option<i32>,
    err_fd: i32,
    go_fd: i32,
) -> ! {
    let fail = |stage: i32| -> ! {
        let errno = *libc::__errno_location();
        let msg = [stage, errno];
        // SAFETY: writing 8 bytes from a local array to our own pipe.
        libc::write(err_fd, msg.as_ptr().cast(), 8);
        libc::_exit(127)
    };
    if let Some(fd) = devnull {
        for target in 0..3 {
            if libc::dup2(fd, target) < 0 {
                fail(1);
            }
        }
    }
    if let Some(c) = cwd {
        if libc::chdir(c.as_ptr()) < 0 {
            fail(2);
        }
    }
    let persona = libc::personality(0xffff_ffff);
    if persona < 0 || libc::personality((persona | libc::ADDR_NO_RANDOMIZE) as libc::c_ulong) < 0 {
        fail(3);
    }
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    if libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_SIGSEGV) < 0 {
        fail(4);
    }
    // Wait until the parent has seized us (it closes its end, or writes a byte).
    let mut byte = 0u8;
    while libc::read(go_fd, (&mut byte as *mut u8).cast(), 1) < 0 {
        if *libc::__errno_location() != libc::EINTR {
            fail(5);
        }
    }
    if let Some(f) = filter {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
            fail(6);
        }
        if libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            f.as_sock_fprog(),
        ) < 0
        {
            fail(7);
        }
    }
    libc::execve(program.as_ptr(), argv.as_ptr(), env.as_ptr());
    fail(8)
}

fn parent_after_fork(
    child: Pid,
    seccomp_on: bool,
    pname: &str,
    rd: std::os::fd::OwnedFd,
    go: std::os::fd::OwnedFd,
) -> Result<Task> {
    let fail = |reason: String| Error::Spawn {
        program: pname.to_string(),
        reason,
    };
    ptrace::seize(child, trace_options()).map_err(|source| Error::Ptrace {
        op: "SEIZE",
        tid: child.as_raw(),
        source,
    })?;
    let _ = nix::unistd::write(&go, &[1u8]);
    drop(go);
    let task = Task::new(child, child);
    loop {
        match waitpid(child, Some(WaitPidFlag::__WALL)).map_err(Error::Wait)? {
            WaitStatus::PtraceEvent(_, _, ev) if ev == libc::PTRACE_EVENT_SECCOMP && seccomp_on => {
                // The execve itself: let it run.
                task.cont(None)?;
            }
            WaitStatus::PtraceEvent(_, _, ev) if ev == libc::PTRACE_EVENT_EXEC => return Ok(task),
            WaitStatus::Exited(_, _) | WaitStatus::Signaled(..) => {
                let mut buf = [0u8; 8];
                let n = nix::unistd::read(&rd, &mut buf).unwrap_or(0);
                if n == 8 {
                    let stage = i32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
                    let errno = i32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
                    let what = match stage {
                        1 => "redirecting stdio",
                        2 => "changing directory",
                        3 => "turning off address randomisation",
                        4 => "trapping rdtsc (PR_SET_TSC)",
                        5 => "waiting to be traced",
                        6 | 7 => "installing the seccomp filter",
                        _ => "execve",
                    };
                    let err = nix::errno::Errno::from_raw(errno);
                    return Err(fail(format!(
                        "{what} failed: {}",
                        err.desc().to_lowercase()
                    )));
                }
                return Err(fail("the child exited before exec".into()));
            }
            WaitStatus::Stopped(_, sig) => {
                // A signal before exec (e.g. SIGINT from the terminal): pass it on.
                task.cont(Some(sig as i32))?;
            }
            WaitStatus::PtraceEvent(_, _, ev) if ev == libc::PTRACE_EVENT_STOP => {
                // A group stop before exec: resume.
                task.cont(None)?;
            }
            _ => task.cont(None)?,
        }
    }
}

/// The absolute form of `p` relative to the current directory.
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
