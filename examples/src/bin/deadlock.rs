//! Two threads take two locks in opposite orders, each after the other took its first: a
//! deadlock every time. The recorder, stopped by a job runner's timeout, must say that every
//! thread was blocked with no timeout (tests/tests/front.rs).

use std::sync::{Arc, Barrier, Mutex};
use std::thread;

fn main() {
    let a = Arc::new(Mutex::new(0));
    let b = Arc::new(Mutex::new(0));
    let both = Arc::new(Barrier::new(2));
    let (a2, b2, both2) = (a.clone(), b.clone(), both.clone());
    let t = thread::spawn(move || {
        let _b = b2.lock().unwrap();
        both2.wait();
        let _a = a2.lock().unwrap();
    });
    let _a = a.lock().unwrap();
    both.wait();
    let _b = b.lock().unwrap();
    drop(_b);
    t.join().unwrap();
    println!("never printed");
}
