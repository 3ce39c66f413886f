//! Reverse execution: `bc` and `bs` are the stepper's continue and step backwards. The start
//! of the trace is reported as the replay log's beginning ("No more reverse-execution history").

use gdbstub::common::Tid;
use gdbstub::target::ext::base::reverse_exec::{ReverseCont, ReverseStep};
use replayer::{Direction, RunCommand};

use crate::error::Error;
use crate::target::ReplayTarget;

impl ReverseCont<Tid> for ReplayTarget {
    fn reverse_cont(&mut self) -> Result<(), Error> {
        self.pending = Some((RunCommand::Continue, Direction::Reverse));
        Ok(())
    }
}

impl ReverseStep<Tid> for ReplayTarget {
    fn reverse_step(&mut self, tid: Tid) -> Result<(), Error> {
        let t = self.living(tid);
        self.pending = Some((RunCommand::Step(t), Direction::Reverse));
        Ok(())
    }
}
