//! The content-addressed file store shared by the traces of one directory: `files/<blake3 hex>`
//! beside the trace directories, with `files/.index/` remembering which (device, inode, size,
//! mtime) hashed to what, so that a file is hashed once across recordings.
//!
//! Concurrent recorders are safe: every file is written under a unique temporary name and
//! renamed into place; two recorders storing the same content both end with the same file.

use crate::codec::valid_hash;
use crate::error::{Error, IoContext, Result};
use crate::model::FileRef;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const INDEX_DIR: &str = ".index";

/// The store used by the trace directory `trace_dir`: `files/` in the directory that holds it.
pub fn store_dir_for(trace_dir: &Path) -> PathBuf {
    match trace_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join("files"),
        _ => PathBuf::from("files"),
    }
}

/// What identifies a file's content without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileKey {
    fn of(m: &fs::Metadata) -> FileKey {
        FileKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }

    fn index_name(&self) -> String {
        format!(
            "{:x}-{:x}-{:x}-{}-{}",
            self.dev, self.ino, self.size, self.mtime, self.mtime_nsec
        )
    }
}

/// A unique temporary name in `dir`.
fn temp_path(dir: &Path, what: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(".tmp-{what}-{}-{n}-{nanos}", std::process::id()))
}

/// Hash everything `r` yields, optionally copying it to `copy_to`.
fn hash_reader(mut r: impl Read, mut copy_to: Option<&mut File>) -> io::Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        if let Some(f) = copy_to.as_deref_mut() {
            f.write_all(&buf[..n])?;
        }
        total += n as u64;
    }
    Ok((hasher.finalize().to_hex().to_string(), total))
}

pub(crate) struct FileStore {
    dir: PathBuf,
    cache: HashMap<FileKey, FileRef>,
    dirs_made: bool,
}

impl FileStore {
    pub(crate) fn new(dir: PathBuf) -> FileStore {
        FileStore {
            dir,
            cache: HashMap::new(),
            dirs_made: false,
        }
    }

    /// Is `hash` already in the store with length `len`?
    fn present(&self, hash: &str, len: u64) -> bool {
        fs::metadata(self.dir.join(hash)).is_ok_and(|m| m.is_file() && m.len() == len)
    }

    fn lookup_index(&self, key: &FileKey) -> Option<FileRef> {
        let text = fs::read_to_string(self.dir.join(INDEX_DIR).join(key.index_name())).ok()?;
        let hash = text.trim();
        if !valid_hash(hash) || !self.present(hash, key.size) {
            return None;
        }
        Some(FileRef {
            hash: hash.to_owned(),
            len: key.size,
        })
    }

    fn record_index(&self, key: &FileKey, hash: &str) {
        // Best effort: a missing index entry only costs a rehash next time.
        let index = self.dir.join(INDEX_DIR);
        let tmp = temp_path(&index, "index");
        if fs::write(&tmp, hash).is_ok() && fs::rename(&tmp, index.join(key.index_name())).is_err()
        {
            let _ = fs::remove_file(&tmp);
        }
    }

    pub(crate) fn store(&mut self, path: &Path) -> Result<FileRef> {
        self.store_with(path, true)
    }

    /// Like `store`, but never hard-linked: for the executable, which a rebuild may overwrite in
    /// place.
    pub(crate) fn store_copy(&mut self, path: &Path) -> Result<FileRef> {
        self.store_with(path, false)
    }

    fn store_with(&mut self, path: &Path, link: bool) -> Result<FileRef> {
        let mut file = File::open(path).ctx("open", path)?;
        let meta = file.metadata().ctx("stat", path)?;
        if !meta.is_file() {
            return Err(Error::io(
                "store",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        let key = FileKey::of(&meta);
        if let Some(f) = self.cache.get(&key) {
            return Ok(f.clone());
        }
        if !self.dirs_made {
            fs::create_dir_all(self.dir.join(INDEX_DIR)).ctx("create", &self.dir)?;
            self.dirs_made = true;
        }
        if let Some(f) = self.lookup_index(&key) {
            self.cache.insert(key, f.clone());
            return Ok(f);
        }

        let linked = if link {
            self.store_by_link(path, &mut file, &key)?
        } else {
            None
        };
        let f = match linked {
            Some(f) => f,
            None => self.store_by_copy(path, &mut file, &key)?,
        };
        self.record_index(&key, &f.hash);
        self.cache.insert(key, f.clone());
        Ok(f)
    }

    /// Hard-link `path` into the store; `None` when linking is impossible (another filesystem,
    /// protected_hardlinks, the file was replaced meanwhile).
    fn store_by_link(
        &self,
        path: &Path,
        file: &mut File,
        key: &FileKey,
    ) -> Result<Option<FileRef>> {
        // `hard_link` does not follow symlinks on Linux; link the real file.
        let Ok(real) = fs::canonicalize(path) else {
            return Ok(None);
        };
        let tmp = temp_path(&self.dir, "link");
        if fs::hard_link(&real, &tmp).is_err() {
            return Ok(None);
        }
        let result = (|| -> Result<Option<FileRef>> {
            let linked = fs::metadata(&tmp).ctx("stat", &tmp)?;
            if FileKey::of(&linked) != *key {
                return Ok(None); // replaced or modified since we opened it
            }
            file.rewind().ctx("read", path)?;
            let (hash, len) = hash_reader(&mut *file, None).ctx("read", path)?;
            let after = file.metadata().ctx("stat", path)?;
            if len != key.size || FileKey::of(&after) != *key {
                return Err(Error::FileChanged {
                    path: path.to_owned(),
                });
            }
            let dest = self.dir.join(&hash);
            if !self.present(&hash, len) {
                fs::rename(&tmp, &dest).ctx("rename into", &dest)?;
            }
            Ok(Some(FileRef { hash, len }))
        })();
        // After a rename this fails harmlessly (or removes the name left when `dest` was already
        // a link to the same inode, where rename does nothing).
        let _ = fs::remove_file(&tmp);
        result
    }

    fn store_by_copy(&self, path: &Path, file: &mut File, key: &FileKey) -> Result<FileRef> {
        file.rewind().ctx("read", path)?;
        let (hash, len) = hash_reader(&mut *file, None).ctx("read", path)?;
        if len != key.size || FileKey::of(&file.metadata().ctx("stat", path)?) != *key {
            return Err(Error::FileChanged {
                path: path.to_owned(),
            });
        }
        if self.present(&hash, len) {
            return Ok(FileRef { hash, len });
        }
        let tmp = temp_path(&self.dir, "copy");
        let result = (|| -> Result<()> {
            let mut out = File::options()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .ctx("create", &tmp)?;
            file.rewind().ctx("read", path)?;
            let (copied_hash, copied_len) =
                hash_reader(&mut *file, Some(&mut out)).ctx("copy", path)?;
            if copied_hash != hash || copied_len != len {
                return Err(Error::FileChanged {
                    path: path.to_owned(),
                });
            }
            // Read-only, keeping the execute bits: the stored executable is run by replay.
            let exec = file.metadata().map(|m| m.mode() & 0o111).unwrap_or(0);
            out.set_permissions(fs::Permissions::from_mode(0o444 | exec))
                .ctx("chmod", &tmp)?;
            drop(out);
            let dest = self.dir.join(&hash);
            fs::rename(&tmp, &dest).ctx("rename into", &dest)?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|()| FileRef { hash, len })
    }
}
