//! Child processes (fork, vfork, posix_spawn) are not recorded: their effects on the program
//! (wait results, pipe data, SIGCHLD) are recorded like any input. ptrace catches each one only
//! to undo what it inherited from the recording (rdtsc trapping), then lets it go.

use tracee::{Pid, Stop, Task};

/// Undo our settings in a new child process stopped at its first stop, and detach from it.
pub(crate) fn release(pid: Pid, first_stop: Stop) {
    let task = Task::new(pid, pid);
    if first_stop == Stop::Interrupted {
        // It stands right after the clone/fork syscall instruction: run prctl from there.
        let _ = task.inject_syscall(
            libc::SYS_prctl,
            [libc::PR_SET_TSC as u64, libc::PR_TSC_ENABLE as u64, 0, 0, 0, 0],
        );
    }
    let _ = task.detach();
}
