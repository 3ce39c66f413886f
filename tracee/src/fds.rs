//! The program's file descriptors seen from the recorder: which of them are the recording's own
//! stdout and stderr (whatever their number: a dup, a shell's redirection), and the bytes the
//! kernel copied from one of them to another (sendfile, splice, tee, copy_file_range).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, FileTypeExt};

use nix::unistd::Pid;

/// `KCMP_FILE` of `linux/kcmp.h`.
const KCMP_FILE: libc::c_int = 0;

/// Whether fd `fd` of process `pid` is the same open file description as our own fd `ours`.
/// `None` when the kernel cannot tell (no kcmp); then the same inode counts as the same file.
pub fn is_our_file(pid: Pid, fd: i32, ours: i32) -> bool {
    let me = std::process::id() as libc::pid_t;
    // SAFETY: kcmp takes plain integers and touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            me,
            pid.as_raw() as libc::pid_t,
            KCMP_FILE,
            ours as libc::c_ulong,
            fd as libc::c_ulong,
        )
    };
    match r {
        0 => true,
        r if r > 0 => false,
        _ if io::Error::last_os_error().raw_os_error() == Some(libc::EBADF) => false,
        _ => same_inode(pid, fd, ours),
    }
}

fn same_inode(pid: Pid, fd: i32, ours: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let theirs = std::fs::metadata(format!("/proc/{pid}/fd/{fd}"));
    let mine = std::fs::metadata(format!("/proc/self/fd/{ours}"));
    match (theirs, mine) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// A duplicate of one of the program's file descriptors in our process (pidfd_getfd): the same
/// open file description, so the same file position and the same pipe buffer.
#[derive(Debug)]
pub struct RemoteFd {
    file: File,
}

/// What a descriptor refers to, as far as copying bytes out of it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A pipe or FIFO: bytes leave it as they are read; peek with tee before.
    Pipe,
    /// A socket: peek with MSG_PEEK before.
    Socket,
    /// A regular file or a device read at an offset: read the copied range afterwards.
    Seekable,
}

impl RemoteFd {
    /// Duplicate fd `fd` of process `pid` (its thread-group leader) into ours.
    pub fn get(pid: Pid, fd: i32) -> io::Result<RemoteFd> {
        // SAFETY: pidfd_open takes plain integers; a non-negative result is a new fd we own.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
        if pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor and nothing else owns it.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
        // SAFETY: pidfd_getfd takes plain integers; a non-negative result is a new fd we own.
        let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above, a fresh descriptor owned by nothing else.
        let file = unsafe { File::from_raw_fd(dup as i32) };
        Ok(RemoteFd { file })
    }

    /// Our duplicate, as a file of ours.
    pub fn into_file(self) -> File {
        self.file
    }

    /// Whether its open file is in non-blocking mode (O_NONBLOCK).
    pub fn nonblocking(&self) -> io::Result<bool> {
        let fl = nix::fcntl::fcntl(&self.file, nix::fcntl::FcntlArg::F_GETFL)?;
        Ok(nix::fcntl::OFlag::from_bits_truncate(fl).contains(nix::fcntl::OFlag::O_NONBLOCK))
    }

    /// What it refers to.
    pub fn source(&self) -> io::Result<Source> {
        let t = self.file.metadata()?.file_type();
        Ok(if t.is_fifo() {
            Source::Pipe
        } else if t.is_socket() {
            Source::Socket
        } else {
            Source::Seekable
        })
    }

    /// The current file position.
    pub fn position(&self) -> io::Result<u64> {
        // SAFETY: lseek on a descriptor we own; no memory involved.
        let r = unsafe { libc::lseek(self.file.as_raw_fd(), 0, libc::SEEK_CUR) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as u64)
        }
    }

    /// `len` bytes at `offset` (fewer at the end of the file), without moving the position.
    pub fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            match self.file.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Up to `len` of the bytes waiting in a pipe or socket, leaving them there.
    pub fn peek(&self, len: usize) -> io::Result<Vec<u8>> {
        match self.source()? {
            Source::Pipe => self.peek_pipe(len),
            Source::Socket => {
                let mut buf = vec![0u8; len.min(1 << 20)];
                // SAFETY: recv writes at most buf.len() bytes into buf, which we own.
                let n = unsafe {
                    libc::recv(
                        self.file.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_PEEK | libc::MSG_DONTWAIT,
                    )
                };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    return if e.kind() == io::ErrorKind::WouldBlock {
                        Ok(Vec::new())
                    } else {
                        Err(e)
                    };
                }
                buf.truncate(n as usize);
                Ok(buf)
            }
            Source::Seekable => Ok(Vec::new()),
        }
    }

    fn peek_pipe(&self, len: usize) -> io::Result<Vec<u8>> {
        let (r, w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(io::Error::from)?;
        // Room for all the source pipe holds.
        // SAFETY: fcntl on descriptors we own; no memory involved.
        unsafe {
            let size = libc::fcntl(self.file.as_raw_fd(), libc::F_GETPIPE_SZ);
            if size > 0 {
                libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size);
            }
        }
        // SAFETY: tee between two pipe descriptors we own; null offsets, no memory of ours.
        let n = unsafe {
            libc::tee(
                self.file.as_raw_fd(),
                w.as_raw_fd(),
                len,
                libc::SPLICE_F_NONBLOCK,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        drop(w);
        let mut out = Vec::with_capacity(n as usize);
        io::Read::read_to_end(&mut File::from(r), &mut out)?;
        Ok(out)
    }
}
