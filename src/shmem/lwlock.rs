//! The lightweight lock: PostgreSQL's LWLock, a reader/writer lock in shared memory.
//!
//! Owns: [`LWLock`] (one `AtomicU32` state word; processes that must wait sleep on it with
//! the shared futex), its guards [`LWLockSharedGuard`] and [`LWLockExclusiveGuard`], and
//! [`LWLocked<T>`], an LWLock next to the data it protects, which hands out `&T` under the
//! shared lock and `&mut T` under the exclusive lock so callers never write `unsafe`.
//!
//! # When to use it
//!
//! For critical sections that may be long, may do I/O, or are mostly read: buffer content
//! locks, buffer-mapping partitions, the WAL write lock, the proc array, clog pages. A
//! waiter sleeps in the kernel instead of spinning. For a few instructions on a few words use
//! a [`SpinLock`](super::spinlock::SpinLock). Heavyweight (transaction-level) locks with
//! deadlock detection are a different subsystem built on top of these.
//!
//! # The state word
//!
//! ```text
//!  31         30            29              23..0
//! [EXCLUSIVE][HAS_WAITERS][WRITER_WAITING][ reserved ][ shared holder count ]
//! ```
//!
//! * `EXCLUSIVE`: one process holds the lock exclusively; the shared count is then 0.
//! * shared count: how many processes hold it shared; `EXCLUSIVE` is then clear.
//! * `HAS_WAITERS`: some process is, or is about to be, asleep in `futex_wait` on the word.
//! * `WRITER_WAITING`: a would-be exclusive holder went to sleep; new shared acquirers wait
//!   behind it, so a constant stream of readers cannot starve a writer.
//!
//! All-zero bytes are a free lock with no waiters, so a zero-filled segment needs no
//! initialisation. Every change is one atomic read-modify-write of the word, so the
//! transitions are totally ordered.
//!
//! # No lost wakeups
//!
//! A waiter (1) loads the word and sees it cannot acquire, (2) sets `HAS_WAITERS` with a
//! compare-exchange against exactly the value it loaded (if the word changed meanwhile, it
//! starts over: the lock may be free now), then (3) calls `futex_wait(word, value with
//! HAS_WAITERS)`. A releaser changes the word with one read-modify-write that also clears
//! `HAS_WAITERS`, and if the previous value had `HAS_WAITERS` it wakes every sleeper.
//! Because the compare-exchange in (2) and the release are read-modify-writes of the same
//! word, one comes first: if the release does, (2) fails and the waiter re-examines a free
//! lock; if (2) does, the releaser sees `HAS_WAITERS` and wakes. Between (2) and (3) the
//! release changes the word, so the kernel's compare in (3) fails and the waiter does not
//! sleep. A woken waiter that still cannot acquire sets `HAS_WAITERS` again before sleeping.
//! Acquiring never clears `HAS_WAITERS` (others may still sleep); only a wake-up does.
//!
//! A shared release wakes only when the count drops to 0: while any reader remains, neither
//! a sleeping writer nor a reader queued behind `WRITER_WAITING` can proceed, so an earlier
//! wake would be wasted. All sleepers are woken and race (no FIFO queue): the herd is small
//! (one process per connection) and the losers sleep again.
//!
//! # Rules for callers
//!
//! 1. Never take the same LWLock twice in one process, shared or exclusive. A second
//!    exclusive acquire self-deadlocks; a second shared acquire deadlocks as soon as a writer
//!    queues between them (writer preference).
//! 2. Take several LWLocks only in their documented order (see `src/shmem/README.md`).
//! 3. Locks are not interruptible: signals (query cancel, SIGTERM) set flags that are checked
//!    after the lock is released. A process that dies holding an LWLock is a crash, and
//!    crash restart reinitialises shared memory.
//! 4. Never put `std::sync` types in shared memory: they are per-process and hang across
//!    processes. Build on atomics, [`super::futex`], and the locks of this folder.
//!
//! Who may call: any process attached to the segment.

use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, Ordering};

use super::futex::{futex_wait, futex_wake_all};

const EXCLUSIVE: u32 = 1 << 31;
const HAS_WAITERS: u32 = 1 << 30;
const WRITER_WAITING: u32 = 1 << 29;
const SHARED_MASK: u32 = (1 << 24) - 1;
/// Any holder at all.
const HELD_MASK: u32 = EXCLUSIVE | SHARED_MASK;

/// Polls of the word before a waiter goes to sleep. Critical sections are usually short, so a
/// few polls often avoid two syscalls; with only 2 cores, spinning long steals the holder's CPU.
const SPINS_BEFORE_SLEEP: u32 = 50;

/// A reader/writer lock in shared memory. `#[repr(C)]`, 4 bytes, no pointers; all-zero bytes
/// are a free lock.
#[repr(C)]
#[derive(Default)]
pub struct LWLock {
    /// See the module doc's diagram. Written by acquirers, releasers and waiters, always
    /// with atomic read-modify-writes.
    state: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<LWLock>() == 4);

/// Which mode a waiter wants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exclusive,
}

impl LWLock {
    /// A free lock (for in-process use and for writing into a fresh segment).
    pub const fn new() -> LWLock {
        LWLock {
            state: AtomicU32::new(0),
        }
    }

    /// Makes the lock free with no waiters, whatever a crashed process left. `&mut self`
    /// proves nobody else uses it (the postmaster during crash restart, no child alive).
    pub fn init(&mut self) {
        *self.state.get_mut() = 0;
    }

    /// Takes the lock in shared mode, sleeping while it is held exclusively or a writer waits.
    #[inline]
    pub fn lock_shared(&self) -> LWLockSharedGuard<'_> {
        if !self.attempt(Mode::Shared) {
            self.wait_for(Mode::Shared);
        }
        LWLockSharedGuard { lock: self }
    }

    /// Takes the lock in exclusive mode, sleeping while anyone else holds it.
    #[inline]
    pub fn lock_exclusive(&self) -> LWLockExclusiveGuard<'_> {
        if !self.attempt(Mode::Exclusive) {
            self.wait_for(Mode::Exclusive);
        }
        LWLockExclusiveGuard { lock: self }
    }

    /// PostgreSQL's `LWLockAcquireOrWait`: takes the lock exclusively if it is free;
    /// otherwise sleeps until the holder releases it and returns `None` **without**
    /// taking it. For the WAL flush (group commit): a committer that finds the write
    /// lock busy waits for the flush in progress, then re-checks whether that flush
    /// already covered its record, instead of queueing for the lock and taking it in
    /// turn only to find nothing left to do.
    ///
    /// `None` means "the lock was released at least once, or the wait ended early"
    /// (a signal, a spurious wake-up): the caller re-examines its condition and calls
    /// again. It does not set `WRITER_WAITING`, since it does not mean to acquire.
    pub fn lock_exclusive_or_wait(&self) -> Option<LWLockExclusiveGuard<'_>> {
        loop {
            if self.attempt(Mode::Exclusive) {
                return Some(LWLockExclusiveGuard { lock: self });
            }
            let seen = self.state.load(Ordering::Relaxed);
            if seen & HELD_MASK == 0 {
                continue; // released meanwhile: try to take it
            }
            let sleeping_on = seen | HAS_WAITERS;
            if sleeping_on != seen
                && self
                    .state
                    .compare_exchange(seen, sleeping_on, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue; // the word moved (maybe a release): look again
            }
            // The release clears HAS_WAITERS and wakes us (or changed the word before
            // the kernel's compare, and we do not sleep): "No lost wakeups" above.
            futex_wait(&self.state, sleeping_on, None);
            // Acquire: what the holder wrote before releasing is visible to the caller.
            std::sync::atomic::fence(Ordering::Acquire);
            return None;
        }
    }

    /// Takes the lock in shared mode if that is possible without waiting.
    #[inline]
    pub fn try_lock_shared(&self) -> Option<LWLockSharedGuard<'_>> {
        self.attempt(Mode::Shared)
            .then(|| LWLockSharedGuard { lock: self })
    }

    /// Takes the lock in exclusive mode if that is possible without waiting.
    #[inline]
    pub fn try_lock_exclusive(&self) -> Option<LWLockExclusiveGuard<'_>> {
        self.attempt(Mode::Exclusive)
            .then(|| LWLockExclusiveGuard { lock: self })
    }

    /// Whether some process holds the lock exclusively at this instant. It cannot say which
    /// process: use it in assertions next to code that holds a guard
    /// (`debug_assert!(lock.is_held_exclusive())`).
    pub fn is_held_exclusive(&self) -> bool {
        self.state.load(Ordering::Relaxed) & EXCLUSIVE != 0
    }

    /// Whether some process holds the lock in either mode at this instant.
    pub fn is_held(&self) -> bool {
        self.state.load(Ordering::Relaxed) & HELD_MASK != 0
    }

    /// One attempt to acquire in `mode` without sleeping; loops only while the word changes
    /// under the compare-exchange. Keeps `HAS_WAITERS` (others may sleep); an exclusive
    /// acquirer clears `WRITER_WAITING` (the waiting writer, or one of several, got in).
    #[inline]
    fn attempt(&self, mode: Mode) -> bool {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let new = match mode {
                Mode::Shared => {
                    if current & (EXCLUSIVE | WRITER_WAITING) != 0 {
                        return false;
                    }
                    assert!(
                        current & SHARED_MASK < SHARED_MASK,
                        "LWLock shared count overflow"
                    );
                    current + 1
                }
                Mode::Exclusive => {
                    if current & HELD_MASK != 0 {
                        return false;
                    }
                    (current | EXCLUSIVE) & !WRITER_WAITING
                }
            };
            match self.state.compare_exchange_weak(
                current,
                new,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// The slow path: spin briefly, then announce ourselves (`HAS_WAITERS`, plus
    /// `WRITER_WAITING` for a writer) and sleep on the futex until the lock can be taken.
    /// See "No lost wakeups" in the module doc for why this cannot sleep forever.
    #[cold]
    fn wait_for(&self, mode: Mode) {
        for _ in 0..SPINS_BEFORE_SLEEP {
            spin_loop();
            if self.attempt(mode) {
                return;
            }
        }
        let announce = match mode {
            Mode::Shared => HAS_WAITERS,
            Mode::Exclusive => HAS_WAITERS | WRITER_WAITING,
        };
        loop {
            if self.attempt(mode) {
                return;
            }
            let seen = self.state.load(Ordering::Relaxed);
            if !self.must_wait(mode, seen) {
                continue;
            }
            let sleeping_on = seen | announce;
            if sleeping_on != seen
                && self
                    .state
                    .compare_exchange(seen, sleeping_on, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                // The word moved (maybe a release): look again before sleeping.
                continue;
            }
            // Returns at once if the word is no longer `sleeping_on`; every outcome (woken,
            // value changed, signal) leads back to a fresh attempt.
            futex_wait(&self.state, sleeping_on, None);
        }
    }

    /// Whether a process wanting `mode` cannot acquire given state `state`.
    fn must_wait(&self, mode: Mode, state: u32) -> bool {
        match mode {
            Mode::Shared => state & (EXCLUSIVE | WRITER_WAITING) != 0,
            Mode::Exclusive => state & HELD_MASK != 0,
        }
    }

    fn release_exclusive(&self) {
        let previous = self
            .state
            .fetch_and(!(EXCLUSIVE | HAS_WAITERS), Ordering::Release);
        debug_assert!(
            previous & EXCLUSIVE != 0 && previous & SHARED_MASK == 0,
            "exclusive release of LWLock in state {previous:#x}"
        );
        if previous & HAS_WAITERS != 0 {
            futex_wake_all(&self.state);
        }
    }

    fn release_shared(&self) {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            debug_assert!(
                current & EXCLUSIVE == 0 && current & SHARED_MASK > 0,
                "shared release of LWLock in state {current:#x}"
            );
            let mut new = current - 1;
            // The last reader out clears the flag in the same step that frees the lock, and
            // then wakes the sleepers (module doc, "No lost wakeups").
            let wake = new & SHARED_MASK == 0 && new & HAS_WAITERS != 0;
            if wake {
                new &= !HAS_WAITERS;
            }
            match self.state.compare_exchange_weak(
                current,
                new,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if wake {
                        futex_wake_all(&self.state);
                    }
                    return;
                }
                Err(actual) => current = actual,
            }
        }
    }
}

/// Proof that this process holds an [`LWLock`] in shared mode; dropping it releases.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LWLockSharedGuard<'a> {
    lock: &'a LWLock,
}

impl Drop for LWLockSharedGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.release_shared();
    }
}

/// Proof that this process holds an [`LWLock`] in exclusive mode; dropping it releases.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LWLockExclusiveGuard<'a> {
    lock: &'a LWLock,
}

impl Drop for LWLockExclusiveGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.release_exclusive();
    }
}

/// An [`LWLock`] and the data it protects, side by side in shared memory.
///
/// `T` must be plain data: no pointers or references (they point into one process), no
/// `Drop` that matters (shared memory is zeroed or overwritten, never dropped), and valid
/// when all its bytes are zero if the segment is zero-filled rather than written with
/// [`LWLocked::new`].
#[repr(C)]
#[derive(Default)]
pub struct LWLocked<T> {
    lock: LWLock,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through the guards: any number of `&T` under the shared
// lock (hence `T: Sync`) or one `&mut T` under the exclusive lock (hence `T: Send`), exactly
// the contract of a reader/writer lock, enforced across processes by `lock`.
unsafe impl<T: Send + Sync> Sync for LWLocked<T> {}

impl<T> LWLocked<T> {
    /// A free lock protecting `value`.
    pub const fn new(value: T) -> LWLocked<T> {
        LWLocked {
            lock: LWLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Frees the lock and sets the value, whatever a crashed process left; `&mut self` proves
    /// nobody else uses them.
    pub fn init(&mut self, value: T) {
        self.lock.init();
        *self.value.get_mut() = value;
    }

    /// Takes the lock shared; the guard derefs to `&T`.
    #[inline]
    pub fn lock_shared(&self) -> LWLockedSharedGuard<'_, T> {
        LWLockedSharedGuard {
            _guard: self.lock.lock_shared(),
            value: &self.value,
        }
    }

    /// Takes the lock exclusive; the guard derefs to `&T` and `&mut T`.
    #[inline]
    pub fn lock_exclusive(&self) -> LWLockedExclusiveGuard<'_, T> {
        LWLockedExclusiveGuard {
            _guard: self.lock.lock_exclusive(),
            value: &self.value,
        }
    }

    /// Takes the lock shared if that is possible without waiting.
    #[inline]
    pub fn try_lock_shared(&self) -> Option<LWLockedSharedGuard<'_, T>> {
        let guard = self.lock.try_lock_shared()?;
        Some(LWLockedSharedGuard {
            _guard: guard,
            value: &self.value,
        })
    }

    /// Takes the lock exclusive if that is possible without waiting.
    #[inline]
    pub fn try_lock_exclusive(&self) -> Option<LWLockedExclusiveGuard<'_, T>> {
        let guard = self.lock.try_lock_exclusive()?;
        Some(LWLockedExclusiveGuard {
            _guard: guard,
            value: &self.value,
        })
    }

    /// Whether some process holds the lock exclusively at this instant (for assertions).
    pub fn is_held_exclusive(&self) -> bool {
        self.lock.is_held_exclusive()
    }

    /// Whether some process holds the lock in either mode at this instant.
    pub fn is_held(&self) -> bool {
        self.lock.is_held()
    }
}

/// Shared access to an [`LWLocked`] value.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LWLockedSharedGuard<'a, T> {
    _guard: LWLockSharedGuard<'a>,
    value: &'a UnsafeCell<T>,
}

impl<T> std::ops::Deref for LWLockedSharedGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the shared lock is held, so no exclusive guard (the only source of `&mut T`)
        // exists in any process until this guard is dropped.
        unsafe { &*self.value.get() }
    }
}

/// Exclusive access to an [`LWLocked`] value.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LWLockedExclusiveGuard<'a, T> {
    _guard: LWLockExclusiveGuard<'a>,
    value: &'a UnsafeCell<T>,
}

impl<T> std::ops::Deref for LWLockedExclusiveGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the exclusive lock is held, so no other guard exists in any process; all
        // references to the value derive from this guard and die with it.
        unsafe { &*self.value.get() }
    }
}

impl<T> std::ops::DerefMut for LWLockedExclusiveGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; `&mut self` makes this the only live reference from the guard.
        unsafe { &mut *self.value.get() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::testing::{fork_children, wait_children, wait_until_sleeping, SharedMapping};
    use std::time::Duration;

    const CHILDREN: usize = 4;
    const INCREMENTS_PER_CHILD: u64 = 200_000;

    #[test]
    fn try_lock_respects_modes() {
        let lock = LWLock::new();
        let s1 = lock.try_lock_shared().expect("free lock");
        let s2 = lock.try_lock_shared().expect("readers share");
        assert!(lock.try_lock_exclusive().is_none());
        assert!(lock.is_held() && !lock.is_held_exclusive());
        drop((s1, s2));
        assert!(!lock.is_held());
        let x = lock.try_lock_exclusive().expect("free again");
        assert!(lock.is_held_exclusive());
        assert!(lock.try_lock_shared().is_none());
        assert!(lock.try_lock_exclusive().is_none());
        drop(x);
        assert_eq!(lock.state.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn zeroed_bytes_are_a_free_lock() {
        let mapping = SharedMapping::<LWLocked<[u64; 4]>>::new_zeroed();
        assert!(!mapping.get().is_held());
        assert_eq!(*mapping.get().lock_shared(), [0; 4]);
    }

    #[test]
    fn init_frees_a_lock_left_held_with_waiters() {
        let mut locked = LWLocked::new(1u32);
        std::mem::forget(locked.lock_exclusive());
        locked.lock.state.fetch_or(HAS_WAITERS, Ordering::Relaxed);
        locked.init(2);
        assert_eq!(locked.lock.state.load(Ordering::Relaxed), 0);
        assert_eq!(*locked.lock_shared(), 2);
    }

    /// 4 processes each do 200,000 read-then-write increments of a plain u64 under the
    /// exclusive lock; any broken exclusion (or a lost wakeup: a hang) fails the test.
    #[test]
    fn forked_processes_never_lose_exclusive_increments() {
        let mapping = SharedMapping::<LWLocked<u64>>::new_zeroed();
        let counter = mapping.get();
        let pids = fork_children(CHILDREN, |_| {
            for _ in 0..INCREMENTS_PER_CHILD {
                let mut value = counter.lock_exclusive();
                *value += 1;
            }
        });
        wait_children(pids);
        assert_eq!(
            *counter.lock_shared(),
            CHILDREN as u64 * INCREMENTS_PER_CHILD
        );
        assert_eq!(counter.lock.state.load(Ordering::Relaxed), 0);
    }

    /// Two writers update two fields one after the other (yielding in between, to widen the
    /// window); two readers check under the shared lock that they are always equal, and
    /// every reader must eventually see the final value despite the writer preference.
    #[test]
    fn readers_never_see_half_written_data() {
        const WRITES_PER_WRITER: u64 = 5_000;
        const WRITERS: u64 = 2;
        #[repr(C)]
        struct Pair {
            a: u64,
            b: u64,
        }
        let mapping = SharedMapping::<LWLocked<Pair>>::new_zeroed();
        let pair = mapping.get();
        let pids = fork_children(4, |i| {
            if i < WRITERS as usize {
                for n in 0..WRITES_PER_WRITER {
                    let mut p = pair.lock_exclusive();
                    p.a += 1;
                    if n % 64 == 0 {
                        std::thread::yield_now();
                    }
                    p.b += 1;
                }
            } else {
                loop {
                    let p = pair.lock_shared();
                    assert_eq!(p.a, p.b, "reader saw a half-done write");
                    if p.a == WRITERS * WRITES_PER_WRITER {
                        break;
                    }
                }
            }
        });
        wait_children(pids);
        let p = pair.lock_shared();
        assert_eq!(
            (p.a, p.b),
            (WRITERS * WRITES_PER_WRITER, WRITERS * WRITES_PER_WRITER)
        );
    }

    /// Polls `flag` until it is non-zero (children wait for the parent's go-ahead this way).
    fn wait_for_flag(flag: &AtomicU32) {
        while flag.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A holder keeps the lock exclusively until the parent has seen a second process go to
    /// sleep on it (and set `HAS_WAITERS`); that waiter must be woken by the release and get
    /// the lock only after it.
    #[test]
    fn sleeping_waiter_is_woken_on_release() {
        #[repr(C)]
        struct Shared {
            lock: LWLock,
            holder_has_lock: AtomicU32,
            release_now: AtomicU32,
            holder_released: AtomicU32,
            waiter_got_lock_after_release: AtomicU32,
        }
        let mapping = SharedMapping::<Shared>::new_zeroed();
        let s = mapping.get();
        let holder = fork_children(1, |_| {
            let guard = s.lock.lock_exclusive();
            s.holder_has_lock.store(1, Ordering::SeqCst);
            wait_for_flag(&s.release_now);
            std::thread::sleep(Duration::from_millis(20));
            s.holder_released.store(1, Ordering::SeqCst);
            drop(guard);
        });
        wait_for_flag(&s.holder_has_lock);
        let waiter = fork_children(1, |_| {
            let _guard = s.lock.lock_exclusive();
            let after = s.holder_released.load(Ordering::SeqCst);
            s.waiter_got_lock_after_release
                .store(after, Ordering::SeqCst);
        });
        wait_until_sleeping(waiter[0]);
        assert_ne!(s.lock.state.load(Ordering::SeqCst) & HAS_WAITERS, 0);
        s.release_now.store(1, Ordering::SeqCst);
        wait_children(holder);
        wait_children(waiter);
        assert_eq!(s.waiter_got_lock_after_release.load(Ordering::SeqCst), 1);
        assert_eq!(s.lock.state.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn lock_exclusive_or_wait_takes_a_free_lock() {
        let lock = LWLock::new();
        let guard = lock.lock_exclusive_or_wait().expect("free lock is taken");
        assert!(lock.is_held_exclusive());
        drop(guard);
        assert_eq!(lock.state.load(Ordering::Relaxed), 0);
    }

    /// A process finding the lock held sleeps until the holder releases it, then returns
    /// without the lock (PostgreSQL's LWLockAcquireOrWait), having seen what the holder
    /// wrote before releasing.
    #[test]
    fn lock_exclusive_or_wait_returns_after_release_without_the_lock() {
        #[repr(C)]
        struct Shared {
            lock: LWLock,
            holder_has_lock: AtomicU32,
            release_now: AtomicU32,
            written_by_holder: AtomicU32,
            waiter_saw: AtomicU32,
            waiter_got_lock: AtomicU32,
        }
        let mapping = SharedMapping::<Shared>::new_zeroed();
        let s = mapping.get();
        let holder = fork_children(1, |_| {
            let guard = s.lock.lock_exclusive();
            s.holder_has_lock.store(1, Ordering::SeqCst);
            wait_for_flag(&s.release_now);
            s.written_by_holder.store(7, Ordering::Relaxed);
            drop(guard);
        });
        wait_for_flag(&s.holder_has_lock);
        let waiter = fork_children(1, |_| {
            let got = s.lock.lock_exclusive_or_wait();
            s.waiter_got_lock
                .store(u32::from(got.is_some()), Ordering::SeqCst);
            s.waiter_saw.store(
                s.written_by_holder.load(Ordering::Relaxed),
                Ordering::SeqCst,
            );
        });
        wait_until_sleeping(waiter[0]);
        assert_ne!(s.lock.state.load(Ordering::SeqCst) & HAS_WAITERS, 0);
        assert_eq!(s.lock.state.load(Ordering::SeqCst) & WRITER_WAITING, 0);
        s.release_now.store(1, Ordering::SeqCst);
        wait_children(holder);
        wait_children(waiter);
        assert_eq!(s.waiter_got_lock.load(Ordering::SeqCst), 0);
        assert_eq!(s.waiter_saw.load(Ordering::SeqCst), 7);
        assert_eq!(s.lock.state.load(Ordering::SeqCst), 0);
    }

    /// A reader holds the lock; a writer queues and sleeps; a reader arriving after the
    /// writer must sleep behind it rather than join the first reader. When the first reader
    /// leaves, the writer enters before the late reader (tickets record the order).
    #[test]
    fn waiting_writer_is_not_starved_by_new_readers() {
        #[repr(C)]
        struct Shared {
            lock: LWLock,
            first_reader_in: AtomicU32,
            release_now: AtomicU32,
            ticket: AtomicU32,
            writer_ticket: AtomicU32,
            late_reader_ticket: AtomicU32,
        }
        let mapping = SharedMapping::<Shared>::new_zeroed();
        let s = mapping.get();
        let first_reader = fork_children(1, |_| {
            let _guard = s.lock.lock_shared();
            s.first_reader_in.store(1, Ordering::SeqCst);
            wait_for_flag(&s.release_now);
        });
        wait_for_flag(&s.first_reader_in);
        let writer = fork_children(1, |_| {
            let _guard = s.lock.lock_exclusive();
            let t = s.ticket.fetch_add(1, Ordering::SeqCst) + 1;
            s.writer_ticket.store(t, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
        });
        wait_until_sleeping(writer[0]);
        assert_ne!(s.lock.state.load(Ordering::SeqCst) & WRITER_WAITING, 0);
        assert!(
            s.lock.try_lock_shared().is_none(),
            "a new reader must queue behind the waiting writer"
        );
        let late_reader = fork_children(1, |_| {
            let _guard = s.lock.lock_shared();
            let t = s.ticket.fetch_add(1, Ordering::SeqCst) + 1;
            s.late_reader_ticket.store(t, Ordering::SeqCst);
        });
        wait_until_sleeping(late_reader[0]);
        s.release_now.store(1, Ordering::SeqCst);
        wait_children(first_reader);
        wait_children(writer);
        wait_children(late_reader);
        assert_eq!(s.writer_ticket.load(Ordering::SeqCst), 1);
        assert_eq!(s.late_reader_ticket.load(Ordering::SeqCst), 2);
        assert_eq!(s.lock.state.load(Ordering::SeqCst), 0);
    }

    /// Threads of one process use the same lock (a shared futex works within a process too).
    #[test]
    fn threads_in_one_process_share_the_lock() {
        let counter = LWLocked::new(0u64);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..20_000 {
                        *counter.lock_exclusive() += 1;
                        let _ = *counter.lock_shared();
                    }
                });
            }
        });
        assert_eq!(*counter.lock_shared(), 60_000);
    }
}
