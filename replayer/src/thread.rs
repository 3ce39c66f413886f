//! What the replayer knows about each thread of the replayed process.

use tracee::points::Passes;
use tracee::{Regs, Task};

/// A thread id as the trace recorded it: what the program saw and what a debugger is told.
/// Real ids (the kernel's, in this replay) stay inside `Task`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordedTid(pub i32);

/// Where a parked thread stopped. Only one thread runs at a time; the others are parked.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)] // parked threads are few; Copy keeps matching simple
pub(crate) enum Parked {
    /// At the seccomp stop of a syscall not yet replayed.
    AtSyscall(Regs),
    /// In user code: a new thread before its first instruction, or a preempted one.
    Ready,
    /// At a signal-delivery stop.
    AtSignal(i32),
    /// At the trap of an rdtsc/rdtscp.
    AtTsc,
    /// Exec'd (PTRACE_EVENT_EXEC).
    AtExec,
    /// Running after `exit`: its death is not reported while other threads live (a leader).
    Exiting,
}

pub(crate) struct Thread {
    pub task: Task,
    pub parked: Parked,
    /// Spin-hint and chaos-point traps per address since the thread's previous event.
    pub passes: Passes,
    /// Parked by a preemption at a chaos point: steps over it when resumed.
    pub at_chaos_point: bool,
    /// Asynchronous signals made pending (with their recorded siginfo) while the thread blocked
    /// them: the kernel delivers each when the thread unblocks it, as when recording.
    pub deferred: Vec<(i32, Vec<u8>)>,
    /// The tid word the kernel clears when the thread exits (CLONE_CHILD_CLEARTID,
    /// set_tid_address): a re-created thread is given it again (checkpoint.rs).
    pub clear_tid: u64,
}

impl Thread {
    pub fn new(task: Task, parked: Parked) -> Thread {
        Thread {
            task,
            parked,
            passes: Passes::default(),
            at_chaos_point: false,
            deferred: Vec::new(),
            clear_tid: 0,
        }
    }
}
