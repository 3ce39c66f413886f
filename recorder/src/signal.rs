//! Signal stops during recording. Synchronous signals (faults) happen where the thread is and
//! recur in replay; asynchronous ones are delivered only at a scheduling point of their thread
//! (right after it resumes from a syscall or a preemption), recorded there.

use pack::{EventKind, SignalEvent};
use tracee::profile::{self, StopKind};
use tracee::{insn, syscalls};

use crate::error::Result;
use crate::session::RecordSession;
use crate::thread::{Queued, State};

fn is_fault(sig: i32, si_code: i32) -> bool {
    si_code > 0
        && matches!(
            sig,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
        )
}

/// A signal-delivery stop of thread `tid`; `fresh` when it ran no user code since resuming.
pub(crate) fn on_signal(s: &mut RecordSession, tid: i32, sig: i32, fresh: bool) -> Result<()> {
    let running = s.thread(tid).state == State::Running;
    if sig == libc::SIGSEGV && running && emulate_tsc(s, tid)? {
        return s.resume(tid, None);
    }
    if sig == libc::SIGTRAP && running && crate::spin_watch::on_trap(s, tid)? {
        return Ok(());
    }
    if sig == libc::SIGTRAP && running {
        let pc = s.task(tid).regs()?.pc();
        match s.points.trap(pc) {
            Some(t) if t.chaos => {
                profile::classify(StopKind::ChaosPoint);
                return crate::chaos_points::on_trap(s, tid, t.addr);
            }
            Some(t) if t.spin => {
                profile::classify(StopKind::Spin);
                return crate::spin::on_trap(s, tid, t.addr);
            }
            _ => {}
        }
    }
    let t = s.thread(tid);
    if let Some(q) = t.injected.take() {
        if q.signo == sig {
            // The signal we made pending at a scheduling point: deliver it as it first came.
            t.task.set_siginfo_bytes(&q.siginfo)?;
            return s.resume(tid, Some(sig));
        }
        t.injected = Some(q);
    }
    let siginfo = t.task.siginfo_bytes()?;
    let si_code = i32::from_le_bytes(siginfo[8..12].try_into().expect("4 bytes"));
    let synchronous = running && is_fault(sig, si_code);
    if synchronous || (fresh && running) {
        s.push(
            tid,
            EventKind::Signal(SignalEvent {
                signo: sig,
                siginfo: siginfo.to_vec(),
                synchronous,
                position: None,
            }),
        )?;
        return s.resume(tid, Some(sig));
    }
    // Arrived while the thread ran user code: hold it until its next scheduling point.
    s.thread(tid).queued.push_back(Queued {
        signo: sig,
        siginfo,
    });
    s.resume(tid, None)
}

/// At a scheduling point of `tid`, resumed from state `from`: record the first held signal and
/// make it pending again. Returns the signal to resume with (from a syscall-exit stop the kernel
/// then sends it).
///
/// The exit of a silent syscall (rt_sigprocmask, mprotect, ...) is no such point: replay runs
/// those without a stop, so it could only make the signal pending one syscall early (issue 16:
/// bash's SIGCHLD handler then ran before its rt_sigprocmask, and a wait4 was called from
/// another frame). The signal stays held, and one the kernel delivers right there (unblocked
/// by that rt_sigprocmask) is held as if it had come during user code.
pub(crate) fn take_queued(s: &mut RecordSession, tid: i32, from: State) -> Result<Option<i32>> {
    let at_syscall_exit = match from {
        State::AtExit(p) => {
            if syscalls::lookup(p.no).is_some_and(|r| r.is_silent(&p.args)) {
                s.thread(tid).fresh = false;
                return Ok(None);
            }
            true
        }
        _ => false,
    };
    let Some(q) = s.thread(tid).queued.pop_front() else {
        return Ok(None);
    };
    s.push(
        tid,
        EventKind::Signal(SignalEvent {
            signo: q.signo,
            siginfo: q.siginfo.to_vec(),
            synchronous: false,
            position: None,
        }),
    )?;
    let sig = q.signo;
    let t = s.thread(tid);
    t.injected = Some(q);
    if at_syscall_exit {
        Ok(Some(sig))
    } else {
        t.task.send_signal(sig)?;
        Ok(None)
    }
}

/// An rdtsc/rdtscp trapped by PR_SET_TSC: execute it for the program and record the value.
fn emulate_tsc(s: &mut RecordSession, tid: i32) -> Result<bool> {
    let task = s.task(tid);
    let mut regs = task.regs()?;
    let Some(ins) = insn::tsc_insn_at(task, regs.pc()) else {
        return Ok(false);
    };
    let (value, aux) = insn::read_tsc();
    regs.0.rax = value & 0xffff_ffff;
    regs.0.rdx = value >> 32;
    let aux = (ins == insn::TscInsn::Rdtscp).then_some(aux);
    if let Some(a) = aux {
        regs.0.rcx = a as u64;
    }
    regs.set_pc(regs.pc() + ins.length());
    task.set_regs(&regs)?;
    s.push(tid, EventKind::Rdtsc { value, aux })?;
    Ok(true)
}
