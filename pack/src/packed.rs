//! A packed trace: one self-contained file for upload (`cargo record-test pack`), holding the
//! trace directory and every stored file it needs (mapped files and the executable), each
//! content once, compressed with brotli, with a BLAKE3 checksum checked before anything is read.
//!
//! Layout (all integers little-endian):
//! ```text
//! "crtpack\0"  u32 version  u32 flags (0)  u64 total length of the file
//! u32 n + trace directory name   u32 n + version of the packing tool
//! u32 n + the trace's `header` file verbatim (CPUID, xcr0, kernel, tool version: readable
//!         without unpacking)
//! brotli stream of a tar archive: trace/header, trace/events, trace/data, trace/stats,
//!         trace/program, files/<blake3 hex> (mode 0444, the executable 0555)
//! 32-byte BLAKE3 of every byte after the total length and before the checksum
//! ```
//! Unpacking recreates `NAME.trace/` and a `files/` store beside it, checking every stored
//! file's content against its name.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::codec::valid_hash;
use crate::error::{Error, IoContext, Result};
use crate::model::{EventKind, FileRef, Header};
use crate::program::{read_program, PROGRAM_FILE};
use crate::reader::TraceReader;
use crate::stats::STATS_FILE;
use crate::{DATA_FILE, EVENTS_FILE, HEADER_FILE};

/// The first bytes of every packed trace.
pub const PACK_MAGIC: &[u8; 8] = b"crtpack\0";
/// Bump when the packed layout changes incompatibly.
pub const PACK_VERSION: u32 = 1;
/// The conventional file name extension of a packed trace.
pub const PACK_EXTENSION: &str = "crtpack";

/// Brotli quality and window (log2). Measured on a 19.3 MiB one-test recording of
/// examples/flaky (2 loaded cores): quality 5 packs to 4.8 MiB in 11.5 s, quality 9 to 4.6 MiB
/// in 61 s; 4 % is not worth 5 times the wait in a CI job.
const QUALITY: i32 = 5;
const LGWIN: i32 = 24;
const FIXED: u64 = 8 + 4 + 4 + 8;
const SUM: u64 = 32;
/// Trace directory files a pack carries, when present.
const TRACE_FILES: [&str; 5] = [
    HEADER_FILE,
    EVENTS_FILE,
    DATA_FILE,
    STATS_FILE,
    PROGRAM_FILE,
];
/// Marker written last into an unpacked directory.
const UNPACKED_MARK: &str = ".unpacked";

/// One member of a pack, for the report `pack` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedEntry {
    /// `trace/events`, `files/<hash>`, ...
    pub name: String,
    /// Uncompressed bytes.
    pub len: u64,
    /// Where the content came from (the mapped file's path when known, the executable's path).
    pub what: String,
}

/// What `pack` did.
#[derive(Clone, Debug)]
pub struct PackReport {
    pub entries: Vec<PackedEntry>,
    /// Whether the executable is inside (traces recorded before it was stored lack it).
    pub has_executable: bool,
    /// Sum of the members' uncompressed sizes.
    pub input_len: u64,
    /// Size of the packed file.
    pub packed_len: u64,
}

/// The uncompressed front of a packed file.
#[derive(Clone, Debug)]
pub struct PackedHeader {
    /// The name of the packed trace directory (`NAME.trace`).
    pub trace_name: String,
    /// The trace's header.
    pub header: Header,
    /// Version of the tool that packed it.
    pub packed_by: String,
    /// Length of the whole file.
    pub total_len: u64,
    /// Hex BLAKE3 checksum (verified).
    pub checksum: String,
    body_start: u64,
}

fn corrupted(reason: impl Into<String>) -> Error {
    Error::PackedCorrupted {
        reason: reason.into(),
    }
}

/// Whether `path` is a file starting like a packed trace.
pub fn is_packed(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == PACK_MAGIC)
}

/// Hashes and counts what goes through to the file; remembers a write error (brotli's
/// `into_inner` swallows the one of its last write).
struct Sink<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
    written: u64,
    error: Option<io::Error>,
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.error.get_or_insert(e);
                Err(copy)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads through while hashing.
struct HashingReader<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    w.write_all(&(b.len() as u32).to_le_bytes())?;
    w.write_all(b)
}

/// Pack the trace directory `trace_dir` into the file `out` (replaced if it exists).
/// `tool_version` is recorded as the packer's version.
pub fn pack(trace_dir: &Path, out: &Path, tool_version: &str) -> Result<PackReport> {
    let mut reader = TraceReader::open(trace_dir)?;
    let mut files: BTreeMap<String, (u64, String)> = BTreeMap::new();
    while let Some(ev) = reader.next_event()? {
        if let EventKind::Syscall(sc) = &ev.kind {
            if let Some(f) = &sc.file {
                files
                    .entry(f.hash.clone())
                    .or_insert((f.len, "mapped file".into()));
            }
        }
    }
    let program_name = String::from_utf8_lossy(&reader.header().program).into_owned();
    let exe = read_program(trace_dir);
    if let Some(f) = &exe {
        files.insert(
            f.hash.clone(),
            (f.len, format!("executable {program_name}")),
        );
    }
    let header_path = trace_dir.join(HEADER_FILE);
    let header_bytes = fs::read(&header_path).ctx("read", &header_path)?;
    let trace_name = trace_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "trace.trace".into());

    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = write_pack(
        &reader,
        &tmp,
        &trace_name,
        tool_version,
        &header_bytes,
        &files,
        exe.as_ref(),
    )
    .and_then(|entries| {
        fs::rename(&tmp, out).ctx("rename into", out)?;
        Ok(entries)
    });
    let entries = match result {
        Ok(e) => e,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let packed_len = fs::metadata(out).ctx("stat", out)?.len();
    Ok(PackReport {
        input_len: entries.iter().map(|e| e.len).sum(),
        entries,
        has_executable: exe.is_some(),
        packed_len,
    })
}

fn write_pack(
    reader: &TraceReader,
    tmp: &Path,
    trace_name: &str,
    tool_version: &str,
    header_bytes: &[u8],
    files: &BTreeMap<String, (u64, String)>,
    exe: Option<&FileRef>,
) -> Result<Vec<PackedEntry>> {
    let trace_dir = reader.dir();
    let mut file = File::create(tmp).ctx("create", tmp)?;
    let io = |e| Error::io("write", tmp, e);
    let mut fixed = Vec::with_capacity(FIXED as usize);
    fixed.extend_from_slice(PACK_MAGIC);
    fixed.extend_from_slice(&PACK_VERSION.to_le_bytes());
    fixed.extend_from_slice(&0u32.to_le_bytes());
    fixed.extend_from_slice(&0u64.to_le_bytes()); // total length, patched at the end
    file.write_all(&fixed).map_err(io)?;
    let mut sink = Sink {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: blake3::Hasher::new(),
        written: 0,
        error: None,
    };
    put_bytes(&mut sink, trace_name.as_bytes()).map_err(io)?;
    put_bytes(&mut sink, tool_version.as_bytes()).map_err(io)?;
    put_bytes(&mut sink, header_bytes).map_err(io)?;

    // CRT_PACK_QUALITY (0-11) is for benchmarks (quality trials).
    let quality = std::env::var("CRT_PACK_QUALITY")
        .ok()
        .and_then(|q| q.parse().ok())
        .filter(|q| (0..=11).contains(q))
        .unwrap_or(QUALITY);
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        lgwin: LGWIN,
        ..Default::default()
    };
    let compressor = brotli::CompressorWriter::with_params(sink, 1 << 20, &params);
    let mut tar = tar::Builder::new(compressor);
    let mut entries = Vec::new();
    let mut append = |tar: &mut tar::Builder<_>,
                      name: String,
                      src: &Path,
                      mode: u32,
                      expect: Option<&FileRef>,
                      what: String|
     -> Result<()> {
        let f = File::open(src).ctx("open", src)?;
        let len = f.metadata().ctx("stat", src)?.len();
        let mut h = tar::Header::new_gnu();
        h.set_size(len);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        let mut r = HashingReader {
            inner: BufReader::with_capacity(1 << 20, f),
            hasher: blake3::Hasher::new(),
            read: 0,
        };
        tar.append_data(&mut h, &name, &mut r).map_err(io)?;
        if let Some(e) = expect {
            if r.read != e.len || r.hasher.finalize().to_hex().as_str() != e.hash {
                return Err(Error::FileChanged {
                    path: src.to_owned(),
                });
            }
        }
        entries.push(PackedEntry { name, len, what });
        Ok(())
    };
    for name in TRACE_FILES {
        let src = trace_dir.join(name);
        if src.is_file() {
            append(
                &mut tar,
                format!("trace/{name}"),
                &src,
                0o644,
                None,
                "trace".into(),
            )?;
        }
    }
    for (hash, (len, what)) in files {
        let f = FileRef {
            hash: hash.clone(),
            len: *len,
        };
        let src = reader.file_path(&f)?;
        let mode = if exe.is_some_and(|e| e.hash == *hash) {
            0o555
        } else {
            0o444
        };
        append(
            &mut tar,
            format!("files/{hash}"),
            &src,
            mode,
            Some(&f),
            what.clone(),
        )?;
    }
    let compressor = tar.into_inner().map_err(io)?;
    let mut sink = compressor.into_inner();
    if let Some(e) = sink.error.take() {
        return Err(io(e));
    }
    let sum = *sink.hasher.finalize().as_bytes();
    let total = FIXED + sink.written + SUM;
    let mut file = sink.inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.write_all(&sum).map_err(io)?;
    file.seek(SeekFrom::Start(16)).map_err(io)?;
    file.write_all(&total.to_le_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(entries)
}

fn take_bytes(r: &mut impl Read, what: &str, max: u32) -> Result<Vec<u8>> {
    let mut n = [0u8; 4];
    r.read_exact(&mut n)
        .map_err(|_| corrupted(format!("its {what} is cut off")))?;
    let n = u32::from_le_bytes(n);
    if n > max {
        return Err(corrupted(format!("its {what} is {n} bytes long")));
    }
    let mut b = vec![0u8; n as usize];
    r.read_exact(&mut b)
        .map_err(|_| corrupted(format!("its {what} is cut off")))?;
    Ok(b)
}

/// Read and check the front of the packed file `path`: magic, version, length and the checksum
/// of the whole file.
pub fn read_packed_header(path: &Path) -> Result<PackedHeader> {
    let mut f = File::open(path).ctx("open", path)?;
    let actual = f.metadata().ctx("stat", path)?.len();
    let mut fixed = [0u8; FIXED as usize];
    if actual < FIXED {
        return Err(
            if actual >= 8 || !PACK_MAGIC.starts_with(&read_all(&mut f)) {
                Error::NotPacked {
                    path: path.to_owned(),
                }
            } else {
                Error::PackedTruncated {
                    found: actual,
                    expected: None,
                }
            },
        );
    }
    f.read_exact(&mut fixed).ctx("read", path)?;
    if &fixed[..8] != PACK_MAGIC {
        return Err(Error::NotPacked {
            path: path.to_owned(),
        });
    }
    let version = u32::from_le_bytes(fixed[8..12].try_into().expect("4 bytes"));
    if version > PACK_VERSION {
        return Err(Error::NewerVersion {
            found: version,
            supported: PACK_VERSION,
        });
    }
    if version == 0 || fixed[12..16] != [0; 4] {
        return Err(corrupted("its version field is invalid"));
    }
    let total = u64::from_le_bytes(fixed[16..24].try_into().expect("8 bytes"));
    if actual < total {
        return Err(Error::PackedTruncated {
            found: actual,
            expected: Some(total),
        });
    }
    if actual > total || total < FIXED + SUM + 12 {
        return Err(corrupted(format!(
            "it says it is {total} bytes long but is {actual}"
        )));
    }
    // The checksum first: nothing unverified is interpreted.
    let mut hasher = blake3::Hasher::new();
    let mut body = (&mut f).take(total - FIXED - SUM);
    io::copy(&mut body, &mut hasher).ctx("read", path)?;
    let mut sum = [0u8; SUM as usize];
    f.read_exact(&mut sum).ctx("read", path)?;
    if hasher.finalize().as_bytes() != &sum {
        return Err(corrupted("checksum mismatch"));
    }
    f.seek(SeekFrom::Start(FIXED)).ctx("read", path)?;
    let mut r = BufReader::new(f);
    let name = take_bytes(&mut r, "trace name", 4096)?;
    let packed_by = take_bytes(&mut r, "tool version", 4096)?;
    let header_bytes = take_bytes(&mut r, "trace header", 64 << 20)?;
    let trace_name = String::from_utf8(name)
        .ok()
        .filter(|n| valid_name(n))
        .ok_or_else(|| corrupted("its trace name is invalid"))?;
    let header = crate::reader::parse_header(&header_bytes)?;
    let body_start = FIXED + 12 + (trace_name.len() + packed_by.len() + header_bytes.len()) as u64;
    Ok(PackedHeader {
        trace_name,
        header,
        packed_by: String::from_utf8_lossy(&packed_by).into_owned(),
        total_len: total,
        checksum: blake3::Hash::from(sum).to_hex().to_string(),
        body_start,
    })
}

fn read_all(f: &mut File) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = f.read_to_end(&mut v);
    v
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n != "." && n != ".." && !n.contains('/') && !n.contains('\0')
}

/// Unpack the packed file `path` into the directory `dest` (created; a directory already
/// unpacked from the same file is reused). Returns the trace directory `dest/NAME.trace`; its
/// store is `dest/files`.
pub fn unpack(path: &Path, dest: &Path) -> Result<PathBuf> {
    let h = read_packed_header(path)?;
    let trace_dir = dest.join(&h.trace_name);
    if dest.join(UNPACKED_MARK).is_file() && trace_dir.join(HEADER_FILE).is_file() {
        return Ok(trace_dir);
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).ctx("create", parent)?;
    let tmp = parent.join(format!(
        ".unpack-{}-{}",
        std::process::id(),
        &h.checksum[..16]
    ));
    let _ = fs::remove_dir_all(&tmp);
    let result = extract(path, &h, &tmp).and_then(|()| {
        let mark = tmp.join(UNPACKED_MARK);
        fs::write(&mark, &h.checksum).ctx("write", &mark)?;
        if dest.exists() {
            // Another process unpacked the same file meanwhile, or an unfinished attempt.
            if dest.join(UNPACKED_MARK).is_file() {
                return Ok(());
            }
            fs::remove_dir_all(dest).ctx("remove", dest)?;
        }
        fs::rename(&tmp, dest).ctx("rename into", dest)
    });
    let _ = fs::remove_dir_all(&tmp);
    result.map(|()| trace_dir)
}

fn extract(path: &Path, h: &PackedHeader, tmp: &Path) -> Result<()> {
    let trace_tmp = tmp.join(&h.trace_name);
    let files_tmp = tmp.join("files");
    fs::create_dir_all(&trace_tmp).ctx("create", &trace_tmp)?;
    fs::create_dir_all(&files_tmp).ctx("create", &files_tmp)?;
    let mut f = File::open(path).ctx("open", path)?;
    f.seek(SeekFrom::Start(h.body_start)).ctx("read", path)?;
    let body = BufReader::with_capacity(1 << 20, f).take(h.total_len - SUM - h.body_start);
    let mut archive = tar::Archive::new(brotli::Decompressor::new(body, 1 << 20));
    let bad = |e: io::Error| corrupted(format!("its archive is unreadable: {e}"));
    let mut seen_header = false;
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(corrupted("its archive holds something other than files"));
        }
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let (dest, expect) = match name.split_once('/') {
            Some(("trace", n)) if TRACE_FILES.contains(&n) => {
                seen_header |= n == HEADER_FILE;
                (trace_tmp.join(n), None)
            }
            Some(("files", hash)) if valid_hash(hash) => (files_tmp.join(hash), Some(hash)),
            _ => return Err(corrupted(format!("unexpected member {name:?}"))),
        };
        let mode = entry.header().mode().map_err(bad)? & 0o555;
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .open(&dest)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    corrupted(format!("member {name:?} appears twice"))
                } else {
                    Error::io("create", &dest, e)
                }
            })?;
        let mut r = HashingReader {
            inner: &mut entry,
            hasher: blake3::Hasher::new(),
            read: 0,
        };
        io::copy(&mut r, &mut out).map_err(|e| {
            if e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::InvalidData {
                bad(e)
            } else {
                Error::io("write", &dest, e)
            }
        })?;
        if let Some(hash) = expect {
            if r.hasher.finalize().to_hex().as_str() != hash {
                return Err(corrupted(format!(
                    "stored file {hash} does not match its hash"
                )));
            }
        }
        out.set_permissions(fs::Permissions::from_mode(mode | 0o444))
            .ctx("chmod", &dest)?;
    }
    if !seen_header {
        return Err(corrupted("it holds no trace header"));
    }
    Ok(())
}
