//! One thread makes a single long call without any syscall (a loop calling a small function,
//! its state changing every iteration, like dropping a channel that holds millions of
//! messages), while the main thread yields until it is done. Recorded on one CPU, the
//! computing thread must give way after a while; the only address it passes rarely is the long
//! call's return, passed once. Preempted at a hot loop's address instead, replay stopped there
//! a million times (crossbeam-channel's mpsc test, issue 16). Argument: how long the call
//! computes, in seconds (3; calibrated at the start). Prints "done".

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
fn long(mut x: u64, n: u64) -> u64 {
    for _ in 0..n {
        x = mix(x);
    }
    x
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3.0);
    // Iterations per 100 ms, in chunks (each chunk reads the clock once).
    const CHUNK: u64 = 1 << 20;
    let t0 = Instant::now();
    let mut x = 1u64;
    let mut chunks = 0u64;
    while t0.elapsed() < Duration::from_millis(100) {
        x = long(x, CHUNK);
        chunks += 1;
    }
    let n = (chunks as f64 * CHUNK as f64 * secs * 10.0) as u64;
    let worker = thread::spawn(move || {
        let x = long(x, n);
        DONE.store(true, Ordering::Release);
        x
    });
    while !DONE.load(Ordering::Acquire) {
        thread::yield_now();
    }
    black_box(worker.join().unwrap());
    println!("done");
}
