//! Errors of the process layer.

use std::io;

/// What can go wrong while driving a tracee.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run {program}: {reason}")]
    Spawn { program: String, reason: String },
    #[error("ptrace {op} on thread {tid} failed: {source}")]
    Ptrace {
        op: &'static str,
        tid: i32,
        #[source]
        source: nix::Error,
    },
    #[error("waiting for the tracee failed: {0}")]
    Wait(#[source] nix::Error),
    #[error("cannot access memory of thread {tid} at {addr:#x} ({len} bytes): {source}")]
    Memory {
        tid: i32,
        addr: u64,
        len: usize,
        #[source]
        source: io::Error,
    },
    #[error("cannot read /proc for thread {tid}: {source}")]
    Proc {
        tid: i32,
        #[source]
        source: io::Error,
    },
    #[error("unexpected process state: {0}")]
    Protocol(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
