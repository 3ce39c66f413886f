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
