//! Exercises the smallest possible run: startup of a Rust binary, one write to stdout, exit 0.
fn main() {
    println!("hello");
}
