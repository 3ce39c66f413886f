//! Chaos preemption points in the recorded program: patched to int3 at exec (through the points
//! layer, which owns the bytes and the hit cap), counted per thread, preempted at when the chaos
//! scheduler says so, stepped over otherwise.

use tracee::points::{Kind, Points};
use tracee::{StepOver, Task};

use crate::chaos::Chaos;
use crate::error::{Error, Result};
use crate::session::RecordSession;
use crate::thread::{Queued, State};

/// Patch the chaos points of the program's executable (the task is at its exec stop).
pub(crate) fn patch(task: &mut Task, points: &mut Points, chaos: &mut Chaos) -> Result<()> {
    let exe = std::fs::read_link(format!("/proc/{}/exe", task.tid))
        .map_err(|e| Error::Other(format!("cannot find the program's executable: {e}")))?;
    let maps = tracee::spin::exec_mappings(task.tid.as_raw())?;
    let Some(m) = maps.iter().find(|m| std::path::Path::new(&m.path) == exe) else {
        return Ok(());
    };
    for addr in tracee::chaos_points::find(&exe, m) {
        points.add(task, addr, Kind::Chaos)?;
    }
    chaos.point_list = points.chaos_points();
    Ok(())
}

/// The running thread trapped at chaos point `pc`.
pub(crate) fn on_trap(s: &mut RecordSession, tid: i32, pc: u64) -> Result<()> {
    let live = s
        .threads
        .values()
        .filter(|t| t.state != State::Dead)
        .count();
    let task = s.task(tid);
    let mut regs = task.regs()?;
    regs.set_pc(pc);
    task.set_regs(&regs)?;
    let hits = s.thread(tid).hits.pass(pc);
    let others = s.runnable_except(tid);
    let keep = {
        let t = s.threads.get_mut(&tid).expect("the running thread exists");
        s.points.chaos_hit(&mut t.task, pc)?
    };
    let chaos = s
        .chaos
        .as_mut()
        .expect("chaos points exist only under chaos");
    chaos.step(tid, live);
    let switch = chaos.should_switch(tid, &others, true);
    if switch {
        crate::preempt::at_counted_point(s, tid, pc, hits, &regs)?;
        s.thread(tid).at_chaos_point = true;
        return Ok(());
    }
    if keep && !step_over(s, tid, pc)? {
        return Ok(());
    }
    // A counted point is a scheduling point: the slice (time-based, so a source of timing
    // dependence) counts only the code between points.
    s.slice_restart();
    s.resume(tid, None)
}

/// Run the original instruction at patched `pc`. Returns false if the thread is gone.
fn step_over(s: &mut RecordSession, tid: i32, pc: u64) -> Result<bool> {
    let r = {
        let t = s.threads.get_mut(&tid).expect("the running thread exists");
        s.points.step_over(&mut t.task, pc)?
    };
    match r {
        StepOver::Done => Ok(true),
        StepOver::Signal(sig) => {
            // It arrived during the step: hold it for the next scheduling point.
            let siginfo = s.task(tid).siginfo_bytes()?;
            s.thread(tid).queued.push_back(Queued {
                signo: sig,
                siginfo,
            });
            Ok(true)
        }
        StepOver::Gone(stop) => {
            s.dispatch(tid, stop)?;
            Ok(false)
        }
    }
}

/// A thread about to resume from a preemption at a still-patched chaos point steps over it
/// first. Returns true if the thread is gone.
pub(crate) fn parked_at_point(s: &mut RecordSession, tid: i32) -> Result<bool> {
    if !std::mem::take(&mut s.thread(tid).at_chaos_point) {
        return Ok(false);
    }
    let pc = s.task(tid).regs()?.pc();
    if !s.points.has(pc, Kind::Chaos) {
        return Ok(false);
    }
    Ok(!step_over(s, tid, pc)?)
}
