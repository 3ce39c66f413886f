//! ptrace's register structures to gdb's and back. gdb gets the x87 state as `fsave` shows it
//! (a full tag word), which it rebuilds from FXSAVE's abridged one.

use libc::{user_fpregs_struct, user_regs_struct};
use tracee::Regs;

use crate::arch::LinuxRegs;

/// Everything gdb shows for one thread, from its general and FXSAVE registers.
pub fn to_gdb(r: &Regs, fp: &user_fpregs_struct) -> LinuxRegs {
    let g = &r.0;
    let mut out = LinuxRegs::default();
    let c = &mut out.core;
    c.regs = [
        g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rbp, g.rsp, g.r8, g.r9, g.r10, g.r11, g.r12,
        g.r13, g.r14, g.r15,
    ];
    c.rip = g.rip;
    c.eflags = g.eflags as u32;
    c.segments.cs = g.cs as u32;
    c.segments.ss = g.ss as u32;
    c.segments.ds = g.ds as u32;
    c.segments.es = g.es as u32;
    c.segments.fs = g.fs as u32;
    c.segments.gs = g.gs as u32;
    for (i, st) in c.st.iter_mut().enumerate() {
        *st = st_bytes(fp, i);
    }
    c.fpu.fctrl = u32::from(fp.cwd);
    c.fpu.fstat = u32::from(fp.swd);
    c.fpu.ftag = full_tag_word(fp.ftw, fp.swd, &c.st);
    // In 64-bit mode the "segment" halves hold the offsets' upper 32 bits.
    c.fpu.fioff = fp.rip as u32;
    c.fpu.fiseg = (fp.rip >> 32) as u32;
    c.fpu.fooff = fp.rdp as u32;
    c.fpu.foseg = (fp.rdp >> 32) as u32;
    c.fpu.fop = u32::from(fp.fop) & 0x7ff;
    for (i, x) in c.xmm.iter_mut().enumerate() {
        let w = &fp.xmm_space[4 * i..4 * i + 4];
        *x = w
            .iter()
            .rev()
            .fold(0u128, |acc, v| (acc << 32) | u128::from(*v));
    }
    c.mxcsr = fp.mxcsr;
    out.orig_rax = g.orig_rax;
    out.fs_base = g.fs_base;
    out.gs_base = g.gs_base;
    out
}

/// The general registers of `gdb`'s set written over `cur` (x87/SSE ones are not written back).
pub fn general_from_gdb(gdb: &LinuxRegs, cur: &Regs) -> Regs {
    let c = &gdb.core;
    let mut g: user_regs_struct = cur.0;
    [
        g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rbp, g.rsp, g.r8, g.r9, g.r10, g.r11, g.r12,
        g.r13, g.r14, g.r15,
    ] = c.regs;
    g.rip = c.rip;
    // The upper half of rflags is reserved (zero); gdb only has the lower.
    g.eflags = u64::from(c.eflags);
    g.orig_rax = gdb.orig_rax;
    g.fs_base = gdb.fs_base;
    g.gs_base = gdb.gs_base;
    Regs(g)
}

/// The 80-bit value of physical FXSAVE slot `i` (FXSAVE keeps st(i) in slot i, 16 bytes each).
fn st_bytes(fp: &user_fpregs_struct, i: usize) -> [u8; 10] {
    let mut b = [0u8; 16];
    for (k, w) in fp.st_space[4 * i..4 * i + 4].iter().enumerate() {
        b[4 * k..4 * k + 4].copy_from_slice(&w.to_le_bytes());
    }
    let mut out = [0u8; 10];
    out.copy_from_slice(&b[..10]);
    out
}

/// The x87 tag word with 2 bits per physical register (valid, zero, special, empty) from the
/// abridged FXSAVE tag `ftw` (1 bit per physical register: not empty), the status word (its TOP
/// field) and the stack st(0)..st(7).
fn full_tag_word(ftw: u16, swd: u16, st: &[[u8; 10]; 8]) -> u32 {
    let top = (usize::from(swd) >> 11) & 7;
    let mut tag = 0u32;
    for phys in 0..8 {
        let t = if ftw & (1 << phys) == 0 {
            3
        } else {
            // Physical register `phys` is st((phys - top) mod 8).
            let v = &st[(phys + 8 - top) % 8];
            let exp = u16::from_le_bytes([v[8], v[9]]) & 0x7fff;
            let mantissa = u64::from_le_bytes(v[..8].try_into().unwrap_or_default());
            match exp {
                0x7fff => 2,
                0 if mantissa == 0 => 1,
                0 => 2,
                _ if mantissa >> 63 == 0 => 2,
                _ => 0,
            }
        };
        tag |= t << (2 * phys);
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1.0 as an x87 extended value.
    const ONE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f];

    #[test]
    fn an_empty_stack_is_all_empty_tags() {
        assert_eq!(full_tag_word(0, 0, &[[0; 10]; 8]), 0xffff);
    }

    #[test]
    fn pushed_values_are_tagged_at_their_physical_slot() {
        // After `fld1; fldz`: TOP = 6, st(0) = 0.0 in physical 6, st(1) = 1.0 in physical 7.
        let mut st = [[0u8; 10]; 8];
        st[1] = ONE;
        let tag = full_tag_word(0b1100_0000, 6 << 11, &st);
        assert_eq!(tag, 0x0fff | (1 << 12));
    }
}
