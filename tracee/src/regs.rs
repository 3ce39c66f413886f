//! General registers of a stopped thread, with the x86_64 syscall ABI's names for them.

use libc::user_regs_struct;

/// Number of 64-bit words in `user_regs_struct`.
pub const REGS_WORDS: usize = 27;

/// Whether two register sets (`Regs::to_words`) describe the same program state, the words at
/// `ignore` left out. The flags' RF and TF bits are ours, not the program's: the kernel sets RF
/// after a debug-register breakpoint and TF while single-stepping, so a thread reached by one
/// and interrupted at the other differs only there. Record's repeated-state test and replay's
/// position search both use this one rule.
pub fn same_words_but(a: &[u64], b: &[u64], ignore: &[usize]) -> bool {
    const EFLAGS: usize = 18;
    const RF_TF: u64 = 0x1_0100;
    a.len() == b.len()
        && a.iter().zip(b).enumerate().all(|(i, (x, y))| {
            if ignore.contains(&i) {
                true
            } else if i == EFLAGS {
                x & !RF_TF == y & !RF_TF
            } else {
                x == y
            }
        })
}

/// The flags' resume bit: set, the next instruction's execution breakpoint does not trap. A
/// thread stopped at `pc` by anything but that breakpoint (an interrupt, a syscall) traps at
/// once when resumed with a debug register at `pc`, before it executes anything, unless set.
pub const EFLAGS_RF: u64 = 1 << 16;

/// The general registers (incl. flags, fs_base, gs_base) of a thread.
#[derive(Clone, Copy)]
pub struct Regs(pub user_regs_struct);

impl Regs {
    pub fn pc(&self) -> u64 {
        self.0.rip
    }
    pub fn set_pc(&mut self, pc: u64) {
        self.0.rip = pc;
    }
    pub fn sp(&self) -> u64 {
        self.0.rsp
    }
    /// The syscall number as the kernel saw it on entry.
    pub fn syscall_no(&self) -> i64 {
        self.0.orig_rax as i64
    }
    pub fn set_syscall_no(&mut self, no: i64) {
        self.0.orig_rax = no as u64;
    }
    /// The six syscall arguments.
    pub fn args(&self) -> [u64; 6] {
        let r = &self.0;
        [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]
    }
    pub fn set_args(&mut self, a: [u64; 6]) {
        let r = &mut self.0;
        r.rdi = a[0];
        r.rsi = a[1];
        r.rdx = a[2];
        r.r10 = a[3];
        r.r8 = a[4];
        r.r9 = a[5];
    }
    pub fn set_arg(&mut self, i: usize, v: u64) {
        let mut a = self.args();
        a[i] = v;
        self.set_args(a);
    }
    /// The syscall result (rax) at a syscall-exit stop.
    pub fn result(&self) -> i64 {
        self.0.rax as i64
    }
    pub fn set_result(&mut self, v: i64) {
        self.0.rax = v as u64;
    }
    pub fn rax(&self) -> u64 {
        self.0.rax
    }

    /// All words in `user_regs_struct` order.
    pub fn to_words(&self) -> Vec<u64> {
        let r = &self.0;
        vec![
            r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx,
            r.rdx, r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base,
            r.gs_base, r.ds, r.es, r.fs, r.gs,
        ]
    }

    /// Registers from words in `user_regs_struct` order; `None` if the count is wrong.
    pub fn from_words(w: &[u64]) -> Option<Regs> {
        if w.len() != REGS_WORDS {
            return None;
        }
        Some(Regs(user_regs_struct {
            r15: w[0],
            r14: w[1],
            r13: w[2],
            r12: w[3],
            rbp: w[4],
            rbx: w[5],
            r11: w[6],
            r10: w[7],
            r9: w[8],
            r8: w[9],
            rax: w[10],
            rcx: w[11],
            rdx: w[12],
            rsi: w[13],
            rdi: w[14],
            orig_rax: w[15],
            rip: w[16],
            cs: w[17],
            eflags: w[18],
            rsp: w[19],
            ss: w[20],
            fs_base: w[21],
            gs_base: w[22],
            ds: w[23],
            es: w[24],
            fs: w[25],
            gs: w[26],
        }))
    }
}

impl std::fmt::Debug for Regs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.0;
        write!(
            f,
            "rip={:#x} rsp={:#x} rax={:#x} orig_rax={} rdi={:#x} rsi={:#x} rdx={:#x}",
            r.rip, r.rsp, r.rax, r.orig_rax as i64, r.rdi, r.rsi, r.rdx
        )
    }
}
