//! Hardware watchpoints (`Z2`-`Z4`) on the stepper's debug registers. A refused one (all four
//! taken, bad length or alignment) answers "not supported" so gdb says it cannot insert it.

use gdbstub::target::ext::breakpoints::{HwWatchpoint, WatchKind as GdbWatchKind};
use gdbstub::target::TargetResult;
use replayer::WatchKind;

use crate::target::ReplayTarget;

pub(crate) fn to_stepper(k: GdbWatchKind) -> WatchKind {
    match k {
        GdbWatchKind::Write => WatchKind::Write,
        GdbWatchKind::Read => WatchKind::Read,
        GdbWatchKind::ReadWrite => WatchKind::Access,
    }
}

pub(crate) fn to_gdb(k: WatchKind) -> GdbWatchKind {
    match k {
        WatchKind::Write => GdbWatchKind::Write,
        WatchKind::Read => GdbWatchKind::Read,
        WatchKind::Access => GdbWatchKind::ReadWrite,
    }
}

impl HwWatchpoint for ReplayTarget {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: GdbWatchKind,
    ) -> TargetResult<bool, Self> {
        match self.session.add_watchpoint(addr, len, to_stepper(kind)) {
            Ok(()) => Ok(true),
            Err(e) => {
                eprintln!("warning: watchpoint at {addr:#x} ({len} bytes): {e}");
                Ok(false)
            }
        }
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: GdbWatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self
            .session
            .remove_watchpoint(addr, len, to_stepper(kind))
            .is_ok())
    }
}
