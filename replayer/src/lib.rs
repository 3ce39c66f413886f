//! Replay: `ReplaySession` re-executes a recorded program, feeding it the recorded inputs, and
//! checks at every event that it does what the trace says. It advances as a stepper
//! (`resume`), forwards and back, for a debugger.

mod checkpoint;
mod cpuid;
mod error;
mod events;
mod mmap;
mod positions;
mod program;
mod reverse;
mod run;
mod session;
mod stepper;
mod syscalls;
mod thread;

pub use cpuid::uses_cpuid_faulting;
pub use error::{Error, Result};
pub use session::{cpu_differences, ReplayOptions, ReplayOutcome, ReplaySession};
pub use stepper::{Direction, RecordedTid, RunCommand, StopReason, WatchKind};
