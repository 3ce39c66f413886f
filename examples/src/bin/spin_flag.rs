//! Exercises a pure user-space spin-wait: the main thread spins on an `AtomicBool` (no syscalls)
//! until a worker sets it after some computation. Under a serialised scheduler the spinner must be
//! preempted at the end of its time slice so the worker can run.
use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

fn main() {
    let flag = Arc::new(AtomicBool::new(false));
    let result = Arc::new(AtomicU64::new(0));
    let worker = {
        let flag = Arc::clone(&flag);
        let result = Arc::clone(&result);
        thread::spawn(move || {
            // Some work without syscalls.
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for i in 0..20_000_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x = x.wrapping_add(i);
            }
            result.store(x, Ordering::Relaxed);
            flag.store(true, Ordering::Release);
        })
    };
    let mut spins: u64 = 0;
    while !flag.load(Ordering::Acquire) {
        spin_loop();
        spins = spins.wrapping_add(1);
    }
    worker.join().expect("join worker");
    println!("worker result = {:016x}", result.load(Ordering::Relaxed));
    println!("spun at least once: {}", spins > 0);
}
