//! Exercises a child process: `Command::new("sh").args(["-c", "echo hi; sleep 0.1; echo bye"])`
//! (clone/vfork + execve, pipes, wait4, SIGCHLD). The child is not traced; replay emulates it.
use std::process::Command;

fn main() {
    let out = Command::new("sh")
        .args(["-c", "echo hi; sleep 0.1; echo bye"])
        .output()
        .expect("run sh");
    print!("child stdout: {}", String::from_utf8_lossy(&out.stdout));
    println!("child stderr bytes: {}", out.stderr.len());
    println!("child status: {}", out.status);
    let status = Command::new("sh")
        .args(["-c", "exit 7"])
        .status()
        .expect("run sh");
    println!("second child exit code: {:?}", status.code());
}
