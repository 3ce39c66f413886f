//! Special write rules of file and terminal syscalls.

use super::{read_iovecs, scatter, Call};
use crate::task::Task;

/// readv, preadv, preadv2: the result's bytes land in the iovecs of arg 1 in order.
pub fn readv(call: &Call, task: &mut Task) -> Vec<(u64, usize)> {
    if call.result <= 0 {
        return Vec::new();
    }
    let iov = read_iovecs(task, call.args[1], call.args[2]);
    scatter(&iov, call.result as u64)
}

const IOC_READ: u64 = 2;

/// ioctl: the known terminal requests, else what the request's _IOC encoding says it writes.
pub fn ioctl(call: &Call, _task: &mut Task) -> Vec<(u64, usize)> {
    if call.result < 0 {
        return Vec::new();
    }
    let req = call.args[1] & 0xffff_ffff;
    let ptr = call.args[2];
    let len = match req {
        0x5401 => 36,                           // TCGETS: struct termios (kernel layout)
        0x5413 => 8,                            // TIOCGWINSZ
        0x540f | 0x541b | 0x5429 | 0x5430 => 4, // TIOCGPGRP, FIONREAD, TIOCGSID, TIOCGPTN
        0x5421 | 0x5450 | 0x5451 => 0,          // FIONBIO, FIONCLEX, FIOCLEX
        0x5402..=0x540e | 0x5410..=0x5412 | 0x5414..=0x541a => 0, // set-style requests
        _ => {
            let dir = (req >> 30) & 3;
            let size = (req >> 16) & 0x3fff;
            if dir & IOC_READ != 0 {
                size
            } else {
                0
            }
        }
    };
    if len == 0 {
        Vec::new()
    } else {
        vec![(ptr, len as usize)]
    }
}

/// fcntl: the lock queries write a struct flock; F_GETOWN_EX writes struct f_owner_ex.
pub fn fcntl(call: &Call, _task: &mut Task) -> Vec<(u64, usize)> {
    if call.result < 0 {
        return Vec::new();
    }
    match call.args[1] as i32 {
        libc::F_GETLK | libc::F_OFD_GETLK => vec![(call.args[2], 32)],
        16 /* F_GETOWN_EX */ => vec![(call.args[2], 8)],
        _ => Vec::new(),
    }
}

/// select and pselect6: the three fd sets (sized by nfds) and the timeout.
pub fn select(call: &Call, _task: &mut Task) -> Vec<(u64, usize)> {
    let nfds = call.args[0].min(65536);
    let set_len = nfds.div_ceil(64) as usize * 8;
    let mut out = Vec::new();
    if set_len > 0 {
        for i in 1..=3 {
            out.push((call.args[i], set_len));
        }
    }
    // select writes the remaining time back; pselect6 does not, but recording it is harmless.
    out.push((call.args[4], 16));
    out
}
