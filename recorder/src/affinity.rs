//! The program runs pinned to the recording's CPU but must see the CPU mask it would have had:
//! the one we were started with, or the one it set itself (its sched_setaffinity calls are
//! recorded as succeeding but do not move it).

use tracee::RemotePtr;

use crate::error::Result;
use crate::session::RecordSession;

/// The thread an affinity call's pid argument names, if it is one of the program's own.
pub(crate) fn target(s: &RecordSession, tid: i32, pid: u64) -> Option<i32> {
    let pid = pid as i64 as i32;
    if pid == 0 {
        Some(tid)
    } else if s.threads.contains_key(&pid) {
        Some(pid)
    } else {
        None
    }
}

/// At the entry of sched_setaffinity(pid, len, mask) of one of the program's threads: remember
/// the mask it asked for.
pub(crate) fn remember(s: &mut RecordSession, tid: i32, args: &[u64; 6]) {
    let Some(t) = target(s, tid, args[0]) else {
        return;
    };
    let len = (args[1] as usize).min(1024);
    let mask = s.task(tid).read_prefix(RemotePtr::new(args[2]), len);
    s.virtual_masks.insert(t, mask);
}

/// After sched_getaffinity(pid, len, buf) returned `len` bytes: replace the pinned mask the
/// kernel wrote by the one the program would see.
pub(crate) fn report(s: &mut RecordSession, tid: i32, args: &[u64; 6], len: usize) -> Result<()> {
    let Some(t) = target(s, tid, args[0]) else {
        return Ok(());
    };
    let chaos_cpus = s.chaos.as_ref().and_then(|c| c.cpus);
    let mut bytes = match (s.virtual_masks.get(&t), chaos_cpus) {
        (Some(m), _) => m.clone(),
        // Chaos shows the program another CPU count (recorded like any answer).
        (None, Some(n)) => {
            let mut b = vec![0u8; len];
            for cpu in 0..n.min(len * 8) {
                b[cpu / 8] |= 1 << (cpu % 8);
            }
            b
        }
        (None, None) => s.mask.bytes(len),
    };
    bytes.resize(len, 0);
    s.task(tid).write_bytes(RemotePtr::new(args[2]), &bytes)?;
    Ok(())
}
