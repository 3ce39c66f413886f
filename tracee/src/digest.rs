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
}

/// The writable private mappings of a process, from /proc/PID/maps.
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
        let name = line.split_whitespace().nth(5).unwrap_or("");
        if name.starts_with("[v") {
            continue; // [vvar], [vdso], [vsyscall]
        }
        if let Some((a, b)) = range.split_once('-') {
            if let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
                out.push(Region { start, end });
            }
        }
    }
    Ok(out)
}

/// Join adjacent regions, so that how the kernel happened to split or merge mappings does not
/// change the digest.
fn merge(mut regions: Vec<Region>) -> Vec<Region> {
    regions.sort_by_key(|r| r.start);
    let mut out: Vec<Region> = Vec::new();
    for r in regions {
        match out.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

/// Digest the writable memory of the process of `task`, leaving out `exclude` ranges
/// (e.g. output buffers of syscalls other threads have in flight), and the thread's FP state.
pub fn digest(task: &Task, exclude: &[(u64, u64)]) -> Result<[u8; 16]> {
    crate::profile::work(crate::profile::Work::Digest, || digest_now(task, exclude))
}

fn digest_now(task: &Task, exclude: &[(u64, u64)]) -> Result<[u8; 16]> {
    let regions = merge(writable_regions(task.tid.as_raw())?);
    let debug = std::env::var_os("CRT_DIGEST_DEBUG").is_some();
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    for r in regions {
        let mut rh = debug.then(blake3::Hasher::new);
        let mut a = r.start;
        while a < r.end {
            let boundary = (a | ((1 << 20) - 1)) + 1;
            let n = (r.end.min(boundary) - a) as usize;
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
            h.update(&a.to_le_bytes());
            h.update(chunk);
            if let Some(rh) = rh.as_mut() {
                rh.update(chunk);
            }
            a += n as u64;
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
