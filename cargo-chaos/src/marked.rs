//! `replay -a -M`: the autopilot with each output the program wrote tagged with its event
//! number (`[event N] `), the number `monitor when` prints and `replay -g N` starts at. The
//! replay runs to each output event with the stepper; the tag goes to the same stream just
//! before the output.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use pack::{EventKind, ExitStatus, Stream, TraceReader};
use replayer::{Direction, ReplaySession, RunCommand};

use crate::exit::Error;

/// The trace's output events (number, stream) and how the program ended.
struct Outputs {
    events: Vec<(u64, Stream)>,
    exit: Option<ExitStatus>,
}

fn output_events(trace: &Path) -> Result<Outputs, pack::Error> {
    let mut reader = TraceReader::open(trace)?;
    let mut out = Vec::new();
    let mut exit = None;
    let mut n = 0u64;
    while let Some(ev) = reader.next_event()? {
        match &ev.kind {
            EventKind::Syscall(s) if s.result > 0 => {
                if let Some(o) = &s.output {
                    out.push((n, o.stream));
                }
            }
            // The last exit is the process's.
            EventKind::Exit { status } => exit = Some(*status),
            _ => {}
        }
        n += 1;
    }
    Ok(Outputs { events: out, exit })
}

pub fn run(trace: &Path, mut session: ReplaySession) -> Result<ExitCode, Error> {
    let trace_err = |source| Error::Trace {
        trace: trace.display().to_string(),
        source,
    };
    let replay_err = |source| Error::Replay {
        trace: trace.display().to_string(),
        source,
    };
    let outputs = output_events(trace).map_err(trace_err)?;
    for (n, stream) in outputs.events {
        if n < session.when() {
            continue;
        }
        session
            .resume(RunCommand::ToEvent(n), Direction::Forward)
            .map_err(replay_err)?;
        let tag = format!("[event {n}] ");
        let _ = match stream {
            Stream::Stdout => std::io::stdout().lock().write_all(tag.as_bytes()),
            Stream::Stderr => std::io::stderr().lock().write_all(tag.as_bytes()),
        };
        let _ = std::io::stdout().flush();
    }
    session
        .resume(RunCommand::Continue, Direction::Forward)
        .map_err(replay_err)?;
    Ok(crate::record::exit_like(outputs.exit))
}
