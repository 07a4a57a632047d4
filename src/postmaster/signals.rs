//! The postmaster's signal handling: handlers only set a flag and write a byte to a
//! self-pipe (signal-hook), so the single-threaded main loop wakes up in `poll` and
//! does the real work outside signal context.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM};

/// Flags set by the postmaster's signal handlers.
pub struct PostmasterSignals {
    pub reload: Arc<AtomicBool>,
    pub smart: Arc<AtomicBool>,
    pub fast: Arc<AtomicBool>,
    pub immediate: Arc<AtomicBool>,
    pub child_exited: Arc<AtomicBool>,
    wake_read: UnixStream,
    wake_write: UnixStream,
}

impl PostmasterSignals {
    pub fn install() -> std::io::Result<PostmasterSignals> {
        let (wake_read, wake_write) = UnixStream::pair()?;
        wake_read.set_nonblocking(true)?;
        wake_write.set_nonblocking(true)?;
        let signals = PostmasterSignals {
            reload: Arc::default(),
            smart: Arc::default(),
            fast: Arc::default(),
            immediate: Arc::default(),
            child_exited: Arc::default(),
            wake_read,
            wake_write,
        };
        for (sig, flag) in [
            (SIGHUP, &signals.reload),
            (SIGTERM, &signals.smart),
            (SIGINT, &signals.fast),
            (SIGQUIT, &signals.immediate),
            (SIGCHLD, &signals.child_exited),
        ] {
            signal_hook::flag::register(sig, Arc::clone(flag))?;
            signal_hook::low_level::pipe::register(sig, signals.wake_write.try_clone()?)?;
        }
        Ok(signals)
    }

    /// The fd the main loop polls to wake up on any signal.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }

    /// Every fd a forked child must close.
    pub fn fds(&self) -> [RawFd; 2] {
        [self.wake_read.as_raw_fd(), self.wake_write.as_raw_fd()]
    }

    /// Empties the self-pipe after a wake-up.
    pub fn drain(&self) {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while matches!((&self.wake_read).read(&mut buf), Ok(n) if n > 0) {}
    }

    pub fn take(flag: &AtomicBool) -> bool {
        flag.swap(false, Ordering::SeqCst)
    }
}

/// A signal handler a forked child installs. It must only store to atomics or call
/// async-signal-safe functions (write, _exit).
pub type ChildSignalHandler = extern "C" fn(libc::c_int);

/// Sets a forked child's signal dispositions (replacing the postmaster's inherited
/// self-pipe handlers) and unblocks all signals. Handlers are installed without
/// SA_RESTART, so blocking calls return EINTR and flags are seen promptly.
pub fn install_child_handlers(
    handlers: &[(nix::sys::signal::Signal, ChildSignalHandler)],
    defaults: &[nix::sys::signal::Signal],
) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    for &(signal, handler) in handlers {
        let action = SigAction::new(
            SigHandler::Handler(handler),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler type's contract: atomics and async-signal-safe calls only.
        unsafe {
            let _ = sigaction(signal, &action);
        }
    }
    for &signal in defaults {
        // SAFETY: restoring the default disposition has no preconditions.
        unsafe {
            let _ = sigaction(
                signal,
                &SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty()),
            );
        }
    }
    let _ = SigSet::all().thread_unblock();
}
