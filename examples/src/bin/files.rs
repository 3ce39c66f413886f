//! Exercises the file system: creates a directory and a file under the temp dir, writes, reads it
//! back, appends, stats it, lists the directory, renames, removes. Replay performs no real writes,
//! so every result it prints comes from the trace.
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time after the epoch")
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("crt-files-{}-{stamp}", std::process::id()));
    fs::create_dir_all(&dir).expect("create dir");
    let path = dir.join("data.txt");

    let mut f = fs::File::create(&path).expect("create file");
    f.write_all(b"first line\nsecond line\n").expect("write");
    drop(f);

    let mut f = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&path)
        .expect("reopen");
    f.write_all(b"third line\n").expect("append");
    f.seek(SeekFrom::Start(0)).expect("seek");
    let mut back = String::new();
    f.read_to_string(&mut back).expect("read back");
    drop(f);
    print!("read back:\n{back}");

    let meta = fs::metadata(&path).expect("stat");
    println!(
        "len {} is_file {} readonly {}",
        meta.len(),
        meta.is_file(),
        meta.permissions().readonly()
    );
    let modified = meta
        .modified()
        .expect("mtime")
        .duration_since(UNIX_EPOCH)
        .expect("mtime after the epoch");
    println!(
        "mtime {}.{:09}",
        modified.as_secs(),
        modified.subsec_nanos()
    );

    fs::write(dir.join("other.bin"), [0u8, 1, 2, 3, 255]).expect("write other");
    fs::create_dir(dir.join("sub")).expect("mkdir sub");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("dir entry");
            let kind = if e.file_type().expect("file type").is_dir() {
                "dir"
            } else {
                "file"
            };
            format!("{} ({kind})", e.file_name().to_string_lossy())
        })
        .collect();
    names.sort();
    println!("entries: {names:?}");

    fs::rename(&path, dir.join("renamed.txt")).expect("rename");
    println!("renamed exists: {}", dir.join("renamed.txt").exists());
    println!("old exists: {}", path.exists());
    let canon = fs::canonicalize(dir.join("sub")).expect("canonicalize");
    println!("canonical sub ends with /sub: {}", canon.ends_with("sub"));

    fs::remove_dir_all(&dir).expect("remove dir");
    println!("dir exists after removal: {}", dir.exists());
    println!("dir: {}", dir.display());
}
