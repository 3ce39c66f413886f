//! Preempting a thread that runs past its time slice without a syscall (a spin-wait, a long
//! computation) so the others can run. Its position is recorded (DESIGN.md section 6) so replay
//! stops it at the same instruction in the same state.

use iced_x86::{Decoder, DecoderOptions};
use pack::{EventKind, Position};
use std::time::{Duration, Instant};

use tracee::interrupt::Deadline;
use tracee::{RemotePtr, Stop};

use crate::error::Result;
use crate::session::RecordSession;
use crate::thread::State;

/// Ask the running thread to stop.
pub(crate) fn request(s: &mut RecordSession, tid: i32) -> Result<()> {
    let t = s.thread(tid);
    if !t.interrupt_pending {
        t.interrupt_pending = true;
        t.task.interrupt()?;
    }
    Ok(())
}

/// The length of a REP-prefixed string instruction at `pc`, if that is what is there.
fn rep_string_len(s: &mut RecordSession, tid: i32, pc: u64) -> Option<u64> {
    let bytes = s.task(tid).read_prefix(RemotePtr::new(pc), 15);
    let mut d = Decoder::with_ip(64, &bytes, pc, DecoderOptions::NONE);
    let ins = d.decode();
    if ins.is_invalid() {
        return None;
    }
    let string_op = ins.is_string_instruction();
    (string_op && (ins.has_rep_prefix() || ins.has_repne_prefix())).then_some(ins.len() as u64)
}

/// The output buffers of syscalls other threads have in flight: the kernel may write them at any
/// moment, so digests leave them out (replay computes the same set from the same parked calls).
pub(crate) fn in_flight(s: &mut RecordSession, except: i32) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let tids: Vec<i32> = s.threads.keys().copied().filter(|&t| t != except).collect();
    for tid in tids {
        let (no, args) = match s.thread(tid).state {
            State::InSyscall(p) | State::AtExit(p) => (p.no, p.args),
            // Replay has it parked at the call, and leaves the same buffers out.
            State::AtEntry => match s.thread(tid).task.regs() {
                Ok(r) => (r.syscall_no(), r.args()),
                Err(_) => continue,
            },
            _ => continue,
        };
        if let Some(row) = tracee::syscalls::lookup(no) {
            out.extend(row.max_regions(&args, &mut s.thread(tid).task));
        }
    }
    out
}

/// After computing this long without a syscall, a spin hint or a repeated state while other
/// threads wait, a thread is preempted anyway, at an uncounted position moved out of its hot
/// loop where possible (`move_out`). Only a thread waiting for another thread in a loop with no
/// syscall and no spin hint needs it; a real computation reaches its next syscall sooner or later.
const COMPUTING_BUDGET: Duration = Duration::from_secs(2);
/// The same while a thread whose sleep or timeout ran out waits for the CPU (timing fidelity:
/// natively it would run at once on another CPU).
const COMPUTING_BUDGET_WOKEN: Duration = Duration::from_millis(20);
/// How long the thread may run to reach one of the outer return addresses.
const MOVE_OUT_LIMIT: Duration = Duration::from_millis(50);
/// A return address whose estimated passes since the thread's previous event exceed this is
/// not taken (each pass costs replay a stop).
const MOVE_OUT_MAX_PASSES: f64 = 2000.0;
/// After this many tries without a rarely passed address, preempt where the thread is.
const MOVE_OUT_TRIES: u32 = 5;
/// Before a thread has computed this long, it is not preempted at an address it passes too
/// often to estimate (or where it is): replay would stop there millions of times (a long
/// computation, such as dropping a channel of a million messages, reaches a rarely passed
/// return address or a syscall sooner). Only a livelock whose state changes lasts longer.
const MOVE_OUT_HOT_AFTER: Duration = Duration::from_secs(20);

/// The running thread stopped at our interrupt (its slice is over and others wait). If it is
/// spinning without progress (same registers and memory at two passes over the same
/// instruction), preempt it there: replay finds that state at its first pass. If it is
/// computing, let it run on (nothing is lost on one CPU) until its next syscall or counted
/// point, and only after a budget preempt it, as far out of its hot loop as possible.
pub(crate) fn on_interrupted(s: &mut RecordSession, tid: i32) -> Result<()> {
    // What follows arms debug registers of its own: the watch of learned spins is off until
    // the thread's next event.
    crate::spin_watch::stop(s, tid)?;
    let pc = s.task(tid).regs()?.pc();
    // In the middle of a REP string instruction: let it finish first, so the position is at an
    // instruction boundary that replay's breakpoint can stop at.
    let pc = match rep_string_len(s, tid, pc) {
        Some(len) => match run_to(s, tid, &[pc + len], None)? {
            Some(_) => pc + len,
            None => return Ok(()),
        },
        None => pc,
    };
    let since = *s
        .thread(tid)
        .computing_since
        .get_or_insert_with(Instant::now);
    let timer_waits = s.threads.values().any(|t| t.runnable() && t.woke_by_timer);
    let budget = if timer_waits {
        COMPUTING_BUDGET_WOKEN
    } else {
        COMPUTING_BUDGET
    };
    if since.elapsed() > budget {
        let livelock = since.elapsed() > COMPUTING_BUDGET;
        return move_out(s, tid, livelock);
    }
    let exclude = in_flight(s, tid);
    let task = s.task(tid);
    let first = task.regs()?;
    // Pass over the same instruction once more: RF makes the breakpoint at `pc` let the
    // instruction run first (without it, it trapped at once, before anything ran, and every
    // computing loop looked like a spin; RF in the second stop's flags hid that until the
    // comparison left it out).
    let mut resume = first;
    resume.0.eflags |= tracee::EFLAGS_RF;
    task.set_regs(&resume)?;
    if run_to(s, tid, &[pc], None)?.is_none() {
        return Ok(());
    }
    let second = s.task(tid).regs()?;
    let same_regs = tracee::same_words_but(&second.to_words(), &first.to_words(), &[]);
    // Only registers that repeat make memory worth a look: a digest reads every page the
    // program wrote (248 ms each in crossbeam-channel's list stress tests), and a computing
    // thread's registers differ at once. Then one pass more, memory before and after.
    let mut same = false;
    if same_regs {
        let before = tracee::digest::digest(s.task(tid), &exclude)?;
        // Stopped by the breakpoint: the kernel set RF, the instruction runs first.
        if run_to(s, tid, &[pc], None)?.is_none() {
            return Ok(());
        }
        let task = s.task(tid);
        let third = task.regs()?;
        same = tracee::same_words_but(&third.to_words(), &second.to_words(), &[])
            && tracee::digest::digest(task, &exclude)? == before;
    }
    if s.debug {
        eprintln!("[record] interrupted at {pc:#x}: same registers {same_regs}, same state {same}");
    }
    if !same {
        // Computing: it runs on to its next syscall or counted point, where it is switched
        // (exact and free); looked at again after another slice.
        s.recheck_later();
        return s.resume(tid, None);
    }
    crate::spin_watch::learn(s, tid, pc);
    preempt_here(s, tid, &exclude, false)
}

/// Preempt the stopped, running thread where it is, at an uncounted position (registers and
/// memory digest); `costly` when it is not a repeating state (replay may pass it many times).
fn preempt_here(
    s: &mut RecordSession,
    tid: i32,
    exclude: &[(u64, u64)],
    costly: bool,
) -> Result<()> {
    let task = s.task(tid);
    let regs = task.regs()?;
    let digest = tracee::digest::digest(task, exclude)?;
    s.push(
        tid,
        EventKind::Schedule {
            position: Some(Position {
                pc: regs.pc(),
                hits: None,
                regs: regs.to_words(),
                digest: Some(digest),
            }),
        },
    )?;
    s.preemptions += 1;
    if costly {
        s.uncounted_preemptions += 1;
    }
    s.thread(tid).state = State::Ready;
    s.current = None;
    Ok(())
}

/// A computing thread must give way: run it on to a return address of one of its callers (found
/// by unwinding), the first it reaches that it passes rarely, and preempt it there. Replay stops
/// at each pass over that address since the thread's previous event, so an address the thread
/// passes often (a hot loop's callee returning) is dropped: its passes since the event are
/// estimated from the time between its first two hits. Up to 4 are armed at once (the debug
/// registers), innermost first, the next caller taking a dropped one's place. If it reaches
/// none in time, it runs on (looked at again later); at the last try it is preempted at the
/// least often passed address seen, or where it is when none was reached.
fn move_out(s: &mut RecordSession, tid: i32, livelock: bool) -> Result<()> {
    let last_try = s.thread(tid).move_out_tries + 1 >= MOVE_OUT_TRIES;
    let hot_ok = s
        .thread(tid)
        .computing_since
        .is_some_and(|t| t.elapsed() > MOVE_OUT_HOT_AFTER);
    // Only a possible livelock justifies a costly position; a late sleeper does not. And only
    // after MOVE_OUT_HOT_AFTER: estimates past MOVE_OUT_MAX_PASSES are rough (one of 67,848
    // passes was 1.26 million in crossbeam-channel's mpsc test).
    let best = s.thread(tid).move_out_best.filter(|_| livelock && hot_ok);
    let mut waiting: Vec<u64> = Vec::new();
    match best {
        Some((addr, _)) if last_try => waiting.push(addr),
        _ => {
            let regs = s.task(tid).regs()?;
            let mut unwinder = std::mem::take(&mut s.unwinder);
            let frames = unwinder.frames(s.task(tid), &regs, 256);
            s.unwinder = unwinder;
            for f in &frames {
                let dropped = s.thread(tid).move_out_dropped.contains(&f.return_address);
                if !dropped && !waiting.contains(&f.return_address) {
                    waiting.push(f.return_address);
                }
            }
            waiting.reverse(); // popped innermost first
        }
    }
    let since_event = s.thread(tid).event_at.elapsed().as_secs_f64();
    let started = Instant::now();
    let real = s.task(tid).tid;
    let cpu = || tracee::cpu_time_ns(real).unwrap_or(0);
    // (address, the thread's CPU time at its first hit)
    let mut armed: Vec<(u64, Option<u64>)> = Vec::new();
    // The thread's CPU time when each address was armed.
    let mut armed_at: Vec<u64> = Vec::new();
    loop {
        while armed.len() < 4 {
            match waiting.pop() {
                Some(a) => {
                    armed.push((a, None));
                    armed_at.push(cpu());
                }
                None => break,
            }
        }
        if armed.is_empty() {
            break;
        }
        let pcs: Vec<u64> = armed.iter().map(|&(a, _)| a).collect();
        let left = MOVE_OUT_LIMIT.saturating_sub(started.elapsed());
        match run_to(s, tid, &pcs, Some(left))? {
            None => return Ok(()),
            Some(i) if i < pcs.len() => {
                let take = if last_try && best.is_some() {
                    true
                } else if let Some(first) = armed[i].1 {
                    // The thread's own CPU time between two passes (not ours at its stops);
                    // against wall time since its event, the estimate errs on the high side.
                    // The thread is charged for our stop in between too (the trap and the
                    // ptrace stop run in its context): that cost is taken off, and a pass
                    // that costs little more than it is a hot loop's.
                    // A debug-register stop costs about 3 single-step stops (measured here:
                    // 60 us against 20 us).
                    let between = cpu().saturating_sub(first);
                    let overhead = 3 * s.stop_cost_ns.unwrap_or(0);
                    let estimate = if between < 2 * overhead {
                        f64::INFINITY
                    } else {
                        let every = ((between - overhead) as f64 / 1e9).max(1e-6);
                        since_event / every + 2.0
                    };
                    if s.debug {
                        eprintln!(
                            "[record] move-out {:#x}: {between} ns between passes (a stop costs {overhead} ns), estimate {estimate:.0}",
                            pcs[i]
                        );
                    }
                    let t = s.thread(tid);
                    if t.move_out_best.is_none_or(|(_, e)| estimate < e) {
                        t.move_out_best = Some((pcs[i], estimate));
                    }
                    if estimate > MOVE_OUT_MAX_PASSES {
                        t.move_out_dropped.push(pcs[i]);
                        armed.remove(i);
                        armed_at.remove(i);
                    }
                    estimate <= MOVE_OUT_MAX_PASSES
                } else if let Some(estimate) =
                    first_pass_estimate(s, armed_at[i], cpu(), since_event)
                {
                    // Not passed for a long time after it was armed: an outer frame's return
                    // (a long computation returning), not a hot loop's. Waiting for a second
                    // pass would miss it (it may never come).
                    if s.debug {
                        eprintln!(
                            "[record] move-out {:#x}: first pass {} ns after it was armed, estimate {estimate:.0}",
                            pcs[i],
                            cpu().saturating_sub(armed_at[i])
                        );
                    }
                    let t = s.thread(tid);
                    if t.move_out_best.is_none_or(|(_, e)| estimate < e) {
                        t.move_out_best = Some((pcs[i], estimate));
                    }
                    true
                } else {
                    if s.stop_cost_ns.is_none() {
                        match stop_cost(s, tid)? {
                            StopCost::Measured(ns) => s.stop_cost_ns = Some(ns),
                            StopCost::NotHere => {}
                            StopCost::Stopped => return Ok(()),
                        }
                    }
                    armed[i].1 = Some(cpu());
                    false
                };
                if take {
                    s.moved_out += 1;
                    let exclude = in_flight(s, tid);
                    return preempt_here(s, tid, &exclude, true);
                }
            }
            // The limit passed (the thread is stopped by our interrupt).
            Some(_) => break,
        }
    }
    let t = s.thread(tid);
    t.move_out_tries += 1;
    if last_try && livelock && !hot_ok {
        // No rarely passed address yet: hunt on (outer frames stay armed, the hot ones
        // dropped) rather than leave replay a hot position.
        t.move_out_tries = 0;
        s.recheck_later();
        return s.resume(tid, None);
    }
    if !last_try || !livelock {
        if !livelock && last_try {
            // Give up on this computation for timing's sake; the livelock budget still holds.
            t.move_out_tries = 0;
            t.move_out_best = None;
        }
        s.recheck_later();
        return s.resume(tid, None);
    }
    let exclude = in_flight(s, tid);
    preempt_here(s, tid, &exclude, true)
}

/// The passes since the thread's event over an address it first reached `now - armed_at` ns
/// of its CPU time after the address was armed, when that says it passes the address rarely
/// (at most `MOVE_OUT_MAX_PASSES`); `None` when the gap is too short to tell (a stop's cost
/// not yet measured, or within a few stops' time).
fn first_pass_estimate(
    s: &RecordSession,
    armed_at: u64,
    now: u64,
    since_event: f64,
) -> Option<f64> {
    let overhead = 3 * s.stop_cost_ns?;
    let gap = now.saturating_sub(armed_at);
    if gap < 10 * overhead.max(1) {
        return None;
    }
    let every = ((gap - overhead) as f64 / 1e9).max(1e-6);
    let estimate = since_event / every + 2.0;
    (estimate <= MOVE_OUT_MAX_PASSES).then_some(estimate)
}

/// Run the stopped thread until it reaches one of `pcs` (hardware breakpoints); with a limit,
/// interrupt it when that passes. `Some(i)` when it reached `pcs[i]` (or `Some(pcs.len())` when
/// the limit interrupted it); `None` when it stopped for another reason first: that stop has
/// been handled like any other.
fn run_to(
    s: &mut RecordSession,
    tid: i32,
    pcs: &[u64],
    limit: Option<Duration>,
) -> Result<Option<usize>> {
    let t = s.threads.get_mut(&tid).expect("the running thread exists");
    s.points.arm(&t.task, pcs)?;
    let task = &t.task;
    // PTRACE_SYSCALL, not CONT: a syscall on the way must stop and be recorded.
    task.cont_syscall(None)?;
    let real = task.tid;
    let deadline = limit.map(Deadline::arm);
    let mut interrupted = false;
    let stop = loop {
        if let Some((_, stop)) = tracee::stop::wait(Some(real))? {
            break stop;
        }
        if !interrupted && deadline.as_ref().is_some_and(|d| d.passed()) {
            s.task(tid).interrupt()?;
            interrupted = true;
        }
    };
    let t = s.threads.get_mut(&tid).expect("the running thread exists");
    s.points.arm(&t.task, &[])?;
    if stop == Stop::Signal(libc::SIGTRAP) {
        let hit = {
            let t = s.threads.get_mut(&tid).expect("the running thread exists");
            s.points.debug_hit(&t.task)?
        };
        if let Some(i) = hit.exec {
            tracee::profile::classify(tracee::profile::StopKind::DebugRegister);
            if interrupted {
                // Our interrupt is still to come: let the usual handling take it.
                s.thread(tid).interrupt_pending = true;
            }
            return Ok(Some(i));
        }
    }
    if interrupted && stop == Stop::Interrupted {
        return Ok(Some(pcs.len()));
    }
    if interrupted {
        s.thread(tid).interrupt_pending = true;
    }
    s.dispatch(tid, stop)?;
    Ok(None)
}

enum StopCost {
    Measured(u64),
    /// The instruction here is a syscall or one of our traps: measure at another stop.
    NotHere,
    /// The step stopped otherwise (that stop has been handled).
    Stopped,
}

/// What one stop costs the stopped thread in CPU time (the trap and the ptrace stop run in its
/// context), measured by single-stepping it over one instruction.
fn stop_cost(s: &mut RecordSession, tid: i32) -> Result<StopCost> {
    let task = s.task(tid);
    let real = task.tid;
    let pc = task.regs()?.pc();
    let mut code = [0u8; 2];
    task.read_bytes(tracee::RemotePtr::new(pc), &mut code)?;
    if code == [0x0f, 0x05] || code[0] == 0xcc {
        return Ok(StopCost::NotHere);
    }
    let before = tracee::cpu_time_ns(real).unwrap_or(0);
    task.single_step(None)?;
    let stop = loop {
        if let Some((_, stop)) = tracee::stop::wait(Some(real))? {
            break stop;
        }
    };
    if stop != Stop::Signal(libc::SIGTRAP) {
        s.dispatch(tid, stop)?;
        return Ok(StopCost::Stopped);
    }
    tracee::profile::classify(tracee::profile::StopKind::SingleStep);
    let after = tracee::cpu_time_ns(real).unwrap_or(before);
    Ok(StopCost::Measured(after.saturating_sub(before)))
}

/// Preempt the running thread at a counted point: `hits` passes over `pc` since its previous
/// event (replay stops it at exactly that pass). It is left ready to run again.
pub(crate) fn at_counted_point(
    s: &mut RecordSession,
    tid: i32,
    pc: u64,
    hits: u64,
    regs: &tracee::Regs,
) -> Result<()> {
    s.push(
        tid,
        EventKind::Schedule {
            position: Some(Position {
                pc,
                hits: Some(hits),
                regs: regs.to_words(),
                digest: None,
            }),
        },
    )?;
    s.preemptions += 1;
    s.thread(tid).state = State::Ready;
    s.current = None;
    Ok(())
}
