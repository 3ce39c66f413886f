//! `dump TRACE`: every event, one per line (for debugging the tool and the program).

use std::io::Write;
use std::path::Path;

use pack::EventKind;

use crate::exit::Error;

pub fn run(trace: &Path) -> Result<(), Error> {
    let err = |source| Error::Trace {
        trace: trace.display().to_string(),
        source,
    };
    let mut reader = pack::TraceReader::open(trace).map_err(err)?;
    let mut out = std::io::stdout().lock();
    let mut n = 0u64;
    while let Some(ev) = reader.next_event().map_err(err)? {
        let what = match &ev.kind {
            EventKind::Exec { writes } => format!(
                "exec (stack of {} bytes)",
                writes.iter().map(|w| w.data.len()).sum::<usize>()
            ),
            EventKind::Syscall(s) => format!(
                "{}({}) = {:#x}{}{}",
                tracee::syscalls::name(s.no as i64),
                s.args
                    .iter()
                    .map(|a| format!("{a:#x}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.result,
                if s.writes.is_empty() {
                    String::new()
                } else {
                    format!(
                        " [{} bytes written]",
                        s.writes.iter().map(|w| w.data.len()).sum::<usize>()
                    )
                },
                s.file
                    .as_ref()
                    .map(|f| format!(" [file {}]", &f.hash[..12.min(f.hash.len())]))
                    .unwrap_or_default()
            ),
            EventKind::Rdtsc { value, aux } => format!(
                "rdtsc = {value:#x}{}",
                aux.map(|a| format!(" aux {a}")).unwrap_or_default()
            ),
            EventKind::Signal(s) => format!(
                "signal {} ({})",
                s.signo,
                if s.synchronous {
                    "synchronous"
                } else {
                    "asynchronous"
                }
            ),
            EventKind::Schedule { position: None } => "resume".into(),
            EventKind::Schedule { position: Some(p) } => format!(
                "preempted at {:#x}{}",
                p.pc,
                p.hits.map(|h| format!(" (hit {h})")).unwrap_or_default()
            ),
            EventKind::Exit { status } => format!("exit {status:?}"),
            EventKind::External(o) => {
                format!("child output to {:?} ({} bytes)", o.stream, o.copied.len())
            }
        };
        if writeln!(out, "{n:>8} {:>7} {what}", ev.tid).is_err() {
            break;
        }
        n += 1;
    }
    Ok(())
}
