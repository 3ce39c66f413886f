//! The gdbstub `Target`: the replay stepper and what gdb asked for, with the extensions this
//! server implements (one file each beside this one).

use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::{ext, Target};
use replayer::{Direction, ReplaySession, RunCommand};

use crate::arch::X86_64Linux;
use crate::error::Error;

/// A replay as gdb sees it.
pub struct ReplayTarget {
    pub(crate) session: ReplaySession,
    /// What gdb asked for last (`vCont`, `bc`, `bs`); run by the event loop.
    pub(crate) pending: Option<(RunCommand, Direction)>,
    /// Turns gdb's Ctrl-C into the stepper's interrupt while a command runs.
    pub(crate) watcher: Option<crate::event_loop::CtrlCWatcher>,
    /// Where libraries are shown under their own names (libraries.rs).
    pub(crate) library_names: crate::libraries::Names,
}

impl ReplayTarget {
    pub fn new(session: ReplaySession) -> ReplayTarget {
        ReplayTarget {
            session,
            pending: None,
            watcher: None,
            library_names: crate::libraries::Names::new(),
        }
    }

    pub fn into_session(self) -> ReplaySession {
        self.session
    }

    /// Say (on the server's stderr, which a launched gdb shares) that gdb changed the program.
    pub(crate) fn warn_divergence(&self, what: &str) {
        eprintln!(
            "warning: gdb {what} at event {}; the replay may diverge from the trace from here on",
            self.session.when()
        );
    }
}

impl Target for ReplayTarget {
    type Arch = X86_64Linux;
    type Error = Error;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<ext::breakpoints::BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<ext::monitor_cmd::MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn support_exec_file(&mut self) -> Option<ext::exec_file::ExecFileOps<'_, Self>> {
        Some(self)
    }

    fn support_auxv(&mut self) -> Option<ext::auxv::AuxvOps<'_, Self>> {
        Some(self)
    }

    fn support_libraries_svr4(&mut self) -> Option<ext::libraries::LibrariesSvr4Ops<'_, Self>> {
        Some(self)
    }
}
