//! Syscall entry and exit stops of a recording, driven by the syscall table.

use std::path::PathBuf;

use pack::{EventKind, FileRef, MemWrite, SyscallEvent};
use tracee::syscalls::{self, Call, Class, Special};

use crate::error::{Error, Result};
use crate::session::RecordSession;

/// A syscall between its entry and exit stops.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    no: i64,
    args: [u64; 6],
    what: What,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    /// Recorded at exit per its table row.
    Normal,
    /// The exec stop was recorded; the execve's exit stop follows, with nothing to record.
    ExecDone,
    /// rseq: skipped at entry, fails with ENOSYS at exit.
    Rseq,
}

impl Pending {
    pub(crate) fn exec() -> Pending {
        Pending {
            no: libc::SYS_execve,
            args: [0; 6],
            what: What::ExecDone,
        }
    }
}

/// A syscall-entry stop: check the table, prepare what the exit stop needs.
pub(crate) fn on_entry(s: &mut RecordSession) -> Result<Option<Pending>> {
    let mut regs = s.task.regs()?;
    let no = regs.syscall_no();
    let args = regs.args();
    s.syscalls += 1;
    let row = syscalls::lookup(no).ok_or(Error::UnknownSyscall(no))?;
    let what = match row.class {
        Class::Unsupported(reason) => {
            return Err(Error::Unsupported {
                name: row.name.to_string(),
                no,
                reason: reason.to_string(),
            })
        }
        Class::Special(Special::Clone) => {
            return Err(Error::Unsupported {
                name: row.name.to_string(),
                no,
                reason: "threads and child processes are not supported yet".into(),
            })
        }
        Class::Special(Special::Rseq) => {
            regs.set_syscall_no(-1);
            s.task.set_regs(&regs)?;
            What::Rseq
        }
        Class::Special(Special::Exit) => {
            // No exit stop follows: record it now.
            s.push(EventKind::Syscall(SyscallEvent {
                no: no as u32,
                args,
                result: 0,
                writes: Vec::new(),
                file: None,
            }))?;
            return Ok(None);
        }
        _ => What::Normal,
    };
    Ok(Some(Pending { no, args, what }))
}

/// A syscall-exit stop: record the result and the memory the kernel wrote.
pub(crate) fn on_exit(s: &mut RecordSession, p: Pending) -> Result<()> {
    let mut regs = s.task.regs()?;
    let result = match p.what {
        What::ExecDone => return Ok(()),
        What::Rseq => {
            regs.set_result(-(libc::ENOSYS as i64));
            s.task.set_regs(&regs)?;
            -(libc::ENOSYS as i64)
        }
        What::Normal => regs.result(),
    };
    let row = syscalls::lookup(p.no).expect("checked at entry");
    let call = Call {
        no: p.no as u32,
        args: p.args,
        result,
    };
    let writes = if matches!(row.class, Class::Emulate) {
        let regions = row.written_regions(&call, &mut s.task);
        let datas = s.task.read_ranges(&regions);
        regions
            .iter()
            .zip(datas)
            .filter(|(_, d)| !d.is_empty())
            .map(|(&(addr, _), data)| MemWrite { addr, data })
            .collect()
    } else {
        Vec::new()
    };
    let file = if row.class == Class::Special(Special::Mmap) {
        mapped_file(s, &call)?
    } else {
        None
    };
    s.push(EventKind::Syscall(SyscallEvent {
        no: p.no as u32,
        args: p.args,
        result,
        writes,
        file,
    }))?;
    Ok(())
}

/// For a successful file-backed mmap, put the file in the store.
fn mapped_file(s: &mut RecordSession, call: &Call) -> Result<Option<FileRef>> {
    let flags = call.args[3] as i32;
    let fd = call.args[4] as i32;
    if call.result < 0 || flags & libc::MAP_ANONYMOUS != 0 || fd < 0 {
        return Ok(None);
    }
    let path = PathBuf::from(format!("/proc/{}/fd/{}", s.task.tgid, fd));
    let meta = std::fs::metadata(&path)
        .map_err(|e| Error::Other(format!("cannot inspect the file mapped from fd {fd}: {e}")))?;
    if !meta.is_file() {
        // /dev/zero and friends: replay maps anonymous memory instead.
        return Ok(None);
    }
    let target = std::fs::read_link(&path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string());
    let f = s
        .writer
        .store_file(&path)
        .map_err(|source| Error::StoreFile { path: target, source })?;
    Ok(Some(f))
}
