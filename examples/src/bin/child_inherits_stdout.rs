//! Child processes that write straight to the stdout and stderr they inherited (`Command::status`,
//! no pipes of the program's): `ls /`, a shell writing to both streams, and `seq` printing more
//! than a pipe holds while the program waits for it. The program's own lines come between.
use std::process::Command;

fn main() {
    println!("before ls");
    let ls = Command::new("ls").arg("/").status().expect("run ls");
    println!("ls: {ls}");
    let sh = Command::new("sh")
        .args(["-c", "echo child out; echo child err >&2; ls /nonexistent"])
        .status()
        .expect("run sh");
    eprintln!("sh: {sh}");
    let seq = Command::new("seq")
        .args(["1", "30000"])
        .status()
        .expect("run seq");
    println!("seq: {seq}");
}
