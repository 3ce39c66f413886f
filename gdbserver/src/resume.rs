//! Forward resumption (`vCont`): a step of one thread, or a continue. The command is kept here
//! and run by the event loop. A signal gdb passes back is dropped: the replay delivers the
//! recorded signals itself.

use gdbstub::common::{Signal, Tid};
use gdbstub::target::ext::base::multithread::{
    MultiThreadResume, MultiThreadSchedulerLocking, MultiThreadSchedulerLockingOps,
    MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::reverse_exec::{ReverseContOps, ReverseStepOps};
use replayer::{Direction, RunCommand};

use crate::error::Error;
use crate::target::ReplayTarget;

impl MultiThreadResume for ReplayTarget {
    fn resume(&mut self) -> Result<(), Error> {
        // A step action set the command already; otherwise every thread continues.
        if self.pending.is_none() {
            self.pending = Some((RunCommand::Continue, Direction::Forward));
        }
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Error> {
        self.pending = None;
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        _tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Error> {
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }

    fn support_reverse_cont(&mut self) -> Option<ReverseContOps<'_, Tid, Self>> {
        Some(self)
    }

    fn support_reverse_step(&mut self) -> Option<ReverseStepOps<'_, Tid, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for ReplayTarget {
    fn set_resume_action_step(&mut self, tid: Tid, _signal: Option<Signal>) -> Result<(), Error> {
        let t = self.living(tid);
        self.pending = Some((RunCommand::Step(t), Direction::Forward));
        Ok(())
    }
}

/// gdb resumed only some threads (`vCont;c:TID` with no action for the others, as when it
/// continues a single thread). A replay cannot hold threads back: the trace decides which runs,
/// so the command runs as a plain continue or step.
impl MultiThreadSchedulerLocking for ReplayTarget {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Error> {
        Ok(())
    }
}
