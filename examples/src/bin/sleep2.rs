//! Exercises sleeping and the monotonic clock: prints, sleeps 2 s (nanosleep / clock_nanosleep),
//! prints the elapsed `Instant` time. Replay must skip the sleep yet print the recorded elapsed time.
use std::time::{Duration, Instant};

fn main() {
    let start = Instant::now();
    println!("before sleep");
    std::thread::sleep(Duration::from_secs(2));
    let elapsed = start.elapsed();
    println!("after sleep: elapsed {} ns", elapsed.as_nanos());
    println!("slept at least 2 s: {}", elapsed >= Duration::from_secs(2));
}
