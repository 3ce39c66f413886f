//! CPUID faulting in replay: where this machine can make `cpuid` fault, the replayed process
//! runs with it faulting (set again after every exec, which resets it), and each `cpuid` it
//! executes is answered with the recording CPU's leaves from the trace header, so library code
//! (glibc's ifuncs, `is_x86_feature_detected!`) takes the recorded paths on any CPU.
//!
//! `CRT_NO_CPUID_FAULTING=1` replays with the CPU's own `cpuid` instead.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use pack::Header;
use tracee::cpuid::{has_subleaves, past_last_level, Leaf};
use tracee::{insn, Stop, Task};

use crate::error::{Error, Result};

/// The kernel's `si_code` for a fault it raised itself (a #GP: a faulting cpuid, a trapped rdtsc).
const SI_KERNEL: i32 = 0x80;

/// Whether replaying a trace with header `h` answers `cpuid` from the header: this machine has
/// CPUID faulting, the header has leaves, and `CRT_NO_CPUID_FAULTING` is not set.
pub fn uses_cpuid_faulting(h: &Header) -> bool {
    !h.cpuid.is_empty()
        && std::env::var_os("CRT_NO_CPUID_FAULTING").is_none_or(|v| v.is_empty() || v == "0")
        && tracee::cpuid::faulting_available()
}

/// The recording CPU's answers, and whether the replayed process runs with CPUID faulting.
#[derive(Debug, Default)]
pub(crate) struct RecordedCpuid {
    leaves: HashMap<(u32, u32), [u32; 4]>,
    /// Leaves the header has a nonzero subleaf of (they take a subleaf, whatever the table says).
    indexed: HashSet<u32>,
    /// The vendor is GenuineIntel: a leaf past its range answers as the highest basic leaf.
    intel: bool,
    faulting: bool,
    debug: bool,
    answered: AtomicU64,
}

impl RecordedCpuid {
    pub fn new(h: &Header) -> RecordedCpuid {
        let leaves: HashMap<(u32, u32), [u32; 4]> = h
            .cpuid
            .iter()
            .map(|l| ((l.leaf, l.subleaf), [l.eax, l.ebx, l.ecx, l.edx]))
            .collect();
        let indexed = h
            .cpuid
            .iter()
            .filter(|l| l.subleaf != 0)
            .map(|l| l.leaf)
            .collect();
        // "GenuineIntel" in ebx, edx, ecx.
        let intel = leaves.get(&(0, 0)).is_some_and(|r| {
            r[1] == u32::from_le_bytes(*b"Genu")
                && r[3] == u32::from_le_bytes(*b"ineI")
                && r[2] == u32::from_le_bytes(*b"ntel")
        });
        RecordedCpuid {
            leaves,
            indexed,
            intel,
            faulting: uses_cpuid_faulting(h),
            debug: std::env::var_os("CRT_DEBUG").is_some(),
            answered: AtomicU64::new(0),
        }
    }

    /// How many `cpuid` instructions were answered from the header so far.
    #[allow(dead_code)] // for the stepper's statistics
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// `task` is at the PTRACE_EVENT_EXEC stop of its exec: make its `cpuid` fault again (the
    /// exec turned faulting off). It is left at the execve's syscall-exit stop, ready to resume.
    pub fn after_exec(&self, task: &mut Task) -> Result<()> {
        if !self.faulting {
            return Ok(());
        }
        // At the exec event the kernel has yet to write execve's result to rax; at the exit
        // stop the registers are final, and a syscall can be injected.
        task.cont_syscall(None)?;
        match tracee::stop::wait(Some(task.tid))? {
            Some((_, Stop::Syscall)) => {}
            other => {
                return Err(Error::Unreplayable(format!(
                    "expected the end of an exec, got {other:?}"
                )))
            }
        }
        if !tracee::cpuid::set_faulting(task, true)? {
            return Err(Error::Unreplayable(
                "arch_prctl(ARCH_SET_CPUID) failed in the replayed program, though this machine has CPUID faulting".into(),
            ));
        }
        if self.debug {
            eprintln!("[replay] cpuid faulting on in {}", task.tid);
        }
        Ok(())
    }

    /// If `task`, stopped with `stop`, faulted on a `cpuid`: give it the recording CPU's answer
    /// (eax..edx) and move it past the instruction; returns whether it did. The caller then
    /// resumes it without the signal.
    pub fn emulate(&self, task: &mut Task, stop: Stop) -> Result<bool> {
        if !self.faulting || stop != Stop::Signal(libc::SIGSEGV) {
            return Ok(false);
        }
        let mut regs = task.regs()?;
        if !insn::is_cpuid_at(task, regs.pc()) || task.siginfo()?.si_code != SI_KERNEL {
            return Ok(false);
        }
        let (leaf, subleaf) = (regs.0.rax as u32, regs.0.rcx as u32);
        let [a, b, c, d] = self.answer(leaf, subleaf);
        regs.0.rax = u64::from(a);
        regs.0.rbx = u64::from(b);
        regs.0.rcx = u64::from(c);
        regs.0.rdx = u64::from(d);
        regs.set_pc(regs.pc() + insn::CPUID_LEN);
        task.set_regs(&regs)?;
        self.answered.fetch_add(1, Ordering::Relaxed);
        if self.debug {
            eprintln!(
                "[replay] cpuid {leaf:#x}.{subleaf:#x} in {}: {a:08x} {b:08x} {c:08x} {d:08x}",
                task.tid
            );
        }
        Ok(true)
    }

    /// What the recording CPU answers to `cpuid` with eax = `leaf`, ecx = `subleaf`.
    pub fn answer(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let max = |base: u32| {
            self.leaves
                .get(&(base, 0))
                .map(|r| r[0])
                .filter(|&m| base == 0 || (base..=base + 0xffff).contains(&m))
        };
        let in_range = match leaf {
            0..=0x3fff_ffff => max(0).is_some_and(|m| leaf <= m),
            0x4000_0000..=0x4fff_ffff => max(0x4000_0000).is_some_and(|m| leaf <= m),
            0x8000_0000..=0x8fff_ffff => max(0x8000_0000).is_some_and(|m| leaf <= m),
            _ => false,
        };
        match (in_range, max(0)) {
            (true, _) => self.in_range(leaf, subleaf),
            // Past its range: Intel CPUs answer with the highest basic leaf, AMD's with zeros.
            (false, Some(top)) if self.intel => self.in_range(top, subleaf),
            _ => [0; 4],
        }
    }

    fn in_range(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let indexed = has_subleaves(leaf) || self.indexed.contains(&leaf);
        let sub = if indexed { subleaf } else { 0 };
        if let Some(r) = self.leaves.get(&(leaf, sub)) {
            return *r;
        }
        // A subleaf past the last one: a topology leaf says "no such level", the others zeros.
        self.leaves
            .get(&(leaf, 0))
            .and_then(|r| {
                let sub0 = Leaf {
                    leaf,
                    subleaf: 0,
                    eax: r[0],
                    ebx: r[1],
                    ecx: r[2],
                    edx: r[3],
                };
                past_last_level(&sub0, subleaf)
            })
            .map_or([0; 4], |l| [l.eax, l.ebx, l.ecx, l.edx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of this machine, as a recording here would store them.
    fn this_machine() -> RecordedCpuid {
        let h = Header {
            cpuid: tracee::cpuid::all_leaves()
                .into_iter()
                .map(|l| pack::CpuidLeaf {
                    leaf: l.leaf,
                    subleaf: l.subleaf,
                    eax: l.eax,
                    ebx: l.ebx,
                    ecx: l.ecx,
                    edx: l.edx,
                })
                .collect(),
            ..Header::default()
        };
        RecordedCpuid::new(&h)
    }

    /// Every answer the header gives equals what this CPU's own cpuid says, for captured leaves,
    /// leaves that ignore ecx, subleaves past the last one and leaves past every range.
    #[test]
    fn answers_as_this_cpu_does() {
        // APIC ids differ per CPU: leaves and questions from the same one.
        let mask = tracee::affinity::OriginalMask::current();
        if let Some(cpu) = tracee::affinity::choose_cpu(&mask) {
            tracee::affinity::pin(tracee::Pid::from_raw(0), cpu);
        }
        let rec = this_machine();
        let max = core::arch::x86_64::__cpuid(0).eax;
        let ext = core::arch::x86_64::__cpuid(0x8000_0000).eax;
        let mut asked = vec![
            (1, 7),
            (max + 1, 0),
            (max + 1, 1),
            (0x3fff_ffff, 0),
            (0x4000_0000, 0),
            (0x4000_0010, 0),
            (0x7fff_ffff, 0),
            (ext + 1, 0),
            (0x9000_0000, 0),
            (0xc000_0000, 0),
            (0xffff_ffff, 0),
        ];
        for leaf in (0..=max.min(0x40)).chain(0x8000_0000..=ext.min(0x8000_0040)) {
            for sub in 0..12 {
                asked.push((leaf, sub));
            }
        }
        let wrong: Vec<String> = asked
            .into_iter()
            .filter_map(|(leaf, sub)| {
                let here = core::arch::x86_64::__cpuid_count(leaf, sub);
                let here = [here.eax, here.ebx, here.ecx, here.edx];
                let got = rec.answer(leaf, sub);
                (got != here).then(|| format!("{leaf:#x}.{sub}: {got:x?}, this CPU {here:x?}"))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "answers unlike this CPU's:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn an_amd_answers_zeros_past_its_ranges() {
        let leaf = |leaf, subleaf, r: [u32; 4]| pack::CpuidLeaf {
            leaf,
            subleaf,
            eax: r[0],
            ebx: r[1],
            ecx: r[2],
            edx: r[3],
        };
        let vendor = |s: &[u8; 12]| {
            let w = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
            [w(0), w(8), w(4)]
        };
        let [b, c, d] = vendor(b"AuthenticAMD");
        let h = Header {
            cpuid: vec![
                leaf(0, 0, [0x10, b, c, d]),
                leaf(1, 0, [0xa20f12, 0, 0, 0]),
                leaf(0xb, 0, [1, 2, 0x100, 7]),
                leaf(0x10, 0, [9, 9, 9, 9]),
                leaf(0x8000_0000, 0, [0x8000_0008, 0, 0, 0]),
            ],
            ..Header::default()
        };
        let rec = RecordedCpuid::new(&h);
        assert_eq!(rec.answer(1, 5), [0xa20f12, 0, 0, 0], "leaf 1 ignores ecx");
        assert_eq!(rec.answer(0x11, 0), [0; 4]);
        assert_eq!(rec.answer(0x8000_0009, 0), [0; 4]);
        assert_eq!(rec.answer(0x4000_0000, 0), [0; 4], "no hypervisor range");
        assert_eq!(rec.answer(0xb, 3), [0, 0, 3, 7], "no such level");
        assert_eq!(rec.answer(0x10, 2), [0; 4], "a subleaf it does not have");
        let [b, c, d] = vendor(b"GenuineIntel");
        let mut h = h;
        h.cpuid[0] = leaf(0, 0, [0x10, b, c, d]);
        let rec = RecordedCpuid::new(&h);
        assert_eq!(
            rec.answer(0x11, 0),
            [9, 9, 9, 9],
            "Intel: the highest basic leaf"
        );
        assert_eq!(rec.answer(0x8000_0009, 0), [9, 9, 9, 9]);
    }
}
