//! Where traces go by default: `target/record-test/NAME-N.trace`, with a `latest-trace` link.

use std::path::{Path, PathBuf};

/// The directory holding traces and their shared file store.
pub fn trace_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("record-test")
}

/// A fresh trace path for `program` under the trace root.
pub fn new_trace_path(program: &str) -> PathBuf {
    let root = trace_root();
    let base = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "program".into());
    let mut n = 0;
    loop {
        let p = root.join(format!("{base}-{n}.trace"));
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

/// Point `latest-trace` at `trace` (best effort).
pub fn set_latest(trace: &Path) {
    let root = trace_root();
    let link = root.join("latest-trace");
    let _ = std::fs::remove_file(&link);
    if let Some(name) = trace.file_name() {
        if trace.parent() == Some(root.as_path()) {
            let _ = std::os::unix::fs::symlink(name, &link);
        }
    }
}

/// The trace `replay` and `info` use when none is named.
pub fn latest() -> PathBuf {
    trace_root().join("latest-trace")
}
