//! Rough speed of the trace writer and reader on syscall-like events:
//! `cargo run --release -p pack --example push_speed [EVENTS]`.

use pack::*;
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let root = std::env::temp_dir().join(format!("pack-push-speed-{}", std::process::id()));
    let dir = root.join("bench.trace");
    let header = Header {
        format_version: FORMAT_VERSION,
        ..Header::default()
    };
    // Typical traffic: reads of text, fstat-like structs, clock_gettime, futex, some positions.
    let text = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n".repeat(8);
    let mut seed = 0x1234_5678_u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut w = TraceWriter::create(&dir, &header).unwrap();
    let mut bytes = 0u64;
    let mut in_push = std::time::Duration::ZERO;
    let start = Instant::now();
    let mut ev = Event {
        tid: 1000,
        kind: EventKind::Rdtsc {
            value: 0,
            aux: None,
        },
    };
    for i in 0..n {
        let r = rnd();
        ev.tid = 1000 + (r % 4) as i32;
        ev.kind = match r % 8 {
            0..=2 => {
                let len = (r >> 8) as usize % text.len();
                EventKind::Syscall(SyscallEvent {
                    no: 0,
                    args: [3, 0x7fff_1000, 4096, 0, 0, 0],
                    result: len as i64,
                    writes: vec![MemWrite {
                        addr: 0x7fff_1000,
                        data: text[..len].to_vec(),
                    }],
                    file: None,
                    output: None,
                })
            }
            3 => EventKind::Syscall(SyscallEvent {
                no: 228,
                args: [1, 0x7fff_2000, 0, 0, 0, 0],
                result: 0,
                writes: vec![MemWrite {
                    addr: 0x7fff_2000,
                    data: (i * 1000)
                        .to_le_bytes()
                        .iter()
                        .chain(&[0u8; 8])
                        .copied()
                        .collect(),
                }],
                file: None,
                output: None,
            }),
            4 => EventKind::Syscall(SyscallEvent {
                no: 202,
                args: [0x5555_0000, 128, 0, 0, 0, 0],
                result: 0,
                writes: vec![],
                file: None,
                output: None,
            }),
            5 => EventKind::Syscall(SyscallEvent {
                no: 5,
                args: [3, 0x7fff_3000, 0, 0, 0, 0],
                result: 0,
                writes: vec![MemWrite {
                    addr: 0x7fff_3000,
                    data: vec![7; 144],
                }],
                file: None,
                output: None,
            }),
            6 => EventKind::Schedule {
                position: Some(Position {
                    pc: 0x5555_0000 + (r >> 40),
                    hits: Some(r >> 50),
                    regs: (0..27)
                        .map(|k| if k % 3 == 0 { rnd() } else { k })
                        .collect(),
                    digest: None,
                }),
            },
            _ => EventKind::Rdtsc {
                value: i * 3000,
                aux: None,
            },
        };
        if let EventKind::Syscall(s) = &ev.kind {
            bytes += s.writes.iter().map(|w| w.data.len() as u64).sum::<u64>();
        }
        let t = Instant::now();
        w.push(&ev).unwrap();
        in_push += t.elapsed();
        if i % 100_000 == 99_999 {
            w.flush().unwrap();
        }
    }
    w.finish(&header).unwrap();
    let t = start.elapsed();
    println!(
        "push:  {:.0} ns/event on the recorder's thread (including waits for the compressor)",
        in_push.as_nanos() as f64 / n as f64
    );
    let r = TraceReader::open(&dir).unwrap();
    let size = r.size_on_disk();
    println!(
        "write: {n} events, {:.1} MB of memory, {:.0} ns/event, trace {:.1} MB ({:.1} bytes/event)",
        bytes as f64 / 1e6,
        t.as_nanos() as f64 / n as f64,
        size as f64 / 1e6,
        size as f64 / n as f64
    );
    let start = Instant::now();
    let mut count = 0u64;
    for ev in r {
        ev.unwrap();
        count += 1;
    }
    let t = start.elapsed();
    assert_eq!(count, n);
    println!("read:  {:.0} ns/event", t.as_nanos() as f64 / n as f64);
    std::fs::remove_dir_all(&root).unwrap();
}
