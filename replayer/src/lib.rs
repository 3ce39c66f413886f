//! Replay: `ReplaySession` re-executes a recorded program, feeding it the recorded inputs, and
//! checks at every event that it does what the trace says.

mod cpuid;
mod error;
mod mmap;
mod program;
mod session;
mod thread;

pub use cpuid::uses_cpuid_faulting;
pub use error::{Error, Result};
pub use session::{cpu_differences, ReplayOptions, ReplayOutcome, ReplaySession, Step};
