//! The in-memory model of a trace. The recorder builds these values, the replayer consumes them;
//! how they are laid out on disk (Cap'n Proto messages in brotli streams) is this crate's business.

/// Bump when the on-disk layout changes incompatibly; readers refuse newer versions.
pub const FORMAT_VERSION: u32 = 3;

/// One CPUID leaf of the recording CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuidLeaf {
    pub leaf: u32,
    pub subleaf: u32,
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// How the recorded program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit_group(code)`.
    Exited(i32),
    /// Killed by a signal (number), with whether it dumped core.
    Signaled { signal: i32, core_dumped: bool },
}

/// Chaos parameters (issue 4); absent for plain recordings.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChaosParams {
    pub seed: u64,
    /// Free-form `key=value` pairs describing the chosen parameters (depth, slices, ...).
    pub params: Vec<(String, String)>,
    /// The addresses patched as chaos points at the first exec (replay patches the same).
    pub points: Vec<u64>,
}

/// The trace header: written when recording starts (`complete == false`) and rewritten when it ends.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub format_version: u32,
    pub tool_version: String,
    /// Absolute path of the executable that was run.
    pub program: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    /// `KEY=VALUE` entries, exactly as passed to execve.
    pub env: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    /// Unix time in nanoseconds when recording started.
    pub start_time_ns: u64,
    /// Wall time the recording took, in nanoseconds (0 until finished).
    pub duration_ns: u64,
    pub cpuid: Vec<CpuidLeaf>,
    pub xcr0: u64,
    /// `uname -r` of the recording machine.
    pub kernel_release: String,
    pub chaos: Option<ChaosParams>,
    pub exit: Option<ExitStatus>,
    /// Written last: false means the recording was cut short (killed, Ctrl-C, timeout, error).
    pub complete: bool,
    /// Why an incomplete trace ended (empty when complete).
    pub incomplete_reason: String,
}

/// Bytes the kernel (or the recorder) wrote into tracee memory at `addr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemWrite {
    pub addr: u64,
    pub data: Vec<u8>,
}

/// A file stored in the content-addressed store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileRef {
    /// Hex BLAKE3 of the content.
    pub hash: String,
    pub len: u64,
}

/// The general registers of a thread, in `user_regs_struct` order (27 words on x86_64).
pub type Regs = Vec<u64>;

/// A moment in a thread's execution (DESIGN.md section 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub pc: u64,
    /// How often the thread reached `pc` since its previous event, when counted.
    pub hits: Option<u64>,
    pub regs: Regs,
    /// 128-bit digest of extended registers and writable memory, when `hits` is unknown.
    pub digest: Option<[u8; 16]>,
}

/// A syscall the thread made, with its result and what the kernel wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallEvent {
    pub no: u32,
    pub args: [u64; 6],
    /// The raw return value (negative errno on failure).
    pub result: i64,
    pub writes: Vec<MemWrite>,
    /// For a file-backed mmap: the mapped file's content in the store.
    pub file: Option<FileRef>,
    /// What the call sent to the recording's stdout or stderr, whatever the fd's number.
    pub output: Option<Output>,
}

/// The recording's standard output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
}

/// Output a syscall sent to the recording's stdout or stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub stream: Stream,
    /// The bytes when the kernel copied them from another file (sendfile, splice, tee,
    /// copy_file_range) or a child process wrote them; empty when they are in the program's
    /// memory (write, writev).
    pub copied: Vec<u8>,
}

/// A signal delivered to a thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalEvent {
    pub signo: i32,
    /// The raw 128-byte siginfo.
    pub siginfo: Vec<u8>,
    /// True when the thread caused it (a fault, abort): replay lets it happen again.
    pub synchronous: bool,
    /// Where an asynchronous signal was delivered, when not at a syscall.
    pub position: Option<Position>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The initial exec (or a later execve): the stack the kernel built, auxv patched.
    Exec {
        writes: Vec<MemWrite>,
    },
    Syscall(SyscallEvent),
    /// An rdtsc or rdtscp the recorder emulated; `aux` is set for rdtscp.
    Rdtsc {
        value: u64,
        aux: Option<u32>,
    },
    Signal(SignalEvent),
    /// The scheduler switched to this thread; `position` is where the previous thread was
    /// preempted, if it was not at a syscall.
    Schedule {
        position: Option<Position>,
    },
    /// The thread (or the whole process, for the last thread) ended.
    Exit {
        status: ExitStatus,
    },
    /// Output that processes the recorder does not trace (the program's children) sent to the
    /// recording's stdout or stderr, drained by the recorder up to this point of the event
    /// stream; `copied` holds the bytes. Replay prints them here; no thread moves.
    External(Output),
}

/// One event of the trace; its number is its index in the event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub tid: i32,
    pub kind: EventKind,
}
