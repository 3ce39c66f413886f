//! Exercises time as a program sees it: `SystemTime` (clock_gettime REALTIME via the vDSO, which
//! the recorder bypasses), `Instant` (MONOTONIC), their differences, and values derived from them.
//! Every run prints different numbers; a replay must print the recorded ones.
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time after the epoch");
    let t0 = Instant::now();
    let mut readings = Vec::new();
    for _ in 0..5 {
        readings.push(t0.elapsed().as_nanos());
    }
    let wall2 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time after the epoch");
    println!("system time: {}.{:09}", wall.as_secs(), wall.subsec_nanos());
    println!(
        "system time again: {}.{:09}",
        wall2.as_secs(),
        wall2.subsec_nanos()
    );
    println!("instant readings (ns since first): {readings:?}");
    println!("monotonic: {}", readings.windows(2).all(|w| w[0] <= w[1]));
    // Derived values: a day number and a "random" bucket from the nanoseconds.
    println!("days since epoch: {}", wall.as_secs() / 86_400);
    println!("nanosecond bucket: {}", wall.subsec_nanos() % 97);
}
