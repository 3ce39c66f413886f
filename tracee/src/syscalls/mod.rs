//! The ONE table of syscall knowledge (DESIGN.md section 4): per syscall its number, name, how
//! record and replay treat it, and the memory the kernel writes as a rule over its arguments.
//! Special cases are named functions grouped by area (fs, mm, net, signal, thread).

mod fs;
mod mm;
mod net;
mod signal;
mod table;
mod thread;

use std::sync::LazyLock;

use crate::task::Task;

pub use table::ROWS;
pub use thread::clone_flags;

/// How record and replay treat a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Record the result and written memory; replay sets them without running the syscall.
    Emulate,
    /// Replay runs it for real (it shapes memory or signal state) and checks the same result.
    Execute,
    /// Replay runs it for real, then sets the recorded result (the result names a tid).
    ExecuteSetResult,
    /// Handled by a named special case in the recorder and replayer.
    Special(Special),
    /// Recording stops with an error naming the syscall and this reason.
    Unsupported(&'static str),
}

/// The special cases the recorder and replayer implement by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// mmap: executed; a file-backed mapping's file goes to the store and replay maps that copy.
    Mmap,
    /// execve: the new image is set up like the first one.
    Execve,
    /// clone, clone3, fork, vfork: threads and child processes.
    Clone,
    /// Made to fail with this errno, never run, so the program does without it: rseq (ENOSYS:
    /// libc registers none), pkey_alloc (ENOSPC, as on a CPU with no free protection key: the
    /// PKRU register is state no trace keeps), pkey_free (EINVAL: no key was handed out).
    Refuse(i32),
    /// kill, tkill, tgkill: a signal to ourselves must really be sent in replay.
    Kill,
    /// exit, exit_group.
    Exit,
    /// rt_sigreturn: restores registers, has no result of its own.
    Sigreturn,
}

/// A syscall's arguments and result, as the write rules see them.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub no: u32,
    pub args: [u64; 6],
    pub result: i64,
}

/// The length of a written region.
#[derive(Clone, Copy, Debug)]
pub enum Len {
    /// The return value (if positive).
    Ret,
    /// The return value times a record size.
    RetTimes(u64),
    /// An argument's value.
    Arg(usize),
    /// An argument's value times a record size.
    ArgTimes(usize, u64),
    /// A fixed size.
    Const(u64),
    /// The u32 stored at the address in an argument, read after the syscall (socklen_t *).
    U32At(usize),
}

/// "The kernel writes `len` bytes at the address in argument `ptr`."
#[derive(Clone, Copy, Debug)]
pub struct Write {
    pub ptr: usize,
    pub len: Len,
    /// Also when the syscall failed (e.g. nanosleep's remaining time on EINTR).
    pub on_error: bool,
}

/// A function computing the written regions of a syscall whose rule is not a simple one.
pub type CustomWrites = fn(&Call, &mut Task) -> Vec<(u64, usize)>;

/// The memory a syscall writes.
#[derive(Clone, Copy)]
pub enum Writes {
    Rules(&'static [Write]),
    Custom(CustomWrites),
}

/// Whether a blocking call waits on a clock: where its timeout is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// It waits for something else only.
    None,
    /// It is a sleep.
    Always,
    /// A timeout pointer in this argument (none when null).
    PtrArg(usize),
    /// Milliseconds in this argument (none when negative).
    MillisArg(usize),
}

/// What a syscall sends to a file descriptor: the recorder notes when that descriptor is the
/// recording's stdout or stderr (whatever its number), and replay prints the same bytes there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The program's buffer in argument `buf`, as many bytes as the result says, to the fd in
    /// argument `fd` (write, pwrite64).
    Buffer { fd: usize, buf: usize },
    /// The iovec array in argument `iov` (its count in the next argument), as many bytes as the
    /// result says, to the fd in argument `fd` (writev, pwritev, pwritev2, vmsplice).
    Iovec { fd: usize, iov: usize },
    /// Bytes the kernel copies from the fd in argument `from` to the fd in argument `fd`, read
    /// from the file at the offset in the u64 that argument `offset` points to when it is not
    /// null (sendfile, copy_file_range, splice, tee). They are not in the program's memory:
    /// the recorder keeps a copy.
    Copy {
        fd: usize,
        from: usize,
        offset: Option<usize>,
    },
}

impl Output {
    /// The regions of the program's memory the call sent (empty for a kernel copy).
    pub fn sent_regions(self, call: &Call, task: &mut Task) -> Vec<(u64, usize)> {
        let total = call.result.max(0) as u64;
        match self {
            Output::Buffer { buf, .. } if total > 0 => {
                vec![(call.args[buf], total.min(MAX_REGION) as usize)]
            }
            Output::Iovec { iov, .. } if total > 0 => {
                let v = read_iovecs(task, call.args[iov], call.args[iov + 1]);
                scatter(&v, total.min(MAX_REGION))
            }
            _ => Vec::new(),
        }
    }

    /// The argument that holds the written file descriptor.
    pub fn fd_arg(self) -> usize {
        match self {
            Output::Buffer { fd, .. } | Output::Iovec { fd, .. } | Output::Copy { fd, .. } => fd,
        }
    }
}

/// One row of the table.
pub struct Row {
    pub no: u32,
    pub name: &'static str,
    pub class: Class,
    pub writes: Writes,
    /// It may wait for something another thread or process does: the recorder lets it block in
    /// the kernel and runs other threads meanwhile.
    pub blocks: bool,
    /// Replay runs it for real without stopping (its effect and result follow from the
    /// recorded layout); its event is recorded for `dump` but replay passes over it, and it does
    /// not count as an event for counted positions.
    pub silent: bool,
    /// Where a blocking call's timeout is.
    pub timeout: Timeout,
    /// What it sends to a file descriptor, if anything.
    pub output: Option<Output>,
}

impl Row {
    /// The same row, marked as a syscall that may block.
    pub(crate) const fn blocking(mut self) -> Row {
        self.blocks = true;
        self
    }

    /// Whether replay runs this call silently (an mprotect that makes code executable is not:
    /// spin hints in new code are patched right after it, at a stop).
    pub fn is_silent(&self, args: &[u64; 6]) -> bool {
        self.silent
            && !(self.no as i64 == libc::SYS_mprotect && args[2] & libc::PROT_EXEC as u64 != 0)
    }

    /// The same row, marked as run silently by replay.
    pub(crate) const fn silent(mut self) -> Row {
        self.silent = true;
        self
    }

    /// The same row, with its timeout.
    pub(crate) const fn timed(mut self, t: Timeout) -> Row {
        self.timeout = t;
        self
    }

    /// Whether this call blocks with a timeout (a sleep, a timed wait).
    pub fn waits_on_clock(&self, args: &[u64; 6]) -> bool {
        self.may_block(args)
            && match self.timeout {
                Timeout::None => false,
                Timeout::Always => true,
                Timeout::PtrArg(i) => args[i] != 0,
                Timeout::MillisArg(i) => (args[i] as i32) >= 0,
            }
    }

    /// Whether a call that waited on a clock returned because its time was up.
    pub fn timed_out(&self, args: &[u64; 6], result: i64) -> bool {
        self.waits_on_clock(args) && (result == 0 || result == -(libc::ETIMEDOUT as i64))
    }

    /// The same row, sending `o` to a file descriptor.
    pub(crate) const fn output(mut self, o: Output) -> Row {
        self.output = Some(o);
        self
    }

    /// Whether this call may block (futex: only its wait operations).
    pub fn may_block(&self, args: &[u64; 6]) -> bool {
        if self.no as i64 == libc::SYS_futex {
            let op = (args[1] as i32) & 0x7f; // without FUTEX_PRIVATE_FLAG / CLOCK_REALTIME
            return matches!(op, 0 | 6 | 9 | 11 | 13); // WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2
        }
        self.blocks
    }
}

/// Never record more than this for one region: a guard against garbage lengths.
pub const MAX_REGION: u64 = 1 << 30;

static BY_NUMBER: LazyLock<Vec<Option<&'static Row>>> = LazyLock::new(|| {
    let max = ROWS.iter().map(|r| r.no).max().unwrap_or(0) as usize;
    let mut v = vec![None; max + 1];
    for r in ROWS {
        v[r.no as usize] = Some(r);
    }
    v
});

/// The row of syscall `no`, if the table knows it.
/// Whether a finished call mapped new code (mmap or mprotect with PROT_EXEC): spin hints in it
/// are patched then.
pub fn maps_code(call: &Call) -> bool {
    call.result >= 0
        && matches!(call.no as i64, libc::SYS_mmap | libc::SYS_mprotect)
        && call.args[2] & libc::PROT_EXEC as u64 != 0
}

/// The address a finished call told the kernel to clear (and futex-wake) when the calling
/// thread exits (set_tid_address), if it is such a call.
pub fn sets_clear_tid(call: &Call) -> Option<u64> {
    (call.no as i64 == libc::SYS_set_tid_address).then_some(call.args[0])
}

pub fn lookup(no: i64) -> Option<&'static Row> {
    usize::try_from(no)
        .ok()
        .and_then(|i| BY_NUMBER.get(i).copied().flatten())
}

/// The name of syscall `no` (or `syscall_N`).
pub fn name(no: i64) -> String {
    lookup(no)
        .map(|r| r.name.to_string())
        .unwrap_or_else(|| format!("syscall_{no}"))
}

impl Row {
    /// The regions (address, length) the kernel wrote for this call, per the row's rule.
    pub fn written_regions(&self, call: &Call, task: &mut Task) -> Vec<(u64, usize)> {
        match self.writes {
            Writes::Custom(f) => f(call, task)
                .into_iter()
                .filter(|&(a, l)| a != 0 && l > 0)
                .collect(),
            Writes::Rules(rules) => rules.iter().filter_map(|w| region(w, call, task)).collect(),
        }
    }
}

impl Row {
    /// The regions the call may write, whatever its result: for a call still in flight.
    /// Lengths given by the result are bounded by the argument after the pointer (the count).
    pub fn max_regions(&self, args: &[u64; 6], task: &mut Task) -> Vec<(u64, u64)> {
        let call = Call {
            no: self.no,
            args: *args,
            result: i64::MAX / 2,
        };
        let regions: Vec<(u64, usize)> = match self.writes {
            Writes::Custom(f) => f(&call, task),
            Writes::Rules(rules) => rules
                .iter()
                .filter_map(|w| {
                    let mut w = *w;
                    let count = args.get(w.ptr + 1).copied().unwrap_or(0);
                    w.len = match w.len {
                        Len::Ret => Len::Const(count),
                        Len::RetTimes(n) => Len::Const(count.saturating_mul(n)),
                        other => other,
                    };
                    region(&w, &call, task)
                })
                .collect(),
        };
        regions
            .into_iter()
            .filter(|&(a, l)| a != 0 && l > 0)
            .map(|(a, l)| (a, a.saturating_add(l as u64)))
            .collect()
    }
}

fn region(w: &Write, call: &Call, task: &mut Task) -> Option<(u64, usize)> {
    if call.result < 0 && !w.on_error {
        return None;
    }
    let addr = call.args[w.ptr];
    if addr == 0 {
        return None;
    }
    let ret = call.result.max(0) as u64;
    let len = match w.len {
        Len::Ret => ret,
        Len::RetTimes(n) => ret.saturating_mul(n),
        Len::Arg(i) => call.args[i],
        Len::ArgTimes(i, n) => call.args[i].saturating_mul(n),
        Len::Const(n) => n,
        Len::U32At(i) => task
            .read_u32(crate::RemotePtr::new(call.args[i]))
            .ok()
            .map(u64::from)?,
    };
    (len > 0).then_some((addr, len.min(MAX_REGION) as usize))
}

/// Shorthand for table rows: `w(ptr, len)`.
pub(crate) const fn w(ptr: usize, len: Len) -> Write {
    Write {
        ptr,
        len,
        on_error: false,
    }
}

/// A rule that applies also when the syscall failed.
pub(crate) const fn w_always(ptr: usize, len: Len) -> Write {
    Write {
        ptr,
        len,
        on_error: true,
    }
}

/// Read an array of `struct iovec` and return its (base, len) pairs.
pub(crate) fn read_iovecs(task: &mut Task, addr: u64, count: u64) -> Vec<(u64, u64)> {
    let count = count.min(1024) as usize;
    let raw = task.read_prefix(crate::RemotePtr::new(addr), count * 16);
    raw.chunks_exact(16)
        .map(|c| {
            (
                u64::from_le_bytes(c[0..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(c[8..16].try_into().expect("8 bytes")),
            )
        })
        .collect()
}

/// Distribute `total` written bytes over iovecs in order.
pub(crate) fn scatter(iov: &[(u64, u64)], mut total: u64) -> Vec<(u64, usize)> {
    let mut out = Vec::new();
    for &(base, len) in iov {
        if total == 0 {
            break;
        }
        let n = len.min(total);
        if n > 0 {
            out.push((base, n as usize));
        }
        total -= n;
    }
    out
}
