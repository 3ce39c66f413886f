//! Two threads hand items over through a ring of three slots, each spinning without a spin hint
//! (no PAUSE, no syscall) while the ring is full or empty, as crossbeam-queue's own
//! `ArrayQueue` tests poll `push`/`pop` in a loop. All state is in memory (statics): the
//! consumer's loop passes its top with the same registers whether it just took an item or
//! found the ring empty, so only memory tells progress from spinning.
//!
//! Under the serialised scheduler every hand-over is a preemption of a spinning thread: found
//! spinning (same registers and memory at two passes), then watched where it spun, so the
//! next hand-overs are counted positions.
use std::sync::atomic::{AtomicU64, Ordering::*};

const COUNT: u64 = 1500;
const SLOTS: usize = 3;
static RING: [AtomicU64; SLOTS] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static HEAD: AtomicU64 = AtomicU64::new(0);
static TAIL: AtomicU64 = AtomicU64::new(0);
static SUM: AtomicU64 = AtomicU64::new(0);

fn main() {
    let producer = std::thread::spawn(|| {
        for i in 0..COUNT {
            loop {
                let t = TAIL.load(Acquire);
                if t - HEAD.load(Acquire) < SLOTS as u64 {
                    RING[t as usize % SLOTS].store(i * 7 + 1, Relaxed);
                    TAIL.store(t + 1, Release);
                    break;
                }
            }
        }
    });
    loop {
        let h = HEAD.load(Acquire);
        if h == COUNT {
            break;
        }
        if h < TAIL.load(Acquire) {
            SUM.fetch_add(RING[h as usize % SLOTS].load(Relaxed), Relaxed);
            HEAD.store(h + 1, Release);
        }
    }
    producer.join().expect("join the producer");
    let want: u64 = (0..COUNT).map(|i| i * 7 + 1).sum();
    println!(
        "handed over {COUNT} items, sum {} (want {want})",
        SUM.load(Relaxed)
    );
}
