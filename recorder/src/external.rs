//! Output of the program's child processes. Children are not traced (children.rs releases
//! them), and replay creates none, so what a child writes to the stdout or stderr it inherited
//! would reach the terminal in the recording and never in replay. So each child that inherited
//! the recording's stdout or stderr is given, before it is released, a pipe of ours in its place;
//! here those pipes are drained (every 10 ms by a thread of ours, and at once before the program's
//! own output and before every event), each byte is forwarded to the real stream as soon as it is
//! read, and what was forwarded becomes `External` events, written just before the next event.
//! Replay prints them at that point of the event stream: the bytes, and their order against the
//! program's own output, are the recording's.
//!
//! While one of the program's own output calls is in flight, nothing is forwarded (the children
//! wait on the pipe), so the two never interleave differently than the events say.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use pack::{Output, Stream};

/// How often the drainer looks at the pipes.
const DRAIN_EVERY: Duration = Duration::from_millis(10);

#[derive(Default)]
struct State {
    /// Read ends (non-blocking) and the stream each child's fds were.
    pipes: Vec<(File, Stream)>,
    /// Forwarded, not yet written as events.
    forwarded: Vec<Output>,
    /// Threads of the program inside an output call to stdout or stderr.
    held: BTreeSet<i32>,
    stop: bool,
}

impl State {
    /// Read every pipe empty, forward and keep what was read; drop pipes no one writes anymore.
    fn drain(&mut self) {
        let mut buf = vec![0u8; 64 << 10];
        let mut i = 0;
        while i < self.pipes.len() {
            let (file, stream) = &mut self.pipes[i];
            let stream = *stream;
            let mut closed = false;
            loop {
                match file.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        forward(stream, &buf[..n]);
                        match self.forwarded.last_mut() {
                            Some(o) if o.stream == stream => o.copied.extend_from_slice(&buf[..n]),
                            _ => self.forwarded.push(Output {
                                stream,
                                copied: buf[..n].to_vec(),
                            }),
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                self.pipes.remove(i);
            } else {
                i += 1;
            }
        }
    }
}

fn forward(stream: Stream, bytes: &[u8]) {
    let _ = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(bytes),
    };
}

/// The pipes of the children that write to the recording's stdout or stderr.
pub(crate) struct ExternalOutput {
    state: Arc<Mutex<State>>,
    drainer: Option<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl ExternalOutput {
    pub(crate) fn new() -> ExternalOutput {
        ExternalOutput {
            state: Arc::default(),
            drainer: None,
        }
    }

    /// Drain `read_end` (a pipe a child writes its stream `stream` to) from now on.
    pub(crate) fn add(&mut self, read_end: File, stream: Stream) {
        let nonblocking = nix::fcntl::fcntl(read_end.as_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map(nix::fcntl::OFlag::from_bits_truncate)
            .and_then(|fl| {
                nix::fcntl::fcntl(
                    read_end.as_fd(),
                    nix::fcntl::FcntlArg::F_SETFL(fl | nix::fcntl::OFlag::O_NONBLOCK),
                )
            });
        if nonblocking.is_err() {
            return;
        }
        lock(&self.state).pipes.push((read_end, stream));
        if self.drainer.is_none() {
            let state = Arc::clone(&self.state);
            // Our stop signals and SIGALRM must interrupt the main thread's waits, not this one.
            self.drainer = Some(tracee::interrupt::without_stop_signals(|| {
                std::thread::spawn(move || loop {
                    std::thread::sleep(DRAIN_EVERY);
                    let mut s = lock(&state);
                    if s.stop {
                        return;
                    }
                    if s.held.is_empty() {
                        s.drain();
                    }
                })
            }));
        }
    }

    /// Whether some child was given a pipe.
    pub(crate) fn active(&self) -> bool {
        self.drainer.is_some()
    }

    /// Everything the children wrote up to now, forwarded: the events to write next.
    pub(crate) fn take(&mut self) -> Vec<Output> {
        if !self.active() {
            return Vec::new();
        }
        let mut s = lock(&self.state);
        if s.held.is_empty() {
            s.drain();
        }
        std::mem::take(&mut s.forwarded)
    }

    /// Thread `tid` enters an output call to stdout or stderr: forward what the children wrote
    /// before it, then nothing until it is out.
    pub(crate) fn hold(&mut self, tid: i32) {
        if self.active() {
            let mut s = lock(&self.state);
            if s.held.is_empty() {
                s.drain();
            }
            s.held.insert(tid);
        }
    }

    /// Thread `tid` is out of its syscall (or gone).
    pub(crate) fn release(&mut self, tid: i32) {
        if self.active() {
            lock(&self.state).held.remove(&tid);
        }
    }

    /// The program ended: what is left in the pipes; then stop draining. Writes of processes
    /// that outlive the program fail from here on (EPIPE), as they would not be in the trace.
    pub(crate) fn finish(&mut self) -> Vec<Output> {
        if !self.active() {
            return Vec::new();
        }
        let left = {
            let mut s = lock(&self.state);
            s.drain();
            std::mem::take(&mut s.forwarded)
        };
        if let Some(d) = self.drainer.take() {
            {
                let mut s = lock(&self.state);
                s.stop = true;
                s.pipes.clear();
            }
            let _ = d.join();
        }
        left
    }
}

impl Drop for ExternalOutput {
    fn drop(&mut self) {
        self.finish();
    }
}
