//! Exercises reading standard input to its end (read until EOF): prints the number of bytes read
//! and an FNV-1a hash of them. Replay is given no stdin and must print the same.
use std::io::Read;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn main() {
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .expect("read stdin");
    println!("read {} bytes", input.len());
    println!("fnv1a {:016x}", fnv1a(&input));
    let lines = input.iter().filter(|&&b| b == b'\n').count();
    println!("{lines} lines");
}
