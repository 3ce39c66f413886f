//! Chaos preemption points (DESIGN.md section 8): the instructions of the program's own code
//! where a thread switch exposes a race. Found in the main executable by decoding its functions
//! (ELF symbols, iced-x86):
//! * calls to `core::sync::atomic` (in debug builds every atomic operation is such a call), to
//!   `std::sync` (locks, condition variables, channels, once cells), `std::thread::sleep`,
//!   `std::time::SystemTime::now` and `tokio::sync`;
//! * LOCK-prefixed instructions and XCHG with memory (atomics inlined in release builds);
//! * the instruction right after each call to an atomic operation (between a load and its use).
//!
//! Library code (std, core, alloc, test, tokio, rayon, ...) is left out: its internal atomics are
//! many and rarely where a program's race is. A point is preempted *before* the instruction.

use std::path::Path;

use iced_x86::{Code, Decoder, DecoderOptions, OpKind};

use crate::spin::ExecMapping;

/// Crates whose code is not the program's own (the first component of a mangled path).
const LIBRARY_CRATES: &[&str] = &[
    "std",
    "core",
    "alloc",
    "test",
    "tokio",
    "rayon",
    "rayon_core",
    "crossbeam_utils",
    "crossbeam_epoch",
    "crossbeam_deque",
    "crossbeam_channel",
    "hashbrown",
    "parking_lot",
    "parking_lot_core",
    "libc",
    "memchr",
    "backtrace",
    "gimli",
    "addr2line",
    "miniz_oxide",
    "object",
    "rustc_demangle",
    "panic_unwind",
    "panic_abort",
    "getopts",
    "unicode_width",
    "std_detect",
    "compiler_builtins",
    "adler2",
    "mio",
    "bytes",
    "signal_hook",
    "signal_hook_registry",
    "lock_api",
    "scopeguard",
    "smallvec",
    "once_cell",
    "log",
    "either",
    "slab",
    "pin_project_lite",
    "futures_core",
    "futures_util",
    "futures_task",
    "futures_channel",
    "socket2",
    "nix",
    "libtest_mimic",
    "clap",
    "anstream",
    "anstyle",
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

/// The defining crate of a Rust symbol, legacy (`_ZN3std...`) or v0 (`_RNvNtCs..._3std...`).
fn crate_of(name: &str) -> Option<&str> {
    if let Some(rest) = name.strip_prefix("_ZN") {
        return ident(rest).map(|(id, _)| id);
    }
    let mut s = name
        .strip_prefix("_R")?
        .trim_start_matches(|c: char| c.is_ascii_digit());
    // Walk the path's outer layers down to its crate root.
    loop {
        let mut chars = s.chars();
        match chars.next()? {
            'N' => {
                chars.next()?; // namespace
                s = chars.as_str();
            }
            'I' => s = chars.as_str(),
            'M' | 'X' => s = skip_disambiguator(chars.as_str()),
            'C' => {
                let rest = skip_disambiguator(chars.as_str());
                return ident(rest).map(|(id, _)| id);
            }
            _ => return None,
        }
    }
}

/// Skip a v0 disambiguator `s<base-62>_`.
fn skip_disambiguator(s: &str) -> &str {
    match s.strip_prefix('s') {
        Some(r) => r.find('_').map(|i| &r[i + 1..]).unwrap_or(r),
        None => s,
    }
}

/// A length-prefixed identifier (`3std`) and what follows it.
fn ident(s: &str) -> Option<(&str, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let len: usize = s[..digits].parse().ok()?;
    let rest = &s[digits..];
    let rest = rest.strip_prefix('_').unwrap_or(rest);
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// Whether a symbol is the program's own code (Rust, not one of the library crates).
fn is_user_code(name: &str) -> bool {
    match crate_of(name) {
        Some(c) => !LIBRARY_CRATES.contains(&c) && !c.starts_with('_') && !c.starts_with('$'),
        None => false,
    }
}

/// Whether a call target is a synchronisation function.
fn is_sync_target(name: &str) -> bool {
    if name.starts_with("_ZN") {
        return SYNC_TARGETS.iter().any(|p| name.contains(p));
    }
    // v0: the same paths, each component length-prefixed.
    let v0 = [
        ("4core", "4sync6atomic"),
        ("3std", "4sync"),
        ("3std", "6thread5sleep"),
        ("3std", "10SystemTime3now"),
        ("5tokio", "4sync"),
        ("5tokio", "4time5sleep"),
    ];
    name.starts_with("_R")
        && v0
            .iter()
            .any(|(krate, path)| crate_of(name) == Some(&krate[1..]) && name.contains(path))
}

/// The chaos point candidates of the executable `file` mapped as `exec` (its executable
/// mapping), as runtime addresses, sorted.
pub fn find(file: &Path, exec: &ExecMapping) -> Vec<u64> {
    // Where an instruction is at run time: its file offset within the mapping.
    let mut out: Vec<u64> = crate::scan_cache::cached("chaos", file, || in_file(file))
        .into_iter()
        .filter(|&f| f >= exec.offset && f - exec.offset < exec.end - exec.start)
        .map(|f| exec.start + (f - exec.offset))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The chaos point candidates of `file`, as file offsets.
fn in_file(file: &Path) -> Vec<u64> {
    let Some(img) = crate::elf::Image::read(file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in img.functions.iter().filter(|f| is_user_code(&f.name)) {
        let Some(code) = img.code(f) else { continue };
        let mut d = Decoder::with_ip(64, code, f.addr, DecoderOptions::NONE);
        for ins in &mut d {
            let xchg_mem = matches!(
                ins.code(),
                Code::Xchg_rm64_r64 | Code::Xchg_rm32_r32 | Code::Xchg_rm16_r16 | Code::Xchg_rm8_r8
            ) && ins.op0_kind() == OpKind::Memory;
            let target = (ins.code() == Code::Call_rel32_64)
                .then(|| img.name_at(ins.near_branch_target()))
                .flatten();
            if ins.has_lock_prefix() || xchg_mem || target.is_some_and(is_sync_target) {
                out.extend(img.file_offset(ins.ip()));
            }
            // Also right after an atomic operation returns: a switch between a load and what
            // the thread does with the value is where lost updates and check-then-act races live.
            if target.is_some_and(|n| is_sync_target(n) && n.contains("4sync6atomic")) {
                out.extend(img.file_offset(ins.next_ip()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_of_legacy_and_v0_symbols() {
        assert_eq!(
            crate_of("_ZN5flaky14check_then_act17hca5f1815f56ff17cE"),
            Some("flaky")
        );
        assert_eq!(
            crate_of("_RNvNtCslNYArtu3iFV_5alloc5alloc5alloc"),
            Some("alloc")
        );
        assert_eq!(
            crate_of("_RINvNtNtCsgEmfK2I1SDS_4core4sync6atomic10atomic_subjjECsjrHSEGnQ3l9_3std"),
            Some("core")
        );
        assert_eq!(
            crate_of("_RNvXs7_NtNtCsjrHSEGnQ3l9_3std2io5errorNtB5_5ErrorNtNtCsgEmfK2I1SDS_4core3fmt7Display3fmt"),
            Some("std")
        );
        assert!(is_user_code(
            "_ZN5flaky14check_then_act17hca5f1815f56ff17cE"
        ));
        assert!(!is_user_code("_RNvNtCslNYArtu3iFV_5alloc5alloc5alloc"));
        assert!(!is_user_code("memcpy"));
        assert!(is_sync_target(
            "_ZN4core4sync6atomic10AtomicBool4load17h8db67192227f40d1E"
        ));
        assert!(is_sync_target(
            "_RINvNtNtCsgEmfK2I1SDS_4core4sync6atomic10atomic_subjjECsjrHSEGnQ3l9_3std"
        ));
    }
}
