//! Which executable replay runs: the copy the recorder kept in the store (`pack::read_program`),
//! so a rebuilt, moved or deleted program, or a packed trace on another machine, replays the
//! recorded bytes. The kernel copies the exec'd path onto the new stack, and the recorded stack
//! must sit where it sat, so the stored file is run through a symlink whose path has exactly the
//! recorded path's length (`/tmp/` plus a unique name); the link is removed once exec is done.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pack::TraceReader;

/// A symlink to the stored executable, removed on drop.
pub(crate) struct ExecLink(PathBuf);

impl Drop for ExecLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The path to exec for the trace `reader` reads, and the link to drop after the exec.
/// Falls back to the recorded path when the trace has no stored executable (older traces), the
/// stored copy is not executable, or no link of the right length can be made.
pub(crate) fn to_run(reader: &TraceReader) -> (PathBuf, Option<ExecLink>) {
    let recorded = PathBuf::from(OsString::from_vec(reader.header().program.clone()));
    let stored = pack::read_program(reader.dir())
        .and_then(|f| reader.file_path(&f).ok())
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 == 0o111));
    let Some(stored) = stored.and_then(|p| std::path::absolute(p).ok()) else {
        return (recorded, None);
    };
    match link_of_length(&stored, recorded.as_os_str().len()) {
        Some(link) => (link.0.clone(), Some(link)),
        None => (recorded, None),
    }
}

/// The executable to show a debugger: the stored copy, else the recorded path.
pub(crate) fn executable(reader: &TraceReader) -> PathBuf {
    pack::read_program(reader.dir())
        .and_then(|f| reader.file_path(&f).ok())
        .and_then(|p| std::path::absolute(p).ok())
        .unwrap_or_else(|| PathBuf::from(OsString::from_vec(reader.header().program.clone())))
}

/// A new symlink to `target` at a path of exactly `len` bytes under /tmp.
fn link_of_length(target: &Path, len: usize) -> Option<ExecLink> {
    const DIR: &str = "/tmp/";
    let name_len = len.checked_sub(DIR.len()).filter(|&n| n >= 1)?;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ (u64::from(std::process::id()) << 20);
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // Short names collide more often; a few thousand tries cover even two-letter names.
    for _ in 0..4096 {
        let mut name = String::with_capacity(name_len);
        name.push_str(&".crt-exe-"[..name_len.saturating_sub(8).min(9)]);
        while name.len() < name_len {
            // xorshift: only uniqueness matters here.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            name.push(CHARS[(seed % CHARS.len() as u64) as usize] as char);
        }
        let path = PathBuf::from(format!("{DIR}{name}"));
        match std::os::unix::fs::symlink(target, &path) {
            Ok(()) => return Some(ExecLink(path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_have_the_asked_length_and_go_away() {
        for len in [7, 14, 40, 200] {
            let link = link_of_length(Path::new("/bin/true"), len).expect("a link");
            assert_eq!(link.0.as_os_str().len(), len);
            assert_eq!(
                std::fs::read_link(&link.0).unwrap(),
                PathBuf::from("/bin/true")
            );
            let p = link.0.clone();
            drop(link);
            assert!(std::fs::symlink_metadata(p).is_err());
        }
        assert!(link_of_length(Path::new("/bin/true"), 5).is_none());
    }
}
