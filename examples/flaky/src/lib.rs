//! Deliberately flaky tests for `cargo-record-test record --chaos`.
//!
//! The tests live in `tests/flaky.rs`, an integration test target with `test = false`, so
//! `cargo test --workspace` never builds or runs them: they fail on purpose. Build them with
//! `cargo test -p flaky --test flaky --no-run` and run one under the tool (see README.md).
//!
//! This library only holds small helpers the tests share.
#![forbid(unsafe_code)]

use std::hint::black_box;

/// Busy work the optimiser cannot remove: roughly `n` iterations of a cheap loop
/// (about a nanosecond each natively). Makes no system calls and touches no shared state,
/// so it only moves a thread's next racy step later in time.
pub fn spin_work(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..black_box(n) {
        acc = black_box(acc.wrapping_mul(31).wrapping_add(i));
    }
    acc
}
