//! `ReplaySession`: a replay in progress, and how it starts. Threads run one at a time, in the
//! recorded order: after each event its thread runs to its next stop and parks there (run.rs).
//! The session advances by `resume` (stepper.rs), which says why it stopped; autopilot (`run`)
//! is a resume with no breakpoints.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use pack::{Event, EventKind, ExitStatus, MemWrite, TraceReader};
use tracee::points::{Kind, Points};
use tracee::{spawn, Pid, RemotePtr, Task};

use crate::error::{Error, Result};
use crate::events::describe;
use crate::mmap;
use crate::reverse::History;
use crate::run::Run;
use crate::stepper::{Direction, RunCommand, StopReason, User};
use crate::thread::{Parked, Thread};

/// What to replay and how.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub trace: PathBuf,
    /// Write the recorded stdout/stderr output to ours as the program produces it.
    pub echo: bool,
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

/// The chaos points a trace's header lists.
fn chaos_points_of(h: &pack::Header) -> Vec<u64> {
    h.chaos
        .as_ref()
        .map(|c| c.points.clone())
        .unwrap_or_default()
}

/// A replay in progress.
pub struct ReplaySession {
    pub(crate) opts: ReplayOptions,
    pub(crate) reader: TraceReader,
    /// A debugger's replay keeps the events it decoded (from `log_base` on), so going back to
    /// a checkpoint reads them again from memory (`rewind`) instead of decoding the trace
    /// from its start.
    pub(crate) log: Option<Vec<Event>>,
    pub(crate) log_base: u64,
    /// The number of the event the trace (or the log) gives next.
    pub(crate) read_no: u64,
    /// By recorded tid.
    pub(crate) threads: BTreeMap<i32, Thread>,
    /// Threads that ended and were reaped (they have no task), by recorded tid.
    pub(crate) ended: BTreeMap<i32, ExitStatus>,
    /// The recorded tid of the main thread.
    pub(crate) leader: i32,
    /// The next event of the trace, read ahead.
    pub(crate) next: Option<Event>,
    /// The number of `next`.
    pub(crate) next_no: u64,
    pub(crate) stops: u64,
    pub(crate) seek_stops: u64,
    /// Recorded positions sought with a breakpoint, and the most stops one took.
    pub(crate) seeks: u64,
    pub(crate) seek_max: u64,
    /// Trace each event to stderr (CRT_DEBUG=1).
    pub(crate) debug: bool,
    /// Chaos points, spin hints and debugger breakpoints; debug registers.
    pub(crate) points: Points,
    /// Stored files opened in the program for mmaps.
    pub(crate) open_files: mmap::OpenFiles,
    /// The thread running user code between two of its parks, if one is.
    pub(crate) running: Option<Run>,
    /// What the debugger asked for: breakpoints, watchpoints, a step.
    pub(crate) user: User,
    /// Where this replay is in the run of segments (for going back).
    pub(crate) history: History,
    /// Output is echoed once: events before this number were echoed by an earlier run.
    pub(crate) echoed_before: u64,
    pub(crate) interrupt: Arc<AtomicBool>,
    /// The recording CPU's CPUID, answered under CPUID faulting (crate::cpuid).
    pub(crate) cpuid: Arc<crate::cpuid::RecordedCpuid>,
    /// Output of the recording's child processes (External events, passed over when read),
    /// with their numbers: printed before the next event is replayed.
    pub(crate) external: Vec<(u64, pack::Output)>,
    /// Events in the trace, counted when first asked.
    pub(crate) event_count: std::cell::OnceCell<u64>,
    /// Stopped copies of the process to go back from (checkpoint.rs).
    pub(crate) checkpoints: crate::checkpoint::Checkpoints,
    /// Instructions single-stepped through going back, to go there again by a run.
    pub(crate) trails: crate::reverse::Trails,
}

impl ReplaySession {
    /// Start the recorded program: it stands at its first instruction, before any event of
    /// its own.
    pub fn start(opts: ReplayOptions) -> Result<ReplaySession> {
        let mut s = Self::spawn(opts)?;
        let first = s.leader;
        s.history.halt_at_segment = Some(1);
        match s.start_run(first, None) {
            Ok(_) => {
                s.history.halt_at_segment = None;
                Ok(s)
            }
            Err(e) => {
                s.kill();
                Err(e)
            }
        }
    }

    /// A new process for the trace, at its exec (nothing run yet).
    fn spawn(opts: ReplayOptions) -> Result<ReplaySession> {
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
        threads.insert(tid, Thread::new(task, Parked::AtExec));
        let mut s = ReplaySession {
            opts,
            reader,
            ended: BTreeMap::new(),
            log: None,
            log_base: 0,
            read_no: 1,
            threads,
            leader: tid,
            next: None,
            next_no: 1,
            stops: 1,
            seek_stops: 0,
            seeks: 0,
            seek_max: 0,
            debug: std::env::var_os("CRT_DEBUG").is_some(),
            points: Points::default(),
            open_files: Default::default(),
            running: None,
            user: User::default(),
            history: History::default(),
            echoed_before: 0,
            external: Vec::new(),
            interrupt: Arc::new(AtomicBool::new(false)),
            event_count: Default::default(),
            cpuid: Arc::new(crate::cpuid::RecordedCpuid::new(&h)),
            checkpoints: Default::default(),
            trails: Default::default(),
        };
        let points = chaos_points_of(&h);
        let r = s
            .apply_exec(tid, &writes)
            .and_then(|_| s.patch_chaos_points(tid, &points))
            .and_then(|_| s.advance());
        if let Err(e) = r {
            s.kill();
            return Err(e);
        }
        Ok(s)
    }

    /// The same trace from its start again, in a new process (this one is killed). The
    /// debugger's breakpoints and watchpoints are kept; output is not echoed twice.
    pub(crate) fn respawn(&mut self) -> Result<()> {
        self.print_external();
        let echoed = self.echoed_before.max(self.next_no);
        let mut user = std::mem::take(&mut self.user);
        let interrupt = self.interrupt.clone();
        let checkpoints = std::mem::take(&mut self.checkpoints);
        let log = self.log.take();
        let log_base = self.log_base;
        let trails = std::mem::take(&mut self.trails);
        self.kill();
        let mut fresh = Self::spawn(self.opts.clone())?;
        fresh.echoed_before = echoed;
        fresh.interrupt = interrupt;
        fresh.checkpoints = checkpoints;
        if log.is_some() {
            // The events kept so far serve the new process too.
            fresh.log = log;
            fresh.log_base = log_base;
        }
        fresh.trails = trails;
        // The mode the caller is in carries over (collecting, counting).
        fresh.user.mode = std::mem::take(&mut user.mode);
        fresh.history.halt_at_segment = Some(1);
        *self = fresh;
        let leader = self.leader;
        self.start_run(leader, None)?;
        self.history.halt_at_segment = None;
        // The debugger's points are armed again by the caller, where it needs them.
        self.user = user;
        self.user.at_breakpoint = None;
        self.user.step = None;
        self.user.signal_reported = None;
        Ok(())
    }

    /// The number of the next event to replay.
    pub fn next_event_no(&self) -> u64 {
        self.next_no
    }

    /// Kill the process and reap its threads (only its own: checkpoints are children too).
    pub(crate) fn kill(&mut self) {
        let Some(tgid) = self.threads.values().next().map(|t| t.task.tgid) else {
            self.running = None;
            return;
        };
        let _ = nix::sys::signal::kill(tgid, nix::sys::signal::Signal::SIGKILL);
        let tids: Vec<Pid> = self.living_tids();
        tracee::reap_process(tgid, &tids);
        self.threads.clear();
        self.running = None;
    }

    /// The real tids of the threads not known to have ended.
    pub(crate) fn living_tids(&self) -> Vec<Pid> {
        self.threads.values().map(|t| t.task.tid).collect()
    }

    pub(crate) fn thread(&mut self, tid: i32) -> Result<&mut Thread> {
        let no = self.next_no;
        let actual = match self.ended.get(&tid) {
            Some(st) => format!("ended with {st:?}"),
            None => "has no such thread".into(),
        };
        self.threads.get_mut(&tid).ok_or_else(|| Error::Diverged {
            event: no,
            expected: format!("thread {tid} to exist"),
            actual,
        })
    }

    pub(crate) fn task(&mut self, tid: i32) -> Result<&mut Task> {
        Ok(&mut self.thread(tid)?.task)
    }

    /// Read the next event ahead. Child output events are no thread's: they are kept aside to
    /// be printed before the next event, so that `next` is always a thread's event.
    pub(crate) fn advance(&mut self) -> Result<()> {
        loop {
            self.next = self.read_event()?;
            match self.next.take() {
                Some(Event {
                    kind: EventKind::External(o),
                    ..
                }) => {
                    self.external.push((self.next_no, o));
                    self.next_no += 1;
                }
                other => {
                    self.next = other;
                    return Ok(());
                }
            }
        }
    }

    /// The next event of the trace: from the log when going over events again.
    fn read_event(&mut self) -> Result<Option<Event>> {
        let i = self.read_no.checked_sub(self.log_base).map(|i| i as usize);
        if let (Some(log), Some(i)) = (&self.log, i) {
            if let Some(ev) = log.get(i) {
                self.read_no += 1;
                return Ok(Some(ev.clone()));
            }
        }
        // The reader where the log ends (or where replay is, without a log).
        if self.reader.events_read() > self.read_no {
            self.reader = TraceReader::open(&self.opts.trace)?;
        }
        while self.reader.events_read() < self.read_no {
            if self.reader.next_event()?.is_none() {
                return Ok(None);
            }
        }
        let ev = self.reader.next_event()?;
        if let (Some(log), Some(ev)) = (&mut self.log, &ev) {
            if i == Some(log.len()) {
                log.push(ev.clone());
            }
        }
        if ev.is_some() {
            self.read_no += 1;
        }
        Ok(ev)
    }

    /// Keep the events decoded from now on (the next one included).
    pub(crate) fn keep_events(&mut self) {
        if self.log.is_none() {
            self.log_base = self.next_no;
            self.log = Some(self.next.iter().cloned().collect());
        }
    }

    /// Read the events again from event `n` on: kept ones from memory, the others decoded.
    pub(crate) fn reread_from(&mut self, n: u64) {
        self.read_no = n;
    }

    /// Print the child output read so far (once, however often a debugger goes back).
    pub(crate) fn print_external(&mut self) {
        for (no, o) in std::mem::take(&mut self.external) {
            if self.opts.echo && no >= self.echoed_before {
                crate::syscalls::echo_bytes(o.stream, &o.copied);
            }
        }
    }

    /// Move past the current event.
    pub(crate) fn consume(&mut self) -> Result<()> {
        self.next_no += 1;
        self.advance()
    }

    pub(crate) fn diverged(&self, actual: String) -> Error {
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

    pub(crate) fn apply_exec(&mut self, tid: i32, writes: &[MemWrite]) -> Result<()> {
        let no = self.next_no.saturating_sub(1);
        // A new image: no patched code, and the stored files we had open were closed
        // (O_CLOEXEC). Chaos points are patched again by the caller for the first exec only.
        self.open_files = Default::default();
        self.points.clear_at_exec();
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
        // The debugger's breakpoints in the new image.
        let t = self.threads.get_mut(&tid).expect("the thread exists");
        self.points.patch_new_code(&mut t.task)?;
        let cpuid = Arc::clone(&self.cpuid);
        cpuid.after_exec(self.task(tid)?)
    }

    /// Patch the recorded chaos points (at the first exec, as the recorder did).
    fn patch_chaos_points(&mut self, tid: i32, points: &[u64]) -> Result<()> {
        let t = self.threads.get_mut(&tid).expect("the main thread");
        for &a in points {
            self.points.add(&mut t.task, a, Kind::Chaos)?;
        }
        Ok(())
    }

    /// Replay to the end (autopilot).
    pub fn run(mut self) -> Result<ReplayOutcome> {
        let r = loop {
            match self.resume(RunCommand::Continue, Direction::Forward) {
                Ok(StopReason::HistoryEnd { .. }) => break self.finish(),
                Ok(StopReason::Signal { .. }) => continue,
                Ok(other) => {
                    break Err(self.diverged(format!("stopped unexpectedly ({other:?})")));
                }
                Err(e) => break Err(e),
            }
        };
        match r {
            Ok(exit) => {
                pack::update_stats(
                    &self.opts.trace,
                    &[
                        ("replay_seeks", self.seeks),
                        ("replay_seek_stops", self.seek_stops),
                        ("replay_seek_max", self.seek_max),
                    ],
                );
                Ok(ReplayOutcome {
                    exit,
                    events: self.next_no - 1,
                    stops: self.stops,
                    seek_stops: self.seek_stops,
                })
            }
            Err(e) => {
                self.kill();
                Err(e)
            }
        }
    }

    /// From the end of the history: let the process end as recorded.
    fn finish(&mut self) -> Result<ExitStatus> {
        loop {
            let Some(ev) = self.next.clone() else {
                return Err(self.diverged("is still running".into()));
            };
            if let crate::run::Halt::Exited(status) = self.step_event(ev)? {
                return Ok(status);
            }
        }
    }
}
