//! The CPUID leaves of the machine we run on, for the trace header.

/// One CPUID result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub leaf: u32,
    pub subleaf: u32,
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

fn query(leaf: u32, subleaf: u32) -> Leaf {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    Leaf {
        leaf,
        subleaf,
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

/// All basic and extended leaves, with the subleaves of the leaves that have them.
pub fn all_leaves() -> Vec<Leaf> {
    let mut out = Vec::new();
    for base in [0u32, 0x8000_0000] {
        let max = query(base, 0).eax;
        let max = max.min(base + 0x40);
        for leaf in base..=max {
            // Each cpuid traps to the hypervisor in a VM: ask only for subleaves that exist.
            let first = query(leaf, 0);
            out.push(first);
            let subleaves: Vec<u32> = match leaf {
                // Enumerated until an empty (type 0) entry.
                4 | 0xb | 0x1f | 0x8000_001d => (1..8).collect(),
                7 | 0x14 | 0x17 | 0x18 => (1..=first.eax.min(8)).collect(),
                // XSAVE: one subleaf per supported state component.
                0xd => {
                    let mask = ((first.edx as u64) << 32) | first.eax as u64;
                    std::iter::once(1)
                        .chain((2..64).filter(|i| mask & (1 << i) != 0))
                        .collect()
                }
                0xf | 0x10 | 0x12 => (1..4).collect(),
                _ => Vec::new(),
            };
            for sub in subleaves {
                let l = query(leaf, sub);
                let empty = l.eax == 0 && l.ebx == 0 && l.ecx == 0 && l.edx == 0;
                if empty && matches!(leaf, 4 | 0xb | 0x1f | 0x8000_001d) {
                    break;
                }
                out.push(l);
            }
        }
    }
    out
}

/// XCR0 (the enabled extended-state components), or 0 if XSAVE is unavailable.
pub fn xcr0() -> u64 {
    let l = query(0xd, 0);
    // Leaf 0xd subleaf 0: edx:eax is the mask of supported user state components; the kernel
    // enables all it supports, so this equals XCR0 in practice without executing xgetbv.
    ((l.edx as u64) << 32) | l.eax as u64
}

/// The feature leaves (leaf, subleaf, which registers) whose bits decide which code paths
/// libraries take (glibc's ifuncs, Rust's `is_x86_feature_detected!`).
const FEATURE_LEAVES: &[(u32, u32, &str)] = &[
    (1, 0, "cd"),
    (7, 0, "bcd"),
    (7, 1, "a"),
    (0xd, 1, "a"),
    (0x8000_0001, 0, "cd"),
];

/// How the recorded CPU features differ from this machine's: one line per differing register,
/// empty when replay will see the same features. `recorded(leaf, subleaf)` gives the recorded
/// eax, ebx, ecx, edx of a leaf, if the recording has it.
pub fn feature_differences(recorded: impl Fn(u32, u32) -> Option<[u32; 4]>) -> Vec<String> {
    let mut out = Vec::new();
    for &(leaf, subleaf, regs) in FEATURE_LEAVES {
        let Some(r) = recorded(leaf, subleaf) else {
            continue;
        };
        let here = query(leaf, subleaf);
        for reg in regs.chars() {
            let (a, b) = match reg {
                'a' => (r[0], here.eax),
                'b' => (r[1], here.ebx),
                'c' => (r[2], here.ecx),
                _ => (r[3], here.edx),
            };
            if a != b {
                out.push(format!(
                    "cpuid leaf {leaf:#x}.{subleaf} e{reg}x: recorded {a:#010x}, here {b:#010x}"
                ));
            }
        }
    }
    out
}

/// Whether this machine can make CPUID fault (arch_prctl ARCH_SET_CPUID, Intel's CPUID faulting):
/// then replay could hand a program the recorded leaves. Probed on the calling thread, which is
/// left with CPUID enabled again.
pub fn faulting_available() -> bool {
    const ARCH_SET_CPUID: libc::c_long = 0x1012;
    // SAFETY: arch_prctl(ARCH_SET_CPUID, 0) only changes whether CPUID faults on this thread; it
    // is turned back on at once (no CPUID runs between the calls) and fails harmlessly with
    // ENODEV where the CPU lacks the feature.
    let off = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 0 as libc::c_long) };
    if off != 0 {
        return false;
    }
    // SAFETY: as above; re-enables CPUID on this thread.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 1 as libc::c_long) };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_cpu_has_no_differences_and_a_changed_leaf_has_one() {
        let mut leaves = all_leaves();
        let lookup = |leaves: &[Leaf]| {
            let leaves = leaves.to_vec();
            move |leaf: u32, sub: u32| {
                leaves
                    .iter()
                    .find(|l| l.leaf == leaf && l.subleaf == sub)
                    .map(|l| [l.eax, l.ebx, l.ecx, l.edx])
            }
        };
        assert!(feature_differences(lookup(&leaves)).is_empty());
        let l1 = leaves
            .iter_mut()
            .find(|l| l.leaf == 1 && l.subleaf == 0)
            .expect("leaf 1 exists");
        l1.ecx ^= 1 << 28; // AVX
        let d = feature_differences(lookup(&leaves));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].contains("leaf 0x1.0 ecx"), "{d:?}");
    }
}
