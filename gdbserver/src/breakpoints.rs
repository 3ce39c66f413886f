//! Breakpoints (`Z0`/`Z1`): the stepper's, so gdb never writes an int3 into the program (and
//! never reads one: the stepper hides its patches).

use gdbstub::target::ext::breakpoints::{
    Breakpoints, HwBreakpoint, HwBreakpointOps, HwWatchpointOps, SwBreakpoint, SwBreakpointOps,
};
use gdbstub::target::TargetResult;

use crate::target::ReplayTarget;

impl Breakpoints for ReplayTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl ReplayTarget {
    fn set_breakpoint(&mut self, addr: u64, on: bool) -> TargetResult<bool, Self> {
        let r = if on {
            self.session.add_breakpoint(addr)
        } else {
            self.session.remove_breakpoint(addr)
        };
        match r {
            Ok(()) => Ok(true),
            Err(e) => {
                eprintln!("warning: breakpoint at {addr:#x}: {e}");
                Ok(false)
            }
        }
    }
}

impl SwBreakpoint for ReplayTarget {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.set_breakpoint(addr, true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.set_breakpoint(addr, false)
    }
}

/// `hbreak` is served like `break`: the stepper picks how to stop there.
impl HwBreakpoint for ReplayTarget {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.set_breakpoint(addr, true)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.set_breakpoint(addr, false)
    }
}
