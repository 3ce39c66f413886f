#![allow(dead_code)]

use pack::*;
use std::path::{Path, PathBuf};

/// A fresh empty directory for one test, removed when the test passes.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn scratch(name: &str) -> Scratch {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("pack-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A deterministic xorshift generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub fn cpuid_leaves() -> Vec<CpuidLeaf> {
    let regs = |s: &[u8]| -> Vec<u32> {
        s.chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(b)
            })
            .collect()
    };
    let v = regs(b"GenuineIntel");
    let mut leaves = vec![CpuidLeaf {
        leaf: 0,
        subleaf: 0,
        eax: 0x16,
        ebx: v[0],
        edx: v[1],
        ecx: v[2],
    }];
    let mut brand = b"      Intel(R) Core(TM) i7-1065G7 CPU @ 1.30GHz".to_vec();
    brand.resize(48, 0);
    let b = regs(&brand);
    for i in 0..3u32 {
        let r = &b[i as usize * 4..];
        leaves.push(CpuidLeaf {
            leaf: 0x8000_0002 + i,
            subleaf: 0,
            eax: r[0],
            ebx: r[1],
            ecx: r[2],
            edx: r[3],
        });
    }
    leaves
}

pub fn header() -> Header {
    Header {
        format_version: FORMAT_VERSION,
        tool_version: "0.1.0".into(),
        program: b"/usr/bin/true".to_vec(),
        argv: vec![b"true".to_vec(), b"--flag".to_vec(), vec![0xff, 0, 1]],
        env: vec![b"PATH=/usr/bin".to_vec(), b"HOME=/root".to_vec()],
        cwd: b"/tmp".to_vec(),
        start_time_ns: 1_700_000_000_123_456_789,
        duration_ns: 0,
        cpuid: cpuid_leaves(),
        xcr0: 0xe7,
        kernel_release: "6.8.0-test".into(),
        chaos: Some(ChaosParams {
            seed: 42,
            params: vec![("depth".into(), "3".into()), ("slices".into(), "7".into())],
            points: vec![0x5555_5555_1000, 0x7fff_f7dd_2345],
        }),
        exit: None,
        complete: false,
        incomplete_reason: String::new(),
    }
}

pub fn position(rng: &mut Rng) -> Position {
    Position {
        pc: 0x5555_0000 + rng.below(0x10000),
        hits: if rng.below(2) == 0 {
            Some(rng.below(1000))
        } else {
            None
        },
        regs: (0..27).map(|_| rng.next()).collect(),
        digest: if rng.below(2) == 0 {
            Some(rng.bytes(16).try_into().unwrap())
        } else {
            None
        },
    }
}

/// One event of every kind and variant, with some memory.
pub fn every_kind(rng: &mut Rng, file: Option<FileRef>) -> Vec<Event> {
    vec![
        Event {
            tid: 100,
            kind: EventKind::Exec {
                writes: vec![
                    MemWrite {
                        addr: 0x7ffd_0000,
                        data: rng.bytes(3000),
                    },
                    MemWrite {
                        addr: 0x7ffd_f000,
                        data: vec![],
                    },
                ],
            },
        },
        Event {
            tid: 100,
            kind: EventKind::Syscall(SyscallEvent {
                no: 0,
                args: [3, 0x1000, 4096, 0, 0, 0],
                result: 12,
                writes: vec![MemWrite {
                    addr: 0x1000,
                    data: b"hello world\n".to_vec(),
                }],
                file: None,
                output: None,
            }),
        },
        Event {
            tid: 100,
            kind: EventKind::Syscall(SyscallEvent {
                no: 9,
                args: [0, 8192, 1, 2, 3, 0],
                result: 0x7f00_0000_0000,
                writes: vec![],
                file,
                output: None,
            }),
        },
        Event {
            tid: 101,
            kind: EventKind::Syscall(SyscallEvent {
                no: 2,
                args: [u64::MAX, 0, 0, 0, 0, 0],
                result: -2,
                writes: vec![],
                file: None,
                output: Some(Output {
                    stream: Stream::Stderr,
                    copied: b"bytes the kernel copied".to_vec(),
                }),
            }),
        },
        Event {
            tid: 101,
            kind: EventKind::Rdtsc {
                value: 123_456_789,
                aux: None,
            },
        },
        Event {
            tid: 101,
            kind: EventKind::Rdtsc {
                value: u64::MAX,
                aux: Some(7),
            },
        },
        Event {
            tid: 100,
            kind: EventKind::Signal(SignalEvent {
                signo: 11,
                siginfo: rng.bytes(128),
                synchronous: true,
                position: None,
            }),
        },
        Event {
            tid: 100,
            kind: EventKind::Signal(SignalEvent {
                signo: 14,
                siginfo: rng.bytes(128),
                synchronous: false,
                position: Some(position(rng)),
            }),
        },
        Event {
            tid: 101,
            kind: EventKind::Schedule { position: None },
        },
        Event {
            tid: 100,
            kind: EventKind::Schedule {
                position: Some(position(rng)),
            },
        },
        Event {
            tid: 100,
            kind: EventKind::External(Output {
                stream: Stream::Stderr,
                copied: b"a child's line\n".to_vec(),
            }),
        },
        Event {
            tid: 101,
            kind: EventKind::Exit {
                status: ExitStatus::Signaled {
                    signal: 9,
                    core_dumped: true,
                },
            },
        },
        Event {
            tid: 100,
            kind: EventKind::Exit {
                status: ExitStatus::Exited(-3),
            },
        },
    ]
}

/// A realistic-looking stream of `n` events across a few threads.
pub fn realistic(rng: &mut Rng, n: usize) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let tid = 1000 + rng.below(4) as i32;
        let kind = match rng.below(10) {
            0 => EventKind::Rdtsc {
                value: i as u64 * 1000,
                aux: None,
            },
            1 => EventKind::Schedule {
                position: Some(position(rng)),
            },
            2 => EventKind::Signal(SignalEvent {
                signo: 17,
                siginfo: vec![0; 128],
                synchronous: false,
                position: None,
            }),
            _ => {
                let len = rng.below(200) as usize;
                let mut data = b"some text the program read ".repeat(len / 27 + 1);
                data.truncate(len);
                EventKind::Syscall(SyscallEvent {
                    no: rng.below(20) as u32,
                    args: [rng.below(10), 0x7fff_0000, len as u64, 0, 0, 0],
                    result: len as i64,
                    writes: if len > 0 {
                        vec![MemWrite {
                            addr: 0x7fff_0000,
                            data,
                        }]
                    } else {
                        vec![]
                    },
                    file: None,
                    output: None,
                })
            }
        };
        out.push(Event { tid, kind });
    }
    out
}

/// Write a trace of `events`; `finish` selects a complete or an abandoned (flushed) trace.
pub fn write_trace(dir: &Path, events: &[Event], finish: bool) {
    let mut w = TraceWriter::create(dir, &header()).unwrap();
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(w.push(ev).unwrap(), i as u64);
    }
    if finish {
        let mut h = header();
        h.complete = true;
        h.exit = Some(ExitStatus::Exited(0));
        h.duration_ns = 1_500_000_000;
        w.finish(&h).unwrap();
    } else {
        w.flush().unwrap();
        drop(w);
    }
}

pub fn read_all(dir: &Path) -> Result<Vec<Event>> {
    let mut r = TraceReader::open(dir)?;
    let mut out = Vec::new();
    while let Some(ev) = r.next_event()? {
        out.push(ev);
    }
    Ok(out)
}
