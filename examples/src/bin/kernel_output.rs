//! Output the kernel writes for the program: sendfile, splice and tee to stdout, copy_file_range
//! to stdout when it is a regular file, and writes to duplicates of stdout and stderr (dup, dup2,
//! dup3, fcntl F_DUPFD). Each piece is labelled; a call the kernel refuses for this kind of
//! stdout (splice and tee need a pipe, copy_file_range a file) is replaced by a plain write.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::fcntl::{copy_file_range, splice, tee, OFlag, SpliceFFlags};
use nix::sys::sendfile::sendfile;
use nix::sys::uio::writev;
use nix::unistd::{dup, dup2, dup3, pipe, write};

fn file_with(text: &str) -> File {
    let path = std::env::temp_dir().join(format!("kernel-output-{}.txt", std::process::id()));
    std::fs::write(&path, text).expect("write the temp file");
    let f = File::open(&path).expect("open the temp file");
    std::fs::remove_file(&path).expect("remove the temp file");
    f
}

/// Write all of `bytes` to `fd` with write(2).
fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let n = write(fd, bytes).expect("write");
        bytes = &bytes[n..];
    }
}

/// Run a kernel copy of `text` to `out`; if the kernel refuses it for this stdout, write `text`
/// instead.
fn copied(out: BorrowedFd<'_>, text: &str, what: &str, copy: impl FnOnce() -> nix::Result<usize>) {
    match copy() {
        Ok(n) if n == text.len() => {}
        Ok(n) => panic!("{what} copied {n} of {} bytes", text.len()),
        Err(e) => write_all(out, format!("[{what}: {e}] {text}").as_bytes()),
    }
}

fn main() {
    let stdout = std::io::stdout();
    let out = stdout.as_fd();

    let text = "1 sendfile from a file, at its position\n";
    let f = file_with(text);
    copied(out, text, "sendfile", || {
        sendfile(out, &f, None, text.len())
    });

    let text = "2 sendfile from a file, at an offset\n";
    let f = file_with(&format!("xxxx{text}"));
    let mut off = 4;
    copied(out, text, "sendfile", || {
        sendfile(out, &f, Some(&mut off), text.len())
    });

    let text = "3 copy_file_range from a file\n";
    let f = file_with(text);
    copied(out, text, "copy_file_range", || {
        copy_file_range(&f, None, out, None, text.len())
    });

    let text = "4 splice from a pipe\n";
    let (r, w) = pipe().expect("pipe");
    write_all(w.as_fd(), text.as_bytes());
    copied(out, text, "splice", || {
        splice(&r, None, out, None, text.len(), SpliceFFlags::empty())
    });

    let text = "5 splice from a file, at an offset\n";
    let f = file_with(&format!("yy{text}"));
    let mut off = 2;
    copied(out, text, "splice", || {
        splice(
            &f,
            Some(&mut off),
            out,
            None,
            text.len(),
            SpliceFFlags::empty(),
        )
    });

    let text = "6 tee from a pipe\n";
    write_all(w.as_fd(), text.as_bytes());
    copied(out, text, "tee", || {
        tee(&r, out, text.len(), SpliceFFlags::empty())
    });
    // tee left the bytes in the pipe: take them out again.
    let mut back = vec![0u8; text.len()];
    let n = nix::unistd::read(&r, &mut back).expect("read the pipe");
    assert_eq!(&back[..n], text.as_bytes(), "tee leaves the pipe as it was");

    let d = dup(out).expect("dup");
    write_all(d.as_fd(), b"7 write to a dup of stdout\n");
    writev(
        &d,
        &[
            IoSlice::new(b"8 writev "),
            IoSlice::new(b"to a dup of stdout\n"),
        ],
    )
    .expect("writev");

    let mut ten = dup(out).expect("dup");
    dup2(out, &mut ten).expect("dup2");
    write_all(ten.as_fd(), b"9 write to a dup2 of stdout\n");
    dup3(out, &mut ten, OFlag::O_CLOEXEC).expect("dup3");
    write_all(ten.as_fd(), b"10 write to a dup3 of stdout\n");

    // std duplicates with fcntl(F_DUPFD_CLOEXEC).
    let cloned = out.try_clone_to_owned().expect("fcntl F_DUPFD_CLOEXEC");
    write_all(cloned.as_fd(), b"11 write to an fcntl F_DUPFD of stdout\n");
    let mut f = File::from(out.try_clone_to_owned().expect("fcntl F_DUPFD_CLOEXEC"));
    f.write_all(b"12 write to a File made of a dup of stdout\n")
        .expect("write");
    let e = dup(std::io::stderr().as_fd()).expect("dup stderr");
    write_all(e.as_fd(), b"13 write to a dup of stderr\n");
}
