//! Output to the recording's stdout and stderr, whatever wrote it: a write to fd 1, to a dup of
//! it, or bytes the kernel copied there (sendfile, splice, tee, copy_file_range). Each such call's
//! event says which stream it reached, and holds the bytes the kernel copied, so replay prints
//! exactly what the recording printed.

use pack::{Output, Stream};
use tracee::fds::{is_our_file, RemoteFd, Source};
use tracee::syscalls::{self, Call, Output as Sends};
use tracee::{Pid, RemotePtr};

use crate::error::{Error, Result};
use crate::session::RecordSession;

/// Which of the recording's streams fd `fd` of the program is (the same open file description as
/// our own fd 1 or 2, which the program inherited).
pub(crate) fn stream_of(pid: Pid, fd: u64) -> Option<Stream> {
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    match (is_our_file(pid, fd, 1), is_our_file(pid, fd, 2)) {
        // Both streams are one file (a terminal, `2>&1`): the fd's number decides.
        (true, true) if fd == 2 => Some(Stream::Stderr),
        (true, _) => Some(Stream::Stdout),
        (false, true) => Some(Stream::Stderr),
        (false, false) => None,
    }
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::Other(format!(
        "cannot read the bytes {what} sent to stdout or stderr: {e}"
    ))
}

/// How a call that copies from a pipe or socket to stdout or stderr is to run, so that the bytes
/// it takes are the ones kept at its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Copying {
    /// As the program asked (nothing waits to be copied, or all it asks for is there).
    AsAsked,
    /// Fewer bytes wait than it asks for: its length argument `arg` is lowered to those, `to`
    /// (a pipe or socket may return fewer bytes than asked; it must not take bytes that came
    /// after our look).
    Capped { arg: usize, to: u64 },
    /// Nothing waits on a blocking source: the call would block, then take bytes no one kept.
    /// It waits for input first (a poll on fd `fd` in its place), then enters again.
    Empty { fd: i32 },
}

/// At the entry of a call that copies from a pipe or socket to stdout or stderr: keep the bytes
/// waiting there, which the call takes away, and say how it must run to take only those.
pub(crate) fn on_entry(
    s: &mut RecordSession,
    tid: i32,
    no: i64,
    args: &[u64; 6],
) -> Result<Copying> {
    let Some(row) = syscalls::lookup(no) else {
        return Ok(Copying::AsAsked);
    };
    let Some(Sends::Copy { fd, from, .. }) = row.output else {
        return Ok(Copying::AsAsked);
    };
    if stream_of(s.leader, args[fd]).is_none() {
        return Ok(Copying::AsAsked);
    }
    let (len_arg, flags) = match no {
        libc::SYS_sendfile => (3, 0),
        libc::SYS_tee => (2, args[3]),
        _ => (4, args[5]),
    };
    let len = args[len_arg];
    let source = RemoteFd::get(s.leader, args[from] as i32).map_err(|e| io_error(row.name, e))?;
    if source.source().map_err(|e| io_error(row.name, e))? == Source::Seekable {
        return Ok(Copying::AsAsked);
    }
    let bytes = source
        .peek(len.min(64 << 20) as usize)
        .map_err(|e| io_error(row.name, e))?;
    let waiting = bytes.len() as u64;
    s.thread(tid).peeked = Some(bytes);
    if waiting == 0 {
        let nonblocking = flags & libc::SPLICE_F_NONBLOCK as u64 != 0
            || source.nonblocking().map_err(|e| io_error(row.name, e))?;
        if nonblocking || len == 0 {
            return Ok(Copying::AsAsked);
        }
        s.thread(tid).peeked = None;
        return Ok(Copying::Empty {
            fd: args[from] as i32,
        });
    }
    Ok(if waiting < len {
        Copying::Capped {
            arg: len_arg,
            to: waiting,
        }
    } else {
        Copying::AsAsked
    })
}

/// At the exit of a call that sent `call.result` bytes somewhere: what reached stdout or stderr.
pub(crate) fn on_exit(s: &mut RecordSession, tid: i32, call: &Call) -> Result<Option<Output>> {
    let peeked = s.thread(tid).peeked.take();
    let Some(row) = syscalls::lookup(call.no as i64) else {
        return Ok(None);
    };
    let Some(sends) = row.output else {
        return Ok(None);
    };
    if call.result <= 0 {
        return Ok(None);
    }
    let Some(stream) = stream_of(s.leader, call.args[sends.fd_arg()]) else {
        return Ok(None);
    };
    let copied = match sends {
        Sends::Buffer { .. } | Sends::Iovec { .. } => Vec::new(),
        Sends::Copy { from, offset, .. } => {
            let n = call.result as u64;
            match peeked {
                Some(mut bytes) => {
                    bytes.truncate(n as usize);
                    bytes
                }
                None => {
                    let source = RemoteFd::get(s.leader, call.args[from] as i32)
                        .map_err(|e| io_error(row.name, e))?;
                    // After the call, the offset (the u64 it points to, or the file position)
                    // stands right after the copied bytes.
                    let end = match offset.map(|i| call.args[i]).filter(|&p| p != 0) {
                        Some(ptr) => s.task(tid).read_u64(RemotePtr::new(ptr))?,
                        None => source.position().map_err(|e| io_error(row.name, e))?,
                    };
                    source
                        .read_at(end.saturating_sub(n), n as usize)
                        .map_err(|e| io_error(row.name, e))?
                }
            }
        }
    };
    Ok(Some(Output { stream, copied }))
}
