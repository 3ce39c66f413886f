//! The initial stack the kernel builds at exec: argc, argv, envp, auxv. We patch the auxv so the
//! program does not use the vDSO (its time calls become real, recordable syscalls).

use crate::error::{Error, Result};
use crate::remote_ptr::RemotePtr;
use crate::task::Task;

const AT_NULL: u64 = 0;
const AT_IGNORE: u64 = 1;
const AT_SYSINFO_EHDR: u64 = 33;

/// Replace AT_SYSINFO_EHDR by AT_IGNORE in the auxv of a thread stopped right after exec.
/// Returns whether the entry was found.
pub fn hide_vdso(task: &mut Task) -> Result<bool> {
    let sp = task.regs()?.sp();
    let mut p: RemotePtr<u64> = RemotePtr::new(sp);
    let argc = task.read_u64(p)?;
    p = p.add(argc + 1); // argv and its NULL
    p = p.add(1);
    // envp up to NULL
    let mut guard = 0;
    loop {
        let v = task.read_u64(p)?;
        p = p.add(1);
        if v == 0 {
            break;
        }
        guard += 1;
        if guard > 1 << 20 {
            return Err(Error::Protocol("environment block has no end".into()));
        }
    }
    let mut found = false;
    for _ in 0..512 {
        let key = task.read_u64(p)?;
        if key == AT_NULL {
            return Ok(found);
        }
        if key == AT_SYSINFO_EHDR {
            task.write_u64(p, AT_IGNORE)?;
            found = true;
        }
        p = p.add(2);
    }
    Err(Error::Protocol("auxiliary vector has no end".into()))
}

/// The end of the `[stack]` mapping of a process (the highest stack address).
pub fn stack_top(tid: i32) -> Result<u64> {
    let maps = std::fs::read_to_string(format!("/proc/{tid}/maps"))
        .map_err(|source| Error::Proc { tid, source })?;
    for line in maps.lines() {
        if line.ends_with("[stack]") {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((_, end)) = range.split_once('-') {
                if let Ok(v) = u64::from_str_radix(end, 16) {
                    return Ok(v);
                }
            }
        }
    }
    Err(Error::Protocol("the process has no [stack] mapping".into()))
}
