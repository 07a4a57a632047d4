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

/// Helpers for tests that fork processes sharing one anonymous `MAP_SHARED` mapping, as the
/// postmaster and its children do. Used by the tests of every lock in this folder.
#[cfg(test)]
pub(crate) mod fork_test_support {
    use std::num::NonZeroUsize;
    use std::ptr::NonNull;
    use std::time::{Duration, Instant};

    use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::{fork, ForkResult, Pid};

    /// How long forked children may run before the parent kills them and fails the test.
    pub(crate) const CHILD_DEADLINE: Duration = Duration::from_secs(30);

    /// A zero-filled `MAP_SHARED | MAP_ANONYMOUS` mapping holding one `T`, inherited by forked
    /// children at the same address. `T` must be valid when all bytes are zero (atomics,
    /// integers, the locks of this folder) and must not need `Drop`.
    pub(crate) struct SharedMapping<T> {
        ptr: NonNull<T>,
        len_bytes: usize,
    }

    impl<T> SharedMapping<T> {
        pub(crate) fn new_zeroed() -> Self {
            let len_bytes = std::mem::size_of::<T>().max(1);
            assert!(
                std::mem::align_of::<T>() <= 4096,
                "mmap gives page alignment only"
            );
            // SAFETY: a fresh anonymous mapping at an address the kernel chooses aliases no
            // existing Rust object; the result is checked.
            let addr = unsafe {
                mmap_anonymous(
                    None,
                    NonZeroUsize::new(len_bytes).expect("non-zero length"),
                    ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                    MapFlags::MAP_SHARED,
                )
            }
            .expect("mmap_anonymous(MAP_SHARED)");
            SharedMapping {
                ptr: addr.cast(),
                len_bytes,
            }
        }

        pub(crate) fn get(&self) -> &T {
            // SAFETY: the mapping is page aligned, at least size_of::<T>() long, zero filled,
            // and T is valid when zeroed (the contract of new_zeroed). It stays mapped as long
            // as self lives, and only shared references are handed out.
            unsafe { self.ptr.as_ref() }
        }
    }

    impl<T> Drop for SharedMapping<T> {
        fn drop(&mut self) {
            // SAFETY: the mapping was created by new_zeroed with this length, and no reference
            // from get() outlives self.
            unsafe { munmap(self.ptr.cast(), self.len_bytes) }.expect("munmap");
        }
    }

    /// Forks `n` children; child `i` runs `body(i)` and then `_exit`s with 0, or with 101 if
    /// `body` panicked. A child never returns into the test harness. The caller must pass
    /// the result to [`wait_children`].
    ///
    /// The parent is the multithreaded test harness, so a child should touch only the shared
    /// mapping, atomics and the locks under test (no stdout, no locks of other threads).
    pub(crate) fn fork_children(n: usize, body: impl Fn(usize)) -> Vec<Pid> {
        let mut pids = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: the child runs only `body` (shared memory and atomics) and leaves with
            // _exit, never running the harness or destructors that belong to the parent.
            match unsafe { fork() }.expect("fork") {
                ForkResult::Child => {
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(i)));
                    let code = if outcome.is_ok() { 0 } else { 101 };
                    // SAFETY: _exit ends this process at once without touching state shared
                    // with the parent's threads.
                    unsafe { libc::_exit(code) };
                }
                ForkResult::Parent { child } => pids.push(child),
            }
        }
        pids
    }

    /// Waits until process `pid` is asleep in the kernel (state `S` in `/proc/<pid>/stat`).
    /// The children of these tests sleep only in `futex_wait`, so this tells the parent a
    /// child has really gone to sleep on the futex rather than still spinning towards it.
    pub(crate) fn wait_until_sleeping(pid: Pid) {
        let deadline = Instant::now() + CHILD_DEADLINE;
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
            // The state follows the parenthesised command name: "pid (comm) S ...".
            let state = stat
                .rsplit(") ")
                .next()
                .and_then(|rest| rest.chars().next());
            if state == Some('S') {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "process {pid} never went to sleep"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits for every child in `pids` and asserts each exited with code 0. After
    /// [`CHILD_DEADLINE`] the remaining children are killed and the test fails (a hang).
    pub(crate) fn wait_children(pids: Vec<Pid>) {
        let deadline = Instant::now() + CHILD_DEADLINE;
        let mut running = pids;
        let mut failures = Vec::new();
        while !running.is_empty() {
            running.retain(|&pid| match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => true,
                Ok(WaitStatus::Exited(_, 0)) => false,
                Ok(status) => {
                    failures.push(format!("{status:?}"));
                    false
                }
                Err(e) => panic!("waitpid({pid}): {e}"),
            });
            if Instant::now() > deadline {
                for &pid in &running {
                    let _ = kill(pid, Signal::SIGKILL);
                    let _ = waitpid(pid, None);
                }
                panic!("children {running:?} still running after {CHILD_DEADLINE:?}: hang");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(failures.is_empty(), "children failed: {failures:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::fork_test_support::{
        fork_children, wait_children, wait_until_sleeping, SharedMapping,
    };
    use super::*;
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
