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

/// The target directory a test binary was built into: the nearest ancestor holding cargo's
/// `CACHEDIR.TAG`, else `CARGO_TARGET_DIR`, else `target`.
pub fn target_dir_of(program: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let abs = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    abs.ancestors()
        .skip(1)
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Turn a test name or binary id into one file-name component.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect()
}

/// `record --nextest`: the trace named after the test nextest runs, from `NEXTEST_BINARY_ID`,
/// `NEXTEST_TEST_NAME`, `NEXTEST_STRESS_CURRENT` and `NEXTEST_ATTEMPT`, under
/// `TARGET/record-test/nextest/`.
pub fn nextest_trace_path(program: &Path) -> Result<PathBuf, String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let test = var("NEXTEST_TEST_NAME")
        .ok_or("--nextest needs NEXTEST_TEST_NAME: run it as a nextest wrapper script")?;
    let mut name = String::new();
    if let Some(bin) = var("NEXTEST_BINARY_ID") {
        name.push_str(&sanitize(&bin));
        name.push('-');
    }
    name.push_str(&sanitize(&test));
    if let Some(s) = var("NEXTEST_STRESS_CURRENT") {
        name.push_str(&format!("-stress{}", sanitize(&s)));
    }
    name.push_str(&format!(
        "-try{}",
        sanitize(&var("NEXTEST_ATTEMPT").unwrap_or_else(|| "1".into()))
    ));
    let dir = target_dir_of(program).join("record-test").join("nextest");
    let mut p = dir.join(format!("{name}.trace"));
    let mut n = 1;
    while p.exists() {
        p = dir.join(format!("{name}.{n}.trace"));
        n += 1;
    }
    Ok(p)
}
