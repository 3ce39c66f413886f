//! Checkpoints: stopped copies of the replayed process, so that going back replays from the
//! nearest earlier one instead of from the trace's start. A checkpoint is taken where every
//! thread is parked (event N next) and the process has one living thread, parked at a seccomp
//! stop: that thread forks there (`Task::fork_at_seccomp_stop`), and the copy stays stopped,
//! never run. Going back forks the copy again and goes on from it, so a checkpoint serves any
//! number of times. Processes with several threads, or with shared writable mappings (a copy
//! would share them), are not checkpointed: going back then starts a new process, as before.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracee::points::{Passes, Points};
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

/// A stopped copy of the process, with what the replayer knew of it then.
pub(crate) struct Checkpoint {
    /// Every thread parked, this event next.
    pub event: u64,
    /// The copy's one thread, at a seccomp stop with these registers.
    task: Task,
    regs: Regs,
    /// Its recorded tid, and its threads' state (the dead ones too).
    tid: i32,
    passes: Passes,
    deferred: Vec<(i32, Vec<u8>)>,
    dead: Vec<(i32, Parked)>,
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

    pub fn len(&self) -> usize {
        self.list.len()
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
    }

    /// The number of checkpoints kept now.
    pub fn checkpoint_count(&self) -> usize {
        self.checkpoints.len()
    }

    /// At an event boundary (no thread running): take a checkpoint if one is due and the
    /// process can be copied.
    pub(crate) fn maybe_checkpoint(&mut self) -> Result<()> {
        let cps = &self.checkpoints;
        if !cps.enabled
            || self.running.is_some()
            || cps.last.is_some_and(|t| t.elapsed() < SPACING)
            || cps.list.iter().any(|c| c.event == self.next_no)
        {
            return Ok(());
        }
        let mut living = self
            .threads
            .iter()
            .filter(|(_, t)| !matches!(t.parked, Parked::Dead(_)));
        let (Some((&tid, t)), None) = (living.next(), living.next()) else {
            return Ok(());
        };
        let Parked::AtSyscall(regs) = t.parked else {
            return Ok(());
        };
        if shares_writable_memory(t.task.tgid.as_raw()) {
            return Ok(());
        }
        let task = t.task.fork_at_seccomp_stop(&regs)?;
        let dead = self
            .threads
            .iter()
            .filter(|(&k, _)| k != tid)
            .map(|(&k, t)| (k, t.parked))
            .collect();
        let t = &self.threads[&tid];
        let mut points = self.points.clone();
        points.forget_threads();
        let c = Checkpoint {
            event: self.next_no,
            task,
            regs,
            tid,
            passes: t.passes.clone(),
            deferred: t.deferred.clone(),
            dead,
            points,
            open_files: self.open_files.clone(),
            history: self.history.clone(),
        };
        if self.debug {
            eprintln!("[replay] checkpoint at event {}", c.event);
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
        let task = c.task.fork_at_seccomp_stop(&c.regs)?;
        // The trace from the checkpoint's event on (the exec is event 0).
        let mut reader = pack::TraceReader::open(&self.opts.trace)?;
        for _ in 0..c.event {
            reader.next_event()?;
        }
        let mut threads = BTreeMap::new();
        for (k, parked) in &c.dead {
            let mut dead = Thread::new(Task::new(task.tid, task.tgid), *parked);
            dead.passes = Passes::default();
            threads.insert(*k, dead);
        }
        let mut t = Thread::new(task, Parked::AtSyscall(c.regs));
        t.passes = c.passes.clone();
        t.deferred = c.deferred.clone();
        threads.insert(c.tid, t);
        let mut points = c.points.clone();
        // As after a respawn: none of the debugger's points armed.
        points.drop_debugger_points(&mut threads.get_mut(&c.tid).expect("inserted").task)?;
        self.reader = reader;
        self.threads = threads;
        self.next_no = c.event;
        self.points = points;
        self.open_files = c.open_files.clone();
        self.history = c.history.clone();
        self.running = None;
        self.echoed_before = echoed;
        self.advance()?;
        self.user.at_breakpoint = None;
        self.user.step = None;
        self.user.signal_reported = None;
        Ok(Some(self.next_no))
    }
}
