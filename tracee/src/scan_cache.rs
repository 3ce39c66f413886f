//! What decoding a mapped file found (its spin hints, its chaos points), kept on disk by the
//! file's identity, so that a sweep that records one test binary hundreds of times decodes it
//! once. Decoding a 8 MB test binary and libc takes 7-8 ms for each of the two scans, against a
//! test that runs 2 ms natively.
//!
//! An entry is named by what was scanned, the file's (device, inode, size, mtime) and the
//! running tool's own identity (a rebuilt tool may decode differently, and record and replay must
//! find the same points): `DIR/scan/KIND-TOOL-FILE`, little-endian u64s. The directory is
//! `$CRT_CACHE_DIR`, else `$XDG_CACHE_HOME/cargo-record-test`, else
//! `~/.cache/cargo-record-test`; `CRT_CACHE_DIR=` (empty) turns the cache off. A missing,
//! unreadable or unwritable cache only costs the scan.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The cache directory (`None`: off), resolved once.
fn dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = match std::env::var_os("CRT_CACHE_DIR") {
            Some(d) if d.is_empty() => return None,
            Some(d) => PathBuf::from(d),
            None => match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
                Some(d) => PathBuf::from(d).join("cargo-record-test"),
                None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/cargo-record-test"),
            },
        };
        Some(base.join("scan"))
    })
    .as_deref()
}

/// A file's identity without reading it.
fn identity(m: &std::fs::Metadata) -> String {
    format!(
        "{:x}-{:x}-{:x}-{}-{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec()
    )
}

/// The running tool's identity (its executable's).
fn tool() -> Option<&'static str> {
    static TOOL: OnceLock<Option<String>> = OnceLock::new();
    TOOL.get_or_init(|| {
        let exe = std::env::current_exe().ok()?;
        Some(identity(&std::fs::metadata(exe).ok()?))
    })
    .as_deref()
}

fn entry(kind: &str, file: &Path) -> Option<PathBuf> {
    let m = std::fs::metadata(file).ok()?;
    Some(dir()?.join(format!("{kind}-{}-{}", tool()?, identity(&m))))
}

fn read(path: &Path) -> Option<Vec<u64>> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() % 8 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    )
}

fn write(path: &Path, values: &[u64]) {
    let Some(parent) = path.parent() else { return };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    // Concurrent recorders: each writes its own temporary file and renames it into place.
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
    ));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// `scan(file)`'s result for `file`, from the cache when it holds one for this file and tool,
/// else scanned and kept. `kind` names the scan (and its layout of values).
pub fn cached(kind: &str, file: &Path, scan: impl FnOnce() -> Vec<u64>) -> Vec<u64> {
    let Some(path) = entry(kind, file) else {
        return scan();
    };
    if let Some(v) = read(&path) {
        return v;
    }
    let v = scan();
    write(&path, &v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_the_round_trip_and_garbage_is_no_entry() {
        let d = std::env::temp_dir().join(format!("crt-scan-cache-{}", std::process::id()));
        let p = d.join("x");
        write(&p, &[1, u64::MAX, 0x1234]);
        assert_eq!(read(&p), Some(vec![1, u64::MAX, 0x1234]));
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read(&p), None);
        let _ = std::fs::remove_dir_all(&d);
    }
}
