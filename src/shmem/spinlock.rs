//! The spinlock: PostgreSQL's `s_lock`, for a handful of instructions of shared state.
//!
//! Owns: [`SpinLock`] (one `AtomicU32` in shared memory, 0 = free, 1 = held) with its RAII
//! [`SpinLockGuard`], and [`SpinLocked<T>`], a spinlock next to a small `Copy` value it
//! protects, so callers read and write that value without `unsafe`.
//!
//! # When to use it
//!
//! For critical sections of a few dozen instructions on a few words (a buffer header's
//! fields, the WAL insert position, a request queue's head and tail), where the cost of the
//! lock must be a single atomic instruction. Anything longer, anything that may wait, and
//! anything readers share goes under an [`LWLock`](super::lwlock::LWLock) instead.
//!
//! # The rule: nothing but plain loads and stores while a spinlock is held
//!
//! While a spinlock is held: **no syscalls** (no I/O, no sleeping, no futex, no logging), **no
//! allocation**, **no other lock** except another spinlock taken in the documented order,
//! **no code that can panic or return an error** on anything a client or the disk controls,
//! and no loops of unbounded length. Waiters spin and then sleep without any wake-up, so a
//! holder that is slow makes every waiter burn CPU or lose milliseconds; a holder that is
//! descheduled (there are only 2 cores) stalls them all. Copy what you need out, release,
//! then do the work.
//!
//! # Invariants
//!
//! * All-zero bytes are a free lock, so a zero-filled segment needs no initialisation; after
//!   a crash restart the postmaster zeroes the segment (or calls `init`) while no child runs.
//! * Acquire ordering on lock, Release on unlock: everything written under the lock by one
//!   process is visible to the next process that takes it.
//! * A process that dies holding a spinlock leaves it held forever. That is a crash by
//!   definition (any abnormal exit is): the postmaster's crash restart reinitialises shared
//!   memory. A waiter that spins for [`STUCK_SPINLOCK_TIMEOUT`] panics with "stuck spinlock",
//!   as PostgreSQL does, which turns a wedged server into a crash restart.
//!
//! Never put `std::sync` types (Mutex, RwLock, Condvar, OnceLock ...) in shared memory: they
//! rely on per-process state and hang or corrupt across processes.
//!
//! Who may call: any process attached to the segment, from any code that obeys the rule above.

use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Busy-wait iterations (each a relaxed load and a CPU pause hint) before a waiter gives up its
/// time slice. Short, because with 2 cores a descheduled holder cannot release the lock while
/// we spin; PostgreSQL's adaptive `spins_per_delay` starts at 100.
const SPINS_PER_DELAY: u32 = 100;

/// Delays (after `SPINS_PER_DELAY` spins each) spent in `sched_yield` before sleeping.
const YIELDS_BEFORE_SLEEP: u32 = 10;

/// First and largest sleep between spin rounds; the sleep grows by 1.5× per round.
const MIN_DELAY: Duration = Duration::from_micros(10);
const MAX_DELAY: Duration = Duration::from_millis(1);

/// A waiter that has been sleeping this long panics ("stuck spinlock"): no legal critical
/// section lasts a fraction of this, so the holder is wedged or dead (PostgreSQL: ~1 minute+).
pub const STUCK_SPINLOCK_TIMEOUT: Duration = Duration::from_secs(60);

const FREE: u32 = 0;
const HELD: u32 = 1;

/// A test-and-test-and-set spinlock that lives in shared memory. `#[repr(C)]`, 4 bytes, no
/// pointers; all-zero bytes are a free lock.
#[repr(C)]
#[derive(Default)]
pub struct SpinLock {
    /// `FREE` or `HELD`. Written by: the holder (release) and the acquirer (swap).
    state: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<SpinLock>() == 4);

impl SpinLock {
    /// A free lock (for in-process use and for writing into a fresh segment).
    pub const fn new() -> SpinLock {
        SpinLock {
            state: AtomicU32::new(FREE),
        }
    }

    /// Makes the lock free again, whatever state a crashed process left it in. `&mut self`
    /// proves that no other process or thread is using it (the postmaster during crash
    /// restart, while no child is alive).
    pub fn init(&mut self) {
        *self.state.get_mut() = FREE;
    }

    /// Takes the lock, spinning and then sleeping briefly while another process holds it.
    /// Panics with "stuck spinlock" after [`STUCK_SPINLOCK_TIMEOUT`].
    #[inline]
    pub fn lock(&self) -> SpinLockGuard<'_> {
        if self.try_acquire() {
            return SpinLockGuard { lock: self };
        }
        self.lock_slow()
    }

    /// Takes the lock if it is free right now.
    #[inline]
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_>> {
        self.try_acquire().then(|| SpinLockGuard { lock: self })
    }

    /// Whether some process holds the lock at this instant (for assertions and diagnostics;
    /// it does not say who).
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) == HELD
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        // A plain load first keeps the cache line shared while someone else holds the lock;
        // only a free-looking lock is worth the exclusive-ownership swap.
        self.state.load(Ordering::Relaxed) == FREE
            && self.state.swap(HELD, Ordering::Acquire) == FREE
    }

    #[cold]
    fn lock_slow(&self) -> SpinLockGuard<'_> {
        let mut delays: u32 = 0;
        let mut delay = MIN_DELAY;
        let mut sleeping_since: Option<Instant> = None;
        loop {
            for _ in 0..SPINS_PER_DELAY {
                if self.try_acquire() {
                    return SpinLockGuard { lock: self };
                }
                spin_loop();
            }
            // The holder is probably descheduled: let it (or anyone) run.
            if delays < YIELDS_BEFORE_SLEEP {
                std::thread::yield_now();
            } else {
                let since = *sleeping_since.get_or_insert_with(Instant::now);
                if since.elapsed() > STUCK_SPINLOCK_TIMEOUT {
                    panic!("stuck spinlock detected at {:p}", self);
                }
                std::thread::sleep(delay);
                delay = (delay * 3 / 2).min(MAX_DELAY);
            }
            delays = delays.saturating_add(1);
        }
    }

    #[inline]
    fn release(&self) {
        debug_assert!(self.is_locked(), "releasing a spinlock that is not held");
        self.state.store(FREE, Ordering::Release);
    }
}

/// Proof that this process holds a [`SpinLock`]; dropping it releases the lock. Hold it for a
/// few instructions only (see the module doc's rule).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a> {
    lock: &'a SpinLock,
}

impl Drop for SpinLockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.release();
    }
}

/// A [`SpinLock`] and the small plain value it protects, side by side in shared memory.
///
/// `T` must be plain data: `Copy` (so it owns no heap memory and needs no `Drop`), no
/// pointers or references (they would point into one process only), and valid when all its
/// bytes are zero if the segment is zero-filled rather than written with [`SpinLocked::new`].
/// Integers, arrays of integers, and `#[repr(C)]` structs of those qualify.
#[repr(C)]
#[derive(Default)]
pub struct SpinLocked<T> {
    lock: SpinLock,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard of `lock`, which gives one process and
// one thread at a time access to it; `T: Send` because the value is handed between threads.
unsafe impl<T: Copy + Send> Sync for SpinLocked<T> {}

impl<T: Copy> SpinLocked<T> {
    /// A free lock protecting `value`.
    pub const fn new(value: T) -> SpinLocked<T> {
        SpinLocked {
            lock: SpinLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Frees the lock and sets the value, whatever state a crashed process left them in;
    /// `&mut self` proves nobody else uses them.
    pub fn init(&mut self, value: T) {
        self.lock.init();
        *self.value.get_mut() = value;
    }

    /// Takes the lock; the guard derefs to the value.
    #[inline]
    pub fn lock(&self) -> SpinLockedGuard<'_, T> {
        SpinLockedGuard {
            _guard: self.lock.lock(),
            value: &self.value,
        }
    }

    /// Takes the lock if it is free right now.
    #[inline]
    pub fn try_lock(&self) -> Option<SpinLockedGuard<'_, T>> {
        self.lock.try_lock().map(|guard| SpinLockedGuard {
            _guard: guard,
            value: &self.value,
        })
    }

    /// A consistent copy of the value.
    #[inline]
    pub fn get(&self) -> T {
        *self.lock()
    }

    /// Replaces the value.
    #[inline]
    pub fn set(&self, value: T) {
        *self.lock() = value;
    }

    /// Runs `f` on the value under the lock. `f` must obey the spinlock rule (no syscalls, no
    /// allocation, no panics on external input, a few instructions).
    #[inline]
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.lock())
    }

    /// Whether some process holds the lock at this instant (for assertions).
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }
}

/// Access to a [`SpinLocked`] value while its lock is held.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockedGuard<'a, T> {
    _guard: SpinLockGuard<'a>,
    value: &'a UnsafeCell<T>,
}

impl<T> std::ops::Deref for SpinLockedGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other guard (in any process) exists; the
        // only references to the value are derived from this guard and die with it.
        unsafe { &*self.value.get() }
    }
}

impl<T> std::ops::DerefMut for SpinLockedGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; `&mut self` makes this the only reference derived from the
        // guard.
        unsafe { &mut *self.value.get() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::testing::{fork_children, wait_children, SharedMapping};

    const CHILDREN: usize = 4;
    const INCREMENTS_PER_CHILD: u64 = 200_000;

    #[repr(C)]
    struct Counter {
        lock: SpinLock,
        /// Deliberately not atomic: only the spinlock keeps the increments from being lost.
        value: UnsafeCell<u64>,
    }

    #[test]
    fn try_lock_fails_while_held_and_succeeds_after_release() {
        let lock = SpinLock::new();
        let guard = lock.lock();
        assert!(lock.is_locked());
        assert!(lock.try_lock().is_none());
        drop(guard);
        assert!(!lock.is_locked());
        assert!(lock.try_lock().is_some());
        assert!(!lock.is_locked());
    }

    #[test]
    fn zeroed_bytes_are_a_free_lock() {
        let mapping = SharedMapping::<SpinLock>::new_zeroed();
        assert!(!mapping.get().is_locked());
        assert!(mapping.get().try_lock().is_some());
    }

    #[test]
    fn init_frees_a_lock_left_held() {
        let mut lock = SpinLock::new();
        std::mem::forget(lock.lock());
        assert!(lock.is_locked());
        lock.init();
        assert!(!lock.is_locked());
    }

    /// 4 processes each do 200,000 read-then-write increments of a plain u64 in the shared
    /// mapping under the spinlock; any broken exclusion loses increments.
    #[test]
    fn forked_processes_never_lose_locked_increments() {
        let mapping = SharedMapping::<Counter>::new_zeroed();
        let counter = mapping.get();
        let pids = fork_children(CHILDREN, |_| {
            for _ in 0..INCREMENTS_PER_CHILD {
                let _guard = counter.lock.lock();
                // SAFETY: the spinlock is held, so no other process touches the value.
                unsafe {
                    let v = std::ptr::read_volatile(counter.value.get());
                    std::ptr::write_volatile(counter.value.get(), v + 1);
                }
            }
        });
        wait_children(pids);
        let _guard = counter.lock.lock();
        // SAFETY: all children have exited and the lock is held.
        let total = unsafe { *counter.value.get() };
        assert_eq!(total, CHILDREN as u64 * INCREMENTS_PER_CHILD);
    }

    /// The same through `SpinLocked`, where two fields must always move together.
    #[test]
    fn spin_locked_pair_stays_consistent_across_processes() {
        #[derive(Clone, Copy, Default)]
        #[repr(C)]
        struct Pair {
            a: u64,
            b: u64,
        }
        let mapping = SharedMapping::<SpinLocked<Pair>>::new_zeroed();
        let pair = mapping.get();
        let pids = fork_children(CHILDREN, |_| {
            for _ in 0..INCREMENTS_PER_CHILD / 4 {
                pair.update(|p| {
                    p.a += 1;
                    p.b += 1;
                });
                let seen = pair.get();
                assert_eq!(seen.a, seen.b);
            }
        });
        wait_children(pids);
        let Pair { a, b } = pair.get();
        assert_eq!((a, b), (INCREMENTS_PER_CHILD, INCREMENTS_PER_CHILD));
    }

    #[test]
    fn spin_locked_get_set_update() {
        let cell = SpinLocked::new(5u32);
        assert_eq!(cell.get(), 5);
        cell.set(7);
        assert_eq!(cell.update(|v| std::mem::replace(v, 9)), 7);
        assert_eq!(cell.get(), 9);
        let guard = cell.lock();
        assert!(cell.is_locked());
        assert!(cell.try_lock().is_none());
        drop(guard);
        assert!(!cell.is_locked());
    }
}
