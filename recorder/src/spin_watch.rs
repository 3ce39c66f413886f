//! Spin loops without a spin hint, learned: where a thread was once caught spinning without
//! progress (the same registers and memory at two passes over an instruction, `preempt.rs`),
//! debug registers watch that instruction from each of its later events on. A pass with the
//! same registers as the pass before means it spins there again: it is preempted at once, at a
//! counted position `(pc, hits)` (replay counts the passes with a debug register too), instead
//! of spinning out a time slice and being interrupted at an uncounted one.
//!
//! A spin that waits for another thread (crossbeam's `ArrayQueue::pop` polled in a loop) hands
//! over in a few passes this way; natively the two threads run side by side. Each watched pass
//! is a stop in recording and in replay, so a segment watches at most [`PASSES`] of them.

use crate::error::Result;
use crate::session::RecordSession;

/// Learned instructions per thread (each takes a debug register while watched).
const LEARNED: usize = 2;
/// Passes watched in one segment (from an event to the next); past them the watch is off until
/// the thread's next event, and replay never stops more than this often to find a position.
const PASSES: u64 = 2000;

/// The watch of one thread in its current segment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Watch {
    /// Watched instructions with the registers at each one's previous pass.
    pcs: Vec<(u64, Option<Vec<u64>>)>,
    passes: u64,
}

/// The thread was caught spinning without progress at `pc`: watch it from its next event on.
pub(crate) fn learn(s: &mut RecordSession, tid: i32, pc: u64) {
    if s.points.is_counted(pc) {
        return; // a spin hint or chaos point counts its passes already
    }
    let t = s.thread(tid);
    t.spin_pcs.retain(|&p| p != pc);
    t.spin_pcs.insert(0, pc);
    t.spin_pcs.truncate(LEARNED);
}

/// A new segment of `tid` begins (its event was just recorded; counting starts here): watch
/// its learned instructions when the debug registers allow.
pub(crate) fn segment_start(s: &mut RecordSession, tid: i32) -> Result<()> {
    let t = s.threads.get_mut(&tid).expect("the thread exists");
    if t.spin_pcs.is_empty() {
        return Ok(());
    }
    let pcs = t.spin_pcs.clone();
    if s.points.free_debug_registers() < pcs.len() {
        return stop(s, tid);
    }
    s.points.arm(&t.task, &pcs)?;
    let mut watch = Watch {
        pcs: pcs.into_iter().map(|p| (p, None)).collect(),
        passes: 0,
    };
    // Stopped at a watched instruction (preempted there): replay counts that as a pass (it is
    // parked there, and steps off before it arms its breakpoint), so count it here too, and set
    // RF so that the resumed instruction does not trap (after a debug-register stop the kernel
    // has set it already; after a syscall it has not).
    let mut regs = t.task.regs()?;
    if let Some(w) = watch.pcs.iter_mut().find(|(p, _)| *p == regs.pc()) {
        t.hits.pass(w.0);
        w.1 = Some(regs.to_words());
        regs.0.eflags |= tracee::EFLAGS_RF;
        t.task.set_regs(&regs)?;
    }
    t.spin_watch = Some(watch);
    Ok(())
}

/// No more watching until the thread's next event (its passes are no longer all counted).
pub(crate) fn stop(s: &mut RecordSession, tid: i32) -> Result<()> {
    let t = s.threads.get_mut(&tid).expect("the thread exists");
    if t.spin_watch.take().is_some() {
        s.points.arm(&t.task, &[])?;
    }
    Ok(())
}

/// A SIGTRAP of the running thread `tid`: if it is a pass over a watched instruction, count
/// it and preempt the thread if it repeats the pass before while another thread could run.
/// False when the trap is not ours.
pub(crate) fn on_trap(s: &mut RecordSession, tid: i32) -> Result<bool> {
    let t = s.threads.get_mut(&tid).expect("the thread exists");
    let Some(watch) = t.spin_watch.as_mut() else {
        return Ok(false);
    };
    let hit = s.points.debug_hit(&t.task)?;
    let Some(i) = hit.exec.filter(|&i| i < watch.pcs.len()) else {
        return Ok(false);
    };
    tracee::profile::classify(tracee::profile::StopKind::DebugRegister);
    let pc = watch.pcs[i].0;
    let hits = t.hits.pass(pc);
    let regs = t.task.regs()?;
    let words = regs.to_words();
    let again = watch.pcs[i]
        .1
        .as_ref()
        .is_some_and(|prev| tracee::same_words_but(prev, &words, &[]));
    watch.pcs[i].1 = Some(words);
    watch.passes += 1;
    let spent = watch.passes >= PASSES;
    if again && s.others_runnable(tid) {
        if s.debug {
            eprintln!("[record] spinning again at {pc:#x} (pass {hits}): preempted there");
        }
        stop(s, tid)?;
        s.spin_watch_preemptions += 1;
        if let Some(c) = s.chaos.as_mut() {
            c.on_spin(tid);
        }
        return crate::preempt::at_counted_point(s, tid, pc, hits, &regs).map(|_| true);
    }
    if spent {
        stop(s, tid)?;
    }
    s.resume(tid, None)?;
    Ok(true)
}
