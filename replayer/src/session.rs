//! `ReplaySession`: re-execute a trace event by event.

use std::io::Write as _;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use pack::{Event, EventKind, ExitStatus, MemWrite, SyscallEvent, TraceReader};
use tracee::syscalls::{self, Class, Special};
use tracee::{insn, spawn, Pid, RemotePtr, Stop, Task};

use crate::error::{Error, Result};
use crate::mmap;

/// What to replay and how.
pub struct ReplayOptions {
    pub trace: PathBuf,
    /// Write the recorded stdout/stderr output to ours as the program produces it.
    pub echo: bool,
}

/// What one `step` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Running,
    Exited(ExitStatus),
}

/// How a replay ended.
#[derive(Debug)]
pub struct ReplayOutcome {
    pub exit: ExitStatus,
    pub events: u64,
    pub stops: u64,
}

/// A replay in progress.
pub struct ReplaySession {
    reader: TraceReader,
    task: Task,
    /// The next event of the trace, read ahead.
    next: Option<Event>,
    /// The number of `next`.
    next_no: u64,
    /// The recorded tid of the main thread (the replayed one has another).
    recorded_tid: i32,
    /// Signal to deliver when resuming.
    deliver: Option<i32>,
    echo: bool,
    stops: u64,
}

fn describe(ev: &Option<Event>) -> String {
    match ev {
        None => "the end of the trace".into(),
        Some(ev) => match &ev.kind {
            EventKind::Syscall(s) => format!(
                "syscall {}({})",
                syscalls::name(s.no as i64),
                s.args.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>().join(", ")
            ),
            EventKind::Exec { .. } => "an exec".into(),
            EventKind::Rdtsc { .. } => "an rdtsc".into(),
            EventKind::Signal(s) => format!("signal {}", s.signo),
            EventKind::Schedule { .. } => "a thread switch".into(),
            EventKind::Exit { status } => format!("exit with {status:?}"),
        },
    }
}

impl ReplaySession {
    /// Start the recorded program and bring it to its first instruction.
    pub fn start(opts: ReplayOptions) -> Result<ReplaySession> {
        let mut reader = TraceReader::open(&opts.trace)?;
        let h = reader.header().clone();
        let first = reader.next_event()?;
        let Some(Event {
            tid,
            kind: EventKind::Exec { writes },
        }) = first
        else {
            return Err(Error::Unreplayable("the trace does not start with an exec".into()));
        };
        let program = PathBuf::from(std::ffi::OsString::from_vec(h.program.clone()));
        let cwd = PathBuf::from(std::ffi::OsString::from_vec(h.cwd.clone()));
        let task = spawn::spawn(&spawn::SpawnOptions {
            program,
            argv: h.argv.clone(),
            env: h.env.clone(),
            cwd: cwd.is_dir().then_some(cwd),
            seccomp_trace_all: true,
            null_stdio: true,
        })?;
        let mut s = ReplaySession {
            reader,
            task,
            next: None,
            next_no: 1,
            recorded_tid: tid,
            deliver: None,
            echo: opts.echo,
            stops: 1,
        };
        if let Err(e) = s.apply_exec(&writes).and_then(|_| s.advance()) {
            s.kill();
            return Err(e);
        }
        Ok(s)
    }

    pub fn tid(&self) -> Pid {
        self.task.tid
    }

    /// The number of the next event to replay.
    pub fn next_event_no(&self) -> u64 {
        self.next_no
    }

    fn kill(&mut self) {
        self.task.kill();
        let _ = tracee::stop::wait(Some(self.task.tid));
    }

    /// Read the next event ahead.
    fn advance(&mut self) -> Result<()> {
        self.next = self.reader.next_event()?;
        Ok(())
    }

    /// Take the next event, moving on.
    fn take(&mut self) -> Result<Option<Event>> {
        let ev = self.next.take();
        self.next_no += 1;
        self.advance()?;
        Ok(ev)
    }

    fn diverged(&self, actual: String) -> Error {
        let h = self.reader.header();
        if self.next.is_none() && !h.complete {
            return Error::TraceEnded {
                event: self.next_no,
                reason: if h.incomplete_reason.is_empty() {
                    "the recorder was killed".into()
                } else {
                    h.incomplete_reason.clone()
                },
            };
        }
        Error::Diverged {
            event: self.next_no,
            expected: describe(&self.next),
            actual,
        }
    }

    fn apply_exec(&mut self, writes: &[MemWrite]) -> Result<()> {
        self.task.reset_mem();
        tracee::auxv::hide_vdso(&mut self.task)?;
        let sp = self.task.regs()?.sp();
        for w in writes {
            if w.addr != sp {
                return Err(Error::Diverged {
                    event: self.next_no.saturating_sub(1),
                    expected: format!("the initial stack at {:#x}", w.addr),
                    actual: format!("has its stack at {sp:#x} (different environment or kernel?)"),
                });
            }
            self.task.write_bytes(RemotePtr::new(w.addr), &w.data)?;
        }
        Ok(())
    }

    /// Resume the program and handle its next stop.
    pub fn step(&mut self) -> Result<Step> {
        let sig = self.deliver.take();
        self.task.cont(sig)?;
        let stop = loop {
            if let Some((_, s)) = tracee::stop::wait(Some(self.task.tid))? {
                break s;
            }
        };
        self.stops += 1;
        match stop {
            Stop::Seccomp => self.on_syscall().map(|_| Step::Running),
            Stop::Signal(sig) => self.on_signal(sig).map(|_| Step::Running),
            Stop::Exited(code) => self.on_exit(ExitStatus::Exited(code)),
            Stop::Killed {
                signal,
                core_dumped,
            } => self.on_exit(ExitStatus::Signaled {
                signal,
                core_dumped,
            }),
            Stop::Exec => Err(self.diverged("exec'd unexpectedly".into())),
            Stop::Syscall | Stop::Clone | Stop::Exiting | Stop::Event(_) => Ok(Step::Running),
        }
    }

    fn on_exit(&mut self, status: ExitStatus) -> Result<Step> {
        match &self.next {
            Some(Event {
                kind: EventKind::Exit { status: s },
                ..
            }) if *s == status => {
                self.take()?;
                Ok(Step::Exited(status))
            }
            _ => Err(self.diverged(format!("ended with {status:?}"))),
        }
    }

    fn on_signal(&mut self, sig: i32) -> Result<()> {
        let mut regs = self.task.regs()?;
        if sig == libc::SIGSEGV {
            if let Some(ins) = insn::tsc_insn_at(&mut self.task, regs.pc()) {
                let Some(Event {
                    kind: EventKind::Rdtsc { value, aux },
                    ..
                }) = self.next
                else {
                    return Err(self.diverged(format!("read the time stamp counter at {:#x}", regs.pc())));
                };
                regs.0.rax = value & 0xffff_ffff;
                regs.0.rdx = value >> 32;
                if let Some(a) = aux {
                    regs.0.rcx = a as u64;
                }
                regs.set_pc(regs.pc() + ins.len());
                self.task.set_regs(&regs)?;
                self.take()?;
                return Ok(());
            }
        }
        match &self.next {
            Some(Event {
                kind: EventKind::Signal(s),
                ..
            }) if s.signo == sig => {
                self.take()?;
                self.deliver = Some(sig);
                Ok(())
            }
            _ => Err(self.diverged(format!("received signal {sig} at {:#x}", regs.pc()))),
        }
    }

    fn on_syscall(&mut self) -> Result<()> {
        let mut regs = self.task.regs()?;
        let no = regs.syscall_no();
        let args = regs.args();
        let row = syscalls::lookup(no);
        let ev = match &self.next {
            Some(Event {
                kind: EventKind::Exec { .. },
                ..
            }) if row.map(|r| r.class) == Some(Class::Special(Special::Execve)) => {
                return self.replay_execve();
            }
            Some(Event {
                kind: EventKind::Syscall(ev),
                ..
            }) if ev.no as i64 == no && ev.args == args => ev.clone(),
            _ => {
                return Err(self.diverged(format!(
                    "called {}({})",
                    syscalls::name(no),
                    args.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>().join(", ")
                )))
            }
        };
        let row = row.expect("a recorded syscall has a row");
        match row.class {
            Class::Emulate => self.emulate(&mut regs, &ev)?,
            Class::Execute => self.execute(&regs, &ev, true)?,
            Class::ExecuteSetResult => self.execute(&regs, &ev, false)?,
            Class::Special(Special::Mmap) => self.replay_mmap(&mut regs, &ev)?,
            Class::Special(Special::Rseq) => self.emulate(&mut regs, &ev)?,
            // No result: exit ends the thread, rt_sigreturn restores the registers.
            Class::Special(Special::Exit | Special::Sigreturn) => {}
            Class::Special(Special::Kill) => self.replay_kill(&mut regs, &ev)?,
            Class::Special(Special::Execve) => self.emulate(&mut regs, &ev)?,
            Class::Special(Special::Clone) | Class::Unsupported(_) => {
                return Err(Error::Unreplayable(format!(
                    "syscall {} cannot be replayed yet",
                    row.name
                )))
            }
        }
        self.take()?;
        Ok(())
    }

    /// Set the recorded result and memory; the kernel skips the syscall.
    fn emulate(&mut self, regs: &mut tracee::Regs, ev: &SyscallEvent) -> Result<()> {
        for w in &ev.writes {
            self.task.write_bytes(RemotePtr::new(w.addr), &w.data)?;
        }
        if self.echo && ev.result > 0 {
            self.echo_output(ev)?;
        }
        regs.set_syscall_no(-1);
        regs.set_result(ev.result);
        self.task.set_regs(regs)?;
        Ok(())
    }

    /// Run the syscall for real; check (or impose) the recorded result.
    fn execute(&mut self, regs: &tracee::Regs, ev: &SyscallEvent, check: bool) -> Result<()> {
        self.task.cont_syscall(None)?;
        self.stops += 1;
        match tracee::stop::wait(Some(self.task.tid))? {
            Some((_, Stop::Syscall)) => {}
            other => {
                return Err(Error::Unreplayable(format!(
                    "expected the exit of {}, got {other:?}",
                    syscalls::name(ev.no as i64)
                )))
            }
        }
        let mut after = self.task.regs()?;
        if after.result() != ev.result {
            if check {
                return Err(self.diverged(format!(
                    "got result {:#x} from {} (recorded {:#x})",
                    after.result(),
                    syscalls::name(ev.no as i64),
                    ev.result
                )));
            }
            after.set_result(ev.result);
            self.task.set_regs(&after)?;
        }
        let _ = regs;
        Ok(())
    }

    fn replay_mmap(&mut self, regs: &mut tracee::Regs, ev: &SyscallEvent) -> Result<()> {
        let Some(file) = &ev.file else {
            if ev.result >= 0 && ev.args[3] as i32 & libc::MAP_ANONYMOUS == 0 && (ev.args[4] as i32) >= 0 {
                // A mapping of a non-regular file (/dev/zero): anonymous memory is the same.
                let mut a = ev.args;
                a[0] = ev.result as u64;
                a[3] = ((a[3] as i32 & !(libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE))
                    | libc::MAP_PRIVATE
                    | libc::MAP_ANONYMOUS
                    | libc::MAP_FIXED) as u64;
                a[4] = u64::MAX;
                let got = self.task.syscall_instead(regs, libc::SYS_mmap, a)?;
                return self.finish_injected(regs, ev, got);
            }
            return self.execute(regs, ev, true);
        };
        if ev.result < 0 {
            return self.emulate(regs, ev);
        }
        let path = self.reader.file_path(file)?;
        let got = mmap::map_stored(&mut self.task, regs, &path, ev.result as u64)?;
        self.finish_injected(regs, ev, got)
    }

    fn finish_injected(&mut self, regs: &mut tracee::Regs, ev: &SyscallEvent, got: i64) -> Result<()> {
        if got != ev.result {
            return Err(self.diverged(format!(
                "could not map memory at {:#x} (got {got:#x})",
                ev.result
            )));
        }
        regs.set_result(ev.result);
        self.task.set_regs(regs)?;
        Ok(())
    }

    /// kill/tkill/tgkill: a signal to the program itself is really sent (to the replayed ids);
    /// one to another process is emulated.
    fn replay_kill(&mut self, regs: &mut tracee::Regs, ev: &SyscallEvent) -> Result<()> {
        let me = self.recorded_tid as u64;
        let real = self.task.tid.as_raw() as u64;
        let mut a = ev.args;
        let to_self = match ev.no as i64 {
            libc::SYS_kill => a[0] == me || a[0] == 0,
            libc::SYS_tkill => a[0] == me,
            libc::SYS_tgkill => a[0] == me && a[1] == me,
            _ => false,
        };
        if !to_self || ev.result < 0 {
            return self.emulate(regs, ev);
        }
        match ev.no as i64 {
            libc::SYS_kill if a[0] != 0 => a[0] = real,
            libc::SYS_tkill => a[0] = real,
            libc::SYS_tgkill => {
                a[0] = real;
                a[1] = real;
            }
            _ => {}
        }
        let got = self.task.syscall_instead(regs, ev.no as i64, a)?;
        if got < 0 {
            return Err(self.diverged(format!("failed to signal itself ({got})")));
        }
        regs.set_result(ev.result);
        self.task.set_regs(regs)?;
        Ok(())
    }

    fn replay_execve(&mut self) -> Result<()> {
        let Some(Event {
            kind: EventKind::Exec { writes },
            ..
        }) = self.take()?
        else {
            unreachable!("checked by the caller")
        };
        self.task.cont(None)?;
        match tracee::stop::wait(Some(self.task.tid))? {
            Some((_, Stop::Exec)) => self.apply_exec(&writes),
            other => Err(self.diverged(format!("did not exec ({other:?})"))),
        }
    }

    /// Write what the program writes to stdout/stderr to ours.
    fn echo_output(&mut self, ev: &SyscallEvent) -> Result<()> {
        let fd = ev.args[0];
        if fd != 1 && fd != 2 {
            return Ok(());
        }
        let chunks: Vec<(u64, usize)> = match ev.no as i64 {
            libc::SYS_write => vec![(ev.args[1], ev.result as usize)],
            libc::SYS_writev => {
                let raw = self
                    .task
                    .read_prefix(RemotePtr::new(ev.args[1]), (ev.args[2].min(1024) * 16) as usize);
                let mut left = ev.result as u64;
                let mut v = Vec::new();
                for c in raw.chunks_exact(16) {
                    if left == 0 {
                        break;
                    }
                    let base = u64::from_le_bytes(c[0..8].try_into().expect("8 bytes"));
                    let len = u64::from_le_bytes(c[8..16].try_into().expect("8 bytes")).min(left);
                    v.push((base, len as usize));
                    left -= len;
                }
                v
            }
            _ => return Ok(()),
        };
        let datas = self.task.read_ranges(&chunks);
        let mut out: Box<dyn std::io::Write> = if fd == 1 {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(std::io::stderr().lock())
        };
        for d in datas {
            let _ = out.write_all(&d);
        }
        let _ = out.flush();
        Ok(())
    }

    /// Replay to the end.
    pub fn run(mut self) -> Result<ReplayOutcome> {
        loop {
            match self.step() {
                Ok(Step::Running) => {}
                Ok(Step::Exited(exit)) => {
                    return Ok(ReplayOutcome {
                        exit,
                        events: self.next_no - 1,
                        stops: self.stops,
                    })
                }
                Err(e) => {
                    self.kill();
                    return Err(e);
                }
            }
        }
    }
}
