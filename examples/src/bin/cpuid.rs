//! Prints what `cpuid` answers: the vendor string (leaf 0), leaf 1 eax (family, model,
//! stepping), then a line per leaf and subleaf asked, including subleaves past the last one and
//! leaves past every range. Replay under CPUID faulting must print what the trace header says.
use core::arch::x86_64::__cpuid_count;

fn line(leaf: u32, sub: u32) {
    let r = __cpuid_count(leaf, sub);
    println!(
        "{leaf:#010x}.{sub}: {:08x} {:08x} {:08x} {:08x}",
        r.eax, r.ebx, r.ecx, r.edx
    );
}

fn main() {
    let l0 = __cpuid_count(0, 0);
    let vendor: Vec<u8> = [l0.ebx, l0.edx, l0.ecx]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    println!("vendor {}", String::from_utf8_lossy(&vendor));
    println!("leaf1.eax {:#010x}", __cpuid_count(1, 0).eax);
    let max = l0.eax;
    let ext = __cpuid_count(0x8000_0000, 0).eax;
    for (leaf, sub) in [
        (1, 0),
        (1, 9),
        (7, 0),
        (7, 1),
        (0xd, 0),
        (0xd, 1),
        (max, 0),
        (max + 1, 0),
        (0x4000_0000, 0),
        (0x4000_0100, 0),
        (ext, 0),
        (ext + 1, 0),
        (0xc000_0000, 0),
    ] {
        line(leaf, sub);
    }
    for leaf in [4, 0xb] {
        for sub in 0..6 {
            line(leaf, sub);
        }
    }
}
