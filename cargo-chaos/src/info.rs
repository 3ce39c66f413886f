//! `info TRACE`: what is in a trace.

use std::path::Path;

use crate::exit::Error;

pub fn run(trace: &Path) -> Result<(), Error> {
    let err = |source| Error::Trace {
        trace: trace.display().to_string(),
        source,
    };
    let reader = pack::TraceReader::open(trace).map_err(err)?;
    let summary = pack::summarize(reader).map_err(err)?;
    let name = |no: u32| tracee::syscalls::name(no as i64);
    let text = summary.display_with(&name).to_string();
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(())
}
