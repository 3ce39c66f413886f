//! Correct concurrent code that chaos scheduling must never make fail: a Mutex counter,
//! fetch_add, channels, a Condvar with a predicate, RwLock + Barrier. Prints a fixed result.
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;

fn main() {
    // Mutex counter and fetch_add.
    let counter = Arc::new(Mutex::new(0u64));
    let atomic = Arc::new(AtomicU64::new(0));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let (c, a) = (Arc::clone(&counter), Arc::clone(&atomic));
            thread::spawn(move || {
                for _ in 0..20 {
                    *c.lock().unwrap() += 1;
                    a.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), 60);
    assert_eq!(atomic.load(SeqCst), 60);

    // Channels: the sum does not depend on the order.
    let (tx, rx) = mpsc::channel();
    for p in 0..3u64 {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..10 {
                tx.send(p * 100 + i).unwrap();
            }
        });
    }
    drop(tx);
    let sum: u64 = rx.iter().sum();
    assert_eq!(sum, 3135);

    // Condvar with a predicate loop: no lost wake-up.
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = Arc::clone(&pair);
    let waiter = thread::spawn(move || {
        let (lock, cvar) = &*p2;
        let mut ready = lock.lock().unwrap();
        while !*ready {
            ready = cvar.wait(ready).unwrap();
        }
    });
    {
        let (lock, cvar) = &*pair;
        *lock.lock().unwrap() = true;
        cvar.notify_one();
    }
    waiter.join().unwrap();

    // RwLock + Barrier: every reader sees the writer's value after the barrier.
    let value = Arc::new(RwLock::new(0u64));
    let barrier = Arc::new(Barrier::new(3));
    let hs: Vec<_> = (0..3u64)
        .map(|i| {
            let (v, b) = (Arc::clone(&value), Arc::clone(&barrier));
            thread::spawn(move || {
                if i == 0 {
                    *v.write().unwrap() = 7;
                }
                b.wait();
                *v.read().unwrap()
            })
        })
        .collect();
    let seen: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(seen, vec![7, 7, 7]);
    println!("all correct: 60 60 3135 ready 7 7 7");
}
