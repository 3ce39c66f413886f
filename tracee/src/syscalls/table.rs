//! The rows. Each names a syscall, its class and the memory the kernel writes.
//! Sizes are those of the x86_64 kernel ABI (struct stat 144, timespec 16, rusage 144, ...).

use super::Class::{Emulate, Execute, ExecuteSetResult, Special as Sp, Unsupported};
use super::Len::{Arg, Const, Ret, RetTimes, U32At};
use super::Special::{Clone, Execve, Exit, Kill, Mmap, Refuse, Sigreturn};
use super::{
    fs, mm, net, signal, thread, w, w_always, Class, CustomWrites, Output, Row, Timeout, Write,
    Writes,
};
use libc::*;

const fn r(no: c_long, name: &'static str, class: Class, writes: &'static [Write]) -> Row {
    Row {
        no: no as u32,
        name,
        class,
        writes: Writes::Rules(writes),
        blocks: false,
        silent: false,
        timeout: Timeout::None,
        output: None,
    }
}

const fn rc(no: c_long, name: &'static str, class: Class, f: CustomWrites) -> Row {
    Row {
        no: no as u32,
        name,
        class,
        writes: Writes::Custom(f),
        blocks: false,
        silent: false,
        timeout: Timeout::None,
        output: None,
    }
}

const BUF: Output = Output::Buffer { fd: 0, buf: 1 };
const IOV: Output = Output::Iovec { fd: 0, iov: 1 };
const STAT: u64 = 144;
const TIMESPEC: u64 = 16;
const RUSAGE: u64 = 144;
const NO_SHM: Class = Unsupported("System V shared memory cannot be replayed");
const NO_ADMIN: Class = Unsupported("system administration calls are not recorded");

pub static ROWS: &[Row] = &[
    // --- files and directories
    r(SYS_read, "read", Emulate, &[w(1, Ret)]).blocking(),
    r(SYS_write, "write", Emulate, &[]).blocking().output(BUF),
    r(SYS_open, "open", Emulate, &[]).blocking(),
    r(SYS_openat, "openat", Emulate, &[]).blocking(),
    r(SYS_openat2, "openat2", Emulate, &[]).blocking(),
    r(SYS_creat, "creat", Emulate, &[]),
    r(SYS_close, "close", Emulate, &[]),
    r(SYS_close_range, "close_range", Emulate, &[]),
    r(SYS_stat, "stat", Emulate, &[w(1, Const(STAT))]),
    r(SYS_fstat, "fstat", Emulate, &[w(1, Const(STAT))]),
    r(SYS_lstat, "lstat", Emulate, &[w(1, Const(STAT))]),
    r(SYS_newfstatat, "newfstatat", Emulate, &[w(2, Const(STAT))]),
    r(SYS_statx, "statx", Emulate, &[w(4, Const(256))]),
    r(SYS_statfs, "statfs", Emulate, &[w(1, Const(120))]),
    r(SYS_fstatfs, "fstatfs", Emulate, &[w(1, Const(120))]),
    r(SYS_lseek, "lseek", Emulate, &[]),
    r(SYS_pread64, "pread64", Emulate, &[w(1, Ret)]).blocking(),
    r(SYS_pwrite64, "pwrite64", Emulate, &[]).output(BUF),
    rc(SYS_readv, "readv", Emulate, fs::readv).blocking(),
    rc(SYS_preadv, "preadv", Emulate, fs::readv),
    rc(SYS_preadv2, "preadv2", Emulate, fs::readv),
    r(SYS_writev, "writev", Emulate, &[]).blocking().output(IOV),
    r(SYS_pwritev, "pwritev", Emulate, &[]).output(IOV),
    r(SYS_pwritev2, "pwritev2", Emulate, &[]).output(IOV),
    r(SYS_access, "access", Emulate, &[]),
    r(SYS_faccessat, "faccessat", Emulate, &[]),
    r(SYS_faccessat2, "faccessat2", Emulate, &[]),
    r(SYS_pipe, "pipe", Emulate, &[w(0, Const(8))]),
    r(SYS_pipe2, "pipe2", Emulate, &[w(0, Const(8))]),
    r(SYS_dup, "dup", Emulate, &[]),
    r(SYS_dup2, "dup2", Emulate, &[]),
    r(SYS_dup3, "dup3", Emulate, &[]),
    rc(SYS_fcntl, "fcntl", Emulate, fs::fcntl).blocking(),
    rc(SYS_ioctl, "ioctl", Emulate, fs::ioctl),
    r(SYS_flock, "flock", Emulate, &[]).blocking(),
    r(SYS_fsync, "fsync", Emulate, &[]),
    r(SYS_fdatasync, "fdatasync", Emulate, &[]),
    r(SYS_sync, "sync", Emulate, &[]),
    r(SYS_syncfs, "syncfs", Emulate, &[]),
    r(SYS_sync_file_range, "sync_file_range", Emulate, &[]),
    r(SYS_truncate, "truncate", Emulate, &[]),
    r(SYS_ftruncate, "ftruncate", Emulate, &[]),
    r(SYS_fallocate, "fallocate", Emulate, &[]),
    r(SYS_fadvise64, "fadvise64", Emulate, &[]),
    r(SYS_readahead, "readahead", Emulate, &[]),
    r(SYS_getdents, "getdents", Emulate, &[w(1, Ret)]),
    r(SYS_getdents64, "getdents64", Emulate, &[w(1, Ret)]),
    r(SYS_getcwd, "getcwd", Emulate, &[w(0, Ret)]),
    r(SYS_chdir, "chdir", Emulate, &[]),
    r(SYS_fchdir, "fchdir", Emulate, &[]),
    r(SYS_rename, "rename", Emulate, &[]),
    r(SYS_renameat, "renameat", Emulate, &[]),
    r(SYS_renameat2, "renameat2", Emulate, &[]),
    r(SYS_mkdir, "mkdir", Emulate, &[]),
    r(SYS_mkdirat, "mkdirat", Emulate, &[]),
    r(SYS_rmdir, "rmdir", Emulate, &[]),
    r(SYS_link, "link", Emulate, &[]),
    r(SYS_linkat, "linkat", Emulate, &[]),
    r(SYS_unlink, "unlink", Emulate, &[]),
    r(SYS_unlinkat, "unlinkat", Emulate, &[]),
    r(SYS_symlink, "symlink", Emulate, &[]),
    r(SYS_symlinkat, "symlinkat", Emulate, &[]),
    r(SYS_readlink, "readlink", Emulate, &[w(1, Ret)]),
    r(SYS_readlinkat, "readlinkat", Emulate, &[w(2, Ret)]),
    r(SYS_mknod, "mknod", Emulate, &[]),
    r(SYS_mknodat, "mknodat", Emulate, &[]),
    r(SYS_chmod, "chmod", Emulate, &[]),
    r(SYS_fchmod, "fchmod", Emulate, &[]),
    r(SYS_fchmodat, "fchmodat", Emulate, &[]),
    r(SYS_chown, "chown", Emulate, &[]),
    r(SYS_fchown, "fchown", Emulate, &[]),
    r(SYS_lchown, "lchown", Emulate, &[]),
    r(SYS_fchownat, "fchownat", Emulate, &[]),
    r(SYS_umask, "umask", Emulate, &[]),
    r(SYS_utime, "utime", Emulate, &[]),
    r(SYS_utimes, "utimes", Emulate, &[]),
    r(SYS_utimensat, "utimensat", Emulate, &[]),
    r(SYS_futimesat, "futimesat", Emulate, &[]),
    r(SYS_getxattr, "getxattr", Emulate, &[w(2, Ret)]),
    r(SYS_lgetxattr, "lgetxattr", Emulate, &[w(2, Ret)]),
    r(SYS_fgetxattr, "fgetxattr", Emulate, &[w(2, Ret)]),
    r(SYS_listxattr, "listxattr", Emulate, &[w(1, Ret)]),
    r(SYS_llistxattr, "llistxattr", Emulate, &[w(1, Ret)]),
    r(SYS_flistxattr, "flistxattr", Emulate, &[w(1, Ret)]),
    r(SYS_setxattr, "setxattr", Emulate, &[]),
    r(SYS_lsetxattr, "lsetxattr", Emulate, &[]),
    r(SYS_fsetxattr, "fsetxattr", Emulate, &[]),
    r(SYS_removexattr, "removexattr", Emulate, &[]),
    r(SYS_lremovexattr, "lremovexattr", Emulate, &[]),
    r(SYS_fremovexattr, "fremovexattr", Emulate, &[]),
    r(SYS_sendfile, "sendfile", Emulate, &[w(2, Const(8))])
        .blocking()
        .output(Output::Copy {
            fd: 0,
            from: 1,
            offset: Some(2),
        }),
    r(
        SYS_copy_file_range,
        "copy_file_range",
        Emulate,
        &[w(1, Const(8)), w(3, Const(8))],
    )
    .blocking()
    .output(Output::Copy {
        fd: 2,
        from: 0,
        offset: Some(1),
    }),
    r(
        SYS_splice,
        "splice",
        Emulate,
        &[w(1, Const(8)), w(3, Const(8))],
    )
    .blocking()
    .output(Output::Copy {
        fd: 2,
        from: 0,
        offset: Some(1),
    }),
    r(SYS_tee, "tee", Emulate, &[])
        .blocking()
        .output(Output::Copy {
            fd: 1,
            from: 0,
            offset: None,
        }),
    r(SYS_inotify_init, "inotify_init", Emulate, &[]),
    r(SYS_inotify_init1, "inotify_init1", Emulate, &[]),
    r(SYS_inotify_add_watch, "inotify_add_watch", Emulate, &[]),
    r(SYS_inotify_rm_watch, "inotify_rm_watch", Emulate, &[]),
    r(SYS_memfd_create, "memfd_create", Emulate, &[]),
    r(
        SYS_name_to_handle_at,
        "name_to_handle_at",
        Unsupported("file handles are not recorded"),
        &[],
    ),
    // --- polling and events
    r(
        SYS_poll,
        "poll",
        Emulate,
        &[w(0, super::Len::ArgTimes(1, 8))],
    )
    .blocking()
    .timed(Timeout::MillisArg(2)),
    r(
        SYS_ppoll,
        "ppoll",
        Emulate,
        &[w(0, super::Len::ArgTimes(1, 8))],
    )
    .blocking()
    .timed(Timeout::PtrArg(2)),
    rc(SYS_select, "select", Emulate, fs::select)
        .blocking()
        .timed(Timeout::PtrArg(4)),
    rc(SYS_pselect6, "pselect6", Emulate, fs::select)
        .blocking()
        .timed(Timeout::PtrArg(4)),
    r(SYS_epoll_create, "epoll_create", Emulate, &[]),
    r(SYS_epoll_create1, "epoll_create1", Emulate, &[]),
    r(SYS_epoll_ctl, "epoll_ctl", Emulate, &[]),
    r(SYS_epoll_wait, "epoll_wait", Emulate, &[w(1, RetTimes(12))])
        .blocking()
        .timed(Timeout::MillisArg(3)),
    r(
        SYS_epoll_pwait,
        "epoll_pwait",
        Emulate,
        &[w(1, RetTimes(12))],
    )
    .blocking()
    .timed(Timeout::MillisArg(3)),
    r(
        SYS_epoll_pwait2,
        "epoll_pwait2",
        Emulate,
        &[w(1, RetTimes(12))],
    )
    .blocking()
    .timed(Timeout::PtrArg(3)),
    r(SYS_eventfd, "eventfd", Emulate, &[]),
    r(SYS_eventfd2, "eventfd2", Emulate, &[]),
    r(SYS_timerfd_create, "timerfd_create", Emulate, &[]),
    r(
        SYS_timerfd_settime,
        "timerfd_settime",
        Emulate,
        &[w(3, Const(32))],
    ),
    r(
        SYS_timerfd_gettime,
        "timerfd_gettime",
        Emulate,
        &[w(1, Const(32))],
    ),
    r(SYS_signalfd, "signalfd", Emulate, &[]),
    r(SYS_signalfd4, "signalfd4", Emulate, &[]),
    r(
        SYS_io_uring_setup,
        "io_uring_setup",
        Unsupported(
            "io_uring is not supported; the program's libraries usually fall back when it fails",
        ),
        &[],
    ),
    r(
        SYS_io_uring_enter,
        "io_uring_enter",
        Unsupported("io_uring is not supported"),
        &[],
    ),
    r(
        SYS_io_uring_register,
        "io_uring_register",
        Unsupported("io_uring is not supported"),
        &[],
    ),
    r(
        SYS_io_setup,
        "io_setup",
        Unsupported("Linux AIO is not supported"),
        &[],
    ),
    // --- time
    r(
        SYS_clock_gettime,
        "clock_gettime",
        Emulate,
        &[w(1, Const(TIMESPEC))],
    ),
    r(
        SYS_clock_getres,
        "clock_getres",
        Emulate,
        &[w(1, Const(TIMESPEC))],
    ),
    r(SYS_clock_settime, "clock_settime", Emulate, &[]),
    r(
        SYS_clock_nanosleep,
        "clock_nanosleep",
        Emulate,
        &[w_always(3, Const(TIMESPEC))],
    )
    .blocking()
    .timed(Timeout::Always),
    r(
        SYS_nanosleep,
        "nanosleep",
        Emulate,
        &[w_always(1, Const(TIMESPEC))],
    )
    .blocking()
    .timed(Timeout::Always),
    r(
        SYS_gettimeofday,
        "gettimeofday",
        Emulate,
        &[w(0, Const(16)), w(1, Const(8))],
    ),
    r(SYS_time, "time", Emulate, &[w(0, Const(8))]),
    r(SYS_times, "times", Emulate, &[w(0, Const(32))]),
    r(SYS_getitimer, "getitimer", Emulate, &[w(1, Const(32))]),
    r(SYS_setitimer, "setitimer", Emulate, &[w(2, Const(32))]),
    r(SYS_alarm, "alarm", Emulate, &[]),
    r(SYS_timer_create, "timer_create", Emulate, &[w(2, Const(4))]),
    r(
        SYS_timer_settime,
        "timer_settime",
        Emulate,
        &[w(3, Const(32))],
    ),
    r(
        SYS_timer_gettime,
        "timer_gettime",
        Emulate,
        &[w(1, Const(32))],
    ),
    r(SYS_timer_getoverrun, "timer_getoverrun", Emulate, &[]),
    r(SYS_timer_delete, "timer_delete", Emulate, &[]),
    r(SYS_adjtimex, "adjtimex", Emulate, &[w(0, Const(208))]),
    r(
        SYS_clock_adjtime,
        "clock_adjtime",
        Emulate,
        &[w(1, Const(208))],
    ),
    // --- memory layout (replay executes these)
    r(SYS_mmap, "mmap", Sp(Mmap), &[]),
    r(SYS_munmap, "munmap", Execute, &[]).silent(),
    r(SYS_mprotect, "mprotect", Execute, &[]).silent(),
    r(SYS_brk, "brk", Execute, &[]),
    r(SYS_mremap, "mremap", Execute, &[]),
    r(SYS_madvise, "madvise", Execute, &[]).silent(),
    r(SYS_msync, "msync", Emulate, &[]),
    rc(SYS_mincore, "mincore", Emulate, mm::mincore),
    r(SYS_mlock, "mlock", Execute, &[]),
    r(SYS_mlock2, "mlock2", Execute, &[]),
    r(SYS_munlock, "munlock", Execute, &[]),
    r(SYS_mlockall, "mlockall", Execute, &[]),
    r(SYS_munlockall, "munlockall", Execute, &[]),
    r(SYS_membarrier, "membarrier", Emulate, &[]),
    r(SYS_pkey_alloc, "pkey_alloc", Sp(Refuse(libc::ENOSPC)), &[]),
    r(SYS_pkey_free, "pkey_free", Sp(Refuse(libc::EINVAL)), &[]),
    r(
        SYS_pkey_mprotect,
        "pkey_mprotect",
        Unsupported("memory protection keys are not supported"),
        &[],
    ),
    r(SYS_shmget, "shmget", NO_SHM, &[]),
    r(SYS_shmat, "shmat", NO_SHM, &[]),
    r(SYS_shmdt, "shmdt", NO_SHM, &[]),
    r(SYS_shmctl, "shmctl", NO_SHM, &[]),
    r(
        SYS_process_vm_readv,
        "process_vm_readv",
        Unsupported("reading another process's memory is not recorded"),
        &[],
    ),
    r(
        SYS_process_vm_writev,
        "process_vm_writev",
        Unsupported("writing another process's memory is not recorded"),
        &[],
    ),
    r(
        SYS_userfaultfd,
        "userfaultfd",
        Unsupported("userfaultfd is not supported"),
        &[],
    ),
    // --- sockets
    r(SYS_socket, "socket", Emulate, &[]),
    r(SYS_socketpair, "socketpair", Emulate, &[w(3, Const(8))]),
    r(SYS_connect, "connect", Emulate, &[]).blocking(),
    r(SYS_bind, "bind", Emulate, &[]),
    r(SYS_listen, "listen", Emulate, &[]),
    r(
        SYS_accept,
        "accept",
        Emulate,
        &[w(1, U32At(2)), w(2, Const(4))],
    )
    .blocking(),
    r(
        SYS_accept4,
        "accept4",
        Emulate,
        &[w(1, U32At(2)), w(2, Const(4))],
    )
    .blocking(),
    r(SYS_shutdown, "shutdown", Emulate, &[]),
    r(SYS_sendto, "sendto", Emulate, &[]).blocking(),
    r(
        SYS_recvfrom,
        "recvfrom",
        Emulate,
        &[w(1, Ret), w(4, U32At(5)), w(5, Const(4))],
    )
    .blocking(),
    r(SYS_sendmsg, "sendmsg", Emulate, &[]).blocking(),
    rc(SYS_recvmsg, "recvmsg", Emulate, net::recvmsg).blocking(),
    rc(SYS_sendmmsg, "sendmmsg", Emulate, net::sendmmsg).blocking(),
    rc(SYS_recvmmsg, "recvmmsg", Emulate, net::recvmmsg).blocking(),
    r(
        SYS_getsockname,
        "getsockname",
        Emulate,
        &[w(1, U32At(2)), w(2, Const(4))],
    ),
    r(
        SYS_getpeername,
        "getpeername",
        Emulate,
        &[w(1, U32At(2)), w(2, Const(4))],
    ),
    r(SYS_setsockopt, "setsockopt", Emulate, &[]),
    r(
        SYS_getsockopt,
        "getsockopt",
        Emulate,
        &[w(3, U32At(4)), w(4, Const(4))],
    ),
    // --- signals
    rc(
        SYS_rt_sigaction,
        "rt_sigaction",
        Execute,
        signal::rt_sigaction,
    ),
    r(SYS_rt_sigprocmask, "rt_sigprocmask", Execute, &[]).silent(),
    r(SYS_rt_sigreturn, "rt_sigreturn", Sp(Sigreturn), &[]),
    r(SYS_sigaltstack, "sigaltstack", Execute, &[]).silent(),
    r(SYS_rt_sigpending, "rt_sigpending", Emulate, &[w(0, Arg(1))]),
    r(
        SYS_rt_sigtimedwait,
        "rt_sigtimedwait",
        Emulate,
        &[w(1, Const(128))],
    )
    .blocking()
    .timed(Timeout::PtrArg(2)),
    r(SYS_rt_sigsuspend, "rt_sigsuspend", Emulate, &[]).blocking(),
    r(SYS_rt_sigqueueinfo, "rt_sigqueueinfo", Emulate, &[]),
    r(SYS_rt_tgsigqueueinfo, "rt_tgsigqueueinfo", Emulate, &[]),
    r(SYS_pause, "pause", Emulate, &[]).blocking(),
    r(SYS_kill, "kill", Sp(Kill), &[]),
    r(SYS_tkill, "tkill", Sp(Kill), &[]),
    r(SYS_tgkill, "tgkill", Sp(Kill), &[]),
    r(SYS_pidfd_open, "pidfd_open", Emulate, &[]),
    r(SYS_pidfd_send_signal, "pidfd_send_signal", Emulate, &[]),
    // --- processes and threads
    r(SYS_clone, "clone", Sp(Clone), &[]),
    r(SYS_clone3, "clone3", Sp(Clone), &[]),
    r(SYS_fork, "fork", Sp(Clone), &[]),
    r(SYS_vfork, "vfork", Sp(Clone), &[]).blocking(),
    r(SYS_execve, "execve", Sp(Execve), &[]),
    r(SYS_execveat, "execveat", Sp(Execve), &[]),
    r(SYS_exit, "exit", Sp(Exit), &[]),
    r(SYS_exit_group, "exit_group", Sp(Exit), &[]),
    r(
        SYS_wait4,
        "wait4",
        Emulate,
        &[w(1, Const(4)), w(3, Const(RUSAGE))],
    )
    .blocking(),
    r(
        SYS_waitid,
        "waitid",
        Emulate,
        &[w(2, Const(128)), w(4, Const(RUSAGE))],
    )
    .blocking(),
    r(SYS_rseq, "rseq", Sp(Refuse(libc::ENOSYS)), &[]),
    r(
        SYS_set_tid_address,
        "set_tid_address",
        ExecuteSetResult,
        &[],
    ),
    r(SYS_set_robust_list, "set_robust_list", Execute, &[]),
    r(
        SYS_get_robust_list,
        "get_robust_list",
        Emulate,
        &[w(1, Const(8)), w(2, Const(8))],
    ),
    r(SYS_futex, "futex", Emulate, &[])
        .blocking()
        .timed(Timeout::PtrArg(3)),
    r(
        SYS_futex_waitv,
        "futex_waitv",
        Unsupported("futex_waitv is not supported yet"),
        &[],
    ),
    r(SYS_arch_prctl, "arch_prctl", Execute, &[]),
    rc(SYS_prctl, "prctl", Emulate, thread::prctl),
    r(SYS_getpid, "getpid", Emulate, &[]),
    r(SYS_gettid, "gettid", Emulate, &[]),
    r(SYS_getppid, "getppid", Emulate, &[]),
    r(SYS_getuid, "getuid", Emulate, &[]),
    r(SYS_geteuid, "geteuid", Emulate, &[]),
    r(SYS_getgid, "getgid", Emulate, &[]),
    r(SYS_getegid, "getegid", Emulate, &[]),
    r(
        SYS_getresuid,
        "getresuid",
        Emulate,
        &[w(0, Const(4)), w(1, Const(4)), w(2, Const(4))],
    ),
    r(
        SYS_getresgid,
        "getresgid",
        Emulate,
        &[w(0, Const(4)), w(1, Const(4)), w(2, Const(4))],
    ),
    r(SYS_getgroups, "getgroups", Emulate, &[w(1, RetTimes(4))]),
    r(SYS_setuid, "setuid", Emulate, &[]),
    r(SYS_setgid, "setgid", Emulate, &[]),
    r(SYS_setreuid, "setreuid", Emulate, &[]),
    r(SYS_setregid, "setregid", Emulate, &[]),
    r(SYS_setresuid, "setresuid", Emulate, &[]),
    r(SYS_setresgid, "setresgid", Emulate, &[]),
    r(SYS_setgroups, "setgroups", Emulate, &[]),
    r(SYS_setfsuid, "setfsuid", Emulate, &[]),
    r(SYS_setfsgid, "setfsgid", Emulate, &[]),
    rc(SYS_capget, "capget", Emulate, thread::capget),
    r(SYS_capset, "capset", Emulate, &[]),
    r(SYS_getpgrp, "getpgrp", Emulate, &[]),
    r(SYS_getpgid, "getpgid", Emulate, &[]),
    r(SYS_setpgid, "setpgid", Emulate, &[]),
    r(SYS_getsid, "getsid", Emulate, &[]),
    r(SYS_setsid, "setsid", Emulate, &[]),
    r(SYS_getpriority, "getpriority", Emulate, &[]),
    r(SYS_setpriority, "setpriority", Emulate, &[]),
    r(SYS_sched_yield, "sched_yield", Emulate, &[]).blocking(),
    r(
        SYS_sched_getaffinity,
        "sched_getaffinity",
        Emulate,
        &[w(2, Ret)],
    ),
    r(SYS_sched_setaffinity, "sched_setaffinity", Emulate, &[]),
    r(
        SYS_sched_getparam,
        "sched_getparam",
        Emulate,
        &[w(1, Const(4))],
    ),
    r(SYS_sched_setparam, "sched_setparam", Emulate, &[]),
    r(SYS_sched_getscheduler, "sched_getscheduler", Emulate, &[]),
    r(SYS_sched_setscheduler, "sched_setscheduler", Emulate, &[]),
    r(
        SYS_sched_get_priority_max,
        "sched_get_priority_max",
        Emulate,
        &[],
    ),
    r(
        SYS_sched_get_priority_min,
        "sched_get_priority_min",
        Emulate,
        &[],
    ),
    r(SYS_sched_getattr, "sched_getattr", Emulate, &[w(1, Arg(2))]),
    r(SYS_sched_setattr, "sched_setattr", Emulate, &[]),
    r(
        SYS_sched_rr_get_interval,
        "sched_rr_get_interval",
        Emulate,
        &[w(1, Const(TIMESPEC))],
    ),
    r(
        SYS_getcpu,
        "getcpu",
        Emulate,
        &[w(0, Const(4)), w(1, Const(4))],
    ),
    r(SYS_getrlimit, "getrlimit", Emulate, &[w(1, Const(16))]),
    r(SYS_setrlimit, "setrlimit", Emulate, &[]),
    r(SYS_prlimit64, "prlimit64", Emulate, &[w(3, Const(16))]),
    r(SYS_getrusage, "getrusage", Emulate, &[w(1, Const(RUSAGE))]),
    r(SYS_sysinfo, "sysinfo", Emulate, &[w(0, Const(112))]),
    r(SYS_uname, "uname", Emulate, &[w(0, Const(390))]),
    r(SYS_getrandom, "getrandom", Emulate, &[w(0, Ret)]),
    r(SYS_personality, "personality", Emulate, &[]),
    r(SYS_ioprio_get, "ioprio_get", Emulate, &[]),
    r(SYS_ioprio_set, "ioprio_set", Emulate, &[]),
    r(
        SYS_unshare,
        "unshare",
        Unsupported("namespaces are not supported"),
        &[],
    ),
    r(
        SYS_setns,
        "setns",
        Unsupported("namespaces are not supported"),
        &[],
    ),
    r(
        SYS_ptrace,
        "ptrace",
        Unsupported("a traced program cannot trace others"),
        &[],
    ),
    r(
        SYS_seccomp,
        "seccomp",
        Unsupported("seccomp filters of the program are not supported"),
        &[],
    ),
    r(SYS_bpf, "bpf", Unsupported("bpf is not supported"), &[]),
    r(
        SYS_perf_event_open,
        "perf_event_open",
        Unsupported("perf_event_open is not supported"),
        &[],
    ),
    r(SYS_mount, "mount", NO_ADMIN, &[]),
    r(SYS_umount2, "umount2", NO_ADMIN, &[]),
    r(SYS_chroot, "chroot", NO_ADMIN, &[]),
    r(SYS_pivot_root, "pivot_root", NO_ADMIN, &[]),
    r(SYS_reboot, "reboot", NO_ADMIN, &[]),
    r(SYS_sethostname, "sethostname", NO_ADMIN, &[]),
    r(SYS_setdomainname, "setdomainname", NO_ADMIN, &[]),
    r(SYS_syslog, "syslog", NO_ADMIN, &[]),
    r(SYS_init_module, "init_module", NO_ADMIN, &[]),
    r(SYS_delete_module, "delete_module", NO_ADMIN, &[]),
    r(SYS_kexec_load, "kexec_load", NO_ADMIN, &[]),
    r(SYS_swapon, "swapon", NO_ADMIN, &[]),
    r(SYS_swapoff, "swapoff", NO_ADMIN, &[]),
    r(SYS_acct, "acct", NO_ADMIN, &[]),
    r(
        SYS_landlock_create_ruleset,
        "landlock_create_ruleset",
        Emulate,
        &[],
    ),
    r(SYS_restart_syscall, "restart_syscall", Emulate, &[]).blocking(),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_names_match_libc() {
        let mut seen = std::collections::HashSet::new();
        for row in ROWS {
            assert!(seen.insert(row.no), "duplicate row for {}", row.name);
        }
        assert_eq!(super::super::lookup(SYS_read).map(|r| r.name), Some("read"));
        assert_eq!(
            super::super::lookup(SYS_exit_group).map(|r| r.name),
            Some("exit_group")
        );
        assert!(super::super::lookup(-1).is_none());
        assert!(super::super::lookup(100_000).is_none());
    }
}
