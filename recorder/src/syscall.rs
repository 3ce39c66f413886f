//! Syscall entry and exit stops of a recording, driven by the syscall table.

use std::path::PathBuf;

use pack::{EventKind, FileRef, MemWrite, SyscallEvent};
use tracee::syscalls::{self, Call, Class, Special};
use tracee::RemotePtr;

use crate::error::{Error, Result};
use crate::output::Copying;
use crate::session::RecordSession;
use crate::thread::State;

/// A syscall between its entry and exit stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub no: i64,
    pub args: [u64; 6],
    what: What,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    /// Recorded at exit per its table row.
    Normal,
    /// The exec stop was recorded; the execve's exit stop follows, with nothing to record.
    ExecDone,
    /// Skipped at entry; returns this at exit (a refused call: its errno; sched_setaffinity: 0).
    Skip(i64),
    /// A copy to stdout or stderr whose length argument `arg` was lowered to the bytes waiting
    /// (output.rs): the program's value is put back at exit.
    Capped { arg: usize },
    /// A copy from an empty pipe or socket, replaced by a poll for input on it whose pollfd
    /// is at `at` (`saved` the program's bytes there): at exit the bytes are put back and the
    /// thread is backed out to enter the copy again. Nothing is recorded: replay parks the
    /// thread at the copy's entry meanwhile.
    AwaitInput { at: u64, saved: [u8; 8] },
}

impl Pending {
    pub(crate) fn exec() -> Pending {
        Pending {
            no: libc::SYS_execve,
            args: [0; 6],
            what: What::ExecDone,
        }
    }
}

fn unsupported(name: &str, no: i64, reason: &str) -> Error {
    Error::Unsupported {
        name: name.to_string(),
        no,
        reason: reason.to_string(),
    }
}

/// The clone flags of a clone, clone3, fork or vfork call.
pub(crate) fn clone_flags(s: &mut RecordSession, tid: i32, no: i64, args: &[u64; 6]) -> u64 {
    syscalls::clone_flags(no, args, s.task(tid))
}

/// A syscall-entry stop of the running thread: check the table, let the syscall run.
pub(crate) fn on_entry(s: &mut RecordSession, tid: i32) -> Result<()> {
    let regs = s.task(tid).regs()?;
    let no = regs.syscall_no();
    let args = regs.args();
    s.syscalls += 1;
    let live = s
        .threads
        .values()
        .filter(|t| t.state != State::Dead)
        .count();
    if let Some(c) = s.chaos.as_mut() {
        c.step(tid, live);
    }
    let row = syscalls::lookup(no).ok_or(Error::UnknownSyscall(no))?;
    // Fairness at an exact point: when the thread's slice is over and another thread waits,
    // it is held here, before the kernel sees the call, and the other runs. (Not at a silent
    // call: replay runs those without a stop, so the thread would not be parked before it.)
    let silent = row.is_silent(&args);
    let site_hits = if silent {
        // Replay runs silent calls without a stop: their `syscall` instructions are counted
        // points, passes since the thread's previous event.
        s.thread(tid).hits.pass(regs.pc().wrapping_sub(2))
    } else {
        0
    };
    if s.slice_over() && s.others_runnable(tid) {
        if silent {
            // Preempted before the instruction at a counted position: it runs the call when
            // next scheduled.
            let before = s.task(tid).back_out_of_syscall(&regs)?;
            return crate::preempt::at_counted_point(s, tid, before.pc(), site_hits, &before);
        }
        s.thread(tid).state = State::AtEntry;
        s.current = None;
        return Ok(());
    }
    enter(s, tid, regs)
}

/// Let the syscall `tid` is stopped at the entry of into the kernel (or handle it there);
/// `regs` are its registers there.
pub(crate) fn enter(s: &mut RecordSession, tid: i32, mut regs: tracee::Regs) -> Result<()> {
    let no = regs.syscall_no();
    let args = regs.args();
    let row = syscalls::lookup(no).ok_or(Error::UnknownSyscall(no))?;
    let what = match row.class {
        Class::Unsupported(reason) => return Err(unsupported(row.name, no, reason)),
        Class::Special(Special::Refuse(errno)) => {
            regs.set_syscall_no(-1);
            s.task(tid).set_regs(&regs)?;
            What::Skip(-(errno as i64))
        }
        _ if no == libc::SYS_sched_setaffinity
            && crate::affinity::target(s, tid, args[0]).is_some() =>
        {
            // The program may ask to move; it stays on the recording's CPU (nothing it can see).
            crate::affinity::remember(s, tid, &args);
            regs.set_syscall_no(-1);
            s.task(tid).set_regs(&regs)?;
            What::Skip(0)
        }
        Class::Special(Special::Exit) => {
            // No exit stop follows: record it now.
            s.push(
                tid,
                EventKind::Syscall(SyscallEvent {
                    no: no as u32,
                    args,
                    result: 0,
                    writes: Vec::new(),
                    file: None,
                    output: None,
                }),
            )?;
            s.thread(tid).state = State::Dead;
            if no == libc::SYS_exit_group {
                // The whole process goes: nothing else of it is recorded but the deaths.
                for t in s.threads.values_mut() {
                    t.state = State::Dead;
                }
            }
            s.current = None;
            s.resume(tid, None)?;
            if no == libc::SYS_exit && tid != s.leader.as_raw() {
                // Wait for its death before anything else runs: the kernel clears its tid word
                // (CLONE_CHILD_CLEARTID) on the way, which a joining thread looks at. Replay
                // waits the same way.
                let real = s.task(tid).tid;
                loop {
                    match tracee::stop::wait(Some(real))? {
                        Some((
                            _,
                            stop @ (tracee::Stop::Exited(_) | tracee::Stop::Killed { .. }),
                        )) => return s.dispatch(tid, stop),
                        Some(_) => s.resume(tid, None)?,
                        None => {}
                    }
                }
            }
            return Ok(());
        }
        Class::Special(Special::Execve) => {
            let live = s
                .threads
                .values()
                .filter(|t| t.state != State::Dead)
                .count();
            if live > 1 {
                return Err(unsupported(
                    row.name,
                    no,
                    "execve from a program with several threads is not supported yet",
                ));
            }
            What::Normal
        }
        Class::Special(Special::Clone) => {
            if no == libc::SYS_vfork {
                // A vfork child runs in our memory until it execs, and what it writes there
                // (dash's allocator state, its stack) would be an input replay cannot repeat, as
                // replay creates no child. Make it a fork: vfork only promises to suspend the
                // parent, and a correct program lets its child write nothing it relies on.
                regs.set_syscall_no(libc::SYS_fork);
                s.task(tid).set_regs(&regs)?;
            }
            let flags = clone_flags(s, tid, no, &args);
            if flags & libc::CLONE_THREAD as u64 != 0 {
                // From the first thread on, spin hints become counted scheduling points.
                crate::spin::enable(s, tid)?;
            }
            if flags & (libc::CLONE_THREAD | libc::CLONE_VM) as u64 == 0 {
                // A new process: what it writes in memory it shares with the program is not
                // recorded.
                s.shared.on_fork(s.leader.as_raw());
            }
            if flags & libc::CLONE_THREAD as u64 == 0
                && flags & libc::CLONE_VM as u64 != 0
                && flags & libc::CLONE_VFORK as u64 == 0
            {
                return Err(unsupported(
                    row.name,
                    no,
                    "a child process sharing memory with the program (CLONE_VM without CLONE_VFORK) cannot be recorded",
                ));
            }
            What::Normal
        }
        _ => What::Normal,
    };
    let mut what = what;
    if let Some(sends) = row.output {
        match crate::output::on_entry(s, tid, no, &args)? {
            Copying::AsAsked => {}
            Copying::Capped { arg, to } => {
                regs.set_arg(arg, to);
                s.task(tid).set_regs(&regs)?;
                what = What::Capped { arg };
            }
            Copying::Empty { fd } => {
                if let Some(w) = await_input(s, tid, &mut regs, fd)? {
                    s.thread(tid).state = State::InSyscall(Pending { no, args, what: w });
                    s.current = None;
                    return s.resume(tid, None);
                }
            }
        }
        if s.external.active() && crate::output::stream_of(s.leader, args[sends.fd_arg()]).is_some()
        {
            s.external.hold(tid);
        }
    }
    s.thread(tid).state = State::InSyscall(Pending { no, args, what });
    if row.may_block(&args) {
        // Others run while it waits; it is recorded when next scheduled after it returns.
        s.current = None;
    }
    s.resume(tid, None)
}

/// In place of a copy from empty fd `fd` (at its entry, `regs`): a poll for input on it, with
/// the pollfd below the red zone of the thread's stack. `None` (the copy runs as asked) when
/// that memory cannot be written.
fn await_input(
    s: &mut RecordSession,
    tid: i32,
    regs: &mut tracee::Regs,
    fd: i32,
) -> Result<Option<What>> {
    let at = (regs.sp().wrapping_sub(128 + 8)) & !7;
    let task = s.task(tid);
    let mut saved = [0u8; 8];
    if task.read_bytes(RemotePtr::new(at), &mut saved).is_err() {
        return Ok(None);
    }
    let mut pollfd = [0u8; 8];
    pollfd[..4].copy_from_slice(&fd.to_ne_bytes());
    pollfd[4..6].copy_from_slice(&libc::POLLIN.to_ne_bytes());
    if task.write_bytes(RemotePtr::new(at), &pollfd).is_err() {
        return Ok(None);
    }
    regs.set_syscall_no(libc::SYS_poll);
    regs.set_args([at, 1, u64::MAX, 0, 0, 0]);
    task.set_regs(regs)?;
    Ok(Some(What::AwaitInput { at, saved }))
}

/// Record the syscall `tid` finished (it is at its exit stop and about to be resumed).
pub(crate) fn record_exit(s: &mut RecordSession, tid: i32, p: Pending) -> Result<()> {
    s.external.release(tid);
    let task = s.task(tid);
    let mut regs = task.regs()?;
    let result = match p.what {
        What::ExecDone => return Ok(()),
        What::Skip(r) => {
            regs.set_result(r);
            task.set_regs(&regs)?;
            r
        }
        What::Normal => regs.result(),
        What::Capped { arg } => {
            regs.set_arg(arg, p.args[arg]);
            task.set_regs(&regs)?;
            regs.result()
        }
        What::AwaitInput { at, saved } => {
            task.write_bytes(RemotePtr::new(at), &saved)?;
            let mut again = regs;
            again.set_pc(regs.pc().wrapping_sub(2));
            again.0.rax = p.no as u64;
            again.set_args(p.args);
            task.set_regs(&again)?;
            return Ok(());
        }
    };
    if result == 0 && s.chaos.as_ref().is_some_and(|c| c.clock_boundary) {
        crate::chaos::shift_wall_clock(s, tid, p.no, &p.args)?;
    }
    if p.no == libc::SYS_sched_getaffinity && result > 0 {
        crate::affinity::report(s, tid, &p.args, result as usize)?;
    }
    let task = s.task(tid);
    let row = syscalls::lookup(p.no).expect("checked at entry");
    let call = Call {
        no: p.no as u32,
        args: p.args,
        result,
    };
    let writes = if matches!(row.class, Class::Emulate) {
        let regions = row.written_regions(&call, task);
        let datas = task.read_ranges(&regions);
        regions
            .iter()
            .zip(datas)
            .filter(|(_, d)| !d.is_empty())
            .map(|(&(addr, _), data)| MemWrite { addr, data })
            .collect()
    } else {
        Vec::new()
    };
    let output = crate::output::on_exit(s, tid, &call)?;
    if syscalls::maps_code(&call) {
        crate::spin::patch_new_code(s, tid)?;
    }
    let file = match row.class {
        Class::Special(Special::Mmap) => mapped_file(s, tid, &call)?,
        Class::Special(Special::Clone) if result > 0 => {
            if let Some(t) = s.threads.get_mut(&(result as i32)) {
                t.unborn = false;
            }
            let flags = clone_flags(s, tid, p.no, &p.args);
            if flags & libc::CLONE_CHILD_CLEARTID as u64 != 0 {
                let ctid = if p.no == libc::SYS_clone3 {
                    s.task(tid)
                        .read_u64(RemotePtr::new(p.args[0] + 16))
                        .unwrap_or(0)
                } else {
                    p.args[3]
                };
                if let Some(t) = s.threads.get_mut(&(result as i32)) {
                    t.clear_tid = ctid;
                }
            }
            crate::settle::new_thread(s, result as i32)?;
            None
        }
        _ => None,
    };
    s.push(
        tid,
        EventKind::Syscall(SyscallEvent {
            no: p.no as u32,
            args: p.args,
            result,
            writes,
            file,
            output,
        }),
    )?;
    if let Some(addr) = tracee::syscalls::sets_clear_tid(&tracee::syscalls::Call {
        no: p.no as u32,
        args: p.args,
        result,
    }) {
        s.thread(tid).clear_tid = addr;
    }
    if p.no == libc::SYS_futex && result > 0 {
        crate::settle::woken(s, tid, result as usize)?;
    }
    Ok(())
}

/// For a successful file-backed mmap, put the file in the store.
fn mapped_file(s: &mut RecordSession, tid: i32, call: &Call) -> Result<Option<FileRef>> {
    let flags = call.args[3] as i32;
    let fd = call.args[4] as i32;
    if call.result < 0 || flags & libc::MAP_ANONYMOUS != 0 || fd < 0 {
        return Ok(None);
    }
    let path = PathBuf::from(format!("/proc/{tid}/fd/{fd}"));
    let meta = std::fs::metadata(&path)
        .map_err(|e| Error::Other(format!("cannot inspect the file mapped from fd {fd}: {e}")))?;
    if !meta.is_file() {
        // /dev/zero and friends: replay maps anonymous memory instead.
        return Ok(None);
    }
    let target = std::fs::read_link(&path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string());
    let writer = &mut s.writer;
    let f = tracee::profile::work(tracee::profile::Work::Store, || writer.store_file(&path))
        .map_err(|source| Error::StoreFile {
            path: target,
            source,
        })?;
    Ok(Some(f))
}
