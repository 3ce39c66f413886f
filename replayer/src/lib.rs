//! Replay: `ReplaySession` re-executes a recorded program, feeding it the recorded inputs, and
//! checks at every event that it does what the trace says.

mod error;
mod mmap;
mod program;
mod session;
mod thread;

pub use error::{Error, Result};
pub use session::{cpu_differences, ReplayOptions, ReplayOutcome, ReplaySession, Step};
