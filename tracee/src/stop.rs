//! Why a tracee stopped, decoded from waitpid.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// One report from waitpid about a traced thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Syscall entry or exit stop (PTRACE_SYSCALL with TRACESYSGOOD); which one, the caller tracks.
    Syscall,
    /// PTRACE_EVENT_SECCOMP: a syscall is about to run (replay's filter).
    Seccomp,
    /// PTRACE_EVENT_EXEC.
    Exec,
    /// PTRACE_EVENT_CLONE (new thread's tid in the event message).
    Clone,
    /// PTRACE_EVENT_FORK or PTRACE_EVENT_VFORK (new process's pid in the event message).
    Fork,
    /// PTRACE_EVENT_VFORK_DONE.
    VforkDone,
    /// PTRACE_EVENT_STOP with SIGTRAP: PTRACE_INTERRUPT, or a new thread's first stop.
    Interrupted,
    /// PTRACE_EVENT_STOP with a stopping signal: a group stop.
    GroupStop(i32),
    /// PTRACE_EVENT_EXIT.
    Exiting,
    /// Another PTRACE_EVENT (number).
    Event(i32),
    /// Signal-delivery stop (or group stop) with this signal.
    Signal(i32),
    /// The thread exited with this code.
    Exited(i32),
    /// The thread was killed by this signal.
    Killed { signal: i32, core_dumped: bool },
}

fn decode(status: WaitStatus) -> Option<(Pid, Stop)> {
    Some(match status {
        WaitStatus::PtraceSyscall(pid) => (pid, Stop::Syscall),
        WaitStatus::PtraceEvent(pid, sig, ev) => (
            pid,
            match ev {
                libc::PTRACE_EVENT_SECCOMP => Stop::Seccomp,
                libc::PTRACE_EVENT_EXEC => Stop::Exec,
                libc::PTRACE_EVENT_CLONE => Stop::Clone,
                libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK => Stop::Fork,
                libc::PTRACE_EVENT_VFORK_DONE => Stop::VforkDone,
                libc::PTRACE_EVENT_EXIT => Stop::Exiting,
                libc::PTRACE_EVENT_STOP if sig == nix::sys::signal::Signal::SIGTRAP => {
                    Stop::Interrupted
                }
                libc::PTRACE_EVENT_STOP => Stop::GroupStop(sig as i32),
                other => Stop::Event(other),
            },
        ),
        WaitStatus::Stopped(pid, sig) => (pid, Stop::Signal(sig as i32)),
        WaitStatus::Exited(pid, code) => (pid, Stop::Exited(code)),
        WaitStatus::Signaled(pid, sig, core) => (
            pid,
            Stop::Killed {
                signal: sig as i32,
                core_dumped: core,
            },
        ),
        WaitStatus::Continued(_) | WaitStatus::StillAlive => return None,
    })
}

/// Wait for the next stop of `tid` (or of any traced thread, with `None`) without blocking:
/// `Ok(None)` when none is there.
pub fn poll(tid: Option<Pid>) -> Result<Option<(Pid, Stop)>> {
    loop {
        match waitpid(tid, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(st) => {
                if let Some(s) = decode(st) {
                    let began = crate::profile::wait_begins();
                    crate::profile::wait_ended(began, Some(&s.1));
                    return Ok(Some(s));
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::Wait(e)),
        }
    }
}

/// Wait for the next stop of `tid` (or of any traced thread, with `None`).
/// Returns `Ok(None)` when interrupted by a signal to the recorder itself (EINTR).
pub fn wait(tid: Option<Pid>) -> Result<Option<(Pid, Stop)>> {
    let began = crate::profile::wait_begins();
    loop {
        match waitpid(tid, Some(WaitPidFlag::__WALL)) {
            Ok(st) => {
                if let Some(s) = decode(st) {
                    crate::profile::wait_ended(began, Some(&s.1));
                    return Ok(Some(s));
                }
            }
            Err(nix::errno::Errno::EINTR) => {
                crate::profile::wait_ended(began, None);
                return Ok(None);
            }
            Err(e) => return Err(Error::Wait(e)),
        }
    }
}

/// [`wait`], the stop it reports counted as `kind` (for helpers that know what they wait for).
pub fn wait_as(tid: Option<Pid>, kind: crate::profile::StopKind) -> Result<Option<(Pid, Stop)>> {
    let r = wait(tid)?;
    if r.is_some() {
        crate::profile::classify(kind);
    }
    Ok(r)
}
