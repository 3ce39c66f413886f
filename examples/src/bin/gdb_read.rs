//! For the gdb tests: reads the first 8 bytes of its own executable into a buffer on its stack
//! with `read`, a syscall replay emulates (the replayer writes the buffer itself), and prints
//! them.

use std::io::Read;

#[repr(align(8))]
struct Buf([u8; 8]);

#[inline(never)]
fn fill(buf: &mut Buf) {
    let exe = std::env::current_exe().expect("the executable's path");
    let mut f = std::fs::File::open(exe).expect("the executable opens");
    f.read_exact(&mut buf.0).expect("8 bytes");
}

fn main() {
    let mut buf = Buf([0; 8]);
    fill(&mut buf);
    println!("{:?}", buf.0);
}
