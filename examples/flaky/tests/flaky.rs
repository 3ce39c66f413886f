//! Deliberately flaky tests: each one fails only on some thread interleavings or timings,
//! never because of a random number. They exist for `cargo-record-test record --chaos`,
//! which should make each of them fail within a handful of recorded runs.
//!
//! This target has `test = false`: `cargo test --workspace` never builds or runs it. Build it with
//! `cargo test -p flaky --test flaky --no-run` and run one test natively with
//! `target/debug/deps/flaky-HASH --exact NAME --test-threads=1`.
//!
//! Native failure rates in the comments were measured with `measure.sh` on the development machine
//! (2 CPUs, debug build, one process per run, `--exact NAME --test-threads=1`; the two
//! `global_state_*` tests together with libtest's default threads); "idle" means no added load,
//! "two busy loops" is `LOAD=2`. They move a lot with the machine's load; see README.md.
#![forbid(unsafe_code)]

use flaky::spin_work;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// 1. Lost update.
// Mechanism: two threads increment a shared counter with a non-atomic read-modify-write
// (`load`, then `store(v + 1)`, instead of `fetch_add`). If one thread's load and store straddle
// the other's, an increment is lost and the total is short.
// Native failure rate: about 1% (17/2000 runs on an idle 2-CPU machine; 0/1000 with two busy
// loops, which serialise the threads; 20/500 while another program was being recorded).
// ---------------------------------------------------------------------------------------------
#[test]
fn lost_update() {
    const ITERS: u64 = 20;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.store(0, SeqCst);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(|| {
                for _ in 0..ITERS {
                    let v = COUNTER.load(SeqCst);
                    COUNTER.store(v + 1, SeqCst);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(COUNTER.load(SeqCst), 2 * ITERS, "an increment was lost");
}

// ---------------------------------------------------------------------------------------------
// 2. Check-then-act.
// Mechanism: two threads each check whether a slot is free and, in a separate step, take it.
// Both can see it free before either takes it, and then both take it.
// Native failure rate: about 0.5-5% (12/2000 idle; 0/1000 with two busy loops; 52/1000 during
// other work on the machine).
// ---------------------------------------------------------------------------------------------
#[test]
fn check_then_act() {
    static FREE: AtomicBool = AtomicBool::new(true);
    static TAKEN: AtomicUsize = AtomicUsize::new(0);
    FREE.store(true, SeqCst);
    TAKEN.store(0, SeqCst);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(|| {
                if FREE.load(SeqCst) {
                    // "Prepare" the slot: the window between the check and the act.
                    spin_work(50);
                    FREE.store(false, SeqCst);
                    TAKEN.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(TAKEN.load(SeqCst) <= 1, "both threads took the slot");
}

// ---------------------------------------------------------------------------------------------
// 3. Sleep used as synchronisation.
// Mechanism: the test hands work to a thread, sleeps "long enough" instead of joining, and then
// expects the result. It fails whenever the worker is delayed by more than the sleep (a loaded
// machine, or a scheduler that starves the worker).
// Native failure rate: about 0 idle (0/2000), 0.2% with two busy loops (2/1000).
// ---------------------------------------------------------------------------------------------
#[test]
fn sleep_as_sync() {
    let result = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&result);
    // Detached on purpose: the bug is that nobody joins it.
    thread::spawn(move || {
        let v = spin_work(200_000);
        *slot.lock().unwrap() = Some(v);
    });
    thread::sleep(Duration::from_millis(30));
    assert!(
        result.lock().unwrap().is_some(),
        "worker not done after the sleep"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Channel message order.
// Mechanism: two producers each send one message; the test assumes the producer spawned first
// sends first. Nothing orders the two sends.
// Native failure rate: about 2% (45/2000 idle; 35/1000 with two busy loops).
// ---------------------------------------------------------------------------------------------
#[test]
fn channel_order() {
    let (tx, rx) = mpsc::channel();
    let producers: Vec<_> = (0..2u32)
        .map(|id| {
            let tx = tx.clone();
            thread::spawn(move || {
                // Producer 1 has more to prepare than producer 0, which usually (not always)
                // lets producer 0 send first.
                spin_work(u64::from(id) * 10_000);
                tx.send(id).unwrap()
            })
        })
        .collect();
    drop(tx);
    let got: Vec<u32> = rx.iter().collect();
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(got, [0, 1], "messages arrived out of spawn order");
}

// ---------------------------------------------------------------------------------------------
// 5. Condvar without a predicate (lost wake-up).
// Mechanism: the waiter announces it is ready *before* taking the mutex, then waits on the
// condvar without a predicate loop. The notifier waits for the announcement, then notifies. If
// the notification lands between the announcement and the wait, nobody is waiting yet and the
// wake-up is lost. `wait_timeout` keeps a lost wake-up from hanging the test.
// Native failure rate: about 1% (28/2000 idle; 4/1000 with two busy loops).
// ---------------------------------------------------------------------------------------------
#[test]
fn condvar_without_predicate() {
    let pair = Arc::new((Mutex::new(()), Condvar::new(), AtomicBool::new(false)));
    let waiter_pair = Arc::clone(&pair);
    let waiter = thread::spawn(move || {
        let (lock, cvar, ready) = &*waiter_pair;
        ready.store(true, SeqCst);
        let guard = lock.lock().unwrap();
        let (_guard, timeout) = cvar
            .wait_timeout(guard, Duration::from_millis(200))
            .unwrap();
        !timeout.timed_out()
    });
    let (lock, cvar, ready) = &*pair;
    while !ready.load(SeqCst) {
        std::hint::spin_loop();
    }
    drop(lock.lock().unwrap());
    cvar.notify_one();
    assert!(waiter.join().unwrap(), "the wake-up was lost");
}

// ---------------------------------------------------------------------------------------------
// 6. Global state shared by tests that libtest runs in parallel.
// Mechanism: `global_state_a` and `global_state_b` both use one global log and each assumes it is
// alone. Run on their own (`--exact`, or `--test-threads=1`) they always pass; libtest's default
// runs them on parallel threads, and then each can see the other's entries.
// Native failure rate (both tests run together, default test threads): about 20% (449/2000 idle;
// 12/1000 with two busy loops); 0 with `--exact` or `--test-threads=1`.
// ---------------------------------------------------------------------------------------------
static GLOBAL_LOG: Mutex<Vec<&str>> = Mutex::new(Vec::new());

fn global_state_body(me: &'static str) {
    GLOBAL_LOG.lock().unwrap().clear();
    for _ in 0..3 {
        GLOBAL_LOG.lock().unwrap().push(me);
        spin_work(2_000);
    }
    let log = GLOBAL_LOG.lock().unwrap();
    assert!(
        log.iter().all(|e| *e == me),
        "{me} saw another test's entries: {log:?}"
    );
}

#[test]
fn global_state_a() {
    global_state_body("a");
}

#[test]
fn global_state_b() {
    global_state_body("b");
}

// ---------------------------------------------------------------------------------------------
// 7. A panic in a worker thread.
// Mechanism: one thread publishes a configuration; a worker, after a little set-up, unwraps it,
// assuming the publisher has run by then. On the rare interleaving where the worker gets there
// first it panics, and the test's `join().unwrap()` fails.
// Native failure rate: about 1% idle (16/2000), 25% with two busy loops (247/1000).
// ---------------------------------------------------------------------------------------------
#[test]
fn worker_panic() {
    let config: Arc<Mutex<Option<u64>>> = Arc::new(Mutex::new(None));
    let publisher = {
        let config = Arc::clone(&config);
        thread::spawn(move || *config.lock().unwrap() = Some(42))
    };
    let worker = {
        let config = Arc::clone(&config);
        thread::spawn(move || {
            spin_work(5_000); // set-up, about 40 us
            let c = config.lock().unwrap().expect("config not published yet");
            c + 1
        })
    };
    publisher.join().unwrap();
    assert_eq!(worker.join().unwrap(), 43);
}

// ---------------------------------------------------------------------------------------------
// 8. An async runtime race.
// Mechanism: two tasks spawned on a tokio multi-thread runtime push to a shared log; the test
// assumes the task spawned first runs first. Either worker thread may pick up either task.
// Native failure rate: about 1-5% (92/2000 idle; 9/1000 with two busy loops).
// ---------------------------------------------------------------------------------------------
#[test]
fn async_race() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let order = rt.block_on(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..2u32)
            .map(|id| {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    spin_work(5_000); // each task's own work
                    log.lock().unwrap().push(id)
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let order = log.lock().unwrap().clone();
        order
    });
    assert_eq!(order, [0, 1], "tasks ran out of spawn order");
}

// ---------------------------------------------------------------------------------------------
// 9. A wall-clock second boundary.
// Mechanism: the test reads the wall clock twice around a little work and assumes both readings
// fall in the same second. It fails when a second boundary passes in between, which natively is
// about (duration of the work) / 1 s of runs.
// Native failure rate: about 0.2% (22/10000 idle; 2/1000 with two busy loops), matching the
// ~2 ms the work takes.
// ---------------------------------------------------------------------------------------------
#[test]
fn wall_clock_boundary() {
    let secs = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = secs();
    spin_work(300_000);
    let after = secs();
    assert_eq!(before, after, "a second boundary passed during the work");
}

// ---------------------------------------------------------------------------------------------
// 10. A rare lost update.
// Mechanism: as `lost_update`, but each thread does some set-up first and then a single racy
// increment; the two increments collide only when both threads reach them at the same moment.
// Native failure rate: below 1%, about 0.4% (43/10000 idle; 0/1000 with two busy loops).
// ---------------------------------------------------------------------------------------------
#[test]
fn rare_lost_update() {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.store(0, SeqCst);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(|| {
                spin_work(5_000); // set-up, about 40 us
                let v = COUNTER.load(SeqCst);
                COUNTER.store(v + 1, SeqCst);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(COUNTER.load(SeqCst), 2, "an increment was lost");
}
