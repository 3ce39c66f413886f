//! Preempting a thread that runs past its time slice without a syscall (a spin-wait, a long
//! computation) so the others can run. Its position is recorded (DESIGN.md section 6) so replay
//! stops it at the same instruction in the same state.

use iced_x86::{Decoder, DecoderOptions};
use pack::{EventKind, Position};
use tracee::{RemotePtr, Stop};

use crate::error::{Error, Result};
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
        let p = match s.thread(tid).state {
            State::InSyscall(p) | State::AtExit(p) => p,
            _ => continue,
        };
        if let Some(row) = tracee::syscalls::lookup(p.no) {
            out.extend(row.max_regions(&p.args, &mut s.thread(tid).task));
        }
    }
    out
}

/// The running thread stopped at our interrupt: record where, and let another thread run.
pub(crate) fn on_interrupted(s: &mut RecordSession, tid: i32) -> Result<()> {
    let pc = s.task(tid).regs()?.pc();
    // In the middle of a REP string instruction: let it finish first, so the position is at an
    // instruction boundary that replay's breakpoint can stop at.
    if let Some(len) = rep_string_len(s, tid, pc) {
        let task = s.task(tid);
        task.set_exec_breakpoint(Some(pc + len))?;
        task.cont(None)?;
        let stop = tracee::stop::wait(Some(task.tid))?;
        task.set_exec_breakpoint(None)?;
        match stop {
            Some((_, Stop::Signal(libc::SIGTRAP))) if task.hit_breakpoint()? => {}
            other => {
                return Err(Error::Other(format!(
                    "internal: finishing a string instruction ended with {other:?}"
                )))
            }
        }
    }
    let exclude = in_flight(s, tid);
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
    s.thread(tid).state = State::Ready;
    s.current = None;
    Ok(())
}
