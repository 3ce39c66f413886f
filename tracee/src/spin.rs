//! Spin hints as counted scheduling points (DESIGN.md 6.1): every PAUSE instruction in the
//! program's code is patched to `int3`, so each spin iteration traps, is counted per thread, and
//! the spinner can be preempted at an exact `(pc, hits)` position that replay reaches without
//! searching. PAUSE is a hint with no architectural effect, so the trap handler just skips it.
//!
//! PAUSEs are found by decoding whole functions (from the ELF symbol tables) that contain the
//! bytes F3 90: no byte is patched unless the decoder, starting at a function entry, sees a PAUSE
//! instruction there.

use std::path::Path;

use iced_x86::{Decoder, DecoderOptions, Mnemonic};

use crate::error::Result;
use crate::remote_ptr::RemotePtr;
use crate::task::Task;

/// The bytes of PAUSE; the first becomes INT3.
const PAUSE: [u8; 2] = [0xf3, 0x90];

/// An executable file mapping of the process.
#[derive(Clone, Debug)]
pub struct ExecMapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub path: String,
}

/// The executable, file-backed mappings of a process.
pub fn exec_mappings(tid: i32) -> Result<Vec<ExecMapping>> {
    let maps = std::fs::read_to_string(format!("/proc/{tid}/maps"))
        .map_err(|source| crate::Error::Proc { tid, source })?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let f: Vec<&str> = line.splitn(6, ' ').collect();
        if f.len() < 6 || !f[1].contains('x') {
            continue;
        }
        let path = f[5].trim_start();
        if !path.starts_with('/') || path.ends_with(" (deleted)") {
            continue;
        }
        let Some((a, b)) = f[0].split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end), Ok(offset)) = (
            u64::from_str_radix(a, 16),
            u64::from_str_radix(b, 16),
            u64::from_str_radix(f[2], 16),
        ) else {
            continue;
        };
        out.push(ExecMapping {
            start,
            end,
            offset,
            path: path.to_string(),
        });
    }
    Ok(out)
}

/// Every PAUSE of `file`'s functions, as `(function offset, function size, PAUSE offset)`
/// triples of file offsets, flattened (kept by the scan cache).
fn pauses_of_file(file: &Path) -> Vec<u64> {
    crate::scan_cache::cached("pause", file, || {
        let Some(img) = crate::elf::Image::read(file) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for f in &img.functions {
            let (Some(fo), Some(code)) = (img.file_offset(f.addr), img.code(f)) else {
                continue;
            };
            if memchr::memmem::find(code, &PAUSE).is_none() {
                continue;
            }
            let mut d = Decoder::with_ip(64, code, fo, DecoderOptions::NONE);
            for ins in &mut d {
                if ins.mnemonic() == Mnemonic::Pause && ins.len() == 2 {
                    out.extend([fo, f.size, ins.ip()]);
                }
            }
        }
        out
    })
}

/// The runtime addresses of the PAUSEs of functions that lie wholly in mapping `m`.
fn in_mapping(pauses: &[u64], m: &ExecMapping) -> Vec<u64> {
    let mut out: Vec<u64> = pauses
        .chunks_exact(3)
        .filter(|t| t[0] >= m.offset && t[0] + t[1] <= m.offset + (m.end - m.start))
        .map(|t| m.start + (t[2] - m.offset))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether the bytes at `a` are still a PAUSE.
fn is_pause(task: &mut Task, a: u64) -> bool {
    let mut b = [0u8; 2];
    task.read_bytes(RemotePtr::new(a), &mut b).is_ok() && b == PAUSE
}

/// Find every PAUSE in the process's executable file mappings not yet in `scanned` (by start
/// and end address), adding them to it. Record and replay see the same bytes (replay maps the
/// stored copies), so both find the same addresses; `points` patches them.
pub fn new_pause_points(
    task: &mut Task,
    scanned: &mut std::collections::BTreeSet<(u64, u64)>,
) -> Result<Vec<u64>> {
    crate::profile::work(crate::profile::Work::SpinScan, || scan(task, scanned))
}

fn scan(task: &mut Task, scanned: &mut std::collections::BTreeSet<(u64, u64)>) -> Result<Vec<u64>> {
    let maps = exec_mappings(task.tid.as_raw())?;
    let mut all = Vec::new();
    // Each file is scanned once, however many of its mappings are new.
    let mut files: std::collections::HashMap<&str, Vec<u64>> = Default::default();
    for m in &maps {
        if !scanned.insert((m.start, m.end)) {
            continue;
        }
        let pauses = files
            .entry(m.path.as_str())
            .or_insert_with(|| pauses_of_file(Path::new(&m.path)));
        all.extend(
            in_mapping(pauses, m)
                .into_iter()
                .filter(|&a| is_pause(task, a)),
        );
    }
    Ok(all)
}
