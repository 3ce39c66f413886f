//! A thread's run between two parks (a *segment*): resumed after its event, it runs alone to its
//! next stop. Our own traps on the way (chaos points, spin hints, a sought position's debug
//! register) are handled here; a debugger's breakpoint, watchpoint or single step halts the run
//! in the middle, and the next `resume` goes on from there.

use pack::{Event, EventKind, ExitStatus};
use tracee::points::{Points, Trap};
use tracee::{syscalls, StepOver, Stop};

use crate::error::Result;
use crate::positions::{needs_seek, Seek, SEEK_LIMIT};
use crate::reverse::Trigger;
use crate::session::ReplaySession;
use crate::stepper::StopReason;
use crate::thread::{Parked, RecordedTid};

/// Why running stopped.
pub(crate) enum Halt {
    /// The thread parked at its next stop: the next event goes on.
    Parked,
    /// A stop the debugger sees.
    User(StopReason),
    /// A segment asked for (`History::halt_at_segment`) is about to start.
    SegmentStart,
    /// The process ended.
    Exited(ExitStatus),
}

/// The thread running its segment.
pub(crate) struct Run {
    pub tid: i32,
    /// The signal to deliver when it is next resumed.
    pub sig: Option<i32>,
    /// The recorded position it is to be parked at, when that takes a debug register.
    pub seek: Option<Seek>,
    /// Going back: run to the `left`th arrival at `pc` from here (in place of so many single
    /// steps, reverse.rs), with a debug register.
    pub to_pc: Option<ToPc>,
}

/// Arrivals at an instruction still to come before a run stops there.
pub(crate) struct ToPc {
    pub pc: u64,
    pub left: u64,
}

/// What one stop means for the run.
enum Flow {
    Go,
    Parked,
    User(StopReason),
}

impl ReplaySession {
    /// Move past the silent syscalls of `tid` at the head of the trace: they come before its
    /// next stop in program order, and the kernel runs them without a stop.
    pub(crate) fn skip_silent(&mut self, tid: i32) -> Result<()> {
        while matches!(&self.next, Some(Event { tid: t, kind: EventKind::Syscall(sc) })
            if *t == tid && syscalls::lookup(sc.no as i64).is_some_and(|r| r.is_silent(&sc.args)))
        {
            self.consume()?;
        }
        Ok(())
    }

    /// Resume `tid` (delivering `sig`) after its event: a new segment. If the trace says it is
    /// preempted or signalled next, arrange that first.
    pub(crate) fn start_run(&mut self, tid: i32, sig: Option<i32>) -> Result<Halt> {
        self.skip_silent(tid)?;
        if std::mem::take(&mut self.thread(tid)?.at_chaos_point) {
            let pc = self.task(tid)?.regs()?.pc();
            if self.points.trap(pc + 1).is_some() {
                let t = self.threads.get_mut(&tid).expect("the thread exists");
                match self.points.step_over(&mut t.task, pc)? {
                    StepOver::Done => {}
                    StepOver::Signal(s) => {
                        self.park(tid, Stop::Signal(s))?;
                        return Ok(Halt::Parked);
                    }
                    StepOver::Gone(stop) => {
                        self.park(tid, stop)?;
                        return Ok(Halt::Parked);
                    }
                }
            }
        }
        if let Some(Event {
            tid: t,
            kind: EventKind::Signal(s),
        }) = &self.next
        {
            if *t == tid && !s.synchronous {
                let signo = s.signo;
                self.task(tid)?.send_signal(signo)?;
            }
        }
        let seek = match &self.next {
            Some(Event {
                tid: t,
                kind: EventKind::Schedule { position: Some(p) },
            }) if *t == tid && needs_seek(self, p) => match self.seek_start(tid, p.clone())? {
                None => return Ok(Halt::Parked),
                some => some,
            },
            _ => None,
        };
        self.history.segment_started(self.next_no, tid);
        self.user.segment_started();
        self.running = Some(Run {
            tid,
            sig,
            seek,
            to_pc: None,
        });
        let written = self.user.written.take();
        if self.history.halt_at_segment == Some(self.history.segment) {
            return Ok(Halt::SegmentStart);
        }
        if let Some(w) = written {
            // The moment is the segment's start (no op: nothing ran in it yet); a step into
            // the call ends there too.
            return Ok(Halt::User(StopReason::Watchpoint {
                tid: RecordedTid(tid),
                addr: w.addr,
                kind: w.kind,
            }));
        }
        if self.user.step_done_at_start(tid) {
            // The step ran into the thread's park (a syscall): it is done when the thread
            // is resumed.
            return Ok(Halt::User(StopReason::Stepped {
                tid: RecordedTid(tid),
            }));
        }
        self.drive()
    }

    /// Go on with the running thread, from a debugger's stop in its segment if there was one.
    pub(crate) fn continue_running(&mut self) -> Result<Halt> {
        let tid = self.running.as_ref().expect("a thread is running").tid;
        if let Some(addr) = self.user.at_breakpoint.take() {
            // Stopped at a debugger breakpoint before its instruction: what the trap would
            // have done besides the stop is done now.
            if self.task(tid)?.regs()?.pc() == addr {
                if let Some(trap) = self.points.trap(addr + 1) {
                    let stepping = self.user.stepping(tid);
                    if stepping {
                        self.user.step_issued();
                    }
                    match self.on_int3(tid, trap, stepping, true)? {
                        Flow::Go => {}
                        Flow::Parked => {
                            self.running = None;
                            return Ok(Halt::Parked);
                        }
                        Flow::User(r) => return Ok(Halt::User(r)),
                    }
                }
            }
        }
        self.drive()
    }

    /// Run the running thread until it parks or a debugger's stop comes.
    pub(crate) fn drive(&mut self) -> Result<Halt> {
        loop {
            let run = self.running.as_mut().expect("a thread is running");
            let tid = run.tid;
            let sig = run.sig.take();
            let step_first = run
                .seek
                .as_mut()
                .is_some_and(|s| std::mem::take(&mut s.step_first));
            let seek_pc: Vec<u64> = run.seek.as_ref().map(|s| s.p.pc).into_iter().collect();
            let mut armed = seek_pc.clone();
            armed.extend(run.to_pc.as_ref().map(|t| t.pc));
            let stepping = self.user.stepping(tid);
            let t = self
                .threads
                .get_mut(&tid)
                .expect("the running thread exists");
            let step_from = if stepping || step_first {
                let pc = t.task.regs()?.pc();
                self.points
                    .arm(&t.task, if step_first { &[] } else { &seek_pc })?;
                if stepping {
                    self.user.step_issued();
                }
                t.task.single_step(sig)?;
                Some(pc)
            } else {
                self.points.arm(&t.task, &armed)?;
                t.task.cont(sig)?;
                None
            };
            let real = t.task.tid;
            let stop = loop {
                if let Some((_, stop)) = tracee::stop::wait(Some(real))? {
                    break stop;
                }
            };
            if seek_pc.is_empty() {
                self.stops += 1;
            } else {
                self.seek_stops += 1;
            }
            let cpuid = std::sync::Arc::clone(&self.cpuid);
            if cpuid.emulate(self.task(tid)?, stop)? {
                // A faulting `cpuid`, answered as the recording CPU did: it ran (a step).
                if step_first && !stepping {
                    continue;
                }
                if stepping {
                    return Ok(Halt::User(match self.stepped(tid) {
                        Flow::User(r) => r,
                        _ => unreachable!("a step stops"),
                    }));
                }
                continue;
            }
            let flow = if step_first && !stepping {
                if stop != Stop::Signal(libc::SIGTRAP) {
                    return Err(self.diverged(format!(
                        "stopped ({stop:?}) stepping from {:#x}",
                        seek_pc[0]
                    )));
                }
                let t = self
                    .threads
                    .get_mut(&tid)
                    .expect("the running thread exists");
                self.points.debug_hit(&t.task)?;
                Flow::Go
            } else {
                self.on_stop(tid, stop, step_from)?
            };
            match flow {
                Flow::Go => {}
                Flow::Parked => {
                    self.running = None;
                    return Ok(Halt::Parked);
                }
                Flow::User(r) => return Ok(Halt::User(r)),
            }
        }
    }

    /// A stop of the running thread `tid`; `step_from` is the pc it single-stepped from.
    fn on_stop(&mut self, tid: i32, stop: Stop, step_from: Option<u64>) -> Result<Flow> {
        let stepping = step_from.is_some();
        if stop == Stop::Signal(libc::SIGTRAP) {
            let pc = self.task(tid)?.regs()?.pc();
            // Going back, at the instruction run to: its debug register (not an int3 of ours
            // just before it).
            let mut early = None;
            let to_pc = self.running.as_ref().and_then(|r| {
                let i = usize::from(r.seek.is_some());
                r.to_pc.as_ref().map(|t| (t.pc, i))
            });
            if let Some((at, i)) = to_pc.filter(|&(at, _)| at == pc && !stepping) {
                let t = self
                    .threads
                    .get_mut(&tid)
                    .expect("the running thread exists");
                let hit = self.points.debug_hit(&t.task)?;
                if hit.exec == Some(i) {
                    let run = self.running.as_mut().expect("running");
                    let t = run.to_pc.as_mut().expect("running to a pc");
                    t.left -= 1;
                    if t.left > 0 {
                        return Ok(Flow::Go);
                    }
                    run.to_pc = None;
                    debug_assert_eq!(at, pc);
                    return Ok(Flow::User(StopReason::Stepped {
                        tid: RecordedTid(tid),
                    }));
                }
                early = Some(hit);
            }
            // An int3 of ours ran (a step from a patched address runs it; a step from elsewhere
            // only arrives somewhere).
            let int3 = self
                .points
                .trap(pc)
                .filter(|t| step_from.is_none_or(|from| from == t.addr));
            if let Some(trap) = int3 {
                return self.on_int3(tid, trap, stepping, false);
            }
            let hit = match early {
                Some(h) => h,
                None => {
                    let t = self
                        .threads
                        .get_mut(&tid)
                        .expect("the running thread exists");
                    self.points.debug_hit(&t.task)?
                }
            };
            if hit.exec == Some(0) {
                if let Some(mut seek) = self.running.as_mut().and_then(|r| r.seek.take()) {
                    seek.hits += 1;
                    if self.at_position(tid, &seek)? {
                        self.seek_done(&seek);
                        self.consume()?;
                        return Ok(Flow::Parked);
                    }
                    if seek.hits > SEEK_LIMIT {
                        return Err(self.diverged(format!(
                            "passed {:#x} {} times without the recorded state",
                            seek.p.pc, seek.hits
                        )));
                    }
                    self.running.as_mut().expect("running").seek = Some(seek);
                    return Ok(Flow::Go);
                }
            }
            if let Some(w) = hit.watch {
                if self.trigger(tid, Trigger::Watch(w))? {
                    return Ok(Flow::User(StopReason::Watchpoint {
                        tid: RecordedTid(tid),
                        addr: w.addr,
                        kind: w.kind,
                    }));
                }
            }
            if stepping && (hit.step || hit.watch.is_some()) {
                return Ok(self.stepped(tid));
            }
            if hit.watch.is_some() {
                return Ok(Flow::Go);
            }
        }
        if let Stop::Signal(sig) = stop {
            let t = self.thread(tid)?;
            if let Some(i) = t.deferred.iter().position(|(s, _)| *s == sig) {
                // A signal it blocked when it was made pending, delivered now that it is
                // unblocked: as it first came, at no event (the recorder did the same).
                let (_, info) = t.deferred.remove(i);
                if info.len() == 128 {
                    t.task.set_siginfo_bytes(&info)?;
                }
                self.running.as_mut().expect("running").sig = Some(sig);
                return Ok(Flow::Go);
            }
        }
        if let Some(seek) = self.running.as_ref().and_then(|r| r.seek.as_ref()) {
            let msg = format!(
                "stopped ({stop:?}) before reaching {:#x} in the recorded state ({} hits)",
                seek.p.pc, seek.hits
            );
            return Err(self.diverged(msg));
        }
        if self.debug && stop == Stop::Signal(libc::SIGTRAP) {
            let task = self.task(tid)?;
            let r = task.regs()?;
            let mut b = [0u8; 1];
            let _ = task.read_bytes(tracee::RemotePtr::new(r.pc().wrapping_sub(1)), &mut b);
            eprintln!(
                "[replay] unexplained SIGTRAP in {tid} at {:#x} (byte before {:#x}, eflags {:#x}, stepping {stepping})",
                r.pc(),
                b[0],
                r.0.eflags
            );
        }
        self.park(tid, stop)?;
        Ok(Flow::Parked)
    }

    /// A single step of the debugger's is done.
    fn stepped(&mut self, tid: i32) -> Flow {
        self.history.push_step();
        Flow::User(StopReason::Stepped {
            tid: RecordedTid(tid),
        })
    }

    /// `tid` ran our int3 at `trap.addr` (`resumed`: it stood there after a debugger's stop,
    /// and the trap's other meanings are handled now).
    fn on_int3(&mut self, tid: i32, trap: Trap, stepping: bool, resumed: bool) -> Result<Flow> {
        let addr = trap.addr;
        let rewind = |s: &mut ReplaySession| -> Result<()> {
            let task = s.task(tid)?;
            let mut regs = task.regs()?;
            regs.set_pc(addr);
            task.set_regs(&regs)?;
            Ok(())
        };
        let mut at_addr = resumed;
        if trap.debugger && !resumed {
            rewind(self)?;
            at_addr = true;
            if self.trigger(tid, Trigger::Break(addr))? {
                self.user.at_breakpoint = Some(addr);
                return Ok(Flow::User(StopReason::Breakpoint {
                    tid: RecordedTid(tid),
                    addr,
                }));
            }
        }
        if trap.chaos {
            if !at_addr {
                rewind(self)?;
            }
            let keep = {
                let t = self
                    .threads
                    .get_mut(&tid)
                    .expect("the running thread exists");
                self.points.chaos_hit(&mut t.task, addr)?
            };
            if self.counted_pass(tid, addr)? {
                self.thread(tid)?.at_chaos_point = true;
                return Ok(Flow::Parked);
            }
            if keep || self.points.trap(addr + 1).is_some() {
                return self.step_over_point(tid, addr, stepping);
            }
            // No longer patched: its instruction runs next, as the recorder's did.
            return Ok(Flow::Go);
        }
        if trap.spin {
            Points::skip_spin(self.task(tid)?, addr)?;
            if self.counted_pass(tid, addr)? {
                return Ok(Flow::Parked);
            }
            return Ok(if stepping {
                self.stepped(tid)
            } else {
                Flow::Go
            });
        }
        if !at_addr {
            rewind(self)?;
        }
        self.step_over_point(tid, addr, stepping)
    }

    /// Run the original instruction at patched `addr`.
    fn step_over_point(&mut self, tid: i32, addr: u64, stepping: bool) -> Result<Flow> {
        let t = self
            .threads
            .get_mut(&tid)
            .expect("the running thread exists");
        // A debug register at this very address would fire in place of the step.
        self.points.arm(&t.task, &[])?;
        match self.points.step_over(&mut t.task, addr)? {
            StepOver::Done => {
                if !self.points.watches().is_empty() {
                    let t = self
                        .threads
                        .get_mut(&tid)
                        .expect("the running thread exists");
                    if let Some(w) = self.points.debug_hit(&t.task)?.watch {
                        if self.trigger(tid, Trigger::Watch(w))? {
                            return Ok(Flow::User(StopReason::Watchpoint {
                                tid: RecordedTid(tid),
                                addr: w.addr,
                                kind: w.kind,
                            }));
                        }
                    }
                }
                Ok(if stepping {
                    self.stepped(tid)
                } else {
                    Flow::Go
                })
            }
            StepOver::Signal(sig) => {
                self.park(tid, Stop::Signal(sig))?;
                Ok(Flow::Parked)
            }
            StepOver::Gone(stop) => {
                self.park(tid, stop)?;
                Ok(Flow::Parked)
            }
        }
    }

    /// Count a pass of `tid` over the counted point `pc` (a spin hint or a chaos point); if the
    /// trace preempted it at exactly this pass, park it and move past that event. Returns
    /// whether it parked.
    fn counted_pass(&mut self, tid: i32, pc: u64) -> Result<bool> {
        self.skip_silent(tid)?;
        let hits = self.thread(tid)?.passes.pass(pc);
        let here = matches!(&self.next, Some(Event {
            tid: t,
            kind: EventKind::Schedule { position: Some(p) },
        }) if *t == tid && p.pc == pc && p.hits == Some(hits));
        if here {
            let t = self.thread(tid)?;
            t.parked = Parked::Ready;
            t.passes.clear();
            self.consume()?;
        }
        Ok(here)
    }

    /// Note where `tid` stopped.
    pub(crate) fn park(&mut self, tid: i32, stop: Stop) -> Result<()> {
        let parked = match stop {
            Stop::Seccomp => Parked::AtSyscall(self.task(tid)?.regs()?),
            Stop::Signal(libc::SIGSEGV) => {
                let task = self.task(tid)?;
                let pc = task.regs()?.pc();
                if tracee::insn::tsc_insn_at(task, pc).is_some() {
                    Parked::AtTsc
                } else {
                    Parked::AtSignal(libc::SIGSEGV)
                }
            }
            Stop::Signal(sig) => Parked::AtSignal(sig),
            Stop::Exec => Parked::AtExec,
            Stop::Exited(code) => return self.ended(tid, ExitStatus::Exited(code)),
            Stop::Killed {
                signal,
                core_dumped,
            } => {
                return self.ended(
                    tid,
                    ExitStatus::Signaled {
                        signal,
                        core_dumped,
                    },
                )
            }
            Stop::Interrupted | Stop::GroupStop(_) => Parked::Ready,
            other => {
                return Err(self.diverged(format!("stopped unexpectedly ({other:?})")));
            }
        };
        self.thread(tid)?.parked = parked;
        Ok(())
    }

    /// `tid` ended (reaped): it has no task any more.
    fn ended(&mut self, tid: i32, status: ExitStatus) -> Result<()> {
        if let Some(t) = self.threads.remove(&tid) {
            self.points.forget_thread(t.task.tid.as_raw());
        }
        self.ended.insert(tid, status);
        Ok(())
    }
}
