//! Child processes (fork, vfork, posix_spawn) are not recorded: their effects on the program
//! (wait results, pipe data, SIGCHLD) are recorded like any input. ptrace catches each one only
//! to undo what it inherited from the recording (rdtsc trapping, patched spin hints), then lets
//! it go.

use tracee::{Pid, Stop, Task};

/// Undo our settings in a new child process stopped at its first stop, and detach from it.
/// `parent` is the recorded process; `patched` the addresses patched in it, with their bytes.
pub(crate) fn release(pid: Pid, first_stop: Stop, parent: Pid, patched: &[(u64, u8)]) {
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
    }
    let _ = task.detach();
}
