//! `replay` under gdb: the replay stepper served over the gdb remote protocol on 127.0.0.1,
//! with rust-gdb (else gdb) launched on it, or only the server (`--serve PORT`) for IDEs and
//! scripts. `-g EVENT` runs the replay to that event before gdb connects.

use std::io::IsTerminal;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::Duration;

use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::{tcgetpgrp, tcsetpgrp, Pid};
use replayer::{Direction, ReplaySession, RunCommand, StopReason};

use crate::exit::Error;

/// What `replay` without `-a` does.
pub struct GdbRequest {
    pub trace: PathBuf,
    /// Only serve, on this port; else launch gdb on a free one.
    pub serve: Option<u16>,
    /// Start at this event.
    pub goto: Option<u64>,
}

pub fn run(req: GdbRequest, mut session: ReplaySession) -> Result<ExitCode, Error> {
    let trace = req.trace.display().to_string();
    let replay_err = |source| Error::Replay {
        trace: trace.clone(),
        source,
    };
    if let Some(n) = req.goto {
        let count = session.event_count();
        if n >= count {
            return Err(Error::Usage(format!(
                "-g {n}: the trace has events 0 to {}",
                count.saturating_sub(1)
            )));
        }
        let stop = session
            .resume(RunCommand::ToEvent(n), Direction::Forward)
            .map_err(replay_err)?;
        if !matches!(stop, StopReason::Event { .. }) {
            eprintln!("note: the replay stopped before event {n}: {stop:?}");
        }
    }
    let port = req.serve.unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|source| Error::Io {
        message: format!("cannot listen on 127.0.0.1:{port}"),
        source,
    })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    let served = if req.serve.is_some() {
        eprintln!(
            "serving the replay to gdb on 127.0.0.1:{port} (in gdb: target remote 127.0.0.1:{port})"
        );
        gdbserver::serve_one(session, &listener)
    } else {
        let mut gdb = launch(port)?;
        let terminal = Terminal::give_to(&gdb);
        let r = match accept_while_alive(&listener, &mut gdb) {
            Some(stream) => gdbserver::serve(session, stream),
            None => {
                drop(terminal);
                return Err(Error::Usage(
                    "gdb exited before connecting to the replay".into(),
                ));
            }
        };
        let _ = gdb.wait();
        drop(terminal);
        r
    };
    match served {
        Ok((_, session)) => {
            drop(session); // kills the replayed process
            Ok(ExitCode::SUCCESS)
        }
        Err(gdbserver::Error::Replay(source)) => Err(replay_err(source)),
        Err(gdbserver::Error::Connection(source)) => Err(Error::Io {
            message: "the gdb connection failed".into(),
            source,
        }),
        Err(e @ gdbserver::Error::Protocol(_)) => Err(Error::Io {
            message: "the gdb session failed".into(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// rust-gdb when it is on PATH (Rust's pretty-printers), else gdb.
fn debugger() -> &'static str {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| is_executable(&d.join(name))))
    };
    if on_path("rust-gdb") && on_path("rustc") {
        "rust-gdb"
    } else {
        "gdb"
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// gdb in its own process group (so a Ctrl-C at the terminal reaches gdb, which passes it on
/// as an interrupt, and not the replay), connecting to the server.
fn launch(port: u16) -> Result<Child, Error> {
    use std::os::unix::process::CommandExt;
    let gdb = debugger();
    Command::new(gdb)
        .arg("-q")
        // The server is on this machine: gdb reads the files it names (the trace's stored
        // copies) itself.
        .args(["-ex", "set sysroot /"])
        .args(["-ex", &format!("target remote 127.0.0.1:{port}")])
        .process_group(0)
        .spawn()
        .map_err(|source| Error::Io {
            message: format!("cannot run {gdb} (install gdb, or use --serve PORT)"),
            source,
        })
}

/// The connection of `gdb`, or None once it has exited without connecting.
fn accept_while_alive(listener: &TcpListener, gdb: &mut Child) -> Option<std::net::TcpStream> {
    listener.set_nonblocking(true).ok()?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                return Some(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if !matches!(gdb.try_wait(), Ok(None)) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => return None,
        }
    }
}

/// The terminal's foreground process group handed to gdb, and taken back on drop.
struct Terminal {
    ours: Option<Pid>,
}

impl Terminal {
    fn give_to(gdb: &Child) -> Terminal {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Terminal { ours: None };
        }
        let Ok(ours) = tcgetpgrp(&stdin) else {
            return Terminal { ours: None };
        };
        let child = Pid::from_raw(gdb.id() as i32);
        if tcsetpgrp(&stdin, child).is_err() {
            return Terminal { ours: None };
        }
        // gdb may have touched the terminal before it was its own and been stopped for it.
        let _ = kill(child, Signal::SIGCONT);
        Terminal { ours: Some(ours) }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(ours) = self.ours {
            // From the background, taking the terminal back raises SIGTTOU unless blocked.
            let mut set = SigSet::empty();
            set.add(Signal::SIGTTOU);
            let _ = set.thread_block();
            let _ = tcsetpgrp(std::io::stdin(), ours);
            let _ = set.thread_unblock();
        }
    }
}
