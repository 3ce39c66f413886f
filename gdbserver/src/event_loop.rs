//! Running what gdb asked for. The stepper blocks while it runs, so a watcher thread looks at
//! the connection meanwhile: gdb's Ctrl-C (a 0x03 byte) sets the stepper's interrupt flag. The
//! watcher only ever consumes that byte, and only while a command runs.

use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gdbstub::conn::Connection;
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::MultiThreadStopReason;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use replayer::{Direction, RunCommand, StopReason};

use crate::error::Error;
use crate::target::ReplayTarget;

/// gdb's interrupt request.
const CTRL_C: u8 = 0x03;

/// Sets the stepper's interrupt flag when gdb sends Ctrl-C while `running` is set.
pub(crate) struct CtrlCWatcher {
    running: Arc<AtomicBool>,
}

impl CtrlCWatcher {
    pub(crate) fn start(stream: &TcpStream, interrupt: Arc<AtomicBool>) -> std::io::Result<Self> {
        let stream = stream.try_clone()?;
        let running = Arc::new(AtomicBool::new(false));
        let r = running.clone();
        std::thread::Builder::new()
            .name("gdb-ctrl-c".into())
            .spawn(move || watch(stream, r, interrupt))?;
        Ok(CtrlCWatcher { running })
    }
}

fn watch(stream: TcpStream, running: Arc<AtomicBool>, interrupt: Arc<AtomicBool>) {
    loop {
        if !running.load(Ordering::SeqCst) {
            std::thread::park_timeout(Duration::from_millis(50));
            if Arc::strong_count(&running) == 1 {
                return; // the server is gone
            }
            continue;
        }
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(20u8)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let mut b = [0u8; 1];
        match stream.peek(&mut b) {
            Ok(0) | Err(_) => return, // closed
            Ok(_) if b[0] == CTRL_C && running.load(Ordering::SeqCst) => {
                let _ = std::io::Read::read(&mut &stream, &mut b);
                interrupt.store(true, Ordering::SeqCst);
            }
            // Anything else is the next packet, for gdbstub once the command is done.
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The blocking event loop over a TCP connection.
pub(crate) enum ReplayEventLoop {}

impl ReplayTarget {
    /// Run the pending command (a continue if gdb resumed without one).
    pub(crate) fn run_pending(&mut self) -> Result<StopReason, Error> {
        let (cmd, dir) = self
            .pending
            .take()
            .unwrap_or((RunCommand::Continue, Direction::Forward));
        let interrupt = self.session.interrupt_handle();
        interrupt.store(false, Ordering::SeqCst);
        if let Some(w) = &self.watcher {
            w.running.store(true, Ordering::SeqCst);
        }
        let r = self.session.resume(cmd, dir);
        if let Some(w) = &self.watcher {
            w.running.store(false, Ordering::SeqCst);
        }
        Ok(r?)
    }
}

impl BlockingEventLoop for ReplayEventLoop {
    type Target = ReplayTarget;
    type Connection = TcpStream;
    type StopReason = MultiThreadStopReason<u64>;

    fn wait_for_stop_reason(
        target: &mut ReplayTarget,
        _conn: &mut TcpStream,
    ) -> Result<
        Event<Self::StopReason>,
        WaitForStopReasonError<Error, <TcpStream as Connection>::Error>,
    > {
        let stop = target
            .run_pending()
            .map_err(WaitForStopReasonError::Target)?;
        Ok(Event::TargetStopped(crate::stop::to_gdb(stop)))
    }

    /// A Ctrl-C gdbstub saw while the program was stopped: nothing runs, so nothing to stop.
    fn on_interrupt(_target: &mut ReplayTarget) -> Result<Option<Self::StopReason>, Error> {
        Ok(None)
    }
}
