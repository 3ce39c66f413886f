//! Exercises rayon's work-stealing pool (one thread per CPU, crossbeam deques, futex sleeps):
//! parallel iterator sums and a parallel sort, with deterministic results.
use rayon::prelude::*;

fn main() {
    let sum: u64 = (1..=2_000_000u64)
        .into_par_iter()
        .map(|x| x * x % 1009)
        .sum();
    println!("sum of squares mod 1009 = {sum}");
    let mut v: Vec<u64> = (0..200_000u64).map(|x| (x * 7919) % 100_003).collect();
    v.par_sort_unstable();
    println!(
        "sorted: first {:?} last {:?} len {}",
        &v[..3],
        &v[v.len() - 3..],
        v.len()
    );
    let evens = v.par_iter().filter(|x| *x % 2 == 0).count();
    println!("evens = {evens}");
}
