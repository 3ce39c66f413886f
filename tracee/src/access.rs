//! Which memory an instruction is about to read or write (decoded with iced-x86, addresses
//! computed from the thread's registers): going back to a watchpoint stops *before* the
//! instruction that touched the watched bytes.

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, OpAccess, Register};

use crate::regs::Regs;

/// How an instruction touches memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    Read,
    Write,
}

/// The register value iced-x86 asks for (segment registers: their base).
fn value(regs: &Regs, reg: Register) -> Option<u64> {
    let r = &regs.0;
    if reg.is_segment_register() {
        return Some(match reg {
            Register::FS => r.fs_base,
            Register::GS => r.gs_base,
            _ => 0,
        });
    }
    let full = reg.full_register();
    let v = match full {
        Register::RAX => r.rax,
        Register::RBX => r.rbx,
        Register::RCX => r.rcx,
        Register::RDX => r.rdx,
        Register::RSI => r.rsi,
        Register::RDI => r.rdi,
        Register::RBP => r.rbp,
        Register::RSP => r.rsp,
        Register::R8 => r.r8,
        Register::R9 => r.r9,
        Register::R10 => r.r10,
        Register::R11 => r.r11,
        Register::R12 => r.r12,
        Register::R13 => r.r13,
        Register::R14 => r.r14,
        Register::R15 => r.r15,
        Register::RIP => r.rip,
        _ => return None,
    };
    Some(match reg.size() {
        4 => v & 0xffff_ffff,
        2 => v & 0xffff,
        1 => v & 0xff,
        _ => v,
    })
}

/// Whether the instruction `code` (bytes at `regs.pc()`, as the program wrote them) touches
/// `[addr, addr + len)` in a way that `want` matches (`None`: either).
pub fn touches(code: &[u8], regs: &Regs, addr: u64, len: u64, want: Option<Touch>) -> bool {
    let mut decoder = Decoder::with_ip(64, code, regs.pc(), DecoderOptions::NONE);
    let insn = decoder.decode();
    if insn.is_invalid() {
        return false;
    }
    let mut factory = InstructionInfoFactory::new();
    let info = factory.info(&insn);
    info.used_memory().iter().any(|m| {
        let kinds = match m.access() {
            OpAccess::Read | OpAccess::CondRead => (true, false),
            OpAccess::Write | OpAccess::CondWrite => (false, true),
            OpAccess::ReadWrite | OpAccess::ReadCondWrite => (true, true),
            _ => (false, false),
        };
        let wanted = match want {
            Some(Touch::Read) => kinds.0,
            Some(Touch::Write) => kinds.1,
            None => kinds.0 || kinds.1,
        };
        if !wanted {
            return false;
        }
        let size = m.memory_size().size().max(1) as u64;
        match m.virtual_address(0, |reg, _, _| value(regs, reg)) {
            Some(a) => a < addr.saturating_add(len) && addr < a.saturating_add(size),
            None => false,
        }
    })
}
