//! Spin hints (PAUSE) as counted scheduling points: a thread that spins is preempted at an exact
//! `(pc, hits)` position as soon as another thread could run (DESIGN.md 6.1).

use std::collections::BTreeSet;

use tracee::syscalls::Call;

use crate::error::Result;
use crate::session::RecordSession;

/// The patched spin hints of the process.
#[derive(Default)]
pub(crate) struct SpinPoints {
    pub enabled: bool,
    pub scanned: BTreeSet<(u64, u64)>,
    pub points: BTreeSet<u64>,
}

/// Patch every spin hint of the process's code (at its first thread creation).
pub(crate) fn enable(s: &mut RecordSession, tid: i32) -> Result<()> {
    if s.spin.enabled {
        return Ok(());
    }
    s.spin.enabled = true;
    patch_new_code(s, tid)
}

/// Whether a finished syscall mapped new code (mmap or mprotect with PROT_EXEC).
pub(crate) fn maps_code(call: &Call) -> bool {
    call.result >= 0
        && matches!(call.no as i64, libc::SYS_mmap | libc::SYS_mprotect)
        && call.args[2] & libc::PROT_EXEC as u64 != 0
}

/// Patch the spin hints of code mapped since the last scan.
pub(crate) fn patch_new_code(s: &mut RecordSession, tid: i32) -> Result<()> {
    if !s.spin.enabled {
        return Ok(());
    }
    let mut scanned = std::mem::take(&mut s.spin.scanned);
    let r = tracee::spin::patch_all(s.task(tid), &mut scanned);
    s.spin.scanned = scanned;
    s.spin.points.extend(r?);
    Ok(())
}

/// The running thread trapped at the patched spin hint at `pc`: count it, skip the hint, and
/// let another thread run if one can.
pub(crate) fn on_trap(s: &mut RecordSession, tid: i32, pc: u64) -> Result<()> {
    let t = s.thread(tid);
    let hits = {
        let h = t.hits.entry(pc).or_insert(0);
        *h += 1;
        *h
    };
    let mut regs = t.task.regs()?;
    regs.set_pc(pc + 2);
    t.task.set_regs(&regs)?;
    if !s.others_runnable(tid) {
        return s.resume(tid, None);
    }
    if let Some(c) = s.chaos.as_mut() {
        c.on_spin(tid);
    }
    crate::preempt::at_counted_point(s, tid, pc, hits, &regs)
}
