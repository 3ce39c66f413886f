//! Shared helpers for the end-to-end tests: locate and build the binaries, run a command with a
//! timeout (killing its whole process group when it expires), compare two runs byte for byte, and
//! check that a failing command failed cleanly (one `error:` line, no panic).

pub mod thirdparty;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Exit code of `cargo-record-test` for usage errors and bad input (missing program, missing or
/// corrupt trace).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code of `cargo-record-test replay` when the replay diverged from the trace.
pub const EXIT_DIVERGED: i32 = 3;
/// Exit code of `cargo-record-test record` when the program made a syscall the table lacks.
pub const EXIT_UNSUPPORTED_SYSCALL: i32 = 4;

/// How a process ended, comparable across runs (a core dump flag is ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Status {
    /// The status of a finished process.
    pub fn of(status: ExitStatus) -> Status {
        match (status.code(), status.signal()) {
            (Some(code), _) => Status::Code(code),
            (None, Some(sig)) => Status::Signal(sig),
            (None, None) => Status::Code(-1),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Status::Code(c) => write!(f, "exit code {c}"),
            Status::Signal(s) => {
                let name = nix::sys::signal::Signal::try_from(s)
                    .map(|s| s.as_str())
                    .unwrap_or("?");
                write!(f, "signal {s} ({name})")
            }
        }
    }
}

/// What a finished command produced.
#[derive(Clone, Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// How it ended.
    pub status: Status,
    /// Its standard output bytes.
    pub stdout: Vec<u8>,
    /// Its standard error bytes.
    pub stderr: Vec<u8>,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

impl Output {
    /// Standard output, lossily decoded.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error, lossily decoded.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A short description for failure messages: command, status, time and both outputs (cut).
    pub fn describe(&self) -> String {
        format!(
            "`{}` ended with {} after {:.3} s\n--- stdout ({} bytes) ---\n{}\n--- stderr ({} bytes) ---\n{}",
            self.command,
            self.status,
            self.elapsed.as_secs_f64(),
            self.stdout.len(),
            excerpt(&self.stdout, 2000),
            self.stderr.len(),
            excerpt(&self.stderr, 4000),
        )
    }
}

/// The start and the end of `bytes`, lossily decoded, at most about `max` bytes.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let half = max / 2;
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        String::from_utf8_lossy(&bytes[..half]),
        bytes.len() - 2 * half,
        String::from_utf8_lossy(&bytes[bytes.len() - half..])
    )
}

/// Render a command line for messages.
pub fn command_line(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$;|&".contains(c)) {
            s.push('\'');
            s.push_str(&a.replace('\'', "'\\''"));
            s.push('\'');
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// What to give a command on standard input.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// `/dev/null`.
    Null,
    /// These bytes through a pipe, then end of file.
    Bytes(&'a [u8]),
}

fn reader<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let res = r.read_to_end(&mut buf).map(|_| buf);
        let _ = tx.send(res);
    });
    rx
}

/// Run `cmd` to its end with `input` on stdin, capturing stdout and stderr. The command runs in
/// its own process group; if it has not exited after `timeout`, the whole group is killed with
/// SIGKILL and an error is returned. Also an error: its output pipes still held open 10 s after it
/// exited (a leftover process, e.g. an orphaned tracee).
pub fn run_with_timeout(
    cmd: &mut Command,
    input: Input<'_>,
    timeout: Duration,
) -> Result<Output, String> {
    run_with_signal(cmd, input, timeout, None)
}

/// A signal to send while a command runs: after `after`, send `signal` to the command's process
/// (or to its whole process group with `group`, as a terminal's Ctrl-C does).
#[derive(Clone, Copy, Debug)]
pub struct SendSignal {
    /// How long after the spawn.
    pub after: Duration,
    /// Which signal.
    pub signal: nix::sys::signal::Signal,
    /// To the process group rather than the process alone.
    pub group: bool,
}

/// [`run_with_timeout`], sending a signal on the way if `send` says so (unless the command
/// has already ended).
pub fn run_with_signal(
    cmd: &mut Command,
    input: Input<'_>,
    timeout: Duration,
    mut send: Option<SendSignal>,
) -> Result<Output, String> {
    let command = command_line(cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(match input {
        Input::Null => Stdio::null(),
        Input::Bytes(_) => Stdio::piped(),
    });
    cmd.process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot spawn `{command}`: {e}"))?;
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let stdout = reader(child.stdout.take().expect("piped stdout"));
    let stderr = reader(child.stderr.take().expect("piped stderr"));
    let writer = match (input, child.stdin.take()) {
        (Input::Bytes(bytes), Some(mut stdin)) => {
            let bytes = bytes.to_vec();
            Some(thread::spawn(move || {
                // The program may exit without reading everything: ignore EPIPE.
                let _ = stdin.write_all(&bytes);
            }))
        }
        _ => None,
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for `{command}`: {e}")),
        }
        if let Some(sig) = send.filter(|s| start.elapsed() >= s.after) {
            send = None;
            let _ = if sig.group {
                nix::sys::signal::killpg(pgid, sig.signal)
            } else {
                nix::sys::signal::kill(pgid, sig.signal)
            };
        }
        if start.elapsed() > timeout {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            let out = stdout
                .recv_timeout(Duration::from_secs(5))
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let err = stderr
                .recv_timeout(Duration::from_secs(5))
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            return Err(format!(
                "`{command}` did not finish within {:.0} s (killed its process group)\n--- stdout ---\n{}\n--- stderr ---\n{}",
                timeout.as_secs_f64(),
                excerpt(&out, 2000),
                excerpt(&err, 4000)
            ));
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    // Anything left in the group (a tracee that outlived its recorder) is a bug: note it, then
    // kill it so that it cannot hang the test run.
    // A process that is being killed with its tracer may need a moment to go away.
    let mut leftover = nix::sys::signal::killpg(pgid, None).is_ok();
    let grace = Instant::now();
    while leftover && grace.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(20));
        leftover = nix::sys::signal::killpg(pgid, None).is_ok();
    }
    if leftover {
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
    let grab = |rx: mpsc::Receiver<std::io::Result<Vec<u8>>>, what: &str| match rx
        .recv_timeout(Duration::from_secs(10))
    {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(format!("cannot read {what} of `{command}`: {e}")),
        Err(_) => Err(format!(
            "{what} of `{command}` still open 10 s after it exited: a leftover process holds it"
        )),
    };
    let stdout = grab(stdout, "stdout")?;
    let stderr = grab(stderr, "stderr")?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    let out = Output {
        command,
        status: Status::of(status),
        stdout,
        stderr,
        elapsed,
    };
    if leftover {
        return Err(format!(
            "processes of its group outlived `{}` (killed them)\n{}",
            out.command,
            out.describe()
        ));
    }
    Ok(out)
}

/// Where the first difference between `a` and `b` lies, with some context, or `None`.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<String> {
    if a == b {
        return None;
    }
    let at = a
        .iter()
        .zip(b.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(60);
    let ctx = |s: &[u8]| {
        let end = (at + 60).min(s.len());
        format!("{:?}", String::from_utf8_lossy(&s[from.min(s.len())..end]))
    };
    Some(format!(
        "lengths {} and {}, first difference at byte {at}:\n    {}\n    {}",
        a.len(),
        b.len(),
        ctx(a),
        ctx(b)
    ))
}

/// A recording's stderr without the recorder's own last words (`record-test: warning: ...`,
/// `record-test: note: ...`, printed after the program ended).
pub fn program_stderr(stderr: &[u8]) -> &[u8] {
    let mut end = stderr.len();
    loop {
        let body = &stderr[..end];
        let body = body.strip_suffix(b"\n").unwrap_or(body);
        let start = body.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        if end == 0 || !body[start..].starts_with(b"record-test: ") {
            return &stderr[..end];
        }
        end = start;
    }
}

/// Compare two runs: stdout bytes, the program's stderr bytes ([`program_stderr`]) and status
/// must be identical. `a_name` and `b_name` name the runs in the message.
pub fn compare_runs(a_name: &str, a: &Output, b_name: &str, b: &Output) -> Result<(), String> {
    let mut problems = String::new();
    if a.status != b.status {
        let _ = writeln!(
            problems,
            "status differs: {a_name} {}, {b_name} {}",
            a.status, b.status
        );
    }
    if let Some(d) = first_difference(&a.stdout, &b.stdout) {
        let _ = writeln!(problems, "stdout differs ({a_name} vs {b_name}): {d}");
    }
    if let Some(d) = first_difference(program_stderr(&a.stderr), program_stderr(&b.stderr)) {
        let _ = writeln!(problems, "stderr differs ({a_name} vs {b_name}): {d}");
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{problems}\n{a_name}: {}\n\n{b_name}: {}",
            a.describe(),
            b.describe()
        ))
    }
}

/// Text that shows a Rust panic in `cargo-record-test` itself.
pub fn has_panic_text(stderr: &[u8]) -> bool {
    let s = String::from_utf8_lossy(stderr);
    s.contains("panicked") || s.contains("RUST_BACKTRACE")
}

/// Check that `out` is a clean failure of the tool with `code`: the status, an `error: ...` line
/// on stderr followed only by `caused by:` lines, and no panic text.
///
/// With `strict`, the error must be all of stderr (the first line is `error: ...`). Without it
/// (a replay that failed half way, after echoing recorded output), the error must be the last
/// block of stderr, and stdout may hold anything.
pub fn check_clean_error(out: &Output, code: i32, strict: bool) -> Result<(), String> {
    let mut problems = Vec::new();
    if out.status != Status::Code(code) {
        problems.push(format!(
            "expected exit code {code}, got {}{}",
            out.status,
            match out.status {
                Status::Code(EXIT_DIVERGED) => " (the code for a diverged replay)",
                Status::Code(0) => " (success)",
                Status::Signal(_) => " (the tool died of a signal)",
                _ => "",
            }
        ));
    }
    if has_panic_text(&out.stderr) {
        problems.push("stderr shows a panic".to_string());
    }
    let text = out.stderr_str();
    let lines: Vec<&str> = text.lines().collect();
    let error_at = if strict {
        (lines.first().is_some_and(|l| l.starts_with("error: "))).then_some(0)
    } else {
        lines.iter().rposition(|l| l.starts_with("error: "))
    };
    match error_at {
        None => problems.push(if strict {
            "stderr must start with one `error: ...` line".to_string()
        } else {
            "stderr has no `error: ...` line".to_string()
        }),
        Some(i) => {
            if lines[i].trim_end() == "error:" {
                problems.push("the error line says nothing".to_string());
            }
            if let Some(extra) = lines[i + 1..]
                .iter()
                .find(|l| !l.trim_start().starts_with("caused by:"))
            {
                problems.push(format!(
                    "after the `error:` line only `caused by:` lines may follow, found {extra:?}"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "not a clean error: {}\n{}",
            problems.join("; "),
            out.describe()
        ))
    }
}

/// A directory under the system temp dir with a unique name, removed on drop unless
/// [`TempDir::keep`] was called (or the env var `CRT_KEEP_TEMP` is set).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Create `$TMPDIR/crt-e2e-LABEL-PID-NANOS-N/`.
    pub fn new(label: &str) -> std::io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "crt-e2e-{label}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir {
            path,
            keep: std::env::var_os("CRT_KEEP_TEMP").is_some(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Do not remove the directory on drop (to look at the traces of a failed test).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The binaries under test, built once per test process ([`build_binaries`]).
pub fn binaries() -> Result<&'static Binaries, String> {
    static BINARIES: std::sync::OnceLock<Result<Binaries, String>> = std::sync::OnceLock::new();
    BINARIES
        .get_or_init(build_binaries)
        .as_ref()
        .map_err(Clone::clone)
}

/// Where the binaries under test live.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `target/` (or `$CARGO_TARGET_DIR`).
    pub target_dir: PathBuf,
    /// The cargo profile name (`dev`, `release`, ...).
    pub profile: String,
    /// `target/<profile dir>/`.
    pub profile_dir: PathBuf,
    /// `cargo-record-test`.
    pub crt: PathBuf,
    /// Executables cargo reported: bin names and test target names to paths.
    pub executables: BTreeMap<String, PathBuf>,
}

impl Binaries {
    /// `cargo-record-test ARGS` in `dir`, with nothing from the environment that changes what
    /// it does (`CI`, `CRT_SCRUB_ENV`, `CRT_DEBUG`), run to its end within `CRT_TIMEOUT_SECS`
    /// (120).
    pub fn crt(&self, dir: &Path, args: &[&str]) -> Result<Output, String> {
        self.crt_env(dir, args, &[])
    }

    /// [`Binaries::crt`] with these environment variables set.
    pub fn crt_env(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Output, String> {
        let mut c = Command::new(&self.crt);
        c.current_dir(dir)
            .env_remove("CI")
            .env_remove("CRT_SCRUB_ENV")
            .env_remove("CRT_DEBUG")
            .args(args)
            .envs(env.iter().copied());
        let timeout = Duration::from_secs(env_number("CRT_TIMEOUT_SECS", 120));
        run_with_timeout(&mut c, Input::Null, timeout)
    }

    /// Record `program args` into `dir/NAME.trace`: the trace and what the recording printed.
    pub fn record(
        &self,
        dir: &Path,
        name: &str,
        program: &Path,
        args: &[&str],
    ) -> Result<(PathBuf, Output), String> {
        let trace = dir.join(format!("{name}.trace"));
        let (t, p) = (path_utf8(&trace)?, path_utf8(program)?);
        let mut a = vec!["record", "-o", t, "--", p];
        a.extend_from_slice(args);
        let out = self.crt(dir, &a)?;
        Ok((trace, out))
    }

    /// The path of an example binary (`examples/src/bin/NAME.rs`) or test target.
    pub fn example(&self, name: &str) -> PathBuf {
        self.executables
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.profile_dir.join(name))
    }
}

/// The target dir, profile dir and cargo profile name of the running test binary, which lives in
/// `TARGET/PROFILE_DIR/deps/NAME-HASH` (or `TARGET/TRIPLE/PROFILE_DIR/deps/`).
pub fn locate_target() -> Result<(PathBuf, Option<String>, PathBuf, String), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the test binary: {e}"))?;
    let deps = exe
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", exe.display()))?;
    if deps.file_name() != Some(std::ffi::OsStr::new("deps")) {
        return Err(format!(
            "{} is not in a cargo `deps` directory: run it through cargo",
            exe.display()
        ));
    }
    let profile_dir = deps
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", deps.display()))?
        .to_path_buf();
    let profile_name = profile_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let profile = match profile_name.as_str() {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    };
    let mut target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", profile_dir.display()))?
        .to_path_buf();
    let mut triple = None;
    let last = target_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if last.contains("-linux-") || last.contains("-unknown-") {
        triple = Some(last);
        target_dir = target_dir
            .parent()
            .ok_or("the target dir has no parent")?
            .to_path_buf();
    }
    Ok((target_dir, triple, profile_dir, profile))
}

/// Build `cargo-record-test`, the example binaries and the examples' libtest targets in the
/// profile and target dir of the running test binary, with `$CARGO` (or `cargo`).
///
/// With `CRT_BIN=PATH` in the environment, that binary is the one under test and only the examples
/// are built (to test a release build, or another build of the tool).
pub fn build_binaries() -> Result<Binaries, String> {
    let override_bin = std::env::var_os("CRT_BIN").map(PathBuf::from);
    let (target_dir, triple, profile_dir, profile) = locate_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", "examples", "--bins", "--test", "twenty"])
        .args(["-p", "flaky", "--test", "flaky"])
        .arg("--profile")
        .arg(&profile)
        .arg("--target-dir")
        .arg(&target_dir);
    if override_bin.is_none() {
        cmd.args(["-p", "cargo-chaos"]);
    }
    if let Some(t) = &triple {
        cmd.arg("--target").arg(t);
    }
    let out = run_with_timeout(&mut cmd, Input::Null, Duration::from_secs(1800))?;
    if out.status != Status::Code(0) {
        // stdout is cargo's JSON messages; the diagnostics are rendered on stderr.
        let errors: Vec<&str> = out
            .stderr
            .split(|&b| b == b'\n')
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter(|l| l.starts_with("error"))
            .collect();
        return Err(format!(
            "building the binaries under test failed: `{}` ended with {}\n{}\n--- cargo's stderr ---\n{}",
            out.command,
            out.status,
            errors.join("\n"),
            excerpt(&out.stderr, 6000)
        ));
    }
    let mut executables = BTreeMap::new();
    for line in out.stdout_str().lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") {
            continue;
        }
        let (Some(exe), Some(name)) = (
            json_string_after(line, "\"executable\":"),
            line.find("\"target\":")
                .and_then(|i| json_string_after(&line[i..], "\"name\":")),
        ) else {
            continue;
        };
        executables.insert(name, PathBuf::from(exe));
    }
    let crt = override_bin.unwrap_or_else(|| {
        executables
            .get("cargo-record-test")
            .cloned()
            .unwrap_or_else(|| profile_dir.join("cargo-record-test"))
    });
    if !crt.exists() {
        return Err(format!("{} was not built", crt.display()));
    }
    Ok(Binaries {
        target_dir,
        profile,
        profile_dir,
        crt,
        executables,
    })
}

/// The JSON string value that follows `key` in `line` (no escapes beyond `\"` and `\\`).
fn json_string_after(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let rest = rest.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => value.push(chars.next()?),
            c => value.push(c),
        }
    }
    None
}

/// Lower the soft core-file size limit of this process (inherited by what it runs) to 0, so the
/// programs that die of SIGSEGV or SIGABRT leave no core files behind.
pub fn disable_core_dumps() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_CORE) {
        let _ = setrlimit(Resource::RLIMIT_CORE, 0, hard);
    }
}

/// A path as UTF-8 (every path the tests make is).
pub fn path_utf8(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

/// A number from the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Whether the environment variable `name` is set to something other than empty or `0`.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn the_recorders_last_words_are_not_the_programs() {
        assert_eq!(program_stderr(b"a\nb\n"), b"a\nb\n");
        assert_eq!(
            program_stderr(b"a\nrecord-test: note: x\nrecord-test: warning: y\n"),
            b"a\n"
        );
        assert_eq!(program_stderr(b"record-test: note: x\n"), b"");
        assert_eq!(
            program_stderr(b"record-test: x\nb\n"),
            b"record-test: x\nb\n"
        );
        assert_eq!(program_stderr(b""), b"");
    }

    #[test]
    fn difference_is_located() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        let d = first_difference(b"abcdef", b"abcxef").expect("differs");
        assert!(d.contains("byte 3"), "{d}");
        let d = first_difference(b"abc", b"abcd").expect("differs");
        assert!(d.contains("byte 3"), "{d}");
    }

    #[test]
    fn json_values() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"hello"},"executable":"/t/debug/hello","fresh":true}"#;
        assert_eq!(
            json_string_after(line, "\"executable\":").as_deref(),
            Some("/t/debug/hello")
        );
        let i = line.find("\"target\":").expect("target");
        assert_eq!(
            json_string_after(&line[i..], "\"name\":").as_deref(),
            Some("hello")
        );
        assert_eq!(
            json_string_after(r#""executable":null"#, "\"executable\":"),
            None
        );
    }

    fn output(status: Status, stderr: &str) -> Output {
        Output {
            command: "x".into(),
            status,
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn clean_errors() {
        let ok = output(
            Status::Code(2),
            "error: cannot read trace x: no such file\n",
        );
        check_clean_error(&ok, 2, true).expect("clean");
        let caused = output(
            Status::Code(2),
            "error: cannot read trace x\ncaused by: header is truncated\n",
        );
        check_clean_error(&caused, 2, true).expect("clean");
        let panic = output(
            Status::Code(101),
            "thread 'main' panicked at src/main.rs:1:1\nerror: x\n",
        );
        assert!(check_clean_error(&panic, 2, true).is_err());
        assert!(check_clean_error(&output(Status::Code(2), "oops\n"), 2, true).is_err());
        let late = output(Status::Code(2), "program output\nerror: events truncated\n");
        assert!(check_clean_error(&late, 2, true).is_err());
        check_clean_error(&late, 2, false).expect("clean after program output");
        assert!(check_clean_error(&output(Status::Code(3), "error: x\n"), 2, true).is_err());
    }

    #[test]
    fn timeout_kills() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30"]);
        let start = Instant::now();
        let err = run_with_timeout(&mut cmd, Input::Null, Duration::from_millis(300))
            .expect_err("must time out");
        assert!(err.contains("did not finish"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn leftover_processes_are_reported() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & exec sleep 31"]);
        let send = SendSignal {
            after: Duration::from_millis(200),
            signal: nix::sys::signal::Signal::SIGKILL,
            group: false,
        };
        let err = run_with_signal(&mut cmd, Input::Null, Duration::from_secs(20), Some(send))
            .expect_err("the background sleep outlives sh");
        assert!(
            err.contains("outlived") || err.contains("still open"),
            "{err}"
        );
    }

    #[test]
    fn runs_and_captures() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo err >&2; exit 3"]);
        let out =
            run_with_timeout(&mut cmd, Input::Bytes(b"in"), Duration::from_secs(30)).expect("runs");
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status, Status::Code(3));
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "kill -SEGV $$"]);
        let out = run_with_timeout(&mut cmd, Input::Null, Duration::from_secs(30)).expect("runs");
        assert_eq!(out.status, Status::Signal(11));
    }
}
