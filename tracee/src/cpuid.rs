//! The CPUID leaves of the machine we run on, for the trace header, and CPUID faulting (a
//! tracee whose `cpuid` instructions trap, for replay to answer them).

use crate::error::Result;
use crate::task::Task;

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

/// Leaves whose subleaves are enumerated until one whose level type (ecx bits 15:8) is 0: the
/// topology leaves. That terminating subleaf is kept too (a program reads it to stop).
const LEVEL_TYPED: [u32; 3] = [0xb, 0x1f, 0x8000_0026];
/// Leaves whose subleaves are enumerated until one whose type (eax bits 4:0) is 0: the
/// deterministic cache parameters.
const CACHE_TYPED: [u32; 2] = [4, 0x8000_001d];
/// Leaves whose subleaf 0 eax is the highest valid subleaf.
const COUNTED: [u32; 8] = [7, 0x14, 0x17, 0x18, 0x1d, 0x1e, 0x20, 0x24];
/// Leaves with a few fixed subleaves (resource monitoring and allocation, SGX, perfmon, AMD QoS).
const FIXED: [u32; 5] = [0xf, 0x10, 0x12, 0x23, 0x8000_0020];

/// Whether `leaf` takes a subleaf in ecx (the others ignore ecx: any subleaf answers as 0).
pub fn has_subleaves(leaf: u32) -> bool {
    leaf == 0xd
        || LEVEL_TYPED.contains(&leaf)
        || CACHE_TYPED.contains(&leaf)
        || COUNTED.contains(&leaf)
        || FIXED.contains(&leaf)
}

/// For a topology leaf (0xb, 0x1f, 0x8000_0026): the answer to a subleaf past the last level,
/// given the leaf's subleaf 0 answer: level type 0, the level number echoed in ecx, the
/// x2APIC id in edx, as Intel and AMD document it.
pub fn past_last_level(sub0: &Leaf, subleaf: u32) -> Option<Leaf> {
    LEVEL_TYPED.contains(&sub0.leaf).then_some(Leaf {
        leaf: sub0.leaf,
        subleaf,
        eax: 0,
        ebx: 0,
        ecx: subleaf & 0xff,
        edx: sub0.edx,
    })
}

/// The basic, hypervisor (when leaf 1 says there is one) and extended leaves, each with the
/// subleaves a program may ask for: what replay under CPUID faulting answers from. Leaves
/// 0 and 0x8000_0000 are always there (they give the ranges' highest leaves).
pub fn all_leaves() -> Vec<Leaf> {
    let mut out = Vec::new();
    let hypervisor = query(1, 0).ecx & (1 << 31) != 0;
    for base in [0u32, 0x4000_0000, 0x8000_0000] {
        if base == 0x4000_0000 && !hypervisor {
            continue;
        }
        let top = query(base, 0);
        if top.eax < base || top.eax > base + 0xffff {
            // No such range: a CPU answers with another leaf's data (or zeros).
            if base != 0x4000_0000 {
                out.push(top);
            }
            continue;
        }
        let max = top.eax.min(base + 0x40);
        for leaf in base..=max {
            // Each cpuid traps to the hypervisor in a VM: ask only for subleaves that exist.
            let first = query(leaf, 0);
            out.push(first);
            if LEVEL_TYPED.contains(&leaf) {
                for sub in 1..8 {
                    let l = query(leaf, sub);
                    out.push(l);
                    if (l.ecx >> 8) & 0xff == 0 {
                        break;
                    }
                }
                continue;
            }
            if CACHE_TYPED.contains(&leaf) {
                // A type-0 subleaf (all zeros) ends the list and is left out.
                out.extend(
                    (1..16)
                        .map(|sub| query(leaf, sub))
                        .take_while(|l| l.eax & 0x1f != 0),
                );
                continue;
            }
            let subleaves: Vec<u32> = if COUNTED.contains(&leaf) {
                (1..=first.eax.min(8)).collect()
            } else if leaf == 0xd {
                // XSAVE: one subleaf per supported state component, user (subleaf 0's
                // edx:eax) and supervisor (subleaf 1's edx:ecx, e.g. CET's 11 and 12 on AMD).
                let sup = query(leaf, 1);
                let mask = ((first.edx as u64) << 32)
                    | first.eax as u64
                    | ((sup.edx as u64) << 32)
                    | sup.ecx as u64;
                std::iter::once(1)
                    .chain((2..64).filter(|i| mask & (1 << i) != 0))
                    .collect()
            } else if FIXED.contains(&leaf) {
                (1..4).collect()
            } else {
                Vec::new()
            };
            out.extend(subleaves.into_iter().map(|sub| query(leaf, sub)));
        }
    }
    out
}

/// [`all_leaves`] as a thread pinned to `cpu` sees them (leaves 1, 0xb, 0x1f give the APIC id
/// of the CPU that runs the instruction): a recording asks on the CPU its program runs on.
pub fn all_leaves_on(cpu: Option<usize>) -> Vec<Leaf> {
    let Some(cpu) = cpu else {
        return all_leaves();
    };
    std::thread::Builder::new()
        .name("cpuid".into())
        .spawn(move || {
            crate::affinity::pin(nix::unistd::Pid::from_raw(0), cpu);
            all_leaves()
        })
        .ok()
        .and_then(|t| t.join().ok())
        .unwrap_or_else(all_leaves)
}

/// Make `cpuid` fault (SIGSEGV) in `task`'s thread, or stop it faulting, with
/// `arch_prctl(ARCH_SET_CPUID)` injected into it: then its tracer can answer each `cpuid` with
/// the recording CPU's leaves. The setting is per thread, inherited by new threads and child
/// processes, and reset by execve. `task` must be at a stop whose registers are final (see
/// [`Task::inject_syscall_at_pc`]). Returns false where the CPU or the hypervisor has no CPUID
/// faulting (ENODEV).
pub fn set_faulting(task: &mut Task, faulting: bool) -> Result<bool> {
    let r = task.inject_syscall_at_pc(
        libc::SYS_arch_prctl,
        [ARCH_SET_CPUID as u64, u64::from(!faulting), 0, 0, 0, 0],
    )?;
    Ok(r == 0)
}

/// `arch_prctl` code: arg 0 makes cpuid fault, 1 allows it.
const ARCH_SET_CPUID: i64 = 0x1012;

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
