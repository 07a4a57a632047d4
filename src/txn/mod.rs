//! Transactions: xid assignment, the commit log (clog), commit and abort records, and
//! MVCC snapshots (DESIGN.md §5) — PostgreSQL's `access/transam` (`varsup.c`, `clog.c`,
//! `slru.c`, `xact.c`) and `GetSnapshotData`, reduced. The rules are in `README.md`
//! beside this file; each is pinned by a test in `tests.rs` or `clog.rs`.
//!
//! Owns:
//! * [`TxnShared`], the subsystem's one shared-memory region ([`SHMEM_BYTES`]): the
//!   xid-generation lock, the proc-array lock, and the clog page cache.
//! * `clog.rs`: transaction status, 2 bits per xid, in 8 KiB pages cached in shared
//!   memory and stored in `pg_xact/XXXX` segment files; WAL-logged page creation.
//! * `xid.rs`: assigning xids (never before their clog page exists), wraparound-aware
//!   comparisons beyond those of `access::heap::visibility`.
//! * `xact.rs`: commit and abort (WAL record → flush per `synchronous_commit` → clog →
//!   proc array), their redo, and the end-of-recovery abort of crashed transactions.
//! * `xact_rels.rs`: commit/abort records that also list relation files to remove
//!   (DROP TABLE at commit, CREATE TABLE at abort), and their redo.
//! * `snapshot.rs`: `GetSnapshotData` over the proc array, and the
//!   [`XidStatusOracle`](crate::access::heap::visibility::XidStatusOracle) the heap's
//!   visibility rules consult.
//! * `wait.rs`: waiting for a transaction that holds a row to end, and deadlock
//!   detection over the proc slots' `waiting_for_xid` edges (no locks taken).
//!
//! Rules enforced here (DESIGN.md §4 rules 1, 2, 5; §5):
//! * A commit is durable when its commit record is flushed; clog says COMMITTED only
//!   after the record is in WAL, and a clog page is written to disk only after WAL is
//!   flushed up to the newest commit record it reflects (log before data, as for
//!   heap pages; [`WalFlush`] is the callback).
//! * An xid is handed out only after its clog page exists and the page's creation is
//!   WAL-logged (`CLOG_ZEROPAGE`), so redo can rebuild every page.
//! * Redo of commit/abort/zero-page records is idempotent.
//!
//! Locks, in the order they may be taken (they come after buffer content locks and
//! before the WAL's insertion/write locks in `src/shmem/README.md`'s table):
//! 1. [`TxnShared::xid_gen_lock`] (PostgreSQL's `XidGenLock`), held while an xid is
//!    assigned: the clog page is extended and the xid published in the proc slot
//!    before `next_xid` moves past it.
//! 2. The clog cache lock (`XactSLRULock`), held for every clog access, including its
//!    page I/O and the WAL flush before a dirty page is written, and the WAL insert
//!    of a zero-page record.
//! 3. *(WAL insertion / write locks, taken inside `Wal::insert` / `Wal::flush`.)*
//!
//! [`TxnShared::proc_array_lock`] (`ProcArrayLock`) is taken alone: shared by
//! snapshots, exclusive to clear a finished transaction's xid, so a snapshot sees
//! commits as one consistent prefix.
//!
//! Callers: backends (assign, commit, abort, snapshots, visibility), the startup
//! process (redo, end-of-recovery abort, [`clog::Clog::trim_after_recovery`]), and the
//! checkpointer ([`clog::Clog::flush_all`]).

pub mod clog;
pub mod snapshot;
pub mod wait;
pub mod xact;
pub mod xact_rels;
pub mod xid;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crash;

use std::sync::atomic::AtomicU32;

use crate::error::QuillResult;
use crate::shmem::lwlock::LWLock;
use crate::shmem::ShmemSafe;
use crate::wal::record::{DecodedRecord, RecordBuilder, RmgrId};
use crate::wal::xlog::{CommitDelay, Wal};
use crate::wal::Lsn;

/// The transaction subsystem's shared state, one region of the segment.
///
/// All-zero bytes are the valid initial state (free locks, an empty clog cache); the
/// postmaster zeroes the region at start and at crash restart.
#[repr(C)]
pub struct TxnShared {
    /// PostgreSQL's `XidGenLock`: held exclusive by [`xid::assign_xid`] (and nothing
    /// else) while it extends the clog, publishes the xid in the proc slot and
    /// advances `ServerControl::next_xid`.
    pub xid_gen_lock: LWLock,
    /// PostgreSQL's `ProcArrayLock`: shared by [`snapshot::get_snapshot`], exclusive by
    /// [`xact::end_transaction`] (which clears a slot's xid and xmin).
    pub proc_array_lock: LWLock,
    /// The clog page cache; see [`clog::ClogShared`] for who writes what.
    pub clog: clog::ClogShared,
}

// SAFETY: LWLocks and the clog cache (atomics and an LWLocked plain-data struct) are
// valid when zero, hold no pointers and are Sync.
unsafe impl ShmemSafe for TxnShared {}

/// Bytes of shared memory [`TxnShared`] needs (the lead's layout adds one region of
/// this size, 8-byte aligned at least).
pub const SHMEM_BYTES: usize = std::mem::size_of::<TxnShared>();

/// The WAL's flush interface, shared with the buffer manager (log before data).
pub use crate::wal::WalFlusher as WalFlush;

/// Inserting WAL records: what commit, abort and clog extension need beyond flushing.
pub trait WalInsert: WalFlush {
    /// Inserts one record; returns its (start, end) LSN.
    fn insert(&self, record: &RecordBuilder<'_>) -> QuillResult<(Lsn, Lsn)>;

    /// Remembers an asynchronous commit's end LSN for the walwriter to flush.
    fn note_async_commit(&self, end: Lsn);

    /// Flushes a commit record (synchronous commit): [`WalFlush::flush`], plus the
    /// `commit_delay` wait of whoever performs the group's fdatasync.
    fn flush_commit(&self, end: Lsn, delay: &CommitDelay<'_>) -> QuillResult<()> {
        let _ = delay;
        self.flush(end)
    }
}

impl WalInsert for Wal {
    fn insert(&self, record: &RecordBuilder<'_>) -> QuillResult<(Lsn, Lsn)> {
        Wal::insert(self, record)
    }

    fn note_async_commit(&self, end: Lsn) {
        Wal::note_async_commit(self, end)
    }

    fn flush_commit(&self, end: Lsn, delay: &CommitDelay<'_>) -> QuillResult<()> {
        Wal::flush_commit(self, end, Some(delay))
    }
}

/// The [`WalFlush`] of the startup process while it replays WAL: the records being
/// replayed were read from `pg_wal`, so there is nothing to flush before a clog page
/// they changed is written (PostgreSQL's `XLogFlush` during recovery only moves the
/// minimum recovery point). Never use it once insertion has started.
pub struct RecoveryWalFlush;

impl WalFlush for RecoveryWalFlush {
    fn flush(&self, _upto: Lsn) -> QuillResult<()> {
        Ok(())
    }

    fn flushed_lsn(&self) -> Lsn {
        Lsn(u64::MAX)
    }
}

/// Redo for this subsystem, for the startup process's dispatcher: applies `Clog`
/// (`CLOG_ZEROPAGE`) and `Xact` (commit, abort) records to `clog` and, for **every**
/// record, advances `next_xid` past the record's xid, so no xid that left a trace in
/// WAL is handed out again. Returns whether the record belonged to this subsystem.
///
/// `clog` should be in recovery mode with [`RecoveryWalFlush`]. After the last
/// record: [`clog::Clog::trim_after_recovery`] with the final `next_xid`, then
/// [`xact::abort_in_progress_after_recovery`], then a checkpoint (which must call
/// [`clog::Clog::flush_all`]).
pub fn redo_record(
    clog: &clog::Clog,
    next_xid: &AtomicU32,
    end_lsn: Lsn,
    record: &DecodedRecord<'_>,
) -> QuillResult<bool> {
    xid::advance_next_xid_past(next_xid, record.xid());
    match record.rmgr() {
        RmgrId::Clog => clog.redo(end_lsn, record).map(|()| true),
        RmgrId::Xact => xact::xact_redo(clog, end_lsn, record).map(|()| true),
        _ => Ok(false),
    }
}
