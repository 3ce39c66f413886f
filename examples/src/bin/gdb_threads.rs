//! For the gdb tests: two threads write one shared variable in turn (each waits for the other's
//! write through a channel), so a watchpoint sees writes from both threads in a fixed order and
//! `info threads` has two threads to switch between.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;

static SHARED: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn write_shared(v: u64) {
    SHARED.store(v, SeqCst);
}

#[inline(never)]
fn worker(turn: mpsc::Receiver<u64>, done: mpsc::Sender<u64>) {
    for v in turn {
        write_shared(v + 100);
        done.send(SHARED.load(SeqCst)).expect("main is waiting");
    }
}

fn main() {
    let (to_worker, turn) = mpsc::channel();
    let (done, from_worker) = mpsc::channel();
    let w = thread::Builder::new()
        .name("worker".into())
        .spawn(move || worker(turn, done))
        .expect("spawn");
    for i in 1..=3 {
        write_shared(i);
        to_worker.send(i).expect("worker is running");
        let seen = from_worker.recv().expect("worker answers");
        println!("round {i}: main wrote {i}, worker wrote {seen}");
    }
    drop(to_worker);
    w.join().expect("worker");
    println!("final {}", SHARED.load(SeqCst));
}
