//! Conversion between the model (model.rs) and the Cap'n Proto messages of schema/trace.capnp.
//!
//! Encoding trusts the model (only sizes Cap'n Proto cannot express are refused); decoding trusts
//! nothing: every malformed message becomes a lowercase reason string, never a panic.

use crate::model::*;
use crate::trace_capnp::{
    cpuid_leaf, event, exit_status, file_ref, header, mem_write, output, position,
};
use capnp::message::ReaderOptions;

/// The first bytes of a header file.
pub(crate) const MAGIC: &[u8; 8] = b"crtrace\0";
/// Magic, u32 LE format version, u32 LE reserved (zero).
pub(crate) const HEADER_PREFIX_LEN: usize = 16;
/// The largest header message we accept: argv and env are bounded by the kernel's limits, far
/// below this.
pub(crate) const HEADER_LIMIT_WORDS: usize = 8 << 20; // 64 MiB
/// The largest event message we accept (memory bytes are not inside messages).
pub(crate) const EVENT_LIMIT_WORDS: usize = 1 << 20; // 8 MiB
/// The largest single memory write we accept; Linux moves at most 0x7ffff000 bytes per syscall.
pub(crate) const MAX_WRITE_LEN: u64 = 1 << 36;
/// Cap'n Proto lists hold fewer than 2^29 elements; refuse anything near that when encoding.
const MAX_LIST: usize = (1 << 29) - 1;

/// Options allowing a traversal of at most `words`.
fn options(words: usize) -> ReaderOptions {
    *ReaderOptions::new()
        .traversal_limit_in_words(Some(words))
        .nesting_limit(16)
}

/// The traversal budget of a message of `words` words. Cap'n Proto charges at least a word per
/// list element, so this bounds what decoding allocates to a small multiple of the input even
/// when a hostile message declares millions of empty elements.
fn budget(words: usize) -> usize {
    2 * words + 64
}

/// Options for reading an event message from a stream (before its size is known).
pub(crate) fn event_options() -> ReaderOptions {
    options(EVENT_LIMIT_WORDS)
}

/// Re-open a message with a traversal budget proportional to its actual size.
pub(crate) fn bounded<S: capnp::message::ReaderSegments>(
    msg: capnp::message::Reader<S>,
) -> capnp::message::Reader<S> {
    let segments = msg.into_segments();
    let words: usize = (0..segments.len() as u32)
        .filter_map(|i| segments.get_segment(i))
        .map(|s| s.len() / 8)
        .sum();
    capnp::message::Reader::new(segments, options(budget(words)))
}

/// A reason why encoding failed (a value too large for the format).
pub(crate) type EncodeResult<T> = std::result::Result<T, String>;

fn len32(n: usize, what: &str) -> EncodeResult<u32> {
    if n > MAX_LIST {
        return Err(format!(
            "{what} has {n} elements, more than the format allows"
        ));
    }
    Ok(n as u32)
}

fn data_ok<'a>(d: &'a [u8], what: &str) -> EncodeResult<&'a [u8]> {
    if d.len() > MAX_LIST {
        return Err(format!(
            "{what} is {} bytes, more than the format allows",
            d.len()
        ));
    }
    Ok(d)
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// The complete contents of a header file.
pub(crate) fn encode_header(h: &Header, complete: bool) -> EncodeResult<Vec<u8>> {
    let mut msg = capnp::message::Builder::new_default();
    {
        let mut r = msg.init_root::<header::Builder>();
        r.set_format_version(FORMAT_VERSION);
        r.set_tool_version(h.tool_version.as_str());
        r.set_program(data_ok(&h.program, "program")?);
        {
            let mut l = r.reborrow().init_argv(len32(h.argv.len(), "argv")?);
            for (i, a) in h.argv.iter().enumerate() {
                l.set(i as u32, data_ok(a, "an argument")?);
            }
        }
        {
            let mut l = r.reborrow().init_env(len32(h.env.len(), "env")?);
            for (i, a) in h.env.iter().enumerate() {
                l.set(i as u32, data_ok(a, "an environment entry")?);
            }
        }
        r.set_cwd(data_ok(&h.cwd, "cwd")?);
        r.set_start_time_ns(h.start_time_ns);
        r.set_duration_ns(h.duration_ns);
        {
            let mut l = r.reborrow().init_cpuid(len32(h.cpuid.len(), "cpuid")?);
            for (i, c) in h.cpuid.iter().enumerate() {
                let mut b = l.reborrow().get(i as u32);
                b.set_leaf(c.leaf);
                b.set_subleaf(c.subleaf);
                b.set_eax(c.eax);
                b.set_ebx(c.ebx);
                b.set_ecx(c.ecx);
                b.set_edx(c.edx);
            }
        }
        r.set_xcr0(h.xcr0);
        r.set_kernel_release(h.kernel_release.as_str());
        if let Some(chaos) = &h.chaos {
            let mut c = r.reborrow().init_chaos();
            c.set_seed(chaos.seed);
            let mut l = c
                .reborrow()
                .init_params(len32(chaos.params.len(), "chaos params")?);
            for (i, (k, v)) in chaos.params.iter().enumerate() {
                let mut kv = l.reborrow().get(i as u32);
                kv.set_key(k.as_str());
                kv.set_value(v.as_str());
            }
            let mut p = c.init_points(len32(chaos.points.len(), "chaos points")?);
            for (i, a) in chaos.points.iter().enumerate() {
                p.set(i as u32, *a);
            }
        }
        if let Some(exit) = &h.exit {
            build_exit(r.reborrow().init_exit(), exit);
        }
        r.set_complete(complete);
        r.set_incomplete_reason(h.incomplete_reason.as_str());
    }
    let mut out = Vec::with_capacity(HEADER_PREFIX_LEN + 1024);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    capnp::serialize::write_message(&mut out, &msg).map_err(|e| lc(&e))?;
    Ok(out)
}

fn build_exit(mut b: exit_status::Builder, s: &ExitStatus) {
    match *s {
        ExitStatus::Exited(code) => b.set_exited(code),
        ExitStatus::Signaled {
            signal,
            core_dumped,
        } => {
            let mut g = b.init_signaled();
            g.set_signal(signal);
            g.set_core_dumped(core_dumped);
        }
    }
}

fn build_writes(
    mut l: capnp::struct_list::Builder<mem_write::Owned>,
    writes: &[MemWrite],
) -> EncodeResult<()> {
    for (i, w) in writes.iter().enumerate() {
        let len = w.data.len() as u64;
        if len > MAX_WRITE_LEN {
            return Err(format!("a memory write of {len} bytes is too large"));
        }
        let mut b = l.reborrow().get(i as u32);
        b.set_addr(w.addr);
        b.set_len(len);
    }
    Ok(())
}

fn build_position(mut b: position::Builder, p: &Position) -> EncodeResult<()> {
    b.set_pc(p.pc);
    if let Some(h) = p.hits {
        b.set_has_hits(true);
        b.set_hits(h);
    }
    let mut regs = b.reborrow().init_regs(len32(p.regs.len(), "regs")?);
    for (i, r) in p.regs.iter().enumerate() {
        regs.set(i as u32, *r);
    }
    if let Some(d) = &p.digest {
        b.set_digest(&d[..]);
    }
    Ok(())
}

/// Fill `root` with `ev` (memory bytes excluded: they go to the data stream).
pub(crate) fn build_event(mut root: event::Builder, ev: &Event) -> EncodeResult<()> {
    root.set_tid(ev.tid);
    let k = root.init_kind();
    match &ev.kind {
        EventKind::Exec { writes } => {
            build_writes(k.init_exec(len32(writes.len(), "writes")?), writes)?;
        }
        EventKind::Syscall(s) => {
            let mut b = k.init_syscall();
            b.set_no(s.no);
            {
                let mut a = b.reborrow().init_args(6);
                for (i, v) in s.args.iter().enumerate() {
                    a.set(i as u32, *v);
                }
            }
            b.set_result(s.result);
            build_writes(
                b.reborrow().init_writes(len32(s.writes.len(), "writes")?),
                &s.writes,
            )?;
            if let Some(f) = &s.file {
                let mut fb = b.reborrow().init_file();
                fb.set_hash(f.hash.as_str());
                fb.set_len(f.len);
            }
            if let Some(o) = &s.output {
                let mut ob = b.init_output();
                ob.set_stream(o.stream as u8);
                ob.set_copied(&o.copied);
            }
        }
        EventKind::Rdtsc { value, aux } => {
            let mut b = k.init_rdtsc();
            b.set_value(*value);
            if let Some(a) = aux {
                b.set_has_aux(true);
                b.set_aux(*a);
            }
        }
        EventKind::Signal(s) => {
            let mut b = k.init_signal();
            b.set_signo(s.signo);
            b.set_siginfo(data_ok(&s.siginfo, "siginfo")?);
            b.set_synchronous(s.synchronous);
            if let Some(p) = &s.position {
                build_position(b.init_position(), p)?;
            }
        }
        EventKind::Schedule { position } => {
            let b = k.init_schedule();
            if let Some(p) = position {
                build_position(b.init_position(), p)?;
            }
        }
        EventKind::Exit { status } => build_exit(k.init_exit(), status),
        EventKind::External(o) => {
            let mut ob = k.init_external();
            ob.set_stream(o.stream as u8);
            ob.set_copied(&o.copied);
        }
    }
    Ok(())
}

/// The memory writes of an event, in the order their bytes sit in the data stream.
pub(crate) fn event_writes(ev: &Event) -> &[MemWrite] {
    match &ev.kind {
        EventKind::Exec { writes } => writes,
        EventKind::Syscall(s) => &s.writes,
        _ => &[],
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Lowercase the first letter of an error message and drop a final period (capnp's messages
/// are sentences).
pub(crate) fn lc(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    let s = s.trim_end_matches('.');
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A decoding failure: either the message is malformed (a reason) or fetching memory bytes
/// failed (the caller's error, passed through).
pub(crate) enum DecodeError<E> {
    Malformed(String),
    Data(E),
}

impl<E> From<capnp::Error> for DecodeError<E> {
    fn from(e: capnp::Error) -> Self {
        DecodeError::Malformed(lc(&e))
    }
}

impl<E> From<capnp::NotInSchema> for DecodeError<E> {
    fn from(e: capnp::NotInSchema) -> Self {
        DecodeError::Malformed(format!("unknown variant {}", e.0))
    }
}

fn malformed<T, E>(s: impl Into<String>) -> Result<T, DecodeError<E>> {
    Err(DecodeError::Malformed(s.into()))
}

fn text<E>(t: capnp::text::Reader, what: &str) -> Result<String, DecodeError<E>> {
    match t.to_str() {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => malformed(format!("{what} is not valid utf-8")),
    }
}

/// Parse the bytes of a header file. Prefix errors are reported before the message is looked at
/// so that a newer version is refused even if its message layout changed.
pub(crate) enum HeaderError {
    Truncated,
    BadMagic,
    Newer(u32),
    Corrupted(String),
}

pub(crate) fn decode_header(bytes: &[u8]) -> Result<Header, HeaderError> {
    let n = bytes.len().min(MAGIC.len());
    if bytes[..n] != MAGIC[..n] {
        return Err(HeaderError::BadMagic);
    }
    if bytes.len() < HEADER_PREFIX_LEN {
        return Err(HeaderError::Truncated);
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version > FORMAT_VERSION {
        return Err(HeaderError::Newer(version));
    }
    if version == 0 {
        return Err(HeaderError::Corrupted("format version 0 is invalid".into()));
    }
    let mut rest = &bytes[HEADER_PREFIX_LEN..];
    if rest.is_empty() {
        return Err(HeaderError::Truncated);
    }
    let limit = budget(rest.len() / 8).min(HEADER_LIMIT_WORDS);
    let msg = match capnp::serialize::read_message_from_flat_slice(&mut rest, options(limit)) {
        Ok(m) => m,
        Err(e) => {
            return Err(match e.kind {
                capnp::ErrorKind::MessageEndsPrematurely(..)
                | capnp::ErrorKind::FailedToFillTheWholeBuffer
                | capnp::ErrorKind::PrematureEndOfFile => HeaderError::Truncated,
                _ => HeaderError::Corrupted(lc(&e)),
            })
        }
    };
    if !rest.is_empty() {
        return Err(HeaderError::Corrupted(format!(
            "{} unexpected bytes after the header message",
            rest.len()
        )));
    }
    let decoded = (|| -> Result<Header, DecodeError<()>> {
        let r = msg.get_root::<header::Reader>()?;
        let h = decode_header_root(r)?;
        if h.format_version != version {
            return malformed(format!(
                "format version {} in the message disagrees with {version} in the prefix",
                h.format_version
            ));
        }
        Ok(h)
    })();
    match decoded {
        Ok(h) => Ok(h),
        Err(DecodeError::Malformed(s)) => Err(HeaderError::Corrupted(s)),
        Err(DecodeError::Data(())) => Err(HeaderError::Corrupted("unexpected data".into())),
    }
}

fn decode_header_root<E>(r: header::Reader) -> Result<Header, DecodeError<E>> {
    let mut argv = Vec::new();
    for a in r.get_argv()?.iter() {
        argv.push(a?.to_vec());
    }
    let mut env = Vec::new();
    for a in r.get_env()?.iter() {
        env.push(a?.to_vec());
    }
    let mut cpuid = Vec::new();
    for c in r.get_cpuid()?.iter() {
        cpuid.push(decode_cpuid(c));
    }
    let chaos = if r.has_chaos() {
        let c = r.get_chaos()?;
        let mut params = Vec::new();
        for kv in c.get_params()?.iter() {
            params.push((
                text(kv.get_key()?, "a chaos parameter")?,
                text(kv.get_value()?, "a chaos parameter")?,
            ));
        }
        let mut points: Vec<u64> = c.get_points()?.iter().collect();
        if points.is_empty() {
            // Traces of format 2 before the typed field: a comma-separated hex parameter.
            if let Some(i) = params.iter().position(|(k, _)| k == "points") {
                let (_, v) = params.remove(i);
                points = v
                    .split(',')
                    .filter_map(|x| u64::from_str_radix(x, 16).ok())
                    .collect();
            }
        }
        Some(ChaosParams {
            seed: c.get_seed(),
            params,
            points,
        })
    } else {
        None
    };
    let exit = if r.has_exit() {
        Some(decode_exit(r.get_exit()?)?)
    } else {
        None
    };
    Ok(Header {
        format_version: r.get_format_version(),
        tool_version: text(r.get_tool_version()?, "the tool version")?,
        program: r.get_program()?.to_vec(),
        argv,
        env,
        cwd: r.get_cwd()?.to_vec(),
        start_time_ns: r.get_start_time_ns(),
        duration_ns: r.get_duration_ns(),
        cpuid,
        xcr0: r.get_xcr0(),
        kernel_release: text(r.get_kernel_release()?, "the kernel release")?,
        chaos,
        exit,
        complete: r.get_complete(),
        incomplete_reason: text(r.get_incomplete_reason()?, "the incomplete reason")?,
    })
}

fn decode_cpuid(c: cpuid_leaf::Reader) -> CpuidLeaf {
    CpuidLeaf {
        leaf: c.get_leaf(),
        subleaf: c.get_subleaf(),
        eax: c.get_eax(),
        ebx: c.get_ebx(),
        ecx: c.get_ecx(),
        edx: c.get_edx(),
    }
}

fn decode_exit<E>(r: exit_status::Reader) -> Result<ExitStatus, DecodeError<E>> {
    Ok(match r.which()? {
        exit_status::Exited(code) => ExitStatus::Exited(code),
        exit_status::Signaled(g) => ExitStatus::Signaled {
            signal: g.get_signal(),
            core_dumped: g.get_core_dumped(),
        },
    })
}

/// A file reference's hash must be 64 lowercase hex digits: it becomes a path in the store.
pub(crate) fn valid_hash(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn decode_file<E>(r: file_ref::Reader) -> Result<FileRef, DecodeError<E>> {
    let hash = text(r.get_hash()?, "a file hash")?;
    if !valid_hash(&hash) {
        return malformed(format!("invalid file hash {hash:?}"));
    }
    Ok(FileRef {
        hash,
        len: r.get_len(),
    })
}

fn decode_position<E>(r: position::Reader) -> Result<Position, DecodeError<E>> {
    let regs_r = r.get_regs()?;
    let mut regs = Vec::with_capacity(regs_r.len() as usize);
    regs.extend(regs_r.iter());
    let d = r.get_digest()?;
    let digest = match d.len() {
        0 => None,
        16 => Some(d.try_into().expect("16 bytes")),
        n => return malformed(format!("a position digest has {n} bytes instead of 16")),
    };
    Ok(Position {
        pc: r.get_pc(),
        hits: r.get_has_hits().then(|| r.get_hits()),
        regs,
        digest,
    })
}

fn decode_output<E>(o: output::Reader, what: &str) -> Result<Output, DecodeError<E>> {
    let stream = match o.get_stream() {
        1 => Stream::Stdout,
        2 => Stream::Stderr,
        n => return malformed(format!("{what} names stream {n}")),
    };
    Ok(Output {
        stream,
        copied: o.get_copied()?.to_vec(),
    })
}

/// Decode the writes of an event, fetching each one's bytes from the data stream in order.
fn decode_writes<E>(
    l: capnp::struct_list::Reader<mem_write::Owned>,
    fetch: &mut dyn FnMut(u64) -> Result<Vec<u8>, E>,
) -> Result<Vec<MemWrite>, DecodeError<E>> {
    let mut out = Vec::with_capacity(l.len() as usize);
    for w in l.iter() {
        let len = w.get_len();
        if len > MAX_WRITE_LEN {
            return malformed(format!("a memory write claims {len} bytes"));
        }
        let data = fetch(len).map_err(DecodeError::Data)?;
        out.push(MemWrite {
            addr: w.get_addr(),
            data,
        });
    }
    Ok(out)
}

/// Decode one event; `fetch(len)` returns the next `len` bytes of the data stream.
pub(crate) fn decode_event<E>(
    r: event::Reader,
    fetch: &mut dyn FnMut(u64) -> Result<Vec<u8>, E>,
) -> Result<Event, DecodeError<E>> {
    let kind = match r.get_kind().which()? {
        event::kind::Exec(l) => EventKind::Exec {
            writes: decode_writes(l?, fetch)?,
        },
        event::kind::Syscall(s) => {
            let s = s?;
            let a = s.get_args()?;
            if a.len() != 6 {
                return malformed(format!("a syscall has {} arguments instead of 6", a.len()));
            }
            let mut args = [0u64; 6];
            for (i, v) in args.iter_mut().enumerate() {
                *v = a.get(i as u32);
            }
            // Read `file` before the writes so a malformed message fails before touching data.
            let file = if s.has_file() {
                Some(decode_file(s.get_file()?)?)
            } else {
                None
            };
            let output = if s.has_output() {
                Some(decode_output(s.get_output()?, "a syscall's output")?)
            } else {
                None
            };
            EventKind::Syscall(SyscallEvent {
                no: s.get_no(),
                args,
                result: s.get_result(),
                writes: decode_writes(s.get_writes()?, fetch)?,
                file,
                output,
            })
        }
        event::kind::Rdtsc(t) => {
            let t = t?;
            EventKind::Rdtsc {
                value: t.get_value(),
                aux: t.get_has_aux().then(|| t.get_aux()),
            }
        }
        event::kind::Signal(s) => {
            let s = s?;
            let position = if s.has_position() {
                Some(decode_position(s.get_position()?)?)
            } else {
                None
            };
            EventKind::Signal(SignalEvent {
                signo: s.get_signo(),
                siginfo: s.get_siginfo()?.to_vec(),
                synchronous: s.get_synchronous(),
                position,
            })
        }
        event::kind::Schedule(s) => {
            let s = s?;
            let position = if s.has_position() {
                Some(decode_position(s.get_position()?)?)
            } else {
                None
            };
            EventKind::Schedule { position }
        }
        event::kind::Exit(e) => EventKind::Exit {
            status: decode_exit(e?)?,
        },
        event::kind::External(o) => EventKind::External(decode_output(o?, "external output")?),
    };
    Ok(Event {
        tid: r.get_tid(),
        kind,
    })
}
