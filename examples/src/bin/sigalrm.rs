//! Exercises asynchronous signals: a SIGALRM handler (installed with `signal_hook::flag`) driven
//! by a periodic 10 ms timer, then a one-shot `alarm(2)`. Each signal interrupts `pause(2)`, runs
//! the handler and returns through `rt_sigreturn`.
//!
//! The issue asks for `setitimer`; neither nix nor std offers it in safe Rust, which only the
//! `tracee` crate may use, so the periodic timer is a POSIX timer (`timer_create` with SIGALRM as
//! its signal), which the kernel delivers the same way.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{SigEvent, SigevNotify, Signal};
use nix::sys::timer::{Expiration, Timer, TimerSetTimeFlags};
use nix::time::ClockId;
use nix::unistd::{alarm, pause};

fn wait_for(flag: &AtomicBool) {
    // A signal that lands between the check and pause() is not lost: the periodic timer fires
    // again, and the one-shot alarm is armed before the flag is checked.
    while !flag.swap(false, Ordering::AcqRel) {
        pause();
    }
}

fn main() {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGALRM, Arc::clone(&flag))
        .expect("register SIGALRM handler");

    let mut timer = Timer::new(
        ClockId::CLOCK_MONOTONIC,
        SigEvent::new(SigevNotify::SigevSignal {
            signal: Signal::SIGALRM,
            si_value: 0,
        }),
    )
    .expect("timer_create");
    timer
        .set(
            Expiration::Interval(Duration::from_millis(10).into()),
            TimerSetTimeFlags::empty(),
        )
        .expect("timer_settime");
    let mut ticks = 0;
    while ticks < 5 {
        wait_for(&flag);
        ticks += 1;
        println!("tick {ticks}");
    }
    drop(timer);
    println!("periodic timer: {ticks} SIGALRM handled");

    flag.store(false, Ordering::Release);
    let previous = alarm::set(1);
    println!("alarm armed (previous: {previous:?})");
    wait_for(&flag);
    println!("alarm(1) delivered SIGALRM");
}
