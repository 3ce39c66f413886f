//! The points layer: every `int3` and every debug register this project places in a tracee.
//!
//! Chaos points, spin hints and debugger breakpoints are `int3` patches over the program's code;
//! a position sought by hits, a recorder's move-out targets and debugger watchpoints are debug
//! registers. Recorder and replayer both go through [`Points`], so each rule (the chaos point
//! hit cap, what a spin hint skips, which byte was there) exists once, and the program and the
//! debugger never see a byte they did not put there ([`Points::hide`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{Error, RemotePtr, Result, StepOver, Task};

/// A chaos point is unpatched after this many hits (all threads): past it, a hot point costs
/// more stops than it gives chances. Record and replay apply it identically.
pub const CHAOS_POINT_HIT_CAP: u64 = 5000;

/// `si_code` of the SIGTRAP the kernel sends for a single step that ended in a syscall's exit
/// (`user_single_step_report`); an `int3` is SI_KERNEL, a debug register TRAP_HWBKPT.
const TRAP_BRKPT: i32 = 1;

/// Bytes of a PAUSE (`f3 90`): a spin hint's trap skips them.
const PAUSE_LEN: u64 = 2;

/// What an `int3` patch is for (one address may be several at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A chaos preemption point (counted; capped).
    Chaos,
    /// A PAUSE, counted as a scheduling point.
    Spin,
    /// A debugger breakpoint.
    Debugger,
}

#[derive(Clone, Copy, Debug, Default)]
struct Patch {
    orig: u8,
    chaos: bool,
    spin: bool,
    debugger: bool,
}

impl Patch {
    fn has(&self, k: Kind) -> bool {
        match k {
            Kind::Chaos => self.chaos,
            Kind::Spin => self.spin,
            Kind::Debugger => self.debugger,
        }
    }
    fn set(&mut self, k: Kind, on: bool) {
        match k {
            Kind::Chaos => self.chaos = on,
            Kind::Spin => self.spin = on,
            Kind::Debugger => self.debugger = on,
        }
    }
    fn empty(&self) -> bool {
        !(self.chaos || self.spin || self.debugger)
    }
}

/// A trap at one of our `int3`s: its address and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    pub addr: u64,
    pub chaos: bool,
    pub spin: bool,
    pub debugger: bool,
}

/// What a data watchpoint fires on (x86 has no read-only kind: `Read` is armed as access).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    Write,
    Read,
    Access,
}

/// A debugger watchpoint: armed in a debug register of every thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Watch {
    pub addr: u64,
    pub len: u64,
    pub kind: WatchKind,
}

/// Why a SIGTRAP that is not one of our `int3`s came (from DR6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DebugHit {
    /// The index into the `exec` addresses given to [`Points::arm`] that fired.
    pub exec: Option<usize>,
    /// The watchpoint that fired.
    pub watch: Option<Watch>,
    /// A single step completed. Also when the stepped instruction was a `syscall` the kernel
    /// ran without a stop of ours: it reports the step at the call's exit, a SIGTRAP with
    /// `si_code` TRAP_BRKPT and DR6 empty.
    pub step: bool,
}

/// The patches and debug registers of one process (its threads share the code).
#[derive(Clone, Default)]
pub struct Points {
    patches: BTreeMap<u64, Patch>,
    chaos_hits: HashMap<u64, u64>,
    spin_enabled: bool,
    spin_scanned: BTreeSet<(u64, u64)>,
    watches: Vec<Watch>,
    /// Debugger breakpoints at addresses not mapped yet (or not since an exec): patched when
    /// code is mapped ([`Points::patch_new_code`]).
    pending: BTreeSet<u64>,
    /// What each thread's debug registers hold now (by real tid), to write them only on change.
    armed: HashMap<i32, Vec<(u64, u64)>>,
}

impl Points {
    /// Patch `int3` at `addr` for `kind` (the byte is patched once however many kinds share it).
    pub fn add(&mut self, task: &mut Task, addr: u64, kind: Kind) -> Result<()> {
        if let Some(p) = self.patches.get_mut(&addr) {
            p.set(kind, true);
            return Ok(());
        }
        let orig = match task.patch_int3(addr) {
            Ok(b) => b,
            // A debugger's breakpoint in code not mapped yet (a library, before the loader
            // maps it): it is patched when code is mapped.
            Err(_) if kind == Kind::Debugger => {
                self.pending.insert(addr);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut p = Patch {
            orig,
            ..Default::default()
        };
        p.set(kind, true);
        self.patches.insert(addr, p);
        Ok(())
    }

    /// Drop `kind` at `addr`; the original byte comes back when nothing else is there.
    pub fn remove(&mut self, task: &mut Task, addr: u64, kind: Kind) -> Result<()> {
        if kind == Kind::Debugger {
            self.pending.remove(&addr);
        }
        let Some(p) = self.patches.get_mut(&addr) else {
            return Ok(());
        };
        p.set(kind, false);
        if p.empty() {
            let orig = p.orig;
            self.patches.remove(&addr);
            task.write_bytes(RemotePtr::new(addr), &[orig])?;
        }
        Ok(())
    }

    /// The trap of an `int3` of ours, from the pc after it.
    pub fn trap(&self, pc_after: u64) -> Option<Trap> {
        let addr = pc_after.wrapping_sub(1);
        self.patches.get(&addr).map(|p| Trap {
            addr,
            chaos: p.chaos,
            spin: p.spin,
            debugger: p.debugger,
        })
    }

    /// Whether `addr` is a counted point (chaos point or spin hint) now.
    pub fn is_counted(&self, addr: u64) -> bool {
        self.patches
            .get(&addr)
            .is_some_and(|p| p.has(Kind::Chaos) || p.has(Kind::Spin))
    }

    pub fn has(&self, addr: u64, kind: Kind) -> bool {
        self.patches.get(&addr).is_some_and(|p| p.has(kind))
    }

    /// Count a hit of chaos point `addr` (all threads). Returns whether it stays a chaos point;
    /// at the cap it stops being one (and its byte comes back if nothing else is there).
    pub fn chaos_hit(&mut self, task: &mut Task, addr: u64) -> Result<bool> {
        let h = self.chaos_hits.entry(addr).or_insert(0);
        *h += 1;
        if *h < CHAOS_POINT_HIT_CAP {
            return Ok(true);
        }
        self.remove(task, addr, Kind::Chaos)?;
        Ok(false)
    }

    /// A thread trapped at spin hint `addr`: skip the PAUSE (pc past it).
    pub fn skip_spin(task: &Task, addr: u64) -> Result<crate::Regs> {
        let mut regs = task.regs()?;
        regs.set_pc(addr + PAUSE_LEN);
        task.set_regs(&regs)?;
        Ok(regs)
    }

    /// The thread stands at patched `addr`: run the original instruction alone.
    pub fn step_over(&self, task: &mut Task, addr: u64) -> Result<StepOver> {
        let Some(p) = self.patches.get(&addr) else {
            return Err(Error::Protocol(format!(
                "no patch at {addr:#x} to step over"
            )));
        };
        task.step_over(addr, p.orig)
    }

    /// Overlay the original bytes on `buf`, read from `addr`: memory as the program wrote it.
    pub fn hide(&self, addr: u64, buf: &mut [u8]) {
        let end = addr.saturating_add(buf.len() as u64);
        for (&a, p) in self.patches.range(addr..end) {
            buf[(a - addr) as usize] = p.orig;
        }
    }

    /// Patched addresses with their original bytes (to undo them in a child process).
    pub fn originals(&self) -> Vec<(u64, u8)> {
        self.patches.iter().map(|(&a, p)| (a, p.orig)).collect()
    }

    /// The chaos points now patched.
    pub fn chaos_points(&self) -> Vec<u64> {
        self.patches
            .iter()
            .filter(|(_, p)| p.chaos)
            .map(|(&a, _)| a)
            .collect()
    }

    /// A new image (exec): nothing of ours is in it.
    pub fn clear_at_exec(&mut self) {
        let watches = std::mem::take(&mut self.watches);
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend(
            self.patches
                .iter()
                .filter(|(_, p)| p.debugger)
                .map(|(&a, _)| a),
        );
        *self = Points::default();
        self.watches = watches;
        // The debugger's breakpoints stay: patched again when their code is mapped.
        self.pending = pending;
    }

    /// Debugger breakpoints waiting for their code to be mapped.
    pub fn pending(&self) -> &BTreeSet<u64> {
        &self.pending
    }

    /// Patch every spin hint of the process's code from now on (at its first thread creation).
    pub fn enable_spin(&mut self, task: &mut Task) -> Result<()> {
        if self.spin_enabled {
            return Ok(());
        }
        self.spin_enabled = true;
        self.patch_new_code(task)
    }

    pub fn spin_enabled(&self) -> bool {
        self.spin_enabled
    }

    /// Code was mapped: patch the debugger's pending breakpoints that are now mapped, and the
    /// spin hints of code mapped since the last scan (when spin hints are on).
    pub fn patch_new_code(&mut self, task: &mut Task) -> Result<()> {
        for addr in std::mem::take(&mut self.pending) {
            self.add(task, addr, Kind::Debugger)?;
        }
        if !self.spin_enabled {
            return Ok(());
        }
        for addr in crate::spin::new_pause_points(task, &mut self.spin_scanned)? {
            if self.patches.contains_key(&addr) {
                continue;
            }
            self.add(task, addr, Kind::Spin)?;
        }
        Ok(())
    }

    /// Watchpoints: at most 4 with what [`Points::arm`] is given besides.
    pub fn add_watch(&mut self, w: Watch) -> Result<()> {
        if !matches!(w.len, 1 | 2 | 4 | 8) || !w.addr.is_multiple_of(w.len) {
            return Err(Error::Protocol(format!(
                "a watchpoint of {} bytes at {:#x} does not fit a debug register",
                w.len, w.addr
            )));
        }
        if self.watches.len() >= 4 {
            return Err(Error::Protocol(
                "all 4 debug registers hold watchpoints".into(),
            ));
        }
        if !self.watches.contains(&w) {
            self.watches.push(w);
        }
        Ok(())
    }

    pub fn remove_watch(&mut self, w: Watch) {
        self.watches.retain(|x| *x != w);
    }

    pub fn watches(&self) -> &[Watch] {
        &self.watches
    }

    /// Debug registers left for execution breakpoints besides the watchpoints.
    pub fn free_debug_registers(&self) -> usize {
        4 - self.watches.len()
    }

    /// Load `task`'s debug registers with the watchpoints and execution breakpoints at `exec`
    /// (written only when they changed). Err when they do not fit in 4.
    pub fn arm(&mut self, task: &Task, exec: &[u64]) -> Result<()> {
        if self.watches.len() + exec.len() > 4 {
            return Err(Error::Protocol(format!(
                "{} watchpoints and {} breakpoints do not fit in 4 debug registers",
                self.watches.len(),
                exec.len()
            )));
        }
        let mut slots: Vec<(u64, u64)> = Vec::with_capacity(4);
        for w in &self.watches {
            let i = slots.len() as u64;
            let rw = match w.kind {
                WatchKind::Write => 0b01,
                WatchKind::Read | WatchKind::Access => 0b11,
            };
            let len = match w.len {
                1 => 0b00,
                2 => 0b01,
                8 => 0b10,
                _ => 0b11,
            };
            slots.push((w.addr, (rw | len << 2) << (16 + 4 * i)));
        }
        slots.extend(exec.iter().map(|&a| (a, 0)));
        let key = task.tid.as_raw();
        if self.armed.get(&key) == Some(&slots) {
            return Ok(());
        }
        task.load_debug_slots(&slots)?;
        self.armed.insert(key, slots);
        Ok(())
    }

    /// What the debug registers say of the current SIGTRAP of `task`, with the `exec` list it
    /// was armed with.
    pub fn debug_hit(&self, task: &Task) -> Result<DebugHit> {
        let dr6 = task.take_debug_status()?;
        let mut hit = DebugHit {
            step: dr6 & (1 << 14) != 0,
            ..Default::default()
        };
        let nw = self.watches.len();
        if let Some(i) = (0..4).find(|i| dr6 & (1 << i) != 0) {
            if i < nw {
                hit.watch = Some(self.watches[i]);
            } else {
                hit.exec = Some(i - nw);
            }
        } else if !hit.step {
            hit.step = task.siginfo()?.si_code == TRAP_BRKPT;
        }
        Ok(hit)
    }

    /// A copy of the process (a checkpoint): no thread's debug registers are known.
    pub fn forget_threads(&mut self) {
        self.armed.clear();
    }

    /// Take out every debugger breakpoint (pending ones too) and watchpoint.
    pub fn drop_debugger_points(&mut self, task: &mut Task) -> Result<()> {
        let addrs: Vec<u64> = self
            .patches
            .iter()
            .filter(|(_, p)| p.debugger)
            .map(|(&a, _)| a)
            .collect();
        for a in addrs {
            self.remove(task, a, Kind::Debugger)?;
        }
        self.pending.clear();
        self.watches.clear();
        Ok(())
    }

    /// Forget a thread that is gone.
    pub fn forget_thread(&mut self, real_tid: i32) {
        self.armed.remove(&real_tid);
    }
}

/// Passes of one thread over counted points since its previous event: what a counted position's
/// `hits` is.
#[derive(Clone, Debug, Default)]
pub struct Passes(HashMap<u64, u64>);

impl Passes {
    /// Count a pass over `pc`; returns the count.
    pub fn pass(&mut self, pc: u64) -> u64 {
        let h = self.0.entry(pc).or_insert(0);
        *h += 1;
        *h
    }

    pub fn get(&self, pc: u64) -> u64 {
        self.0.get(&pc).copied().unwrap_or(0)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}
