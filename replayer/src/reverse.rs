//! Going back. Without an instruction counter, a moment of the replay is named by how to reach it
//! again from the start: the segment (one thread's run between two parks, counted from the
//! start) and the debugger's operations inside it (so many single steps; run to the n-th hit of
//! a set of breakpoints and watchpoints; step up to the instruction that touches a watched
//! range). Replay is deterministic, so replaying those from a new process reaches the same
//! state. Reverse-continue replays up to the current moment once with the debugger's
//! breakpoints and watchpoints armed, noting every hit as a moment, and then goes to the last
//! one; reverse-step goes to the moment one instruction earlier.

use std::collections::BTreeSet;

use tracee::access::Touch;
use tracee::points::{Kind, Watch, WatchKind};

use crate::checkpoint::Before;
use crate::error::{Error, Result};
use crate::session::ReplaySession;
use crate::stepper::{Mode, RecordedTid, RunCommand, StopReason};

/// Give up stepping back after this many single steps (a segment is that long).
const STEP_BACK_LIMIT: u64 = 2_000_000;
/// Trails kept (the latest ones).
const TRAILS: usize = 16;

/// The instructions a thread was single-stepped through from a moment (`segment` after `ops`):
/// `pcs[i]` is its pc after `i` steps. Going to that moment plus `k` steps again is then a run
/// to the right arrival at `pcs[k]` with a debug register, not `k` single steps.
pub(crate) struct Trail {
    segment: u64,
    ops: Vec<Op>,
    pcs: Vec<u64>,
}

/// The trails of recent reverse steps.
#[derive(Default)]
pub(crate) struct Trails(Vec<Trail>);

impl Trails {
    fn keep(&mut self, t: Trail) {
        self.0
            .retain(|x| !(x.segment == t.segment && x.ops == t.ops));
        if self.0.len() >= TRAILS {
            self.0.remove(0);
        }
        self.0.push(t);
    }

    fn find(&self, segment: u64, ops: &[Op]) -> Option<&Trail> {
        self.0
            .iter()
            .rev()
            .find(|t| t.segment == segment && t.ops == ops)
    }
}

/// Where `k` steps along `pcs` end, as a run with a breakpoint can reach it: the steps to take
/// first (while standing at the target instruction, where a breakpoint does not report) and
/// the arrivals at the target after them. None for a target inside a repeated string
/// instruction (stepped once per iteration, its breakpoint reports once).
fn run_plan(pcs: &[u64], k: usize) -> Option<(usize, u64)> {
    let p = *pcs.get(k)?;
    if pcs[..=k].windows(2).any(|w| w[0] == p && w[1] == p) {
        return None;
    }
    let first = pcs[..k].iter().take_while(|&&x| x == p).count();
    let arrivals = pcs[first + 1..=k].iter().filter(|&&x| x == p).count() as u64;
    Some((first, arrivals))
}

/// Breakpoints and watchpoints, as one set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Triggers {
    pub breaks: BTreeSet<u64>,
    pub watches: Vec<Watch>,
}

/// One hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    Break(u64),
    Watch(Watch),
}

impl Triggers {
    pub fn contains(&self, t: &Trigger) -> bool {
        match t {
            Trigger::Break(a) => self.breaks.contains(a),
            Trigger::Watch(w) => self.watches.contains(w),
        }
    }

    fn union(&self, o: &Triggers) -> Triggers {
        let mut u = self.clone();
        u.breaks.extend(o.breaks.iter().copied());
        for w in &o.watches {
            if !u.watches.contains(w) {
                u.watches.push(*w);
            }
        }
        u
    }

    fn is_empty(&self) -> bool {
        self.breaks.is_empty() && self.watches.is_empty()
    }
}

/// A debugger's operation inside a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// So many single steps.
    Steps(u64),
    /// Run to the `n`th hit of `set` in this segment.
    RunTo { set: Triggers, n: u64 },
    /// Single-step up to the instruction that touches the watched range (stop before it).
    StepToAccess(Watch),
}

/// A moment of the replay, as the way to reach it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Moment {
    /// Every thread parked, event N next.
    Event(u64),
    /// Inside segment `segment`, after `ops` from its start.
    Segment { segment: u64, ops: Vec<Op> },
}

/// A segment's start: the next event then, its thread, and whether it resumes from a syscall.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegmentStart {
    pub next_event: u64,
    pub tid: i32,
    pub after_syscall: bool,
}

/// Where a replay is in its run of segments.
#[derive(Clone, Default)]
pub(crate) struct History {
    /// The current segment (1 is the first thread's first run).
    pub segment: u64,
    pub starts: Vec<SegmentStart>,
    /// The debugger's operations since the current segment started.
    pub ops: Vec<Op>,
    /// Stop when this segment is about to start.
    pub halt_at_segment: Option<u64>,
    /// The event being applied is a syscall (its thread resumes from it).
    pub applying_syscall: bool,
}

impl History {
    pub fn segment_started(&mut self, next_event: u64, tid: i32) {
        self.segment += 1;
        self.starts.push(SegmentStart {
            next_event,
            tid,
            after_syscall: std::mem::take(&mut self.applying_syscall),
        });
        self.ops.clear();
    }

    pub fn push_step(&mut self) {
        match self.ops.last_mut() {
            Some(Op::Steps(k)) => *k += 1,
            _ => self.ops.push(Op::Steps(1)),
        }
    }

    fn start(&self, segment: u64) -> Option<SegmentStart> {
        self.starts.get(segment.checked_sub(1)? as usize).copied()
    }

    /// The last segment of `tid` that started before event `before` (or before segment `s`).
    fn last_segment_of(&self, tid: i32, before_segment: u64) -> Option<u64> {
        (1..before_segment)
            .rev()
            .find(|&s| self.start(s).is_some_and(|st| st.tid == tid))
    }
}

/// Notes every hit of the debugger's triggers on the way to a moment (reverse-continue).
pub(crate) struct Collector {
    /// The debugger's set, armed all along.
    pub u: Triggers,
    /// Hits of `u` in the current segment.
    seg_hits: u64,
    /// Inside the target segment, the op being replayed: its set, count, hits of it, hits of
    /// everything armed (its set and `u`), and whether it is the last (its end is the moment
    /// going back starts from, not an earlier hit).
    op: Option<(Triggers, u64, u64, u64, bool)>,
    /// The latest hit: where, and the stop to report there.
    pub best: Option<(Moment, StopReason)>,
}

impl Collector {
    fn new(u: Triggers) -> Collector {
        Collector {
            u,
            seg_hits: 0,
            op: None,
            best: None,
        }
    }

    pub fn segment_started(&mut self) {
        self.seg_hits = 0;
    }

    /// The moment of a hit of watchpoint `w` that came as the `count`th hit of `set`: before
    /// the touching instruction, after the `count - 1`th hit.
    fn before_access(ops: &[Op], set: &Triggers, count: u64, w: Watch) -> Vec<Op> {
        let mut v = ops.to_vec();
        if count > 1 {
            v.push(Op::RunTo {
                set: set.clone(),
                n: count - 1,
            });
        }
        v.push(Op::StepToAccess(w));
        v
    }

    /// A hit `t` of thread `tid` in `segment` after `ops`. Returns whether the run stops (the
    /// op being replayed is done).
    pub fn on_trigger(
        &mut self,
        segment: u64,
        ops: &[Op],
        tid: i32,
        t: Trigger,
        _pc: Option<u64>,
    ) -> bool {
        let in_u = self.u.contains(&t);
        let tid = RecordedTid(tid);
        let reason = match t {
            Trigger::Break(addr) => StopReason::Breakpoint { tid, addr },
            Trigger::Watch(w) => StopReason::Watchpoint {
                tid,
                addr: w.addr,
                kind: w.kind,
            },
        };
        let Some((set, n, seen, all, last)) = self.op.as_mut() else {
            if in_u {
                self.seg_hits += 1;
                let ops = match t {
                    Trigger::Break(_) => {
                        let mut v = ops.to_vec();
                        v.push(Op::RunTo {
                            set: self.u.clone(),
                            n: self.seg_hits,
                        });
                        v
                    }
                    Trigger::Watch(w) => Self::before_access(ops, &self.u, self.seg_hits, w),
                };
                self.best = Some((Moment::Segment { segment, ops }, reason));
            }
            return false;
        };
        *all += 1;
        let both = set.union(&self.u);
        if set.contains(&t) {
            *seen += 1;
            if *seen == *n {
                // The op's own end: a hit before the moment going back starts from, unless
                // it is that moment.
                if in_u && !*last {
                    let mut v = ops.to_vec();
                    v.push(Op::RunTo {
                        set: set.clone(),
                        n: *n,
                    });
                    self.best = Some((Moment::Segment { segment, ops: v }, reason));
                }
                return true;
            }
        }
        if in_u {
            let ops = match t {
                Trigger::Break(_) => {
                    let mut v = ops.to_vec();
                    v.push(Op::RunTo { set: both, n: *all });
                    v
                }
                Trigger::Watch(w) => Self::before_access(ops, &both, *all, w),
            };
            self.best = Some((Moment::Segment { segment, ops }, reason));
        }
        false
    }
}

impl ReplaySession {
    pub(crate) fn resume_reverse(&mut self, cmd: RunCommand) -> Result<StopReason> {
        let t0 = std::time::Instant::now();
        let stops0 = self.stops;
        let user = self.user.triggers();
        let r = match cmd {
            RunCommand::Continue => self.reverse_continue(),
            RunCommand::Step(tid) => self.reverse_step(tid),
            RunCommand::ToEvent(n) => {
                self.goto(&Moment::Event(n))?;
                let tid = RecordedTid(self.next.as_ref().map_or(self.leader, |e| e.tid));
                Ok(StopReason::Event { tid, event: n })
            }
        };
        self.user.mode = Mode::Quiet;
        let r = r?;
        self.install(&user)?;
        if self.debug {
            eprintln!(
                "[back] {cmd:?}: {:.1} ms, {} stops",
                t0.elapsed().as_secs_f64() * 1e3,
                self.stops - stops0
            );
        }
        Ok(r)
    }

    /// Arm `set` as debugger points (in a new process, from a segment's start on).
    fn install(&mut self, set: &Triggers) -> Result<()> {
        let key = self.leader_or_any()?;
        for &a in &set.breaks {
            let t = self.threads.get_mut(&key).expect("present");
            self.points.add(&mut t.task, a, Kind::Debugger)?;
        }
        for &w in &set.watches {
            self.points.add_watch(w)?;
        }
        Ok(())
    }

    /// Disarm what of `set` is not in `keep`.
    fn uninstall(&mut self, set: &Triggers, keep: &Triggers) -> Result<()> {
        let key = self.leader_or_any()?;
        for a in set.breaks.difference(&keep.breaks) {
            let t = self.threads.get_mut(&key).expect("present");
            self.points.remove(&mut t.task, *a, Kind::Debugger)?;
        }
        for w in &set.watches {
            if !keep.watches.contains(w) {
                self.points.remove_watch(*w);
            }
        }
        Ok(())
    }

    fn leader_or_any(&self) -> Result<i32> {
        if self.threads.contains_key(&self.leader) {
            return Ok(self.leader);
        }
        self.threads
            .keys()
            .next()
            .copied()
            .ok_or_else(|| Error::Unreplayable("the process has ended".into()))
    }

    /// The thread running the current segment.
    fn segment_tid(&self) -> i32 {
        self.running.as_ref().map_or(self.leader, |r| r.tid)
    }

    /// Go to the start of segment `segment` from a new process (or checkpoint).
    fn go_to_segment(&mut self, segment: u64) -> Result<()> {
        let t0 = std::time::Instant::now();
        let cp = self.rewind(Before::Segment(segment))?;
        let t1 = t0.elapsed();
        if segment > 1 {
            self.history.halt_at_segment = Some(segment);
            let r = self.forward(None);
            self.history.halt_at_segment = None;
            r?;
            if self.history.segment != segment || self.running.is_none() {
                return Err(Error::Unreplayable(format!(
                    "segment {segment} of the replay cannot be reached again"
                )));
            }
        }
        if self.debug {
            eprintln!(
                "[back] to segment {segment}: rewind to {cp:?} {:.1} ms, forward {:.1} ms",
                t1.as_secs_f64() * 1e3,
                (t0.elapsed() - t1).as_secs_f64() * 1e3
            );
        }
        Ok(())
    }

    /// Go to moment `m`, from a new process.
    pub(crate) fn goto(&mut self, m: &Moment) -> Result<()> {
        match m {
            Moment::Event(n) => {
                self.rewind(Before::Event(*n))?;
                self.forward(Some(*n))?;
            }
            Moment::Segment { segment, ops } => {
                self.go_to_segment(*segment)?;
                let tid = RecordedTid(self.segment_tid());
                for op in ops {
                    self.replay_op(tid, op, None)?;
                }
            }
        }
        Ok(())
    }

    /// Replay one op of the running segment (with `collect`, noting the debugger's hits).
    fn replay_op(&mut self, tid: RecordedTid, op: &Op, collect: Option<bool>) -> Result<()> {
        match op {
            Op::Steps(k) => {
                if collect.is_none() && self.steps_by_trail(tid, *k)? {
                    return Ok(());
                }
                for j in 1..=*k {
                    let last = collect == Some(true) && j == *k;
                    self.step_collecting(tid, collect.is_some() && !last)?;
                }
            }
            Op::RunTo { set, n } => {
                let keep = match &self.user.mode {
                    Mode::Collect(c) => c.u.clone(),
                    _ => Triggers::default(),
                };
                self.install(set)?;
                match &mut self.user.mode {
                    Mode::Collect(c) => c.op = Some((set.clone(), *n, 0, 0, collect == Some(true))),
                    mode => {
                        *mode = Mode::Count {
                            set: set.clone(),
                            n: *n,
                            seen: 0,
                        }
                    }
                }
                let r = self.forward(None);
                match &mut self.user.mode {
                    Mode::Collect(c) => {
                        c.op = None;
                        self.history.ops.push(op.clone());
                    }
                    mode => *mode = Mode::Quiet,
                }
                let r = r?;
                self.uninstall(set, &keep)?;
                if !matches!(
                    r,
                    StopReason::Breakpoint { .. } | StopReason::Watchpoint { .. }
                ) {
                    return Err(Error::Unreplayable(format!(
                        "a moment of the replay cannot be reached again ({r:?})"
                    )));
                }
            }
            Op::StepToAccess(w) => loop {
                if self.about_to_touch(tid, w)? {
                    break;
                }
                self.step_collecting(tid, collect.is_some())?;
            },
        }
        Ok(())
    }

    /// `k` steps of `tid` from here along a trail taken before (a run to the last of them),
    /// if there is one; whether they were done.
    fn steps_by_trail(&mut self, tid: RecordedTid, k: u64) -> Result<bool> {
        let segment = self.history.segment;
        let Some(trail) = self.trails.find(segment, &self.history.ops) else {
            return Ok(false);
        };
        let Some((first, arrivals)) = run_plan(&trail.pcs, k as usize) else {
            return Ok(false);
        };
        let seeking = self.running.as_ref().is_some_and(|r| r.seek.is_some());
        if self.points.free_debug_registers() <= usize::from(seeking) {
            return Ok(false);
        }
        let p = trail.pcs[k as usize];
        for _ in 0..first {
            self.step_collecting(tid, false)?;
        }
        if arrivals == 0 {
            return Ok(true);
        }
        let Some(run) = self.running.as_mut().filter(|r| r.tid == tid.0) else {
            return Ok(false);
        };
        run.to_pc = Some(crate::run::ToPc {
            pc: p,
            left: arrivals,
        });
        let r = self.forward(None);
        if let Some(run) = self.running.as_mut() {
            run.to_pc = None;
        }
        let r = r?;
        let here = self.running.is_some() && self.history.segment == segment;
        if r != (StopReason::Stepped { tid }) || !here || self.regs(tid)?.pc() != p {
            return Err(Error::Unreplayable(format!(
                "a moment of the replay cannot be reached again ({r:?} on the way to {p:#x})"
            )));
        }
        for _ in first as u64..k {
            self.history.push_step();
        }
        Ok(true)
    }

    /// One step of `tid`; when collecting, a hit on the way is noted.
    fn step_collecting(&mut self, tid: RecordedTid, collect: bool) -> Result<()> {
        let before = self.history.ops.clone();
        let segment = self.history.segment;
        let mode = std::mem::replace(&mut self.user.mode, Mode::Quiet);
        let r = self.step_forward(tid);
        self.user.mode = mode;
        let r = r?;
        if !collect {
            return Ok(());
        }
        let Mode::Collect(c) = &mut self.user.mode else {
            return Ok(());
        };
        match r {
            StopReason::Watchpoint { addr, kind, .. } => {
                let w =
                    c.u.watches
                        .iter()
                        .find(|w| w.addr == addr && w.kind == kind);
                if w.is_some() {
                    // Before this step's instruction.
                    c.best = Some((
                        Moment::Segment {
                            segment,
                            ops: before,
                        },
                        r,
                    ));
                }
            }
            StopReason::Stepped { tid } if self.history.segment == segment => {
                let pc = self
                    .threads
                    .get(&tid.0)
                    .map(|t| t.task.regs())
                    .transpose()?;
                let Mode::Collect(c) = &mut self.user.mode else {
                    unreachable!()
                };
                if let Some(pc) = pc.map(|r| r.pc()).filter(|a| c.u.breaks.contains(a)) {
                    c.best = Some((
                        Moment::Segment {
                            segment,
                            ops: self.history.ops.clone(),
                        },
                        StopReason::Breakpoint { tid, addr: pc },
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `tid`'s next instruction touches watched range `w` as `w` watches for.
    fn about_to_touch(&mut self, tid: RecordedTid, w: &Watch) -> Result<bool> {
        let regs = self.regs(tid)?;
        let mut code = [0u8; 16];
        let got = self.read_memory(regs.pc(), &mut code)?;
        let want = match w.kind {
            WatchKind::Write => Some(Touch::Write),
            WatchKind::Read => Some(Touch::Read),
            WatchKind::Access => None,
        };
        Ok(tracee::access::touches(
            &code[..got],
            &regs,
            w.addr,
            w.len,
            want,
        ))
    }

    fn reverse_continue(&mut self) -> Result<StopReason> {
        let u = self.user.triggers();
        if u.is_empty() {
            return self.go_to_history_start();
        }
        // From the latest checkpoint before the current moment; when there is no hit between
        // them, from the one before, up to that checkpoint; and so on to the start.
        let mut to = self.moment();
        let mut before = match &to {
            Moment::Event(n) => Before::Event(*n),
            Moment::Segment { segment, .. } => Before::Segment(*segment),
        };
        loop {
            let from_checkpoint = self.rewind(before)?;
            if let Some(best) = self.collect_hits(&u, &to)? {
                let (m, reason) = best;
                self.goto(&m)?;
                return Ok(reason);
            }
            match from_checkpoint {
                None => return self.go_to_history_start(),
                Some(e) => {
                    to = Moment::Event(e);
                    before = Before::Event(e - 1);
                }
            }
        }
    }

    /// From where the replay is now (a new process or checkpoint copy), run to moment `from`
    /// with the debugger's triggers `u` armed, and return the last hit on the way.
    fn collect_hits(
        &mut self,
        u: &Triggers,
        from: &Moment,
    ) -> Result<Option<(Moment, StopReason)>> {
        self.install(u)?;
        self.user.mode = Mode::Collect(Collector::new(u.clone()));
        match from {
            Moment::Event(n) => {
                self.forward(Some(*n))?;
            }
            Moment::Segment { segment, ops } => {
                if *segment > 1 {
                    self.history.halt_at_segment = Some(*segment);
                    let r = self.forward(None);
                    self.history.halt_at_segment = None;
                    r?;
                }
                let tid = RecordedTid(self.segment_tid());
                for (i, op) in ops.iter().enumerate() {
                    self.replay_op(tid, op, Some(i + 1 == ops.len()))?;
                }
            }
        }
        let Mode::Collect(c) = std::mem::take(&mut self.user.mode) else {
            unreachable!("collecting")
        };
        if self.debug {
            eprintln!(
                "[replay] reverse-continue to {from:?}: the last hit before is {:?}",
                c.best
            );
        }
        Ok(c.best)
    }

    fn go_to_history_start(&mut self) -> Result<StopReason> {
        self.goto(&Moment::Segment {
            segment: 1,
            ops: Vec::new(),
        })?;
        Ok(StopReason::HistoryStart {
            tid: RecordedTid(self.leader),
        })
    }

    fn reverse_step(&mut self, tid: RecordedTid) -> Result<StopReason> {
        let from = self.moment();
        match self.previous(&from, tid, 0)? {
            Some(m) => {
                self.goto(&m)?;
                Ok(StopReason::Stepped { tid })
            }
            None => self.go_to_history_start(),
        }
    }

    /// The moment one instruction of `tid` before `m` (None: the start of the trace).
    fn previous(&mut self, m: &Moment, tid: RecordedTid, depth: u32) -> Result<Option<Moment>> {
        if depth > 8 {
            return Err(Error::Unreplayable(
                "cannot find the previous instruction".into(),
            ));
        }
        match m {
            Moment::Segment { segment, ops } if !ops.is_empty() => {
                let mut ops = ops.clone();
                let last = ops.pop().expect("not empty");
                let base = match &last {
                    Op::Steps(k) => {
                        if *k > 1 {
                            ops.push(Op::Steps(k - 1));
                        }
                        return Ok(Some(Moment::Segment {
                            segment: *segment,
                            ops,
                        }));
                    }
                    Op::RunTo { set, n } if *n > 1 => {
                        let mut v = ops.clone();
                        v.push(Op::RunTo {
                            set: set.clone(),
                            n: n - 1,
                        });
                        v
                    }
                    _ => ops.clone(),
                };
                let base_m = Moment::Segment {
                    segment: *segment,
                    ops: base.clone(),
                };
                self.goto(&base_m)?;
                let stid = RecordedTid(self.segment_tid());
                let j = self.steps_to(stid, &last)?;
                if j == 0 {
                    return self.previous(&base_m, tid, depth + 1);
                }
                let mut v = base;
                if j > 1 {
                    v.push(Op::Steps(j - 1));
                }
                Ok(Some(Moment::Segment {
                    segment: *segment,
                    ops: v,
                }))
            }
            Moment::Segment { segment, .. } => {
                // At a segment's start: its thread's last instruction is in its previous
                // segment (or the syscall it resumes from, which is that segment's end).
                let Some(start) = self.history.start(*segment) else {
                    return Ok(None);
                };
                if start.after_syscall {
                    return Ok(Some(Moment::Event(start.next_event - 1)));
                }
                self.end_of_previous_segment(start.tid, *segment, depth)
            }
            Moment::Event(n) => {
                // Every thread parked: the thread's last segment ended at its last instruction.
                let t = tid.0;
                let before = (1..=self.history.segment)
                    .rev()
                    .find(|&s| {
                        self.history
                            .start(s)
                            .is_some_and(|st| st.tid == t && st.next_event <= *n)
                    })
                    .map(|s| s + 1);
                match before {
                    Some(b) => self.end_of_previous_segment(t, b, depth),
                    None => Ok(None),
                }
            }
        }
    }

    /// The moment before the last instruction of `tid`'s last segment before `segment`.
    fn end_of_previous_segment(
        &mut self,
        tid: i32,
        segment: u64,
        depth: u32,
    ) -> Result<Option<Moment>> {
        let Some(prev) = self.history.last_segment_of(tid, segment) else {
            return Ok(None);
        };
        self.go_to_segment(prev)?;
        let mut j = 0u64;
        let mut pcs = vec![self.regs(RecordedTid(tid))?.pc()];
        while self.history.segment == prev && self.running.is_some() {
            self.step_collecting(RecordedTid(tid), false)?;
            j += 1;
            if self.history.segment == prev && self.running.is_some() {
                pcs.push(self.regs(RecordedTid(tid))?.pc());
            }
            if j > STEP_BACK_LIMIT {
                return Err(too_far());
            }
        }
        self.trails.keep(Trail {
            segment: prev,
            ops: Vec::new(),
            pcs,
        });
        let start = Moment::Segment {
            segment: prev,
            ops: Vec::new(),
        };
        match j {
            0 => self.previous(&start, RecordedTid(tid), depth + 1),
            1 => Ok(Some(start)),
            _ => Ok(Some(Moment::Segment {
                segment: prev,
                ops: vec![Op::Steps(j - 1)],
            })),
        }
    }

    /// Single steps of `tid` from here until `op`'s end (the moment it reaches).
    fn steps_to(&mut self, tid: RecordedTid, op: &Op) -> Result<u64> {
        let segment = self.history.segment;
        let ops = self.history.ops.clone();
        let mut pcs = vec![self.regs(tid)?.pc()];
        let j = self.steps_to_noting(tid, op, &mut pcs)?;
        self.trails.keep(Trail { segment, ops, pcs });
        Ok(j)
    }

    fn steps_to_noting(&mut self, tid: RecordedTid, op: &Op, pcs: &mut Vec<u64>) -> Result<u64> {
        let segment = self.history.segment;
        let mut j = 0u64;
        loop {
            if let Op::StepToAccess(w) = op {
                if self.about_to_touch(tid, w)? {
                    return Ok(j);
                }
            }
            let r = self.step_forward(tid)?;
            j += 1;
            if self.history.segment == segment && self.running.is_some() {
                pcs.push(self.regs(tid)?.pc());
            }
            if let Op::RunTo { set, .. } = op {
                let hit = match r {
                    StopReason::Watchpoint { addr, kind, .. } => {
                        set.watches.iter().any(|w| w.addr == addr && w.kind == kind)
                    }
                    StopReason::Stepped { .. } => {
                        let pc = self.regs(tid)?.pc();
                        set.breaks.contains(&pc)
                    }
                    _ => false,
                };
                if hit {
                    return Ok(j);
                }
            }
            if j > STEP_BACK_LIMIT {
                return Err(too_far());
            }
        }
    }
}

fn too_far() -> Error {
    Error::Unreplayable(format!(
        "stepping back would take over {STEP_BACK_LIMIT} single steps; use reverse-continue"
    ))
}

#[cfg(test)]
mod tests {
    use super::run_plan;

    #[test]
    fn steps_along_a_trail_become_a_run_to_the_right_arrival() {
        // A loop 1 -> 2 -> 3 -> 1 ...: five steps from 1 end at 3, its second arrival.
        assert_eq!(run_plan(&[1, 2, 3, 1, 2, 3], 5), Some((0, 2)));
        // Standing at the target: one step off it first, then the arrivals after.
        assert_eq!(run_plan(&[1, 2, 3, 1, 2], 3), Some((1, 1)));
        // A repeated string instruction (the same pc twice): single steps.
        assert_eq!(run_plan(&[1, 4, 4, 5], 2), None);
        assert_eq!(run_plan(&[1, 2], 2), None);
    }
}
