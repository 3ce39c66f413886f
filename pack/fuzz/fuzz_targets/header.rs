//! Arbitrary bytes as the `header` file of a trace: never a panic.
//!
//! cargo +nightly fuzz run header   (from pack/)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pack::decode_header(data);
});
