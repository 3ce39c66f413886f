//! A libtest binary with 20 small deterministic tests, some of them spawning threads, for recording
//! `twenty-HASH --test-threads=4` and one test alone with `--exact`. Libtest runs every test on a
//! spawned thread, so even one test is a multi-threaded program.
//!
//! One more test, `panics_on_purpose`, is `#[ignore]`d: run with `--ignored --exact
//! panics_on_purpose` it fails the way a real failing test does (the binary exits 101).
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;

fn fib(n: u64) -> u64 {
    (0..n).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

#[test]
fn arithmetic() {
    assert_eq!(2 + 2, 4);
    assert_eq!(7 * 6, 42);
}

#[test]
fn fibonacci() {
    assert_eq!(fib(10), 55);
    assert_eq!(fib(50), 12_586_269_025);
}

#[test]
fn primes_below_1000() {
    assert_eq!((0..1000).filter(|&n| is_prime(n)).count(), 168);
}

#[test]
fn string_ops() {
    let s = "record and replay"
        .split(' ')
        .rev()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(s, "replay and record");
    assert_eq!(s.to_uppercase(), "REPLAY AND RECORD");
}

#[test]
fn sorting() {
    let mut v: Vec<i64> = (0..1000).map(|i| (i * 7919) % 1013 - 500).collect();
    v.sort_unstable();
    assert!(v.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(v.len(), 1000);
}

#[test]
fn btreemap_order() {
    let m: BTreeMap<u32, &str> = [(3, "c"), (1, "a"), (2, "b")].into_iter().collect();
    assert_eq!(m.values().copied().collect::<String>(), "abc");
}

#[test]
fn hashmap_counts() {
    let mut counts = HashMap::new();
    for w in "a b a c b a".split(' ') {
        *counts.entry(w).or_insert(0) += 1;
    }
    assert_eq!(counts["a"], 3);
    assert_eq!(counts["b"], 2);
    assert_eq!(counts["c"], 1);
}

#[test]
fn option_and_result() {
    let parsed: Result<Vec<u8>, _> = "1,2,3".split(',').map(str::parse::<u8>).collect();
    assert_eq!(parsed.unwrap(), vec![1, 2, 3]);
    assert!("x".parse::<u8>().is_err());
    assert_eq!(Some(3).map(|x| x * 2), Some(6));
}

#[test]
fn formatting() {
    assert_eq!(format!("{:08.3}", 1.23456), "0001.235");
    assert_eq!(format!("{:#x}", 255), "0xff");
    assert_eq!(format!("{:>5}|", "ab"), "   ab|");
}

#[test]
fn vec_dedup_and_retain() {
    let mut v = vec![1, 1, 2, 3, 3, 3, 4, 5, 5];
    v.dedup();
    assert_eq!(v, [1, 2, 3, 4, 5]);
    v.retain(|x| x % 2 == 1);
    assert_eq!(v, [1, 3, 5]);
}

#[test]
fn iterator_chains() {
    let total: u64 = (1..=100).filter(|x| x % 3 == 0).map(|x| x * x).sum();
    assert_eq!(total, 112_761);
}

#[test]
fn with_panic_caught() {
    let r = std::panic::catch_unwind(|| {
        let v: Vec<u8> = Vec::new();
        v.first().copied().expect("empty")
    });
    assert!(r.is_err());
}

#[test]
fn thread_join_sum() {
    let hs: Vec<_> = (0..4u64)
        .map(|i| thread::spawn(move || (i * 100..(i + 1) * 100).sum::<u64>()))
        .collect();
    let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, (0..400).sum::<u64>());
}

#[test]
fn mutex_counter() {
    let c = Arc::new(Mutex::new(0));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let c = Arc::clone(&c);
            thread::spawn(move || {
                for _ in 0..500 {
                    *c.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*c.lock().unwrap(), 2000);
}

#[test]
fn rwlock_readers() {
    let data = Arc::new(RwLock::new(vec![1, 2, 3]));
    data.write().unwrap().push(4);
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let d = Arc::clone(&data);
            thread::spawn(move || d.read().unwrap().iter().sum::<i32>())
        })
        .collect();
    for h in hs {
        assert_eq!(h.join().unwrap(), 10);
    }
}

#[test]
fn channel_pipeline() {
    let (tx, rx) = mpsc::channel();
    let producer = thread::spawn(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
    });
    let sum: i32 = rx.iter().sum();
    producer.join().unwrap();
    assert_eq!(sum, 4950);
}

#[test]
fn condvar_handoff() {
    let pair = Arc::new((Mutex::new(None), Condvar::new()));
    let p2 = Arc::clone(&pair);
    let h = thread::spawn(move || {
        let (lock, cv) = &*p2;
        *lock.lock().unwrap() = Some(42);
        cv.notify_one();
    });
    let (lock, cv) = &*pair;
    let mut got = lock.lock().unwrap();
    while got.is_none() {
        got = cv.wait(got).unwrap();
    }
    assert_eq!(*got, Some(42));
    drop(got);
    h.join().unwrap();
}

#[test]
fn barrier_rendezvous() {
    let b = Arc::new(Barrier::new(3));
    let arrived = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let b = Arc::clone(&b);
            let a = Arc::clone(&arrived);
            thread::spawn(move || {
                a.fetch_add(1, Ordering::SeqCst);
                b.wait();
                a.load(Ordering::SeqCst)
            })
        })
        .collect();
    for h in hs {
        assert_eq!(h.join().unwrap(), 3);
    }
}

#[test]
fn scoped_threads() {
    let words = ["alpha", "beta", "gamma", "delta"];
    let lens: Vec<usize> = thread::scope(|s| {
        let hs: Vec<_> = words.iter().map(|w| s.spawn(move || w.len())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(lens, [5, 4, 5, 5]);
}

#[test]
fn temp_file_roundtrip() {
    let path = std::env::temp_dir().join(format!(
        "crt-twenty-{}-{:?}",
        std::process::id(),
        thread::current().id()
    ));
    std::fs::write(&path, b"twenty").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"twenty");
    std::fs::remove_file(&path).unwrap();
}

#[test]
#[ignore = "fails on purpose: run with --ignored --exact panics_on_purpose"]
fn panics_on_purpose() {
    let expected = 4;
    assert_eq!(2 + 1, expected, "a deliberately failing assertion");
}
