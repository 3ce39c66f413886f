//! Letting the kernel's effects on other threads arrive before the next scheduling decision, so
//! decisions depend on what the program did, not on how fast ptrace reported it: a new thread's
//! first stop, and the wake-ups a futex wake caused.

use std::time::Duration;

use tracee::interrupt::Deadline;

use crate::error::Result;
use crate::session::RecordSession;
use crate::thread::State;

/// How long to wait for reports the kernel owes us (they come in microseconds).
const PATIENCE: Duration = Duration::from_millis(100);

/// After a clone: wait for the new thread's first stop, so it is runnable from now on.
pub(crate) fn new_thread(s: &mut RecordSession, tid: i32) -> Result<()> {
    wait_until(s, |s| s.threads.get(&tid).is_none_or(|t| t.parked))
}

/// After a futex wake that woke `n` threads: wait until `n` futex waiters have reported their
/// return (they are then runnable at the same point of every run with the same decisions).
pub(crate) fn woken(s: &mut RecordSession, waker: i32, n: usize) -> Result<()> {
    let in_futex = |s: &RecordSession| {
        s.threads
            .iter()
            .filter(|(&t, th)| {
                t != waker && matches!(th.state, State::InSyscall(p) if p.no == libc::SYS_futex)
            })
            .count()
    };
    let before = in_futex(s);
    let target = before.saturating_sub(n);
    if before == 0 {
        return Ok(());
    }
    wait_until(s, move |s| in_futex(s) <= target)
}

/// After a thread died: wait until no thread is still in a futex wait on its cleared tid word
/// (the kernel woke them).
pub(crate) fn cleared(s: &mut RecordSession, word: u64) -> Result<()> {
    if word == 0 {
        return Ok(());
    }
    let waiting = move |s: &RecordSession| {
        s.threads.values().any(|t| {
            matches!(t.state, State::InSyscall(p) if p.no == libc::SYS_futex && p.args[0] == word)
        })
    };
    wait_until(s, move |s| !waiting(s))
}

/// Handle stops until `done` holds or the patience runs out.
fn wait_until(s: &mut RecordSession, done: impl Fn(&RecordSession) -> bool) -> Result<()> {
    if done(s) || s.chaos.is_none() {
        return Ok(());
    }
    let deadline = Deadline::arm(PATIENCE);
    while !done(s) {
        match tracee::stop::wait(None)? {
            Some((pid, stop)) => s.dispatch(pid.as_raw(), stop)?,
            None if deadline.passed() => break,
            None => {}
        }
    }
    Ok(())
}
