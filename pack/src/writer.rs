//! Writing a trace while recording.
//!
//! `push` only encodes into a staging buffer; full buffers go to a background thread that
//! compresses and writes both streams, so the recorder's thread pays ~100-200 ns per event.

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
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Brotli quality of both streams. Measured (pack/examples/push_speed.rs and file contents):
/// quality 1 compresses event messages as well as 4-5 at 2-4x the speed, and file data within
/// ~15% of them at ~280 MB/s; recording speed matters more than size.
const QUALITY: u32 = 1;
/// Brotli window: 4 MiB.
const LGWIN: u32 = 22;
/// Bytes gathered before they are handed to the compressing thread.
const STAGE: usize = 64 * 1024;
/// Staged buffers the compressing thread may lag behind before `push` waits for it.
const BACKLOG: usize = 64;
/// Words of the reused first segment of event messages; bigger events spill to the heap.
const SCRATCH_WORDS: usize = 128;

enum Job {
    Events(Vec<u8>),
    Data(Vec<u8>),
    /// Flush both streams (data first), then acknowledge.
    Flush(SyncSender<()>),
}

/// One compressed output file, owned by the compressing thread.
struct Sink {
    path: PathBuf,
    out: CompressorWriter<File>,
}

impl Sink {
    fn create(path: PathBuf) -> Result<Sink> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        Ok(Sink {
            out: CompressorWriter::new(file, STAGE, QUALITY, LGWIN),
            path,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).ctx("write", &self.path)
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().ctx("write", &self.path)
    }

    fn finish(mut self) -> Result<()> {
        self.flush()?;
        // `into_inner` writes the end of the brotli stream; it cannot report errors, but the
        // flush above has just proven the file writable.
        // No fsync: a trace is worth keeping only if the machine stays up, and a sync costs
        // milliseconds on every recording (DESIGN.md 12: short tests are the common case).
        let _file = self.out.into_inner();
        Ok(())
    }
}

/// The compressing thread: runs jobs until the writer hangs up, then finishes both streams.
fn compress(
    jobs: Receiver<Job>,
    recycle: SyncSender<Vec<u8>>,
    mut events: Sink,
    mut data: Sink,
) -> Result<()> {
    let give_back = |mut buf: Vec<u8>| {
        if buf.capacity() <= 4 * STAGE {
            buf.clear();
            let _ = recycle.try_send(buf);
        }
    };
    for job in jobs {
        match job {
            Job::Events(buf) => {
                events.write(&buf)?;
                give_back(buf);
            }
            Job::Data(buf) => {
                data.write(&buf)?;
                give_back(buf);
            }
            Job::Flush(ack) => {
                data.flush()?;
                events.flush()?;
                let _ = ack.send(());
            }
        }
    }
    data.finish()?;
    events.finish()
}

/// Writes one trace directory. Events are numbered from 0 in the order they are pushed.
///
/// Call [`flush`](TraceWriter::flush) now and then (say once a second, and before anything
/// that may kill the recorder): a recorder killed between flushes leaves a trace that reads up to
/// the last flush. [`finish`](TraceWriter::finish) ends the trace. Dropping a writer without
/// finishing it ends the streams cleanly but leaves the header marked incomplete.
///
/// The writer owns one background thread (named `pack-writer`) that compresses and writes.
pub struct TraceWriter {
    dir: PathBuf,
    events: Vec<u8>,
    data: Vec<u8>,
    scratch: Vec<capnp::Word>,
    next_event: u64,
    store: FileStore,
    jobs: Option<SyncSender<Job>>,
    recycled: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<Result<()>>>,
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

/// Write `header` to `dir/header` atomically (temporary file, rename; no fsync, see `finish`).
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
        let events = Sink::create(dir.join(EVENTS_FILE))?;
        let data = Sink::create(dir.join(DATA_FILE))?;
        let (jobs, jobs_rx) = mpsc::sync_channel(BACKLOG);
        let (recycle, recycled) = mpsc::sync_channel(8);
        let worker = std::thread::Builder::new()
            .name("pack-writer".into())
            .spawn(move || compress(jobs_rx, recycle, events, data))
            .map_err(|e| Error::io("start the writer thread for", dir, e))?;
        Ok(TraceWriter {
            dir: dir.to_owned(),
            events: Vec::with_capacity(STAGE + 4096),
            data: Vec::with_capacity(STAGE + 4096),
            scratch: capnp::Word::allocate_zeroed_vec(SCRATCH_WORDS),
            next_event: 0,
            store: FileStore::new(store_dir_for(dir)),
            jobs: Some(jobs),
            recycled,
            worker: Some(worker),
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

    /// Append an event; returns its number. Memory write bytes go to the data stream.
    pub fn push(&mut self, ev: &Event) -> Result<u64> {
        if self.poisoned {
            return Err(Error::WriterPoisoned);
        }
        if let Err(reason) = self.encode(ev) {
            // Nothing was staged for this event (the message is encoded before it is copied).
            return Err(Error::io(
                "encode an event for",
                self.dir.join(EVENTS_FILE),
                io::Error::new(io::ErrorKind::InvalidInput, reason),
            ));
        }
        for w in codec::event_writes(ev) {
            self.data.extend_from_slice(&w.data);
        }
        if self.data.len() >= STAGE {
            self.send_data()?;
        }
        if self.events.len() >= STAGE {
            self.send_events()?;
        }
        let n = self.next_event;
        self.next_event += 1;
        Ok(n)
    }

    /// Encode `ev` at the end of the events buffer.
    fn encode(&mut self, ev: &Event) -> std::result::Result<(), String> {
        let alloc =
            ScratchSpaceHeapAllocator::new(capnp::Word::words_to_bytes_mut(&mut self.scratch));
        let mut msg = capnp::message::Builder::new(alloc);
        codec::build_event(msg.init_root(), ev)?;
        capnp::serialize_packed::write_message(&mut self.events, &msg).map_err(|e| codec::lc(&e))
    }

    fn fresh_buffer(&self) -> Vec<u8> {
        self.recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(STAGE + 4096))
    }

    fn send(&mut self, job: Job) -> Result<()> {
        let sent = match &self.jobs {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.worker_failure())
        }
    }

    fn send_data(&mut self) -> Result<()> {
        let fresh = self.fresh_buffer();
        let buf = std::mem::replace(&mut self.data, fresh);
        self.send(Job::Data(buf))
    }

    fn send_events(&mut self) -> Result<()> {
        let fresh = self.fresh_buffer();
        let buf = std::mem::replace(&mut self.events, fresh);
        self.send(Job::Events(buf))
    }

    /// The compressing thread has stopped: collect its error and poison the writer.
    fn worker_failure(&mut self) -> Error {
        self.poisoned = true;
        self.jobs = None;
        match self.worker.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => Error::io(
                "write",
                &self.dir,
                io::Error::other("the writer thread panicked"),
            ),
            _ => Error::WriterPoisoned,
        }
    }

    /// Put the file at `path` in the store (hard-linked if possible, else copied) and return its
    /// reference. A file is hashed once per (device, inode, size, mtime).
    pub fn store_file(&mut self, path: &Path) -> Result<FileRef> {
        self.store.store(path)
    }

    /// Put a copy (never a hard link: a rebuild may overwrite it in place) of the executable at
    /// `path` in the store and name it in the trace's `program` file, so replay runs the recorded
    /// bytes even after a rebuild (and `pack` includes it).
    pub fn store_program(&mut self, path: &Path) -> Result<FileRef> {
        let f = self.store.store_copy(path)?;
        let dest = self.dir.join(crate::program::PROGRAM_FILE);
        fs::write(&dest, crate::program::encode(&f)).ctx("write", &dest)?;
        Ok(f)
    }

    /// Make everything pushed so far readable from disk (waits for the compressing thread).
    pub fn flush(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(Error::WriterPoisoned);
        }
        // Data first: an event on disk should find its bytes.
        if !self.data.is_empty() {
            self.send_data()?;
        }
        if !self.events.is_empty() {
            self.send_events()?;
        }
        let (ack, done) = mpsc::sync_channel(1);
        self.send(Job::Flush(ack))?;
        match done.recv() {
            Ok(()) => Ok(()),
            Err(_) => Err(self.worker_failure()),
        }
    }

    /// Close the streams and rewrite the header; the caller sets `complete`, `exit`,
    /// `duration_ns` and `incomplete_reason`.
    ///
    /// If an earlier call failed, the header is still rewritten (marked incomplete) and the
    /// error is returned again.
    pub fn finish(mut self, header: &Header) -> Result<()> {
        let result = if !self.poisoned {
            (|| {
                if !self.data.is_empty() {
                    self.send_data()?;
                }
                if !self.events.is_empty() {
                    self.send_events()?;
                }
                self.jobs = None;
                match self.worker.take().map(|w| w.join()) {
                    Some(Ok(r)) => r,
                    _ => Err(self.worker_failure()),
                }
            })()
        } else {
            Err(Error::WriterPoisoned)
        };
        match result {
            Ok(()) => write_header(&self.dir, header, header.complete),
            Err(e) => {
                let mut h = header.clone();
                if h.incomplete_reason.is_empty() {
                    h.incomplete_reason = format!("the trace writer failed: {e}");
                }
                let _ = write_header(&self.dir, &h, false);
                Err(e)
            }
        }
    }
}

impl Drop for TraceWriter {
    /// Ends the streams (what was pushed stays readable); the header stays incomplete.
    fn drop(&mut self) {
        if !self.poisoned {
            if !self.data.is_empty() {
                let _ = self.send_data();
            }
            if !self.events.is_empty() {
                let _ = self.send_events();
            }
        }
        self.jobs = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
