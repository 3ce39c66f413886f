//! Ctrl-C and friends for the recorder: a flag set by SIGINT/SIGTERM/SIGHUP that also interrupts
//! a blocking waitpid (no SA_RESTART), so recording can stop and mark the trace incomplete.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// Install the handlers. Call once, before spawning.
pub fn install() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

/// The signal that asked us to stop, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Kill ourselves with `sig` using its default action (to pass on a tracee's death by signal).
pub fn die_of_signal(sig: i32) -> ! {
    if let Ok(s) = Signal::try_from(sig) {
        let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: restoring the default disposition of a signal is always sound.
        let _ = unsafe { sigaction(s, &dfl) };
        // No core dump from us: the program's dump (if any) already happened or is recorded.
        let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
        let mut set = SigSet::empty();
        set.add(s);
        let _ = set.thread_unblock();
        let _ = nix::sys::signal::raise(s);
    }
    std::process::exit(128 + sig)
}

static ALARM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_alarm(_: libc::c_int) {
    ALARM.store(true, Ordering::SeqCst);
}

/// A deadline for blocking waits: SIGALRM interrupts waitpid (EINTR) when it passes, and then
/// every millisecond until disarmed, so a wait that started just after the first tick still ends.
pub struct Deadline(());

impl Deadline {
    /// Arm a deadline `after` from now.
    pub fn arm(after: std::time::Duration) -> Deadline {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let action = SigAction::new(
                SigHandler::Handler(on_alarm),
                SaFlags::empty(),
                SigSet::empty(),
            );
            // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
            let _ = unsafe { sigaction(Signal::SIGALRM, &action) };
        });
        ALARM.store(false, Ordering::SeqCst);
        let after = after.max(std::time::Duration::from_micros(100));
        set_itimer(after, std::time::Duration::from_millis(1));
        Deadline(())
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        ALARM.load(Ordering::SeqCst)
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        set_itimer(std::time::Duration::ZERO, std::time::Duration::ZERO);
        ALARM.store(false, Ordering::SeqCst);
    }
}

fn set_itimer(value: std::time::Duration, interval: std::time::Duration) {
    let tv = |d: std::time::Duration| libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    };
    let it = libc::itimerval {
        it_interval: tv(interval),
        it_value: tv(value),
    };
    // SAFETY: setitimer reads the itimerval we pass and writes nothing (old value pointer null).
    unsafe {
        libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut());
    }
}

/// Run `f` (which may start threads) with our stop signals and SIGALRM blocked, so threads it
/// starts never take them: they must interrupt the main thread's waitpid.
pub fn without_stop_signals<T>(f: impl FnOnce() -> T) -> T {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGALRM,
    ] {
        set.add(s);
    }
    let mut old = SigSet::empty();
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&set),
        Some(&mut old),
    );
    let r = f();
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&old),
        None,
    );
    r
}
