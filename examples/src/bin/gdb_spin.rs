//! For the gdb tests and bench/gdb.py: `gdb_spin [ROUNDS] [WORK] [IDLE]` computes ROUNDS rounds
//! of WORK loop iterations each (about a nanosecond each), printing after each round. One long
//! round (the default) is a continue long enough to interrupt with Ctrl-C; many rounds give
//! traces of a chosen length with a function (`round`) to break on. IDLE threads (default 0)
//! wait on a channel all along, as a test harness's threads do: the process is multi-threaded.

use std::hint::black_box;

#[inline(never)]
fn round(i: u64, work: u64) -> u64 {
    let mut acc = i;
    for k in 0..black_box(work) {
        acc = black_box(acc.wrapping_mul(31).wrapping_add(k));
    }
    acc
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("a number"));
    let rounds = args.next().unwrap_or(1);
    let work = args.next().unwrap_or(200_000_000);
    let idle = args.next().unwrap_or(0);
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let wait = std::sync::Arc::new(std::sync::Mutex::new(wait));
    let idlers: Vec<_> = (0..idle)
        .map(|_| {
            let wait = wait.clone();
            std::thread::spawn(move || {
                let _ = wait.lock().expect("not poisoned").recv();
            })
        })
        .collect();
    for i in 0..rounds {
        let acc = round(i, work);
        println!("round {i}: {acc}");
    }
    drop(done);
    for t in idlers {
        t.join().expect("idle thread");
    }
}
