//! Base operations: registers, memory and the thread list, all in recorded thread ids.

use std::num::NonZeroUsize;

use gdbstub::common::Tid;
use gdbstub::target::ext::base::multithread::{MultiThreadBase, MultiThreadResumeOps};
use gdbstub::target::ext::thread_extra_info::ThreadExtraInfoOps;
use gdbstub::target::{TargetError, TargetResult};
use replayer::RecordedTid;

use crate::arch::LinuxRegs;
use crate::target::ReplayTarget;

/// A recorded thread id as gdb's.
pub(crate) fn gdb_tid(t: RecordedTid) -> Tid {
    NonZeroUsize::new(t.0 as usize).unwrap_or(NonZeroUsize::MIN)
}

/// gdb's thread id as the recorded one.
pub(crate) fn recorded_tid(t: Tid) -> RecordedTid {
    RecordedTid(t.get() as i32)
}

/// Replay errors on a gdb request are answered with an error packet; the session goes on.
fn non_fatal<E>(e: replayer::Error) -> TargetError<E> {
    eprintln!("warning: {e}");
    TargetError::NonFatal
}

impl ReplayTarget {
    /// gdb's thread ids may name a thread that has exited: answer for the current one then.
    pub(crate) fn living(&self, tid: Tid) -> RecordedTid {
        let t = recorded_tid(tid);
        if self.session.threads().contains(&t) {
            t
        } else {
            self.session.current_thread()
        }
    }
}

impl MultiThreadBase for ReplayTarget {
    fn read_registers(&mut self, regs: &mut LinuxRegs, tid: Tid) -> TargetResult<(), Self> {
        let t = self.living(tid);
        let general = self.session.regs(t).map_err(non_fatal)?;
        let fp = self.session.fpregs(t).map_err(non_fatal)?;
        *regs = crate::regs::to_gdb(&general, &fp);
        Ok(())
    }

    fn write_registers(&mut self, regs: &LinuxRegs, tid: Tid) -> TargetResult<(), Self> {
        let t = self.living(tid);
        let cur = self.session.regs(t).map_err(non_fatal)?;
        let new = crate::regs::general_from_gdb(regs, &cur);
        if new.to_words() != cur.to_words() {
            self.warn_divergence(&format!("wrote registers of thread {}", t.0));
            self.session.set_regs(t, &new).map_err(non_fatal)?;
        }
        Ok(())
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8], _tid: Tid) -> TargetResult<usize, Self> {
        match self.session.read_memory(start, data) {
            Ok(0) | Err(_) if !data.is_empty() => Err(TargetError::Errno(libc::EIO as u8)),
            Ok(n) => Ok(n),
            Err(_) => Ok(0),
        }
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], _tid: Tid) -> TargetResult<(), Self> {
        self.warn_divergence(&format!(
            "wrote {} bytes of memory at {start:#x}",
            data.len()
        ));
        self.session.write_memory(start, data).map_err(non_fatal)
    }

    fn list_active_threads(
        &mut self,
        thread_is_active: &mut dyn FnMut(Tid),
    ) -> Result<(), Self::Error> {
        for t in self.session.threads() {
            thread_is_active(gdb_tid(t));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}
