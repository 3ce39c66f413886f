//! For the gdb tests: a loop that updates a variable through a function, so breakpoint hits,
//! step/next/finish and their reverse forms have values to compare with a live gdb session.

#[inline(never)]
fn square(x: u64) -> u64 {
    x * x
}

#[inline(never)]
fn bump(total: &mut u64, i: u64) -> u64 {
    let sq = square(i);
    *total += sq;
    *total
}

fn main() {
    let mut total = 0u64;
    for i in 1..=5 {
        let t = bump(&mut total, i);
        println!("step {i}: total {t}");
    }
    println!("done: {total}");
}
