//! `qXfer:exec-file:read`: the trace's stored copy of the executable, so gdb loads the very
//! binary that was recorded (a rebuilt or moved one would not match).

use std::os::unix::ffi::OsStrExt;

use gdbstub::common::Pid;
use gdbstub::target::ext::exec_file::ExecFile;
use gdbstub::target::TargetResult;

use crate::target::ReplayTarget;

/// Copy the part of `data` from `offset` on into `buf` (the qXfer convention).
pub(crate) fn copy_part(data: &[u8], offset: u64, length: usize, buf: &mut [u8]) -> usize {
    let start = (offset as usize).min(data.len());
    let n = (data.len() - start).min(length).min(buf.len());
    buf[..n].copy_from_slice(&data[start..start + n]);
    n
}

impl ExecFile for ReplayTarget {
    fn get_exec_file(
        &self,
        _pid: Option<Pid>,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let exe = self.session.executable();
        Ok(copy_part(exe.as_os_str().as_bytes(), offset, length, buf))
    }
}
