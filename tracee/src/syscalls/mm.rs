//! Special write rules of memory syscalls.

use super::Call;
use crate::task::Task;

/// mincore: one byte per page of the range.
pub fn mincore(call: &Call, _task: &mut Task) -> Vec<(u64, usize)> {
    if call.result < 0 {
        return Vec::new();
    }
    let pages = call.args[1].div_ceil(4096).min(1 << 24);
    vec![(call.args[2], pages as usize)]
}
