//! The trace format of cargo-record-test (DESIGN.md section 7).
//!
//! A trace is a directory `NAME.trace/` holding `header`, `events` and `data`; mapped files live in a
//! content-addressed store `files/` beside the trace directory. This crate knows nothing of ptrace.
//!
//! * [`TraceWriter`] writes a trace while recording; [`TraceReader`] streams it back.
//! * [`summarize`] computes what `cargo record-test info` shows.
//! * Memory write bytes never sit in event messages: the writer appends them, in order, to the
//!   `data` stream and the reader puts them back, so users only see the model's values.
//! * The writer encodes on the caller's thread into a staging buffer and compresses (brotli) on
//!   a background thread; call [`TraceWriter::flush`] periodically so a killed recorder leaves
//!   a readable prefix. A header with `complete == false` marks such a trace, and its reader
//!   ends quietly after the last whole event.
//! * The store `files/` holds `<blake3 hex>` files (hard links or read-only copies) and a
//!   `.index/` of (device, inode, size, mtime) -> hash, so a file is hashed once.
//! * [`pack`] makes one self-contained file of a trace and the stored files it needs (the
//!   executable included, kept at record time by [`TraceWriter::store_program`]); [`unpack`]
//!   turns it back into a directory after checking its checksum.
//! * The on-disk layout is described in `schema/trace.capnp`; the Rust code generated from it is
//!   committed under `src/generated/` (regenerate with `schema/regen.sh`).

#![forbid(unsafe_code)]

mod codec;
mod error;
mod model;
mod packed;
mod program;
mod reader;
mod stats;
mod store;
mod summary;
mod writer;

#[allow(clippy::all, clippy::pedantic, unused, missing_docs, unreachable_pub)]
#[rustfmt::skip]
#[path = "generated/trace_capnp.rs"]
mod trace_capnp;

pub use error::{Error, Result};
pub use model::*;
pub use packed::{
    is_packed, pack, read_packed_header, unpack, PackReport, PackedEntry, PackedHeader,
    PACK_EXTENSION, PACK_MAGIC, PACK_VERSION,
};
pub use program::{read_program, PROGRAM_FILE};
pub use reader::TraceReader;
pub use stats::{read_stats, update_stats, write_stats, STATS_FILE};
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
