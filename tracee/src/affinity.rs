//! CPU pinning (DESIGN.md section 5): the recorder's thread and every thread of the tracee share
//! one CPU, so each ptrace stop is a cheap same-CPU context switch (measured 2.5-3x faster here
//! than letting them float). The program must not notice: `sched_getaffinity` answers with the
//! mask it would have had, and its own `sched_setaffinity` calls do not move it.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// The CPU mask we were started with, as the bytes of a `cpu_set_t`.
#[derive(Clone, Debug)]
pub struct OriginalMask {
    set: CpuSet,
}

impl OriginalMask {
    /// The calling thread's current mask.
    pub fn current() -> OriginalMask {
        OriginalMask {
            set: sched_getaffinity(Pid::from_raw(0)).unwrap_or_else(|_| CpuSet::new()),
        }
    }

    /// The mask as the kernel writes it: `len` bytes, little-endian words of bits.
    pub fn bytes(&self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        for cpu in 0..(len * 8).min(CpuSet::count()) {
            if self.set.is_set(cpu).unwrap_or(false) {
                out[cpu / 8] |= 1 << (cpu % 8);
            }
        }
        out
    }

    /// The CPUs in the mask.
    pub fn cpus(&self) -> Vec<usize> {
        (0..CpuSet::count())
            .filter(|&c| self.set.is_set(c).unwrap_or(false))
            .collect()
    }
}

/// The CPU a recording (or replay) runs on: `CRT_CPU` if set, else one of the allowed CPUs
/// chosen by our pid, so parallel jobs spread over the cores.
pub fn choose_cpu(mask: &OriginalMask) -> Option<usize> {
    let cpus = mask.cpus();
    if let Some(c) = std::env::var("CRT_CPU")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return Some(c);
    }
    if cpus.is_empty() {
        return None;
    }
    Some(cpus[std::process::id() as usize % cpus.len()])
}

/// Pin thread `tid` (0: the calling thread) to `cpu`. Threads it creates later inherit this.
pub fn pin(tid: Pid, cpu: usize) -> bool {
    let mut set = CpuSet::new();
    if set.set(cpu).is_err() {
        return false;
    }
    sched_setaffinity(tid, &set).is_ok()
}
