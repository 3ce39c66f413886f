//! Writing a trace while recording.

use crate::codec;
use crate::error::{Error, IoContext, Result};
use crate::model::{Event, FileRef, Header};
use crate::store::{store_dir_for, FileStore};
use crate::{DATA_FILE, EVENTS_FILE, HEADER_FILE};
use brotli::CompressorWriter;
use capnp::message::ScratchSpaceHeapAllocator;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Brotli quality of the streams: 4 compresses syscall records well and stays fast.
const QUALITY: u32 = 4;
/// Brotli window: 4 MiB.
const LGWIN: u32 = 22;
/// Bytes gathered before they are handed to the compressor (which has a per-call cost).
const STAGE: usize = 64 * 1024;
/// Words of the reused first segment of event messages; bigger events spill to the heap.
const SCRATCH_WORDS: usize = 512;

/// One compressed output stream with a staging buffer in front of it.
struct Stream {
    path: PathBuf,
    stage: Vec<u8>,
    out: CompressorWriter<File>,
}

impl Stream {
    fn create(path: PathBuf) -> Result<Stream> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        Ok(Stream {
            path,
            stage: Vec::with_capacity(STAGE + 4096),
            out: CompressorWriter::new(file, 64 * 1024, QUALITY, LGWIN),
        })
    }

    fn drain(&mut self) -> Result<()> {
        if !self.stage.is_empty() {
            self.out.write_all(&self.stage).ctx("write", &self.path)?;
            self.stage.clear();
        }
        Ok(())
    }

    fn maybe_drain(&mut self) -> Result<()> {
        if self.stage.len() >= STAGE {
            self.drain()?;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.len() >= STAGE {
            self.drain()?;
            self.out.write_all(bytes).ctx("write", &self.path)
        } else {
            self.stage.extend_from_slice(bytes);
            self.maybe_drain()
        }
    }

    fn flush(&mut self) -> Result<()> {
        self.drain()?;
        self.out.flush().ctx("write", &self.path)
    }

    fn finish(mut self) -> Result<()> {
        self.flush()?;
        // `into_inner` writes the end of the brotli stream (it cannot report errors, but the
        // flush above has just proven the file writable).
        let file = self.out.into_inner();
        file.sync_all().ctx("sync", &self.path)
    }
}

/// Writes one trace directory. Events are numbered from 0 in the order they are pushed.
///
/// Call [`flush`](TraceWriter::flush) now and then (say once a second, and before anything
/// that may kill the recorder): a recorder killed between flushes leaves a trace that reads up to
/// the last flush. [`finish`](TraceWriter::finish) ends the trace. Dropping a writer without
/// finishing it leaves an incomplete trace.
pub struct TraceWriter {
    dir: PathBuf,
    events: Stream,
    data: Stream,
    scratch: Vec<capnp::Word>,
    next_event: u64,
    store: FileStore,
    poisoned: bool,
}

impl std::fmt::Debug for TraceWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter")
            .field("dir", &self.dir)
            .field("next_event", &self.next_event)
            .finish_non_exhaustive()
    }
}

/// Write `header` to `dir/header` atomically (temporary file, fsync, rename).
fn write_header(dir: &Path, header: &Header, complete: bool) -> Result<()> {
    let bytes = codec::encode_header(header, complete).map_err(|reason| {
        Error::io(
            "encode the header of",
            dir,
            io::Error::new(io::ErrorKind::InvalidInput, reason),
        )
    })?;
    let tmp = dir.join(".header.tmp");
    let dest = dir.join(HEADER_FILE);
    let result = (|| {
        let mut f = File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(&bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("sync", &tmp)?;
        fs::rename(&tmp, &dest).ctx("rename into", &dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl TraceWriter {
    /// Create the trace directory `dir` (it may exist if empty), write `header` marked incomplete
    /// and open the event and data streams. The header's `format_version` is ignored: the
    /// writer always writes [`FORMAT_VERSION`](crate::FORMAT_VERSION).
    pub fn create(dir: &Path, header: &Header) -> Result<TraceWriter> {
        match fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(Error::TraceDirNotEmpty {
                        path: dir.to_owned(),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).ctx("create", dir)?;
            }
            Err(e) => return Err(Error::io("read", dir, e)),
        }
        write_header(dir, header, false)?;
        Ok(TraceWriter {
            dir: dir.to_owned(),
            events: Stream::create(dir.join(EVENTS_FILE))?,
            data: Stream::create(dir.join(DATA_FILE))?,
            scratch: capnp::Word::allocate_zeroed_vec(SCRATCH_WORDS),
            next_event: 0,
            store: FileStore::new(store_dir_for(dir)),
            poisoned: false,
        })
    }

    /// The trace directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The number the next pushed event will get (= events pushed so far).
    pub fn next_event(&self) -> u64 {
        self.next_event
    }

    fn check(&self) -> Result<()> {
        if self.poisoned {
            Err(Error::WriterPoisoned)
        } else {
            Ok(())
        }
    }

    /// Append an event; returns its number. Memory write bytes go to the data stream.
    pub fn push(&mut self, ev: &Event) -> Result<u64> {
        self.check()?;
        let r = self.push_inner(ev);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn push_inner(&mut self, ev: &Event) -> Result<u64> {
        {
            let alloc =
                ScratchSpaceHeapAllocator::new(capnp::Word::words_to_bytes_mut(&mut self.scratch));
            let mut msg = capnp::message::Builder::new(alloc);
            let encoded = codec::build_event(msg.init_root(), ev).and_then(|()| {
                capnp::serialize::write_message(&mut self.events.stage, &msg)
                    .map_err(|e| codec::lc(&e))
            });
            if let Err(reason) = encoded {
                return Err(Error::io(
                    "encode an event for",
                    &self.events.path,
                    io::Error::new(io::ErrorKind::InvalidInput, reason),
                ));
            }
        }
        for w in codec::event_writes(ev) {
            self.data.write(&w.data)?;
        }
        self.events.maybe_drain()?;
        let n = self.next_event;
        self.next_event += 1;
        Ok(n)
    }

    /// Put the file at `path` in the store (hard-linked if possible, else copied) and return its
    /// reference. A file is hashed once per (device, inode, size, mtime).
    pub fn store_file(&mut self, path: &Path) -> Result<FileRef> {
        self.store.store(path)
    }

    /// Make everything pushed so far readable from disk.
    pub fn flush(&mut self) -> Result<()> {
        self.check()?;
        // Data first: an event on disk should find its bytes.
        let r = self.data.flush().and_then(|()| self.events.flush());
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// Close the streams and rewrite the header; the caller sets `complete`, `exit`,
    /// `duration_ns` and `incomplete_reason`.
    ///
    /// If an earlier call failed, the header is still rewritten (marked incomplete) and
    /// [`Error::WriterPoisoned`] is returned.
    pub fn finish(self, header: &Header) -> Result<()> {
        let TraceWriter {
            dir,
            events,
            data,
            poisoned,
            ..
        } = self;
        if poisoned {
            drop((events, data));
            let mut h = header.clone();
            h.complete = false;
            if h.incomplete_reason.is_empty() {
                h.incomplete_reason = "the trace writer failed".into();
            }
            write_header(&dir, &h, false)?;
            return Err(Error::WriterPoisoned);
        }
        data.finish()?;
        events.finish()?;
        write_header(&dir, header, header.complete)
    }
}
