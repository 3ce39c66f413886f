mod common;

use common::*;
use pack::*;
use std::fs;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn every_event_kind_roundtrips() {
    let root = scratch("every-kind");
    let dir = root.join("a.trace");
    let lib = root.join("libfoo.so");
    fs::write(&lib, b"\x7fELF pretend library".repeat(100)).unwrap();

    let mut w = TraceWriter::create(&dir, &header()).unwrap();
    let f = w.store_file(&lib).unwrap();
    assert_eq!(f.len, 2000);
    assert_eq!(f.hash.len(), 64);
    let mut rng = Rng(7);
    let events = every_kind(&mut rng, Some(f.clone()));
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(w.push(ev).unwrap(), i as u64);
    }
    let mut h = header();
    h.complete = true;
    h.exit = Some(ExitStatus::Signaled {
        signal: 6,
        core_dumped: false,
    });
    h.duration_ns = 42;
    w.finish(&h).unwrap();

    let mut r = TraceReader::open(&dir).unwrap();
    assert_eq!(r.header(), &h);
    let mut got = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        got.push(ev);
    }
    assert_eq!(got, events);
    assert_eq!(r.next_event().unwrap(), None);
    let p = r.file_path(&f).unwrap();
    assert_eq!(fs::read(p).unwrap(), fs::read(&lib).unwrap());
    assert!(r.size_on_disk() > 0);
    assert_eq!(r.store_size([&f, &f]), 2000);
    assert_eq!(store_dir_for(&dir), root.join("files"));
}

#[test]
fn header_roundtrips_without_optionals() {
    let root = scratch("header-min");
    let dir = root.join("t.trace");
    let mut h = Header {
        format_version: 0, // the writer writes FORMAT_VERSION regardless
        ..Header::default()
    };
    TraceWriter::create(&dir, &h).unwrap().finish(&h).unwrap();
    h.format_version = FORMAT_VERSION;
    let r = TraceReader::open(&dir).unwrap();
    assert_eq!(r.header(), &h);
    assert_eq!(TraceReader::read_header(&dir).unwrap(), h);
}

#[test]
fn create_refuses_non_empty_dir_and_accepts_empty() {
    let root = scratch("create");
    let dir = root.join("x.trace");
    fs::create_dir_all(&dir).unwrap();
    TraceWriter::create(&dir, &header()).unwrap();
    let e = TraceWriter::create(&dir, &header()).unwrap_err();
    assert!(matches!(e, Error::TraceDirNotEmpty { .. }), "{e}");
    assert!(e.to_string().contains("already exists and is not empty"));
}

#[test]
fn incomplete_trace_reads_to_last_flush() {
    let root = scratch("incomplete");
    let dir = root.join("live.trace");
    let killed = root.join("killed.trace");
    let mut rng = Rng(99);
    let events = realistic(&mut rng, 3000);
    let mut w = TraceWriter::create(&dir, &header()).unwrap();
    for ev in &events[..2000] {
        w.push(ev).unwrap();
    }
    w.flush().unwrap();
    // Events pushed after the last flush may or may not reach the disk.
    for ev in &events[2000..2100] {
        w.push(ev).unwrap();
    }
    // What a recorder killed now leaves behind.
    copy_dir(&dir, &killed);
    drop(w);

    let r = TraceReader::open(&killed).unwrap();
    assert!(!r.header().complete);
    let got = read_all(&killed).unwrap();
    assert!(got.len() >= 2000 && got.len() <= 2100, "{}", got.len());
    assert_eq!(got[..], events[..got.len()]);

    // Cut the streams anywhere: still no error, a prefix of the events.
    for cut in [1u64, 10, 100, 1000, 5000] {
        let t = root.join(format!("cut{cut}.trace"));
        copy_dir(&killed, &t);
        for name in ["events", "data"] {
            let f = fs::OpenOptions::new()
                .write(true)
                .open(t.join(name))
                .unwrap();
            let len = f.metadata().unwrap().len();
            f.set_len(len.saturating_sub(cut)).unwrap();
        }
        let got = read_all(&t).unwrap();
        assert_eq!(got[..], events[..got.len()]);
    }
}

#[test]
fn trace_killed_before_any_flush_is_empty() {
    let root = scratch("killed-early");
    let dir = root.join("live.trace");
    let killed = root.join("killed.trace");
    let mut w = TraceWriter::create(&dir, &header()).unwrap();
    copy_dir(&dir, &killed);
    let mut rng = Rng(1);
    for ev in realistic(&mut rng, 10) {
        w.push(&ev).unwrap();
    }
    drop(w);
    assert_eq!(read_all(&killed).unwrap(), vec![]);
    // A complete header over empty streams is a truncated trace.
    let mut h = header();
    h.complete = true;
    let done = root.join("done.trace");
    TraceWriter::create(&done, &h).unwrap().finish(&h).unwrap();
    fs::write(done.join("events"), b"").unwrap();
    let e = read_all(&done).unwrap_err();
    assert_eq!(e.to_string(), "events stream is truncated at its start");
}

#[test]
fn dropped_writer_leaves_readable_incomplete_trace() {
    let root = scratch("dropped");
    let dir = root.join("d.trace");
    let mut rng = Rng(3);
    let events = realistic(&mut rng, 500);
    write_trace(&dir, &events, false);
    let r = TraceReader::open(&dir).unwrap();
    assert!(!r.header().complete);
    assert_eq!(read_all(&dir).unwrap(), events);
}

#[test]
fn truncated_complete_trace_is_an_error() {
    let root = scratch("truncated");
    let dir = root.join("t.trace");
    let mut rng = Rng(5);
    let events = realistic(&mut rng, 2000);
    write_trace(&dir, &events, true);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("events"))
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len / 2).unwrap();
    let mut r = TraceReader::open(&dir).unwrap();
    let mut n = 0;
    let err = loop {
        match r.next_event() {
            Ok(Some(ev)) => {
                assert_eq!(ev, events[n]);
                n += 1;
            }
            Ok(None) => panic!("a truncated complete trace ended quietly"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, Error::EventsTruncated { event } if event == n as u64),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with("events stream is truncated after event"));
    assert_eq!(r.next_event().unwrap(), None);
}

#[test]
fn newer_version_is_refused() {
    let root = scratch("newer");
    let dir = root.join("n.trace");
    write_trace(&dir, &[], true);
    let mut bytes = fs::read(dir.join("header")).unwrap();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    fs::write(dir.join("header"), &bytes).unwrap();
    let e = TraceReader::open(&dir).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "trace format version {} is newer than this tool supports ({}); upgrade cargo-record-test",
            FORMAT_VERSION + 1,
            FORMAT_VERSION
        )
    );
}

#[test]
fn header_errors_are_clear() {
    let root = scratch("header-errors");
    let dir = root.join("h.trace");
    write_trace(&dir, &[], true);
    let good = fs::read(dir.join("header")).unwrap();

    fs::write(dir.join("header"), &good[..good.len() - 3]).unwrap();
    let e = TraceReader::open(&dir).unwrap_err();
    assert_eq!(e.to_string(), "header is truncated");
    fs::write(dir.join("header"), &good[..5]).unwrap();
    assert_eq!(
        TraceReader::open(&dir).unwrap_err().to_string(),
        "header is truncated"
    );

    fs::write(dir.join("header"), vec![0; good.len()]).unwrap();
    let e = TraceReader::open(&dir).unwrap_err();
    assert!(matches!(e, Error::HeaderBadMagic), "{e}");

    fs::remove_file(dir.join("header")).unwrap();
    let e = TraceReader::open(&dir).unwrap_err();
    assert!(matches!(e, Error::NotATraceDir { .. }), "{e}");

    let e = TraceReader::open(&root.join("nope.trace")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "trace directory {} does not exist",
            root.join("nope.trace").display()
        )
    );
}

#[test]
fn file_store_dedups_and_reports_missing_files() {
    let root = scratch("store");
    let a = root.join("a.bin");
    let b = root.join("b.bin");
    let link = root.join("link.bin");
    fs::write(&a, b"same content").unwrap();
    fs::write(&b, b"same content").unwrap();
    std::os::unix::fs::symlink(&a, &link).unwrap();

    let dir = root.join("s.trace");
    let mut w = TraceWriter::create(&dir, &header()).unwrap();
    let fa = w.store_file(&a).unwrap();
    let fb = w.store_file(&b).unwrap();
    let fl = w.store_file(&link).unwrap();
    assert_eq!(fa, fb);
    assert_eq!(fa, fl);
    assert_eq!(fa.hash, blake3::hash(b"same content").to_hex().to_string());
    // A second writer in the same directory finds it through the index.
    let mut w2 = TraceWriter::create(&root.join("s2.trace"), &header()).unwrap();
    assert_eq!(w2.store_file(&a).unwrap(), fa);

    let stored = store_dir_for(&dir).join(&fa.hash);
    assert!(fs::symlink_metadata(&stored).unwrap().file_type().is_file());
    // No temporary files are left behind.
    let names: Vec<String> = fs::read_dir(store_dir_for(&dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");

    // Storing a directory is an error, not a panic.
    assert!(w.store_file(&root).is_err());
    assert!(w.store_file(&root.join("missing")).is_err());

    w.push(&Event {
        tid: 1,
        kind: EventKind::Syscall(SyscallEvent {
            no: 9,
            args: [0; 6],
            result: 0,
            writes: vec![],
            file: Some(fa.clone()),
            output: None,
        }),
    })
    .unwrap();
    w.finish(&header()).unwrap();
    let r = TraceReader::open(&dir).unwrap();
    assert!(r.file_path(&fa).is_ok());
    fs::remove_file(&stored).unwrap();
    let e = r.file_path(&fa).unwrap_err();
    assert!(matches!(e, Error::StoredFileMissing { .. }), "{e}");
    let bad = FileRef {
        hash: "../../etc/passwd".into(),
        len: 1,
    };
    assert!(matches!(r.file_path(&bad), Err(Error::BadFileRef { .. })));
    let s = summarize(r).unwrap();
    assert_eq!(s.files, 1);
    assert_eq!(s.files_missing, 1);
}

#[test]
fn summary_reports_the_trace() {
    let root = scratch("summary");
    let dir = root.join("s.trace");
    let mut rng = Rng(11);
    let events = every_kind(
        &mut rng,
        Some(FileRef {
            hash: "ab".repeat(32),
            len: 4096,
        }),
    );
    write_trace(&dir, &events, true);
    let s = summarize(TraceReader::open(&dir).unwrap()).unwrap();
    assert_eq!(s.events, events.len() as u64);
    assert_eq!(s.kinds.syscall, 3);
    assert_eq!(s.kinds.exec, 1);
    assert_eq!(s.kinds.rdtsc, 2);
    assert_eq!(s.kinds.signal, 2);
    assert_eq!(s.kinds.schedule, 2);
    assert_eq!(s.kinds.exit, 2);
    assert_eq!(s.kinds.external, 1);
    assert_eq!(s.threads.len(), 2);
    assert_eq!(s.threads[0].tid, 100);
    assert_eq!(s.threads[0].events + s.threads[1].events, 13);
    assert_eq!(s.memory_bytes, 3012);
    assert_eq!(s.memory_writes, 3);
    assert_eq!(s.files, 1);
    assert_eq!(s.files_bytes, 4096);
    assert_eq!(s.cpu.vendor, "GenuineIntel");
    assert_eq!(s.cpu.brand, "Intel(R) Core(TM) i7-1065G7 CPU @ 1.30GHz");
    assert_eq!(s.kernel, "6.8.0-test");
    assert_eq!(s.chaos.as_ref().unwrap().seed, 42);
    assert!(s.complete);
    assert!(s.read_error.is_none());
    let names = |no: u32| match no {
        0 => "read".to_string(),
        n => format!("sys_{n}"),
    };
    let text = s.display_with(&names).to_string();
    assert!(text.contains("read"), "{text}");
    assert!(text.contains("GenuineIntel"), "{text}");
    assert!(text.contains("seed 42"), "{text}");
    assert!(text.contains("exited with code 0"), "{text}");
    let plain = s.to_string();
    assert!(plain.contains("syscall 0"), "{plain}");
}

#[test]
fn many_events_stream_through() {
    let root = scratch("many");
    let dir = root.join("m.trace");
    let mut rng = Rng(1234);
    let mut events = realistic(&mut rng, 20_000);
    // A write bigger than the staging buffer.
    events.push(Event {
        tid: 1,
        kind: EventKind::Syscall(SyscallEvent {
            no: 0,
            args: [0; 6],
            result: 300_000,
            writes: vec![MemWrite {
                addr: 0,
                data: rng.bytes(300_000),
            }],
            file: None,
            output: None,
        }),
    });
    events.extend(realistic(&mut rng, 100));
    write_trace(&dir, &events, true);
    let r = TraceReader::open(&dir).unwrap();
    let got: Vec<Event> = r.collect::<Result<_>>().unwrap();
    assert_eq!(got, events);
}

#[test]
fn writer_and_reader_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<TraceWriter>();
    send::<TraceReader>();
    send::<Summary>();
}
