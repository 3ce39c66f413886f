//! The replay as a stepper (rr's and gdbstub's shape): `resume(command, direction)` runs and
//! says why it stopped. A debugger's breakpoints and watchpoints go through the points layer;
//! going back is reverse.rs.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pack::EventKind;
pub use tracee::points::WatchKind;
use tracee::points::{Kind, Watch};

use crate::error::{Error, Result};
use crate::events::ends_history;
use crate::reverse::{Moment, Op, Trigger, Triggers};
use crate::run::Halt;
use crate::session::ReplaySession;
pub use crate::thread::RecordedTid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunCommand {
    /// Run until a breakpoint, a watchpoint, a recorded signal, the end (forward) or the
    /// start (reverse) of the trace.
    Continue,
    /// Execute (or un-execute) one instruction of this thread. Other threads may run first
    /// when the trace says so.
    Step(RecordedTid),
    /// Go to the moment just before event N is replayed, N as `when()` shows.
    ToEvent(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// At `addr` (a debugger breakpoint), before executing it.
    Breakpoint { tid: RecordedTid, addr: u64 },
    /// A watched range was accessed; `addr` is the watchpoint's address. Forward: stopped
    /// after the accessing instruction. Reverse: stopped before it.
    Watchpoint {
        tid: RecordedTid,
        addr: u64,
        kind: WatchKind,
    },
    /// One instruction done (`Step`).
    Stepped { tid: RecordedTid },
    /// The program is about to receive this recorded signal.
    Signal { tid: RecordedTid, signo: i32 },
    /// `ToEvent` reached.
    Event { tid: RecordedTid, event: u64 },
    /// Forward: the trace ends here (the process stands at its last event, still readable).
    HistoryEnd { tid: RecordedTid },
    /// Reverse: the start of the trace.
    HistoryStart { tid: RecordedTid },
    /// The interrupt handle was set while running.
    Interrupted { tid: RecordedTid },
}

/// A debugger's single step in progress.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepRequest {
    pub tid: i32,
    /// Its instruction was started (a step into a syscall ends when the thread resumes).
    pub issued: bool,
}

/// How triggers (breakpoint and watchpoint hits) are taken.
#[derive(Default)]
pub(crate) enum Mode {
    /// None stops (autopilot, and the way to a moment).
    #[default]
    Quiet,
    /// The first one stops (a debugger's continue).
    Stop,
    /// The `n`th of `set` in the segment stops (the way to a moment: one op).
    Count { set: Triggers, n: u64, seen: u64 },
    /// None stops; each is noted (going back: reverse.rs).
    Collect(crate::reverse::Collector),
}

/// What the debugger asked for.
#[derive(Default)]
pub(crate) struct User {
    pub breakpoints: BTreeSet<u64>,
    watches: Vec<Watch>,
    pub step: Option<StepRequest>,
    /// Stopped at this debugger breakpoint, before its instruction.
    pub at_breakpoint: Option<u64>,
    /// The thread of the last stop.
    pub current: Option<i32>,
    pub mode: Mode,
    /// Recorded signals stop (a debugger's continue), before they are delivered.
    pub report_signals: bool,
    /// The event whose signal was reported last (it is delivered on the next resume).
    pub signal_reported: Option<u64>,
    /// A watched range the replayer itself wrote for an emulated syscall of the thread about
    /// to start its segment: a debugger's continue stops at that segment's start.
    pub written: Option<Watch>,
}

impl User {
    pub fn stepping(&self, tid: i32) -> bool {
        self.step.is_some_and(|s| s.tid == tid)
    }

    pub fn step_issued(&mut self) {
        if let Some(s) = self.step.as_mut() {
            s.issued = true;
        }
    }

    pub fn step_done_at_start(&self, tid: i32) -> bool {
        self.step.is_some_and(|s| s.tid == tid && s.issued)
    }

    pub fn segment_started(&mut self) {
        self.at_breakpoint = None;
        match &mut self.mode {
            Mode::Count { seen, .. } => *seen = 0,
            Mode::Collect(c) => c.segment_started(),
            _ => {}
        }
    }

    /// The triggers armed for the debugger now.
    pub fn triggers(&self) -> Triggers {
        Triggers {
            breaks: self.breakpoints.clone(),
            watches: self.watches.clone(),
        }
    }
}

impl ReplaySession {
    /// Run forward or back; say why it stopped.
    pub fn resume(&mut self, cmd: RunCommand, dir: Direction) -> Result<StopReason> {
        self.interrupt.store(false, Ordering::Relaxed);
        let r = match dir {
            Direction::Forward => self.resume_forward(cmd),
            Direction::Reverse => self.resume_reverse(cmd),
        }?;
        self.user.current = Some(stop_tid(&r).0);
        Ok(r)
    }

    fn resume_forward(&mut self, cmd: RunCommand) -> Result<StopReason> {
        match cmd {
            RunCommand::Continue => {
                self.user.mode = Mode::Stop;
                self.user.report_signals = true;
                let r = self.forward(None);
                self.user.mode = Mode::Quiet;
                self.user.report_signals = false;
                r
            }
            RunCommand::Step(tid) => self.step_forward(tid),
            RunCommand::ToEvent(n) => self.forward(Some(n)),
        }
    }

    /// One instruction of `tid`.
    pub(crate) fn step_forward(&mut self, tid: RecordedTid) -> Result<StopReason> {
        if !self.threads.contains_key(&tid.0) {
            return Err(Error::Unreplayable(format!(
                "thread {} does not exist",
                tid.0
            )));
        }
        self.user.step = Some(StepRequest {
            tid: tid.0,
            issued: false,
        });
        let mode = std::mem::replace(&mut self.user.mode, Mode::Stop);
        let r = self.forward(None);
        self.user.mode = mode;
        self.user.step = None;
        r
    }

    /// Run until a stop, or until event `to` is next.
    pub(crate) fn forward(&mut self, to: Option<u64>) -> Result<StopReason> {
        loop {
            let halt = if self.running.is_some() {
                self.continue_running()?
            } else {
                let current = RecordedTid(self.user.current.unwrap_or(self.leader));
                let Some(ev) = self.next.clone() else {
                    return Ok(StopReason::HistoryEnd { tid: current });
                };
                let tid = RecordedTid(ev.tid);
                if to.is_some_and(|n| self.next_no >= n) {
                    return Ok(StopReason::Event {
                        tid,
                        event: self.next_no,
                    });
                }
                if ends_history(&ev) {
                    return Ok(StopReason::HistoryEnd { tid });
                }
                if let EventKind::Signal(s) = &ev.kind {
                    if self.user.report_signals
                        && self.user.signal_reported != Some(self.next_no)
                        && self.threads.contains_key(&ev.tid)
                    {
                        self.user.signal_reported = Some(self.next_no);
                        return Ok(StopReason::Signal {
                            tid,
                            signo: s.signo,
                        });
                    }
                }
                if self.interrupt.swap(false, Ordering::Relaxed) {
                    return Ok(StopReason::Interrupted { tid });
                }
                self.maybe_checkpoint()?;
                self.step_event(ev)?
            };
            match halt {
                Halt::Parked => {}
                Halt::User(r) => return Ok(r),
                Halt::SegmentStart => {
                    let tid = RecordedTid(self.running.as_ref().map_or(self.leader, |r| r.tid));
                    return Ok(StopReason::Stepped { tid });
                }
                Halt::Exited(_) => {
                    let tid = RecordedTid(self.leader);
                    return Ok(StopReason::HistoryEnd { tid });
                }
            }
        }
    }

    /// Emulated syscall event `event` of `tid` wrote `writes` (the replayer did, not an
    /// instruction): a watchpoint on them is hit there. Going back, the hit's moment is that
    /// event, before the write; going forward, the start of the thread's next segment, after it.
    pub(crate) fn watched_write(&mut self, tid: i32, event: u64, writes: &[pack::MemWrite]) {
        let hit = |watches: &[Watch]| {
            watches.iter().copied().find(|w| {
                w.kind != WatchKind::Read
                    && writes
                        .iter()
                        .any(|m| m.addr < w.addr + w.len && w.addr < m.addr + m.data.len() as u64)
            })
        };
        if self.debug {
            if let Some(w) = hit(&self.user.watches) {
                eprintln!("[replay] event {event} writes watched {w:?}");
            }
        }
        match &mut self.user.mode {
            Mode::Stop => self.user.written = hit(&self.user.watches),
            Mode::Collect(c) => {
                if let Some(w) = hit(&c.u.watches) {
                    c.best = Some((
                        Moment::Event(event),
                        StopReason::Watchpoint {
                            tid: RecordedTid(tid),
                            addr: w.addr,
                            kind: w.kind,
                        },
                    ));
                }
            }
            _ => {}
        }
    }

    /// A trigger on the way: whether it stops the run (and the op that reached it is noted).
    pub(crate) fn trigger(&mut self, tid: i32, t: Trigger) -> Result<bool> {
        if self.user.stepping(tid) {
            // A step stops anyway; a breakpoint at the stepped instruction does not stop it
            // (the instruction has not run), a watchpoint does (it has).
            if matches!(t, Trigger::Watch(_)) {
                self.history.push_step();
                return Ok(true);
            }
            return Ok(false);
        }
        let segment = self.history.segment;
        let ops = self.history.ops.clone();
        match &mut self.user.mode {
            Mode::Quiet => Ok(false),
            Mode::Stop => {
                let set = self.user.triggers();
                self.history.ops.push(Op::RunTo { set, n: 1 });
                Ok(true)
            }
            Mode::Count { set, n, seen } => {
                if !set.contains(&t) {
                    return Ok(false);
                }
                *seen += 1;
                if *seen < *n {
                    return Ok(false);
                }
                let op = Op::RunTo {
                    set: set.clone(),
                    n: *n,
                };
                self.history.ops.push(op);
                Ok(true)
            }
            Mode::Collect(c) => {
                if self.debug {
                    eprintln!(
                        "[replay] collecting: {t:?} in {tid}, segment {segment}, ops {ops:?}"
                    );
                }
                let pc = self.threads.get(&tid).and_then(|t| t.task.regs().ok());
                Ok(c.on_trigger(segment, &ops, tid, t, pc.map(|r| r.pc())))
            }
        }
    }

    /// Living threads, in the order of their recorded ids.
    pub fn threads(&self) -> Vec<RecordedTid> {
        self.threads.iter().map(|(&k, _)| RecordedTid(k)).collect()
    }

    /// The thread of the last stop.
    pub fn current_thread(&self) -> RecordedTid {
        RecordedTid(
            self.user
                .current
                .filter(|t| self.threads.contains_key(t))
                .or_else(|| self.running.as_ref().map(|r| r.tid))
                .unwrap_or(self.leader),
        )
    }

    fn known(&mut self, tid: RecordedTid) -> Result<&mut tracee::Task> {
        self.threads
            .get_mut(&tid.0)
            .map(|t| &mut t.task)
            .ok_or_else(|| Error::Unreplayable(format!("thread {} does not exist", tid.0)))
    }

    pub fn regs(&mut self, tid: RecordedTid) -> Result<tracee::Regs> {
        Ok(self.known(tid)?.regs()?)
    }

    pub fn set_regs(&mut self, tid: RecordedTid, regs: &tracee::Regs) -> Result<()> {
        Ok(self.known(tid)?.set_regs(regs)?)
    }

    pub fn fpregs(&mut self, tid: RecordedTid) -> Result<libc::user_fpregs_struct> {
        Ok(self.known(tid)?.fpregs()?)
    }

    /// Memory as the program sees it (our patches hidden). Returns the bytes read.
    pub fn read_memory(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        let leader = self.any_task()?;
        let got = leader.read_prefix(tracee::RemotePtr::new(addr), buf.len());
        buf[..got.len()].copy_from_slice(&got);
        self.points.hide(addr, &mut buf[..got.len()]);
        Ok(got.len())
    }

    /// A write from the debugger (the replay may diverge after it). Bytes under our patches
    /// become their new original bytes.
    pub fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        let task = self.any_task()?;
        let mut patched = data.to_vec();
        let mut current = vec![0u8; data.len()];
        task.read_bytes(tracee::RemotePtr::new(addr), &mut current)?;
        // Keep our int3s in place: where memory holds 0xcc of ours, keep it.
        let mut hidden = current.clone();
        self.points.hide(addr, &mut hidden);
        for i in 0..data.len() {
            if hidden[i] != current[i] {
                patched[i] = current[i];
            }
        }
        let task = self.any_task()?;
        Ok(task.write_bytes(tracee::RemotePtr::new(addr), &patched)?)
    }

    fn any_task(&mut self) -> Result<&mut tracee::Task> {
        let key = self
            .user
            .current
            .filter(|t| self.threads.contains_key(t))
            .or_else(|| self.threads.keys().next().copied())
            .ok_or_else(|| Error::Unreplayable("the process has ended".into()))?;
        Ok(&mut self.threads.get_mut(&key).expect("present").task)
    }

    pub fn add_breakpoint(&mut self, addr: u64) -> Result<()> {
        let task = self.any_task_key()?;
        let t = self.threads.get_mut(&task).expect("present");
        self.points.add(&mut t.task, addr, Kind::Debugger)?;
        self.user.breakpoints.insert(addr);
        Ok(())
    }

    pub fn remove_breakpoint(&mut self, addr: u64) -> Result<()> {
        self.user.breakpoints.remove(&addr);
        let task = self.any_task_key()?;
        let t = self.threads.get_mut(&task).expect("present");
        self.points.remove(&mut t.task, addr, Kind::Debugger)?;
        Ok(())
    }

    fn any_task_key(&self) -> Result<i32> {
        self.user
            .current
            .filter(|t| self.threads.contains_key(t))
            .or_else(|| self.threads.keys().next().copied())
            .ok_or_else(|| Error::Unreplayable("the process has ended".into()))
    }

    /// A hardware watchpoint (1, 2, 4 or 8 bytes, aligned).
    pub fn add_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> Result<()> {
        let w = Watch { addr, len, kind };
        self.points.add_watch(w)?;
        if !self.user.watches.contains(&w) {
            self.user.watches.push(w);
        }
        Ok(())
    }

    pub fn remove_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> Result<()> {
        let w = Watch { addr, len, kind };
        self.user.watches.retain(|x| *x != w);
        self.points.remove_watch(w);
        Ok(())
    }

    /// The current event number: the next event to replay (`ToEvent` and `-g` take it).
    pub fn when(&self) -> u64 {
        self.next_no
    }

    /// The number of events in the trace (the last is the exit).
    pub fn event_count(&self) -> u64 {
        *self.event_count.get_or_init(|| {
            pack::TraceReader::open(&self.opts.trace)
                .and_then(pack::summarize)
                .map_or(0, |s| s.events)
        })
    }

    /// The replayed process's real pid.
    pub fn real_pid(&self) -> i32 {
        self.threads
            .get(&self.leader)
            .or_else(|| self.threads.values().next())
            .map_or(0, |t| t.task.tgid.as_raw())
    }

    /// The executable to give a debugger (the stored copy).
    pub fn executable(&self) -> std::path::PathBuf {
        crate::program::executable(&self.reader)
    }

    pub fn interrupt_handle(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// Where the replay is now, as a way to come back to it.
    pub(crate) fn moment(&self) -> Moment {
        if self.running.is_some() {
            Moment::Segment {
                segment: self.history.segment,
                ops: self.history.ops.clone(),
            }
        } else {
            Moment::Event(self.next_no)
        }
    }
}

/// The thread a stop names.
pub(crate) fn stop_tid(r: &StopReason) -> RecordedTid {
    match *r {
        StopReason::Breakpoint { tid, .. }
        | StopReason::Watchpoint { tid, .. }
        | StopReason::Stepped { tid }
        | StopReason::Signal { tid, .. }
        | StopReason::Event { tid, .. }
        | StopReason::HistoryEnd { tid }
        | StopReason::HistoryStart { tid }
        | StopReason::Interrupted { tid } => tid,
    }
}
