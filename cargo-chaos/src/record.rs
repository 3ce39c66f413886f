//! `record`: one run of a program under the recorder, with what a job runner needs: a result
//! file, keeping the trace only on failure, and trace names from nextest's environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pack::ExitStatus;

use crate::exit::{self, Error};
use crate::paths;
use crate::result_file::{ErrorKind, RunEnd, RunResult, SCHEMA_VERSION};

/// When `record` keeps the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Keep {
    /// Always keep it.
    Always,
    /// Delete it when the program exited with status 0.
    OnFailure,
}

/// Everything `record` was asked.
#[derive(Debug)]
pub struct RecordRequest {
    pub output: Option<PathBuf>,
    pub chaos: Option<recorder::ChaosOptions>,
    pub result_file: Option<PathBuf>,
    pub keep: Keep,
    pub nextest: bool,
    /// Secret-looking variables to pass on anyway under CI (`record --keep-env`).
    pub keep_env: Vec<String>,
    pub command: Vec<OsString>,
}

pub fn run(req: RecordRequest) -> Result<ExitCode, Error> {
    let RecordRequest {
        output,
        chaos,
        result_file,
        keep,
        nextest,
        keep_env,
        mut command,
    } = req;
    let seed = chaos.as_ref().map(|c| c.seed);
    let program = command.remove(0);
    let pname = program.to_string_lossy().into_owned();
    let default_place = output.is_none() && !nextest;
    let output = match output {
        Some(o) => o,
        None if nextest => {
            let p = paths::nextest_trace_path(Path::new(&program)).map_err(Error::Usage)?;
            std::path::absolute(&p).unwrap_or(p)
        }
        None => paths::new_trace_path(&pname),
    };
    if let Some(parent) = output.parent() {
        if !parent.as_os_str().is_empty() {
            let _ = std::fs::create_dir_all(parent);
        }
    }
    let result = |end: RunEnd, kept: bool| RunResult {
        schema_version: SCHEMA_VERSION,
        end,
        trace: Some(output.clone()),
        trace_kept: kept,
        seed,
    };
    let write_result = |r: &RunResult| -> Result<(), Error> {
        match &result_file {
            Some(p) => r.write(p).map_err(|e| Error::ResultFile {
                path: p.display().to_string(),
                source: e,
            }),
            None => Ok(()),
        }
    };
    let err = |source| Error::Record {
        program: pname.clone(),
        source,
    };
    let session = match recorder::RecordSession::start(recorder::RecordOptions {
        program,
        args: command,
        output: output.clone(),
        chaos,
        env: crate::secrets::record_env(&keep_env),
    }) {
        Ok(s) => s,
        Err(e) => {
            let e = err(e);
            write_result(&RunResult {
                trace: None,
                trace_kept: false,
                ..result(recorder_error(&e), false)
            })?;
            return Err(e);
        }
    };
    let outcome = session.run();
    if default_place {
        paths::set_latest(&output);
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let e = match e {
                recorder::Error::Other(m) if m.starts_with("recording interrupted") => {
                    Error::Interrupted {
                        program: pname,
                        trace: output.display().to_string(),
                        doing: m
                            .split_once("; ")
                            .map(|(_, d)| d.to_string())
                            .unwrap_or_default(),
                    }
                }
                e => err(e),
            };
            write_result(&result(recorder_error(&e), output.exists()))?;
            return Err(e);
        }
    };
    let end = match outcome.exit {
        Some(ExitStatus::Exited(code)) => RunEnd::Exited { code },
        Some(ExitStatus::Signaled { signal, .. }) => RunEnd::Signaled { signal },
        None => RunEnd::RecorderError {
            kind: ErrorKind::Internal,
            message: "the recording ended without an exit status".into(),
        },
    };
    for w in &outcome.warnings {
        eprintln!("record-test: warning: {w}");
    }
    let passed = matches!(end, RunEnd::Exited { code: 0 });
    if !passed {
        if let Some(note) = crate::timing::late_wakes_note(&output) {
            eprintln!("record-test: note: {note}");
        }
    }
    let kept = !(passed && keep == Keep::OnFailure);
    if !kept {
        let _ = std::fs::remove_dir_all(&output);
    }
    write_result(&result(end, kept))?;
    if kept && (default_place || nextest) {
        eprintln!("record-test: trace saved to {}", output.display());
    }
    if kept && !passed && keep == Keep::OnFailure {
        eprintln!(
            "record-test: replay the failing run with: cargo record-test replay -a {}",
            shell_quote(&output.display().to_string())
        );
    }
    Ok(exit_like(outcome.exit))
}

/// The result-file description of a recorder error.
fn recorder_error(e: &Error) -> RunEnd {
    let kind = match e.exit_code_number() {
        exit::UNSUPPORTED => ErrorKind::Unsupported,
        exit::INTERRUPTED => ErrorKind::Interrupted,
        exit::BAD_INPUT => ErrorKind::BadInput,
        _ => ErrorKind::Internal,
    };
    let message = match e {
        // A job runner's timeout: what the program was doing then is the news.
        Error::Interrupted { doing, .. } if !doing.is_empty() => doing.clone(),
        e => exit::one_line(e),
    };
    RunEnd::RecorderError { kind, message }
}

/// Exit the way the program did: its code, or death by its signal.
pub fn exit_like(status: Option<ExitStatus>) -> ExitCode {
    match status {
        Some(ExitStatus::Exited(code)) => ExitCode::from(code as u8),
        Some(ExitStatus::Signaled { signal, .. }) => tracee::interrupt::die_of_signal(signal),
        None => ExitCode::from(exit::INTERNAL),
    }
}

/// Quote a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
