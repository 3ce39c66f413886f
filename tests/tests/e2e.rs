//! End-to-end tests: record real programs with `cargo-record-test record`, replay each trace with
//! `cargo-record-test replay -a`, and require identical stdout bytes, stderr bytes and exit status
//! (code or signal), plus per-case checks. Also the bad-input cases: missing or non-executable
//! programs, missing, truncated and corrupted traces must give a clean one-line error, never a
//! panic or a hang.
//!
//! One trial per program, from the tables below. Before the first trial runs, the harness builds
//! `cargo-record-test` and the `examples` binaries in the profile of this test binary.
//!
//! Environment:
//! * `CRT_SKIP_THREADS=1`: skip the multi-threaded cases (issue 3; run them anyway with
//!   `--include-ignored`). Each records and replays `CRT_ITERATIONS` times (10).
//! * `CRT_TIMEOUT_SECS`: the limit for one record or one replay (120); past it the process group
//!   is killed and the trial fails.
//! * `CRT_BIN=PATH`: test that binary instead of building `cargo-record-test` (the examples are
//!   still built).
//! * `CRT_KEEP_TEMP=1`: keep every temp dir (a failed trial always keeps its own and says where).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use nix::sys::signal::Signal;
use tests::{
    build_binaries, check_clean_error, compare_runs, disable_core_dumps, env_flag, env_number,
    has_panic_text, run_with_signal, run_with_timeout, Binaries, Input, Output, SendSignal, Status,
    TempDir, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_UNSUPPORTED_SYSCALL,
};

/// The program a case runs.
#[derive(Clone, Copy, Debug)]
enum Prog {
    /// `examples/src/bin/NAME.rs`.
    Example(&'static str),
    /// A libtest target of the `examples` package (`examples/tests/NAME.rs`).
    TestTarget(&'static str),
    /// A program found on `PATH` (the recorder looks it up), or an absolute path.
    System(&'static str),
}

/// What a case gives the program on stdin at record time (replay always gets `/dev/null`).
#[derive(Clone, Copy, Debug)]
enum Stdin {
    Null,
    /// This many deterministic pseudo-random bytes through a pipe.
    Generated(usize),
}

/// Preparation a case needs.
#[derive(Clone, Copy, Debug)]
enum Setup {
    None,
    /// Write a file of this many bytes in the temp dir, append its path to the arguments, check
    /// that the recorded stdout is exactly its content, and delete it before the replay.
    CatFile(usize),
    /// [`Setup::CatFile`] with the recording's stdout a regular file (as `cat FILE > out`).
    CatFileToFile(usize),
    /// The recording's stdout is a regular file in the temp dir; its content counts as the
    /// recorded stdout.
    StdoutToFile,
}

/// A record-then-replay case.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    prog: Prog,
    args: &'static [&'static str],
    stdin: Stdin,
    setup: Setup,
    /// The status the recording must end with (and therefore the replay).
    status: Option<Status>,
    /// Text the recorded stdout must contain.
    stdout_has: &'static [&'static str],
    /// Text the recorded stderr must contain.
    stderr_has: &'static [&'static str],
    /// The program is deterministic: a native run's stdout and status equal the recording's.
    native_same: bool,
    /// The replay must take less wall time than this.
    replay_under: Option<Duration>,
    /// The program's own stderr shows a panic (so panic text there is no tool panic).
    program_panics: bool,
    /// Multi-threaded (issue 3): recorded `CRT_ITERATIONS` times; skipped with `CRT_SKIP_THREADS=1`.
    needs_threads: bool,
    /// Record and replay this many times (whatever `CRT_ITERATIONS` says).
    runs: Option<u64>,
    /// Replay must reach each preemption position in fewer breakpoint stops than this (`info`).
    seek_max_under: Option<u64>,
    /// Every preemption was at a counted position or a repeating state (info's `preempted:`
    /// line shows none at uncounted positions).
    uncounted_none: bool,
}

const BASE: Case = Case {
    name: "",
    prog: Prog::Example("hello"),
    args: &[],
    stdin: Stdin::Null,
    setup: Setup::None,
    status: Some(Status::Code(0)),
    stdout_has: &[],
    stderr_has: &[],
    native_same: false,
    replay_under: None,
    program_panics: false,
    needs_threads: false,
    runs: None,
    seek_max_under: None,
    uncounted_none: false,
};

/// Debian's python3 (`.ci/run` installs it): a `python3` found first on PATH may be a shim
/// script (pyenv) that runs the real one as a child process.
const PYTHON3: &str = "/usr/bin/python3";
const SIGSEGV: i32 = 11;
const SIGABRT: i32 = 6;
const STDIN_LEN: usize = 200_000;

/// Issue 2 (one thread) and issue 3 (threads, `needs_threads`): record, replay, compare.
const CASES: &[Case] = &[
    // --- issue 2: real programs ---
    Case {
        name: "ls_la_usr_bin",
        prog: Prog::System("ls"),
        args: &["-la", "/usr/bin"],
        stdout_has: &["total "],
        ..BASE
    },
    Case {
        name: "cat_deleted_file",
        prog: Prog::System("cat"),
        setup: Setup::CatFile(300_000),
        ..BASE
    },
    Case {
        name: "date_ns",
        prog: Prog::System("date"),
        args: &["+%s%N"],
        ..BASE
    },
    // Regression: replay kept the stored files it had opened for mmaps across an execve, whose
    // O_CLOEXEC had closed them (the new image's mmaps failed with EBADF).
    Case {
        name: "exec_after_mapping_files",
        prog: Prog::System("sh"),
        args: &[
            "-c",
            "exec /usr/bin/python3 -c 'import time; print(time.time())'",
        ],
        ..BASE
    },
    // Regression (issue 16 case 4): dash runs external commands with the vfork syscall, whose
    // registers hold no clone flags; the recorder took leftovers for CLONE_VM without
    // CLONE_VFORK and refused it.
    Case {
        name: "dash_vfork",
        prog: Prog::System("/bin/dash"),
        args: &["-c", "echo hi; sleep 0.1; echo bye"],
        stdout_has: &["hi\nbye\n"],
        native_same: true,
        ..BASE
    },
    // Regression: a vfork child writes into its parent's memory until it execs (dash's
    // allocator moved), which replay, creating no child, could not repeat: the next write's
    // buffer address differed. The recorder makes vfork a fork.
    Case {
        name: "dash_vfork_child_writes_parent_memory",
        prog: Prog::System("/bin/dash"),
        args: &[
            "-c",
            "ls / > /dev/null; echo done; ls /usr > /dev/null; echo again",
        ],
        stdout_has: &["done\nagain\n"],
        native_same: true,
        ..BASE
    },
    // Regression (issue 16 case 2): bash forks, waits and execs (as a pyenv shim does); its
    // SIGCHLD, held to a scheduling point, was recorded right after a silent rt_sigprocmask,
    // which replay runs without a stop, so replay made it pending one syscall early (the handler's
    // wait4 came from another frame); and one made pending while blocked was expected at once.
    // 4 to 6 of 20 runs diverged.
    Case {
        name: "bash_fork_wait_exec_sigchld_20_runs",
        prog: Prog::System("bash"),
        args: &[
            "-c",
            "x=$(/bin/echo hi); /bin/true; for i in 1 2 3; do /bin/true; done; exec /bin/echo \"$x\"",
        ],
        stdout_has: &["hi\n"],
        native_same: true,
        runs: Some(20),
        ..BASE
    },
    // Regression: a splice (or tee) to stdout from a pipe that was empty at the call's entry
    // blocks until a thread or a child writes there; the recorder kept only the bytes waiting at
    // entry (none), so replay printed nothing for it. Now the call waits for input first (a poll
    // in its place, invisible to replay) and takes no more than the bytes kept.
    Case {
        name: "splice_from_empty_pipe_that_then_blocks",
        prog: Prog::Example("splice_from_empty_pipe"),
        stdout_has: &[
            "1 splice from a pipe a thread writes later\nspliced 43 of 43\n",
            "2 splice from a pipe a child writes later\nspliced 42\n",
            "3 tee from a pipe a thread writes later\nteed 40 of 40\n",
        ],
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    // Regression: output a child process wrote straight to the stdout it inherited was missing
    // in replay (children are not traced, and replay runs none): `ls` printed nothing, only
    // "done" was replayed. The recorder gives each child a pipe in place of the recording's
    // stdout and stderr and records what it forwards from there.
    Case {
        name: "child_output_to_inherited_stdout_missing_in_replay",
        prog: Prog::System("sh"),
        args: &["-c", "ls /; ls /nonexistent; echo done"],
        stdout_has: &["usr\n", "done\n"],
        stderr_has: &["/nonexistent"],
        native_same: true,
        ..BASE
    },
    // The same from a Rust program (`Command::status`): its own lines between its children's,
    // on both streams, and a child printing more than a pipe holds while the program waits.
    Case {
        name: "child_output_to_inherited_stdout_missing_in_replay_rust",
        prog: Prog::Example("child_inherits_stdout"),
        stdout_has: &[
            "before ls\n",
            "usr\n",
            "ls: exit status: 0\nchild out\n",
            "29999\n30000\nseq: exit status: 0\n",
        ],
        stderr_has: &["child err\n", "/nonexistent", "sh: exit status: 2\n"],
        native_same: true,
        ..BASE
    },
    // Regression (issue 16 case 3): output the kernel copies to stdout (sendfile, splice, tee)
    // and writes to duplicates of stdout and stderr (dup, dup2, dup3, F_DUPFD_CLOEXEC) were not
    // printed by replay, which echoed write and writev to fds 1 and 2 only.
    Case {
        name: "sendfile_splice_tee_and_dups_to_stdout",
        prog: Prog::Example("kernel_output"),
        stdout_has: &[
            "1 sendfile from a file, at its position\n",
            "2 sendfile from a file, at an offset\n",
            "4 splice from a pipe\n5 splice from a file, at an offset\n6 tee from a pipe\n",
            "7 write to a dup of stdout\n8 writev to a dup of stdout\n",
            "9 write to a dup2 of stdout\n10 write to a dup3 of stdout\n",
            "11 write to an fcntl F_DUPFD of stdout\n",
        ],
        stderr_has: &["13 write to a dup of stderr\n"],
        native_same: true,
        ..BASE
    },
    // Regression (issue 16 case 3): `cat FILE > out` copies with copy_file_range when stdout is
    // a regular file; replay printed nothing.
    Case {
        name: "cat_copy_file_range_to_stdout",
        prog: Prog::System("cat"),
        setup: Setup::CatFileToFile(300_000),
        ..BASE
    },
    // The same program with stdout a regular file: copy_file_range, and sendfile and the dups
    // of a file.
    Case {
        name: "copy_file_range_and_dups_to_stdout_file",
        prog: Prog::Example("kernel_output"),
        setup: Setup::StdoutToFile,
        stdout_has: &[
            "3 copy_file_range from a file\n",
            "12 write to a File made of a dup",
        ],
        ..BASE
    },
    Case {
        name: "python3_time_random_urandom",
        prog: Prog::System(PYTHON3),
        args: &[
            "-c",
            "import time,random,os; print(time.time(), random.random(), os.urandom(8).hex())",
        ],
        ..BASE
    },
    Case {
        name: "python3_segv",
        prog: Prog::System(PYTHON3),
        args: &["-c", "import ctypes; ctypes.string_at(0)"],
        status: Some(Status::Signal(SIGSEGV)),
        ..BASE
    },
    // node (V8) asks for a memory protection key at start; recording refused pkey_alloc as
    // unsupported. It now fails with ENOSPC (as on a CPU without a free key) and V8 does without.
    // A worker thread and libuv's pool of file reads make it threaded.
    Case {
        name: "node_pkey_alloc_refused",
        prog: Prog::System("node"),
        args: &[
            "-e",
            "const {Worker}=require('worker_threads'); let n=0;\
             for (let i=0;i<4;i++) require('fs').readFile('/etc/passwd',(e,d)=>{n+=d.length});\
             new Worker('require(\"worker_threads\").parentPort.postMessage(6*7)',{eval:true})\
             .on('message',m=>setTimeout(()=>console.log('worker said',m,n>0,Math.random()),10));",
        ],
        stdout_has: &["worker said 42 true"],
        ..BASE
    },
    // --- issue 2: examples ---
    Case {
        name: "hello",
        prog: Prog::Example("hello"),
        stdout_has: &["hello\n"],
        native_same: true,
        ..BASE
    },
    Case {
        name: "sleep2",
        prog: Prog::Example("sleep2"),
        stdout_has: &["before sleep\n", "slept at least 2 s: true\n"],
        replay_under: Some(Duration::from_millis(500)),
        ..BASE
    },
    Case {
        name: "read_stdin",
        prog: Prog::Example("read_stdin"),
        stdin: Stdin::Generated(STDIN_LEN),
        stdout_has: &["read 200000 bytes\n"],
        native_same: true,
        ..BASE
    },
    Case {
        name: "exit42",
        prog: Prog::Example("exit42"),
        status: Some(Status::Code(42)),
        stdout_has: &["exiting with 42\n"],
        stderr_has: &["this goes to stderr\n"],
        native_same: true,
        ..BASE
    },
    Case {
        name: "segv",
        prog: Prog::Example("segv"),
        status: Some(Status::Signal(SIGSEGV)),
        stdout_has: &["about to die of SIGSEGV\n"],
        native_same: true,
        ..BASE
    },
    Case {
        name: "stack_overflow",
        prog: Prog::Example("stack_overflow"),
        status: Some(Status::Signal(SIGABRT)),
        stderr_has: &["has overflowed its stack"],
        native_same: true,
        ..BASE
    },
    Case {
        name: "abort",
        prog: Prog::Example("abort"),
        status: Some(Status::Signal(SIGABRT)),
        stdout_has: &["about to abort\n"],
        native_same: true,
        ..BASE
    },
    Case {
        name: "clock",
        prog: Prog::Example("clock"),
        stdout_has: &["monotonic: true\n"],
        ..BASE
    },
    Case {
        name: "files",
        prog: Prog::Example("files"),
        stdout_has: &[
            "renamed exists: true\n",
            "dir exists after removal: false\n",
        ],
        ..BASE
    },
    // --- issue 3: threads, child processes, signals, libtest ---
    Case {
        name: "threads8",
        prog: Prog::Example("threads8"),
        stdout_has: &["barrier leaders = 1\n"],
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    // Regression (issue 16 case 6): a thread polling a channel with try_iter, whose only
    // syscalls are the allocator's silent mprotects, starved the woken main thread (a recording
    // grew to 4 GB); it is now switched before a silent call's syscall instruction.
    Case {
        name: "thread_that_never_blocks_lets_the_woken_one_run",
        prog: Prog::Example("try_iter_spin"),
        stdout_has: &["poller counted 6\n"],
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    // Regression (issue 16 cases 1 and 5): a sleeper behind a thread computing without
    // syscalls woke up to 2 s late, and the preemption at an uncounted position in the hot loop
    // made replay search for it hit by hit; it now gives way at an outer frame's return.
    Case {
        name: "sleeper_behind_a_computing_thread_wakes_on_time",
        prog: Prog::Example("compute_while_sleeping"),
        args: &["300"],
        stdout_has: &["on time\n"],
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    // Regression: a thread held at a syscall's entry (its slice was over) went straight into
    // that call when scheduled; the call blocked and the recorder waited for a stop with the
    // other runnable threads still parked: a hang (threads8 and libtest_twenty_threads4 hung 1
    // in 20-60 recordings when three ran at once). It now picks the next thread at once.
    Case {
        name: "thread_held_at_a_blocking_call_hung_the_recording",
        prog: Prog::Example("held_at_blocking_call"),
        stdout_has: &["main read \"x\"\ndone\n"],
        native_same: true,
        needs_threads: true,
        runs: Some(3),
        ..BASE
    },
    // Issue 16: a single long call (3 s) while another thread yields; the computing thread was
    // preempted at a hot address inside it (none rarely passed found in time), and replay
    // stopped there over a million times (crossbeam-channel's mpsc test dropping a channel).
    // It now gives way at the long call's return, passed once.
    Case {
        name: "preempting_a_long_call_leaves_replay_a_cheap_seek",
        prog: Prog::Example("long_call"),
        stdout_has: &["done\n"],
        native_same: true,
        needs_threads: true,
        seek_max_under: Some(10_000),
        runs: Some(2),
        ..BASE
    },
    Case {
        // Each thread spins without a spin hint while the other must run: the repeated-state
        // test compared the flags' RF bit (set by the debug-register stop, not by the interrupt)
        // and never found a spin, so every hand-over waited out the 2 s budget and took an
        // uncounted position (crossbeam-queue's array_queue tests were killed at 120 s).
        name: "spin_without_hint_found_repeating",
        prog: Prog::Example("ring_handoff"),
        stdout_has: &["handed over 1500 items, sum 7871250 (want 7871250)\n"],
        native_same: true,
        needs_threads: true,
        uncounted_none: true,
        runs: Some(2),
        ..BASE
    },
    Case {
        name: "spin_flag",
        prog: Prog::Example("spin_flag"),
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "command_sh",
        prog: Prog::Example("command"),
        stdout_has: &["child stdout: hi\nbye\n"],
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "tokio_mt",
        prog: Prog::Example("tokio_mt"),
        stdout_has: &["echo = ping over tcp\n"],
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "rayon_sum",
        prog: Prog::Example("rayon_sum"),
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "tids",
        prog: Prog::Example("tids"),
        stdout_has: &["named-3 tid "],
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "sigalrm",
        prog: Prog::Example("sigalrm"),
        stdout_has: &["periodic timer: 5 SIGALRM handled\n"],
        native_same: true,
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "panics",
        prog: Prog::Example("panics"),
        status: Some(Status::Code(101)),
        stderr_has: &["panicked at"],
        native_same: true,
        program_panics: true,
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "libtest_twenty_threads4",
        prog: Prog::TestTarget("twenty"),
        args: &["--test-threads=4"],
        stdout_has: &["test result: ok. 20 passed; 0 failed; 1 ignored"],
        // `with_panic_caught` panics inside catch_unwind; libtest captures its message.
        program_panics: true,
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "libtest_twenty_exact",
        prog: Prog::TestTarget("twenty"),
        args: &["--exact", "mutex_counter"],
        stdout_has: &["test mutex_counter ... ok\n", "1 passed; 0 failed"],
        needs_threads: true,
        ..BASE
    },
    Case {
        name: "libtest_twenty_failing_test",
        prog: Prog::TestTarget("twenty"),
        args: &["--ignored", "--exact", "panics_on_purpose"],
        status: Some(Status::Code(101)),
        stdout_has: &["test panics_on_purpose ... FAILED\n"],
        program_panics: true,
        needs_threads: true,
        ..BASE
    },
];

/// Bad input: each must end in a clean error (exit 2, one `error:` line, no panic, no hang).
#[derive(Clone, Copy, Debug)]
enum Bad {
    /// `record -- /nonexistent/...`.
    MissingProgramPath,
    /// `record -- no-such-program-...` (not on PATH).
    MissingProgramName,
    /// `record -- FILE` where FILE has no execute permission.
    NotExecutable,
    /// `record --output X` with no program: a usage error.
    NoProgram,
    /// `replay -a` and `info` of a trace that does not exist.
    MissingTrace,
    /// `replay -a` and `info` of a copy of a good trace whose `events` is cut to half.
    TruncatedEvents,
    /// `replay -a` and `info` of copies of a good trace whose `header` is damaged in several ways.
    CorruptHeader,
    /// `replay -a` and `info` of many damaged copies of a good trace (`header`, `events` and
    /// `data` each cut at several lengths and with bytes flipped at several offsets): no panic, no
    /// hang, no death by a signal, and exit codes 2 and 3 come with an `error:` line. Without
    /// checksums in the format some damage cannot be noticed, so a run that exits otherwise is
    /// accepted.
    Fuzz,
    /// `info` of a good trace: exit 0 and the program's name (not bad input, but it needs none).
    InfoGood,
    /// Ctrl-C (SIGINT to the process group) during `record -- sleep 30`: the recorder ends with
    /// exit code 130 and a clean error, nothing is left running, `info` of the trace says it is
    /// incomplete, and `replay -a` of it fails cleanly (exit 2) instead of running past its end.
    Interrupted,
    /// SIGKILL to the recorder alone during `record -- sleep 30`: the tracee dies with it (no
    /// process of the group outlives it), and `info` of what is left does not panic or hang.
    RecorderKilled,
}

const BAD: &[(&str, Bad)] = &[
    ("record_missing_program_path", Bad::MissingProgramPath),
    ("record_missing_program_name", Bad::MissingProgramName),
    ("record_not_executable", Bad::NotExecutable),
    ("record_no_program", Bad::NoProgram),
    ("missing_trace", Bad::MissingTrace),
    ("truncated_events", Bad::TruncatedEvents),
    ("corrupt_header", Bad::CorruptHeader),
    ("fuzzed_traces", Bad::Fuzz),
    ("info_good_trace", Bad::InfoGood),
    ("record_interrupted", Bad::Interrupted),
    ("recorder_killed", Bad::RecorderKilled),
];

static BINARIES: OnceLock<Result<Binaries, String>> = OnceLock::new();

/// The binaries under test, built once by the first trial that needs them.
fn binaries() -> Result<&'static Binaries, Failed> {
    BINARIES
        .get_or_init(build_binaries)
        .as_ref()
        .map_err(|e| Failed::from(e.as_str()))
}

fn timeout() -> Duration {
    Duration::from_secs(env_number("CRT_TIMEOUT_SECS", 120))
}

fn bad_timeout() -> Duration {
    Duration::from_secs(env_number("CRT_TIMEOUT_SECS", 30).min(30))
}

/// Deterministic bytes (xorshift), with a newline now and then so line counts mean something.
fn generated(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 61 == 60 {
                b'\n'
            } else {
                b' ' + (x % 95) as u8
            }
        })
        .collect()
}

fn crt(bins: &Binaries, dir: &Path) -> Command {
    let mut c = Command::new(&bins.crt);
    c.current_dir(dir);
    c
}

fn program_path(bins: &Binaries, prog: Prog) -> PathBuf {
    match prog {
        Prog::Example(name) | Prog::TestTarget(name) => bins.example(name),
        Prog::System(name) => PathBuf::from(name),
    }
}

/// `record --output DIR/NAME.trace -- PROGRAM ARGS`.
fn record(
    bins: &Binaries,
    dir: &Path,
    trace: &Path,
    program: &Path,
    args: &[String],
    input: Input<'_>,
    limit: Duration,
) -> Result<Output, String> {
    let mut c = crt(bins, dir);
    c.arg("record")
        .arg("--output")
        .arg(trace)
        .arg("--")
        .arg(program)
        .args(args);
    run_with_timeout(&mut c, input, limit)
}

/// [`record`] with the recording's stdout the regular file `stdout` (through `sh -c 'exec ...
/// > FILE'`, outside the recording).
#[allow(clippy::too_many_arguments)]
fn record_to_file(
    bins: &Binaries,
    dir: &Path,
    trace: &Path,
    program: &Path,
    args: &[String],
    input: Input<'_>,
    limit: Duration,
    stdout: &Path,
) -> Result<Output, String> {
    let mut c = Command::new("sh");
    c.current_dir(dir)
        .args(["-c", "out=$1; shift; exec \"$@\" > \"$out\"", "sh"])
        .arg(stdout)
        .arg(&bins.crt)
        .arg("record")
        .arg("--output")
        .arg(trace)
        .arg("--")
        .arg(program)
        .args(args);
    run_with_timeout(&mut c, input, limit)
}

fn replay(bins: &Binaries, dir: &Path, trace: &Path, limit: Duration) -> Result<Output, String> {
    let mut c = crt(bins, dir);
    c.arg("replay").arg("-a").arg(trace);
    run_with_timeout(&mut c, Input::Null, limit)
}

fn info(bins: &Binaries, dir: &Path, trace: &Path, limit: Duration) -> Result<Output, String> {
    let mut c = crt(bins, dir);
    c.arg("info").arg(trace);
    run_with_timeout(&mut c, Input::Null, limit)
}

/// Explain the tool's own failure codes, when a record or replay ended with one unexpectedly.
fn tool_failure(what: &str, out: &Output, expected: Option<Status>) -> Option<String> {
    let code = match out.status {
        Status::Code(c) if Some(out.status) != expected => c,
        _ => return None,
    };
    let last = out
        .stderr_str()
        .lines()
        .rev()
        .find(|l| l.starts_with("error"))
        .unwrap_or_default()
        .to_string();
    match code {
        EXIT_DIVERGED if what == "replay" => Some(format!("replay diverged: {last}")),
        EXIT_UNSUPPORTED_SYSCALL if what == "record" => {
            Some(format!("recording hit an unsupported syscall: {last}"))
        }
        EXIT_BAD_INPUT => Some(format!("{what} refused its input: {last}")),
        _ => None,
    }
}

fn check_contains(what: &str, haystack: &[u8], needles: &[&str]) -> Result<(), String> {
    let text = String::from_utf8_lossy(haystack);
    match needles.iter().find(|n| !text.contains(**n)) {
        None => Ok(()),
        Some(n) => Err(format!("{what} lacks {n:?}")),
    }
}

/// One record + replay of `case` in `dir`, iteration `i`.
fn round_trip(bins: &Binaries, case: &Case, dir: &Path, i: u64) -> Result<(), String> {
    let program = program_path(bins, case.prog);
    let mut args: Vec<String> = case.args.iter().map(|s| s.to_string()).collect();
    let mut cat_file = None;
    if let Setup::CatFile(len) | Setup::CatFileToFile(len) = case.setup {
        let path = dir.join(format!("input-{i}.txt"));
        let content = generated(len, 0x5eed + i);
        std::fs::write(&path, &content)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        args.push(path.to_string_lossy().into_owned());
        cat_file = Some((path, content));
    }
    let stdin_bytes = match case.stdin {
        Stdin::Null => None,
        Stdin::Generated(len) => Some(generated(len, 42)),
    };
    let input = stdin_bytes.as_deref().map_or(Input::Null, Input::Bytes);
    let trace = dir.join(format!("{}-{i}.trace", case.name));
    let limit = timeout();

    // A native run first, for the deterministic programs.
    let native = if case.native_same {
        let mut c = Command::new(&program);
        c.args(&args).current_dir(dir);
        Some(run_with_timeout(&mut c, input, limit)?)
    } else {
        None
    };

    let stdout_file = matches!(case.setup, Setup::CatFileToFile(_) | Setup::StdoutToFile)
        .then(|| dir.join(format!("stdout-{i}.txt")));
    let rec = match &stdout_file {
        None => record(bins, dir, &trace, &program, &args, input, limit)?,
        Some(path) => {
            let mut rec = record_to_file(bins, dir, &trace, &program, &args, input, limit, path)?;
            rec.stdout =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            rec
        }
    };
    let ctx = |msg: String| format!("{msg}\nrecord: {}", rec.describe());
    if let Some(why) = tool_failure("record", &rec, case.status) {
        return Err(ctx(why));
    }
    if let Some(expected) = case.status {
        if rec.status != expected {
            return Err(ctx(format!(
                "record ended with {}, expected {expected}",
                rec.status
            )));
        }
    }
    if !case.program_panics && has_panic_text(&rec.stderr) {
        return Err(ctx("record's stderr shows a panic".into()));
    }
    check_contains("record's stdout", &rec.stdout, case.stdout_has).map_err(&ctx)?;
    check_contains("record's stderr", &rec.stderr, case.stderr_has).map_err(&ctx)?;
    if !trace.is_dir() {
        return Err(ctx(format!(
            "record did not create the trace directory {}",
            trace.display()
        )));
    }
    if let Some((path, content)) = &cat_file {
        if rec.stdout != *content {
            return Err(ctx(format!(
                "cat's recorded stdout is not the file's content: {}",
                tests::first_difference(&rec.stdout, content).unwrap_or_default()
            )));
        }
        std::fs::remove_file(path).map_err(|e| format!("cannot delete {}: {e}", path.display()))?;
    }
    if let Some(native) = &native {
        if native.status != rec.status || native.stdout != rec.stdout {
            return Err(format!(
                "a native run and the recording differ (the program is deterministic):\n{}",
                compare_runs("native", native, "record", &rec)
                    .err()
                    .unwrap_or_default()
            ));
        }
    }

    let rep = replay(bins, dir, &trace, limit)?;
    if let Some(why) = tool_failure("replay", &rep, case.status) {
        return Err(format!("{why}\nreplay: {}", rep.describe()));
    }
    compare_runs("record", &rec, "replay", &rep)?;
    if let Some(under) = case.seek_max_under {
        let out = info(bins, dir, &trace, limit)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let most = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("seeking:"))
            .and_then(|l| l.split(", ").nth(1))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("info shows no seeking line:\n{text}"))?;
        if most >= under {
            return Err(format!(
                "replay spent {most} breakpoint stops seeking one position, must be under {under}"
            ));
        }
    }
    if case.uncounted_none {
        let out = info(bins, dir, &trace, limit)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let uncounted = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("preempted:"))
            .and_then(|l| l.split_once('(').map(|(_, r)| r))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("info shows no preempted line:\n{text}"))?;
        if uncounted > 0 {
            return Err(format!(
                "{uncounted} preemptions at uncounted positions, want none:\n{text}"
            ));
        }
    }
    if let Some(max) = case.replay_under {
        if rep.elapsed >= max {
            return Err(format!(
                "replay took {:.3} s, must take under {:.3} s (record took {:.3} s)",
                rep.elapsed.as_secs_f64(),
                max.as_secs_f64(),
                rec.elapsed.as_secs_f64()
            ));
        }
    }
    Ok(())
}

fn run_case(case: &Case) -> Result<(), Failed> {
    let bins = binaries()?;
    let mut tmp = TempDir::new(case.name).map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let iterations = if let Some(n) = case.runs {
        n
    } else if case.needs_threads {
        env_number("CRT_ITERATIONS", 10).max(1)
    } else {
        1
    };
    for i in 0..iterations {
        if let Err(e) = round_trip(bins, case, tmp.path(), i) {
            tmp.keep();
            let run = if iterations > 1 {
                format!(" (run {} of {iterations})", i + 1)
            } else {
                String::new()
            };
            return Err(format!(
                "{e}\n\n{}{run}: traces kept in {}",
                case.name,
                tmp.path().display()
            )
            .into());
        }
    }
    Ok(())
}

/// Record `hello` into `dir/good.trace`, which must succeed.
fn good_trace(bins: &Binaries, dir: &Path) -> Result<PathBuf, String> {
    let trace = dir.join("good.trace");
    let rec = record(
        bins,
        dir,
        &trace,
        &bins.example("hello"),
        &[],
        Input::Null,
        timeout(),
    )?;
    if rec.status != Status::Code(0) || rec.stdout != b"hello\n" {
        return Err(format!("recording hello failed\n{}", rec.describe()));
    }
    if !trace.is_dir() {
        return Err(format!("record did not create {}", trace.display()));
    }
    Ok(trace)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", from.display()))?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("cannot copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A copy of `good` beside it (so that it shares the `files/` store) named `name.trace`, with
/// `file` inside it replaced by `damage(original bytes)`.
fn damaged_copy(
    good: &Path,
    name: &str,
    file: &str,
    damage: impl Fn(&[u8]) -> Vec<u8>,
) -> Result<PathBuf, String> {
    let copy = good.with_file_name(format!("{name}.trace"));
    copy_dir(good, &copy)?;
    let path = copy.join(file);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "the trace has no readable `{file}` ({}: {e}); has the layout of DESIGN.md section 7 changed?",
            path.display()
        )
    })?;
    std::fs::write(&path, damage(&bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(copy)
}

/// `replay -a` and `info` of `trace` must both fail cleanly with exit 2. Unless `strict_replay`
/// (damage in the events, not the header): a replay may have echoed recorded output before it
/// found the damage, and `info` may instead exit 0 if its output says the events are truncated.
fn both_refuse(
    bins: &Binaries,
    dir: &Path,
    trace: &Path,
    strict_replay: bool,
) -> Result<(), String> {
    let what = trace.file_name().unwrap_or_default().to_string_lossy();
    let rep =
        replay(bins, dir, trace, bad_timeout()).map_err(|e| format!("replay of {what}: {e}"))?;
    check_clean_error(&rep, EXIT_BAD_INPUT, strict_replay)
        .map_err(|e| format!("replay of {what}: {e}"))?;
    let inf = info(bins, dir, trace, bad_timeout()).map_err(|e| format!("info of {what}: {e}"))?;
    if !strict_replay && inf.status == Status::Code(0) && !has_panic_text(&inf.stderr) {
        // `info` exists to explain traces: of a trace whose header is sound but whose events
        // are cut it may show what it can read, if it says that the events are truncated.
        let text = format!("{}{}", inf.stdout_str(), inf.stderr_str()).to_lowercase();
        if text.contains("truncated") {
            return Ok(());
        }
        return Err(format!(
            "info of {what}: succeeded without saying the events are truncated\n{}",
            inf.describe()
        ));
    }
    check_clean_error(&inf, EXIT_BAD_INPUT, true).map_err(|e| format!("info of {what}: {e}"))?;
    Ok(())
}

/// What a run on a damaged trace must at least do: end by itself (not by a signal: no crash, no
/// abort, no OOM kill), show no panic, and back exit codes 2 and 3 with an `error:` line.
fn survived(out: &Output) -> Result<(), String> {
    if has_panic_text(&out.stderr) || out.status == Status::Code(101) {
        return Err(format!("panicked\n{}", out.describe()));
    }
    match out.status {
        Status::Signal(_) => Err(format!("died of a signal\n{}", out.describe())),
        Status::Code(c @ (EXIT_BAD_INPUT | EXIT_DIVERGED)) => check_clean_error(out, c, false),
        Status::Code(_) => Ok(()),
    }
}

/// A way to damage a file of a trace.
type Damage = fn(&[u8]) -> Vec<u8>;

fn bad_input(bins: &Binaries, bad: Bad, dir: &Path) -> Result<(), String> {
    let limit = bad_timeout();
    let out_trace = dir.join("out.trace");
    match bad {
        Bad::MissingProgramPath | Bad::MissingProgramName => {
            let program = match bad {
                Bad::MissingProgramPath => dir.join("nonexistent/program"),
                _ => PathBuf::from("no-such-program-crt-e2e"),
            };
            let out = record(bins, dir, &out_trace, &program, &[], Input::Null, limit)?;
            check_clean_error(&out, EXIT_BAD_INPUT, true)
        }
        Bad::NotExecutable => {
            let script = dir.join("not-executable.sh");
            std::fs::write(&script, "#!/bin/sh\necho should not run\n")
                .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
            let out = record(bins, dir, &out_trace, &script, &[], Input::Null, limit)?;
            check_clean_error(&out, EXIT_BAD_INPUT, true)
        }
        Bad::NoProgram => {
            let mut c = crt(bins, dir);
            c.arg("record").arg("--output").arg(&out_trace).arg("--");
            let out = run_with_timeout(&mut c, Input::Null, limit)?;
            // A usage error: clap adds a usage block after its `error:` line.
            let first_ok = out.stderr_str().starts_with("error:");
            if out.status != Status::Code(EXIT_BAD_INPUT)
                || !first_ok
                || has_panic_text(&out.stderr)
            {
                return Err(format!(
                    "`record` without a program must fail with exit code 2 and an `error:` line\n{}",
                    out.describe()
                ));
            }
            Ok(())
        }
        Bad::MissingTrace => both_refuse(bins, dir, &dir.join("does-not-exist.trace"), true),
        Bad::TruncatedEvents => {
            let good = good_trace(bins, dir)?;
            let cut = damaged_copy(&good, "truncated", "events", |b| b[..b.len() / 2].to_vec())?;
            both_refuse(bins, dir, &cut, false)
        }
        Bad::CorruptHeader => {
            let good = good_trace(bins, dir)?;
            let variants: [(&str, Damage); 4] = [
                ("flipped-framing", |b| {
                    let mut v = b.to_vec();
                    for x in v.iter_mut().take(8) {
                        *x ^= 0xff;
                    }
                    v
                }),
                ("half-header", |b| b[..b.len() / 2].to_vec()),
                ("garbage-header", |b| generated(b.len().max(64), 7)),
                ("empty-header", |_| Vec::new()),
            ];
            for (name, damage) in variants {
                let copy = damaged_copy(&good, name, "header", damage)?;
                both_refuse(bins, dir, &copy, true)?;
            }
            Ok(())
        }
        Bad::Fuzz => {
            let good = good_trace(bins, dir)?;
            let mut n = 0;
            for file in ["header", "events", "data"] {
                let len = std::fs::metadata(good.join(file))
                    .map_err(|e| format!("the trace has no `{file}`: {e}"))?
                    .len() as usize;
                if len == 0 {
                    continue;
                }
                let mut damages: Vec<(String, usize, bool)> = [0, 1, len / 4, len / 2, len - 1]
                    .into_iter()
                    .filter(|&cut| cut < len)
                    .map(|cut| (format!("{file}-cut-{cut}"), cut, false))
                    .collect();
                damages.extend(
                    (0..7)
                        .map(|k| len * k / 7)
                        .map(|at| (format!("{file}-flip-{at}"), at, true)),
                );
                damages.dedup();
                for (name, at, flip) in damages {
                    n += 1;
                    let copy = damaged_copy(&good, &format!("fuzz-{n}"), file, |b| {
                        if flip {
                            let mut v = b.to_vec();
                            v[at] ^= 0x55;
                            v
                        } else {
                            b[..at].to_vec()
                        }
                    })?;
                    let rep = replay(bins, dir, &copy, limit)
                        .map_err(|e| format!("replay of {name}: {e}"))?;
                    survived(&rep).map_err(|e| format!("replay of {name}: {e}"))?;
                    let inf = info(bins, dir, &copy, limit)
                        .map_err(|e| format!("info of {name}: {e}"))?;
                    survived(&inf).map_err(|e| format!("info of {name}: {e}"))?;
                    std::fs::remove_dir_all(&copy).map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        }
        Bad::Interrupted | Bad::RecorderKilled => {
            let interrupt = matches!(bad, Bad::Interrupted);
            let mut c = crt(bins, dir);
            c.arg("record")
                .arg("--output")
                .arg(&out_trace)
                .args(["--", "sleep", "30"]);
            let send = SendSignal {
                after: Duration::from_millis(1500),
                signal: if interrupt {
                    Signal::SIGINT
                } else {
                    Signal::SIGKILL
                },
                group: interrupt,
            };
            // An error here also covers processes left running after the recorder ended.
            let rec = run_with_signal(&mut c, Input::Null, limit, Some(send))?;
            if interrupt {
                check_clean_error(&rec, 130, false)
                    .map_err(|e| format!("record after Ctrl-C: {e}"))?;
            } else if rec.status != Status::Signal(Signal::SIGKILL as i32) {
                return Err(format!(
                    "the recorder should have died of SIGKILL\n{}",
                    rec.describe()
                ));
            }
            if !out_trace.exists() {
                return if interrupt {
                    Err(format!(
                        "no trace left at {} after Ctrl-C\n{}",
                        out_trace.display(),
                        rec.describe()
                    ))
                } else {
                    Ok(())
                };
            }
            let inf = info(bins, dir, &out_trace, limit)?;
            if interrupt {
                if inf.status != Status::Code(0) || !inf.stdout_str().contains("incomplete") {
                    return Err(format!(
                        "`info` of an interrupted trace must exit 0 and say it is incomplete\n{}",
                        inf.describe()
                    ));
                }
                let rep = replay(bins, dir, &out_trace, limit)?;
                check_clean_error(&rep, EXIT_BAD_INPUT, false)
                    .map_err(|e| format!("replay of an interrupted trace: {e}"))?;
            } else {
                survived(&inf).map_err(|e| format!("info after the recorder was killed: {e}"))?;
            }
            Ok(())
        }
        Bad::InfoGood => {
            let good = good_trace(bins, dir)?;
            let out = info(bins, dir, &good, limit)?;
            if out.status != Status::Code(0) || !out.stdout_str().contains("hello") {
                return Err(format!(
                    "`info` of a good trace must exit 0 and name the program (hello)\n{}",
                    out.describe()
                ));
            }
            if has_panic_text(&out.stderr) {
                return Err(format!("`info` shows a panic\n{}", out.describe()));
            }
            Ok(())
        }
    }
}

fn run_bad(name: &str, bad: Bad) -> Result<(), Failed> {
    let bins = binaries()?;
    let mut tmp = TempDir::new(name).map_err(|e| format!("cannot make a temp dir: {e}"))?;
    bad_input(bins, bad, tmp.path()).map_err(|e| {
        tmp.keep();
        Failed::from(format!(
            "{e}\n\n{name}: files kept in {}",
            tmp.path().display()
        ))
    })
}

fn trials() -> Vec<Trial> {
    let threads = !env_flag("CRT_SKIP_THREADS");
    let mut trials: Vec<Trial> = CASES
        .iter()
        .map(|case| {
            let kind = if case.needs_threads {
                "threads"
            } else {
                "record-replay"
            };
            Trial::test(case.name, move || run_case(case))
                .with_kind(kind)
                .with_ignored_flag(case.needs_threads && !threads)
        })
        .collect();
    trials.extend(
        BAD.iter().map(|&(name, bad)| {
            Trial::test(name, move || run_bad(name, bad)).with_kind("bad-input")
        }),
    );
    trials
}

fn main() {
    let args = Arguments::from_args();
    disable_core_dumps();
    libtest_mimic::run(&args, trials()).exit();
}
