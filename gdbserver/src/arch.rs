//! The `Arch` the server speaks: x86_64 Linux with the registers gdbstub_arch's x86_64 lacks
//! (orig_rax, fs_base, gs_base: thread-locals and rust-gdb's pretty-printers read them). The
//! g packet is gdbstub_arch's core + SSE block, then orig_rax, fs_base, gs_base, in the order of
//! `target.xml`.

use gdbstub::arch::{Arch, Registers};
use gdbstub_arch::x86::reg::X86_64CoreRegs;

/// x86_64 Linux, with its target description.
pub enum X86_64Linux {}

impl Arch for X86_64Linux {
    type Usize = u64;
    type Registers = LinuxRegs;
    type RegId = ();
    type BreakpointKind = usize;

    fn target_description_xml() -> Option<&'static str> {
        Some(include_str!("target.xml"))
    }
}

/// Every register gdb sees for one thread.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LinuxRegs {
    pub core: X86_64CoreRegs,
    pub orig_rax: u64,
    pub fs_base: u64,
    pub gs_base: u64,
}

/// Bytes of the core + SSE block in the g packet.
const CORE_LEN: usize = 0x218;

impl Registers for LinuxRegs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.core.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        self.core.gdb_serialize(&mut write_byte);
        for v in [self.orig_rax, self.fs_base, self.gs_base] {
            v.to_le_bytes().iter().for_each(|b| write_byte(Some(*b)));
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.len() < CORE_LEN + 24 {
            return Err(());
        }
        self.core.gdb_deserialize(&bytes[..CORE_LEN])?;
        let word = |i: usize| {
            let at = CORE_LEN + 8 * i;
            u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
        };
        self.orig_rax = word(0);
        self.fs_base = word(1);
        self.gs_base = word(2);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_g_packet_has_the_length_the_description_says() {
        let xml = include_str!("target.xml");
        let bits: usize = xml
            .lines()
            .filter(|l| l.trim_start().starts_with("<reg "))
            .map(|l| {
                let b = l.split("bitsize=\"").nth(1).unwrap();
                b[..b.find('"').unwrap()].parse::<usize>().unwrap()
            })
            .sum();
        let mut n = 0;
        LinuxRegs::default().gdb_serialize(|_| n += 1);
        assert_eq!(n * 8, bits);
    }

    #[test]
    fn registers_round_trip() {
        let mut r = LinuxRegs::default();
        r.core.regs[3] = 0x1234;
        r.core.rip = 0x401000;
        r.core.xmm[15] = u128::MAX - 7;
        r.orig_rax = 60;
        r.fs_base = 0x7fff_f7d8_a740;
        r.gs_base = 9;
        let mut bytes = Vec::new();
        r.gdb_serialize(|b| bytes.push(b.unwrap()));
        let mut back = LinuxRegs::default();
        back.gdb_deserialize(&bytes).unwrap();
        assert_eq!(back, r);
        assert!(back.gdb_deserialize(&bytes[..bytes.len() - 1]).is_err());
    }
}
