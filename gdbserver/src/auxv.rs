//! `qXfer:auxv:read`: the auxiliary vector as the program saw it (the replayed process's, with
//! the vDSO entry hidden the way replay hides it from the program).

use gdbstub::target::ext::auxv::Auxv;
use gdbstub::target::{TargetError, TargetResult};

use crate::exec_file::copy_part;
use crate::target::ReplayTarget;

const AT_IGNORE: u64 = 1;
const AT_SYSINFO_EHDR: u64 = 33;

/// `raw` (pairs of native words) with AT_SYSINFO_EHDR made AT_IGNORE.
pub(crate) fn as_the_program_sees_it(mut raw: Vec<u8>) -> Vec<u8> {
    for pair in raw.chunks_exact_mut(16) {
        let key = u64::from_le_bytes(pair[..8].try_into().unwrap_or_default());
        if key == AT_SYSINFO_EHDR {
            pair[..8].copy_from_slice(&AT_IGNORE.to_le_bytes());
        }
    }
    raw
}

/// The auxv of the replayed process.
pub(crate) fn read(pid: i32) -> std::io::Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/auxv")).map(as_the_program_sees_it)
}

impl Auxv for ReplayTarget {
    fn get_auxv(&self, offset: u64, length: usize, buf: &mut [u8]) -> TargetResult<usize, Self> {
        let data = read(self.session.real_pid()).map_err(|_| TargetError::NonFatal)?;
        Ok(copy_part(&data, offset, length, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vdso_entry_is_hidden_and_nothing_else_changes() {
        let words: [u64; 6] = [6, 4096, AT_SYSINFO_EHDR, 0x7fff_f7fc_1000, 0, 0];
        let raw: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let out = as_the_program_sees_it(raw.clone());
        assert_eq!(out[..16], raw[..16]);
        assert_eq!(out[16..24], AT_IGNORE.to_le_bytes());
        assert_eq!(out[24..], raw[24..]);
    }
}
