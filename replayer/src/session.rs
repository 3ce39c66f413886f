//! `ReplaySession`: re-execute a trace event by event. Threads run one at a time, in the
//! recorded order: after each event its thread runs to its next stop and parks there.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use pack::{Event, EventKind, ExitStatus, MemWrite, Position, Stream, SyscallEvent, TraceReader};
use tracee::syscalls::{self, Class, Special};
use tracee::{insn, spawn, Pid, Regs, RemotePtr, Stop, Task};

use crate::error::{Error, Result};
use crate::mmap;
use crate::thread::{Parked, Thread};

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
    /// Breakpoint hits spent reaching recorded preemption positions.
    pub seek_stops: u64,
}

/// How this machine's CPU features differ from the recording CPU's (from the trace header).
/// Without CPUID faulting the program sees this CPU's features, so library code paths may then
/// differ and replay may diverge: a caller should say so before replaying.
pub fn cpu_differences(h: &pack::Header) -> Vec<String> {
    tracee::cpuid::feature_differences(|leaf, subleaf| {
        h.cpuid
            .iter()
            .find(|l| l.leaf == leaf && l.subleaf == subleaf)
            .map(|l| [l.eax, l.ebx, l.ecx, l.edx])
    })
}

/// The recorder stops patching a chaos point after this many hits (recorder::chaos).
const CHAOS_POINT_HIT_CAP: u64 = 5000;

/// The chaos points a trace's header lists.
fn chaos_points_of(h: &pack::Header) -> Vec<u64> {
    h.chaos
        .as_ref()
        .and_then(|c| c.params.iter().find(|(k, _)| k == "points"))
        .map(|(_, v)| {
            v.split(',')
                .filter_map(|x| u64::from_str_radix(x, 16).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Give up seeking a position after this many breakpoint hits (a bug or a corrupt trace).
const SEEK_LIMIT: u64 = 5_000_000;

/// A replay in progress.
pub struct ReplaySession {
    reader: TraceReader,
    /// By recorded tid.
    threads: BTreeMap<i32, Thread>,
    /// The recorded tid of the main thread.
    leader: i32,
    /// The next event of the trace, read ahead.
    next: Option<Event>,
    /// The number of `next`.
    next_no: u64,
    echo: bool,
    stops: u64,
    seek_stops: u64,
    /// Recorded positions sought with a breakpoint, and the most stops one took.
    seeks: u64,
    seek_max: u64,
    /// Where the trace is (replay leaves its seek figures in its stats).
    trace: PathBuf,
    /// Trace each event to stderr (CRT_DEBUG=1).
    debug: bool,
    /// Spin hints patched into counted scheduling points, as when recording.
    spin_enabled: bool,
    spin_scanned: std::collections::BTreeSet<(u64, u64)>,
    spin_points: std::collections::BTreeSet<u64>,
    /// Stored files opened in the program for mmaps.
    open_files: mmap::OpenFiles,
    /// Chaos points patched as when recording: address -> original byte.
    chaos_points: std::collections::BTreeMap<u64, u8>,
    /// Hits per chaos point (all threads): the recorder unpatches a point at a cap.
    chaos_hits: std::collections::HashMap<u64, u64>,
    /// The recording CPU's CPUID, answered under CPUID faulting (crate::cpuid).
    cpuid: std::sync::Arc<crate::cpuid::RecordedCpuid>,
}

fn describe(ev: &Option<Event>) -> String {
    match ev {
        None => "the end of the trace".into(),
        Some(ev) => {
            let what = match &ev.kind {
                EventKind::Syscall(s) => format!(
                    "syscall {}({})",
                    syscalls::name(s.no as i64),
                    s.args
                        .iter()
                        .map(|a| format!("{a:#x}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                EventKind::Exec { .. } => "an exec".into(),
                EventKind::Rdtsc { .. } => "an rdtsc".into(),
                EventKind::Signal(s) => format!("signal {}", s.signo),
                EventKind::Schedule { position: None } => "a resumption".into(),
                EventKind::Schedule { position: Some(p) } => {
                    format!("a preemption at {:#x}", p.pc)
                }
                EventKind::Exit { status } => format!("exit with {status:?}"),
            };
            format!("{what} in thread {}", ev.tid)
        }
    }
}

fn regs_equal(a: &[u64], b: &[u64]) -> bool {
    regs_equal_but(a, b, &[])
}

/// Register words (`Regs::to_words` order) that a counted position before a `syscall`
/// instruction cannot know: the recorder saw them after the instruction ran (it clobbers rcx
/// and r11; orig_rax is the kernel's).
const UNKNOWN_BEFORE_SYSCALL: [usize; 3] = [6, 11, 15];

fn regs_equal_but(a: &[u64], b: &[u64], ignore: &[usize]) -> bool {
    const EFLAGS: usize = 18;
    const RF_TF: u64 = 0x1_0100;
    a.len() == b.len()
        && a.iter().zip(b).enumerate().all(|(i, (x, y))| {
            if ignore.contains(&i) {
                true
            } else if i == EFLAGS {
                x & !RF_TF == y & !RF_TF
            } else {
                x == y
            }
        })
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
            return Err(Error::Unreplayable(
                "the trace does not start with an exec".into(),
            ));
        };
        // The stored executable, through a link of the recorded path's length (dropped after exec).
        let (program, _exe_link) = crate::program::to_run(&reader);
        let cwd = PathBuf::from(std::ffi::OsString::from_vec(h.cwd.clone()));
        let task = spawn::spawn(&spawn::SpawnOptions {
            program,
            argv: h.argv.clone(),
            env: h.env.clone(),
            cwd: cwd.is_dir().then_some(cwd),
            seccomp_trace_all: true,
            null_stdio: true,
        })?;
        // Share one CPU with the program, as recording did.
        let mask = tracee::affinity::OriginalMask::current();
        if let Some(cpu) = tracee::affinity::choose_cpu(&mask) {
            tracee::affinity::pin(task.tid, cpu);
            tracee::affinity::pin(Pid::from_raw(0), cpu);
        }
        let mut threads = BTreeMap::new();
        threads.insert(
            tid,
            Thread {
                task,
                parked: Parked::AtExec,
                pause_hits: Default::default(),
                at_chaos_point: false,
                deferred: Vec::new(),
            },
        );
        let mut s = ReplaySession {
            reader,
            threads,
            leader: tid,
            next: None,
            next_no: 1,
            echo: opts.echo,
            stops: 1,
            seek_stops: 0,
            seeks: 0,
            seek_max: 0,
            trace: opts.trace.clone(),
            debug: std::env::var_os("CRT_DEBUG").is_some(),
            spin_enabled: false,
            spin_scanned: Default::default(),
            spin_points: Default::default(),
            open_files: Default::default(),
            chaos_points: Default::default(),
            chaos_hits: Default::default(),
            cpuid: std::sync::Arc::new(crate::cpuid::RecordedCpuid::new(&h)),
        };
        let points = chaos_points_of(&h);
        let r = s
            .apply_exec(tid, &writes)
            .and_then(|_| s.patch_chaos_points(tid, &points))
            .and_then(|_| s.advance())
            .and_then(|_| s.resume(tid, None));
        if let Err(e) = r {
            s.kill();
            return Err(e);
        }
        Ok(s)
    }

    /// The number of the next event to replay.
    pub fn next_event_no(&self) -> u64 {
        self.next_no
    }

    fn kill(&mut self) {
        if let Some(t) = self.threads.get(&self.leader) {
            t.task.kill();
        }
        while let Ok(Some(_)) = tracee::stop::wait(None) {}
    }

    fn thread(&mut self, tid: i32) -> Result<&mut Thread> {
        let no = self.next_no;
        self.threads.get_mut(&tid).ok_or_else(|| Error::Diverged {
            event: no,
            expected: format!("thread {tid} to exist"),
            actual: "has no such thread".into(),
        })
    }

    fn task(&mut self, tid: i32) -> Result<&mut Task> {
        Ok(&mut self.thread(tid)?.task)
    }

    /// Read the next event ahead.
    fn advance(&mut self) -> Result<()> {
        self.next = self.reader.next_event()?;
        Ok(())
    }

    /// Move past the current event.
    fn consume(&mut self) -> Result<()> {
        self.next_no += 1;
        self.advance()
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

    fn apply_exec(&mut self, tid: i32, writes: &[MemWrite]) -> Result<()> {
        let no = self.next_no.saturating_sub(1);
        // A new image: no patched code, and the stored files we had open were closed
        // (O_CLOEXEC). Chaos points are patched again by the caller for the first exec only.
        self.open_files = Default::default();
        self.spin_enabled = false;
        self.spin_scanned.clear();
        self.spin_points.clear();
        self.chaos_points.clear();
        let task = self.task(tid)?;
        task.reset_mem();
        tracee::auxv::hide_vdso(task)?;
        let sp = task.regs()?.sp();
        for w in writes {
            if w.addr != sp {
                return Err(Error::Diverged {
                    event: no,
                    expected: format!("the initial stack at {:#x}", w.addr),
                    actual: format!("has its stack at {sp:#x} (different environment or kernel?)"),
                });
            }
            task.write_bytes(RemotePtr::new(w.addr), &w.data)?;
        }
        let cpuid = std::sync::Arc::clone(&self.cpuid);
        cpuid.after_exec(self.task(tid)?)
    }

    /// Resume `tid` (delivering `sig`) and let it run to its next stop, where it parks. If the
    /// trace says it was preempted or signalled next, arrange that first.
    /// Move past the silent syscalls of `tid` at the head of the trace: they come before its
    /// next stop in program order, and the kernel runs them without a stop.
    fn skip_silent(&mut self, tid: i32) -> Result<()> {
        while matches!(&self.next, Some(Event { tid: t, kind: EventKind::Syscall(sc) })
            if *t == tid && syscalls::lookup(sc.no as i64).is_some_and(|r| r.is_silent(&sc.args)))
        {
            self.consume()?;
        }
        Ok(())
    }

    fn resume(&mut self, tid: i32, sig: Option<i32>) -> Result<()> {
        self.skip_silent(tid)?;
        if std::mem::take(&mut self.thread(tid)?.at_chaos_point) {
            let pc = self.task(tid)?.regs()?.pc();
            if let Some(&orig) = self.chaos_points.get(&pc) {
                match self.task(tid)?.step_over(pc, orig)? {
                    tracee::StepOver::Done => {}
                    tracee::StepOver::Signal(s) => return self.park(tid, Stop::Signal(s)),
                    tracee::StepOver::Gone(stop) => return self.park(tid, stop),
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
        if let Some(Event {
            tid: t,
            kind: EventKind::Schedule { position: Some(p) },
        }) = &self.next
        {
            // Uncounted, or counted at an instruction that is not a patched point (the
            // `syscall` instruction of a call replay runs without a stop): a breakpoint finds it.
            let patched = self.spin_points.contains(&p.pc) || self.chaos_points.contains_key(&p.pc);
            if *t == tid && (p.hits.is_none() || !patched) {
                let p = p.clone();
                return self.seek(tid, sig, &p);
            }
        }
        self.task(tid)?.cont(sig)?;
        self.run_to_next_stop(tid)
    }

    /// Wait for the running thread `tid` to stop and park it.
    fn run_to_next_stop(&mut self, tid: i32) -> Result<()> {
        let real = self.task(tid)?.tid;
        loop {
            let Some((_, stop)) = tracee::stop::wait(Some(real))? else {
                continue;
            };
            self.stops += 1;
            let cpuid = std::sync::Arc::clone(&self.cpuid);
            if cpuid.emulate(self.task(tid)?, stop)? {
                self.task(tid)?.cont(None)?;
                continue;
            }
            if stop == Stop::Signal(libc::SIGTRAP) && !self.chaos_points.is_empty() {
                let pc = self.task(tid)?.regs()?.pc();
                if self.chaos_points.contains_key(&(pc.wrapping_sub(1))) {
                    if self.on_chaos_trap(tid, pc.wrapping_sub(1))? {
                        return Ok(());
                    }
                    self.task(tid)?.cont(None)?;
                    continue;
                }
            }
            if stop == Stop::Signal(libc::SIGTRAP) {
                if let Some(pc) = self.pause_trap_at(tid)? {
                    if self.on_pause_trap(tid, pc)? {
                        return Ok(());
                    }
                    self.task(tid)?.cont(None)?;
                    continue;
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
                    t.task.cont(Some(sig))?;
                    continue;
                }
            }
            return self.park(tid, stop);
        }
    }

    /// Patch the recorded chaos points (at the first exec, as the recorder did).
    fn patch_chaos_points(&mut self, tid: i32, points: &[u64]) -> Result<()> {
        for &a in points {
            let orig = self.task(tid)?.patch_int3(a)?;
            self.chaos_points.insert(a, orig);
        }
        Ok(())
    }

    /// `tid` trapped at chaos point `pc`: count it like the recorder, park it if the trace
    /// preempted it at this hit, else run the original instruction. Returns whether it parked.
    fn on_chaos_trap(&mut self, tid: i32, pc: u64) -> Result<bool> {
        let t = self.thread(tid)?;
        let mut regs = t.task.regs()?;
        regs.set_pc(pc);
        t.task.set_regs(&regs)?;
        let orig = self.chaos_points[&pc];
        let global = {
            let h = self.chaos_hits.entry(pc).or_insert(0);
            *h += 1;
            *h
        };
        let keep = global < CHAOS_POINT_HIT_CAP;
        if !keep {
            self.chaos_points.remove(&pc);
            self.task(tid)?.write_bytes(RemotePtr::new(pc), &[orig])?;
        }
        if self.counted_pass(tid, pc)? {
            self.thread(tid)?.at_chaos_point = true;
            return Ok(true);
        }
        if keep {
            match self.task(tid)?.step_over(pc, orig)? {
                tracee::StepOver::Done => {}
                tracee::StepOver::Signal(sig) => {
                    self.park(tid, Stop::Signal(sig))?;
                    return Ok(true);
                }
                tracee::StepOver::Gone(stop) => {
                    self.park(tid, stop)?;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// If `tid` stopped at a patched spin hint, its address.
    fn pause_trap_at(&mut self, tid: i32) -> Result<Option<u64>> {
        if self.spin_points.is_empty() {
            return Ok(None);
        }
        let pc = self.task(tid)?.regs()?.pc();
        Ok(self
            .spin_points
            .contains(&(pc.wrapping_sub(1)))
            .then_some(pc.wrapping_sub(1)))
    }

    /// Count a spin-hint trap of `tid` at `pc` and skip the hint; park the thread if the trace
    /// preempted it at exactly this hit. Returns whether it parked.
    fn on_pause_trap(&mut self, tid: i32, pc: u64) -> Result<bool> {
        let t = self.thread(tid)?;
        let mut regs = t.task.regs()?;
        regs.set_pc(pc + 2);
        t.task.set_regs(&regs)?;
        self.counted_pass(tid, pc)
    }

    /// Count a pass of `tid` over the counted point `pc` (a spin hint or a chaos point); if the
    /// trace preempted it at exactly this pass, park it and move past that event. Returns
    /// whether it parked.
    fn counted_pass(&mut self, tid: i32, pc: u64) -> Result<bool> {
        self.skip_silent(tid)?;
        let t = self.thread(tid)?;
        let hits = {
            let h = t.pause_hits.entry(pc).or_insert(0);
            *h += 1;
            *h
        };
        let here = matches!(&self.next, Some(Event {
            tid: t,
            kind: EventKind::Schedule { position: Some(p) },
        }) if *t == tid && p.pc == pc && p.hits == Some(hits));
        if here {
            let t = self.thread(tid)?;
            t.parked = Parked::Ready;
            t.pause_hits.clear();
            self.consume()?;
        }
        Ok(here)
    }

    /// Patch the spin hints of code mapped since the last scan (once threads exist).
    fn patch_new_code(&mut self, tid: i32) -> Result<()> {
        if !self.spin_enabled {
            return Ok(());
        }
        let mut scanned = std::mem::take(&mut self.spin_scanned);
        let r = tracee::spin::patch_all(self.task(tid)?, &mut scanned);
        self.spin_scanned = scanned;
        self.spin_points.extend(r?);
        Ok(())
    }

    fn park(&mut self, tid: i32, stop: Stop) -> Result<()> {
        let parked = match stop {
            Stop::Seccomp => Parked::AtSyscall(self.task(tid)?.regs()?),
            Stop::Signal(libc::SIGSEGV) => {
                let task = self.task(tid)?;
                let pc = task.regs()?.pc();
                if insn::tsc_insn_at(task, pc).is_some() {
                    Parked::AtTsc
                } else {
                    Parked::AtSignal(libc::SIGSEGV)
                }
            }
            Stop::Signal(sig) => Parked::AtSignal(sig),
            Stop::Exec => Parked::AtExec,
            Stop::Exited(code) => Parked::Dead(ExitStatus::Exited(code)),
            Stop::Killed {
                signal,
                core_dumped,
            } => Parked::Dead(ExitStatus::Signaled {
                signal,
                core_dumped,
            }),
            Stop::Interrupted | Stop::GroupStop(_) => Parked::Ready,
            other => {
                return Err(self.diverged(format!("stopped unexpectedly ({other:?})")));
            }
        };
        self.thread(tid)?.parked = parked;
        Ok(())
    }

    /// Replay the next event.
    pub fn step(&mut self) -> Result<Step> {
        let Some(ev) = self.next.clone() else {
            return Err(self.diverged("is still running".into()));
        };
        let tid = ev.tid;
        if self.debug {
            eprintln!("[replay] event {}: {}", self.next_no, describe(&self.next));
        }
        if ev.kind_is_exit() {
            return self.replay_exit(tid, ev);
        }
        if let EventKind::Syscall(sc) = &ev.kind {
            if syscalls::lookup(sc.no as i64).is_some_and(|r| r.is_silent(&sc.args)) {
                // The seccomp filter let it run without a stop, in its thread's last run.
                self.consume()?;
                return Ok(Step::Running);
            }
        }
        self.thread(tid)?.pause_hits.clear();
        let parked = self.thread(tid)?.parked;
        match (&ev.kind, parked) {
            (EventKind::Syscall(sc), Parked::AtSyscall(regs)) => self.on_syscall(tid, regs, sc)?,
            (EventKind::Exec { writes }, Parked::AtSyscall(regs))
                if regs.syscall_no() == libc::SYS_execve =>
            {
                let writes = writes.clone();
                self.consume()?;
                let task = self.task(tid)?;
                task.cont(None)?;
                self.run_to_next_stop(tid)?;
                if !matches!(self.thread(tid)?.parked, Parked::AtExec) {
                    return Err(self.diverged("did not exec".into()));
                }
                self.apply_exec(tid, &writes)?;
                self.resume(tid, None)?;
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
                self.resume(tid, None)?;
            }
            (EventKind::Signal(s), Parked::AtSignal(sig)) if s.signo == sig => {
                let info = s.siginfo.clone();
                if info.len() == 128 {
                    self.task(tid)?.set_siginfo_bytes(&info)?;
                }
                self.consume()?;
                self.resume(tid, Some(sig))?;
            }
            (EventKind::Signal(s), _)
                if !s.synchronous && self.task(tid)?.signal_held_by_mask(s.signo)? =>
            {
                // Made pending (by resume) while the thread blocks it, as when recording: it
                // ran on to its next stop, which the next event is matched with; the kernel
                // delivers the signal when the thread unblocks it.
                let (signo, info) = (s.signo, s.siginfo.clone());
                self.thread(tid)?.deferred.push((signo, info));
                self.consume()?;
            }
            (EventKind::Schedule { position: None }, Parked::Ready) => {
                self.consume()?;
                self.resume(tid, None)?;
            }
            (_, parked) => {
                let actual = match parked {
                    Parked::AtSyscall(regs) => format!(
                        "called {}({})",
                        syscalls::name(regs.syscall_no()),
                        regs.args()
                            .iter()
                            .map(|a| format!("{a:#x}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Parked::AtSignal(sig) => format!("received signal {sig}"),
                    Parked::AtTsc => "read the time stamp counter".into(),
                    Parked::Ready => "was not at a scheduling point".into(),
                    Parked::AtExec => "exec'd".into(),
                    Parked::Dead(st) => format!("ended with {st:?}"),
                    Parked::Exiting => "is exiting".into(),
                };
                return Err(self.diverged(actual));
            }
        }
        Ok(Step::Running)
    }

    /// The process ended: reap its threads until the leader's status is known.
    fn replay_exit(&mut self, tid: i32, ev: Event) -> Result<Step> {
        let EventKind::Exit { status } = ev.kind else {
            unreachable!("checked by the caller")
        };
        let leader_real = self.threads.get(&tid).map(|t| t.task.tid);
        let got = loop {
            if let Some(Thread {
                parked: Parked::Dead(st),
                ..
            }) = self.threads.get(&tid)
            {
                break *st;
            }
            match tracee::stop::wait(None) {
                Ok(Some((pid, stop))) => {
                    if Some(pid) == leader_real {
                        match stop {
                            Stop::Exited(c) => break ExitStatus::Exited(c),
                            Stop::Killed {
                                signal,
                                core_dumped,
                            } => {
                                break ExitStatus::Signaled {
                                    signal,
                                    core_dumped,
                                }
                            }
                            other => {
                                return Err(
                                    self.diverged(format!("stopped instead of ending ({other:?})"))
                                )
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(_) => return Err(self.diverged("disappeared".into())),
            }
        };
        if got != status {
            return Err(self.diverged(format!("ended with {got:?}")));
        }
        self.consume()?;
        Ok(Step::Exited(got))
    }

    fn on_syscall(&mut self, tid: i32, mut regs: Regs, ev: &SyscallEvent) -> Result<()> {
        let no = regs.syscall_no();
        let args = regs.args();
        if ev.no as i64 != no || ev.args != args {
            return Err(self.diverged(format!(
                "called {}({})",
                syscalls::name(no),
                args.iter()
                    .map(|a| format!("{a:#x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let Some(row) = syscalls::lookup(no) else {
            return Err(Error::Unreplayable(format!(
                "syscall number {no} is unknown"
            )));
        };
        self.consume()?;
        match row.class {
            Class::Emulate | Class::Special(Special::Rseq) | Class::Special(Special::Execve) => {
                self.emulate(tid, &mut regs, ev)?
            }
            Class::Execute => self.execute(tid, ev, true)?,
            Class::ExecuteSetResult => self.execute(tid, ev, false)?,
            Class::Special(Special::Mmap) => self.replay_mmap(tid, &mut regs, ev)?,
            Class::Special(Special::Sigreturn) => {}
            Class::Special(Special::Exit) => return self.replay_thread_exit(tid, ev),
            Class::Special(Special::Kill) => self.replay_kill(tid, &mut regs, ev)?,
            Class::Special(Special::Clone) => self.replay_clone(tid, &mut regs, ev)?,
            Class::Unsupported(_) => {
                return Err(Error::Unreplayable(format!(
                    "syscall {} cannot be replayed",
                    row.name
                )))
            }
        }
        if ev.result >= 0
            && matches!(ev.no as i64, libc::SYS_mmap | libc::SYS_mprotect)
            && ev.args[2] & libc::PROT_EXEC as u64 != 0
        {
            self.patch_new_code(tid)?;
        }
        self.resume(tid, None)
    }

    /// Set the recorded result and memory; the kernel skips the syscall.
    fn emulate(&mut self, tid: i32, regs: &mut Regs, ev: &SyscallEvent) -> Result<()> {
        let echo = self.echo && ev.result > 0;
        let legacy = self.reader.header().format_version < 2;
        let task = self.task(tid)?;
        for w in &ev.writes {
            task.write_bytes(RemotePtr::new(w.addr), &w.data)?;
        }
        if echo {
            echo_output(task, ev, legacy);
        }
        regs.set_syscall_no(-1);
        regs.set_result(ev.result);
        task.set_regs(regs)?;
        if (-516..=-512).contains(&ev.result) {
            // Interrupted and to be restarted by the kernel (ERESTART*): at the exit stop the
            // kernel's restart logic must see the syscall number, as it did when recorded.
            task.cont_syscall(None)?;
            match tracee::stop::wait(Some(task.tid))? {
                Some((_, Stop::Syscall)) => {}
                other => {
                    return Err(Error::Unreplayable(format!(
                        "expected the exit of a skipped syscall, got {other:?}"
                    )))
                }
            }
            let mut r = task.regs()?;
            r.set_syscall_no(ev.no as i64);
            r.set_result(ev.result);
            task.set_regs(&r)?;
        }
        Ok(())
    }

    /// Run the syscall for real; check (or impose) the recorded result.
    fn execute(&mut self, tid: i32, ev: &SyscallEvent, check: bool) -> Result<()> {
        let task = self.task(tid)?;
        task.cont_syscall(None)?;
        let stop = tracee::stop::wait(Some(task.tid))?;
        self.stops += 1;
        if !matches!(stop, Some((_, Stop::Syscall))) {
            return Err(Error::Unreplayable(format!(
                "expected the exit of {}, got {stop:?}",
                syscalls::name(ev.no as i64)
            )));
        }
        let task = self.task(tid)?;
        let mut after = task.regs()?;
        if after.result() != ev.result {
            if check {
                let got = after.result();
                return Err(Error::Diverged {
                    event: self.next_no - 1,
                    expected: format!(
                        "{} to return {:#x}",
                        syscalls::name(ev.no as i64),
                        ev.result
                    ),
                    actual: format!("got {got:#x}"),
                });
            }
            after.set_result(ev.result);
            task.set_regs(&after)?;
        }
        Ok(())
    }

    fn replay_mmap(&mut self, tid: i32, regs: &mut Regs, ev: &SyscallEvent) -> Result<()> {
        let Some(file) = &ev.file else {
            if ev.result >= 0
                && ev.args[3] as i32 & libc::MAP_ANONYMOUS == 0
                && (ev.args[4] as i32) >= 0
            {
                // A mapping of a non-regular file (/dev/zero): anonymous memory is the same.
                let mut a = ev.args;
                a[0] = ev.result as u64;
                a[3] = ((a[3] as i32 & !(libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE))
                    | libc::MAP_PRIVATE
                    | libc::MAP_ANONYMOUS
                    | libc::MAP_FIXED) as u64;
                a[4] = u64::MAX;
                let got = self.task(tid)?.syscall_instead(regs, libc::SYS_mmap, a)?;
                return self.finish_injected(tid, regs, ev, got);
            }
            return self.execute(tid, ev, true);
        };
        if ev.result < 0 {
            return self.emulate(tid, regs, ev);
        }
        let path = self.reader.file_path(file)?;
        let mut open = std::mem::take(&mut self.open_files);
        let got = mmap::map_stored(self.task(tid)?, regs, &path, ev.result as u64, &mut open);
        self.open_files = open;
        let got = got?;
        self.finish_injected(tid, regs, ev, got)
    }

    fn finish_injected(
        &mut self,
        tid: i32,
        regs: &mut Regs,
        ev: &SyscallEvent,
        got: i64,
    ) -> Result<()> {
        if got != ev.result {
            return Err(Error::Diverged {
                event: self.next_no - 1,
                expected: format!("memory mapped at {:#x}", ev.result),
                actual: format!("got {got:#x}"),
            });
        }
        regs.set_result(ev.result);
        self.task(tid)?.set_regs(regs)?;
        Ok(())
    }

    /// The real tid of recorded thread `tid`, if it is one of ours.
    fn real_tid(&self, recorded: u64) -> Option<u64> {
        i32::try_from(recorded)
            .ok()
            .and_then(|r| self.threads.get(&r))
            .map(|t| t.task.tid.as_raw() as u64)
    }

    /// kill/tkill/tgkill: a signal to the program itself is really sent (to the replayed ids);
    /// one to another process is emulated.
    fn replay_kill(&mut self, tid: i32, regs: &mut Regs, ev: &SyscallEvent) -> Result<()> {
        let me = self.leader as u64;
        let real_leader = self.real_tid(me).unwrap_or(0);
        let mut a = ev.args;
        let translated = match ev.no as i64 {
            libc::SYS_kill if a[0] == me => {
                a[0] = real_leader;
                true
            }
            libc::SYS_tkill => match self.real_tid(a[0]) {
                Some(r) => {
                    a[0] = r;
                    true
                }
                None => false,
            },
            libc::SYS_tgkill if a[0] == me => match self.real_tid(a[1]) {
                Some(r) => {
                    a[0] = real_leader;
                    a[1] = r;
                    true
                }
                None => false,
            },
            _ => false,
        };
        if !translated || ev.result < 0 {
            return self.emulate(tid, regs, ev);
        }
        let got = self.task(tid)?.syscall_instead(regs, ev.no as i64, a)?;
        if got < 0 {
            return Err(self.diverged(format!("failed to signal itself ({got})")));
        }
        regs.set_result(ev.result);
        self.task(tid)?.set_regs(regs)?;
        Ok(())
    }

    /// clone of a thread: create it for real, under its recorded tid as the program sees it.
    /// A child process (fork, vfork, posix_spawn) is not re-created: its effects are in the trace.
    fn replay_clone(&mut self, tid: i32, regs: &mut Regs, ev: &SyscallEvent) -> Result<()> {
        let flags = tracee::syscalls::clone_flags(ev.no as i64, &ev.args, self.task(tid)?);
        if flags & libc::CLONE_THREAD as u64 == 0 || ev.result <= 0 {
            return self.emulate(tid, regs, ev);
        }
        if !self.spin_enabled {
            self.spin_enabled = true;
            self.patch_new_code(tid)?;
        }
        let task = self.task(tid)?;
        task.cont_syscall(None)?;
        let real_parent = task.tid;
        let new_real = match tracee::stop::wait(Some(real_parent))? {
            Some((_, Stop::Clone)) => task.event_msg()? as i32,
            other => return Err(self.diverged(format!("did not create a thread ({other:?})"))),
        };
        task.cont_syscall(None)?;
        match tracee::stop::wait(Some(real_parent))? {
            Some((_, Stop::Syscall)) => {}
            other => return Err(self.diverged(format!("did not finish clone ({other:?})"))),
        }
        let mut after = task.regs()?;
        after.set_result(ev.result);
        task.set_regs(&after)?;
        let recorded = ev.result as u32;
        // Where the kernel stored the real tid, the program must see the recorded one.
        let (ptid, ctid) = if ev.no as i64 == libc::SYS_clone3 {
            (
                task.read_u64(RemotePtr::new(ev.args[0] + 24))?,
                task.read_u64(RemotePtr::new(ev.args[0] + 16))?,
            )
        } else {
            (ev.args[2], ev.args[3])
        };
        if flags & libc::CLONE_PARENT_SETTID as u64 != 0 && ptid != 0 {
            task.write_bytes(RemotePtr::new(ptid), &recorded.to_le_bytes())?;
        }
        if flags & libc::CLONE_CHILD_SETTID as u64 != 0 && ctid != 0 {
            task.write_bytes(RemotePtr::new(ctid), &recorded.to_le_bytes())?;
        }
        let new_pid = Pid::from_raw(new_real);
        let leader_real = self.threads[&self.leader].task.tid;
        match tracee::stop::wait(Some(new_pid))? {
            Some((_, Stop::Interrupted)) => {}
            other => return Err(self.diverged(format!("new thread did not start ({other:?})"))),
        }
        self.threads.insert(
            ev.result as i32,
            Thread {
                task: Task::new(new_pid, leader_real),
                parked: Parked::Ready,
                pause_hits: Default::default(),
                at_chaos_point: false,
                deferred: Vec::new(),
            },
        );
        Ok(())
    }

    /// exit (one thread) or exit_group: let it happen.
    fn replay_thread_exit(&mut self, tid: i32, ev: &SyscallEvent) -> Result<()> {
        let task = self.task(tid)?;
        task.cont(None)?;
        if ev.no as i64 == libc::SYS_exit && tid != self.leader {
            // Wait for its death: the kernel clears its tid word (CLONE_CHILD_CLEARTID) then,
            // which a joining thread will look at.
            self.run_to_next_stop(tid)?;
            if let Parked::Dead(_) = self.thread(tid)?.parked {
                self.threads.remove(&tid);
            }
        } else {
            self.thread(tid)?.parked = Parked::Exiting;
        }
        Ok(())
    }

    /// Run `tid` to the recorded (uncounted) preemption position `p` and park it there: the
    /// first time it reaches `p.pc` with the recorded registers and memory digest.
    fn seek(&mut self, tid: i32, sig: Option<i32>, p: &Position) -> Result<()> {
        let before = self.seek_stops;
        let r = self.seek_inner(tid, sig, p);
        self.seeks += 1;
        self.seek_max = self.seek_max.max(self.seek_stops - before);
        r
    }

    fn seek_inner(&mut self, tid: i32, sig: Option<i32>, p: &Position) -> Result<()> {
        let exclude = self.in_flight(tid)?;
        let task = self.task(tid)?;
        let real = task.tid;
        let mut sig = sig;
        let mut hits = 0u64;
        if task.regs()?.pc() == p.pc {
            // Parked at that very instruction (a preemption there before): this is a pass,
            // which a breakpoint would not report.
            hits = 1;
            if self.at_position(tid, p, hits, &exclude)? {
                return self.consume();
            }
            let task = self.task(tid)?;
            task.single_step(sig.take())?;
            let cpuid = std::sync::Arc::clone(&self.cpuid);
            match tracee::stop::wait(Some(real))? {
                Some((_, Stop::Signal(libc::SIGTRAP))) => {}
                Some((_, stop)) if cpuid.emulate(self.task(tid)?, stop)? => {}
                other => {
                    return Err(
                        self.diverged(format!("stopped ({other:?}) stepping from {:#x}", p.pc))
                    )
                }
            }
        }
        let task = self.task(tid)?;
        task.set_exec_breakpoint(Some(p.pc))?;
        task.cont(sig)?;
        loop {
            let Some((_, stop)) = tracee::stop::wait(Some(real))? else {
                continue;
            };
            self.seek_stops += 1;
            let cpuid = std::sync::Arc::clone(&self.cpuid);
            if cpuid.emulate(self.task(tid)?, stop)? {
                self.task(tid)?.cont(None)?;
                continue;
            }
            let at_bp = stop == Stop::Signal(libc::SIGTRAP) && self.task(tid)?.hit_breakpoint()?;
            if !at_bp {
                if stop == Stop::Signal(libc::SIGTRAP) && !self.chaos_points.is_empty() {
                    let pc = self.task(tid)?.regs()?.pc().wrapping_sub(1);
                    if self.chaos_points.contains_key(&pc) {
                        // A chaos point on the way: count it and run its instruction (the
                        // trace's next event for this thread is the position, not this pass).
                        if self.on_chaos_trap(tid, pc)? {
                            return Err(self.diverged(format!(
                                "stopped at chaos point {pc:#x} before reaching {:#x}",
                                p.pc
                            )));
                        }
                        self.task(tid)?.cont(None)?;
                        continue;
                    }
                }
                if stop == Stop::Signal(libc::SIGTRAP) {
                    if let Some(pc) = self.pause_trap_at(tid)? {
                        // A spin hint on the way: count it and go on.
                        let t = self.thread(tid)?;
                        *t.pause_hits.entry(pc).or_insert(0) += 1;
                        let mut regs = t.task.regs()?;
                        regs.set_pc(pc + 2);
                        t.task.set_regs(&regs)?;
                        t.task.cont(None)?;
                        continue;
                    }
                }
                let _ = self.task(tid)?.set_exec_breakpoint(None);
                return Err(self.diverged(format!(
                    "stopped ({stop:?}) before reaching {:#x} in the recorded state ({hits} hits)",
                    p.pc
                )));
            }
            hits += 1;
            if self.at_position(tid, p, hits, &exclude)? {
                return self.consume();
            }
            if hits > SEEK_LIMIT {
                let _ = self.task(tid)?.set_exec_breakpoint(None);
                return Err(self.diverged(format!(
                    "passed {:#x} {hits} times without the recorded state",
                    p.pc
                )));
            }
            self.task(tid)?.cont(None)?;
        }
    }

    /// Whether `tid`, stopped at `p.pc` for the `hits`th time since its previous event, is at
    /// position `p`; if so it is parked there (breakpoint off).
    fn at_position(
        &mut self,
        tid: i32,
        p: &Position,
        hits: u64,
        exclude: &[(u64, u64)],
    ) -> Result<bool> {
        let debug = self.debug;
        let task = self.task(tid)?;
        let regs = task.regs()?.to_words();
        let here = match p.hits {
            Some(want) if hits < want => false,
            Some(_) => {
                if !regs_equal_but(&regs, &p.regs, &UNKNOWN_BEFORE_SYSCALL) {
                    let _ = task.set_exec_breakpoint(None);
                    return Err(self.diverged(format!(
                        "reached {:#x} for the {hits}th time with other registers",
                        p.pc
                    )));
                }
                true
            }
            None if regs_equal(&regs, &p.regs) => {
                let d = tracee::digest::digest(task, exclude)?;
                if debug {
                    let same = if p.digest == Some(d) {
                        "equal"
                    } else {
                        "differs"
                    };
                    eprintln!(
                        "[replay] seek {:#x}: hit {hits} has the registers; digest {same}",
                        p.pc
                    );
                }
                p.digest.is_none_or(|want| want == d)
            }
            None => false,
        };
        if here {
            self.task(tid)?.set_exec_breakpoint(None)?;
            let t = self.thread(tid)?;
            t.parked = Parked::Ready;
            t.pause_hits.clear();
        }
        Ok(here)
    }

    /// Output buffers of syscalls other threads are parked at (left out of digests, as in
    /// recording).
    fn in_flight(&mut self, except: i32) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        for (&tid, t) in self.threads.iter_mut() {
            if tid == except {
                continue;
            }
            if let Parked::AtSyscall(regs) = t.parked {
                if let Some(row) = syscalls::lookup(regs.syscall_no()) {
                    out.extend(row.max_regions(&regs.args(), &mut t.task));
                }
            }
        }
        Ok(out)
    }

    /// Replay to the end.
    pub fn run(mut self) -> Result<ReplayOutcome> {
        loop {
            match self.step() {
                Ok(Step::Running) => {}
                Ok(Step::Exited(exit)) => {
                    pack::update_stats(
                        &self.trace,
                        &[
                            ("replay_seeks", self.seeks),
                            ("replay_seek_stops", self.seek_stops),
                            ("replay_seek_max", self.seek_max),
                        ],
                    );
                    return Ok(ReplayOutcome {
                        exit,
                        events: self.next_no - 1,
                        stops: self.stops,
                        seek_stops: self.seek_stops,
                    });
                }
                Err(e) => {
                    self.kill();
                    return Err(e);
                }
            }
        }
    }
}

trait EventExt {
    fn kind_is_exit(&self) -> bool;
}

impl EventExt for Event {
    fn kind_is_exit(&self) -> bool {
        matches!(self.kind, EventKind::Exit { .. })
    }
}

/// Print what the call sent to the recording's stdout or stderr on ours: the bytes the kernel
/// copied, kept in the event, or those it took from the program's memory. Traces of format 1 did
/// not say which stream a call reached: there, writes to fds 1 and 2 are echoed.
fn echo_output(task: &mut Task, ev: &SyscallEvent, legacy: bool) {
    let Some(sends) = tracee::syscalls::lookup(ev.no as i64).and_then(|r| r.output) else {
        return;
    };
    let stream = if legacy {
        match (sends, ev.args[0]) {
            (tracee::syscalls::Output::Copy { .. }, _) => return,
            (_, 1) => Stream::Stdout,
            (_, 2) => Stream::Stderr,
            _ => return,
        }
    } else {
        match &ev.output {
            Some(o) => o.stream,
            None => return,
        }
    };
    let mut out: Box<dyn std::io::Write> = match stream {
        Stream::Stdout => Box::new(std::io::stdout().lock()),
        Stream::Stderr => Box::new(std::io::stderr().lock()),
    };
    match &ev.output {
        Some(o) if !o.copied.is_empty() => {
            let _ = out.write_all(&o.copied);
        }
        _ => {
            let call = tracee::syscalls::Call {
                no: ev.no,
                args: ev.args,
                result: ev.result,
            };
            let regions = sends.sent_regions(&call, task);
            for d in task.read_ranges(&regions) {
                let _ = out.write_all(&d);
            }
        }
    }
    let _ = out.flush();
}
