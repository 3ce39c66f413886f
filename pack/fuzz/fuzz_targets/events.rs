//! Arbitrary bytes as the `events` and `data` streams of a trace: never a panic.
//!
//! Input layout: byte 0 holds flags (bit 0: header says complete; bit 1: streams are brotli,
//! else raw Cap'n Proto messages so the fuzzer reaches the message decoding), bytes 1-2 the
//! length of the events stream (LE), then the events stream, then the data stream.
//!
//! cargo +nightly fuzz run events   (from pack/)
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use std::path::Path;

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let flags = input[0];
    let split = u16::from_le_bytes([input[1], input[2]]) as usize;
    let rest = &input[3..];
    let (events, data) = rest.split_at(split.min(rest.len()));
    let header = pack::Header {
        format_version: pack::FORMAT_VERSION,
        complete: flags & 1 != 0,
        ..Default::default()
    };
    let mut r = pack::TraceReader::from_streams(
        Path::new("/nonexistent/fuzz.trace"),
        header,
        Box::new(Cursor::new(events.to_vec())),
        Box::new(Cursor::new(data.to_vec())),
        flags & 2 != 0,
    );
    while let Ok(Some(ev)) = r.next_event() {
        if let pack::EventKind::Syscall(pack::SyscallEvent { file: Some(f), .. }) = &ev.kind {
            let _ = r.file_path(f);
        }
    }
});
