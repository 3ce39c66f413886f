//! Applying one event of the trace to the thread it names, which then runs to its next stop.

use pack::{Event, EventKind, ExitStatus};
use tracee::syscalls;
use tracee::{insn, Stop};

use crate::error::Result;
use crate::run::Halt;
use crate::session::ReplaySession;
use crate::thread::Parked;

/// An event, as a divergence message names it.
pub(crate) fn describe(ev: &Option<Event>) -> String {
    match ev {
        None => "the end of the trace".into(),
        Some(ev) => {
            let what = match &ev.kind {
                EventKind::Syscall(s) => format!(
                    "syscall {}({})",
                    syscalls::name(s.no as i64),
                    hex_list(&s.args)
                ),
                EventKind::Exec { .. } => "an exec".into(),
                EventKind::Rdtsc { .. } => "an rdtsc".into(),
                EventKind::Signal(s) => format!("signal {}", s.signo),
                EventKind::Schedule { position: None } => "a resumption".into(),
                EventKind::Schedule { position: Some(p) } => {
                    format!("a preemption at {:#x}", p.pc)
                }
                EventKind::Exit { status } => format!("exit with {status:?}"),
                EventKind::External(o) => format!("child output ({} bytes)", o.copied.len()),
            };
            format!("{what} in thread {}", ev.tid)
        }
    }
}

pub(crate) fn hex_list(args: &[u64]) -> String {
    args.iter()
        .map(|a| format!("{a:#x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `ev` ends the history a debugger can move in: the process's exit, or the
/// exit_group that leads to it (the process is still there to look at before it).
pub(crate) fn ends_history(ev: &Event) -> bool {
    match &ev.kind {
        EventKind::Exit { .. } => true,
        EventKind::Syscall(sc) => sc.no as i64 == libc::SYS_exit_group,
        _ => false,
    }
}

impl ReplaySession {
    /// Replay event `ev` (the next one).
    pub(crate) fn step_event(&mut self, ev: Event) -> Result<Halt> {
        self.print_external();
        let tid = ev.tid;
        if self.debug {
            eprintln!("[replay] event {}: {}", self.next_no, describe(&self.next));
        }
        if let EventKind::Exit { status } = ev.kind {
            return self.replay_exit(tid, status).map(Halt::Exited);
        }
        if let EventKind::Syscall(sc) = &ev.kind {
            if syscalls::lookup(sc.no as i64).is_some_and(|r| r.is_silent(&sc.args)) {
                // The seccomp filter let it run without a stop, in its thread's last run.
                self.consume()?;
                return Ok(Halt::Parked);
            }
        }
        self.thread(tid)?.passes.clear();
        let parked = self.thread(tid)?.parked;
        match (&ev.kind, parked) {
            (EventKind::Syscall(sc), Parked::AtSyscall(regs)) => {
                self.history.applying_syscall = true;
                self.on_syscall(tid, regs, sc)
            }
            (EventKind::Exec { writes }, Parked::AtSyscall(regs))
                if regs.syscall_no() == libc::SYS_execve =>
            {
                let writes = writes.clone();
                self.consume()?;
                let task = self.task(tid)?;
                task.cont(None)?;
                let real = task.tid;
                let stop = loop {
                    if let Some((_, stop)) = tracee::stop::wait(Some(real))? {
                        break stop;
                    }
                };
                if stop != Stop::Exec {
                    return Err(self.diverged(format!("did not exec ({stop:?})")));
                }
                self.thread(tid)?.parked = Parked::AtExec;
                self.apply_exec(tid, &writes)?;
                self.start_run(tid, None)
            }
            (EventKind::Rdtsc { value, aux }, Parked::AtTsc) => {
                let (value, aux) = (*value, *aux);
                let task = self.task(tid)?;
                let mut regs = task.regs()?;
                let ins = insn::tsc_insn_at(task, regs.pc()).expect("parked at a tsc insn");
                regs.0.rax = value & 0xffff_ffff;
                regs.0.rdx = value >> 32;
                if let Some(a) = aux {
                    regs.0.rcx = a as u64;
                }
                regs.set_pc(regs.pc() + ins.length());
                task.set_regs(&regs)?;
                self.consume()?;
                self.start_run(tid, None)
            }
            (EventKind::Signal(s), Parked::AtSignal(sig)) if s.signo == sig => {
                let info = s.siginfo.clone();
                if info.len() == 128 {
                    self.task(tid)?.set_siginfo_bytes(&info)?;
                }
                self.consume()?;
                self.start_run(tid, Some(sig))
            }
            (EventKind::Signal(s), _)
                if !s.synchronous && self.task(tid)?.signal_held_by_mask(s.signo)? =>
            {
                // Made pending (by start_run) while the thread blocks it, as when recording:
                // it ran on to its next stop, which the next event is matched with; the kernel
                // delivers the signal when the thread unblocks it.
                let (signo, info) = (s.signo, s.siginfo.clone());
                self.thread(tid)?.deferred.push((signo, info));
                self.consume()?;
                Ok(Halt::Parked)
            }
            (EventKind::Schedule { position: None }, Parked::Ready) => {
                self.consume()?;
                self.start_run(tid, None)
            }
            (_, parked) => {
                let actual = match parked {
                    Parked::AtSyscall(regs) => format!(
                        "called {}({})",
                        syscalls::name(regs.syscall_no()),
                        hex_list(&regs.args())
                    ),
                    Parked::AtSignal(sig) => format!("received signal {sig}"),
                    Parked::AtTsc => "read the time stamp counter".into(),
                    Parked::Ready => "was not at a scheduling point".into(),
                    Parked::AtExec => "exec'd".into(),
                    Parked::Exiting => "is exiting".into(),
                };
                Err(self.diverged(actual))
            }
        }
    }

    /// The process ended: reap its threads until the leader's status is known.
    fn replay_exit(&mut self, tid: i32, status: ExitStatus) -> Result<ExitStatus> {
        let got = match (self.ended.get(&tid), self.threads.get(&tid)) {
            (Some(st), _) => *st,
            (None, Some(t)) => {
                let tgid = t.task.tgid;
                let is_leader = t.task.tid == tgid;
                match tracee::reap_process(tgid, &self.living_tids()) {
                    Some(Stop::Exited(c)) if is_leader => ExitStatus::Exited(c),
                    Some(Stop::Killed {
                        signal,
                        core_dumped,
                    }) if is_leader => ExitStatus::Signaled {
                        signal,
                        core_dumped,
                    },
                    _ => return Err(self.diverged("disappeared".into())),
                }
            }
            (None, None) => return Err(self.diverged("disappeared".into())),
        };
        if got != status {
            return Err(self.diverged(format!("ended with {got:?}")));
        }
        self.consume()?;
        self.threads.clear();
        Ok(got)
    }
}
