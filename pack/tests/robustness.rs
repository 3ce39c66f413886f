//! Mutate a realistic trace in many deterministic ways and read it back: every read must end in
//! `Ok` or `Err`, never a panic, a hang or an absurd allocation.

mod common;

use common::*;
use pack::*;
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

const ITERATIONS: u64 = 2000;
const FILES: [&str; 3] = ["header", "events", "data"];

/// Read everything the way `info` and replay would.
fn exercise(dir: &Path, limit: usize) -> Result<usize> {
    let mut r = TraceReader::open(dir)?;
    let _ = r.size_on_disk();
    let mut n = 0;
    while let Some(ev) = r.next_event()? {
        n += 1;
        assert!(n <= limit, "more events than were written");
        if let EventKind::Syscall(SyscallEvent { file: Some(f), .. }) = &ev.kind {
            let _ = r.file_path(f);
        }
    }
    // A finished reader stays finished.
    assert!(r.next_event()?.is_none());
    Ok(n)
}

fn mutate(rng: &mut Rng, files: &mut [Option<Vec<u8>>; 3]) -> String {
    let which = rng.below(3) as usize;
    let name = FILES[which];
    let Some(bytes) = files[which].as_mut() else {
        return "nothing".into();
    };
    match rng.below(10) {
        0..=2 => {
            let at = rng.below(bytes.len() as u64 + 1) as usize;
            bytes.truncate(at);
            format!("truncate {name} at {at}")
        }
        3..=5 => {
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                if bytes.is_empty() {
                    break;
                }
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] ^= 1 << rng.below(8);
            }
            format!("flip {flips} bits in {name}")
        }
        6 => {
            let i = rng.below(bytes.len() as u64 + 1) as usize;
            let n = 1 + rng.below(64) as usize;
            let junk = rng.bytes(n);
            bytes.splice(i..i, junk);
            format!("insert junk into {name} at {i}")
        }
        7 => {
            for b in bytes.iter_mut() {
                *b = 0;
            }
            format!("zero {name}")
        }
        8 => {
            files[which] = None;
            format!("delete {name}")
        }
        _ => {
            // Overwrite a run with random bytes (random lengths, counts, pointers).
            if !bytes.is_empty() {
                let i = rng.below(bytes.len() as u64) as usize;
                let end = (i + 1 + rng.below(16) as usize).min(bytes.len());
                for b in &mut bytes[i..end] {
                    *b = rng.next() as u8;
                }
            }
            format!("scribble over {name}")
        }
    }
}

fn run(root: &Path) {
    let mut rng = Rng(0x5eed);
    let mut events = every_kind(&mut rng, None);
    events.extend(realistic(&mut rng, 300));
    let complete = root.join("complete.trace");
    let incomplete = root.join("incomplete.trace");
    write_trace(&complete, &events, true);
    write_trace(&incomplete, &events, false);
    assert_eq!(exercise(&complete, events.len()).unwrap(), events.len());

    let originals: Vec<[Option<Vec<u8>>; 3]> = [&complete, &incomplete]
        .iter()
        .map(|d| FILES.map(|f| Some(fs::read(d.join(f)).unwrap())))
        .collect();
    let work = root.join("work.trace");
    let (mut ok, mut err) = (0, 0);
    for i in 0..ITERATIONS {
        let mut files = originals[(i % 2) as usize].clone();
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(3) {
            what.push(mutate(&mut rng, &mut files));
        }
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).unwrap();
        for (name, bytes) in FILES.iter().zip(&files) {
            if let Some(b) = bytes {
                fs::write(work.join(name), b).unwrap();
            }
        }
        let r = std::panic::catch_unwind(|| exercise(&work, events.len()));
        match r {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                // One lowercase line.
                let s = e.to_string();
                assert!(!s.contains('\n'), "{s}");
                assert!(!s.chars().next().unwrap().is_uppercase(), "{s}");
                if std::env::var_os("PACK_FUZZ_VERBOSE").is_some() {
                    eprintln!("{}: {s}", what.join(", "));
                }
                err += 1;
            }
            Err(_) => panic!("iteration {i} panicked after: {}", what.join(", ")),
        }
        if i % 50 == 0 {
            // The summary walks the same code; keep it covered too.
            if let Ok(r) = TraceReader::open(&work) {
                let _ = summarize(r).map(|s| s.to_string());
            }
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}

fn compress(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
        std::io::Write::write_all(&mut w, bytes).unwrap();
    }
    out
}

fn decompress(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut brotli::Decompressor::new(bytes, 4096), &mut out).unwrap();
    out
}

/// Mutations of the decompressed event messages, recompressed: these reach the Cap'n Proto
/// decoding, which flips in the compressed bytes rarely do.
fn run_messages(root: &Path) {
    let mut rng = Rng(0xcafe);
    let mut events = every_kind(&mut rng, None);
    events.extend(realistic(&mut rng, 100));
    let dir = root.join("messages.trace");
    write_trace(&dir, &events, true);
    let raw = decompress(&fs::read(dir.join("events")).unwrap());
    let (mut ok, mut err) = (0, 0);
    for i in 0..ITERATIONS / 2 {
        let mut bytes = raw.clone();
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(4) {
                0 => {
                    bytes[at] ^= 1 << rng.below(8);
                    what.push(format!("flip at {at}"));
                }
                1 => {
                    // Large values in length and pointer fields.
                    let end = (at + 4).min(bytes.len());
                    for b in &mut bytes[at..end] {
                        *b = 0xff;
                    }
                    what.push(format!("0xff at {at}"));
                }
                2 => {
                    bytes[at] = rng.next() as u8;
                    what.push(format!("scribble at {at}"));
                }
                _ => {
                    bytes.truncate(at);
                    what.push(format!("truncate at {at}"));
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        fs::write(dir.join("events"), compress(&bytes)).unwrap();
        match std::panic::catch_unwind(|| exercise(&dir, usize::MAX)) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                let s = e.to_string();
                assert!(!s.contains('\n'), "{s}");
                if std::env::var_os("PACK_FUZZ_VERBOSE").is_some() {
                    eprintln!("{}: {s}", what.join(", "));
                }
                err += 1;
            }
            Err(_) => panic!("message iteration {i} panicked after: {}", what.join(", ")),
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}

#[test]
fn mutated_traces_never_panic_hang_or_explode() {
    // An absurd allocation fails (and aborts the test) instead of swapping the machine.
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_AS,
        4 << 30,
        nix::sys::resource::RLIM_INFINITY,
    )
    .unwrap();
    let root = scratch("robustness");
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        run(&root);
        run_messages(&root);
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The worker panicked; report its message.
            if let Err(p) = worker.join() {
                std::panic::resume_unwind(p)
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("reading mutated traces hangs"),
    }
}
