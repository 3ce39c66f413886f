//! A correct program with a tight timing tolerance, as real tests have (flume's
//! `recv_deadline` allows 5 ms on a 350 ms deadline): one thread computes for a while without any
//! syscall while the main thread sleeps 20 ms and panics if it woke more than 2 ms late.
//! Natively, on an idle machine with two CPUs, it wakes on time (never run natively by the
//! tests: under load it fails natively too). Recorded, threads share one CPU and the sleeper waits
//! for the computing thread to give way: it fails, and the recording must say that this failure
//! may be the recording's (tests/tests/limits.rs).

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

#[inline(never)]
fn chunk(mut x: u64) -> u64 {
    for _ in 0..200_000 {
        x = black_box(
            x.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        );
    }
    x
}

fn main() {
    // About 0.3 s of computing in a release build, more in a debug one.
    let worker = thread::spawn(|| (0..1_000).fold(1u64, |x, _| chunk(x)));
    let t0 = Instant::now();
    thread::sleep(Duration::from_millis(20));
    let late = t0.elapsed().saturating_sub(Duration::from_millis(20));
    assert!(
        late < Duration::from_millis(2),
        "woke {} us late",
        late.as_micros()
    );
    println!("on time, checksum {}", worker.join().unwrap() & 0xff);
}
