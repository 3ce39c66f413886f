//! Where a recording's time goes: every ptrace stop counted by kind, with the wall time spent
//! handling it (from waitpid reporting it to our next wait), and the time spent in waitpid
//! itself ("the tracee running"). Cheap: fixed arrays, two clock reads per stop, no allocation.
//!
//! [`crate::stop::wait`] opens each stop with a provisional kind from its decoding; the caller,
//! which knows more (syscall entry or exit, spin hint or chaos point), re-tags it with
//! [`classify`]. Helpers that take stops of their own (injected syscalls, single steps) tag
//! theirs. The profile is per OS thread (one session per thread), started by [`reset`].

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::Stop;

/// What a ptrace stop was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopKind {
    SyscallEntry,
    SyscallExit,
    /// A patched PAUSE (spin hint).
    Spin,
    /// A patched chaos preemption point.
    ChaosPoint,
    /// Our PTRACE_INTERRUPT (a slice ran out while others wait).
    Interrupt,
    /// A debug-register stop: move-out targets, a sought position.
    DebugRegister,
    /// A single step (over a patched instruction, a stop-cost measurement).
    SingleStep,
    /// The stops of a syscall we inject or back a thread out of (affinity, CPUID faulting,
    /// fairness before a silent call).
    Injected,
    /// Replay's seccomp stops.
    Seccomp,
    /// A signal-delivery stop (faults, rdtsc traps, asynchronous signals).
    Signal,
    Exec,
    /// PTRACE_EVENT_CLONE, FORK, VFORK_DONE.
    Clone,
    /// A new thread's first stop.
    NewThread,
    /// PTRACE_EVENT_EXIT and deaths.
    Exit,
    Other,
}

/// How many kinds there are.
pub const KINDS: usize = 15;

impl StopKind {
    pub const ALL: [StopKind; KINDS] = [
        StopKind::SyscallEntry,
        StopKind::SyscallExit,
        StopKind::Spin,
        StopKind::ChaosPoint,
        StopKind::Interrupt,
        StopKind::DebugRegister,
        StopKind::SingleStep,
        StopKind::Injected,
        StopKind::Seccomp,
        StopKind::Signal,
        StopKind::Exec,
        StopKind::Clone,
        StopKind::NewThread,
        StopKind::Exit,
        StopKind::Other,
    ];

    /// Its name in the `stats` file (`stops.NAME`, `ns.NAME`) and in `info`.
    pub fn name(self) -> &'static str {
        match self {
            StopKind::SyscallEntry => "syscall_entry",
            StopKind::SyscallExit => "syscall_exit",
            StopKind::Spin => "spin_hint",
            StopKind::ChaosPoint => "chaos_point",
            StopKind::Interrupt => "interrupt",
            StopKind::DebugRegister => "debug_register",
            StopKind::SingleStep => "single_step",
            StopKind::Injected => "injected",
            StopKind::Seccomp => "seccomp",
            StopKind::Signal => "signal",
            StopKind::Exec => "exec",
            StopKind::Clone => "clone",
            StopKind::NewThread => "new_thread",
            StopKind::Exit => "exit",
            StopKind::Other => "other",
        }
    }

    /// The provisional kind of a decoded stop.
    pub fn of(stop: &Stop) -> StopKind {
        match stop {
            Stop::Syscall => StopKind::SyscallEntry,
            Stop::Seccomp => StopKind::Seccomp,
            Stop::Exec => StopKind::Exec,
            Stop::Clone | Stop::Fork | Stop::VforkDone => StopKind::Clone,
            Stop::Interrupted => StopKind::Interrupt,
            Stop::GroupStop(_) | Stop::Signal(_) => StopKind::Signal,
            Stop::Exiting | Stop::Exited(_) | Stop::Killed { .. } => StopKind::Exit,
            Stop::Event(_) => StopKind::Other,
        }
    }
}

/// Work done while handling stops, timed apart (its time is part of the stops' handling time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Memory digests (repeated-state checks, uncounted positions).
    Digest,
    /// Scanning new code for spin hints (ELF symbols + decoding).
    SpinScan,
    /// Putting mapped files in the store (hashing, copying).
    Store,
    /// Encoding and queueing events for the trace writer.
    TraceWrite,
}

pub const WORKS: usize = 4;

impl Work {
    pub const ALL: [Work; WORKS] = [Work::Digest, Work::SpinScan, Work::Store, Work::TraceWrite];

    pub fn name(self) -> &'static str {
        match self {
            Work::Digest => "digest",
            Work::SpinScan => "spin_scan",
            Work::Store => "store",
            Work::TraceWrite => "trace_write",
        }
    }
}

/// The counters of one session.
#[derive(Clone, Debug, Default)]
pub struct StopProfile {
    /// Stops per kind (indexed by `StopKind as usize`).
    pub stops: [u64; KINDS],
    /// Wall time handling them, ns.
    pub ns: [u64; KINDS],
    /// Wall time inside waitpid (the tracee running, or the kernel reporting), ns.
    pub running_ns: u64,
    /// Calls and wall time of each kind of work.
    pub work_calls: [u64; WORKS],
    pub work_ns: [u64; WORKS],
}

impl StopProfile {
    pub fn total_stops(&self) -> u64 {
        self.stops.iter().sum()
    }

    /// `(key, value)` pairs for the trace's `stats` file.
    pub fn to_stats(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for k in StopKind::ALL {
            let i = k as usize;
            if self.stops[i] > 0 || self.ns[i] > 0 {
                out.push((format!("stops.{}", k.name()), self.stops[i]));
                out.push((format!("ns.{}", k.name()), self.ns[i]));
            }
        }
        out.push(("ns.running".to_string(), self.running_ns));
        for w in Work::ALL {
            let i = w as usize;
            if self.work_calls[i] > 0 {
                out.push((format!("work.{}", w.name()), self.work_calls[i]));
                out.push((format!("work_ns.{}", w.name()), self.work_ns[i]));
            }
        }
        out
    }
}

#[derive(Default)]
struct State {
    on: bool,
    profile: StopProfile,
    /// The stop being handled: its kind and when waitpid reported it.
    open: Option<(StopKind, Instant)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// Start profiling this thread's stops from zero.
pub fn reset() {
    STATE.with(|s| {
        *s.borrow_mut() = State {
            on: true,
            ..State::default()
        }
    });
}

/// Close the stop being handled and return the counters; profiling stops.
pub fn take() -> StopProfile {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        close(&mut s, Instant::now());
        s.on = false;
        std::mem::take(&mut s.profile)
    })
}

/// The counters so far (the stop being handled not yet included).
pub fn snapshot() -> StopProfile {
    STATE.with(|s| s.borrow().profile.clone())
}

fn close(s: &mut State, now: Instant) {
    if let Some((k, at)) = s.open.take() {
        s.profile.ns[k as usize] += ns(now.saturating_duration_since(at));
    }
}

/// Called by the waits before waitpid: the stop being handled is done.
pub(crate) fn wait_begins() -> Option<Instant> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if !s.on {
            return None;
        }
        let now = Instant::now();
        close(&mut s, now);
        Some(now)
    })
}

/// Called by the waits after waitpid (`began` from [`wait_begins`]): a stop was reported.
pub(crate) fn wait_ended(began: Option<Instant>, stop: Option<&Stop>) {
    let Some(began) = began else {
        return;
    };
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let now = Instant::now();
        s.profile.running_ns += ns(now.saturating_duration_since(began));
        if let Some(stop) = stop {
            let k = StopKind::of(stop);
            s.profile.stops[k as usize] += 1;
            s.open = Some((k, now));
        }
    })
}

/// Re-tag the stop being handled (the one the last wait reported).
pub fn classify(kind: StopKind) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if let Some((old, at)) = s.open {
            if old != kind {
                s.profile.stops[old as usize] -= 1;
                s.profile.stops[kind as usize] += 1;
                s.open = Some((kind, at));
            }
        }
    })
}

/// Count a stop that no wait of ours reported (the spawn's exec stop) and start handling it.
pub fn count_stop(kind: StopKind) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if !s.on {
            return;
        }
        let now = Instant::now();
        close(&mut s, now);
        s.profile.stops[kind as usize] += 1;
        s.open = Some((kind, now));
    })
}

/// Time a piece of work.
pub fn work<T>(w: Work, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let r = f();
    let d = ns(t0.elapsed());
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.on {
            s.profile.work_calls[w as usize] += 1;
            s.profile.work_ns[w as usize] += d;
        }
    });
    r
}
