//! `pack TRACE [-o FILE]`, and packed files wherever a trace is read: `replay`, `info` and `dump`
//! unpack a packed trace (checksum verified) into `target/record-test/unpacked/<checksum>/` once,
//! then read that directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::exit::Error;
use crate::paths;

fn trace_err(trace: &Path) -> impl Fn(pack::Error) -> Error + '_ {
    move |source| Error::Trace {
        trace: trace.display().to_string(),
        source,
    }
}

/// Where `pack` puts its output by default: `NAME.crtpack` beside `NAME.trace`.
fn default_output(trace: &Path) -> PathBuf {
    let real = trace.canonicalize().unwrap_or_else(|_| trace.to_owned());
    let stem = real
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".trace").to_string())
        .unwrap_or_else(|| "trace".into());
    real.with_file_name(format!("{stem}.{}", pack::PACK_EXTENSION))
}

/// `pack`: write the packed file and say what went in.
pub fn run(trace: &Path, output: Option<PathBuf>) -> Result<PathBuf, Error> {
    let out = output.unwrap_or_else(|| default_output(trace));
    let started = Instant::now();
    let report = pack::pack(trace, &out, env!("CARGO_PKG_VERSION")).map_err(trace_err(trace))?;
    let secs = started.elapsed().as_secs_f64();
    for e in &report.entries {
        let name = match e.name.strip_prefix("files/") {
            Some(hash) => format!("files/{}", &hash[..16.min(hash.len())]),
            None => e.name.clone(),
        };
        eprintln!(
            "  {name:<24} {:>10}  {}",
            pack::human_bytes(e.len),
            if e.what == "trace" { "" } else { &e.what }
        );
    }
    if !report.has_executable {
        eprintln!(
            "warning: this trace was recorded before executables were stored; replaying the \
             packed file needs the program at its recorded path"
        );
    }
    eprintln!(
        "record-test: packed {} members, {} -> {} in {secs:.2} s: {}",
        report.entries.len(),
        pack::human_bytes(report.input_len),
        pack::human_bytes(report.packed_len),
        out.display()
    );
    println!("{}", out.display());
    Ok(out)
}

/// The trace directory to read for `path`: `path` itself, or for a packed file its unpacked copy.
pub fn resolve(path: &Path) -> Result<PathBuf, Error> {
    if !path.is_file() {
        return Ok(path.to_owned());
    }
    let err = trace_err(path);
    let h = pack::read_packed_header(path).map_err(&err)?;
    let dest = paths::trace_root().join("unpacked").join(&h.checksum[..16]);
    pack::unpack(path, &dest).map_err(&err)
}

/// For `info`: a line about the packed file itself (when `path` is one).
pub fn describe(path: &Path) -> Option<String> {
    let h = pack::read_packed_header(path).ok()?;
    Some(format!(
        "packed:    {} ({}, packed by cargo-record-test {}, checksum {} ok)\n",
        path.display(),
        pack::human_bytes(h.total_len),
        h.packed_by,
        &h.checksum[..16]
    ))
}
