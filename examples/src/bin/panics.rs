//! Exercises a panic the way a failing test has one: a named thread panics (panic message with
//! thread name and tid, unwinding), the main thread joins it and resumes the panic, so the process
//! exits with code 101.
use std::thread;

fn main() {
    println!("spawning a thread that panics");
    let handle = thread::Builder::new()
        .name("doomed".into())
        .spawn(|| {
            let v: Vec<u32> = (0..3).collect();
            let idx = v.len() + 2;
            assert!(
                idx < v.len(),
                "index {idx} out of range for {} items",
                v.len()
            );
        })
        .expect("spawn");
    match handle.join() {
        Ok(()) => println!("unexpected: the thread did not panic"),
        Err(payload) => {
            println!("thread panicked; resuming the panic on main");
            std::panic::resume_unwind(payload);
        }
    }
}
