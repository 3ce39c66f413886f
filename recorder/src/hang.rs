//! What the program was doing when its recording was stopped from outside (a job runner's
//! timeout, Ctrl-C): the threads blocked and in which calls, and whether every one of them waited
//! with no timeout, which nothing in the program can end (a deadlock, unless a child process or
//! another program was to wake it). A run stopped while its threads still ran was slow, not hung:
//! under recording, threads share one CPU and every syscall costs ptrace stops.

use std::collections::BTreeMap;

use crate::session::RecordSession;
use crate::thread::State;

/// One line: the live threads by what they were doing.
pub(crate) fn summary(s: &RecordSession) -> String {
    // Blocked threads by call name: (with no timeout, with one).
    let mut untimed: BTreeMap<String, usize> = BTreeMap::new();
    let mut timed: BTreeMap<String, usize> = BTreeMap::new();
    let (mut live, mut running) = (0, 0);
    for t in s.threads.values() {
        match t.state {
            State::Dead => continue,
            // Just back from a blocking call, not yet scheduled: stopped a moment later, it
            // was still in that call (a thread that sleeps in a loop is caught here now and
            // then); one whose call returned can only have waited with a timeout or been woken.
            State::InSyscall(p) | State::AtExit(p) => match tracee::syscalls::lookup(p.no) {
                Some(r) if r.may_block(&p.args) => {
                    let by = if r.waits_on_clock(&p.args) || matches!(t.state, State::AtExit(_)) {
                        &mut timed
                    } else {
                        &mut untimed
                    };
                    *by.entry(tracee::syscalls::name(p.no)).or_default() += 1;
                }
                _ => running += 1,
            },
            _ => running += 1,
        }
        live += 1;
    }
    let count = |m: &BTreeMap<String, usize>| m.values().sum::<usize>();
    let calls = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(name, n)| {
                if *n > 1 {
                    format!("{name} x{n}")
                } else {
                    name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let blocked = count(&untimed) + count(&timed);
    if live == 0 {
        return "no thread was left".into();
    }
    if running > 0 {
        let b = if blocked > 0 {
            format!(", {blocked} blocked")
        } else {
            String::new()
        };
        return format!(
            "{running} of {live} threads were running or ready to run{b}: slow under recording \
             rather than hung"
        );
    }
    if count(&timed) == 0 {
        return format!(
            "every thread ({live}) was blocked with no timeout ({}): a deadlock, unless another \
             process was to wake it",
            calls(&untimed)
        );
    }
    let mut parts = Vec::new();
    if count(&untimed) > 0 {
        parts.push(format!(
            "{} with no timeout ({})",
            count(&untimed),
            calls(&untimed)
        ));
    }
    parts.push(format!(
        "{} with a timeout ({})",
        count(&timed),
        calls(&timed)
    ));
    format!(
        "every thread ({live}) was blocked, {}: hung, waiting on each other or on something \
         that did not come",
        parts.join(" and ")
    )
}
