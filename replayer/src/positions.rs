//! Recorded preemption positions: reaching `(pc, hits)` or `(pc, registers, digest)` with a
//! debug register at `pc` (DESIGN.md 6). Counted positions at patched points are reached by
//! counting traps instead (run.rs, `counted_pass`).

use pack::Position;
use tracee::syscalls;

use crate::error::Result;
use crate::session::ReplaySession;
use crate::thread::Parked;

/// Give up seeking a position after this many breakpoint hits (a bug or a corrupt trace).
/// The trace format from which digests cover only non-zero pages (`tracee::digest`).
const DIGEST_OF_NONZERO_PAGES: u32 = 3;

pub(crate) const SEEK_LIMIT: u64 = 5_000_000;

/// Register words (`Regs::to_words` order) that a counted position before a `syscall`
/// instruction cannot know: the recorder saw them after the instruction ran (it clobbers rcx
/// and r11; orig_rax is the kernel's).
const UNKNOWN_BEFORE_SYSCALL: [usize; 3] = [6, 11, 15];

use tracee::same_words_but as regs_equal_but;

/// A position the running thread is heading for.
pub(crate) struct Seek {
    pub p: Position,
    /// Passes over `p.pc` so far.
    pub hits: u64,
    /// Left out of digests: other threads' in-flight syscall buffers.
    pub exclude: Vec<(u64, u64)>,
    /// Parked at `p.pc` itself: step off it before arming the breakpoint.
    pub step_first: bool,
    /// Seek stops when it began.
    pub stops_before: u64,
}

/// Whether a recorded preemption is reached with a debug register: an uncounted position, or
/// one counted at an instruction that is not a patched point (the `syscall` instruction of a
/// call replay runs without a stop).
pub(crate) fn needs_seek(s: &ReplaySession, p: &Position) -> bool {
    p.hits.is_none() || !s.points.is_counted(p.pc)
}

impl ReplaySession {
    /// Begin seeking `p` for `tid`. `None` when the thread is already there (then parked and
    /// the event consumed).
    pub(crate) fn seek_start(&mut self, tid: i32, p: Position) -> Result<Option<Seek>> {
        let format = self.reader.header().format_version;
        if p.digest.is_some() && format < DIGEST_OF_NONZERO_PAGES {
            return Err(crate::Error::Unreplayable(format!(
                "it was recorded by an older cargo-record-test (trace format {format}), whose \
                 memory digests this version computes otherwise; record it again"
            )));
        }
        let exclude = self.in_flight(tid)?;
        let mut seek = Seek {
            p,
            hits: 0,
            exclude,
            step_first: false,
            stops_before: self.seek_stops,
        };
        if self.task(tid)?.regs()?.pc() == seek.p.pc {
            // Parked at that very instruction (a preemption there before): this is a pass,
            // which a breakpoint would not report.
            seek.hits = 1;
            if self.at_position(tid, &seek)? {
                self.seek_done(&seek);
                self.consume()?;
                return Ok(None);
            }
            seek.step_first = true;
        }
        Ok(Some(seek))
    }

    pub(crate) fn seek_done(&mut self, seek: &Seek) {
        self.seeks += 1;
        self.seek_max = self.seek_max.max(self.seek_stops - seek.stops_before);
    }

    /// Whether `tid`, stopped at `seek.p.pc` for the `seek.hits`th time since its previous
    /// event, is at the position; if so it is parked there.
    pub(crate) fn at_position(&mut self, tid: i32, seek: &Seek) -> Result<bool> {
        let (p, hits) = (&seek.p, seek.hits);
        let debug = self.debug;
        let task = self.task(tid)?;
        let regs = task.regs()?.to_words();
        let here = match p.hits {
            Some(want) if hits < want => false,
            Some(_) => {
                if !regs_equal_but(&regs, &p.regs, &UNKNOWN_BEFORE_SYSCALL) {
                    return Err(self.diverged(format!(
                        "reached {:#x} for the {hits}th time with other registers",
                        p.pc
                    )));
                }
                true
            }
            None if regs_equal_but(&regs, &p.regs, &[]) => {
                let d = tracee::digest::digest(task, &seek.exclude)?;
                if debug {
                    let same = if p.digest == Some(d) {
                        "equal"
                    } else {
                        "differs"
                    };
                    eprintln!(
                        "[replay] seek {:#x}: hit {hits} has the registers; digest {same}",
                        p.pc
                    );
                }
                p.digest.is_none_or(|want| want == d)
            }
            None => false,
        };
        if here {
            let t = self
                .threads
                .get_mut(&tid)
                .expect("the seeking thread exists");
            self.points.arm(&t.task, &[])?;
            t.parked = Parked::Ready;
            t.passes.clear();
        }
        Ok(here)
    }

    /// Output buffers of syscalls other threads are parked at (left out of digests, as in
    /// recording).
    pub(crate) fn in_flight(&mut self, except: i32) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        for (&tid, t) in self.threads.iter_mut() {
            if tid == except {
                continue;
            }
            if let Parked::AtSyscall(regs) = t.parked {
                if let Some(row) = syscalls::lookup(regs.syscall_no()) {
                    out.extend(row.max_regions(&regs.args(), &mut t.task));
                }
            }
        }
        Ok(out)
    }
}
