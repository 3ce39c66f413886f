//! Spin hints (PAUSE) as counted scheduling points: a thread that spins is preempted at an exact
//! `(pc, hits)` position as soon as another thread could run (DESIGN.md 6.1).

use tracee::points::Points;

use crate::error::Result;
use crate::session::RecordSession;

/// Patch every spin hint of the process's code (at its first thread creation).
pub(crate) fn enable(s: &mut RecordSession, tid: i32) -> Result<()> {
    let t = s.threads.get_mut(&tid).expect("the thread exists");
    Ok(s.points.enable_spin(&mut t.task)?)
}

/// Patch the spin hints of code mapped since the last scan.
pub(crate) fn patch_new_code(s: &mut RecordSession, tid: i32) -> Result<()> {
    let t = s.threads.get_mut(&tid).expect("the thread exists");
    Ok(s.points.patch_new_code(&mut t.task)?)
}

/// The running thread trapped at the patched spin hint at `pc`: count it, skip the hint, and
/// let another thread run if one can.
pub(crate) fn on_trap(s: &mut RecordSession, tid: i32, pc: u64) -> Result<()> {
    let t = s.thread(tid);
    let hits = t.hits.pass(pc);
    let regs = Points::skip_spin(&t.task, pc)?;
    if !s.others_runnable(tid) {
        return s.resume(tid, None);
    }
    if let Some(c) = s.chaos.as_mut() {
        c.on_spin(tid);
    }
    crate::preempt::at_counted_point(s, tid, pc, hits, &regs)
}
