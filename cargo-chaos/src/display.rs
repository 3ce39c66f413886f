//! The terminal side of the event stream: an indicatif progress line on a terminal (runs, failures,
//! runs/s, elapsed, current test), plain lines otherwise; every failure, hang and recorder error
//! printed as it happens.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::event::{Event, Mode, Outcome, RunRecord, Sink, StopReason, WHOLE_BINARY};

pub struct Display {
    bar: Option<ProgressBar>,
    started: Instant,
    last_plain: Instant,
    runs: u64,
    failures: u64,
    errors: u64,
    total: Option<u64>,
    mode: Mode,
    current: String,
}

impl Display {
    /// `total`: the planned number of runs for a sweep.
    pub fn new(total: Option<u64>, mode: Mode) -> Display {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let tpl = if total.is_some() {
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}"
            } else {
                "{spinner} [{elapsed_precise}] {msg}"
            };
            b.set_style(ProgressStyle::with_template(tpl).expect("valid template"));
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Display {
            bar,
            started: Instant::now(),
            last_plain: Instant::now(),
            runs: 0,
            failures: 0,
            errors: 0,
            total,
            mode,
            current: String::new(),
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn status(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        // The bar already shows pos/len.
        let count = match (&self.bar, self.total) {
            (Some(_), Some(_)) => String::new(),
            (_, Some(t)) => format!("{}/{t} ", self.runs),
            (_, None) => format!("{} ", self.runs),
        };
        format!(
            "runs {count}({:.1}/s), failures {}, recorder errors {}{}",
            self.runs as f64 / secs,
            self.failures,
            self.errors,
            if self.current.is_empty() {
                String::new()
            } else {
                format!(", now {}", self.current)
            }
        )
    }

    fn finished_run(&mut self, r: &RunRecord) {
        self.runs += 1;
        let label = format!("{} {}", r.unit.binary_id, r.test);
        match r.outcome {
            Outcome::Passed => {}
            Outcome::Failed | Outcome::TimedOut => {
                self.failures += 1;
                let verb = if r.outcome == Outcome::Failed {
                    "FAILED"
                } else {
                    "TIMED OUT"
                };
                let mut t = format!("{verb} {label} (seed {})", r.seed);
                if let Some(m) = &r.message {
                    t.push_str(&format!("\n    {}", m.replace('\n', "\n    ")));
                }
                if let Some(c) = &r.replay_command {
                    t.push_str(&format!("\n    replay: {c}"));
                }
                // In a sweep every failure is a line; until-fail prints the catch at the end.
                if self.mode == Mode::Sweep {
                    self.line(&t);
                }
            }
            Outcome::RecorderError => {
                self.errors += 1;
                self.line(&format!(
                    "RECORDER ERROR {label} (seed {}): {}",
                    r.seed,
                    r.message.as_deref().unwrap_or("")
                ));
            }
        }
        if let Some(b) = &self.bar {
            b.inc(1);
            b.set_message(self.status());
        } else if self.last_plain.elapsed() >= Duration::from_secs(10) {
            self.last_plain = Instant::now();
            eprintln!("{}", self.status());
        }
    }
}

impl Sink for Display {
    fn event(&mut self, e: &Event) {
        match e {
            Event::Started { mode, units, jobs } => {
                let what = match mode {
                    Mode::UntilFail => "until one fails",
                    Mode::Sweep => "each",
                };
                let noun = if units.iter().all(|u| u.test == WHOLE_BINARY) {
                    "test binar"
                } else {
                    "test"
                };
                let ending = match (noun, units.len()) {
                    ("test", 1) => "",
                    ("test", _) => "s",
                    (_, 1) => "y",
                    _ => "ies",
                };
                self.line(&format!(
                    "record-test: running {} {noun}{ending} under chaos {what}, {jobs} job{} in parallel",
                    units.len(),
                    if *jobs == 1 { "" } else { "s" }
                ));
            }
            Event::RunStarted { unit, .. } => {
                self.current = unit.test.clone();
                if let Some(b) = &self.bar {
                    b.set_message(self.status());
                }
            }
            Event::RunFinished(r) => self.finished_run(r),
            Event::UnitRetired { unit, reason } => self.line(&format!(
                "record-test: giving up on {} {}: {reason}",
                unit.binary_id, unit.test
            )),
            Event::Stopping(why) => {
                let t = match why {
                    StopReason::Caught => "record-test: caught a failure; stopping the other runs",
                    StopReason::Interrupted => {
                        "record-test: interrupted; stopping the runs (what was caught is kept)"
                    }
                    StopReason::MaxTime => "record-test: --max-time reached; stopping the runs",
                };
                self.line(t);
            }
            Event::Finished { .. } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
            }
        }
    }
}
