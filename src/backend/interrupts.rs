//! Signals a backend receives and the interrupts they raise (PostgreSQL's
//! `CHECK_FOR_INTERRUPTS`).
//!
//! Handlers only set atomic flags (async-signal-safe); the backend acts on them at
//! safe points: while waiting for client input and in [`check_for_interrupts`], which
//! long-running work calls. SIGQUIT is the exception: as PostgreSQL's `quickdie`, its
//! handler writes a pre-encoded message to the client socket and `_exit(2)`s at once,
//! because the postmaster sends it when shared memory may be corrupt.
//!
//! Handlers are installed without SA_RESTART so a blocking socket read returns EINTR
//! and the flag is seen promptly. SIGTERM also shuts the client socket's read side,
//! so a read that starts after the signal returns at once instead of blocking.
//!
//! | signal  | meaning                         | effect                              |
//! |---------|---------------------------------|-------------------------------------|
//! | SIGINT  | cancel request                  | running statement ends with 57014   |
//! | SIGTERM | fast shutdown / terminate       | FATAL 57P01, session ends           |
//! | SIGQUIT | crash restart / immediate stop  | message to client, `_exit(2)`       |
//! | SIGHUP  | configuration reload            | settings re-read when idle          |
//! | SIGALRM | authentication timeout          | `_exit(1)` while in startup         |
//! | SIGALRM | statement_timeout (after startup) | running statement ends with 57014 |

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

use nix::sys::signal::Signal;

use crate::error::{sqlstate, QuillError, QuillResult};
use crate::shmem::QuitReason;

static CANCEL_PENDING: AtomicBool = AtomicBool::new(false);
static TERMINATE_PENDING: AtomicBool = AtomicBool::new(false);
static RELOAD_PENDING: AtomicBool = AtomicBool::new(false);
/// Set by SIGALRM while a statement runs under `statement_timeout`.
static STATEMENT_TIMEOUT_PENDING: AtomicBool = AtomicBool::new(false);
/// Whether the statement_timeout timer may be running (so disarming needs a syscall).
static TIMER_ARMED: AtomicBool = AtomicBool::new(false);
/// True while the backend is still in startup: SIGALRM ends the process then.
static IN_STARTUP: AtomicBool = AtomicBool::new(true);
/// The client socket, for the SIGQUIT handler's last message (-1 = none).
static CLIENT_FD: AtomicI32 = AtomicI32::new(-1);
/// Pre-encoded ErrorResponse/NoticeResponse messages for SIGQUIT, indexed by
/// [`QuitReason`].
static QUIT_MESSAGES: OnceLock<[Vec<u8>; 2]> = OnceLock::new();

extern "C" fn on_sigint(_: libc::c_int) {
    CANCEL_PENDING.store(true, Ordering::SeqCst);
}

extern "C" fn on_sigterm(_: libc::c_int) {
    TERMINATE_PENDING.store(true, Ordering::SeqCst);
    // A flag alone can be missed: set while a statement runs, it is not seen by a
    // read the backend then blocks in. Shutting the socket's read side makes every
    // read from now on return at once (EOF), and the reader checks the flag.
    let fd = CLIENT_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: shutdown(2) is async-signal-safe and only affects this socket.
        unsafe { libc::shutdown(fd, libc::SHUT_RD) };
    }
}

extern "C" fn on_sighup(_: libc::c_int) {
    RELOAD_PENDING.store(true, Ordering::SeqCst);
}

extern "C" fn on_sigalrm(_: libc::c_int) {
    if IN_STARTUP.load(Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(1) };
    }
    STATEMENT_TIMEOUT_PENDING.store(true, Ordering::SeqCst);
}

extern "C" fn on_sigquit(_: libc::c_int) {
    let fd = CLIENT_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        if let (Some(messages), Some(shmem)) = (QUIT_MESSAGES.get(), crate::shmem::try_shmem()) {
            let reason = shmem.control().quit_reason.load(Ordering::SeqCst);
            let message = &messages[(reason as usize).min(1)];
            // SAFETY: write(2) is async-signal-safe; the buffer is immutable after
            // initialisation (OnceLock) and outlives the call.
            unsafe {
                libc::write(fd, message.as_ptr().cast(), message.len());
            }
        }
    }
    // SAFETY: _exit is async-signal-safe; exit code 2 tells the postmaster this child
    // did not finish cleanly, as PostgreSQL's quickdie does.
    unsafe { libc::_exit(2) };
}

/// Installs the backend's handlers (right after fork) and unblocks signals.
///
/// `quit_messages` are the bytes to send on SIGQUIT for a crash restart and for an
/// immediate shutdown.
pub fn install_backend_handlers(client_fd: i32, quit_messages: [Vec<u8>; 2]) {
    let _ = QUIT_MESSAGES.set(quit_messages);
    CLIENT_FD.store(client_fd, Ordering::SeqCst);
    let handlers: [(Signal, extern "C" fn(libc::c_int)); 5] = [
        (Signal::SIGINT, on_sigint),
        (Signal::SIGTERM, on_sigterm),
        (Signal::SIGHUP, on_sighup),
        (Signal::SIGALRM, on_sigalrm),
        (Signal::SIGQUIT, on_sigquit),
    ];
    crate::postmaster::signals::install_child_handlers(
        &handlers,
        &[Signal::SIGCHLD, Signal::SIGUSR1, Signal::SIGUSR2],
    );
}

/// Arms the authentication timeout: the process exits if startup takes longer.
pub fn arm_startup_timeout(seconds: u32) {
    IN_STARTUP.store(true, Ordering::SeqCst);
    // SAFETY: alarm has no memory-safety preconditions.
    unsafe { libc::alarm(seconds) };
}

/// Startup finished: SIGALRM no longer ends the process.
pub fn startup_done() {
    IN_STARTUP.store(false, Ordering::SeqCst);
    // SAFETY: alarm has no memory-safety preconditions.
    unsafe { libc::alarm(0) };
}

/// Forgets a cancel that arrived while idle (PostgreSQL ignores those).
pub fn clear_cancel() {
    CANCEL_PENDING.store(false, Ordering::SeqCst);
}

/// Arms (or with 0, disarms) the `statement_timeout` timer for the statement about
/// to run. A one-shot ITIMER_REAL delivers SIGALRM when it expires.
pub fn arm_statement_timeout(timeout_ms: u64) {
    STATEMENT_TIMEOUT_PENDING.store(false, Ordering::SeqCst);
    // No syscall per statement when no timeout is set and none is armed.
    if !TIMER_ARMED.swap(timeout_ms > 0, Ordering::SeqCst) && timeout_ms == 0 {
        return;
    }
    let value = libc::timeval {
        tv_sec: (timeout_ms / 1000) as libc::time_t,
        tv_usec: ((timeout_ms % 1000) * 1000) as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: value,
    };
    // SAFETY: setitimer reads the struct we pass and writes nothing (old value null).
    unsafe {
        libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut());
    }
}

pub fn terminate_pending() -> bool {
    TERMINATE_PENDING.load(Ordering::SeqCst)
}

/// True once if a SIGHUP arrived since the last call.
pub fn take_reload() -> bool {
    RELOAD_PENDING.swap(false, Ordering::SeqCst)
}

/// The error that ends the session on SIGTERM.
pub fn terminate_error() -> QuillError {
    QuillError::fatal(
        sqlstate::ADMIN_SHUTDOWN,
        "terminating connection due to administrator command",
    )
}

/// PostgreSQL's CHECK_FOR_INTERRUPTS: long work calls this at safe points.
pub fn check_for_interrupts() -> QuillResult<()> {
    if TERMINATE_PENDING.load(Ordering::SeqCst) {
        return Err(terminate_error());
    }
    if CANCEL_PENDING.swap(false, Ordering::SeqCst) {
        return Err(QuillError::new(
            sqlstate::QUERY_CANCELED,
            "canceling statement due to user request",
        ));
    }
    if STATEMENT_TIMEOUT_PENDING.swap(false, Ordering::SeqCst) {
        return Err(QuillError::new(
            sqlstate::QUERY_CANCELED,
            "canceling statement due to statement timeout",
        ));
    }
    Ok(())
}

/// The text a client sees when the postmaster SIGQUITs this backend.
pub fn quit_message(reason: QuitReason) -> QuillError {
    match reason {
        QuitReason::Crash => QuillError::new(
            sqlstate::CRASH_SHUTDOWN,
            "terminating connection because of crash of another server process",
        )
        .with_detail(
            "The postmaster has commanded this server process to roll back the current transaction and exit, because another server process exited abnormally and possibly corrupted shared memory.",
        )
        .with_hint("In a moment you should be able to reconnect to the database and repeat your command."),
        QuitReason::ImmediateShutdown => QuillError::new(
            sqlstate::ADMIN_SHUTDOWN,
            "terminating connection due to immediate shutdown command",
        ),
    }
}
