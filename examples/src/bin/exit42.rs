//! Exercises a non-zero exit status: writes to stdout and stderr, then exits with code 42.
fn main() {
    println!("exiting with 42");
    eprintln!("this goes to stderr");
    std::process::exit(42);
}
