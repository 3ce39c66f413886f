//! Chaos preemption points in the recorded program: patched to int3 at exec, counted per thread,
//! preempted at when the chaos scheduler says so, stepped over otherwise.

use tracee::{StepOver, Task};

use crate::chaos::Chaos;
use crate::error::{Error, Result};
use crate::session::RecordSession;
use crate::thread::{Queued, State};

/// Patch the chaos points of the program's executable (the task is at its exec stop).
pub(crate) fn patch(task: &mut Task, chaos: &mut Chaos) -> Result<()> {
    let exe = std::fs::read_link(format!("/proc/{}/exe", task.tid))
        .map_err(|e| Error::Other(format!("cannot find the program's executable: {e}")))?;
    let maps = tracee::spin::exec_mappings(task.tid.as_raw())?;
    let Some(m) = maps.iter().find(|m| std::path::Path::new(&m.path) == exe) else {
        return Ok(());
    };
    for addr in tracee::chaos_points::find(&exe, m) {
        let orig = task.patch_int3(addr)?;
        chaos.points.insert(addr, orig);
    }
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
    let t = s.thread(tid);
    let hits = {
        let h = t.hits.entry(pc).or_insert(0);
        *h += 1;
        *h
    };
    let others = s.runnable_except(tid);
    let chaos = s
        .chaos
        .as_mut()
        .expect("chaos points exist only under chaos");
    chaos.step(tid, live);
    let orig = chaos.points[&pc];
    let keep = chaos.hit_point(pc);
    if !keep {
        chaos.points.remove(&pc);
    }
    let switch = chaos.should_switch(tid, &others, true);
    if !keep {
        s.task(tid)
            .write_bytes(tracee::RemotePtr::new(pc), &[orig])?;
    }
    if switch {
        crate::preempt::at_counted_point(s, tid, pc, hits, &regs)?;
        s.thread(tid).at_chaos_point = true;
        return Ok(());
    }
    if keep && !step_over(s, tid, pc, orig)? {
        return Ok(());
    }
    // A counted point is a scheduling point: the slice (time-based, so a source of timing
    // dependence) counts only the code between points.
    s.slice_restart();
    s.resume(tid, None)
}

/// Run the original instruction at patched `pc`. Returns false if the thread is gone.
fn step_over(s: &mut RecordSession, tid: i32, pc: u64, orig: u8) -> Result<bool> {
    match s.task(tid).step_over(pc, orig)? {
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
    let Some(&orig) = s.chaos.as_ref().and_then(|c| c.points.get(&pc)) else {
        return Ok(false);
    };
    Ok(!step_over(s, tid, pc, orig)?)
}
