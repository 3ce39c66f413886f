//! Replaying a syscall event: emulate it (memory and result from the trace) or execute it
//! (memory layout, signals, threads), per the syscall table's class for it.

use std::io::Write as _;

use pack::{Stream, SyscallEvent};
use tracee::syscalls::{self, Class, Special};
use tracee::{Pid, Regs, RemotePtr, Stop, Task};

use crate::error::{Error, Result};
use crate::events::hex_list;
use crate::mmap;
use crate::run::Halt;
use crate::session::ReplaySession;
use crate::thread::{Parked, Thread};

impl ReplaySession {
    pub(crate) fn on_syscall(
        &mut self,
        tid: i32,
        mut regs: Regs,
        ev: &SyscallEvent,
    ) -> Result<Halt> {
        let no = regs.syscall_no();
        let args = regs.args();
        if ev.no as i64 != no || ev.args != args {
            return Err(self.diverged(format!(
                "called {}({})",
                syscalls::name(no),
                hex_list(&args)
            )));
        }
        let Some(row) = syscalls::lookup(no) else {
            return Err(Error::Unreplayable(format!(
                "syscall number {no} is unknown"
            )));
        };
        let event = self.next_no;
        self.consume()?;
        match row.class {
            Class::Emulate
            | Class::Special(Special::Refuse(_))
            | Class::Special(Special::Execve) => {
                self.emulate(tid, &mut regs, ev)?;
                self.watched_write(tid, event, &ev.writes);
            }
            Class::Execute => self.execute(tid, ev, true)?,
            Class::ExecuteSetResult => self.execute(tid, ev, false)?,
            Class::Special(Special::Mmap) => self.replay_mmap(tid, &mut regs, ev)?,
            Class::Special(Special::Sigreturn) => {}
            Class::Special(Special::Exit) => {
                self.replay_thread_exit(tid, ev)?;
                return Ok(Halt::Parked);
            }
            Class::Special(Special::Kill) => self.replay_kill(tid, &mut regs, ev)?,
            Class::Special(Special::Clone) => self.replay_clone(tid, &mut regs, ev)?,
            Class::Unsupported(_) => {
                return Err(Error::Unreplayable(format!(
                    "syscall {} cannot be replayed",
                    row.name
                )))
            }
        }
        let call = syscalls::Call {
            no: ev.no,
            args: ev.args,
            result: ev.result,
        };
        if syscalls::maps_code(&call) {
            let t = self.threads.get_mut(&tid).expect("the thread exists");
            self.points.patch_new_code(&mut t.task)?;
        }
        if let Some(addr) = syscalls::sets_clear_tid(&call) {
            self.thread(tid)?.clear_tid = addr;
        }
        self.start_run(tid, None)
    }

    /// Set the recorded result and memory; the kernel skips the syscall.
    fn emulate(&mut self, tid: i32, regs: &mut Regs, ev: &SyscallEvent) -> Result<()> {
        // Output is echoed once, however often a debugger goes back over it.
        let echo = self.opts.echo && ev.result > 0 && self.next_no > self.echoed_before;
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
        {
            let t = self.threads.get_mut(&tid).expect("the thread exists");
            self.points.enable_spin(&mut t.task)?;
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
        let mut t = Thread::new(Task::new(new_pid, leader_real), Parked::Ready);
        if flags & libc::CLONE_CHILD_CLEARTID as u64 != 0 {
            t.clear_tid = ctid;
        }
        self.threads.insert(ev.result as i32, t);
        Ok(())
    }

    /// exit (one thread) or exit_group: let it happen.
    fn replay_thread_exit(&mut self, tid: i32, ev: &SyscallEvent) -> Result<()> {
        let leader = self.leader;
        let task = self.task(tid)?;
        task.cont(None)?;
        let real = task.tid;
        if ev.no as i64 == libc::SYS_exit && tid != leader {
            // Wait for its death: the kernel clears its tid word (CLONE_CHILD_CLEARTID) then,
            // which a joining thread will look at.
            loop {
                match tracee::stop::wait(Some(real))? {
                    Some((_, Stop::Exited(_) | Stop::Killed { .. })) => break,
                    Some((_, Stop::Exiting)) => task_cont(self, tid)?,
                    Some((_, other)) => {
                        return Err(self.diverged(format!("stopped ({other:?}) in exit")))
                    }
                    None => {}
                }
            }
            self.points.forget_thread(real.as_raw());
            self.threads.remove(&tid);
        } else {
            self.thread(tid)?.parked = Parked::Exiting;
        }
        Ok(())
    }
}

fn task_cont(s: &mut ReplaySession, tid: i32) -> Result<()> {
    Ok(s.task(tid)?.cont(None)?)
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

/// Print `bytes` on our stream `stream` (child output the recorder drained).
pub(crate) fn echo_bytes(stream: Stream, bytes: &[u8]) {
    let _ = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush())
        }
        Stream::Stderr => {
            let mut out = std::io::stderr().lock();
            out.write_all(bytes).and_then(|_| out.flush())
        }
    };
}
