//! The trace format of cargo-record-test (DESIGN.md section 7).
//!
//! A trace is a directory `NAME.trace/` holding `header`, `events` and `data`; mapped files live in a
//! content-addressed store `files/` beside the trace directory. This crate knows nothing of ptrace.
//!
//! * [`TraceWriter`] writes a trace while recording; [`TraceReader`] streams it back.
//! * [`summarize`] computes what `cargo record-test info` shows.
//! * The on-disk layout is described in `schema/trace.capnp`; the Rust code generated from it is
//!   committed under `src/generated/` (regenerate with `schema/regen.sh`).

#![forbid(unsafe_code)]

mod codec;
mod error;
mod model;
mod reader;
mod store;
mod summary;
mod writer;

#[allow(clippy::all, clippy::pedantic, unused, missing_docs, unreachable_pub)]
#[rustfmt::skip]
#[path = "generated/trace_capnp.rs"]
mod trace_capnp;

pub use error::{Error, Result};
pub use model::*;
pub use reader::TraceReader;
pub use store::store_dir_for;
pub use summary::{
    human_bytes, summarize, CpuInfo, KindCounts, Summary, SummaryDisplay, SyscallCount,
    ThreadSummary,
};
pub use writer::TraceWriter;

/// Parse the contents of a header file (what [`TraceReader::open`] does with `NAME.trace/header`).
pub fn decode_header(bytes: &[u8]) -> Result<Header> {
    reader::parse_header(bytes)
}

/// File names inside a trace directory.
pub const HEADER_FILE: &str = "header";
pub const EVENTS_FILE: &str = "events";
pub const DATA_FILE: &str = "data";
