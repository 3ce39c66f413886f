//! A thread that never blocks: it polls a channel with `try_iter` and sends requests in a loop
//! (the only syscalls on its way are the allocator's mprotects, which replay runs without a
//! stop), while the main thread, woken, waits for the CPU to answer. Modelled on
//! crossbeam-channel's `tests/iter.rs` `recv_try_iter`, which made a recording hang at 4 GB.
//! Under the serialised scheduler the main thread must still get the CPU within a slice.

use std::sync::mpsc::channel;
use std::thread;

fn main() {
    let (request_s, request_r) = channel::<()>();
    let (response_s, response_r) = channel::<u32>();
    let poller = thread::spawn(move || {
        let mut count = 0;
        loop {
            for x in response_r.try_iter() {
                count += x;
                if count == 6 {
                    return count;
                }
            }
            if request_s.send(()).is_err() {
                return count;
            }
        }
    });
    for _ in request_r.iter() {
        if response_s.send(2).is_err() {
            break;
        }
    }
    println!("poller counted {}", poller.join().unwrap());
}
