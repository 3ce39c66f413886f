//! Exercises thread identity: each thread prints its name and its kernel tid, read from the
//! `/proc/thread-self` link (gettid in safe Rust). Replay must print the recorded tids.
use std::thread;

fn tid() -> String {
    let link = std::fs::read_link("/proc/thread-self").expect("readlink /proc/thread-self");
    // "PID/task/TID"
    link.to_string_lossy()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn describe() -> String {
    let me = thread::current();
    format!("{} tid {}", me.name().unwrap_or("<unnamed>"), tid())
}

fn main() {
    println!("pid {}", std::process::id());
    println!("{}", describe());
    let lines: Vec<String> = (0..4)
        .map(|i| {
            thread::Builder::new()
                .name(format!("named-{i}"))
                .spawn(describe)
                .expect("spawn")
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    for l in lines {
        println!("{l}");
    }
    let unnamed = thread::spawn(describe).join().expect("join");
    println!("{unnamed}");
}
