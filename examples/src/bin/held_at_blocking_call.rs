//! Three threads each compute past a time slice without a syscall, then make one: the main
//! thread a blocking `read` of a pipe that the first worker writes after its own computation,
//! the second worker a `getppid`. Recorded on one CPU, each is held at its call's entry
//! while the next one runs (fairness at exact points), and the main thread is scheduled again
//! while both workers are still held: its `read` blocks, and only a worker can end it.
//! (The recorder once waited for a stop there with every runnable thread parked: a hang.)

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use nix::unistd::{pipe, read, write};

#[inline(never)]
fn mix(x: u64) -> u64 {
    black_box(
        x.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407),
    )
}

#[inline(never)]
fn chunk(mut x: u64) -> u64 {
    for _ in 0..10_000 {
        x = mix(x);
    }
    x
}

/// Compute `chunks` chunks: no syscall inside.
fn compute(chunks: u64) -> u64 {
    let mut x = 1u64;
    for _ in 0..chunks {
        x = chunk(x);
    }
    x
}

fn main() {
    // How many chunks take 10 ms here; each thread then computes for about 150 ms (three time
    // slices of the recorder), whatever the build profile or the machine.
    let t0 = Instant::now();
    let mut per_10ms = 0u64;
    while t0.elapsed() < Duration::from_millis(10) {
        black_box(chunk(per_10ms));
        per_10ms += 1;
    }
    let chunks = per_10ms * 15;
    let (r, w) = pipe().expect("pipe");
    let writer = thread::spawn(move || {
        let x = compute(chunks);
        write(&w, b"x").expect("write");
        x
    });
    let other = thread::spawn(move || {
        let x = compute(chunks);
        black_box(nix::unistd::getppid());
        x
    });
    let x = compute(chunks);
    let mut buf = [0u8; 1];
    let n = read(&r, &mut buf).expect("read");
    println!(
        "main read {:?}",
        std::str::from_utf8(&buf[..n]).expect("utf-8")
    );
    let sum = x ^ writer.join().expect("join") ^ other.join().expect("join");
    black_box(sum);
    println!("done");
}
