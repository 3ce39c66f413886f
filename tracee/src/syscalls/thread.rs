//! Special write rules of process and thread syscalls.

use super::Call;
use crate::task::Task;

/// prctl: the options that write through their pointer argument.
pub fn prctl(call: &Call, _task: &mut Task) -> Vec<(u64, usize)> {
    if call.result < 0 {
        return Vec::new();
    }
    match call.args[0] as i32 {
        libc::PR_GET_NAME => vec![(call.args[1], 16)],
        libc::PR_GET_PDEATHSIG
        | libc::PR_GET_TSC
        | libc::PR_GET_ENDIAN
        | libc::PR_GET_FPEMU
        | libc::PR_GET_FPEXC
        | libc::PR_GET_UNALIGN => vec![(call.args[1], 4)],
        libc::PR_GET_TID_ADDRESS => vec![(call.args[1], 8)],
        libc::PR_GET_CHILD_SUBREAPER => vec![(call.args[1], 4)],
        _ => Vec::new(),
    }
}

/// capget: the header's version field and up to two data structs.
pub fn capget(call: &Call, _task: &mut Task) -> Vec<(u64, usize)> {
    vec![(call.args[0], 8), (call.args[1], 24)]
}

/// The clone flags a clone, clone3, fork or vfork call asks for (fork and vfork take no
/// arguments: their registers hold whatever the caller left there).
pub fn clone_flags(no: i64, args: &[u64; 6], task: &mut Task) -> u64 {
    match no {
        libc::SYS_clone => args[0],
        libc::SYS_clone3 => task.read_u64(crate::RemotePtr::new(args[0])).unwrap_or(0),
        libc::SYS_vfork => (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64,
        _ => libc::SIGCHLD as u64,
    }
}
