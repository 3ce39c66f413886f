//! splice and tee to stdout from a pipe that is empty when the call starts, so that it blocks
//! until a thread of the program, or a child process, writes there. Each line says how many
//! bytes the call copied. (A stdout that is no pipe makes tee fail: the text is written instead.)

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

use nix::fcntl::{splice, tee, SpliceFFlags};
use nix::unistd::{pipe, write};

/// A thread that writes `text` to `w` after 100 ms, then waits to be told to end (so that it
/// does not end while the program's call is returning).
fn later(w: OwnedFd, text: &'static str) -> (Sender<()>, std::thread::JoinHandle<()>) {
    let (done, wait) = channel();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(write(&w, text.as_bytes()).expect("write"), text.len());
        let _ = wait.recv();
    });
    (done, t)
}

fn end((done, t): (Sender<()>, std::thread::JoinHandle<()>)) {
    let _ = done.send(());
    t.join().expect("join");
}

fn main() {
    let stdout = std::io::stdout();
    let out = stdout.as_fd();

    let text = "1 splice from a pipe a thread writes later\n";
    let (r, w) = pipe().expect("pipe");
    let t = later(w, text);
    let n = splice(&r, None, out, None, 4096, SpliceFFlags::empty()).expect("splice");
    println!("spliced {n} of {}", text.len());
    end(t);

    let (r, w) = pipe().expect("pipe");
    let mut child = Command::new("sh")
        .args([
            "-c",
            "sleep 0.1; echo 2 splice from a pipe a child writes later",
        ])
        .stdout(Stdio::from(w))
        .spawn()
        .expect("run sh");
    let n = splice(&r, None, out, None, 4096, SpliceFFlags::empty()).expect("splice");
    child.wait().expect("wait");
    println!("spliced {n}");

    let text = "3 tee from a pipe a thread writes later\n";
    let (r, w) = pipe().expect("pipe");
    let t = later(w, text);
    match tee(&r, out, 4096, SpliceFFlags::empty()) {
        Ok(n) => println!("teed {n} of {}", text.len()),
        Err(e) => {
            let _ = std::io::stdout().write_all(format!("[tee: {e}] {text}").as_bytes());
        }
    }
    end(t);
}
