//! Child processes (fork, vfork, posix_spawn) are not recorded: their effects on the program
//! (wait results, pipe data, SIGCHLD) are recorded like any input. ptrace catches each one only
//! to undo what it inherited from the recording (rdtsc trapping, patched spin hints), and to give
//! it a pipe of ours in place of the recording's stdout and stderr (external.rs: what it writes
//! there is forwarded and recorded), then lets it go.

use std::fs::File;

use pack::Stream;
use tracee::{Pid, RemotePtr, Stop, Task};

use crate::external::ExternalOutput;

/// Undo our settings in a new child process stopped at its first stop, and detach from it.
/// `parent` is the recorded process; `patched` the addresses patched in it, with their bytes.
pub(crate) fn release(
    pid: Pid,
    first_stop: Stop,
    parent: Pid,
    patched: &[(u64, u8)],
    external: &mut ExternalOutput,
) {
    let mut task = Task::new(pid, pid);
    if first_stop == Stop::Interrupted {
        // It stands right after the clone/fork syscall instruction: run prctl from there.
        let _ = task.inject_syscall(
            libc::SYS_prctl,
            [
                libc::PR_SET_TSC as u64,
                libc::PR_TSC_ENABLE as u64,
                0,
                0,
                0,
                0,
            ],
        );
        // A forked child has its own copy of the patched code; a vfork child shares ours.
        if !patched.is_empty() && !tracee::shares_memory(pid, parent) {
            for &(addr, byte) in patched {
                let _ = task.write_bytes(tracee::RemotePtr::new(addr), &[byte]);
            }
        }
        if !tracee::shares_files(pid, parent) {
            for (read_end, stream) in redirect_output(&mut task, pid) {
                external.add(read_end, stream);
            }
        }
    }
    let _ = task.detach();
}

/// Put a pipe in place of each of the child's fds 1 and 2 that is the recording's stdout or
/// stderr (one pipe for both when they are one file, so their order is kept); the read ends, in
/// our process, with the stream each stands for. On any failure the child keeps what it had.
fn redirect_output(task: &mut Task, pid: Pid) -> Vec<(File, Stream)> {
    let out = crate::output::stream_of(pid, 1);
    let err = crate::output::stream_of(pid, 2);
    let mut plan: Vec<(Stream, Vec<u64>)> = Vec::new();
    match (out, err) {
        (None, None) => return Vec::new(),
        (Some(o), Some(_)) if tracee::fds::is_our_file(pid, 2, 1) && o == Stream::Stdout => {
            plan.push((Stream::Stdout, vec![1, 2]))
        }
        _ => {
            if let Some(o) = out {
                plan.push((o, vec![1]));
            }
            if let Some(e) = err {
                plan.push((e, vec![2]));
            }
        }
    }
    let mut ends = Vec::new();
    for (stream, fds) in plan {
        if let Some(read_end) = pipe_over(task, pid, &fds) {
            ends.push((read_end, stream));
        }
    }
    ends
}

/// In the stopped child: a new pipe whose write end replaces each fd of `fds`; our copy of its
/// read end.
fn pipe_over(task: &mut Task, pid: Pid, fds: &[u64]) -> Option<File> {
    // pipe2 writes its two fds at the stack pointer: the child runs no code of its own until
    // those bytes are back.
    let at = RemotePtr::new(task.regs().ok()?.sp());
    let mut saved = [0u8; 8];
    task.read_bytes(at, &mut saved).ok()?;
    let r = task.inject_syscall(
        libc::SYS_pipe2,
        [at.addr(), libc::O_CLOEXEC as u64, 0, 0, 0, 0],
    );
    let mut pair = [0u8; 8];
    let read = task.read_bytes(at, &mut pair);
    let _ = task.write_bytes(at, &saved);
    if r.ok()? != 0 || read.is_err() {
        return None;
    }
    let rfd = i32::from_ne_bytes(pair[..4].try_into().expect("4 bytes"));
    let wfd = i32::from_ne_bytes(pair[4..].try_into().expect("4 bytes"));
    let ours = tracee::fds::RemoteFd::get(pid, rfd)
        .ok()
        .map(|f| f.into_file());
    let close = |fd: i32| task.inject_syscall(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]);
    if ours.is_some() {
        for &fd in fds {
            // dup3 without O_CLOEXEC: the new fd is inherited through exec, as the old one was.
            let _ = task.inject_syscall(libc::SYS_dup3, [wfd as u64, fd, 0, 0, 0, 0]);
        }
    }
    let _ = close(wfd);
    let _ = close(rfd);
    ours
}
