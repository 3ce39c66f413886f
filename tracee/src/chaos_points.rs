//! Chaos preemption points (DESIGN.md section 8): the instructions of the program's own code
//! where a thread switch exposes a race. Found in the main executable by decoding its functions
//! (ELF symbols, iced-x86):
//! * calls to `core::sync::atomic` (in debug builds every atomic operation is such a call), to
//!   `std::sync` (locks, condition variables, channels, once cells), `std::thread::sleep`,
//!   `std::time::SystemTime::now` and `tokio::sync`;
//! * LOCK-prefixed instructions and XCHG with memory (atomics inlined in release builds).
//!
//! Library code (std, core, alloc, test, tokio, rayon, ...) is left out: its internal atomics are
//! many and rarely where a program's race is. A point is preempted *before* the instruction.

use std::path::Path;

use iced_x86::{Code, Decoder, DecoderOptions, OpKind};
use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::spin::ExecMapping;

/// Crates whose code is not the program's own (the first component of a mangled path).
const LIBRARY_CRATES: &[&str] = &[
    "std", "core", "alloc", "test", "tokio", "rayon", "rayon_core", "crossbeam_utils",
    "crossbeam_epoch", "crossbeam_deque", "crossbeam_channel", "hashbrown", "parking_lot",
    "parking_lot_core", "libc", "memchr", "backtrace", "gimli", "addr2line", "miniz_oxide",
    "object", "rustc_demangle", "panic_unwind", "panic_abort", "getopts", "unicode_width",
    "std_detect", "compiler_builtins", "adler2", "mio", "bytes", "signal_hook", "signal_hook_registry",
    "lock_api", "scopeguard", "smallvec", "once_cell", "log", "either", "slab", "pin_project_lite",
    "futures_core", "futures_util", "futures_task", "futures_channel", "socket2", "nix",
    "libtest_mimic", "clap", "anstream", "anstyle",
];

/// Call targets that are synchronisation points (substrings of legacy-mangled names).
const SYNC_TARGETS: &[&str] = &[
    "4core4sync6atomic",
    "3std4sync",
    "3std6thread5sleep",
    "3std4time10SystemTime3now",
    "5tokio4sync",
    "5tokio4time5sleep",
];

/// The first path component (crate) of a legacy-mangled Rust symbol, if it is one.
fn crate_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("_ZN")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let len: usize = rest[..digits].parse().ok()?;
    rest.get(digits..digits + len)
}

/// Whether a symbol is the program's own code.
fn is_user_code(name: &str) -> bool {
    match crate_of(name) {
        Some(c) => !LIBRARY_CRATES.contains(&c) && !c.starts_with('_'),
        // v0-mangled Rust (`_R`) is treated as the program's; C symbols are not.
        None => name.starts_with("_R"),
    }
}

/// The chaos point candidates of the executable `file` mapped as `exec` (its executable
/// mapping), as runtime addresses, sorted.
pub fn find(file: &Path, exec: &ExecMapping) -> Vec<u64> {
    let Ok(data) = std::fs::read(file) else {
        return Vec::new();
    };
    let Ok(obj) = object::File::parse(&*data) else {
        return Vec::new();
    };
    let segs: Vec<(u64, u64, u64)> = obj
        .segments()
        .map(|s| {
            let (off, size) = s.file_range();
            (s.address(), off, size)
        })
        .collect();
    let to_file = |vaddr: u64| -> Option<u64> {
        segs.iter()
            .find(|&&(va, _, sz)| vaddr >= va && vaddr < va + sz)
            .map(|&(va, off, _)| vaddr - va + off)
    };
    let mut funcs: Vec<(u64, u64, String)> = obj
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .collect();
    funcs.sort_by_key(|f| f.0);
    funcs.dedup_by_key(|f| f.0);
    let name_at = |addr: u64| -> Option<&str> {
        funcs
            .binary_search_by_key(&addr, |f| f.0)
            .ok()
            .map(|i| funcs[i].2.as_str())
    };
    let mut out = Vec::new();
    for (addr, size, name) in &funcs {
        if !is_user_code(name) {
            continue;
        }
        let Some(fo) = to_file(*addr) else { continue };
        let Some(code) = data.get(fo as usize..(fo + size) as usize) else {
            continue;
        };
        let mut d = Decoder::with_ip(64, code, *addr, DecoderOptions::NONE);
        for ins in &mut d {
            let point = if ins.has_lock_prefix()
                || (matches!(ins.code(), Code::Xchg_rm64_r64 | Code::Xchg_rm32_r32 | Code::Xchg_rm16_r16 | Code::Xchg_rm8_r8)
                    && ins.op0_kind() == OpKind::Memory)
            {
                true
            } else if ins.code() == Code::Call_rel32_64 {
                name_at(ins.near_branch_target())
                    .is_some_and(|t| SYNC_TARGETS.iter().any(|p| t.contains(p)))
            } else {
                false
            };
            // Where the instruction is at run time: its file offset within the mapping.
            if point {
                if let Some(f) = to_file(ins.ip()) {
                    if f >= exec.offset && f - exec.offset < exec.end - exec.start {
                        out.push(exec.start + (f - exec.offset));
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}
