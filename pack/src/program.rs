//! `program`: the executable the recording ran, kept in the store (the kernel maps it at exec, so
//! no mmap event carries it). A small text file beside the streams, `executable HASH LEN`, so a
//! packed trace, or one whose program was rebuilt or deleted, still replays the recorded bytes.

use std::path::Path;

use crate::codec::valid_hash;
use crate::model::FileRef;

/// The file name inside a trace directory.
pub const PROGRAM_FILE: &str = "program";

pub(crate) fn encode(exe: &FileRef) -> String {
    format!("executable {} {}\n", exe.hash, exe.len)
}

/// The stored executable of the trace in `trace_dir`; `None` for traces made before it was kept
/// (or whose file is missing or malformed).
pub fn read_program(trace_dir: &Path) -> Option<FileRef> {
    let text = std::fs::read_to_string(trace_dir.join(PROGRAM_FILE)).ok()?;
    parse(&text)
}

pub(crate) fn parse(text: &str) -> Option<FileRef> {
    text.lines().take(16).find_map(|l| {
        let mut it = l.split(' ');
        if it.next()? != "executable" {
            return None;
        }
        let hash = it.next()?;
        let len = it.next()?.trim().parse().ok()?;
        valid_hash(hash).then(|| FileRef {
            hash: hash.to_owned(),
            len,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let f = FileRef {
            hash: "ab".repeat(32),
            len: 12,
        };
        assert_eq!(parse(&encode(&f)), Some(f));
        assert_eq!(parse("executable zz 12\n"), None);
        assert_eq!(parse("executable\n"), None);
        assert_eq!(parse(""), None);
    }
}
