//! WAL insertion, writing and flushing through the shared WAL buffers
//! (DESIGN.md §4, rules 2 and 3) — PostgreSQL's xlog.c, reduced.
//!
//! # Shared state
//! [`WalShared`] lives in shared memory; the WAL buffers are a ring of 8 KiB pages
//! ([`SharedBytes`]) where ring slot `i` holds WAL page `p` when `p % n_pages == i`.
//! `page_ends[i]` is the end LSN of the page a slot holds (0 = none yet).
//!
//! # Inserting (concurrent)
//! 1. The record is assembled in private memory (no lock).
//! 2. The inserter takes one of [`NUM_INSERT_SLOTS`] insertion slots (an LWLock),
//!    then, under the reservation spinlock, reserves `maxalign(len)` bytes with one
//!    addition to a byte counter that excludes page headers, links the record to the
//!    previous one, and publishes its start in the slot's `inserting_at`.
//! 3. Outside the spinlock it fills in `xl_prev`/CRC and copies the record into the
//!    ring page by page ([`crate::wal::segment::layout_record`]); a page it enters
//!    first gets initialised (header, zeroes) under `mapping_lock`.
//! 4. It clears `inserting_at` and releases the slot.
//!
//! # Writing and flushing (group commit)
//! Only the holder of `write_lock` writes WAL pages to the segment files (several
//! consecutive pages per `pwrite`) and fdatasyncs them. [`Wal::flush`] /
//! [`Wal::flush_commit`] follow PostgreSQL's `XLogFlush`:
//! 1. return if `flushed_upto` already covers the request;
//! 2. wait until every insertion below the request has finished copying
//!    (`WalShared::wait_for_insertions`: a slot whose `inserting_at` is below it is
//!    waited for by taking its lock shared) — never while holding `write_lock`;
//! 3. take `write_lock` if it is free; if it is busy (someone is flushing), sleep
//!    until it is released **without taking it** (`LWLock::lock_exclusive_or_wait`,
//!    PostgreSQL's `LWLockAcquireOrWait`) and go back to 1: usually that flush
//!    covered us, and every process it covered returns at once, instead of each
//!    taking the lock in turn only to find nothing left to do;
//! 4. holding the lock, re-check 1, optionally sleep `commit_delay` (a leader only,
//!    fsync on, enough other transactions running), then write and fdatasync up to
//!    **everything finished so far** (`WalShared::finished_upto`, computed under
//!    the lock without waiting), so every commit that finished inserting while the
//!    previous fdatasync ran shares this one (rule 3).
//!
//! A commit is acknowledged only after `flushed_upto` passed its record's end, and
//! `flushed_upto` moves only after the fdatasync returned (rule 2). The walwriter
//! ([`Wal::background_flush`]) only *tries* the lock: when a committer holds it, that
//! flush takes along everything finished anyway, and the walwriter never makes a
//! synchronous committer wait behind its fdatasync.
//!
//! # Deadlock avoidance
//! An inserter that needs a ring slot still holding unwritten older WAL must write
//! that WAL out, which waits for older insertions. Before it waits it advances its
//! own `inserting_at` to the page it is about to fill, so writers waiting on
//! positions before that page never wait for it (PostgreSQL's
//! WALInsertLockUpdateInsertingAt).
//!
//! Lock order: insertion slot → mapping_lock → write_lock. The reservation
//! spinlock is innermost and held for a few instructions only.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{sqlstate, QuillError, QuillResult};
use crate::shmem::lwlock::LWLock;
use crate::shmem::spinlock::SpinLocked;
use crate::shmem::{SharedBytes, ShmemSafe};
use crate::storage::file_io::{FileIo, IoFile, OpenMode};
use crate::wal::record::RecordBuilder;
use crate::wal::segment::{
    layout_record, lsn_of_segment_start, page_offset, page_start, record_end, segment_file_name,
    segment_offset, segno_of, write_page_header, BytePos, SegmentNo, TimeLineId, WAL_SEGMENT_SIZE,
    XLOG_BLCKSZ,
};
use crate::wal::Lsn;

/// Concurrent inserters (PostgreSQL's NUM_XLOGINSERT_LOCKS).
pub const NUM_INSERT_SLOTS: usize = 8;
/// Largest ring the shared struct can describe: 4096 pages = 32 MiB of wal_buffers.
pub const MAX_RING_PAGES: usize = 4096;
/// Most WAL pages one `pwrite` carries (128 KiB).
const MAX_PAGES_PER_WRITE: usize = 16;

/// PostgreSQL's `commit_delay` / `commit_siblings` for one commit's flush
/// ([`Wal::flush_commit`]).
pub struct CommitDelay<'a> {
    /// How long the flusher sleeps before its fdatasync (`commit_delay`); zero: never.
    pub wait: std::time::Duration,
    /// Whether at least `commit_siblings` other transactions are running, so that
    /// waiting may gather more commits (PostgreSQL's `MinimumActiveBackends`).
    pub worthwhile: &'a dyn Fn() -> bool,
}

/// Directory of the WAL segments, relative to the data directory.
pub const WAL_DIR: &str = "pg_wal";

#[repr(C)]
struct InsertSlot {
    lock: LWLock,
    /// Start LSN of the insertion in progress under this slot (0 = none); an
    /// inserter may advance it while copying (see module doc).
    inserting_at: AtomicU64,
}

#[derive(Clone, Copy, Default)]
struct Reservation {
    /// Next free byte position (page headers excluded).
    cur_byte_pos: u64,
    /// Start LSN of the last record reserved.
    prev_lsn: u64,
    /// The redo point of the checkpoint in progress or last completed (PostgreSQL's
    /// RedoRecPtr): a page whose LSN is at or below it needs a full-page image on its
    /// next change (rule 4). Moved by [`Wal::begin_checkpoint`] under the same
    /// spinlock as reservations, so a record is either before the redo point or was
    /// built knowing the new one.
    redo_ptr: u64,
}

/// The WAL's shared state. Who writes what:
/// - `reserve`: inserters, under its spinlock.
/// - `slots[i].inserting_at`: the holder of `slots[i].lock`.
/// - `page_ends`: page initialisers, under `mapping_lock`; read without lock.
/// - `written_upto`, `flushed_upto`, `flush_count`: the holder of `write_lock`.
/// - `async_commit_lsn`: any backend (fetch_max); read by the walwriter.
#[repr(C)]
pub struct WalShared {
    initialized: AtomicU32,
    timeline: AtomicU32,
    system_id: AtomicU64,
    n_pages: AtomicU64,
    reserve: SpinLocked<Reservation>,
    slots: [InsertSlot; NUM_INSERT_SLOTS],
    mapping_lock: LWLock,
    write_lock: LWLock,
    written_upto: AtomicU64,
    flushed_upto: AtomicU64,
    async_commit_lsn: AtomicU64,
    flush_count: AtomicU64,
    insert_count: AtomicU64,
    /// Synchronous commits that waited in [`Wal::flush_commit`], and their total
    /// wait in nanoseconds (for the commit-latency figures; any process, relaxed).
    commit_waits: AtomicU64,
    commit_wait_ns: AtomicU64,
    page_ends: [AtomicU64; MAX_RING_PAGES],
}

const _: () = assert!(std::mem::size_of::<WalShared>() <= crate::shmem::WAL_CONTROL_LEN_BYTES);

// SAFETY: WalShared is made of atomics, SpinLocked and LWLocks, all valid when zero,
// pointer-free and Sync.
unsafe impl ShmemSafe for WalShared {}

impl WalShared {
    fn pages(&self) -> usize {
        self.n_pages.load(Ordering::Relaxed) as usize
    }

    fn ring_slot(&self, page_lsn: Lsn) -> usize {
        ((page_lsn.0 / XLOG_BLCKSZ as u64) % self.pages() as u64) as usize
    }

    /// The position up to which WAL has been reserved (the next record's end-LSN
    /// base).
    pub fn reserved_end(&self) -> Lsn {
        BytePos(self.reserve.get().cur_byte_pos).to_end_lsn()
    }

    pub fn flushed_upto(&self) -> Lsn {
        Lsn(self.flushed_upto.load(Ordering::Acquire))
    }

    pub fn written_upto(&self) -> Lsn {
        Lsn(self.written_upto.load(Ordering::Acquire))
    }

    /// Number of WAL fdatasyncs so far (for the group commit figures).
    pub fn flush_count(&self) -> u64 {
        self.flush_count.load(Ordering::Relaxed)
    }

    pub fn insert_count(&self) -> u64 {
        self.insert_count.load(Ordering::Relaxed)
    }

    /// Mean time a synchronous commit waited for its record to become durable (from
    /// asking for the flush to having it), and how many commits that covers.
    pub fn commit_wait(&self) -> (std::time::Duration, u64) {
        let n = self.commit_waits.load(Ordering::Relaxed);
        let ns = self.commit_wait_ns.load(Ordering::Relaxed);
        (
            std::time::Duration::from_nanos(ns.checked_div(n).unwrap_or(0)),
            n,
        )
    }

    /// Start LSN of the last record inserted (the next record's prev-link).
    pub fn prev_record_lsn(&self) -> Lsn {
        Lsn(self.reserve.get().prev_lsn)
    }

    /// Waits until every insertion that reserved space below `upto` has copied its
    /// bytes into the ring (PostgreSQL's `WaitXLogInsertionsToFinish`, waiting part).
    /// Never call it holding `write_lock`: an insertion below `upto` may be waiting
    /// for that lock to evict an old ring page.
    fn wait_for_insertions(&self, upto: Lsn) {
        for slot in &self.slots {
            loop {
                let at = slot.inserting_at.load(Ordering::Acquire);
                if at == 0 || at >= upto.0 {
                    break;
                }
                // Sleep until the holder releases the slot, then look again: the slot
                // may have been taken by a later insertion meanwhile.
                drop(slot.lock.lock_shared());
            }
        }
    }

    /// The position up to which every insertion reserved so far has finished copying
    /// into the ring, without waiting for any (PostgreSQL's
    /// `WaitXLogInsertionsToFinish` once nothing below is left to wait for): the
    /// reserved end, lowered to the position of each insertion still in progress.
    /// Safe to call holding `write_lock`; this is how a flusher takes along every
    /// commit that finished inserting while it waited for the lock (group commit).
    ///
    /// An insertion publishes its `inserting_at` inside the reservation spinlock, so
    /// every insertion below the reserved end read here is either seen in progress or
    /// has finished (`inserting_at` back to 0, stored with Release after its copy).
    /// The result is an end-LSN style position: never inside a page header, so every
    /// page below it has been initialised by the insertion that reached it.
    fn finished_upto(&self) -> Lsn {
        let mut finished = self.reserved_end();
        for slot in &self.slots {
            let at = slot.inserting_at.load(Ordering::Acquire);
            if at != 0 && at < finished.0 {
                finished = Lsn(at);
            }
        }
        // A record starting right after a page header is "in progress at the page
        // start": the page may not be initialised yet.
        BytePos::from_lsn(finished).to_end_lsn()
    }
}

/// A process's handle on the WAL: the shared state plus its private open-segment
/// cache. Every process (backend, walwriter, checkpointer, startup) makes its own.
pub struct Wal {
    shared: &'static WalShared,
    ring: SharedBytes,
    io: Arc<dyn FileIo>,
    dir: PathBuf,
    fsync: bool,
    open_segment: Mutex<Option<(SegmentNo, Box<dyn IoFile>)>>,
    slot_hint: usize,
}

/// Where the WAL continues after startup or recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalStart {
    /// The end of the last valid record (where the next one goes, before alignment).
    pub end_of_wal: Lsn,
    /// Start LSN of the last valid record (the next record's prev-link).
    pub prev_record: Lsn,
    pub timeline: TimeLineId,
    pub system_id: u64,
}

impl Wal {
    /// Attaches to `shared` (already initialised with [`Wal::initialize`]).
    pub fn attach(
        shared: &'static WalShared,
        ring: SharedBytes,
        io: Arc<dyn FileIo>,
        fsync: bool,
    ) -> Wal {
        Wal {
            shared,
            ring,
            io,
            dir: PathBuf::from(WAL_DIR),
            fsync,
            open_segment: Mutex::new(None),
            slot_hint: std::process::id() as usize % NUM_INSERT_SLOTS,
        }
    }

    pub fn shared(&self) -> &'static WalShared {
        self.shared
    }

    /// Sets up the shared state so insertion continues at `start` (called once, by
    /// the process that finished recovery, before anyone inserts). The page holding
    /// the end of WAL is loaded into the ring, since pages are written whole.
    pub fn initialize(&self, start: WalStart) -> QuillResult<()> {
        let shared = self.shared;
        let n_pages = (self.ring.len() / XLOG_BLCKSZ).min(MAX_RING_PAGES);
        assert!(n_pages >= 4, "wal_buffers too small");
        shared.n_pages.store(n_pages as u64, Ordering::Relaxed);
        shared.timeline.store(start.timeline.0, Ordering::Relaxed);
        shared.system_id.store(start.system_id, Ordering::Relaxed);
        for end in &shared.page_ends {
            end.store(0, Ordering::Relaxed);
        }
        shared.reserve.set(Reservation {
            cur_byte_pos: BytePos::from_lsn(start.end_of_wal).0,
            prev_lsn: start.prev_record.0,
            redo_ptr: 0,
        });
        shared
            .written_upto
            .store(start.end_of_wal.0, Ordering::Release);
        shared
            .flushed_upto
            .store(start.end_of_wal.0, Ordering::Release);
        if page_offset(start.end_of_wal) != 0 {
            // The partly filled last page: bring its bytes into the ring.
            let page_lsn = page_start(start.end_of_wal);
            let slot = shared.ring_slot(page_lsn);
            let mut page = vec![0u8; XLOG_BLCKSZ];
            self.read_page_from_disk(page_lsn, &mut page)?;
            // Whatever follows the end of valid WAL on this page is garbage from before
            // a crash; it must not survive when the page is written again.
            page[page_offset(start.end_of_wal)..].fill(0);
            // SAFETY: no other process inserts or writes before initialisation ends.
            unsafe { self.ring.write(slot * XLOG_BLCKSZ, &page) };
            shared.page_ends[slot].store(page_lsn.0 + XLOG_BLCKSZ as u64, Ordering::Release);
        }
        shared.initialized.store(1, Ordering::Release);
        Ok(())
    }

    fn timeline(&self) -> TimeLineId {
        TimeLineId(self.shared.timeline.load(Ordering::Relaxed))
    }

    /// Inserts one record; returns its start and end LSN (the end is what a commit
    /// must flush to and what changed pages are stamped with). For records without
    /// full-page-image decisions.
    pub fn insert(&self, record: &RecordBuilder<'_>) -> QuillResult<(Lsn, Lsn)> {
        Ok(self
            .insert_inner(record, None)?
            .expect("no redo check, no retry"))
    }

    /// Inserts a record whose full-page images were decided against redo pointer
    /// `decided_with_redo` ([`Wal::redo_ptr`]). Returns `Ok(None)` without inserting
    /// if a checkpoint has moved the redo pointer since: the caller must decide again
    /// and rebuild the record (PostgreSQL's XLogInsert loop), or a page changed after
    /// the new redo point could lack the image that protects it from a torn write.
    pub fn insert_with_redo_check(
        &self,
        record: &RecordBuilder<'_>,
        decided_with_redo: Lsn,
    ) -> QuillResult<Option<(Lsn, Lsn)>> {
        self.insert_inner(record, Some(decided_with_redo))
    }

    /// The current redo pointer, for full-page-image decisions (rule 4).
    pub fn redo_ptr(&self) -> Lsn {
        Lsn(self.shared.reserve.get().redo_ptr)
    }

    /// Sets the redo pointer after startup (from the last checkpoint).
    pub fn set_redo_ptr(&self, redo: Lsn) {
        self.shared.reserve.update(|r| r.redo_ptr = redo.0);
    }

    /// Fixes a new checkpoint's redo point at the current insert position and
    /// publishes it as the redo pointer, atomically with respect to insertions.
    pub fn begin_checkpoint(&self) -> Lsn {
        self.shared.reserve.update(|r| {
            let redo = BytePos(r.cur_byte_pos).to_lsn();
            r.redo_ptr = redo.0;
            redo
        })
    }

    fn insert_inner(
        &self,
        record: &RecordBuilder<'_>,
        decided_with_redo: Option<Lsn>,
    ) -> QuillResult<Option<(Lsn, Lsn)>> {
        debug_assert_eq!(self.shared.initialized.load(Ordering::Acquire), 1);
        let mut bytes = Vec::new();
        let assembled = record.assemble(&mut bytes).map_err(|e| {
            QuillError::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!("WAL record too large: {e:?}"),
            )
        })?;
        let slot_index = self.slot_hint;
        let slot = &self.shared.slots[slot_index];
        let _slot_guard = slot.lock.lock_exclusive();
        let (start, prev) = {
            let mut reserve = self.shared.reserve.lock();
            if decided_with_redo.is_some_and(|redo| redo.0 != reserve.redo_ptr) {
                return Ok(None);
            }
            let start = BytePos(reserve.cur_byte_pos).to_lsn();
            let prev = Lsn(reserve.prev_lsn);
            reserve.cur_byte_pos += crate::wal::segment::maxalign(u64::from(assembled.len));
            reserve.prev_lsn = start.0;
            slot.inserting_at.store(start.0, Ordering::Release);
            (start, prev)
        };
        assembled.finish(&mut bytes, prev);
        let end = record_end(start, bytes.len());
        let copied = self.copy_into_ring(slot, start, &bytes);
        slot.inserting_at.store(0, Ordering::Release);
        copied?;
        self.shared.insert_count.fetch_add(1, Ordering::Relaxed);
        Ok(Some((start, end)))
    }

    fn copy_into_ring(&self, slot: &InsertSlot, start: Lsn, bytes: &[u8]) -> QuillResult<()> {
        for chunk in layout_record(start, bytes.len()) {
            let page_lsn = page_start(chunk.lsn);
            if chunk.contrecord_rem_len.is_some() {
                // Tell writers everything before this page is copied (deadlock rule).
                slot.inserting_at.store(page_lsn.0, Ordering::Release);
            }
            let ring_slot = self.get_ring_page(page_lsn)?;
            let base = ring_slot * XLOG_BLCKSZ;
            if let Some(rem_len) = chunk.contrecord_rem_len {
                let mut header = [0u8; XLOG_BLCKSZ];
                let header_len = write_page_header(
                    &mut header,
                    page_lsn,
                    self.timeline(),
                    rem_len,
                    self.shared.system_id.load(Ordering::Relaxed),
                );
                // SAFETY: the header of a page a record continues onto is written only
                // by the inserter of that record, which owns the page's first bytes.
                unsafe { self.ring.write(base, &header[..header_len]) };
            }
            let data = &bytes[chunk.record_offset..chunk.record_offset + chunk.len];
            // SAFETY: this byte range was reserved by this insertion alone, and no
            // writer reads it before `inserting_at` moves past it.
            unsafe { self.ring.write(base + page_offset(chunk.lsn), data) };
        }
        Ok(())
    }

    /// The ring slot holding the WAL page at `page_lsn`, initialising it if this is
    /// the first insertion to reach that page.
    fn get_ring_page(&self, page_lsn: Lsn) -> QuillResult<usize> {
        let shared = self.shared;
        let slot = shared.ring_slot(page_lsn);
        let page_end = page_lsn.0 + XLOG_BLCKSZ as u64;
        loop {
            let held = shared.page_ends[slot].load(Ordering::Acquire);
            if held == page_end {
                return Ok(slot);
            }
            assert!(held < page_end, "WAL ring slot {slot} holds a newer page");
            if held > shared.written_upto.load(Ordering::Acquire) {
                // The slot still holds WAL not yet written: write it out first.
                self.write_out(Lsn(held))?;
                continue;
            }
            let _mapping = shared.mapping_lock.lock_exclusive();
            if shared.page_ends[slot].load(Ordering::Acquire) != held {
                continue; // someone initialised or advanced it meanwhile
            }
            let mut page = [0u8; XLOG_BLCKSZ];
            write_page_header(
                &mut page,
                page_lsn,
                self.timeline(),
                0,
                shared.system_id.load(Ordering::Relaxed),
            );
            // SAFETY: the slot's old page is written out (checked above under the
            // mapping lock's protection of page_ends) and no inserter can reach the
            // new page before page_ends says it is ready.
            unsafe { self.ring.write(slot * XLOG_BLCKSZ, &page) };
            shared.page_ends[slot].store(page_end, Ordering::Release);
            return Ok(slot);
        }
    }

    /// Makes WAL durable up to at least `upto` (rule 2); see [`Wal::flush_commit`].
    pub fn flush(&self, upto: Lsn) -> QuillResult<()> {
        self.flush_commit(upto, None)
    }

    /// Makes WAL durable up to at least `upto` (rule 2) — PostgreSQL's `XLogFlush`.
    /// Returns at once if it already is. Otherwise, once every insertion below `upto`
    /// has finished, either takes `write_lock` and writes and fdatasyncs **everything
    /// finished so far** (group commit, rule 3), or, if another process holds the lock
    /// (it is flushing), sleeps until that flush ends and looks again: usually that
    /// flush covered `upto` too, and the waiter returns without touching the lock.
    ///
    /// With `delay` (`commit_delay`, for commit records), the process that took the
    /// lock first sleeps `delay.wait` if `fsync` is on and `delay.worthwhile()` says
    /// enough other transactions are running, so that more commits join its flush.
    ///
    /// Must hold: no `write_lock`, no insertion slot (it waits for insertions).
    /// Guarantees on `Ok`: WAL up to `upto` (clipped to what has been reserved) is on
    /// disk — or, with `fsync = off`, written to the kernel.
    pub fn flush_commit(&self, upto: Lsn, delay: Option<&CommitDelay<'_>>) -> QuillResult<()> {
        let started = std::time::Instant::now();
        let outcome = self.flush_commit_timed(upto, delay);
        let shared = self.shared;
        shared.commit_waits.fetch_add(1, Ordering::Relaxed);
        shared
            .commit_wait_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        outcome
    }

    fn flush_commit_timed(&self, upto: Lsn, delay: Option<&CommitDelay<'_>>) -> QuillResult<()> {
        let shared = self.shared;
        let upto = upto.min(shared.reserved_end());
        loop {
            if shared.flushed_upto() >= upto {
                return Ok(());
            }
            shared.wait_for_insertions(upto);
            let Some(_write) = shared.write_lock.lock_exclusive_or_wait() else {
                continue; // a flush just ended: was it ours too?
            };
            if shared.flushed_upto() >= upto {
                return Ok(()); // flushed by the process before us
            }
            if let Some(delay) = delay {
                if self.fsync && !delay.wait.is_zero() && (delay.worthwhile)() {
                    std::thread::sleep(delay.wait);
                }
            }
            // Everything below `upto` is finished (waited above); take along whatever
            // else finished meanwhile, without waiting for anything under the lock.
            let target = shared.finished_upto().max(upto);
            self.write_locked(target)?;
            self.sync_locked(target)?;
            return Ok(());
        }
    }

    /// Remembers an asynchronous commit's end LSN for the walwriter to flush.
    pub fn note_async_commit(&self, end: Lsn) {
        self.shared
            .async_commit_lsn
            .fetch_max(end.0, Ordering::AcqRel);
    }

    /// Walwriter's round: flushes what asynchronous commits left unflushed and the
    /// pages already full. Returns true if it did any work.
    ///
    /// It never makes a synchronous committer wait: if `write_lock` is busy, a flush
    /// is under way anyway (and takes along everything finished), so the walwriter
    /// leaves this round to it and looks again next round.
    pub fn background_flush(&self) -> QuillResult<bool> {
        let shared = self.shared;
        let target = Lsn(shared.async_commit_lsn.load(Ordering::Acquire))
            .max(page_start(shared.reserved_end()));
        if target <= shared.flushed_upto() {
            return Ok(false);
        }
        shared.wait_for_insertions(target);
        let Some(_write) = shared.write_lock.try_lock_exclusive() else {
            return Ok(false);
        };
        let target = shared.finished_upto().max(target);
        if target <= shared.flushed_upto() {
            return Ok(false);
        }
        self.write_locked(target)?;
        self.sync_locked(target)?;
        Ok(true)
    }

    /// Writes (without syncing) WAL up to at least `upto`, for an inserter that needs
    /// the ring slot of an old page.
    fn write_out(&self, upto: Lsn) -> QuillResult<()> {
        let shared = self.shared;
        if shared.written_upto() >= upto {
            return Ok(());
        }
        shared.wait_for_insertions(upto);
        let _write = shared.write_lock.lock_exclusive();
        self.write_locked(upto)
    }

    /// Writes the ring's pages from `written_upto` to `target` to the segment files,
    /// several pages per write where they are consecutive in one segment.
    ///
    /// Must hold: `write_lock`; every insertion below `target` has finished.
    fn write_locked(&self, target: Lsn) -> QuillResult<()> {
        let shared = self.shared;
        debug_assert!(shared.write_lock.is_held_exclusive());
        let mut pos = shared.written_upto();
        let mut batch = Vec::new();
        while pos < target {
            let first_page = page_start(pos);
            let segment_end = lsn_of_segment_start(SegmentNo(segno_of(first_page).0 + 1));
            let batch_end = target.min(segment_end).min(Lsn(
                first_page.0 + (MAX_PAGES_PER_WRITE * XLOG_BLCKSZ) as u64
            ));
            let n_pages = (batch_end.0 - first_page.0).div_ceil(XLOG_BLCKSZ as u64) as usize;
            batch.resize(n_pages * XLOG_BLCKSZ, 0);
            for (i, page) in batch.chunks_exact_mut(XLOG_BLCKSZ).enumerate() {
                let page_lsn = Lsn(first_page.0 + (i * XLOG_BLCKSZ) as u64);
                let slot = shared.ring_slot(page_lsn);
                assert_eq!(
                    shared.page_ends[slot].load(Ordering::Acquire),
                    page_lsn.0 + XLOG_BLCKSZ as u64,
                    "WAL page {page_lsn} is not in the ring"
                );
                // SAFETY: insertions below `target` have finished (the caller's
                // precondition) and the slot cannot be recycled while its page is
                // unwritten, which only we (holding write_lock) can change.
                unsafe { self.ring.read(slot * XLOG_BLCKSZ, page) };
            }
            self.write_pages_to_disk(first_page, &batch)?;
            pos = batch_end;
            shared.written_upto.store(pos.0, Ordering::Release);
        }
        Ok(())
    }

    /// fdatasyncs (unless `fsync = off`) WAL written up to `target` and publishes it
    /// as flushed. Must hold: `write_lock`; WAL written up to `target`.
    fn sync_locked(&self, target: Lsn) -> QuillResult<()> {
        let shared = self.shared;
        debug_assert!(shared.write_lock.is_held_exclusive());
        debug_assert!(shared.written_upto() >= target);
        if shared.flushed_upto() < target {
            if self.fsync {
                self.sync_segment(segno_of(Lsn(target.0 - 1)))?;
            }
            shared.flush_count.fetch_add(1, Ordering::Relaxed);
            shared.flushed_upto.store(target.0, Ordering::Release);
        }
        Ok(())
    }

    fn segment_path(&self, segno: SegmentNo) -> PathBuf {
        self.dir.join(segment_file_name(self.timeline(), segno))
    }

    /// Runs `f` on the open file of segment `segno`, opening (and if new, creating
    /// full-size) it first. A segment is created zero-filled and fsynced, so later
    /// fdatasyncs need not flush file-size metadata.
    fn with_segment<R>(
        &self,
        segno: SegmentNo,
        f: impl FnOnce(&dyn IoFile) -> std::io::Result<R>,
    ) -> QuillResult<R> {
        let mut open = self.open_segment.lock().unwrap_or_else(|e| e.into_inner());
        if open.as_ref().map(|(s, _)| *s) != Some(segno) {
            if let Some((old, file)) = open.take() {
                // A segment we leave may hold written but unsynced WAL.
                if self.fsync
                    && self.shared.flushed_upto()
                        < crate::wal::segment::lsn_of_segment_start(SegmentNo(old.0 + 1))
                {
                    file.sync_data()
                        .map_err(|e| wal_io_error("fdatasync", &self.segment_path(old), &e))?;
                }
            }
            let path = self.segment_path(segno);
            let file = self.open_or_create_segment(&path)?;
            *open = Some((segno, file));
        }
        let (_, file) = open.as_ref().expect("just opened");
        f(file.as_ref()).map_err(|e| wal_io_error("write to", &self.segment_path(segno), &e))
    }

    fn open_or_create_segment(&self, path: &std::path::Path) -> QuillResult<Box<dyn IoFile>> {
        if self.io.exists(path) {
            return self
                .io
                .open(path, OpenMode::ReadWrite)
                .map_err(|e| wal_io_error("open", path, &e));
        }
        let tmp = path.with_extension("tmp");
        let _ = self.io.remove(&tmp);
        let file = self
            .io
            .open(&tmp, OpenMode::CreateNew)
            .map_err(|e| wal_io_error("create", &tmp, &e))?;
        let zeroes = vec![0u8; 1 << 20];
        let mut offset = 0;
        while offset < WAL_SEGMENT_SIZE {
            file.write_all_at(&zeroes, offset)
                .map_err(|e| wal_io_error("write to", &tmp, &e))?;
            offset += zeroes.len() as u64;
        }
        if self.fsync {
            file.sync_all()
                .map_err(|e| wal_io_error("fsync", &tmp, &e))?;
        }
        drop(file);
        self.io
            .rename(&tmp, path)
            .map_err(|e| wal_io_error("rename", &tmp, &e))?;
        if self.fsync {
            self.io
                .sync_dir(&self.dir)
                .map_err(|e| wal_io_error("fsync", &self.dir, &e))?;
        }
        self.io
            .open(path, OpenMode::ReadWrite)
            .map_err(|e| wal_io_error("open", path, &e))
    }

    /// Writes whole WAL pages starting at `first_page`, all in one segment.
    fn write_pages_to_disk(&self, first_page: Lsn, pages: &[u8]) -> QuillResult<()> {
        let offset = segment_offset(first_page);
        debug_assert!(offset + pages.len() as u64 <= WAL_SEGMENT_SIZE);
        self.with_segment(segno_of(first_page), |file| {
            file.write_all_at(pages, offset)
        })
    }

    fn read_page_from_disk(&self, page_lsn: Lsn, page: &mut [u8]) -> QuillResult<()> {
        let offset = segment_offset(page_lsn);
        self.with_segment(segno_of(page_lsn), |file| {
            let mut done = 0;
            while done < page.len() {
                let n = file.read_at(&mut page[done..], offset + done as u64)?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            Ok(())
        })
    }

    fn sync_segment(&self, segno: SegmentNo) -> QuillResult<()> {
        self.with_segment(segno, |file| file.sync_data())
    }
}

/// The buffer manager's view of the WAL: log before data (rule 1).
impl crate::storage::buffer::WalFlusher for Wal {
    fn flush(&self, upto: Lsn) -> QuillResult<()> {
        Wal::flush(self, upto)
    }

    fn flushed_lsn(&self) -> Lsn {
        self.shared.flushed_upto()
    }
}

fn wal_io_error(what: &str, path: &std::path::Path, e: &std::io::Error) -> QuillError {
    QuillError::io(&format!("could not {what} file \"{}\"", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::TestSegment;
    use crate::storage::file_io::OsFileIo;
    use crate::wal::reader::{WalDirectory, WalReader};
    use crate::wal::record::RmgrId;

    const RING_PAGES: usize = 32;

    struct Fixture {
        _dir: tempfile::TempDir,
        io: Arc<dyn FileIo>,
        segment: TestSegment,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let io: Arc<dyn FileIo> = Arc::new(OsFileIo::new(dir.path()));
            io.create_dir_all(std::path::Path::new(WAL_DIR)).unwrap();
            let segment =
                TestSegment::new(crate::shmem::WAL_CONTROL_LEN_BYTES + RING_PAGES * XLOG_BLCKSZ);
            Fixture {
                _dir: dir,
                io,
                segment,
            }
        }

        fn wal(&self) -> Wal {
            Wal::attach(
                self.segment.struct_at::<WalShared>(0),
                self.segment.bytes(
                    crate::shmem::WAL_CONTROL_LEN_BYTES,
                    RING_PAGES * XLOG_BLCKSZ,
                ),
                Arc::clone(&self.io),
                true,
            )
        }

        fn start(&self) -> Wal {
            let wal = self.wal();
            wal.initialize(WalStart {
                end_of_wal: Lsn(WAL_SEGMENT_SIZE),
                prev_record: Lsn::INVALID,
                timeline: TimeLineId::FIRST,
                system_id: 42,
            })
            .unwrap();
            wal
        }
    }

    /// Payload of record `seq` of writer `writer`: identifiable and of varied length
    /// (some records span WAL pages).
    fn payload(writer: u32, seq: u32) -> Vec<u8> {
        let len = 8 + ((writer * 7919 + seq * 104_729) % 9000) as usize;
        let mut bytes = vec![(seq % 251) as u8; len];
        bytes[..4].copy_from_slice(&writer.to_le_bytes());
        bytes[4..8].copy_from_slice(&seq.to_le_bytes());
        bytes
    }

    fn insert(wal: &Wal, writer: u32, seq: u32) -> Lsn {
        let data = payload(writer, seq);
        let mut record = RecordBuilder::new(RmgrId::Xlog, 0, writer);
        record.main_data(&data);
        wal.insert(&record).unwrap().1
    }

    /// Reads every record back; returns (writer, seq) in WAL order.
    fn read_all(fixture: &Fixture) -> (Vec<(u32, u32)>, Lsn) {
        let source = WalDirectory::new(Arc::clone(&fixture.io), WAL_DIR, TimeLineId::FIRST);
        let mut reader = WalReader::new(source, Lsn(WAL_SEGMENT_SIZE + 40)).expect_system_id(42);
        let mut seen = Vec::new();
        while let Some(rec) = reader.next_record().unwrap() {
            let data = rec.record.main_data();
            let writer = u32::from_le_bytes(data[..4].try_into().unwrap());
            let seq = u32::from_le_bytes(data[4..8].try_into().unwrap());
            assert_eq!(
                data,
                &payload(writer, seq)[..],
                "record {writer}/{seq} damaged"
            );
            seen.push((writer, seq));
        }
        (seen, reader.end_of_valid_wal())
    }

    #[test]
    fn flushed_records_read_back_in_order_across_ring_wraparound() {
        let fixture = Fixture::new();
        let wal = fixture.start();
        let mut last_end = Lsn::INVALID;
        for seq in 0..400 {
            last_end = insert(&wal, 0, seq);
        }
        wal.flush(last_end).unwrap();
        assert!(wal.shared().flushed_upto() >= last_end);
        let (seen, end) = read_all(&fixture);
        assert_eq!(seen, (0..400).map(|s| (0, s)).collect::<Vec<_>>());
        assert_eq!(end, last_end);
        // 400 records of ~4.5 KiB average went through a 32-page ring many times.
        assert!(last_end.0 - WAL_SEGMENT_SIZE > (RING_PAGES * XLOG_BLCKSZ * 5) as u64);
    }

    #[test]
    fn a_record_built_before_a_checkpoint_moved_the_redo_pointer_is_refused() {
        let fixture = Fixture::new();
        let wal = fixture.start();
        let decided = wal.redo_ptr();
        let mut record = RecordBuilder::new(RmgrId::Heap, 0, 1);
        record.main_data(b"change");
        assert!(wal
            .insert_with_redo_check(&record, decided)
            .unwrap()
            .is_some());
        let redo = wal.begin_checkpoint();
        assert_eq!(wal.redo_ptr(), redo);
        // The redo point is where the next record starts.
        let (start, _) = wal.insert(&record).unwrap();
        assert_eq!(start, redo);
        assert!(wal
            .insert_with_redo_check(&record, decided)
            .unwrap()
            .is_none());
        assert!(wal.insert_with_redo_check(&record, redo).unwrap().is_some());
    }

    #[test]
    fn flush_is_a_no_op_when_already_durable() {
        let fixture = Fixture::new();
        let wal = fixture.start();
        let end = insert(&wal, 0, 0);
        wal.flush(end).unwrap();
        let flushes = wal.shared().flush_count();
        wal.flush(end).unwrap();
        assert_eq!(wal.shared().flush_count(), flushes);
    }

    /// Group commit: a flush writes and syncs everything whose insertion has
    /// finished, not just up to the position asked for, so later committers find
    /// their record already durable and need no fdatasync of their own.
    #[test]
    fn a_flush_takes_along_every_finished_insertion() {
        let fixture = Fixture::new();
        let wal = fixture.start();
        let first = insert(&wal, 0, 0);
        let second = insert(&wal, 1, 0);
        let third = insert(&wal, 2, 0);
        wal.flush(first).unwrap();
        assert_eq!(wal.shared().flushed_upto(), third);
        assert_eq!(wal.shared().flush_count(), 1);
        wal.flush(second).unwrap();
        wal.flush(third).unwrap();
        assert_eq!(wal.shared().flush_count(), 1);
    }

    /// The flushable position stops at an insertion still copying its bytes, and
    /// never points into a page header (the page may not be set up yet).
    #[test]
    fn finished_position_stops_at_an_insertion_in_progress() {
        let fixture = Fixture::new();
        let wal = fixture.start();
        let end = insert(&wal, 0, 0);
        assert_eq!(wal.shared().finished_upto(), end);
        let slot = &wal.shared().slots[3];
        slot.inserting_at.store(end.0, Ordering::Release);
        // Pretend more was reserved after the record still "in progress".
        wal.shared().reserve.update(|r| r.cur_byte_pos += 64);
        assert_eq!(wal.shared().finished_upto(), end);
        // An insertion in progress at the first record position of a page: the
        // finished position is the page's start, not past its header.
        let next_page = Lsn(page_start(end).0 + XLOG_BLCKSZ as u64);
        let first_on_page = BytePos::from_lsn(next_page).to_lsn();
        assert!(first_on_page > next_page);
        wal.shared()
            .reserve
            .update(|r| r.cur_byte_pos += 2 * XLOG_BLCKSZ as u64);
        slot.inserting_at.store(first_on_page.0, Ordering::Release);
        assert_eq!(wal.shared().finished_upto(), next_page);
        slot.inserting_at.store(0, Ordering::Release);
    }

    /// commit_delay: only the process that performs the flush asks whether waiting is
    /// worthwhile (commit_siblings), and only when it will really fdatasync.
    #[test]
    fn commit_delay_is_considered_only_by_a_process_that_will_fdatasync() {
        let asked = std::cell::Cell::new(0);
        let worthwhile = || {
            asked.set(asked.get() + 1);
            true
        };
        let delay = CommitDelay {
            wait: std::time::Duration::from_micros(10),
            worthwhile: &worthwhile,
        };
        let fixture = Fixture::new();
        let wal = fixture.start();
        let end = insert(&wal, 0, 0);
        wal.flush_commit(end, Some(&delay)).unwrap();
        assert_eq!(asked.get(), 1);
        assert!(wal.shared().flushed_upto() >= end);
        // Already durable: no flush, no delay.
        wal.flush_commit(end, Some(&delay)).unwrap();
        assert_eq!(asked.get(), 1);
        // No delay configured: nobody asks.
        let end = insert(&wal, 0, 1);
        let no_wait = CommitDelay {
            wait: std::time::Duration::ZERO,
            worthwhile: &worthwhile,
        };
        wal.flush_commit(end, Some(&no_wait)).unwrap();
        assert_eq!(asked.get(), 1);
        // fsync = off: there is no fdatasync to share, so no delay either.
        let unsynced = Wal::attach(
            wal.shared(),
            fixture.segment.bytes(
                crate::shmem::WAL_CONTROL_LEN_BYTES,
                RING_PAGES * XLOG_BLCKSZ,
            ),
            Arc::clone(&fixture.io),
            false,
        );
        let end = insert(&unsynced, 0, 2);
        unsynced.flush_commit(end, Some(&delay)).unwrap();
        assert_eq!(asked.get(), 1);
        assert!(wal.shared().flushed_upto() >= end);
    }

    /// One flush whose pages run from the end of one segment into the next writes
    /// each part to its own segment file (writes of several pages never cross one).
    #[test]
    fn a_flush_across_a_segment_boundary_reads_back() {
        let fixture = Fixture::new();
        let wal = fixture.wal();
        let start = Lsn(2 * WAL_SEGMENT_SIZE - 3 * XLOG_BLCKSZ as u64);
        wal.initialize(WalStart {
            end_of_wal: start,
            prev_record: Lsn::INVALID,
            timeline: TimeLineId::FIRST,
            system_id: 42,
        })
        .unwrap();
        let mut end = Lsn::INVALID;
        for seq in 0..8 {
            end = insert(&wal, 0, seq);
        }
        assert!(segno_of(end).0 == 2, "test needs WAL into segment 2");
        wal.flush(end).unwrap();
        let source = WalDirectory::new(Arc::clone(&fixture.io), WAL_DIR, TimeLineId::FIRST);
        let first = BytePos::from_lsn(start).to_lsn();
        let mut reader = WalReader::new(source, first).expect_system_id(42);
        let mut seqs = Vec::new();
        while let Some(rec) = reader.next_record().unwrap() {
            let data = rec.record.main_data();
            assert_eq!(data, &payload(0, seqs.len() as u32)[..]);
            seqs.push(seqs.len());
        }
        assert_eq!(seqs.len(), 8);
        assert_eq!(reader.end_of_valid_wal(), end);
    }

    /// `fsync = off` still writes WAL on flush (the walwriter and commits move
    /// `flushed_upto`) but never syncs it; with `fsync = on`, a flush leaves nothing
    /// of the WAL that a power loss could drop.
    #[test]
    fn flush_syncs_wal_only_with_fsync_on() {
        for fsync in [true, false] {
            let disk = crate::storage::fault::SimulatedDisk::new();
            disk.create_dir_all(std::path::Path::new(WAL_DIR)).unwrap();
            disk.sync_dir(std::path::Path::new("")).unwrap();
            let io: Arc<dyn FileIo> = Arc::new(disk.clone());
            let segment =
                TestSegment::new(crate::shmem::WAL_CONTROL_LEN_BYTES + RING_PAGES * XLOG_BLCKSZ);
            let wal = Wal::attach(
                segment.struct_at::<WalShared>(0),
                segment.bytes(
                    crate::shmem::WAL_CONTROL_LEN_BYTES,
                    RING_PAGES * XLOG_BLCKSZ,
                ),
                io,
                fsync,
            );
            wal.initialize(WalStart {
                end_of_wal: Lsn(WAL_SEGMENT_SIZE),
                prev_record: Lsn::INVALID,
                timeline: TimeLineId::FIRST,
                system_id: 42,
            })
            .unwrap();
            let end = insert(&wal, 0, 0);
            wal.flush(end).unwrap();
            assert!(wal.shared().flushed_upto() >= end);
            assert_eq!(disk.unsynced_file_changes() == 0, fsync, "fsync = {fsync}");
        }
    }

    /// Commit-like use from several processes: every record is flushed right after
    /// it is inserted, so flushers keep finding the write lock busy and wait for the
    /// flush in progress (the lock_exclusive_or_wait path). Each flush must return
    /// only once its own record is durable, and the records read back intact.
    #[test]
    fn concurrent_committers_return_only_once_their_record_is_flushed() {
        const WRITERS: u32 = 4;
        const PER_WRITER: u32 = 150;
        let fixture = Fixture::new();
        let wal = fixture.start();
        let mut children = Vec::new();
        for writer in 0..WRITERS {
            // SAFETY: as in the test above: the child uses only the shared mapping,
            // its own Wal handle and file I/O, then _exits.
            match unsafe { nix::unistd::fork() }.unwrap() {
                nix::unistd::ForkResult::Child => {
                    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let wal = fixture.wal();
                        for seq in 0..PER_WRITER {
                            let end = insert(&wal, writer, seq);
                            wal.flush(end).unwrap();
                            assert!(wal.shared().flushed_upto() >= end);
                        }
                    }))
                    .map_or(1, |_| 0);
                    // SAFETY: _exit skips the test harness's atexit state.
                    unsafe { libc::_exit(code) };
                }
                nix::unistd::ForkResult::Parent { child } => children.push(child),
            }
        }
        for child in children {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
        let (seen, end) = read_all(&fixture);
        assert_eq!(seen.len(), (WRITERS * PER_WRITER) as usize);
        assert_eq!(end, wal.shared().flushed_upto());
        assert!(wal.shared().flush_count() <= u64::from(WRITERS * PER_WRITER));
    }

    #[test]
    fn wal_continues_after_reinitialising_at_the_end_of_a_partial_page() {
        let fixture = Fixture::new();
        let wal = fixture.start();
        let mut end = Lsn::INVALID;
        for seq in 0..3 {
            end = insert(&wal, 0, seq);
        }
        wal.flush(end).unwrap();
        let prev = wal.shared().prev_record_lsn();
        assert_ne!(page_offset(end), 0, "test needs a partial last page");
        // A new server life: fresh shared memory, continue where WAL ended.
        let fixture2 = Fixture {
            _dir: tempfile::tempdir().unwrap(),
            io: Arc::clone(&fixture.io),
            segment: TestSegment::new(
                crate::shmem::WAL_CONTROL_LEN_BYTES + RING_PAGES * XLOG_BLCKSZ,
            ),
        };
        let wal2 = fixture2.wal();
        wal2.initialize(WalStart {
            end_of_wal: end,
            prev_record: prev,
            timeline: TimeLineId::FIRST,
            system_id: 42,
        })
        .unwrap();
        for seq in 3..6 {
            end = insert(&wal2, 0, seq);
        }
        wal2.flush(end).unwrap();
        let (seen, _) = read_all(&fixture);
        assert_eq!(seen, (0..6).map(|s| (0, s)).collect::<Vec<_>>());
    }

    #[test]
    fn concurrent_inserts_from_forked_processes_are_all_durable_and_chained() {
        const WRITERS: u32 = 4;
        const PER_WRITER: u32 = 300;
        let fixture = Fixture::new();
        let wal = fixture.start();
        let mut children = Vec::new();
        for writer in 0..WRITERS {
            // SAFETY: the child only uses the shared mapping, its own Wal handle and
            // file I/O, then _exits without returning into the test harness.
            match unsafe { nix::unistd::fork() }.unwrap() {
                nix::unistd::ForkResult::Child => {
                    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let wal = fixture.wal();
                        for seq in 0..PER_WRITER {
                            let end = insert(&wal, writer, seq);
                            if seq % 10 == 9 {
                                wal.flush(end).unwrap();
                            }
                        }
                    }))
                    .map_or(1, |_| 0);
                    // SAFETY: _exit skips the test harness's atexit state.
                    unsafe { libc::_exit(code) };
                }
                nix::unistd::ForkResult::Parent { child } => children.push(child),
            }
        }
        for child in children {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
        wal.flush(wal.shared().reserved_end()).unwrap();
        let (seen, _) = read_all(&fixture);
        assert_eq!(seen.len(), (WRITERS * PER_WRITER) as usize);
        for writer in 0..WRITERS {
            let seqs: Vec<u32> = seen
                .iter()
                .filter(|(w, _)| *w == writer)
                .map(|(_, s)| *s)
                .collect();
            assert_eq!(seqs, (0..PER_WRITER).collect::<Vec<_>>(), "writer {writer}");
        }
        // Group commit: far fewer fdatasyncs than flush requests.
        assert!(wal.shared().flush_count() <= u64::from(WRITERS * PER_WRITER / 10) + 1);
    }
}
