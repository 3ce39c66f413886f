//! Exercises death by SIGABRT through `std::process::abort` (the abort(3) path of glibc: signal
//! mask changes, then a raise of SIGABRT).
fn main() {
    println!("about to abort");
    eprintln!("aborting now");
    use std::io::Write;
    std::io::stdout().flush().expect("flush stdout");
    std::process::abort();
}
