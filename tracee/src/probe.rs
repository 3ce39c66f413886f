//! Probes for `cargo record-test doctor`: what this machine lets a recorder do, each answered by
//! trying it (never by guessing from version numbers).

use std::path::Path;

use crate::spawn::{spawn, SpawnOptions};

/// `perf_event_open` of a hardware counter (retired branch instructions, user space only): whether
/// this machine has a usable PMU. We do not need one; rr does.
pub fn hardware_counter() -> Result<(), String> {
    // struct perf_event_attr, PERF_ATTR_SIZE_VER0 (64 bytes): type, size, config, ..., flags.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&0u32.to_ne_bytes()); // PERF_TYPE_HARDWARE
    attr[4..8].copy_from_slice(&64u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&4u64.to_ne_bytes()); // PERF_COUNT_HW_BRANCH_INSTRUCTIONS
    let flags: u64 = 1 | (1 << 5) | (1 << 6); // disabled, exclude_kernel, exclude_hv
    attr[40..48].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: perf_event_open reads `size` (64) bytes of the attribute buffer, which is 128 bytes
    // long and lives across the call; the other arguments are plain integers.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            0 as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: `fd` is a descriptor the kernel just gave us and nothing else owns.
    unsafe {
        libc::close(fd as libc::c_int);
    }
    Ok(())
}

/// CPUID faulting (`arch_prctl(ARCH_SET_CPUID)`): setting the default (CPUID allowed) fails with
/// ENODEV exactly when the CPU or the hypervisor has no faulting; our own CPUID stays allowed.
pub fn cpuid_faulting() -> Result<(), String> {
    const ARCH_SET_CPUID: libc::c_int = 0x1012;
    // SAFETY: arch_prctl(ARCH_SET_CPUID, 1) takes an integer and, on success, leaves CPUID
    // enabled for this thread, as it already is; no memory is passed.
    let r = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 1 as libc::c_ulong) };
    if r != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}

/// Trace `program` (stopped at its exec) and arm, read back and disarm a hardware execution
/// breakpoint through the debug registers; then kill it.
pub fn debug_registers(program: &Path) -> Result<(), String> {
    let task = spawn(&SpawnOptions {
        program: program.to_path_buf(),
        argv: vec![program.as_os_str().as_encoded_bytes().to_vec()],
        env: Vec::new(),
        cwd: None,
        seccomp_trace_all: false,
        null_stdio: true,
    })
    .map_err(|e| e.to_string())?;
    let pc = task.regs().map(|r| r.pc()).unwrap_or(0x1000);
    let mut points = crate::points::Points::default();
    let result = points
        .arm(&task, &[pc])
        .and_then(|_| points.arm(&task, &[]))
        .map_err(|e| e.to_string());
    task.kill();
    let _ = nix::sys::wait::waitpid(task.tid, Some(nix::sys::wait::WaitPidFlag::__WALL));
    result
}
