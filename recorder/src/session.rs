//! `RecordSession`: one recording, advanced stop by stop with `step`.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pack::{CpuidLeaf, Event, EventKind, ExitStatus, Header, MemWrite, TraceWriter};
use tracee::{insn, interrupt, spawn, Pid, RemotePtr, Stop, Task};

use crate::error::{Error, Result};
use crate::syscall::{self, Pending};

/// What to record.
pub struct RecordOptions {
    /// The program as the user named it (resolved through PATH like execvp).
    pub program: OsString,
    /// Its arguments (argv[1..]).
    pub args: Vec<OsString>,
    /// The trace directory to create.
    pub output: PathBuf,
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
}

/// How the thread must be resumed after the stop we just handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resume {
    /// PTRACE_SYSCALL, delivering a signal if any.
    Syscall(Option<i32>),
}

/// A recording in progress.
pub struct RecordSession {
    pub(crate) writer: TraceWriter,
    header: Header,
    pub(crate) task: Task,
    /// The syscall the thread is inside (between entry and exit stops), if any.
    pending: Option<Pending>,
    resume: Resume,
    started: Instant,
    exit: Option<ExitStatus>,
    pub(crate) stops: u64,
    pub(crate) syscalls: u64,
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
        interrupt::install();
        let path_var = std::env::var_os("PATH");
        let program = spawn::resolve_program(&opts.program, path_var.as_deref())?;
        let mut argv = vec![opts.program.as_bytes().to_vec()];
        argv.extend(opts.args.iter().map(|a| a.as_bytes().to_vec()));
        let env: Vec<Vec<u8>> = std::env::vars_os()
            .map(|(k, v)| {
                let mut e = k.into_vec();
                e.push(b'=');
                e.extend(v.into_vec());
                e
            })
            .collect();
        let cwd = std::env::current_dir().map_err(|e| Error::Other(format!("cannot read the current directory: {e}")))?;
        let header = Header {
            format_version: pack::FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            program: program.as_os_str().as_bytes().to_vec(),
            argv: argv.clone(),
            env: env.clone(),
            cwd: cwd.as_os_str().as_bytes().to_vec(),
            start_time_ns: now_ns(),
            duration_ns: 0,
            cpuid: tracee::cpuid::all_leaves()
                .into_iter()
                .map(|l| CpuidLeaf {
                    leaf: l.leaf,
                    subleaf: l.subleaf,
                    eax: l.eax,
                    ebx: l.ebx,
                    ecx: l.ecx,
                    edx: l.edx,
                })
                .collect(),
            xcr0: tracee::cpuid::xcr0(),
            kernel_release: tracee::kernel_release(),
            chaos: None,
            exit: None,
            complete: false,
            incomplete_reason: String::new(),
        };
        // Spawn first: a missing program must not leave an empty trace behind.
        let task = spawn::spawn(&spawn::SpawnOptions {
            program,
            argv,
            env,
            cwd: None,
            seccomp_trace_all: false,
            null_stdio: false,
        })?;
        let writer = match TraceWriter::create(&opts.output, &header) {
            Ok(w) => w,
            Err(e) => {
                task.kill();
                let _ = tracee::stop::wait(Some(task.tid));
                return Err(e.into());
            }
        };
        let mut s = RecordSession {
            writer,
            header,
            task,
            pending: None,
            resume: Resume::Syscall(None),
            started: Instant::now(),
            exit: None,
            stops: 1,
            syscalls: 0,
        };
        // We are at the exec stop of the initial execve; its syscall-exit stop follows.
        if let Err(e) = s.on_exec() {
            s.task.kill();
            return Err(e);
        }
        Ok(s)
    }

    pub fn tid(&self) -> Pid {
        self.task.tid
    }

    pub(crate) fn push(&mut self, kind: EventKind) -> Result<u64> {
        let ev = Event {
            tid: self.task.tid.as_raw(),
            kind,
        };
        Ok(self.writer.push(&ev)?)
    }

    /// The thread just exec'd: hide the vDSO and record the initial stack.
    fn on_exec(&mut self) -> Result<()> {
        self.task.reset_mem();
        tracee::auxv::hide_vdso(&mut self.task)?;
        let sp = self.task.regs()?.sp();
        let top = tracee::auxv::stack_top(self.task.tid.as_raw())?;
        let data = self
            .task
            .read_prefix(RemotePtr::new(sp), top.saturating_sub(sp) as usize);
        self.push(EventKind::Exec {
            writes: vec![MemWrite { addr: sp, data }],
        })?;
        self.pending = Some(Pending::exec());
        Ok(())
    }

    /// Resume the program and handle its next stop.
    pub fn step(&mut self) -> Result<Step> {
        if let Some(sig) = interrupt::received() {
            return Err(self.interrupted(sig));
        }
        let Resume::Syscall(sig) = self.resume;
        self.resume = Resume::Syscall(None);
        self.task.cont_syscall(sig)?;
        let (_, stop) = loop {
            match tracee::stop::wait(Some(self.task.tid))? {
                Some(s) => break s,
                None => {
                    if let Some(sig) = interrupt::received() {
                        return Err(self.interrupted(sig));
                    }
                }
            }
        };
        self.stops += 1;
        match stop {
            Stop::Syscall => {
                match self.pending.take() {
                    None => self.pending = syscall::on_entry(self)?,
                    Some(p) => syscall::on_exit(self, p)?,
                }
                Ok(Step::Running)
            }
            Stop::Exec => {
                self.on_exec()?;
                Ok(Step::Running)
            }
            Stop::Signal(sig) => {
                if let Some(sig) = interrupt::received() {
                    return Err(self.interrupted(sig));
                }
                self.on_signal(sig)?;
                Ok(Step::Running)
            }
            Stop::Exited(code) => self.on_exit(ExitStatus::Exited(code)),
            Stop::Killed {
                signal,
                core_dumped,
            } => self.on_exit(ExitStatus::Signaled {
                signal,
                core_dumped,
            }),
            Stop::Clone | Stop::Seccomp | Stop::Exiting | Stop::Event(_) => Ok(Step::Running),
        }
    }

    fn on_exit(&mut self, status: ExitStatus) -> Result<Step> {
        self.push(EventKind::Exit { status })?;
        self.exit = Some(status);
        Ok(Step::Exited(status))
    }

    fn on_signal(&mut self, sig: i32) -> Result<()> {
        let mut regs = self.task.regs()?;
        if sig == libc::SIGSEGV {
            if let Some(ins) = insn::tsc_insn_at(&mut self.task, regs.pc()) {
                let (value, aux) = insn::read_tsc();
                regs.0.rax = value & 0xffff_ffff;
                regs.0.rdx = value >> 32;
                let aux = (ins == insn::TscInsn::Rdtscp).then_some(aux);
                if let Some(a) = aux {
                    regs.0.rcx = a as u64;
                }
                regs.set_pc(regs.pc() + ins.len());
                self.task.set_regs(&regs)?;
                self.push(EventKind::Rdtsc { value, aux })?;
                return Ok(());
            }
        }
        let info = self.task.siginfo()?;
        let raw = siginfo_bytes(&info);
        // si_code > 0: sent by the kernel because of what the thread did (fault, trap).
        let synchronous = info.si_code > 0 && matches!(sig, libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP);
        let position = if synchronous {
            None
        } else {
            Some(pack::Position {
                pc: regs.pc(),
                hits: None,
                regs: regs.to_words(),
                digest: None,
            })
        };
        self.push(EventKind::Signal(pack::SignalEvent {
            signo: sig,
            siginfo: raw,
            synchronous,
            position,
        }))?;
        self.resume = Resume::Syscall(Some(sig));
        Ok(())
    }

    fn interrupted(&mut self, sig: i32) -> Error {
        self.task.kill();
        let _ = tracee::stop::wait(Some(self.task.tid));
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| format!("signal {sig}"));
        Error::Other(format!("recording interrupted by {name}"))
    }

    /// Run to the end (or to an error), then close the trace.
    pub fn run(mut self) -> Result<RecordOutcome> {
        loop {
            match self.step() {
                Ok(Step::Running) => continue,
                Ok(Step::Exited(_)) => return self.finish(None),
                Err(e) => {
                    let reason = e.to_string();
                    self.task.kill();
                    let _ = tracee::stop::wait(Some(self.task.tid));
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
        self.writer.finish(&header)?;
        Ok(RecordOutcome {
            trace,
            exit: self.exit,
            incomplete_reason: incomplete,
            events,
            stops: self.stops,
            syscalls: self.syscalls,
        })
    }
}

fn siginfo_bytes(info: &libc::siginfo_t) -> Vec<u8> {
    // siginfo_t is 128 bytes; copy its public fields we need into a fixed layout.
    let mut out = vec![0u8; 128];
    out[0..4].copy_from_slice(&info.si_signo.to_le_bytes());
    out[4..8].copy_from_slice(&info.si_errno.to_le_bytes());
    out[8..12].copy_from_slice(&info.si_code.to_le_bytes());
    out
}
