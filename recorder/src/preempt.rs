//! Preempting a thread that runs past its time slice without a syscall (a spin-wait, a long
//! computation) so the others can run. Its position is recorded (DESIGN.md section 6) so replay
//! stops it at the same instruction in the same state.

use iced_x86::{Decoder, DecoderOptions};
use pack::{EventKind, Position};
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

/// After computing this long without a syscall, a spin hint or a repeated state, a thread is
/// preempted anyway at an uncounted position (exact, but replay pays a stop per pass over it).
const COMPUTING_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// The running thread stopped at our interrupt (its slice is over and others wait). If it is
/// spinning without progress (same registers and memory at two passes over the same
/// instruction), preempt it there: replay finds that state at its first pass. If it is
/// computing, let it run on (nothing is lost on one CPU) until its next syscall or spin hint,
/// and only after a long budget preempt it where it is.
pub(crate) fn on_interrupted(s: &mut RecordSession, tid: i32) -> Result<()> {
    let pc = s.task(tid).regs()?.pc();
    // In the middle of a REP string instruction: let it finish first, so the position is at an
    // instruction boundary that replay's breakpoint can stop at.
    let pc = match rep_string_len(s, tid, pc) {
        Some(len) => match run_to(s, tid, pc + len)? {
            Some(()) => pc + len,
            None => return Ok(()),
        },
        None => pc,
    };
    let exclude = in_flight(s, tid);
    let task = s.task(tid);
    let first = task.regs()?;
    let first_digest = tracee::digest::digest(task, &exclude)?;
    let since = *s
        .thread(tid)
        .computing_since
        .get_or_insert_with(std::time::Instant::now);
    let budget_spent = since.elapsed() > COMPUTING_BUDGET;
    if !budget_spent {
        // Pass over the same instruction once more.
        if run_to(s, tid, pc)?.is_none() {
            return Ok(());
        }
        let task = s.task(tid);
        let second = task.regs()?;
        let same = second.to_words() == first.to_words()
            && tracee::digest::digest(task, &exclude)? == first_digest;
        if !same {
            // Computing: it runs on to its next syscall or counted point, where it is switched
            // (exact and free); looked at again after another slice.
            s.recheck_later();
            return s.resume(tid, None);
        }
    }
    let task = s.task(tid);
    let regs = task.regs()?;
    let digest = tracee::digest::digest(task, &exclude)?;
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
    if budget_spent {
        s.uncounted_preemptions += 1;
    }
    s.thread(tid).state = State::Ready;
    s.current = None;
    Ok(())
}

/// Run the stopped thread until it reaches `pc` (a hardware breakpoint). `None` when it stopped
/// for another reason first: that stop has been handled like any other.
fn run_to(s: &mut RecordSession, tid: i32, pc: u64) -> Result<Option<()>> {
    let task = s.task(tid);
    task.set_exec_breakpoint(Some(pc))?;
    // PTRACE_SYSCALL, not CONT: a syscall on the way must stop and be recorded.
    task.cont_syscall(None)?;
    let real = task.tid;
    let stop = loop {
        if let Some((_, stop)) = tracee::stop::wait(Some(real))? {
            break stop;
        }
    };
    let task = s.task(tid);
    task.set_exec_breakpoint(None)?;
    s.stops += 1;
    if stop == Stop::Signal(libc::SIGTRAP) && s.task(tid).hit_breakpoint()? {
        return Ok(Some(()));
    }
    s.dispatch(tid, stop)?;
    Ok(None)
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
