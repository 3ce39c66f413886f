//! The trace format of cargo-record-test (DESIGN.md section 7).
//!
//! A trace is a directory `NAME.trace/` holding `header`, `events` and `data`; mapped files live in a
//! content-addressed store `files/` beside the trace directory. This crate knows nothing of ptrace.

mod model;

pub use model::*;
