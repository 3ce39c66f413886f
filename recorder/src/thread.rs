//! What the recorder knows about each traced thread.

use std::collections::VecDeque;

use tracee::Task;

use crate::syscall::Pending;

/// Where a thread is, as the scheduler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Stopped in user code and ready to run (a new thread, or a preempted one). Resuming it
    /// records a Schedule event.
    Ready,
    /// Running user code: the current thread, the only one.
    Running,
    /// Stopped at a syscall's entry, held there (its slice was over while others waited):
    /// resuming it lets the call into the kernel, with no event (replay parks it there too).
    AtEntry,
    /// Let into the kernel for a syscall; its exit stop has not come yet.
    InSyscall(Pending),
    /// Stopped at a syscall's exit; recorded when it is next scheduled.
    AtExit(Pending),
    /// Gone (or going: it made `exit`).
    Dead,
}

/// An asynchronous signal the recorder holds back until the thread's next scheduling point.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub signo: i32,
    pub siginfo: [u8; 128],
}

/// One thread of the recorded process.
pub(crate) struct Thread {
    pub task: Task,
    pub state: State,
    /// Created by a clone whose event is not recorded yet: not schedulable.
    pub unborn: bool,
    /// Signals to deliver at the next scheduling point.
    pub queued: VecDeque<Queued>,
    /// A signal we made pending (resuming from a syscall stop with it): its delivery stop is
    /// expected next and is not recorded again; the siginfo to give it.
    pub injected: Option<Queued>,
    /// Resumed from a scheduling point and not stopped since: a signal stop now means the
    /// signal arrived before any user code ran, at a point replay can reproduce.
    pub fresh: bool,
    /// A PTRACE_INTERRUPT was sent and its stop not yet seen.
    pub interrupt_pending: bool,
    /// Stopped by ptrace and able to be resumed (a new thread is not until its first stop).
    pub parked: bool,
    /// Passes over counted points (spin hints, chaos points, the `syscall` instructions of
    /// silent calls) per address since the thread's previous event.
    pub hits: tracee::points::Passes,
    /// Slices in a row the thread ran without a syscall and without repeating its state.
    pub computing_since: Option<std::time::Instant>,
    /// Preempted at a chaos point: it must step over the patched instruction when resumed.
    pub at_chaos_point: bool,
    /// The word the kernel clears (and futex-wakes) when the thread exits (CLONE_CHILD_CLEARTID,
    /// set_tid_address).
    pub clear_tid: u64,
    /// When its blocking syscall returned while another thread ran (for wake-up latency).
    pub woke: Option<std::time::Instant>,
    /// That call returned because its time ran out (a sleep, a timeout): it must not wait long.
    pub woke_by_timer: bool,
    /// When its previous event was recorded.
    pub event_at: std::time::Instant,
    /// Tries to move a preemption out of a hot loop since its previous event.
    pub move_out_tries: u32,
    /// Return addresses found to be passed too often for a position since its previous event.
    pub move_out_dropped: Vec<u64>,
    /// The least often passed return address seen so far, with its estimated passes.
    pub move_out_best: Option<(u64, f64)>,
    /// Where it was caught spinning without progress, most recent first (`spin_watch`).
    pub spin_pcs: Vec<u64>,
    /// Those watched in its current segment.
    pub spin_watch: Option<crate::spin_watch::Watch>,
    /// The bytes waiting in the pipe or socket a syscall in flight copies to stdout or stderr.
    pub peeked: Option<Vec<u8>>,
}

impl Thread {
    pub fn new(task: Task, state: State) -> Thread {
        Thread {
            task,
            state,
            unborn: false,
            queued: VecDeque::new(),
            injected: None,
            fresh: false,
            interrupt_pending: false,
            parked: true,
            hits: Default::default(),
            computing_since: None,
            at_chaos_point: false,
            clear_tid: 0,
            woke: None,
            woke_by_timer: false,
            event_at: std::time::Instant::now(),
            move_out_tries: 0,
            move_out_dropped: Vec::new(),
            move_out_best: None,
            peeked: None,
            spin_pcs: Vec::new(),
            spin_watch: None,
        }
    }

    /// Whether the scheduler may pick it.
    pub fn runnable(&self) -> bool {
        !self.unborn
            && self.parked
            && matches!(self.state, State::Ready | State::AtEntry | State::AtExit(_))
    }
}
