//! A thread's user-visible CPU state beyond its general registers (the XSAVE area: x87, SSE,
//! AVX...; the signal mask), saved from one thread and loaded into another: what a checkpoint
//! keeps of the threads a fork does not copy, and how they are re-created in a copy.

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::regs::Regs;
use crate::task::Task;

/// `NT_X86_XSTATE`, the regset of the whole XSAVE area.
const NT_X86_XSTATE: libc::c_int = 0x202;
/// Room for any XSAVE area (AMX's is about 11 KiB).
const XSTATE_MAX: usize = 16 * 1024;

/// One thread's state as a checkpoint keeps it.
#[derive(Clone, Debug)]
pub struct ThreadState {
    pub regs: Regs,
    /// The XSAVE area, as PTRACE_GETREGSET gives it.
    pub xstate: Vec<u8>,
    /// Blocked signals (bit n-1 for signal n).
    pub sigmask: u64,
}

impl Task {
    fn ptrace_raw(
        &self,
        op: &'static str,
        req: libc::c_uint,
        addr: usize,
        data: *mut libc::c_void,
    ) -> Result<()> {
        // SAFETY: every caller passes a request whose `data` points to storage of the size the
        // request reads or writes (an iovec over an owned buffer, or a u64), alive for the call.
        let r = unsafe { libc::ptrace(req, self.tid.as_raw(), addr, data) };
        if r < 0 {
            return Err(Error::Ptrace {
                op,
                tid: self.tid.as_raw(),
                source: Errno::last(),
            });
        }
        Ok(())
    }

    /// The thread's XSAVE area.
    pub fn xstate(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; XSTATE_MAX];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        self.ptrace_raw(
            "GETREGSET(XSTATE)",
            libc::PTRACE_GETREGSET,
            NT_X86_XSTATE as usize,
            (&mut iov as *mut libc::iovec).cast(),
        )?;
        buf.truncate(iov.iov_len);
        Ok(buf)
    }

    /// Load an XSAVE area taken from a thread of this machine.
    pub fn set_xstate(&self, xstate: &[u8]) -> Result<()> {
        let mut buf = xstate.to_vec();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        self.ptrace_raw(
            "SETREGSET(XSTATE)",
            libc::PTRACE_SETREGSET,
            NT_X86_XSTATE as usize,
            (&mut iov as *mut libc::iovec).cast(),
        )
    }

    /// The thread's blocked signals.
    pub fn sigmask(&self) -> Result<u64> {
        let mut mask = 0u64;
        self.ptrace_raw(
            "GETSIGMASK",
            libc::PTRACE_GETSIGMASK,
            std::mem::size_of::<u64>(),
            (&mut mask as *mut u64).cast(),
        )?;
        Ok(mask)
    }

    pub fn set_sigmask(&self, mask: u64) -> Result<()> {
        let mut mask = mask;
        self.ptrace_raw(
            "SETSIGMASK",
            libc::PTRACE_SETSIGMASK,
            std::mem::size_of::<u64>(),
            (&mut mask as *mut u64).cast(),
        )
    }

    /// The state a checkpoint keeps of this (stopped) thread, with `regs` as its registers
    /// (a seccomp stop's entry registers, or the current ones).
    pub fn capture_state(&self, regs: Regs) -> Result<ThreadState> {
        Ok(ThreadState {
            regs,
            xstate: self.xstate()?,
            sigmask: self.sigmask()?,
        })
    }

    /// Give this (stopped, never run) thread the vector state and signal mask of `s`; the
    /// general registers are the caller's to set (they depend on where it is parked).
    pub fn load_state(&self, s: &ThreadState) -> Result<()> {
        self.set_xstate(&s.xstate)?;
        self.set_sigmask(s.sigmask)
    }

    /// At a seccomp stop with entry registers `entry`: create a thread of this process in
    /// place of the call (a `clone` of a thread, the kernel clearing `clear_tid` when it exits
    /// if not 0) and bring this thread back to the same seccomp stop. The new thread waits at
    /// its first stop, never run, its registers those of the clone's return: the caller sets
    /// them.
    pub fn clone_thread_at_seccomp_stop(&self, entry: &Regs, clear_tid: u64) -> Result<Task> {
        let mut flags = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM) as u64;
        if clear_tid != 0 {
            flags |= libc::CLONE_CHILD_CLEARTID as u64;
        }
        let mut r = *entry;
        r.set_syscall_no(libc::SYS_clone);
        r.set_args([flags, 0, 0, clear_tid, 0, 0]);
        self.set_regs(&r)?;
        self.cont_syscall(None)?;
        let child = match crate::stop::wait(Some(self.tid))? {
            Some((_, crate::Stop::Clone)) => nix::unistd::Pid::from_raw(self.event_msg()? as i32),
            other => {
                return Err(Error::Protocol(format!(
                    "expected a clone event re-creating a thread, got {other:?}"
                )))
            }
        };
        self.cont_syscall(None)?;
        self.expect_syscall_exit()?;
        match crate::stop::wait(Some(child))? {
            Some((
                _,
                crate::Stop::Signal(_) | crate::Stop::Interrupted | crate::Stop::GroupStop(_),
            )) => {}
            other => {
                return Err(Error::Protocol(format!(
                    "a re-created thread first stopped with {other:?}"
                )))
            }
        }
        self.reenter_syscall(entry)?;
        Ok(Task::new(child, self.tgid))
    }
}
