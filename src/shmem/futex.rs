//! The Linux futex, process-shared: the one way a process sleeps on a word of shared memory.
//!
//! Owns: nothing but two functions. [`futex_wait`] puts the calling process to sleep while an
//! `AtomicU32` still holds an expected value; [`futex_wake`] wakes processes sleeping on that
//! word. The lock types in [`super::lwlock`] are built on them; anything else that must sleep
//! until another process changes a word of shared memory (a proc array slot's wait futex,
//! the WAL flush position) should use them too, never its own syscall.
//!
//! # Why the *shared* futex
//!
//! The kernel keys a private futex (`FUTEX_PRIVATE_FLAG`) by (address space, virtual
//! address), so a wake in one process never reaches a sleeper in another: locks built on it
//! hang across `fork` (measured, see CRATES.md). A shared futex is keyed by the backing page
//! of the `MAP_SHARED` mapping, so postmaster children that inherited the segment wake one
//! another. Everything here therefore uses `linux_futex::Shared` and nothing else.
//!
//! # The protocol every caller follows (no lost wakeups)
//!
//! 1. A waiter reads the word, decides it must sleep, publishes that fact (for example sets a
//!    "waiters" bit with an atomic read-modify-write) and calls `futex_wait(word, v)` with
//!    the value `v` it last saw, *including* that bit.
//! 2. The kernel compares `*word == v` and enqueues the sleeper atomically with respect to
//!    `futex_wake`. If another process changed the word in between, the wait returns
//!    [`FutexWait::ValueChanged`] at once instead of sleeping.
//! 3. A waker first changes the word (releasing the lock, advancing the position), then calls
//!    `futex_wake` if it saw the "waiters" fact. Either the sleeper was already enqueued and
//!    is woken, or it had not yet reached the kernel and its comparison fails.
//! 4. Every return from `futex_wait` may be spurious (signals, unrelated value changes,
//!    wakes meant for others): the caller re-reads the word and loops.
//!
//! # Never `std::sync` in shared memory
//!
//! `std::sync::Mutex`, `Condvar`, `RwLock`, `parking_lot` and `atomic-wait` all use private
//! futexes or per-process state; placed in the shared segment they hang or corrupt. Shared
//! memory holds only atomics, plain data, and the locks of this folder.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use linux_futex::{AsFutex, Futex, Shared, TimedWaitError, WaitError};

/// Why [`futex_wait`] returned. None of the outcomes proves the awaited condition holds: the
/// caller always re-reads the word (rule 4 of the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutexWait {
    /// Woken by a `futex_wake` (or spuriously, which the kernel permits).
    Woken,
    /// The word did not hold `expected` when the kernel looked; the process did not sleep.
    ValueChanged,
    /// A signal handler ran while sleeping. Signals set flags; the caller re-checks them.
    Interrupted,
    /// The timeout passed without a wake.
    TimedOut,
}

/// The shared (cross-process) view of `atom` as a futex.
fn shared_futex(atom: &AtomicU32) -> &Futex<Shared> {
    AsFutex::<Shared>::as_futex(atom)
}

/// Sleeps while `atom` holds `expected`, until woken by [`futex_wake`], a signal, or
/// `timeout` (relative, measured on CLOCK_MONOTONIC; `None` sleeps without limit).
///
/// `atom` must live in memory every cooperating process maps with `MAP_SHARED` (or in this
/// process only, where a shared futex behaves like a private one, only slower).
pub fn futex_wait(atom: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    let futex = shared_futex(atom);
    match timeout {
        None => match futex.wait(expected) {
            Ok(()) => FutexWait::Woken,
            Err(WaitError::WrongValue) => FutexWait::ValueChanged,
            Err(WaitError::Interrupted) => FutexWait::Interrupted,
        },
        Some(timeout) => match futex.wait_for(expected, timeout) {
            Ok(()) => FutexWait::Woken,
            Err(TimedWaitError::WrongValue) => FutexWait::ValueChanged,
            Err(TimedWaitError::Interrupted) => FutexWait::Interrupted,
            Err(TimedWaitError::TimedOut) => FutexWait::TimedOut,
        },
    }
}

/// Wakes up to `n` processes sleeping in [`futex_wait`] on `atom` (`i32::MAX`: all of them)
/// and returns how many were woken. Change the word *before* calling this.
pub fn futex_wake(atom: &AtomicU32, n: i32) -> i32 {
    debug_assert!(n > 0, "futex_wake of {n} waiters wakes nobody");
    shared_futex(atom).wake(n)
}

/// Wakes every process sleeping on `atom`.
pub fn futex_wake_all(atom: &AtomicU32) -> i32 {
    futex_wake(atom, i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::testing::{fork_children, wait_children, wait_until_sleeping, SharedMapping};
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    #[test]
    fn wait_returns_at_once_when_value_differs() {
        let word = AtomicU32::new(7);
        assert_eq!(futex_wait(&word, 8, None), FutexWait::ValueChanged);
    }

    #[test]
    fn wait_times_out_without_wake() {
        let word = AtomicU32::new(0);
        let start = Instant::now();
        let outcome = futex_wait(&word, 0, Some(Duration::from_millis(20)));
        assert_eq!(outcome, FutexWait::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(15));
    }

    #[test]
    fn wake_without_sleepers_wakes_nobody() {
        let word = AtomicU32::new(0);
        assert_eq!(futex_wake_all(&word), 0);
    }

    /// A child sleeps on a word of the shared mapping; the parent changes the word and wakes
    /// it. With a private futex the child would never wake and the test would hit the
    /// deadline.
    #[test]
    fn wake_reaches_sleeper_in_other_process() {
        let mapping = SharedMapping::<AtomicU32>::new_zeroed();
        let word = mapping.get();
        let pids = fork_children(1, |_| {
            while word.load(Ordering::SeqCst) == 0 {
                futex_wait(word, 0, None);
            }
        });
        wait_until_sleeping(pids[0]);
        word.store(1, Ordering::SeqCst);
        assert_eq!(futex_wake_all(word), 1, "the child was asleep on the futex");
        wait_children(pids);
    }
}
