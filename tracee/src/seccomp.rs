//! The seccomp filter replay installs: every syscall becomes a PTRACE_EVENT_SECCOMP stop, at which
//! the replayer can emulate it with a single stop (set the result, skip the syscall).

/// A classic-BPF program in the form `seccomp(2)` takes.
pub struct Filter {
    insns: Vec<libc::sock_filter>,
    prog: libc::sock_fprog,
}

impl Filter {
    /// The `sock_fprog` to pass to seccomp; valid while `self` lives.
    pub fn as_sock_fprog(&self) -> *const libc::sock_fprog {
        &self.prog
    }
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// `SECCOMP_RET_TRACE` for every syscall of the x86_64 ABI, except the table's rows that replay
/// runs silently (`Row::silent`: they run for real without a stop); anything else is killed.
pub fn trace_all_filter() -> Box<Filter> {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // offsetof(struct seccomp_data, arch) == 4
    let insns = vec![
        stmt(LD_W_ABS, 4),
        libc::sock_filter {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH_X86_64,
        },
        stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        // offsetof(struct seccomp_data, nr) == 0
        stmt(LD_W_ABS, 0),
    ];
    let mut insns = insns;
    const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    for row in crate::syscalls::ROWS.iter().filter(|r| r.silent) {
        if row.no as i64 == libc::SYS_mprotect {
            // mprotect(.., .., prot): silent unless prot has PROT_EXEC (see Row::is_silent).
            // offsetof(struct seccomp_data, args[2]) == 32 (low word, little-endian).
            insns.push(libc::sock_filter {
                code: JEQ_K,
                jt: 0,
                jf: 4,
                k: row.no,
            });
            insns.push(stmt(LD_W_ABS, 32));
            insns.push(libc::sock_filter {
                code: JSET_K,
                jt: 1,
                jf: 0,
                k: libc::PROT_EXEC as u32,
            });
            insns.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
            insns.push(stmt(RET_K, libc::SECCOMP_RET_TRACE));
            continue;
        }
        insns.push(libc::sock_filter {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: row.no,
        });
        insns.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    }
    insns.push(stmt(RET_K, libc::SECCOMP_RET_TRACE));
    let mut f = Box::new(Filter {
        insns,
        prog: libc::sock_fprog {
            len: 0,
            filter: std::ptr::null_mut(),
        },
    });
    f.prog.len = f.insns.len() as u16;
    f.prog.filter = f.insns.as_mut_ptr();
    f
}
