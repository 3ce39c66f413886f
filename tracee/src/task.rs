//! One traced thread: ptrace requests, registers and memory.

use std::fs::File;
use std::io::IoSliceMut;
use std::os::unix::fs::FileExt;

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::regs::Regs;
use crate::remote_ptr::RemotePtr;

/// A thread of the tracee, stopped or running under our ptrace.
pub struct Task {
    pub tid: Pid,
    /// The thread group (process) id.
    pub tgid: Pid,
    mem: Option<File>,
}

fn signal_arg(sig: Option<i32>) -> Option<Signal> {
    sig.and_then(|s| Signal::try_from(s).ok())
}

impl Task {
    pub fn new(tid: Pid, tgid: Pid) -> Task {
        Task {
            tid,
            tgid,
            mem: None,
        }
    }

    fn err(&self, op: &'static str) -> impl FnOnce(nix::Error) -> Error + '_ {
        move |source| Error::Ptrace {
            op,
            tid: self.tid.as_raw(),
            source,
        }
    }

    pub fn regs(&self) -> Result<Regs> {
        ptrace::getregs(self.tid)
            .map(Regs)
            .map_err(self.err("GETREGS"))
    }

    pub fn set_regs(&self, regs: &Regs) -> Result<()> {
        ptrace::setregs(self.tid, regs.0).map_err(self.err("SETREGS"))
    }

    /// Resume until the next stop of any kind, delivering `sig` if given.
    pub fn cont(&self, sig: Option<i32>) -> Result<()> {
        ptrace::cont(self.tid, signal_arg(sig)).map_err(self.err("CONT"))
    }

    /// Resume until the next syscall entry or exit (or other stop).
    pub fn cont_syscall(&self, sig: Option<i32>) -> Result<()> {
        ptrace::syscall(self.tid, signal_arg(sig)).map_err(self.err("SYSCALL"))
    }

    pub fn single_step(&self, sig: Option<i32>) -> Result<()> {
        ptrace::step(self.tid, signal_arg(sig)).map_err(self.err("SINGLESTEP"))
    }

    /// The raw 128-byte siginfo of the current signal stop.
    pub fn siginfo(&self) -> Result<libc::siginfo_t> {
        ptrace::getsiginfo(self.tid).map_err(self.err("GETSIGINFO"))
    }

    /// The message of the current PTRACE_EVENT stop (new tid, exit status, seccomp data).
    pub fn event_msg(&self) -> Result<u64> {
        ptrace::getevent(self.tid)
            .map(|v| v as u64)
            .map_err(self.err("GETEVENTMSG"))
    }

    pub fn kill(&self) {
        let _ = nix::sys::signal::kill(self.tgid, Signal::SIGKILL);
    }

    fn mem_file(&mut self) -> Result<&File> {
        if self.mem.is_none() {
            let path = format!("/proc/{}/mem", self.tid);
            let f = File::options()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|source| Error::Proc {
                    tid: self.tid.as_raw(),
                    source,
                })?;
            self.mem = Some(f);
        }
        Ok(self.mem.as_ref().expect("just opened"))
    }

    /// Forget the cached `/proc/pid/mem` (after an exec the old one is stale).
    pub fn reset_mem(&mut self) {
        self.mem = None;
    }

    /// Read `buf.len()` bytes at `addr`; fails if any byte is unreadable.
    pub fn read_bytes(&mut self, addr: RemotePtr<u8>, buf: &mut [u8]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let len = buf.len();
        let remote = [RemoteIoVec {
            base: addr.addr() as usize,
            len,
        }];
        if let Ok(n) = process_vm_readv(self.tid, &mut [IoSliceMut::new(buf)], &remote) {
            if n == len {
                return Ok(());
            }
        }
        // Pages without read permission (or a partial read): /proc/pid/mem reads through them.
        let tid = self.tid.as_raw();
        let f = self.mem_file()?;
        f.read_exact_at(buf, addr.addr())
            .map_err(|source| Error::Memory {
                tid,
                addr: addr.addr(),
                len,
                source,
            })
    }

    /// Read up to `len` bytes at `addr`, stopping at the first unreadable page.
    pub fn read_prefix(&mut self, addr: RemotePtr<u8>, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        if self.read_bytes(addr, &mut buf).is_ok() {
            return buf;
        }
        // Read page by page up to the first failure.
        let mut done = 0;
        while done < len {
            let a = addr.addr() + done as u64;
            let page_end = ((a / 4096) + 1) * 4096;
            let chunk = ((page_end - a) as usize).min(len - done);
            if self
                .read_bytes(RemotePtr::new(a), &mut buf[done..done + chunk])
                .is_err()
            {
                break;
            }
            done += chunk;
        }
        buf.truncate(done);
        buf
    }

    /// Read several ranges with one process_vm_readv where possible.
    pub fn read_ranges(&mut self, ranges: &[(u64, usize)]) -> Vec<Vec<u8>> {
        let mut bufs: Vec<Vec<u8>> = ranges.iter().map(|&(_, l)| vec![0u8; l]).collect();
        let remote: Vec<RemoteIoVec> = ranges
            .iter()
            .map(|&(a, l)| RemoteIoVec {
                base: a as usize,
                len: l,
            })
            .collect();
        let total: usize = ranges.iter().map(|r| r.1).sum();
        let ok = {
            let mut local: Vec<IoSliceMut> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            // process_vm_readv takes at most IOV_MAX (1024) entries.
            ranges.len() <= 1024
                && matches!(process_vm_readv(self.tid, &mut local, &remote), Ok(n) if n == total)
        };
        if ok {
            return bufs;
        }
        ranges
            .iter()
            .map(|&(a, l)| self.read_prefix(RemotePtr::new(a), l))
            .collect()
    }

    pub fn read_u64(&mut self, addr: RemotePtr<u64>) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_bytes(addr.cast(), &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn read_u32(&mut self, addr: RemotePtr<u32>) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_bytes(addr.cast(), &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Read a NUL-terminated string (without the NUL), at most `max` bytes.
    pub fn read_cstr(&mut self, addr: RemotePtr<u8>, max: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut a = addr.addr();
        while out.len() < max {
            let page_end = ((a / 4096) + 1) * 4096;
            let chunk = ((page_end - a) as usize).min(max - out.len());
            let mut buf = vec![0u8; chunk];
            self.read_bytes(RemotePtr::new(a), &mut buf)?;
            if let Some(i) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..i]);
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            a += chunk as u64;
        }
        Ok(out)
    }

    /// Write bytes into the tracee, read-only pages included (through /proc/pid/mem).
    pub fn write_bytes(&mut self, addr: RemotePtr<u8>, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let tid = self.tid.as_raw();
        let f = self.mem_file()?;
        f.write_all_at(data, addr.addr())
            .map_err(|source| Error::Memory {
                tid,
                addr: addr.addr(),
                len: data.len(),
                source,
            })
    }

    pub fn write_u64(&mut self, addr: RemotePtr<u64>, v: u64) -> Result<()> {
        self.write_bytes(addr.cast(), &v.to_le_bytes())
    }
}

impl Task {
    /// At a seccomp stop of replay's trace-all filter: run syscall `no` with `args` instead of the
    /// one the thread asked for, and return its result. The thread ends at that syscall's exit stop.
    pub fn syscall_instead(&self, regs: &Regs, no: i64, args: [u64; 6]) -> Result<i64> {
        let mut r = *regs;
        r.set_syscall_no(no);
        r.set_args(args);
        self.set_regs(&r)?;
        self.cont_syscall(None)?;
        self.expect_syscall_exit()
    }

    /// At a syscall-exit stop (after `syscall_instead` or an executed syscall): run another
    /// syscall from the same `syscall` instruction and return its result, ending at its exit stop.
    /// `regs` are the registers at the original stop (rip just after the syscall instruction).
    pub fn syscall_again(&self, regs: &Regs, no: i64, args: [u64; 6]) -> Result<i64> {
        let mut r = *regs;
        r.set_pc(regs.pc().wrapping_sub(2));
        r.0.rax = no as u64;
        r.set_syscall_no(no);
        r.set_args(args);
        self.set_regs(&r)?;
        self.cont(None)?;
        match crate::stop::wait_as(Some(self.tid), crate::profile::StopKind::Injected)? {
            Some((_, crate::Stop::Seccomp)) => {}
            other => {
                return Err(Error::Protocol(format!(
                    "expected a seccomp stop for an injected syscall, got {other:?}"
                )))
            }
        }
        self.cont_syscall(None)?;
        self.expect_syscall_exit()
    }

    /// At a syscall-entry stop (PTRACE_SYSCALL, no seccomp filter) with registers `entry`:
    /// skip the call and leave the thread at its exit stop, with its registers as they were
    /// before the `syscall` instruction, so that resuming it makes the same call again.
    pub fn back_out_of_syscall(&self, entry: &Regs) -> Result<Regs> {
        let mut r = *entry;
        r.set_syscall_no(-1);
        self.set_regs(&r)?;
        self.cont_syscall(None)?;
        self.expect_syscall_exit()?;
        let mut before = *entry;
        before.set_pc(entry.pc().wrapping_sub(2));
        before.0.rax = entry.syscall_no() as u64;
        self.set_regs(&before)?;
        Ok(before)
    }

    /// At a seccomp stop of replay's trace-all filter with registers `entry`: fork the process
    /// (a checkpoint). The copy's one thread is traced (the options are inherited) and both
    /// threads end at this same seccomp stop again, the syscall not yet run: the call is
    /// replaced by a fork (`clone` with no exit signal), and each thread then goes back to its `syscall` instruction and
    /// enters the call anew. Returns the copy's thread.
    pub fn fork_at_seccomp_stop(&self, entry: &Regs, clear_tid: u64) -> Result<Task> {
        let mut r = *entry;
        // A new process with no exit signal: when a copy made from a checkpoint is killed, no
        // SIGCHLD comes pending in the checkpoint (it would make its next fork restart). The
        // copy's thread clears `clear_tid` when it exits, as the original was set up to.
        r.set_syscall_no(libc::SYS_clone);
        let flags = if clear_tid != 0 {
            libc::CLONE_CHILD_CLEARTID as u64
        } else {
            0
        };
        r.set_args([flags, 0, 0, clear_tid, 0, 0]);
        self.set_regs(&r)?;
        self.cont_syscall(None)?;
        let child = match crate::stop::wait(Some(self.tid))? {
            Some((_, crate::Stop::Fork | crate::Stop::Clone)) => {
                Pid::from_raw(self.event_msg()? as i32)
            }
            other => {
                let r = self.regs()?;
                return Err(Error::Protocol(format!(
                    "expected a fork event for a checkpoint, got {other:?} (rax {:#x}, orig_rax {})",
                    r.0.rax, r.0.orig_rax
                )));
            }
        };
        self.cont_syscall(None)?;
        self.expect_syscall_exit()?;
        let copy = Task::new(child, child);
        // The copy's first stop (SIGSTOP, or an event stop when seized).
        match crate::stop::wait(Some(child))? {
            Some((
                _,
                crate::Stop::Signal(_) | crate::Stop::Interrupted | crate::Stop::GroupStop(_),
            )) => {}
            other => {
                return Err(Error::Protocol(format!(
                    "a checkpoint's process first stopped with {other:?}"
                )))
            }
        }
        for t in [self, &copy] {
            t.reenter_syscall(entry)?;
        }
        Ok(copy)
    }

    /// From a stop in user code after the `syscall` instruction of `entry`: run that
    /// instruction again, up to the filter's seccomp stop.
    pub fn reenter_syscall(&self, entry: &Regs) -> Result<()> {
        let mut r = *entry;
        r.set_pc(entry.pc().wrapping_sub(2));
        r.0.rax = entry.syscall_no() as u64;
        self.set_regs(&r)?;
        self.cont(None)?;
        match crate::stop::wait(Some(self.tid))? {
            Some((_, crate::Stop::Seccomp)) => {
                // The stop's registers are the entry's (rax reads -ENOSYS at a seccomp stop).
                Ok(())
            }
            other => Err(Error::Protocol(format!(
                "expected the seccomp stop of a re-entered syscall, got {other:?}"
            ))),
        }
    }

    pub(crate) fn expect_syscall_exit(&self) -> Result<i64> {
        match crate::stop::wait_as(Some(self.tid), crate::profile::StopKind::Injected)? {
            Some((_, crate::Stop::Syscall)) => Ok(self.regs()?.result()),
            other => Err(Error::Protocol(format!(
                "expected a syscall-exit stop, got {other:?}"
            ))),
        }
    }

    /// The raw 128 bytes of the current signal's siginfo.
    pub fn siginfo_bytes(&self) -> Result<[u8; 128]> {
        let info = self.siginfo()?;
        // SAFETY: siginfo_t is a plain 128-byte C struct; viewing it as bytes reads initialised
        // memory of exactly its size.
        let bytes: [u8; 128] = unsafe { std::mem::transmute_copy(&info) };
        Ok(bytes)
    }
}

/// Offset of `u_debugreg` in `struct user` on x86_64.
const DEBUGREG_OFFSET: usize = 848;

impl Task {
    /// Stop the running thread (PTRACE_INTERRUPT; it reports `Stop::Interrupted`).
    pub fn interrupt(&self) -> Result<()> {
        ptrace::interrupt(self.tid).map_err(self.err("INTERRUPT"))
    }

    /// Let the thread go: it runs untraced from now on.
    pub fn detach(&self) -> Result<()> {
        ptrace::detach(self.tid, None).map_err(self.err("DETACH"))
    }

    fn write_debugreg(&self, n: usize, v: u64) -> Result<()> {
        ptrace::write_user(
            self.tid,
            (DEBUGREG_OFFSET + n * 8) as ptrace::AddressType,
            v as libc::c_long,
        )
        .map_err(self.err("POKEUSER"))
    }

    fn read_debugreg(&self, n: usize) -> Result<u64> {
        ptrace::read_user(self.tid, (DEBUGREG_OFFSET + n * 8) as ptrace::AddressType)
            .map(|v| v as u64)
            .map_err(self.err("PEEKUSER"))
    }

    /// Load the debug registers: DR0..DR3 from `slots` (address and DR7 control bits for that
    /// slot: RW and LEN, already shifted), all enabled locally. Only `points` calls this: it
    /// owns every debug register (DESIGN.md: one points layer).
    pub(crate) fn load_debug_slots(&self, slots: &[(u64, u64)]) -> Result<()> {
        // DR7 must be off while the address registers change.
        self.write_debugreg(7, 0)?;
        let mut dr7 = 0u64;
        for (i, &(addr, ctl)) in slots.iter().take(4).enumerate() {
            self.write_debugreg(i, addr)?;
            dr7 |= (1 << (2 * i)) | ctl;
        }
        if dr7 != 0 {
            self.write_debugreg(7, dr7)?;
        }
        Ok(())
    }

    /// DR6 of the current stop, cleared: which slots fired (bits 0-3), single step (bit 14).
    pub(crate) fn take_debug_status(&self) -> Result<u64> {
        let dr6 = self.read_debugreg(6)?;
        self.write_debugreg(6, 0)?;
        Ok(dr6)
    }

    /// From a stop right after a syscall instruction (no seccomp filter), run syscall `no` with
    /// `args` from that instruction and return its result; the registers are then restored.
    pub fn inject_syscall(&self, no: i64, args: [u64; 6]) -> Result<i64> {
        let saved = self.regs()?;
        let mut r = saved;
        r.set_pc(saved.pc().wrapping_sub(2));
        r.0.rax = no as u64;
        r.set_args(args);
        self.set_regs(&r)?;
        self.cont_syscall(None)?;
        let wait_syscall = || -> Result<()> {
            loop {
                match crate::stop::wait_as(Some(self.tid), crate::profile::StopKind::Injected)? {
                    Some((_, crate::Stop::Syscall)) => return Ok(()),
                    Some((_, crate::Stop::Interrupted)) | None => {
                        self.cont_syscall(None)?;
                    }
                    Some((_, crate::Stop::Signal(sig))) => {
                        // Not now: the signal stays pending while we inject.
                        let _ = sig;
                        self.cont_syscall(None)?;
                    }
                    other => {
                        return Err(Error::Protocol(format!(
                            "unexpected stop while injecting a syscall: {other:?}"
                        )))
                    }
                }
            }
        };
        wait_syscall()?; // entry
        self.cont_syscall(None)?;
        wait_syscall()?; // exit
        let result = self.regs()?.result();
        self.set_regs(&saved)?;
        Ok(result)
    }

    /// From a stop whose registers are final (a syscall-exit stop, a signal stop; not a
    /// PTRACE_EVENT_EXEC stop, whose rax the kernel still overwrites), run syscall `no` with
    /// `args` from a `syscall` instruction written over the two bytes at pc for the call;
    /// returns its result. The bytes and registers are restored, and the thread is left at the
    /// call's exit stop. Works under replay's trace-all seccomp filter too (its stop is passed).
    pub fn inject_syscall_at_pc(&mut self, no: i64, args: [u64; 6]) -> Result<i64> {
        let saved = self.regs()?;
        let pc = RemotePtr::new(saved.pc());
        let mut orig = [0u8; 2];
        self.read_bytes(pc, &mut orig)?;
        self.write_bytes(pc, &[0x0f, 0x05])?;
        let r = (|| {
            let mut r = saved;
            r.0.rax = no as u64;
            r.set_args(args);
            self.set_regs(&r)?;
            self.cont_syscall(None)?;
            let mut syscall_stops = 0;
            while syscall_stops < 2 {
                match crate::stop::wait_as(Some(self.tid), crate::profile::StopKind::Injected)? {
                    Some((_, crate::Stop::Syscall)) => syscall_stops += 1,
                    Some((_, crate::Stop::Seccomp)) | None => {}
                    other => {
                        return Err(Error::Protocol(format!(
                            "unexpected stop while injecting syscall {no}: {other:?}"
                        )))
                    }
                }
                if syscall_stops < 2 {
                    self.cont_syscall(None)?;
                }
            }
            Ok(self.regs()?.result())
        })();
        let restored = self
            .write_bytes(pc, &orig)
            .and_then(|_| self.set_regs(&saved));
        let result = r?;
        restored?;
        Ok(result)
    }
}

impl Task {
    /// The FP/SSE state (fxsave layout) of the thread.
    pub fn fpregs(&self) -> Result<libc::user_fpregs_struct> {
        let mut fp = std::mem::MaybeUninit::<libc::user_fpregs_struct>::uninit();
        // SAFETY: PTRACE_GETFPREGS writes exactly one user_fpregs_struct to the pointer we pass,
        // which points to properly sized and aligned storage; we read it only on success.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GETFPREGS,
                self.tid.as_raw(),
                std::ptr::null_mut::<libc::c_void>(),
                fp.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(Error::Ptrace {
                op: "GETFPREGS",
                tid: self.tid.as_raw(),
                source: nix::errno::Errno::last(),
            });
        }
        // SAFETY: the kernel filled the struct (r >= 0).
        Ok(unsafe { fp.assume_init() })
    }
}

impl Task {
    /// Replace the siginfo of the current signal-delivery stop with recorded raw bytes.
    pub fn set_siginfo_bytes(&self, bytes: &[u8]) -> Result<()> {
        if bytes.len() != 128 {
            return Err(Error::Protocol(format!("siginfo of {} bytes", bytes.len())));
        }
        let mut raw = [0u8; 128];
        raw.copy_from_slice(bytes);
        // SAFETY: siginfo_t is a plain 128-byte C struct for which any bit pattern is valid.
        let info: libc::siginfo_t = unsafe { std::mem::transmute_copy(&raw) };
        ptrace::setsiginfo(self.tid, &info).map_err(self.err("SETSIGINFO"))
    }

    /// Whether `sig` is pending for this thread (or its process) while the thread blocks it:
    /// the kernel delivers it when the thread unblocks it.
    pub fn signal_held_by_mask(&self, sig: i32) -> Result<bool> {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.tid)).map_err(|source| {
                Error::Proc {
                    tid: self.tid.as_raw(),
                    source,
                }
            })?;
        let mask = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap_or(0)
        };
        let bit = 1u64 << ((sig - 1) & 63);
        let pending = (mask("SigPnd:") | mask("ShdPnd:")) & bit != 0;
        Ok(pending && mask("SigBlk:") & bit != 0)
    }

    /// Send `sig` to this thread (it becomes pending; a stopped thread takes it when resumed).
    pub fn send_signal(&self, sig: i32) -> Result<()> {
        // SAFETY: tgkill takes plain integers.
        let r =
            unsafe { libc::syscall(libc::SYS_tgkill, self.tgid.as_raw(), self.tid.as_raw(), sig) };
        if r < 0 {
            return Err(Error::Ptrace {
                op: "tgkill",
                tid: self.tid.as_raw(),
                source: nix::errno::Errno::last(),
            });
        }
        Ok(())
    }
}

/// Reap threads `tids` of process `tgid` as they end (after a SIGKILL or the process's
/// exit_group): only these (other children of ours, such as a replayer's checkpoints, are left
/// alone), the leader last (its end is reported only once the others are reaped). A thread
/// already reaped is passed over. Returns how the leader ended, when it is among `tids`.
pub fn reap_process(tgid: Pid, tids: &[Pid]) -> Option<crate::Stop> {
    let mut order: Vec<Pid> = tids.to_vec();
    order.sort_by_key(|&t| (t == tgid, t));
    order.dedup();
    let mut leader = None;
    for tid in order {
        loop {
            match crate::stop::wait(Some(tid)) {
                Ok(Some((_, end @ (crate::Stop::Exited(_) | crate::Stop::Killed { .. })))) => {
                    if tid == tgid {
                        leader = Some(end);
                    }
                    break;
                }
                Err(_) => break,
                _ => {}
            }
        }
    }
    leader
}

/// The thread group of `tid`, from /proc (None if it is gone).
pub fn tgid_of(tid: Pid) -> Option<Pid> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
        .map(Pid::from_raw)
}

/// Whether two processes share their address space (kcmp KCMP_VM): a vfork child does.
pub fn shares_memory(a: Pid, b: Pid) -> bool {
    const KCMP_VM: libc::c_long = 1;
    // SAFETY: kcmp takes plain integers and reads no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, a.as_raw(), b.as_raw(), KCMP_VM, 0, 0) };
    r == 0
}

/// Whether processes `a` and `b` share one fd table (a child made with CLONE_FILES).
pub fn shares_files(a: Pid, b: Pid) -> bool {
    const KCMP_FILES: libc::c_long = 2;
    // SAFETY: kcmp takes plain integers and reads no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, a.as_raw(), b.as_raw(), KCMP_FILES, 0, 0) };
    r == 0
}

/// How stepping over a patched instruction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOver {
    /// The original instruction ran; the thread is stopped after it.
    Done,
    /// A signal stopped the thread first (it is at a signal-delivery stop for it).
    Signal(i32),
    /// The thread ended.
    Gone(crate::Stop),
}

impl Task {
    /// The thread stands at `pc`, where `orig` was replaced by `int3`: run the original
    /// instruction alone (restore the byte, single-step, patch it again). Only one thread of
    /// the process runs at a time, so no other thread can pass the unpatched byte.
    pub fn step_over(&mut self, pc: u64, orig: u8) -> Result<StepOver> {
        self.write_bytes(RemotePtr::new(pc), &[orig])?;
        let r = (|| {
            self.single_step(None)?;
            loop {
                match crate::stop::wait_as(Some(self.tid), crate::profile::StopKind::SingleStep)? {
                    Some((_, crate::Stop::Signal(libc::SIGTRAP))) => return Ok(StepOver::Done),
                    Some((_, crate::Stop::Signal(sig))) => return Ok(StepOver::Signal(sig)),
                    Some((_, s @ (crate::Stop::Exited(_) | crate::Stop::Killed { .. }))) => {
                        return Ok(StepOver::Gone(s))
                    }
                    Some((_, other)) => {
                        return Err(Error::Protocol(format!(
                            "unexpected stop while stepping over {pc:#x}: {other:?}"
                        )))
                    }
                    None => {}
                }
            }
        })();
        if !matches!(r, Ok(StepOver::Gone(_))) {
            let _ = self.write_bytes(RemotePtr::new(pc), &[0xcc]);
        }
        r
    }

    /// Replace the byte at `addr` by `int3`; returns the original byte.
    pub fn patch_int3(&mut self, addr: u64) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_bytes(RemotePtr::new(addr), &mut b)?;
        self.write_bytes(RemotePtr::new(addr), &[0xcc])?;
        Ok(b[0])
    }
}
