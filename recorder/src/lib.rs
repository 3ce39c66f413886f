//! Recording: `RecordSession` runs a program under ptrace and writes every input it observes
//! (syscall results, memory the kernel wrote, rdtsc values, signals) into a trace.

mod affinity;
mod chaos;
mod chaos_points;
mod children;
mod error;
mod external;
mod hang;
mod latency;
mod output;
mod preempt;
mod session;
mod settle;
mod shared;
mod signal;
mod spin;
mod spin_watch;
mod syscall;
mod thread;

pub use chaos::ChaosOptions;
pub use error::{Error, Result};
pub use session::{RecordOptions, RecordOutcome, RecordSession, Step};
