//! Threads that interact only through atomics, with no blocking and little work between them:
//! every scheduling decision under chaos happens at a counted point, so one seed gives one
//! schedule. Prints the interleaving-dependent final values.
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::thread;

static RACY: AtomicU64 = AtomicU64::new(0);
static ORDER: AtomicU64 = AtomicU64::new(0);

fn main() {
    let hs: Vec<_> = (1..=3u64)
        .map(|id| {
            thread::spawn(move || {
                for _ in 0..30 {
                    let v = RACY.load(SeqCst);
                    RACY.store(v + 1, SeqCst);
                    let o = ORDER.load(SeqCst);
                    ORDER.store(o.wrapping_mul(7).wrapping_add(id), SeqCst);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    println!(
        "racy = {}, order = {:x}",
        RACY.load(SeqCst),
        ORDER.load(SeqCst)
    );
}
