//! A gdb remote-protocol server (gdbstub) over the replay stepper: breakpoints, watchpoints,
//! threads (recorded ids), stepping and continuing both ways, `monitor when`, and the
//! executable, auxv and libraries of the replay so gdb loads the recorded binaries' symbols.

mod arch;
mod auxv;
mod base;
mod breakpoints;
mod error;
mod event_loop;
mod exec_file;
mod libraries;
mod monitor;
mod regs;
mod resume;
mod reverse;
mod stop;
mod target;
mod threads;
mod watchpoints;

use std::net::{TcpListener, TcpStream};

use gdbstub::stub::{DisconnectReason, GdbStub, GdbStubError};

use replayer::ReplaySession;

pub use arch::{LinuxRegs, X86_64Linux};
pub use error::{Error, Result};
pub use target::ReplayTarget;

/// How a gdb session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// gdb detached or closed the connection.
    Disconnected,
    /// gdb killed the program (`kill`, or `quit` while attached).
    Killed,
}

/// Wait for gdb on `listener` (one connection) and serve it the replay.
pub fn serve_one(
    session: ReplaySession,
    listener: &TcpListener,
) -> Result<(Ending, ReplaySession)> {
    let (stream, _) = listener.accept().map_err(Error::Connection)?;
    serve(session, stream)
}

/// Serve the replay to gdb over `stream` until gdb leaves; gives the session back.
pub fn serve(mut session: ReplaySession, stream: TcpStream) -> Result<(Ending, ReplaySession)> {
    // Going back starts from the nearest earlier checkpoint.
    session.enable_checkpoints();
    stream.set_nodelay(true).map_err(Error::Connection)?;
    let mut target = ReplayTarget::new(session);
    target.watcher = Some(
        event_loop::CtrlCWatcher::start(&stream, target.session.interrupt_handle())
            .map_err(Error::Connection)?,
    );
    let stub = GdbStub::new(stream);
    let r = stub.run_blocking::<event_loop::ReplayEventLoop>(&mut target);
    target.watcher = None;
    let ending = match r {
        Ok(DisconnectReason::Kill) => Ending::Killed,
        Ok(_) => Ending::Disconnected,
        Err(e) => return Err(stub_error(e)),
    };
    Ok((ending, target.into_session()))
}

/// gdbstub's error as ours: the target's own, a lost connection, or a protocol failure.
fn stub_error(e: GdbStubError<Error, std::io::Error>) -> Error {
    if e.is_target_error() {
        if let Some(e) = e.into_target_error() {
            return e;
        }
        return Error::Protocol("target error".into());
    }
    if e.is_connection_error() {
        let text = e.to_string();
        return match e.into_connection_error() {
            Some((e, _)) => Error::Connection(e),
            None => Error::Protocol(text),
        };
    }
    Error::Protocol(e.to_string())
}
