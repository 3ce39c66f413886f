//! Exercises 8 threads over every std synchronisation primitive: `Mutex`, `RwLock`, `Condvar`,
//! `Barrier`, `mpsc` channels and `thread::scope`. Futex waits and wakes, clone3, thread exit.
//! The printed result is deterministic whatever the interleaving.
use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;

const THREADS: u64 = 8;

fn main() {
    let counter = Arc::new(Mutex::new(0u64));
    let table = Arc::new(RwLock::new(BTreeMap::new()));
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let ready = Arc::new((Mutex::new(0u64), Condvar::new()));
    let (tx, rx) = mpsc::channel::<(u64, u64)>();

    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let counter = Arc::clone(&counter);
            let table = Arc::clone(&table);
            let barrier = Arc::clone(&barrier);
            let ready = Arc::clone(&ready);
            let tx = tx.clone();
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    for k in 0..1000 {
                        *counter.lock().expect("counter") += i * k % 7;
                    }
                    table.write().expect("table").insert(i, i * i);
                    // Everybody has written before anybody reads.
                    let leader = barrier.wait().is_leader();
                    let seen: u64 = table.read().expect("table").values().sum();
                    {
                        let (lock, cvar) = &*ready;
                        let mut n = lock.lock().expect("ready");
                        *n += 1;
                        cvar.notify_all();
                        // Wait until all threads got here.
                        while *n < THREADS {
                            n = cvar.wait(n).expect("ready wait");
                        }
                    }
                    tx.send((i, seen)).expect("send");
                    u64::from(leader)
                })
                .expect("spawn")
        })
        .collect();
    drop(tx);

    let mut results: Vec<(u64, u64)> = rx.iter().collect();
    results.sort_unstable();
    let leaders: u64 = handles.into_iter().map(|h| h.join().expect("join")).sum();

    // thread::scope: borrow a local slice from 8 scoped threads.
    let data: Vec<u64> = (1..=8000).collect();
    let partial: Vec<u64> = thread::scope(|s| {
        let hs: Vec<_> = data
            .chunks(1000)
            .map(|chunk| s.spawn(move || chunk.iter().map(|x| x * x).sum::<u64>()))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("scoped join"))
            .collect()
    });

    println!("counter = {}", *counter.lock().expect("counter"));
    println!("table = {:?}", *table.read().expect("table"));
    println!("messages = {results:?}");
    println!("barrier leaders = {leaders}");
    println!("scoped partial sums = {partial:?}");
    println!("scoped total = {}", partial.iter().sum::<u64>());
}
