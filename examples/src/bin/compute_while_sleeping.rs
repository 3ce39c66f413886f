//! One thread computes for a while without any syscall (a loop whose state changes every
//! iteration, calling a small function), while another sleeps 50 ms and measures how late it
//! woke. Natively, on two CPUs, it wakes on time. Recorded, the threads share one CPU: the
//! sleeper must still wake close to on time (the computing thread gives way at an outer frame's
//! return address), and the recording must replay quickly. Prints "on time" or "late by N ms".

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

static DONE: AtomicBool = AtomicBool::new(false);

#[inline(never)]
fn mix(x: u64) -> u64 {
    black_box(
        x.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407),
    )
}

#[inline(never)]
fn chunk(mut x: u64) -> u64 {
    for _ in 0..200_000 {
        x = mix(x);
    }
    x
}

fn main() {
    let worker = thread::spawn(|| {
        let mut x = 1u64;
        // About a second of work, in chunks; no syscall inside (the clock would be one).
        for _ in 0..3_000 {
            x = chunk(x);
        }
        black_box(DONE.load(Ordering::Relaxed));
        x
    });
    let t0 = Instant::now();
    thread::sleep(Duration::from_millis(50));
    let late = t0.elapsed().saturating_sub(Duration::from_millis(50));
    DONE.store(true, Ordering::Relaxed);
    let x = worker.join().unwrap();
    // Generous: natively a few ms; under the old scheduler the sleeper waited up to 2 s.
    if late < Duration::from_millis(500) {
        println!("on time");
    } else {
        println!("late by {} ms", late.as_millis());
    }
    println!("checksum {}", x & 0xff);
}
