//! For the gdb tests and bench/gdb.py: `gdb_spin [ROUNDS] [WORK]` computes ROUNDS rounds of WORK
//! loop iterations each (about a nanosecond each), printing after each round. One long round
//! (the default) is a continue long enough to interrupt with Ctrl-C; many rounds give traces of
//! a chosen length with a function (`round`) to break on.

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
    for i in 0..rounds {
        let acc = round(i, work);
        println!("round {i}: {acc}");
    }
}
