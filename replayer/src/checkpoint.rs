//! Checkpoints: stopped copies of the replayed process, so that going back replays from the
//! nearest earlier one instead of from the trace's start. A checkpoint is taken where every
//! thread is parked (event N next), the main thread at a seccomp stop and every other living
//! thread at one too or in user code (preempted, or new): the main thread forks there
//! (`Task::fork_at_seccomp_stop`), and the copy stays stopped, never run. A fork copies one
//! thread: the others' registers, vector state and signal masks are kept beside the copy, and
//! going back re-creates them in a new copy (`Task::clone_thread_at_seccomp_stop`), so a
//! checkpoint serves any number of times. Not checkpointed: a process with shared writable
//! mappings (a copy would share them), or a thread at a signal, rdtsc or exec stop, or with
//! signals pending in the kernel (a copy would not have them): going back then starts from an
//! earlier checkpoint, or a new process.
//!
//! What a re-created thread does not get back: its alternate signal stack and robust futex
//! list (kernel state that only matters if a signal is delivered on the alternate stack, or
//! the thread dies holding a robust mutex).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracee::points::{Passes, Points};
use tracee::thread_state::ThreadState;
use tracee::{Regs, Task};

use crate::error::Result;
use crate::mmap::OpenFiles;
use crate::reverse::History;
use crate::session::ReplaySession;
use crate::thread::{Parked, Thread};

/// Replay time between two checkpoints.
const SPACING: Duration = Duration::from_millis(100);
/// At most this many checkpoints are kept (beyond, every other one is dropped).
const MAX: usize = 32;

/// A thread of the process other than the main one, as a checkpoint keeps it.
struct SavedThread {
    tid: i32,
    /// At a seccomp stop (its registers are the call's entry), else ready in user code.
    at_syscall: bool,
    state: ThreadState,
    passes: Passes,
    at_chaos_point: bool,
    clear_tid: u64,
}

/// A stopped copy of the process, with what the replayer knew of it then.
pub(crate) struct Checkpoint {
    /// Every thread parked, this event next.
    pub event: u64,
    /// The copy's one thread, the main thread, at a seccomp stop with these registers.
    task: Task,
    regs: Regs,
    passes: Passes,
    clear_tid: u64,
    /// The other living threads, to re-create; those that ended.
    others: Vec<SavedThread>,
    ended: BTreeMap<i32, pack::ExitStatus>,
    points: Points,
    open_files: OpenFiles,
    history: History,
}

impl Drop for Checkpoint {
    fn drop(&mut self) {
        self.task.kill();
        while let Ok(Some((_, stop))) = tracee::stop::wait(Some(self.task.tid)) {
            if matches!(stop, tracee::Stop::Exited(_) | tracee::Stop::Killed { .. }) {
                break;
            }
        }
    }
}

/// The checkpoints of a replay, oldest first.
#[derive(Default)]
pub(crate) struct Checkpoints {
    pub enabled: bool,
    list: Vec<Checkpoint>,
    last: Option<Instant>,
}

/// How far back a checkpoint must be.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Before {
    /// At or before this event.
    Event(u64),
    /// Before this segment started.
    Segment(u64),
}

impl Checkpoints {
    fn latest(&self, before: Before) -> Option<usize> {
        self.list.iter().rposition(|c| match before {
            Before::Event(n) => c.event <= n,
            Before::Segment(s) => c.history.segment < s,
        })
    }

    fn keep(&mut self, c: Checkpoint) {
        let at = self.list.partition_point(|x| x.event < c.event);
        self.list.insert(at, c);
        if self.list.len() > MAX {
            // Thin out: every other one, the first and the newest kept.
            let mut i = 0;
            let n = self.list.len();
            self.list.retain(|_| {
                i += 1;
                i == 1 || i == n || i % 2 == 1
            });
        }
    }
}

/// Whether the process has a shared writable mapping (a forked copy would share it).
fn shares_writable_memory(pid: i32) -> bool {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return true;
    };
    maps.lines().any(|l| {
        let perms = l.split_whitespace().nth(1).unwrap_or("");
        perms.contains('w') && perms.ends_with('s')
    })
}

impl ReplaySession {
    /// Checkpoints from now on (a debugger's replay; autopilot needs none).
    pub fn enable_checkpoints(&mut self) {
        self.checkpoints.enabled = true;
        self.keep_events();
    }

    /// The checkpoints kept now, oldest first: each one's event and its number of threads.
    pub fn checkpoint_list(&self) -> Vec<(u64, usize)> {
        self.checkpoints
            .list
            .iter()
            .map(|c| (c.event, 1 + c.others.len()))
            .collect()
    }

    /// At an event boundary (no thread running): take a checkpoint if one is due and the
    /// process can be copied. One is due every `SPACING` of replay, and on the way back to a
    /// segment (`History::halt_at_segment`), just before it starts, if none is there yet: the
    /// debugger is going back inside it, and likely to again.
    pub(crate) fn maybe_checkpoint(&mut self) -> Result<()> {
        let cps = &self.checkpoints;
        let segment = self.history.segment;
        let before_target = self.history.halt_at_segment == Some(segment + 1)
            && !cps.list.iter().any(|c| c.history.segment == segment);
        if !cps.enabled
            || self.running.is_some()
            || (cps.last.is_some_and(|t| t.elapsed() < SPACING) && !before_target)
            || cps.list.iter().any(|c| c.event == self.next_no)
        {
            return Ok(());
        }
        let Some(main) = self.threads.get(&self.leader) else {
            return Ok(());
        };
        let Parked::AtSyscall(regs) = main.parked else {
            return Ok(());
        };
        let copyable = self.threads.values().all(|t| {
            t.deferred.is_empty() && matches!(t.parked, Parked::AtSyscall(_) | Parked::Ready)
        });
        if !copyable || shares_writable_memory(main.task.tgid.as_raw()) {
            return Ok(());
        }
        let mut others = Vec::new();
        for (&k, t) in &self.threads {
            if k == self.leader {
                continue;
            }
            let (at_syscall, regs) = match t.parked {
                Parked::AtSyscall(r) => (true, r),
                _ => (false, t.task.regs()?),
            };
            others.push(SavedThread {
                tid: k,
                at_syscall,
                state: t.task.capture_state(regs)?,
                passes: t.passes.clone(),
                at_chaos_point: t.at_chaos_point,
                clear_tid: t.clear_tid,
            });
        }
        let main = &self.threads[&self.leader];
        let task = main.task.fork_at_seccomp_stop(&regs, main.clear_tid)?;
        let mut points = self.points.clone();
        points.forget_threads();
        let c = Checkpoint {
            event: self.next_no,
            task,
            regs,
            passes: main.passes.clone(),
            clear_tid: main.clear_tid,
            others,
            ended: self.ended.clone(),
            points,
            open_files: self.open_files.clone(),
            history: self.history.clone(),
        };
        if self.debug {
            eprintln!(
                "[replay] checkpoint at event {} ({} threads)",
                c.event,
                1 + c.others.len()
            );
        }
        self.checkpoints.keep(c);
        self.checkpoints.last = Some(Instant::now());
        Ok(())
    }

    /// Go back to the latest checkpoint that is `before` (in a new copy of it), else
    /// to the start of the trace in a new process. Returns the checkpoint's event, if one was
    /// used. The debugger's breakpoints and watchpoints are for the caller to arm, as after a
    /// respawn.
    pub(crate) fn rewind(&mut self, before: Before) -> Result<Option<u64>> {
        let Some(i) = self.checkpoints.latest(before) else {
            self.respawn()?;
            return Ok(None);
        };
        let echoed = self.echoed_before.max(self.next_no);
        self.kill();
        let c = &self.checkpoints.list[i];
        let task = c.task.fork_at_seccomp_stop(&c.regs, c.clear_tid)?;
        let mut threads = BTreeMap::new();
        for s in &c.others {
            let t = task.clone_thread_at_seccomp_stop(&c.regs, s.clear_tid)?;
            t.load_state(&s.state)?;
            let parked = if s.at_syscall {
                t.reenter_syscall(&s.state.regs)?;
                Parked::AtSyscall(s.state.regs)
            } else {
                t.set_regs(&s.state.regs)?;
                Parked::Ready
            };
            let mut t = Thread::new(t, parked);
            t.passes = s.passes.clone();
            t.at_chaos_point = s.at_chaos_point;
            t.clear_tid = s.clear_tid;
            threads.insert(s.tid, t);
        }
        let leader = self.leader;
        let mut t = Thread::new(task, Parked::AtSyscall(c.regs));
        t.passes = c.passes.clone();
        t.clear_tid = c.clear_tid;
        threads.insert(leader, t);
        let mut points = c.points.clone();
        // As after a respawn: none of the debugger's points armed.
        points.drop_debugger_points(&mut threads.get_mut(&leader).expect("inserted").task)?;
        self.threads = threads;
        self.ended = c.ended.clone();
        self.next_no = c.event;
        self.points = points;
        self.open_files = c.open_files.clone();
        // Where the caller is heading stays (a checkpoint taken on the way to a segment must
        // not make a later run halt there: a continue then stopped at that segment's start).
        let halt = self.history.halt_at_segment;
        self.history = c.history.clone();
        self.history.halt_at_segment = halt;
        // The trace from the checkpoint's event on (the exec is event 0), from the events
        // kept since checkpoints began.
        let event = c.event;
        self.reread_from(event);
        self.running = None;
        self.echoed_before = echoed;
        self.advance()?;
        self.user.at_breakpoint = None;
        self.user.step = None;
        self.user.signal_reported = None;
        Ok(Some(self.next_no))
    }
}
