//! Recognising the few instructions the recorder or the replayer emulates at a trap (rdtsc,
//! rdtscp; cpuid under CPUID faulting).

use crate::remote_ptr::RemotePtr;
use crate::task::Task;

/// An instruction that reads the time stamp counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TscInsn {
    /// `rdtsc` (2 bytes).
    Rdtsc,
    /// `rdtscp` (3 bytes), which also returns TSC_AUX in ecx.
    Rdtscp,
}

impl TscInsn {
    pub fn length(self) -> u64 {
        match self {
            TscInsn::Rdtsc => 2,
            TscInsn::Rdtscp => 3,
        }
    }
}

/// The rdtsc/rdtscp at `pc`, if that is what is there.
pub fn tsc_insn_at(task: &mut Task, pc: u64) -> Option<TscInsn> {
    let mut b = [0u8; 3];
    let got = task.read_prefix(RemotePtr::new(pc), 3);
    b[..got.len()].copy_from_slice(&got);
    match b {
        [0x0f, 0x31, _] => Some(TscInsn::Rdtsc),
        [0x0f, 0x01, 0xf9] => Some(TscInsn::Rdtscp),
        _ => None,
    }
}

/// The length of `cpuid` (`0f a2`).
pub const CPUID_LEN: u64 = 2;

/// Whether the instruction at `pc` is `cpuid`.
pub fn is_cpuid_at(task: &mut Task, pc: u64) -> bool {
    task.read_prefix(RemotePtr::new(pc), 2) == [0x0f, 0xa2]
}

/// Read the time stamp counter (and TSC_AUX) of the CPU we run on.
pub fn read_tsc() -> (u64, u32) {
    let mut aux = 0u32;
    // SAFETY: rdtscp only reads the counter and TSC_AUX; the recorder itself does not trap it.
    let v = unsafe { core::arch::x86_64::__rdtscp(&mut aux) };
    (v, aux)
}
