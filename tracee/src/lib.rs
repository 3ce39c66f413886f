//! The Linux x86_64 process layer: ptrace, registers, memory, the kernel ABI and the one syscall
//! table. The only crate of the workspace with `unsafe`.

pub mod access;
pub mod affinity;
pub mod auxv;
pub mod chaos_points;
pub mod cpuid;
pub mod digest;
mod elf;
mod error;
pub mod fds;
pub mod insn;
pub mod interrupt;
pub mod points;
pub mod probe;
pub mod profile;
mod regs;
mod remote_ptr;
mod scan_cache;
pub mod seccomp;
pub mod spawn;
pub mod spin;
pub mod stop;
pub mod syscalls;
mod task;
pub mod thread_state;
pub mod unwind;

pub use error::{Error, Result};
pub use nix::unistd::Pid;
pub use regs::{same_words_but, Regs, EFLAGS_RF, REGS_WORDS};
pub use remote_ptr::RemotePtr;
pub use stop::Stop;
pub use task::{reap_process, shares_files, shares_memory, tgid_of, StepOver, Task};

/// `uname -r` of this machine.
/// The CPU time thread `tid` has run, in nanoseconds (from /proc: it leaves out the time the
/// thread sat stopped by ptrace).
pub fn cpu_time_ns(tid: Pid) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/schedstat")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}
