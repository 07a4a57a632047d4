//! A buffer descriptor (PostgreSQL's `BufferDesc`): what one buffer holds and who uses it.
//!
//! # The state word
//! ```text
//!  31..29    28            27        26               25         24     23     22        21..18       17..0
//! [unused][JUST_DIRTIED][IO_ERROR][IO_IN_PROGRESS][TAG_VALID][VALID][DIRTY][LOCKED][usage count][refcount]
//! ```
//! * refcount: how many pins exist, across all processes (each [`PinnedBuffer`] is one).
//!   A pinned buffer is never re-mapped or invalidated, so its tag is stable for the pin's
//!   holder.
//! * usage count `0..=BM_MAX_USAGE_COUNT`: bumped by each pin from a lookup, decremented
//!   by the clock sweep; a buffer is a victim only at refcount 0 and usage count 0.
//! * `LOCKED`: the buffer header lock, a spinlock in the word itself. The tag and the
//!   flags change only under it; a pin or unpin is a compare-and-swap that waits while
//!   it is set (so it never races with a header-lock holder's store), exactly as
//!   PostgreSQL's `PinBuffer`.
//! * `TAG_VALID`: the tag names a page and the buffer is in the mapping table.
//!   `VALID`: the bytes are that page. `DIRTY`: they differ from the file.
//!   `JUST_DIRTIED`: dirtied again since a write began (the write must not clear DIRTY).
//!   `IO_IN_PROGRESS`: one process is reading the page in or writing it out; others wait.
//!   `IO_ERROR`: the last I/O failed (the next one simply retries).
//!
//! All-zero bytes are an unused buffer: no tag, no pins, no flags, usage 0.
//!
//! # Waiting for I/O (PostgreSQL's `StartBufferIO` / `WaitIO` / `TerminateBufferIO`)
//! A process that must read or write a buffer sets `IO_IN_PROGRESS` under the header
//! lock; one that finds it set sleeps until it clears. The sleep is a shared futex on
//! `io_done`, a counter the finishing process bumps after clearing the flag:
//! the waiter counts itself in `io_waiters`, loads `io_done`, re-checks the flag, and
//! sleeps on the loaded `io_done` value; the finisher clears the flag, bumps `io_done`,
//! and wakes if `io_waiters` is non-zero. All four accesses are sequentially consistent,
//! so either the finisher sees the waiter and wakes it, or the waiter sees the cleared
//! flag or the bumped counter and does not sleep (the protocol of `shmem/futex.rs`).
//!
//! [`PinnedBuffer`]: super::PinnedBuffer

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{BufferTag, BM_MAX_USAGE_COUNT};
use crate::shmem::futex::{futex_wait, futex_wake_all};
use crate::shmem::lwlock::LWLock;
use crate::shmem::spinlock::STUCK_SPINLOCK_TIMEOUT;
use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};

pub(super) const REFCOUNT_ONE: u32 = 1;
pub(super) const REFCOUNT_MASK: u32 = (1 << 18) - 1;
pub(super) const USAGECOUNT_SHIFT: u32 = 18;
pub(super) const USAGECOUNT_ONE: u32 = 1 << USAGECOUNT_SHIFT;
pub(super) const USAGECOUNT_MASK: u32 = 0xF << USAGECOUNT_SHIFT;

pub(super) const BM_LOCKED: u32 = 1 << 22;
pub(super) const BM_DIRTY: u32 = 1 << 23;
pub(super) const BM_VALID: u32 = 1 << 24;
pub(super) const BM_TAG_VALID: u32 = 1 << 25;
pub(super) const BM_IO_IN_PROGRESS: u32 = 1 << 26;
pub(super) const BM_IO_ERROR: u32 = 1 << 27;
pub(super) const BM_JUST_DIRTIED: u32 = 1 << 28;

const _: () = assert!(BM_MAX_USAGE_COUNT < 16);

pub(super) fn refcount(state: u32) -> u32 {
    state & REFCOUNT_MASK
}

pub(super) fn usage_count(state: u32) -> u32 {
    (state & USAGECOUNT_MASK) >> USAGECOUNT_SHIFT
}

/// One buffer's descriptor, 64 bytes (a cache line) in shared memory.
///
/// Who writes what:
/// - `state`: pins/unpins and `mark_dirty` by compare-and-swap while `LOCKED` is clear;
///   everything else by the holder of the header lock (`LOCKED`), stored on release.
///   Read by anyone without a lock (a snapshot; decisions re-check under the lock).
/// - `tag_*`: the holder of the header lock **and** the exclusive mapping-partition
///   lock(s) of the old and new tag. Read under the header lock, under the tag's
///   partition lock, or by anyone holding a pin (a pinned buffer's tag cannot change).
/// - `io_done`, `io_waiters`: see the module doc; atomics, no lock.
/// - `content_lock`: protects the page bytes (shared to read, exclusive to change).
#[repr(C, align(64))]
pub(super) struct BufferDesc {
    state: AtomicU32,
    io_done: AtomicU32,
    io_waiters: AtomicU32,
    tag_spc: AtomicU32,
    tag_db: AtomicU32,
    tag_rel: AtomicU32,
    tag_fork: AtomicU32,
    tag_block: AtomicU32,
    pub(super) content_lock: LWLock,
}

const _: () = assert!(std::mem::size_of::<BufferDesc>() == 64);

// SAFETY: BufferDesc is made of AtomicU32s and an LWLock (an AtomicU32): valid when zero
// (an unused buffer), pointer-free and Sync.
unsafe impl crate::shmem::ShmemSafe for BufferDesc {}

/// The buffer header lock, held: `state` is the word as it will be stored on release
/// (with `LOCKED` cleared). Modify `state`, then drop to publish.
#[must_use = "the header lock is released as soon as the guard is dropped"]
pub(super) struct HeaderLock<'a> {
    desc: &'a BufferDesc,
    pub(super) state: u32,
}

impl Drop for HeaderLock<'_> {
    fn drop(&mut self) {
        debug_assert!(self.state & BM_LOCKED != 0);
        self.desc
            .state
            .store(self.state & !BM_LOCKED, Ordering::SeqCst);
    }
}

/// Backoff for waiting on a header lock (PostgreSQL's `SpinDelayStatus`): spin, then yield,
/// then sleep briefly; panic "stuck spinlock" after [`STUCK_SPINLOCK_TIMEOUT`].
struct SpinDelay {
    spins: u32,
    started: Option<Instant>,
}

impl SpinDelay {
    fn new() -> SpinDelay {
        SpinDelay {
            spins: 0,
            started: None,
        }
    }

    fn delay(&mut self) {
        self.spins += 1;
        if self.spins < 100 {
            spin_loop();
        } else if self.spins < 200 {
            std::thread::yield_now();
        } else {
            let started = *self.started.get_or_insert_with(Instant::now);
            assert!(
                started.elapsed() < STUCK_SPINLOCK_TIMEOUT,
                "stuck spinlock: buffer header lock held for {STUCK_SPINLOCK_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// What [`BufferDesc::start_io`] is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum IoKind {
    /// Reading the page in (or zero-filling it): done when the buffer is VALID.
    Input,
    /// Writing the page out: done when the buffer is not DIRTY.
    Output,
}

impl BufferDesc {
    /// A snapshot of the state word (for decisions that are re-checked under the lock).
    pub(super) fn state(&self) -> u32 {
        self.state.load(Ordering::SeqCst)
    }

    /// Takes the header lock (innermost lock; hold it for a few instructions only).
    pub(super) fn lock_header(&self) -> HeaderLock<'_> {
        let mut delay = SpinDelay::new();
        loop {
            let old = self.state.fetch_or(BM_LOCKED, Ordering::SeqCst);
            if old & BM_LOCKED == 0 {
                return HeaderLock {
                    desc: self,
                    state: old | BM_LOCKED,
                };
            }
            while self.state.load(Ordering::Relaxed) & BM_LOCKED != 0 {
                delay.delay();
            }
        }
    }

    /// Updates the state word with `change` by compare-and-swap, waiting while the header
    /// lock is held (a holder stores the whole word on release). Returns the new state.
    fn update_unlocked(&self, change: impl Fn(u32) -> u32) -> u32 {
        let mut delay = SpinDelay::new();
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            if old & BM_LOCKED != 0 {
                delay.delay();
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let new = change(old);
            match self
                .state
                .compare_exchange_weak(old, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return new,
                Err(actual) => old = actual,
            }
        }
    }

    /// Adds a pin (PostgreSQL's `PinBuffer`); with `bump_usage`, also raises the usage
    /// count towards [`BM_MAX_USAGE_COUNT`]. The caller must know the buffer cannot be
    /// re-mapped meanwhile: it holds the tag's mapping partition lock, or another pin.
    pub(super) fn pin(&self, bump_usage: bool) -> u32 {
        self.update_unlocked(|old| {
            assert!(refcount(old) < REFCOUNT_MASK, "buffer pin count overflow");
            let mut new = old + REFCOUNT_ONE;
            if bump_usage && usage_count(old) < BM_MAX_USAGE_COUNT {
                new += USAGECOUNT_ONE;
            }
            new
        })
    }

    /// Drops one pin (PostgreSQL's `UnpinBuffer`).
    pub(super) fn unpin(&self) {
        self.update_unlocked(|old| {
            assert!(refcount(old) > 0, "unpinning a buffer that is not pinned");
            old - REFCOUNT_ONE
        });
    }

    /// Sets DIRTY and JUST_DIRTIED. The caller holds a pin and the content lock exclusively.
    pub(super) fn set_dirty(&self) {
        let new = self.update_unlocked(|old| old | BM_DIRTY | BM_JUST_DIRTIED);
        debug_assert!(refcount(new) > 0 && new & BM_VALID != 0);
    }

    /// The tag. Meaningful under the header lock, under the tag's partition lock, or
    /// while pinned (see the struct doc); a stale value otherwise.
    pub(super) fn tag(&self) -> BufferTag {
        let fork = self.tag_fork.load(Ordering::Relaxed);
        BufferTag {
            rel: RelFileNode {
                spc_oid: self.tag_spc.load(Ordering::Relaxed),
                db_oid: self.tag_db.load(Ordering::Relaxed),
                rel_number: self.tag_rel.load(Ordering::Relaxed),
            },
            fork: ForkNumber::from_u8(fork as u8).expect("corrupt fork number in buffer tag"),
            block: BlockNumber(self.tag_block.load(Ordering::Relaxed)),
        }
    }

    /// The relation of the tag, for unlocked pre-filtering only.
    pub(super) fn tag_rel_unlocked(&self) -> RelFileNode {
        RelFileNode {
            spc_oid: self.tag_spc.load(Ordering::Relaxed),
            db_oid: self.tag_db.load(Ordering::Relaxed),
            rel_number: self.tag_rel.load(Ordering::Relaxed),
        }
    }

    /// Writes the tag. The caller holds the header lock (`_header`, proof) and the
    /// exclusive partition lock(s) of the old and new tag.
    pub(super) fn set_tag(&self, _header: &HeaderLock<'_>, tag: Option<BufferTag>) {
        let (spc, db, rel, fork, block) = match tag {
            Some(t) => (
                t.rel.spc_oid,
                t.rel.db_oid,
                t.rel.rel_number,
                t.fork as u32,
                t.block.0,
            ),
            None => (0, 0, 0, 0, 0),
        };
        self.tag_spc.store(spc, Ordering::Relaxed);
        self.tag_db.store(db, Ordering::Relaxed);
        self.tag_rel.store(rel, Ordering::Relaxed);
        self.tag_fork.store(fork, Ordering::Relaxed);
        self.tag_block.store(block, Ordering::Relaxed);
    }

    /// PostgreSQL's `StartBufferIO`: waits for any I/O in progress, then returns an
    /// [`IoInProgress`] mark if this process must do the I/O, or `None` if it is already
    /// done (Input: the buffer is VALID; Output: it is no longer DIRTY). The caller holds
    /// a pin.
    pub(super) fn start_io(&self, kind: IoKind) -> Option<IoInProgress<'_>> {
        let mut header = loop {
            let header = self.lock_header();
            if header.state & BM_IO_IN_PROGRESS == 0 {
                break header;
            }
            drop(header);
            self.wait_io();
        };
        debug_assert!(refcount(header.state) > 0, "I/O on an unpinned buffer");
        let done = match kind {
            IoKind::Input => header.state & BM_VALID != 0,
            IoKind::Output => header.state & BM_DIRTY == 0,
        };
        if done {
            return None;
        }
        header.state |= BM_IO_IN_PROGRESS;
        if kind == IoKind::Output {
            // Changes from now on (hint bits under a shared lock, in a later version) are
            // not in the copy about to be written: they must keep the buffer dirty.
            header.state &= !BM_JUST_DIRTIED;
        }
        Some(IoInProgress {
            desc: self,
            kind,
            finished: false,
        })
    }

    /// Sleeps until no I/O is in progress on the buffer (PostgreSQL's `WaitIO`).
    pub(super) fn wait_io(&self) {
        loop {
            self.io_waiters.fetch_add(1, Ordering::SeqCst);
            let seen = self.io_done.load(Ordering::SeqCst);
            if self.state.load(Ordering::SeqCst) & BM_IO_IN_PROGRESS == 0 {
                self.io_waiters.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            futex_wait(&self.io_done, seen, None);
            self.io_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Clears IO_IN_PROGRESS after `finish` adjusted the other flags (under the header
    /// lock), then wakes the waiters.
    fn end_io(&self, finish: impl FnOnce(&mut u32)) {
        {
            let mut header = self.lock_header();
            debug_assert!(header.state & BM_IO_IN_PROGRESS != 0);
            finish(&mut header.state);
            header.state &= !BM_IO_IN_PROGRESS;
        }
        self.io_done.fetch_add(1, Ordering::SeqCst);
        if self.io_waiters.load(Ordering::SeqCst) > 0 {
            futex_wake_all(&self.io_done);
        }
    }
}

/// This process is doing the I/O of a buffer (IO_IN_PROGRESS is set by it). Finish with
/// [`IoInProgress::finish_input`] or [`IoInProgress::finish_output`]; dropping it
/// unfinished (an error unwinding) is PostgreSQL's `AbortBufferIO`: the flag clears,
/// IO_ERROR is set, a read leaves the buffer not VALID and a write leaves it DIRTY.
#[must_use = "dropping the I/O mark aborts the I/O"]
pub(super) struct IoInProgress<'a> {
    desc: &'a BufferDesc,
    kind: IoKind,
    finished: bool,
}

impl IoInProgress<'_> {
    /// The page is in the buffer and verified: mark it VALID.
    pub(super) fn finish_input(mut self) {
        debug_assert_eq!(self.kind, IoKind::Input);
        self.finished = true;
        self.desc.end_io(|state| {
            *state &= !BM_IO_ERROR;
            *state |= BM_VALID;
        });
    }

    /// The page reached the file: clear DIRTY unless it was dirtied again meanwhile
    /// (JUST_DIRTIED, set by a change the written copy does not contain).
    pub(super) fn finish_output(mut self) {
        debug_assert_eq!(self.kind, IoKind::Output);
        self.finished = true;
        self.desc.end_io(|state| {
            if *state & BM_JUST_DIRTIED == 0 {
                *state &= !BM_DIRTY;
            }
            *state &= !BM_IO_ERROR;
        });
    }
}

impl Drop for IoInProgress<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.desc.end_io(|state| *state |= BM_IO_ERROR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::TestSegment;

    fn desc() -> &'static BufferDesc {
        TestSegment::new(4096).struct_at::<BufferDesc>(0)
    }

    #[test]
    fn pin_bumps_usage_up_to_the_maximum_and_unpin_releases() {
        let d = desc();
        for i in 1..=7 {
            let s = d.pin(true);
            assert_eq!(refcount(s), i);
            assert_eq!(usage_count(s), i.min(BM_MAX_USAGE_COUNT));
        }
        for _ in 0..7 {
            d.unpin();
        }
        assert_eq!(refcount(d.state()), 0);
        assert_eq!(usage_count(d.state()), BM_MAX_USAGE_COUNT);
    }

    #[test]
    fn io_for_input_is_done_once_valid_and_abort_sets_io_error() {
        let d = desc();
        d.pin(false);
        let io = d.start_io(IoKind::Input).expect("not valid yet");
        drop(io); // an error unwinding
        assert_eq!(d.state() & (BM_IO_IN_PROGRESS | BM_VALID), 0);
        assert_ne!(d.state() & BM_IO_ERROR, 0);
        d.start_io(IoKind::Input).expect("retry").finish_input();
        assert_eq!(d.state() & (BM_VALID | BM_IO_ERROR), BM_VALID);
        assert!(d.start_io(IoKind::Input).is_none(), "already valid");
        assert!(d.start_io(IoKind::Output).is_none(), "not dirty");
        d.set_dirty();
        d.start_io(IoKind::Output).expect("dirty").finish_output();
        assert_eq!(d.state() & (BM_DIRTY | BM_JUST_DIRTIED), 0);
    }

    #[test]
    fn redirtied_during_write_stays_dirty() {
        let d = desc();
        d.pin(false);
        d.start_io(IoKind::Input).unwrap().finish_input();
        d.set_dirty();
        let io = d.start_io(IoKind::Output).unwrap();
        assert_eq!(d.state() & BM_JUST_DIRTIED, 0);
        d.set_dirty(); // as a hint-bit change under a shared lock would
        io.finish_output();
        assert_ne!(d.state() & BM_DIRTY, 0);
    }

    #[test]
    fn tag_round_trips_under_the_header_lock() {
        let d = desc();
        let tag = BufferTag {
            rel: RelFileNode {
                spc_oid: 1663,
                db_oid: 5,
                rel_number: 16384,
            },
            fork: ForkNumber::VisibilityMap,
            block: BlockNumber(77),
        };
        let header = d.lock_header();
        d.set_tag(&header, Some(tag));
        drop(header);
        assert_eq!(d.tag(), tag);
        assert_eq!(d.state() & BM_LOCKED, 0);
    }
}
