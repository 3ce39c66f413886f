//! A 128-bit digest of a thread's state: its registers' extended state and the contents of the
//! process's writable private memory (DESIGN.md section 6). Two moments with equal registers and
//! equal digests have identical futures.

use std::io::IoSliceMut;

use nix::sys::uio::{process_vm_readv, RemoteIoVec};

use crate::error::{Error, Result};
use crate::task::Task;

/// A writable private mapping.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    /// No file behind it: a page the kernel has not mapped in reads as zeros.
    pub anonymous: bool,
}

/// The writable private mappings of a process, from /proc/PID/maps, in address order.
pub fn writable_regions(tid: i32) -> Result<Vec<Region>> {
    let maps = std::fs::read_to_string(format!("/proc/{tid}/maps"))
        .map_err(|source| Error::Proc { tid, source })?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut it = line.split_whitespace();
        let (Some(range), Some(perms)) = (it.next(), it.next()) else {
            continue;
        };
        let p = perms.as_bytes();
        if p.len() < 4 || p[0] != b'r' || p[1] != b'w' || p[3] != b'p' {
            continue;
        }
        let inode = it.nth(2).unwrap_or("0");
        let name = it.next().unwrap_or("");
        if name.starts_with("[v") {
            continue; // [vvar], [vdso], [vsyscall]
        }
        if let Some((a, b)) = range.split_once('-') {
            if let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
                out.push(Region {
                    start,
                    end,
                    anonymous: inode == "0",
                });
            }
        }
    }
    out.sort_by_key(|r| r.start);
    Ok(out)
}

const PAGE: u64 = 4096;
/// /proc/PID/pagemap: the page is in memory, or in swap.
const PM_PRESENT: u64 = 1 << 63;
const PM_SWAPPED: u64 = 1 << 62;

/// Which pages of `r` may hold something other than zeros: all of a file-backed mapping, the
/// present (or swapped) ones of an anonymous one; all of them when pagemap cannot be read.
fn pages_to_read(pagemap: Option<&std::fs::File>, r: &Region) -> Vec<bool> {
    use std::os::unix::fs::FileExt;
    let n = ((r.end - r.start) / PAGE) as usize;
    let (Some(f), true) = (pagemap, r.anonymous) else {
        return vec![true; n];
    };
    let mut raw = vec![0u8; n * 8];
    match f.read_exact_at(&mut raw, r.start / PAGE * 8) {
        Ok(()) => raw
            .chunks_exact(8)
            .map(|e| {
                let v = u64::from_le_bytes(e.try_into().expect("8 bytes"));
                v & (PM_PRESENT | PM_SWAPPED) != 0
            })
            .collect(),
        Err(_) => vec![true; n],
    }
}

/// Digest the writable memory of the process of `task`, leaving out `exclude` ranges
/// (e.g. output buffers of syscalls other threads have in flight), and the thread's FP state.
///
/// The digest is over the pages that hold something other than zeros, each with its address,
/// in address order: which zero pages the kernel happens to have mapped in (a read maps the
/// zero page, a replayer's own reads too) does not change it, and pages an anonymous mapping
/// never touched (most of every thread's stack) are skipped unread, by /proc/PID/pagemap.
pub fn digest(task: &Task, exclude: &[(u64, u64)]) -> Result<[u8; 16]> {
    crate::profile::work(crate::profile::Work::Digest, || digest_now(task, exclude))
}

fn digest_now(task: &Task, exclude: &[(u64, u64)]) -> Result<[u8; 16]> {
    let tid = task.tid.as_raw();
    let regions = writable_regions(tid)?;
    let pagemap = std::fs::File::open(format!("/proc/{tid}/pagemap")).ok();
    let debug = std::env::var_os("CRT_DIGEST_DEBUG").is_some();
    let mut h = blake3::Hasher::new();
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    for r in regions {
        let mut rh = debug.then(blake3::Hasher::new);
        let wanted = pages_to_read(pagemap.as_ref(), &r);
        let mut i = 0;
        while i < wanted.len() {
            if !wanted[i] {
                i += 1;
                continue;
            }
            // A run of pages to read, at most a chunk long.
            let mut j = i;
            while j < wanted.len() && wanted[j] && (j - i) * (PAGE as usize) < CHUNK {
                j += 1;
            }
            let a = r.start + i as u64 * PAGE;
            let n = (j - i) * PAGE as usize;
            let chunk = &mut buf[..n];
            let remote = [RemoteIoVec {
                base: a as usize,
                len: n,
            }];
            match process_vm_readv(task.tid, &mut [IoSliceMut::new(chunk)], &remote) {
                Ok(got) if got == n => {}
                _ => chunk.fill(0),
            }
            for &(xs, xe) in exclude {
                let s = xs.max(a);
                let e = xe.min(a + n as u64);
                if s < e {
                    chunk[(s - a) as usize..(e - a) as usize].fill(0);
                }
            }
            for (k, page) in chunk.chunks_exact(PAGE as usize).enumerate() {
                if is_zero(page) {
                    continue;
                }
                h.update(&(a + k as u64 * PAGE).to_le_bytes());
                h.update(page);
                if let Some(rh) = rh.as_mut() {
                    rh.update(page);
                }
            }
            i = j;
        }
        if let Some(rh) = rh {
            eprintln!(
                "[digest] {:#x}-{:#x} {}",
                r.start,
                r.end,
                &rh.finalize().to_hex()[..16]
            );
        }
    }
    if let Ok(fp) = task.fpregs() {
        // xmm registers and mxcsr: the parts of the FP state a program's results depend on.
        h.update(&fp.mxcsr.to_le_bytes());
        for x in fp.xmm_space.iter() {
            h.update(&x.to_le_bytes());
        }
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full.as_bytes()[..16]);
    Ok(out)
}

fn is_zero(page: &[u8]) -> bool {
    page.chunks_exact(8)
        .all(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")) == 0)
}
