//! Chaos scheduling (DESIGN.md section 8): seeded decisions that make races show up in a few
//! runs. Everything the program observes is recorded, so a chaos trace replays like any other.
//!
//! * PCT priorities: every thread gets a random distinct priority; the highest-priority runnable
//!   thread runs; at `depth - 1` random steps the running thread drops below all others. Steps
//!   are counted only while the program has several threads.
//! * Preemption points: calls to atomics and locks and LOCK-prefixed instructions of the
//!   program's own code trap (int3); at each, the scheduler may switch (counted position).
//! * Time: long slices (only for liveness: decisions happen at scheduling points, not at
//!   times), and starvation: a thread that becomes runnable may be kept off the CPU
//!   for 1 ms to 1 s (2 s in all per run) even when nothing else runs (exposes sleep used as
//!   synchronisation).
//! * Variety the program observes: its CPU count, and sometimes a wall clock just before a
//!   second boundary.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// What the user asks for.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    pub seed: u64,
}

/// The decisions of one chaos run.
pub(crate) struct Chaos {
    rng: Pcg64Mcg,
    pub seed: u64,
    depth: u32,
    /// Steps (counted while several threads live) at which the running thread is lowered.
    change_points: Vec<u64>,
    steps: u64,
    next_low: i64,
    priorities: HashMap<i32, i64>,
    /// Per mille: a point preempts at random (and lowers the thread) this often...
    random_preempt: u32,
    /// ... this many times per run.
    preempt_budget: u32,
    /// Per mille: a thread that becomes runnable is starved this often.
    starve_rate: u32,
    /// Starved threads: they rank below all others until the others made this many steps,
    /// and, when nobody else can run, wait until this time.
    starved: HashMap<i32, (u64, Instant)>,
    starve_left: Duration,
    slice_max_ms: u64,
    /// The CPU count the program sees (None: the real one).
    pub cpus: Option<usize>,
    /// Put the first wall-clock read just before a second boundary.
    pub clock_boundary: bool,
    /// Offset added to every wall-clock read, fixed at the first one.
    pub clock_offset_ns: Option<i64>,
    /// The chaos points patched at the first exec (for the header).
    pub point_list: Vec<u64>,
}

impl Chaos {
    pub fn new(opts: &ChaosOptions) -> Chaos {
        let mut rng = Pcg64Mcg::seed_from_u64(opts.seed);
        let mut below = |n: u64| rng.next_u64() % n.max(1);
        let depth = [1, 2, 2, 3, 3, 4][below(6) as usize];
        // PCT needs the number of steps k; unknown up front, so draw its scale per run.
        let scale = 16u64 << below(9); // 16 .. 4096
        let mut change_points: Vec<u64> = (1..depth).map(|_| 1 + below(scale)).collect();
        change_points.sort_unstable();
        // Chaos points are few and all at synchronisation. A run preempts at a few of them
        // (a budget), each hit with some probability; a preempted thread drops to the bottom, so
        // the others run on without switching back (PCT-like: few switches, well placed).
        let random_preempt = [50, 150, 300, 600][below(4) as usize];
        let preempt_budget = [1, 1, 2, 3][below(4) as usize];
        let starve_rate = [0, 200, 400, 600][below(4) as usize];
        let slice_max_ms = [2, 5, 20, 50][below(4) as usize];
        let cpus = match below(4) {
            0 => None,
            1 => Some(2),
            2 => Some(4),
            _ => Some(8),
        };
        let clock_boundary = below(8) == 0;
        Chaos {
            rng,
            seed: opts.seed,
            depth,
            change_points,
            steps: 0,
            next_low: 0,
            priorities: HashMap::new(),
            random_preempt,
            preempt_budget,
            starve_rate,
            starved: HashMap::new(),
            starve_left: Duration::from_secs(2),
            slice_max_ms,
            cpus,
            clock_boundary,
            clock_offset_ns: None,
            point_list: Vec::new(),
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    /// The parameters, for the trace header.
    pub fn params(&self) -> Vec<(String, String)> {
        vec![
            ("depth".to_string(), self.depth.to_string()),
            (
                "change_points".to_string(),
                self.change_points
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "random_preempt_per_mille".into(),
                self.random_preempt.to_string(),
            ),
            ("preempt_budget".into(), self.preempt_budget.to_string()),
            ("starve_per_mille".into(), self.starve_rate.to_string()),
            ("slice_max_ms".into(), self.slice_max_ms.to_string()),
            (
                "cpus".into(),
                self.cpus
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "real".into()),
            ),
            ("clock_boundary".into(), self.clock_boundary.to_string()),
        ]
    }

    /// A new thread: a random priority above every lowered one.
    pub fn on_new_thread(&mut self, tid: i32) {
        let p = 1_000_000 + self.below(1_000_000) as i64;
        self.priorities.insert(tid, p);
    }

    fn priority(&self, tid: i32) -> i64 {
        self.priorities.get(&tid).copied().unwrap_or(1_000_000)
    }

    /// Count a step of the running thread (while several threads live); at a change point it
    /// drops below every other thread.
    pub fn step(&mut self, current: i32, threads: usize) {
        if threads < 2 {
            return;
        }
        self.steps += 1;
        while self.change_points.first() == Some(&self.steps) {
            self.change_points.remove(0);
            self.lower(current);
        }
    }

    fn lower(&mut self, tid: i32) {
        self.next_low -= 1;
        self.priorities.insert(tid, self.next_low);
    }

    /// At a preemption point or a syscall exit of `current`: should another thread run now?
    pub fn should_switch(&mut self, current: i32, runnable: &[i32], at_point: bool) -> bool {
        if runnable.is_empty() {
            return false;
        }
        if at_point && self.preempt_budget > 0 && self.below(1000) < self.random_preempt as u64 {
            self.preempt_budget -= 1;
            self.lower(current);
            return true;
        }
        let mine = self.priority(current);
        runnable
            .iter()
            .any(|&t| !self.is_starved(t) && self.priority(t) > mine)
    }

    /// A spinning thread yields to the others: it drops below them.
    pub fn on_spin(&mut self, tid: i32) {
        self.lower(tid);
    }

    /// Whether `tid` is starved (counted in steps, so decisions do not depend on timing while
    /// other threads run).
    fn is_starved(&self, tid: i32) -> bool {
        self.starved
            .get(&tid)
            .is_some_and(|&(steps, _)| self.steps < steps)
    }

    /// The thread to run among `runnable`: the highest priority that is not starved; a starved
    /// one only when it is alone and its time is up. `None`: wait (see `starvation_end`).
    /// Starvation only holds while `time_matters` (another thread waits on a clock): otherwise
    /// waiting could change nothing but the run's length.
    pub fn pick(&self, runnable: &[i32], time_matters: bool) -> Option<i32> {
        let best = |ts: &mut dyn Iterator<Item = i32>| ts.max_by_key(|&t| (self.priority(t), t));
        if !time_matters || self.starve_left.is_zero() {
            return best(&mut runnable.iter().copied());
        }
        if let Some(t) = best(&mut runnable.iter().copied().filter(|&t| !self.is_starved(t))) {
            return Some(t);
        }
        let now = Instant::now();
        best(
            &mut runnable
                .iter()
                .copied()
                .filter(|t| self.starved.get(t).is_some_and(|&(_, until)| until <= now)),
        )
    }

    /// The recorder is about to wait `d` for a starvation to end: charge it to the run's budget
    /// (a run waits 2 s at most in all).
    pub fn charge(&mut self, d: Duration) -> Duration {
        let d = d.min(self.starve_left);
        self.starve_left -= d;
        d
    }

    /// When the earliest starvation among `runnable` (all starved) ends.
    pub fn starvation_end(&self, runnable: &[i32]) -> Option<Instant> {
        runnable
            .iter()
            .filter_map(|t| self.starved.get(t).map(|&(_, until)| until))
            .min()
    }

    /// A thread became runnable (its blocking syscall returned, or it was created).
    pub fn on_runnable(&mut self, tid: i32) {
        if self.starve_rate == 0 {
            return;
        }
        if self.below(1000) < self.starve_rate as u64 {
            // Log-uniform between 1 ms and 1 s.
            let ms = (1000.0f64).powf(self.below(1000) as f64 / 1000.0) as u64;
            let d = Duration::from_millis(ms.max(1));
            // About one step per 50 us of the others' progress.
            let steps = self.steps + 1 + d.as_micros() as u64 / 50;
            self.starved.insert(tid, (steps, Instant::now() + d));
        }
    }

    /// A random time slice.
    ///
    /// Slices are a matter of time, so they would make the schedule depend on the machine's load:
    /// under chaos they only keep a thread that never reaches a scheduling point from running
    /// forever (scheduling points: syscalls, preemption points, spin hints).
    pub fn slice(&mut self) -> Duration {
        Duration::from_millis(200 + self.below(self.slice_max_ms))
    }

    /// For the first wall-clock read at `sec.nsec`: the offset that puts it just before the
    /// next second (10 us to 2 ms before), kept for every later read.
    pub fn clock_offset(&mut self, nsec: i64) -> i64 {
        if let Some(o) = self.clock_offset_ns {
            return o;
        }
        let o = if self.clock_boundary {
            let before = 10_000 + self.below(2_000_000) as i64;
            (1_000_000_000 - before - nsec).rem_euclid(1_000_000_000)
        } else {
            0
        };
        self.clock_offset_ns = Some(o);
        o
    }
}

/// After a successful wall-clock read: shift it by the run's offset (chosen at the first read to
/// land just before a second boundary). Monotonic clocks are left alone.
pub(crate) fn shift_wall_clock(
    s: &mut crate::session::RecordSession,
    tid: i32,
    no: i64,
    args: &[u64; 6],
) -> crate::error::Result<()> {
    use tracee::RemotePtr;
    let (ptr, unit) = match no {
        libc::SYS_clock_gettime
            if matches!(
                args[0] as i32,
                libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE
            ) =>
        {
            (args[1], 1i64)
        }
        libc::SYS_gettimeofday => (args[0], 1000),
        _ => return Ok(()),
    };
    if ptr == 0 {
        return Ok(());
    }
    let task = s.task(tid);
    let sec = task.read_u64(RemotePtr::new(ptr))? as i64;
    let frac = task.read_u64(RemotePtr::new(ptr + 8))? as i64;
    let chaos = s.chaos.as_mut().expect("checked by the caller");
    let offset = chaos.clock_offset(frac * unit);
    let total = frac * unit + offset;
    let (sec, ns) = (
        sec + total.div_euclid(1_000_000_000),
        total.rem_euclid(1_000_000_000),
    );
    let task = s.task(tid);
    task.write_u64(RemotePtr::new(ptr), sec as u64)?;
    task.write_u64(RemotePtr::new(ptr + 8), (ns / unit) as u64)?;
    Ok(())
}
