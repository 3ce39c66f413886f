//! Replaying a file-backed mmap: map the stored copy of the file at the recorded address.
//! Each stored file is opened once in the program (an fd replay keeps; every fd-allocating
//! syscall of the program is emulated, so the program never sees it) and reused.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tracee::{Regs, RemotePtr, Task};

use crate::error::{Error, Result};

/// The stored files opened in the program, by path.
#[derive(Clone, Default)]
pub struct OpenFiles(HashMap<PathBuf, u64>);

/// At the seccomp stop of the recorded mmap (registers `regs`), map `stored` at `addr` with the
/// recorded length, protection and offset (privately: the store must not change). Returns the
/// mapping's address; the thread is left at a syscall-exit stop and the caller sets the result.
pub fn map_stored(
    task: &mut Task,
    regs: &Regs,
    stored: &Path,
    addr: u64,
    open: &mut OpenFiles,
) -> Result<i64> {
    let args = regs.args();
    let flags = (args[3] as i32 & !(libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE))
        | libc::MAP_PRIVATE
        | libc::MAP_FIXED;
    let mmap_args = |fd: u64| [addr, args[1], args[2], flags as u64, fd, args[5]];
    if let Some(&fd) = open.0.get(stored) {
        return Ok(task.syscall_instead(regs, libc::SYS_mmap, mmap_args(fd))?);
    }
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
    open.0.insert(stored.to_path_buf(), fd as u64);
    Ok(task.syscall_again(regs, libc::SYS_mmap, mmap_args(fd as u64))?)
}
