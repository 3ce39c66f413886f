//! Exercises death by SIGSEGV. Safe Rust cannot fault on purpose (and raw pointer code is only allowed in
//! the `tracee` crate), so the program raises SIGSEGV at itself with `tgkill`: the first one runs
//! Rust std's SIGSEGV handler (on its sigaltstack), which sees no guard-page address, restores the
//! default disposition and returns through `rt_sigreturn`; the second one kills the process.
//! A real hardware fault is exercised by `stack_overflow` and by the `python3` ctypes case.
use nix::sys::signal::{raise, Signal};

fn main() {
    println!("about to die of SIGSEGV");
    // Flush before dying: stdout may be a pipe (block buffered is not the case for println!'s
    // LineWriter, but be explicit).
    use std::io::Write;
    std::io::stdout().flush().expect("flush stdout");
    raise(Signal::SIGSEGV).expect("raise SIGSEGV");
    eprintln!("survived the first SIGSEGV (std's handler restored the default)");
    raise(Signal::SIGSEGV).expect("raise SIGSEGV");
    unreachable!("the second SIGSEGV must kill the process");
}
