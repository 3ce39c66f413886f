//! Exercises a real synchronous fault: unbounded recursion runs into the main thread's stack
//! guard, the kernel delivers SIGSEGV, Rust std's handler runs on its sigaltstack, prints
//! "thread 'main' has overflowed its stack" and aborts, so the process dies of SIGABRT.
use std::hint::black_box;

fn recurse(depth: u64, buf: [u8; 512]) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let mut local = black_box(buf);
    local[(depth % 512) as usize] = depth as u8;
    let below = recurse(black_box(depth + 1), local);
    below + u64::from(local[0])
}

fn main() {
    println!("recursing until the stack overflows");
    use std::io::Write;
    std::io::stdout().flush().expect("flush stdout");
    let total = recurse(0, [0; 512]);
    println!("unreachable: {total}");
}
