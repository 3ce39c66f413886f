//! What `cargo record-test info` shows about a trace.

use crate::error::Result;
use crate::model::*;
use crate::reader::TraceReader;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

/// How many events of each kind a trace holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub exec: u64,
    pub syscall: u64,
    pub rdtsc: u64,
    pub signal: u64,
    pub schedule: u64,
    pub exit: u64,
    /// Output of untraced child processes, drained by the recorder.
    pub external: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallCount {
    pub no: u32,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadSummary {
    pub tid: i32,
    pub events: u64,
}

/// The recording CPU, from CPUID leaves 0 and 0x80000002-4 (empty strings when absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuInfo {
    pub vendor: String,
    pub brand: String,
}

impl CpuInfo {
    pub fn from_leaves(leaves: &[CpuidLeaf]) -> CpuInfo {
        let find = |leaf: u32| leaves.iter().find(|l| l.leaf == leaf && l.subleaf == 0);
        let clean = |bytes: Vec<u8>| {
            String::from_utf8_lossy(&bytes)
                .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string()
        };
        let vendor = find(0)
            .map(|l| {
                clean(
                    [l.ebx, l.edx, l.ecx]
                        .iter()
                        .flat_map(|r| r.to_le_bytes())
                        .collect(),
                )
            })
            .unwrap_or_default();
        let mut brand = Vec::new();
        for leaf in 0x8000_0002..=0x8000_0004 {
            match find(leaf) {
                Some(l) => brand.extend(
                    [l.eax, l.ebx, l.ecx, l.edx]
                        .iter()
                        .flat_map(|r| r.to_le_bytes()),
                ),
                None => {
                    brand.clear();
                    break;
                }
            }
        }
        // Stop at the first NUL: the rest of the brand string is padding.
        if let Some(i) = brand.iter().position(|&b| b == 0) {
            brand.truncate(i);
        }
        CpuInfo {
            vendor,
            brand: clean(brand),
        }
    }
}

/// Everything `cargo record-test info` reports about one trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub program: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub tool_version: String,
    pub format_version: u32,
    /// Unix time in nanoseconds when recording started.
    pub start_time_ns: u64,
    pub duration: Duration,
    pub exit: Option<ExitStatus>,
    pub complete: bool,
    pub incomplete_reason: String,
    /// Events read (all of them, unless `read_error` is set).
    pub events: u64,
    pub kinds: KindCounts,
    /// Every syscall number seen, most frequent first (ties by number).
    pub syscalls: Vec<SyscallCount>,
    /// Threads in order of their first event.
    pub threads: Vec<ThreadSummary>,
    pub memory_writes: u64,
    pub memory_bytes: u64,
    /// Distinct stored files referenced, and their total length.
    pub files: u64,
    pub files_bytes: u64,
    /// Files referenced but missing from the store.
    pub files_missing: u64,
    /// Bytes of the trace directory itself.
    pub trace_bytes: u64,
    pub cpu: CpuInfo,
    pub kernel: String,
    pub chaos: Option<ChaosParams>,
    /// Set when the events could not all be read: the summary covers the events before it.
    pub read_error: Option<String>,
}

/// Read the whole trace and summarize it. Reading errors after the header do not fail the
/// summary; they are reported in [`Summary::read_error`] (use `error_chain` text there).
pub fn summarize(mut reader: TraceReader) -> Result<Summary> {
    let h = reader.header().clone();
    let mut kinds = KindCounts::default();
    let mut syscalls: HashMap<u32, u64> = HashMap::new();
    let mut thread_index: HashMap<i32, usize> = HashMap::new();
    let mut threads: Vec<ThreadSummary> = Vec::new();
    let mut memory_writes = 0u64;
    let mut memory_bytes = 0u64;
    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    let mut read_error = None;
    loop {
        let ev = match reader.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                read_error = Some(error_chain(&e));
                break;
            }
        };
        let i = *thread_index.entry(ev.tid).or_insert_with(|| {
            threads.push(ThreadSummary {
                tid: ev.tid,
                events: 0,
            });
            threads.len() - 1
        });
        threads[i].events += 1;
        let writes: &[MemWrite] = match &ev.kind {
            EventKind::Exec { writes } => {
                kinds.exec += 1;
                writes
            }
            EventKind::Syscall(s) => {
                kinds.syscall += 1;
                *syscalls.entry(s.no).or_default() += 1;
                if let Some(f) = &s.file {
                    files.insert(f.hash.clone(), f.len);
                }
                &s.writes
            }
            EventKind::Rdtsc { .. } => {
                kinds.rdtsc += 1;
                &[]
            }
            EventKind::Signal(_) => {
                kinds.signal += 1;
                &[]
            }
            EventKind::Schedule { .. } => {
                kinds.schedule += 1;
                &[]
            }
            EventKind::Exit { .. } => {
                kinds.exit += 1;
                &[]
            }
            EventKind::External(_) => {
                kinds.external += 1;
                &[]
            }
        };
        memory_writes += writes.len() as u64;
        memory_bytes += writes.iter().map(|w| w.data.len() as u64).sum::<u64>();
    }
    let files_missing = files
        .iter()
        .filter(|(hash, len)| {
            reader
                .file_path(&FileRef {
                    hash: (*hash).clone(),
                    len: **len,
                })
                .is_err()
        })
        .count() as u64;
    let mut syscalls: Vec<SyscallCount> = syscalls
        .into_iter()
        .map(|(no, count)| SyscallCount { no, count })
        .collect();
    syscalls.sort_by(|a, b| b.count.cmp(&a.count).then(a.no.cmp(&b.no)));
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(Summary {
        program: lossy(&h.program),
        argv: h.argv.iter().map(|a| lossy(a)).collect(),
        cwd: lossy(&h.cwd),
        tool_version: h.tool_version.clone(),
        format_version: h.format_version,
        start_time_ns: h.start_time_ns,
        duration: Duration::from_nanos(h.duration_ns),
        exit: h.exit,
        complete: h.complete,
        incomplete_reason: h.incomplete_reason.clone(),
        events: reader.events_read(),
        kinds,
        syscalls,
        threads,
        memory_writes,
        memory_bytes,
        files: files.len() as u64,
        files_bytes: files.values().sum(),
        files_missing,
        trace_bytes: reader.size_on_disk(),
        cpu: CpuInfo::from_leaves(&h.cpuid),
        kernel: h.kernel_release.clone(),
        chaos: h.chaos.clone(),
        read_error,
    })
}

/// An error and its causes on one line, joined by ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// `1.5 MiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// How many syscalls the report lists.
const TOP_SYSCALLS: usize = 10;
/// How many threads the report lists individually.
const TOP_THREADS: usize = 16;

impl Summary {
    /// The report with syscall numbers turned into names by `name`.
    pub fn display_with<'a>(&'a self, name: &'a dyn Fn(u32) -> String) -> SummaryDisplay<'a> {
        SummaryDisplay {
            summary: self,
            name,
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, name: &dyn Fn(u32) -> String) -> fmt::Result {
        let s = self;
        writeln!(f, "program:   {}", s.program)?;
        writeln!(f, "argv:      {}", quote_args(&s.argv))?;
        writeln!(f, "cwd:       {}", s.cwd)?;
        write!(
            f,
            "status:    {}",
            if s.complete { "complete" } else { "incomplete" }
        )?;
        if !s.complete && !s.incomplete_reason.is_empty() {
            write!(f, " ({})", s.incomplete_reason)?;
        }
        writeln!(f)?;
        match s.exit {
            Some(ExitStatus::Exited(code)) => writeln!(f, "exit:      exited with code {code}")?,
            Some(ExitStatus::Signaled {
                signal,
                core_dumped,
            }) => writeln!(
                f,
                "exit:      killed by signal {signal}{}",
                if core_dumped { " (core dumped)" } else { "" }
            )?,
            None => writeln!(f, "exit:      unknown")?,
        }
        writeln!(f, "duration:  {:.3} s", s.duration.as_secs_f64())?;
        let k = &s.kinds;
        writeln!(
            f,
            "events:    {} ({} syscalls, {} exec, {} rdtsc, {} signals, {} schedules, {} exits)",
            s.events, k.syscall, k.exec, k.rdtsc, k.signal, k.schedule, k.exit
        )?;
        if let Some(e) = &s.read_error {
            writeln!(
                f,
                "warning:   events after {} could not be read: {e}",
                s.events
            )?;
        }
        if !s.syscalls.is_empty() {
            writeln!(f, "syscalls:")?;
            for c in s.syscalls.iter().take(TOP_SYSCALLS) {
                writeln!(f, "  {:>10}  {}", c.count, name(c.no))?;
            }
            if s.syscalls.len() > TOP_SYSCALLS {
                let rest: u64 = s.syscalls[TOP_SYSCALLS..].iter().map(|c| c.count).sum();
                writeln!(
                    f,
                    "  {rest:>10}  ({} other syscalls)",
                    s.syscalls.len() - TOP_SYSCALLS
                )?;
            }
        }
        writeln!(f, "threads:   {}", s.threads.len())?;
        for t in s.threads.iter().take(TOP_THREADS) {
            writeln!(f, "  tid {:>8}: {} events", t.tid, t.events)?;
        }
        if s.threads.len() > TOP_THREADS {
            writeln!(f, "  ... and {} more", s.threads.len() - TOP_THREADS)?;
        }
        writeln!(
            f,
            "memory:    {} in {} writes",
            human_bytes(s.memory_bytes),
            s.memory_writes
        )?;
        write!(f, "files:     {} ({})", s.files, human_bytes(s.files_bytes))?;
        if s.files_missing > 0 {
            write!(f, ", {} missing from the store", s.files_missing)?;
        }
        writeln!(f)?;
        writeln!(f, "size:      {} on disk", human_bytes(s.trace_bytes))?;
        let cpu = match (s.cpu.vendor.is_empty(), s.cpu.brand.is_empty()) {
            (true, true) => "unknown".to_string(),
            (false, true) => s.cpu.vendor.clone(),
            (true, false) => s.cpu.brand.clone(),
            (false, false) => format!("{} ({})", s.cpu.brand, s.cpu.vendor),
        };
        writeln!(f, "cpu:       {cpu}")?;
        writeln!(f, "kernel:    {}", s.kernel)?;
        match &s.chaos {
            Some(c) => {
                write!(f, "chaos:     seed {}", c.seed)?;
                for (k, v) in &c.params {
                    write!(f, ", {k}={v}")?;
                }
                writeln!(f)?;
            }
            None => writeln!(f, "chaos:     off")?,
        }
        write!(
            f,
            "recorded:  by cargo-record-test {} (format {})",
            s.tool_version, s.format_version
        )
    }
}

fn quote_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`Summary`] displayed with syscall names; see [`Summary::display_with`].
pub struct SummaryDisplay<'a> {
    summary: &'a Summary,
    name: &'a dyn Fn(u32) -> String,
}

impl fmt::Display for SummaryDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.summary.write(f, self.name)
    }
}

impl fmt::Display for Summary {
    /// The report with syscalls shown by number; see [`Summary::display_with`] for names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, &|no| format!("syscall {no}"))
    }
}
