//! Reading a trace back, one event at a time.

use crate::codec::{self, DecodeError, HeaderError};
use crate::error::{Error, IoContext, Result};
use crate::model::{Event, FileRef, Header, FORMAT_VERSION};
use crate::store::store_dir_for;
use crate::trace_capnp::event;
use crate::{DATA_FILE, EVENTS_FILE, HEADER_FILE};
use brotli::Decompressor;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// A reader that remembers whether it reached its end or failed, so that a decompression
/// error can be classified as truncation (the compressed file ended early), an io error, or
/// corruption (anything else).
struct Tracked {
    inner: Box<dyn Read + Send>,
    eof: bool,
    io_error: Option<io::ErrorKind>,
}

impl Read for Tracked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.eof = true;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.io_error = Some(e.kind());
                }
                Err(e)
            }
        }
    }
}

enum Source {
    Brotli(Box<Decompressor<Tracked>>),
    /// Uncompressed (only for fuzzing the message layer).
    Raw(Tracked),
}

/// One input stream, remembering whether decompression failed.
struct Inflate {
    src: Source,
    failed: bool,
}

impl Inflate {
    fn new(inner: Box<dyn Read + Send>, compressed: bool) -> Inflate {
        let t = Tracked {
            inner,
            eof: false,
            io_error: None,
        };
        Inflate {
            src: if compressed {
                Source::Brotli(Box::new(Decompressor::new(t, 64 * 1024)))
            } else {
                Source::Raw(t)
            },
            failed: false,
        }
    }

    fn tracked(&self) -> &Tracked {
        match &self.src {
            Source::Brotli(d) => d.get_ref(),
            Source::Raw(t) => t,
        }
    }
}

impl Read for Inflate {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = match &mut self.src {
            Source::Brotli(d) => d.read(buf),
            Source::Raw(t) => return t.read(buf),
        };
        if r.is_err() {
            self.failed = true;
        }
        r
    }
}

fn open_stream(path: &Path) -> Result<Inflate> {
    let file = File::open(path).ctx("open", path)?;
    Ok(Inflate::new(Box::new(file), true))
}

/// The reason to give for a stream error `e` that is not truncation or an io error.
fn corruption_reason(s: &Inflate, e: &dyn std::fmt::Display) -> String {
    if s.failed {
        "invalid brotli data".into()
    } else {
        codec::lc(e)
    }
}

/// What went wrong in a stream, from the point of view of its file.
enum Failure {
    Truncated,
    Io(io::ErrorKind),
    Corrupted,
}

fn failure(s: &Inflate) -> Failure {
    let t = s.tracked();
    if let Some(kind) = t.io_error {
        Failure::Io(kind)
    } else if t.eof {
        Failure::Truncated
    } else {
        Failure::Corrupted
    }
}

/// Streams the events of a trace directory.
///
/// `next_event` returns events in order, with memory writes reassembled. After it returns an
/// error or `None`, it keeps returning `None`.
pub struct TraceReader {
    dir: PathBuf,
    header: Header,
    events: BufReader<Inflate>,
    data: Inflate,
    next: u64,
    done: bool,
}

impl std::fmt::Debug for TraceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceReader")
            .field("dir", &self.dir)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// Read and validate the header file of `dir`.
pub(crate) fn read_header(dir: &Path) -> Result<Header> {
    let path = dir.join(HEADER_FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotATraceDir {
                path: dir.to_owned(),
            })
        }
        Err(e) => return Err(Error::io("open", &path, e)),
    };
    // One byte more than the largest valid header, to notice anything bigger.
    let max = (codec::HEADER_PREFIX_LEN + 8 * codec::HEADER_LIMIT_WORDS + 4096) as u64;
    let mut bytes = Vec::new();
    (&mut file)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .ctx("read", &path)?;
    if bytes.len() as u64 > max {
        return Err(Error::HeaderCorrupted {
            reason: "it is larger than any valid header".into(),
        });
    }
    parse_header(&bytes)
}

/// Parse and validate the bytes of a header file.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header> {
    codec::decode_header(bytes).map_err(|e| match e {
        HeaderError::Truncated => Error::HeaderTruncated,
        HeaderError::BadMagic => Error::HeaderBadMagic,
        HeaderError::Newer(found) => Error::NewerVersion {
            found,
            supported: FORMAT_VERSION,
        },
        HeaderError::Corrupted(reason) => Error::HeaderCorrupted { reason },
    })
}

impl TraceReader {
    /// Open the trace directory `path`: read and validate its header and open its streams.
    pub fn open(path: &Path) -> Result<TraceReader> {
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::NotATraceDir {
                    path: path.to_owned(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::TraceDirMissing {
                    path: path.to_owned(),
                })
            }
            Err(e) => return Err(Error::io("open", path, e)),
        }
        let header = read_header(path)?;
        let events = BufReader::with_capacity(64 * 1024, open_stream(&path.join(EVENTS_FILE))?);
        let data = open_stream(&path.join(DATA_FILE))?;
        Ok(TraceReader {
            dir: path.to_owned(),
            header,
            events,
            data,
            next: 0,
            done: false,
        })
    }

    /// A reader over in-memory or other non-file streams, for tests and fuzzing: `events` and
    /// `data` are brotli streams when `compressed`, else the raw bytes. `dir` is only used to
    /// find the store and name files in errors.
    #[doc(hidden)]
    pub fn from_streams(
        dir: &Path,
        header: Header,
        events: Box<dyn Read + Send>,
        data: Box<dyn Read + Send>,
        compressed: bool,
    ) -> TraceReader {
        TraceReader {
            dir: dir.to_owned(),
            header,
            events: BufReader::with_capacity(64 * 1024, Inflate::new(events, compressed)),
            data: Inflate::new(data, compressed),
            next: 0,
            done: false,
        }
    }

    /// Read only the header of the trace directory `path` (no streams are opened).
    pub fn read_header(path: &Path) -> Result<Header> {
        if !path.exists() {
            return Err(Error::TraceDirMissing {
                path: path.to_owned(),
            });
        }
        read_header(path)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The trace directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store holding the files this trace references.
    pub fn store_dir(&self) -> PathBuf {
        store_dir_for(&self.dir)
    }

    /// The number of the event the next call to `next_event` returns (= events read so far).
    pub fn events_read(&self) -> u64 {
        self.next
    }

    /// The next event, or `None` at the end of the trace. An incomplete trace (killed recorder)
    /// ends quietly after its last whole event; a complete one that ends early is an error.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        if self.done {
            return Ok(None);
        }
        let r = self.read_event();
        match r {
            Ok(Some(_)) => self.next += 1,
            _ => self.done = true,
        }
        match r {
            Err(Error::EventsTruncated { .. } | Error::DataTruncated { .. })
                if !self.header.complete =>
            {
                Ok(None)
            }
            r => r,
        }
    }

    fn stream_error(&self, what: Failure, reason: String) -> Error {
        let n = self.next;
        let path = self.dir.join(EVENTS_FILE);
        match what {
            Failure::Truncated => Error::EventsTruncated { event: n },
            Failure::Io(kind) => Error::io("read", path, io::Error::new(kind, reason)),
            Failure::Corrupted => Error::EventsCorrupted { event: n, reason },
        }
    }

    fn read_event(&mut self) -> Result<Option<Event>> {
        let msg = match capnp::serialize_packed::try_read_message(
            &mut self.events,
            codec::event_options(),
        ) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(None),
            Err(e) => {
                let what = failure(self.events.get_ref());
                let what = match (what, e.kind) {
                    // The brotli stream ended properly in the middle of a message.
                    (
                        Failure::Corrupted,
                        capnp::ErrorKind::PrematureEndOfFile
                        | capnp::ErrorKind::FailedToFillTheWholeBuffer
                        | capnp::ErrorKind::PrematureEndOfPackedInput
                        | capnp::ErrorKind::PackedInputDidNotEndCleanlyOnASegmentBoundary,
                    ) => {
                        return Err(Error::EventsCorrupted {
                            event: self.next,
                            reason: "the stream ends inside an event".into(),
                        })
                    }
                    (w, _) => w,
                };
                let reason = corruption_reason(self.events.get_ref(), &e);
                return Err(self.stream_error(what, reason));
            }
        };
        let msg = codec::bounded(msg);
        let root = match msg.get_root::<event::Reader>() {
            Ok(r) => r,
            Err(e) => return Err(self.stream_error(Failure::Corrupted, codec::lc(&e))),
        };
        let n = self.next;
        let data = &mut self.data;
        let data_path = self.dir.join(DATA_FILE);
        let mut fetch = |len: u64| -> Result<Vec<u8>> {
            let mut v = Vec::with_capacity(len.min(1 << 20) as usize);
            let r = (&mut *data).take(len).read_to_end(&mut v);
            let what = failure(data);
            match r {
                Ok(got) if got as u64 == len => Ok(v),
                Ok(_) => match what {
                    Failure::Truncated => Err(Error::DataTruncated { event: n }),
                    _ => Err(Error::DataCorrupted {
                        event: n,
                        reason: "the data stream ends early".into(),
                    }),
                },
                Err(e) => Err(match what {
                    Failure::Truncated => Error::DataTruncated { event: n },
                    Failure::Io(_) => Error::io("read", &data_path, e),
                    Failure::Corrupted => Error::DataCorrupted {
                        event: n,
                        reason: corruption_reason(data, &e),
                    },
                }),
            }
        };
        match codec::decode_event(root, &mut fetch) {
            Ok(ev) => Ok(Some(ev)),
            Err(DecodeError::Data(e)) => Err(e),
            Err(DecodeError::Malformed(reason)) => {
                Err(self.stream_error(Failure::Corrupted, reason))
            }
        }
    }

    /// Where the content of `f` is stored; an error if it is missing or has the wrong length.
    pub fn file_path(&self, f: &FileRef) -> Result<PathBuf> {
        if !codec::valid_hash(&f.hash) {
            return Err(Error::BadFileRef {
                hash: f.hash.clone(),
            });
        }
        let store = self.store_dir();
        let path = store.join(&f.hash);
        match fs::metadata(&path) {
            Ok(m) if m.len() == f.len => Ok(path),
            Ok(m) => Err(Error::StoredFileWrongLength {
                path,
                found: m.len(),
                expected: f.len,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::StoredFileMissing {
                hash: f.hash.clone(),
                store,
            }),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// Bytes the trace directory takes on disk (its own files, not the shared store).
    pub fn size_on_disk(&self) -> u64 {
        dir_size(&self.dir)
    }

    /// Bytes the distinct stored files among `files` take.
    pub fn store_size<'a>(&self, files: impl IntoIterator<Item = &'a FileRef>) -> u64 {
        let mut seen = std::collections::HashSet::new();
        files
            .into_iter()
            .filter(|f| seen.insert(&f.hash))
            .filter_map(|f| self.file_path(f).ok())
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

impl Iterator for TraceReader {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        self.next_event().transpose()
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
