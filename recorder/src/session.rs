//! `RecordSession`: one recording, advanced stop by stop with `step`. Threads are serialised:
//! exactly one runs user code at a time (DESIGN.md section 5); every switch is an event.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pack::{CpuidLeaf, Event, EventKind, ExitStatus, Header, MemWrite, TraceWriter};
use tracee::interrupt::{self, Deadline};
use tracee::profile::{self, StopKind, Work};
use tracee::{spawn, Pid, RemotePtr, Stop, Task};

use crate::error::{Error, Result};
use crate::syscall::{self, Pending};
use crate::thread::{State, Thread};
use crate::{children, preempt, signal};

/// What to record.
pub struct RecordOptions {
    /// The program as the user named it (resolved through PATH like execvp).
    pub program: OsString,
    /// Its arguments (argv[1..]).
    pub args: Vec<OsString>,
    /// The trace directory to create.
    pub output: PathBuf,
    /// Record under chaos scheduling with these settings.
    pub chaos: Option<crate::chaos::ChaosOptions>,
    /// The program's environment as `NAME=value` entries (`None`: this process's environment).
    pub env: Option<Vec<Vec<u8>>>,
}

/// What one `step` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The program goes on.
    Running,
    /// The program ended.
    Exited(ExitStatus),
}

/// How a recording ended.
#[derive(Debug)]
pub struct RecordOutcome {
    pub trace: PathBuf,
    /// The program's exit status, when it ran to its end.
    pub exit: Option<ExitStatus>,
    /// Set when the recording was cut short (Ctrl-C, error): the trace is marked incomplete.
    pub incomplete_reason: Option<String>,
    pub events: u64,
    /// ptrace stops the recording took.
    pub stops: u64,
    pub syscalls: u64,
    /// Preemptions (spin hints, repeated states, budget).
    pub preemptions: u64,
    /// Of those, at uncounted positions whose replay may be slow.
    pub uncounted_preemptions: u64,
    /// What may keep the trace from replaying, one line each (also in its stats, for `info`).
    pub warnings: Vec<String>,
}

/// How long a thread runs user code before another runnable thread gets a turn.
const SLICE: Duration = Duration::from_millis(50);
/// How long a thread that woke from a blocking syscall waits at most for the running thread to
/// reach its next exact switch point (when it computes without one, longer).
const WAKE_GRACE: Duration = Duration::from_millis(1);
/// How long a syscall not marked blocking may take before other threads run meanwhile.
const SYSCALL_PATIENCE: Duration = Duration::from_millis(2);

/// A recording in progress.
pub struct RecordSession {
    pub(crate) writer: TraceWriter,
    header: Header,
    pub(crate) threads: BTreeMap<i32, Thread>,
    /// The process (thread group) id.
    pub(crate) leader: Pid,
    /// The thread running user code (or finishing a syscall we wait for), if any.
    pub(crate) current: Option<i32>,
    slice_start: Instant,
    /// Round-robin cursor: the last thread scheduled.
    last_scheduled: i32,
    started: Instant,
    exit: Option<ExitStatus>,
    pub(crate) syscalls: u64,
    /// How long the parts of start-up took (ns).
    startup: Startup,
    pub(crate) preemptions: u64,
    /// Preemptions at uncounted positions after a thread computed past its budget.
    pub(crate) uncounted_preemptions: u64,
    /// Spin hints patched into counted scheduling points.
    /// Every int3 and debug register of ours in the program (chaos points, spin hints).
    pub(crate) points: tracee::points::Points,
    /// The pipes child processes write the recording's stdout and stderr to.
    pub(crate) external: crate::external::ExternalOutput,
    /// The process ended while a nested wait handled its last stop.
    exited_during_dispatch: bool,
    /// The CPU mask the program would have had, which sched_getaffinity reports.
    pub(crate) mask: tracee::affinity::OriginalMask,
    /// Masks the program set for its threads (by tid).
    pub(crate) virtual_masks: std::collections::HashMap<i32, Vec<u8>>,
    /// Chaos scheduling, when asked for.
    pub(crate) chaos: Option<crate::chaos::Chaos>,
    /// The current slice's length.
    slice: Duration,
    /// After the slice ran out on a computing thread (it is switched at its next syscall or
    /// counted point): when to look at it again.
    recheck: Option<Instant>,
    /// How long woken threads waited for the CPU.
    pub(crate) wake_latency: crate::latency::Latency,
    /// Call-frame information of the mapped files, for moving preemptions out of hot loops.
    pub(crate) unwinder: tracee::unwind::Unwinder,
    /// Preemptions of computing threads that were moved out to an outer frame's return.
    pub(crate) moved_out: u64,
    /// Preemptions where a learned spin loop repeated a pass (`spin_watch`).
    pub(crate) spin_watch_preemptions: u64,
    /// CPU time one ptrace stop costs a thread here (measured once, for move-out estimates).
    pub(crate) stop_cost_ns: Option<u64>,
    /// Trace decisions to stderr (CRT_DEBUG=1).
    pub(crate) debug: bool,
    /// Writable memory shared with forked children (an input no trace holds).
    pub(crate) shared: crate::shared::SharedWithChildren,
}

/// Start-up of a recording, measured apart (ns each): for `info` and bench/speed.py.
#[derive(Clone, Copy, Debug, Default)]
struct Startup {
    /// From `start` to the program's first instruction (all of the below and more).
    total: u64,
    /// Fork, PTRACE_SEIZE, exec to its exec stop.
    spawn: u64,
    /// CPUID leaves for the header.
    cpuid: u64,
    /// Decoding the executable for chaos points (under chaos).
    elf: u64,
    /// Creating the trace directory and its writer.
    trace_create: u64,
    /// Hashing (and storing) the executable.
    store_program: u64,
}

fn ns_since(t: Instant) -> u64 {
    t.elapsed().as_nanos() as u64
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl RecordSession {
    /// Spawn the program stopped at its first instruction and open the trace.
    pub fn start(opts: RecordOptions) -> Result<RecordSession> {
        let t_start = Instant::now();
        let mut startup = Startup::default();
        profile::reset();
        interrupt::install();
        let mask = tracee::affinity::OriginalMask::current();
        let path_var = std::env::var_os("PATH");
        let program = spawn::resolve_program(&opts.program, path_var.as_deref())?;
        let mut argv = vec![opts.program.as_bytes().to_vec()];
        argv.extend(opts.args.iter().map(|a| a.as_bytes().to_vec()));
        let env: Vec<Vec<u8>> = opts.env.clone().unwrap_or_else(|| {
            std::env::vars_os()
                .map(|(k, v)| {
                    let mut e = k.into_vec();
                    e.push(b'=');
                    e.extend(v.into_vec());
                    e
                })
                .collect()
        });
        let cwd = std::env::current_dir()
            .map_err(|e| Error::Other(format!("cannot read the current directory: {e}")))?;
        let t = Instant::now();
        // Asked on the CPU the program will be pinned to (its APIC id is in the leaves).
        let cpuid = tracee::cpuid::all_leaves_on(tracee::affinity::choose_cpu(&mask))
            .into_iter()
            .map(|l| CpuidLeaf {
                leaf: l.leaf,
                subleaf: l.subleaf,
                eax: l.eax,
                ebx: l.ebx,
                ecx: l.ecx,
                edx: l.edx,
            })
            .collect();
        startup.cpuid = ns_since(t);
        let header = Header {
            format_version: pack::FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            program: program.as_os_str().as_bytes().to_vec(),
            argv: argv.clone(),
            env: env.clone(),
            cwd: cwd.as_os_str().as_bytes().to_vec(),
            start_time_ns: now_ns(),
            duration_ns: 0,
            cpuid,
            xcr0: tracee::cpuid::xcr0(),
            kernel_release: tracee::kernel_release(),
            chaos: None,
            exit: None,
            complete: false,
            incomplete_reason: String::new(),
        };
        // Spawn first: a missing program must not leave an empty trace behind.
        let t = Instant::now();
        let task = spawn::spawn(&spawn::SpawnOptions {
            program,
            argv,
            env,
            cwd: None,
            seccomp_trace_all: false,
            null_stdio: false,
        })?;
        startup.spawn = ns_since(t);
        let mut header = header;
        let mut task = task;
        let mut points = tracee::points::Points::default();
        let chaos = match &opts.chaos {
            Some(o) => {
                let mut c = crate::chaos::Chaos::new(o);
                let t = Instant::now();
                let patched = crate::chaos_points::patch(&mut task, &mut points, &mut c);
                startup.elf = ns_since(t);
                if let Err(e) = patched {
                    task.kill();
                    let _ = tracee::stop::wait(Some(task.tid));
                    return Err(e);
                }
                header.chaos = Some(pack::ChaosParams {
                    seed: c.seed,
                    params: c.params(),
                    points: c.point_list.clone(),
                });
                Some(c)
            }
            None => None,
        };
        let t = Instant::now();
        let writer =
            match interrupt::without_stop_signals(|| TraceWriter::create(&opts.output, &header)) {
                Ok(w) => w,
                Err(e) => {
                    task.kill();
                    let _ = tracee::stop::wait(Some(task.tid));
                    return Err(e.into());
                }
            };
        // The executable goes in the store too (the kernel mapped it, no mmap names it), so a
        // rebuild, or a packed copy on another machine, still replays the recorded bytes.
        startup.trace_create = ns_since(t);
        let t = Instant::now();
        let mut writer = writer;
        let exe = PathBuf::from(OsString::from_vec(header.program.clone()));
        if let Err(e) = interrupt::without_stop_signals(|| writer.store_program(&exe)) {
            task.kill();
            let _ = tracee::stop::wait(Some(task.tid));
            return Err(e.into());
        }
        startup.store_program = ns_since(t);
        // Share one CPU with the program (its threads inherit the pin); the writer thread,
        // started before we pin ourselves, keeps the whole mask to compress elsewhere.
        let cpu = tracee::affinity::choose_cpu(&mask);
        if let Some(cpu) = cpu {
            tracee::affinity::pin(task.tid, cpu);
            tracee::affinity::pin(Pid::from_raw(0), cpu);
        }
        let leader = task.tid;
        let mut threads = BTreeMap::new();
        threads.insert(leader.as_raw(), Thread::new(task, State::Running));
        let mut s = RecordSession {
            writer,
            header,
            threads,
            leader,
            current: Some(leader.as_raw()),
            slice_start: Instant::now(),
            last_scheduled: leader.as_raw(),
            started: Instant::now(),
            exit: None,
            syscalls: 0,
            startup,
            preemptions: 0,
            uncounted_preemptions: 0,
            points,
            external: crate::external::ExternalOutput::new(),
            exited_during_dispatch: false,
            mask,
            virtual_masks: Default::default(),
            chaos,
            slice: SLICE,
            recheck: None,
            wake_latency: Default::default(),
            unwinder: Default::default(),
            moved_out: 0,
            spin_watch_preemptions: 0,
            stop_cost_ns: None,
            debug: std::env::var_os("CRT_DEBUG").is_some(),
            shared: Default::default(),
        };
        if let Some(c) = s.chaos.as_mut() {
            c.on_new_thread(leader.as_raw());
        }
        // We are at the exec stop of the initial execve (spawn waited for it); its syscall-exit
        // stop follows.
        profile::count_stop(StopKind::Exec);
        let r = s
            .on_exec(leader.as_raw())
            .and_then(|_| s.resume(leader.as_raw(), None));
        if let Err(e) = r {
            s.kill_all();
            return Err(e);
        }
        s.startup.total = ns_since(t_start);
        Ok(s)
    }

    pub(crate) fn thread(&mut self, tid: i32) -> &mut Thread {
        self.threads.get_mut(&tid).expect("known thread")
    }

    pub(crate) fn task(&mut self, tid: i32) -> &mut Task {
        &mut self.thread(tid).task
    }

    pub(crate) fn push(&mut self, tid: i32, kind: EventKind) -> Result<u64> {
        // Replay passes over silent syscalls without a stop, so they cannot mark where counting
        // starts.
        let silent = matches!(&kind, EventKind::Syscall(sc)
            if tracee::syscalls::lookup(sc.no as i64).is_some_and(|r| r.is_silent(&sc.args)));
        if let Some(t) = self.threads.get_mut(&tid).filter(|_| !silent) {
            // Counted positions count from the thread's previous event.
            t.hits.clear();
            t.computing_since = None;
            t.event_at = Instant::now();
            t.move_out_tries = 0;
            t.move_out_dropped.clear();
            t.move_out_best = None;
            // A learned spin loop is watched from here on (the thread is stopped at its event;
            // one that is gone has nothing to watch).
            if !t.spin_pcs.is_empty()
                && !matches!(kind, EventKind::Exit { .. })
                && crate::spin_watch::segment_start(self, tid).is_err()
            {
                self.thread(tid).spin_watch = None;
            }
        }
        // What child processes wrote up to now comes first (the program's end: all of it).
        let external = if tid == self.leader.as_raw() && matches!(kind, EventKind::Exit { .. }) {
            self.external.finish()
        } else {
            self.external.take()
        };
        let leader = self.leader.as_raw();
        let ev = Event { tid, kind };
        Ok(profile::work(Work::TraceWrite, || {
            for o in external {
                self.writer.push(&Event {
                    tid: leader,
                    kind: EventKind::External(o),
                })?;
            }
            self.writer.push(&ev)
        })?)
    }

    /// Resume a thread until its next stop (PTRACE_SYSCALL), delivering `sig`.
    pub(crate) fn resume(&mut self, tid: i32, sig: Option<i32>) -> Result<()> {
        let t = self.thread(tid);
        match t.task.cont_syscall(sig) {
            Ok(()) => Ok(()),
            // The thread died under us (exit_group by another thread): its exit report follows.
            Err(tracee::Error::Ptrace {
                source: nix::errno::Errno::ESRCH,
                ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The thread just exec'd: hide the vDSO and record the initial stack.
    fn on_exec(&mut self, tid: i32) -> Result<()> {
        if self.writer.next_event() > 0 {
            // A later execve: a new image, with none of our patches.
            self.points.clear_at_exec();
            self.unwinder.clear();
        }
        let task = self.task(tid);
        task.reset_mem();
        tracee::auxv::hide_vdso(task)?;
        let sp = task.regs()?.sp();
        let top = tracee::auxv::stack_top(task.tid.as_raw())?;
        let data = task.read_prefix(RemotePtr::new(sp), top.saturating_sub(sp) as usize);
        self.push(
            tid,
            EventKind::Exec {
                writes: vec![MemWrite { addr: sp, data }],
            },
        )?;
        self.thread(tid).state = State::InSyscall(Pending::exec());
        Ok(())
    }

    pub(crate) fn others_runnable(&self, except: i32) -> bool {
        self.threads
            .iter()
            .any(|(&tid, t)| tid != except && t.runnable())
    }

    /// Whether a thread is blocked in a syscall with a timeout (a sleep, a timed wait): only
    /// then can keeping a runnable thread off the CPU change what the program sees.
    pub(crate) fn someone_waits_on_time(&self) -> bool {
        self.threads.values().any(|t| match t.state {
            State::InSyscall(p) => {
                tracee::syscalls::lookup(p.no).is_some_and(|r| r.waits_on_clock(&p.args))
            }
            _ => false,
        })
    }

    /// The runnable threads other than `except`.
    pub(crate) fn runnable_except(&self, except: i32) -> Vec<i32> {
        self.threads
            .iter()
            .filter(|(&tid, t)| tid != except && t.runnable())
            .map(|(&tid, _)| tid)
            .collect()
    }

    /// The next thread to run: the chaos choice, or round-robin after the last one scheduled.
    fn pick(&self) -> Option<i32> {
        if let Some(c) = &self.chaos {
            return c.pick(&self.runnable_except(-1), self.someone_waits_on_time());
        }
        // A thread woken from a blocking call first (the longest waiting), as the kernel favours
        // wakers; then round-robin.
        let woken = self
            .threads
            .iter()
            .filter(|(_, t)| t.runnable())
            .filter_map(|(&tid, t)| t.woke.map(|at| (at, tid)))
            .min();
        if let Some((_, tid)) = woken {
            return Some(tid);
        }
        let after = self
            .threads
            .range(self.last_scheduled + 1..)
            .find(|(_, t)| t.runnable());
        after
            .or_else(|| self.threads.iter().find(|(_, t)| t.runnable()))
            .map(|(&tid, _)| tid)
    }

    /// Make `tid` the running thread, recording what marks its resumption.
    pub(crate) fn run_thread(&mut self, tid: i32) -> Result<()> {
        let state = self.thread(tid).state;
        match state {
            State::AtExit(p) => syscall::record_exit(self, tid, p)?,
            State::Ready => {
                self.push(tid, EventKind::Schedule { position: None })?;
            }
            State::AtEntry => {}
            other => {
                return Err(Error::Other(format!(
                    "internal: scheduling thread {tid} in state {other:?}"
                )))
            }
        }
        if self.current != Some(tid) {
            self.slice_start = Instant::now();
            self.recheck = None;
            self.slice = match self.chaos.as_mut() {
                Some(c) => c.slice(),
                None => SLICE,
            };
        }
        self.current = Some(tid);
        self.last_scheduled = tid;
        self.thread(tid).woke_by_timer = false;
        if let Some(at) = self.thread(tid).woke.take() {
            self.wake_latency.add(at.elapsed());
        }
        let t = self.thread(tid);
        t.state = State::Running;
        t.fresh = true;
        if state == State::Ready && crate::chaos_points::parked_at_point(self, tid)? {
            return Ok(());
        }
        if state == State::AtEntry {
            // Held signals wait for its next scheduling point: replay has it parked at the
            // syscall, where no signal event can come first.
            let regs = self.task(tid).regs()?;
            return syscall::enter(self, tid, regs);
        }
        let sig = signal::take_queued(self, tid, state)?;
        self.resume(tid, sig)
    }

    /// Wait for the next stop; `None` when the deadline for the current thread passed.
    fn wait_next(&mut self) -> Result<Option<(i32, Stop)>> {
        let deadline = match self.current {
            Some(cur) if self.others_runnable(cur) => match self.thread(cur).state {
                State::Running => Some(Deadline::arm(match self.recheck {
                    Some(at) => at.saturating_duration_since(Instant::now()),
                    None => self.slice.saturating_sub(self.slice_start.elapsed()),
                })),
                // Only emulated calls may be recorded out of the order they took effect in:
                // replay re-executes the others (memory layout, signal state) in trace order.
                State::InSyscall(p)
                    if tracee::syscalls::lookup(p.no)
                        .is_some_and(|r| r.class == tracee::syscalls::Class::Emulate) =>
                {
                    // Under chaos, timing must decide as little as possible: a long patience
                    // (only for liveness, e.g. a write to a full pipe).
                    Some(Deadline::arm(if self.chaos.is_some() {
                        SYSCALL_PATIENCE * 50
                    } else {
                        SYSCALL_PATIENCE
                    }))
                }
                _ => None,
            },
            // Chaos starves every runnable thread for now: wake up when the first may run.
            None if self.chaos.is_some() && self.someone_waits_on_time() => {
                let runnable = self.runnable_except(-1);
                let c = self.chaos.as_mut().expect("checked");
                match c.starvation_end(&runnable) {
                    Some(t) if c.pick(&runnable, true).is_none() => {
                        let d = c.charge(t.saturating_duration_since(Instant::now()));
                        Some(Deadline::arm(d))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        loop {
            if let Some(sig) = interrupt::received() {
                return Err(self.interrupted(sig));
            }
            match tracee::stop::wait(None)? {
                Some((pid, stop)) => return Ok(Some((pid.as_raw(), stop))),
                None => {
                    if deadline.as_ref().is_some_and(|d| d.passed()) {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Advance the recording by one stop.
    pub fn step(&mut self) -> Result<Step> {
        match self.step_inner() {
            // A thread vanished under us (exit_group or a fatal signal is taking the process
            // down): its death report follows; carry on.
            Err(Error::Tracee(tracee::Error::Ptrace {
                source: nix::errno::Errno::ESRCH,
                tid,
                ..
            })) => {
                if let Some(t) = self.threads.get_mut(&tid) {
                    t.state = State::Dead;
                }
                if self.current == Some(tid) {
                    self.current = None;
                }
                Ok(Step::Running)
            }
            other => other,
        }
    }

    fn step_inner(&mut self) -> Result<Step> {
        if self.exited_during_dispatch {
            if let Some(status) = self.exit {
                return Ok(Step::Exited(status));
            }
        }
        // Pick until a thread runs. A thread held at a syscall's entry goes straight into the
        // call when scheduled, and if that call blocks nobody runs: the next runnable thread
        // must be picked at once (it may be the one that ends the wait). Each pass takes a
        // thread out of the runnable set or makes it current, so this ends.
        while self.current.is_none() {
            let Some(tid) = self.pick() else { break };
            self.run_thread(tid)?;
        }
        // With nobody runnable (all blocked in syscalls, or exiting), wait for one to finish.
        match self.wait_next()? {
            None => {
                self.on_deadline()?;
                Ok(Step::Running)
            }
            Some((tid, stop)) => self.on_stop(tid, stop),
        }
    }

    /// The current thread used up its time while others wait.
    fn on_deadline(&mut self) -> Result<()> {
        let Some(cur) = self.current else {
            return Ok(());
        };
        match self.thread(cur).state {
            // An emulated syscall that takes long: let the others run meanwhile. (The deadline
            // may have been armed for a slice before the thread entered an executed syscall,
            // whose result must be recorded before anything else runs.)
            State::InSyscall(p)
                if tracee::syscalls::lookup(p.no)
                    .is_some_and(|r| r.class == tracee::syscalls::Class::Emulate) =>
            {
                self.current = None
            }
            State::Running => preempt::request(self, cur)?,
            _ => {}
        }
        Ok(())
    }

    /// A thread's blocking syscall returned while another thread runs: it should get the CPU
    /// about as soon as it would natively, so the running thread is switched at its next exact
    /// point (syscall or counted point) after a short grace. Under chaos only a wait whose time
    /// ran out does this (decisions must not depend on how fast wake-ups arrive otherwise).
    fn on_woken(&mut self, tid: i32, p: Pending) -> Result<()> {
        let blocking = tracee::syscalls::lookup(p.no).filter(|r| r.may_block(&p.args));
        let Some(row) = blocking else {
            return Ok(());
        };
        let by_timer = row.waits_on_clock(&p.args) && {
            let result = self.task(tid).regs()?.result();
            row.timed_out(&p.args, result)
        };
        let t = self.thread(tid);
        t.woke = Some(Instant::now());
        t.woke_by_timer = by_timer;
        let urgent = by_timer || self.chaos.is_none();
        if urgent && self.current.is_some() {
            self.slice = self.slice.min(self.slice_start.elapsed() + WAKE_GRACE);
            self.recheck = None;
        }
        Ok(())
    }

    /// Whether the current thread's slice is over.
    pub(crate) fn slice_over(&self) -> bool {
        self.slice_start.elapsed() >= self.slice
    }

    /// Start a new time slice for the current thread.
    pub(crate) fn slice_restart(&mut self) {
        self.slice_start = Instant::now();
        self.recheck = None;
    }

    /// The slice stays over (the thread is switched at its next syscall or counted point), and
    /// the thread is looked at again after another slice's time.
    pub(crate) fn recheck_later(&mut self) {
        self.recheck = Some(Instant::now() + self.slice);
    }

    /// Handle a stop that interrupted something else (e.g. the preemption logic's own wait).
    pub(crate) fn dispatch(&mut self, tid: i32, stop: Stop) -> Result<()> {
        match self.on_stop(tid, stop)? {
            Step::Running => Ok(()),
            Step::Exited(_) => {
                self.exited_during_dispatch = true;
                Ok(())
            }
        }
    }

    fn on_stop(&mut self, tid: i32, stop: Stop) -> Result<Step> {
        if !self.threads.contains_key(&tid) {
            return self.on_new_task(tid, stop);
        }
        let t = self.thread(tid);
        let fresh = std::mem::replace(&mut t.fresh, false);
        let state = t.state;
        if state == State::Dead && !matches!(stop, Stop::Exited(_) | Stop::Killed { .. }) {
            // A stop reported before its process began to exit: let it go on dying.
            if stop == Stop::Syscall {
                profile::classify(StopKind::SyscallExit);
            }
            return self.resume(tid, None).map(|_| Step::Running);
        }
        match stop {
            Stop::Syscall => match state {
                State::Running => syscall::on_entry(self, tid)?,
                State::InSyscall(p) => {
                    profile::classify(StopKind::SyscallExit);
                    self.thread(tid).state = State::AtExit(p);
                    if self.current == Some(tid) {
                        // Chaos may switch here, leaving the result unrecorded until the thread
                        // runs again; only for emulated calls, whose order replay need not keep.
                        let others = self.runnable_except(tid);
                        let emulated = tracee::syscalls::lookup(p.no)
                            .is_some_and(|r| r.class == tracee::syscalls::Class::Emulate);
                        let switch = emulated
                            && self
                                .chaos
                                .as_mut()
                                .is_some_and(|c| c.should_switch(tid, &others, false));
                        if switch {
                            self.current = None;
                        } else {
                            if self.chaos.is_some() {
                                // Under chaos a syscall is a scheduling point too: the slice
                                // counts only code between points (decisions do not depend on
                                // how long syscalls take).
                                self.slice_restart();
                            }
                            self.run_thread(tid)?;
                        }
                    } else {
                        self.on_woken(tid, p)?;
                        if let Some(c) = self.chaos.as_mut() {
                            c.on_runnable(tid);
                        }
                    }
                }
                other => {
                    return Err(Error::Other(format!(
                        "internal: syscall stop of thread {tid} in state {other:?}"
                    )))
                }
            },
            Stop::Exec => {
                self.on_exec(tid)?;
                self.resume(tid, None)?;
            }
            Stop::Clone => {
                let new = self.task(tid).event_msg()? as i32;
                let leader = self.leader;
                let nt = self.threads.entry(new).or_insert_with(|| {
                    let mut t = Thread::new(Task::new(Pid::from_raw(new), leader), State::Ready);
                    t.parked = false;
                    t
                });
                nt.unborn = true;
                self.resume(tid, None)?;
            }
            Stop::Fork => {
                // The child's own first stop releases it (see on_new_task).
                self.resume(tid, None)?;
            }
            Stop::Interrupted => {
                let t = self.thread(tid);
                if t.interrupt_pending {
                    t.interrupt_pending = false;
                    if state == State::Running && self.current == Some(tid) {
                        preempt::on_interrupted(self, tid)?;
                    } else {
                        self.resume(tid, None)?;
                    }
                } else if state == State::Ready {
                    profile::classify(StopKind::NewThread);
                    // A new thread's first stop: it waits to be scheduled, a slice at most
                    // (its creator keeps the CPU to its next exact point after that).
                    t.parked = true;
                    if self.slice_over() {
                        self.slice_restart();
                    }
                    if let Some(c) = self.chaos.as_mut() {
                        c.on_new_thread(tid);
                        c.on_runnable(tid);
                    }
                } else {
                    profile::classify(StopKind::Other);
                    self.resume(tid, None)?;
                }
            }
            Stop::Signal(sig) => signal::on_signal(self, tid, sig, fresh)?,
            Stop::Exited(code) => return self.on_death(tid, ExitStatus::Exited(code)),
            Stop::Killed {
                signal,
                core_dumped,
            } => {
                return self.on_death(
                    tid,
                    ExitStatus::Signaled {
                        signal,
                        core_dumped,
                    },
                )
            }
            Stop::GroupStop(_)
            | Stop::VforkDone
            | Stop::Seccomp
            | Stop::Exiting
            | Stop::Event(_) => self.resume(tid, None)?,
        }
        Ok(Step::Running)
    }

    /// A stop of a task we have not seen: a new thread (before its creator's clone event) or a
    /// child process.
    fn on_new_task(&mut self, tid: i32, stop: Stop) -> Result<Step> {
        let pid = Pid::from_raw(tid);
        if tracee::tgid_of(pid).is_some_and(|g| g != self.leader) {
            let patched = self.points.originals();
            children::release(pid, stop, self.leader, &patched, &mut self.external);
            return Ok(Step::Running);
        }
        if matches!(stop, Stop::Exited(_) | Stop::Killed { .. }) {
            return Ok(Step::Running);
        }
        profile::classify(StopKind::NewThread);
        let mut t = Thread::new(Task::new(pid, self.leader), State::Ready);
        t.unborn = true;
        self.threads.insert(tid, t);
        if self.slice_over() {
            self.slice_restart();
        }
        if let Some(c) = self.chaos.as_mut() {
            c.on_new_thread(tid);
            c.on_runnable(tid);
        }
        if stop != Stop::Interrupted {
            return Err(Error::Other(format!(
                "internal: first stop of new thread {tid} was {stop:?}"
            )));
        }
        Ok(Step::Running)
    }

    fn on_death(&mut self, tid: i32, status: ExitStatus) -> Result<Step> {
        self.external.release(tid);
        if let Some(t) = self.threads.get_mut(&tid) {
            t.state = State::Dead;
        }
        if self.current == Some(tid) {
            self.current = None;
        }
        if tid == self.leader.as_raw() {
            self.push(tid, EventKind::Exit { status })?;
            self.exit = Some(status);
            return Ok(Step::Exited(status));
        }
        let cleared = self.threads.remove(&tid).map(|t| t.clear_tid).unwrap_or(0);
        // The kernel cleared the thread's tid word and woke its joiners: let their wake-ups
        // arrive before the next decision.
        crate::settle::cleared(self, cleared)?;
        Ok(Step::Running)
    }

    pub(crate) fn kill_all(&mut self) {
        if let Some(t) = self.threads.get(&self.leader.as_raw()) {
            t.task.kill();
        }
        // Reap until no traced task is left.
        while let Ok(Some(_)) = tracee::stop::wait(None) {}
    }

    fn interrupted(&mut self, sig: i32) -> Error {
        let doing = crate::hang::summary(self);
        self.kill_all();
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| format!("signal {sig}"));
        Error::Other(format!("recording interrupted by {name}; {doing}"))
    }

    /// Run to the end (or to an error), then close the trace.
    pub fn run(mut self) -> Result<RecordOutcome> {
        loop {
            match self.step() {
                Ok(Step::Running) => continue,
                Ok(Step::Exited(_)) => return self.finish(None),
                Err(e) => {
                    let reason = e.to_string();
                    self.kill_all();
                    let _ = self.finish(Some(reason));
                    return Err(e);
                }
            }
        }
    }

    /// Close the trace; `incomplete` names why it was cut short.
    pub fn finish(self, incomplete: Option<String>) -> Result<RecordOutcome> {
        let mut header = self.header;
        header.duration_ns = self.started.elapsed().as_nanos() as u64;
        header.exit = self.exit;
        header.complete = incomplete.is_none() && self.exit.is_some();
        header.incomplete_reason = incomplete.clone().unwrap_or_default();
        let trace = self.writer.dir().to_path_buf();
        let events = self.writer.next_event();
        let prof = profile::take();
        let t = Instant::now();
        self.writer.finish(&header)?;
        let finish_ns = ns_since(t);
        let stops = prof.total_stops();
        let st = self.startup;
        let mut stats: Vec<(String, u64)> = [
            ("stops", stops),
            ("syscalls", self.syscalls),
            ("preemptions", self.preemptions),
            ("uncounted_preemptions", self.uncounted_preemptions),
            ("moved_out", self.moved_out),
            ("spin_watch_preemptions", self.spin_watch_preemptions),
            ("shared_memory_forks", self.shared.forks),
            ("wakes", self.wake_latency.count),
            ("wake_latency_median_us", self.wake_latency.median_us()),
            ("wake_latency_max_us", self.wake_latency.max_us),
            ("wakes_over_10ms", self.wake_latency.over_10ms),
            ("startup_ns.total", st.total),
            ("startup_ns.spawn", st.spawn),
            ("startup_ns.cpuid", st.cpuid),
            ("startup_ns.elf", st.elf),
            ("startup_ns.trace_create", st.trace_create),
            ("startup_ns.store_program", st.store_program),
            ("finish_ns", finish_ns),
            ("duration_ns", header.duration_ns),
        ]
        .iter()
        .map(|&(k, v)| (k.to_string(), v))
        .collect();
        stats.extend(prof.to_stats());
        let refs: Vec<(&str, u64)> = stats.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        pack::write_stats(&trace, &refs);
        Ok(RecordOutcome {
            trace,
            exit: self.exit,
            incomplete_reason: incomplete,
            events,
            stops,
            syscalls: self.syscalls,
            preemptions: self.preemptions,
            uncounted_preemptions: self.uncounted_preemptions,
            warnings: self.shared.warning().into_iter().collect(),
        })
    }
}
