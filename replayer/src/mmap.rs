//! Replaying a file-backed mmap: map the stored copy of the file at the recorded address.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tracee::{Regs, RemotePtr, Task};

use crate::error::{Error, Result};

/// At the seccomp stop of the recorded mmap (registers `regs`), open `stored` in the tracee, map it
/// at `addr` with the recorded length, protection and offset, and close it again. Returns the
/// mapping's address. The thread is left at a syscall-exit stop; the caller sets the final regs.
pub fn map_stored(task: &mut Task, regs: &Regs, stored: &Path, addr: u64) -> Result<i64> {
    let args = regs.args();
    let mut path = stored.as_os_str().as_bytes().to_vec();
    path.push(0);
    // Scratch space for the path: the top of the live stack, restored afterwards.
    let scratch = RemotePtr::<u8>::new(regs.sp());
    let mut saved = vec![0u8; path.len()];
    task.read_bytes(scratch, &mut saved)?;
    task.write_bytes(scratch, &path)?;
    let open_flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    let fd = task.syscall_instead(
        regs,
        libc::SYS_openat,
        [
            libc::AT_FDCWD as i64 as u64,
            scratch.addr(),
            open_flags,
            0,
            0,
            0,
        ],
    );
    task.write_bytes(scratch, &saved)?;
    let fd = fd?;
    if fd < 0 {
        return Err(Error::Unreplayable(format!(
            "cannot open the stored file {} in the program: errno {}",
            stored.display(),
            -fd
        )));
    }
    let flags = (args[3] as i32 & !(libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE))
        | libc::MAP_PRIVATE
        | libc::MAP_FIXED;
    let got = task.syscall_again(
        regs,
        libc::SYS_mmap,
        [addr, args[1], args[2], flags as u64, fd as u64, args[5]],
    )?;
    task.syscall_again(regs, libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0])?;
    Ok(got)
}
