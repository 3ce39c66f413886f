//! Special write rules of socket syscalls.

use super::{read_iovecs, scatter, Call};
use crate::remote_ptr::RemotePtr;
use crate::task::Task;

/// struct msghdr is 56 bytes: name, namelen, iov, iovlen, control, controllen, flags.
const MSGHDR: u64 = 56;

fn msghdr_regions(task: &mut Task, hdr: u64, received: u64) -> Vec<(u64, usize)> {
    let raw = task.read_prefix(RemotePtr::new(hdr), MSGHDR as usize);
    if raw.len() < MSGHDR as usize {
        return Vec::new();
    }
    let word = |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().expect("8 bytes"));
    let name = word(0);
    let namelen = u32::from_le_bytes(raw[8..12].try_into().expect("4 bytes")) as usize;
    let iov = read_iovecs(task, word(16), word(24));
    let control = word(32);
    let controllen = word(40) as usize;
    let mut out = vec![(hdr, MSGHDR as usize)];
    if name != 0 && namelen > 0 {
        out.push((name, namelen.min(128)));
    }
    if control != 0 && controllen > 0 {
        out.push((control, controllen.min(1 << 16)));
    }
    out.extend(scatter(&iov, received));
    out
}

/// recvmsg: the msghdr's updated fields, the source address, the data and the control data.
pub fn recvmsg(call: &Call, task: &mut Task) -> Vec<(u64, usize)> {
    if call.result < 0 {
        return Vec::new();
    }
    msghdr_regions(task, call.args[1], call.result as u64)
}

/// recvmmsg: each received struct mmsghdr (msghdr + u32 length, 64 bytes) and its buffers.
pub fn recvmmsg(call: &Call, task: &mut Task) -> Vec<(u64, usize)> {
    if call.result <= 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for i in 0..(call.result as u64).min(1024) {
        let entry = call.args[1] + i * 64;
        let len = task.read_u32(RemotePtr::new(entry + MSGHDR)).unwrap_or(0);
        out.extend(msghdr_regions(task, entry, len as u64));
        out.push((entry + MSGHDR, 4));
    }
    out
}

/// sendmmsg: the kernel writes each sent message's length.
pub fn sendmmsg(call: &Call, _task: &mut Task) -> Vec<(u64, usize)> {
    if call.result <= 0 {
        return Vec::new();
    }
    (0..(call.result as u64).min(1024))
        .map(|i| (call.args[1] + i * 64 + MSGHDR, 4))
        .collect()
}
