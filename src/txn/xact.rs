//! Commit and abort (PostgreSQL's `RecordTransactionCommit` / `RecordTransactionAbort`
//! and `xact_redo`, xact.c), reduced to top-level transactions without subtransactions,
//! relation drops or invalidation messages.
//!
//! # Records (resource manager `Xact`)
//! ```text
//!  xl_info  XLOG_XACT_COMMIT 0x00 | XLOG_XACT_ABORT 0x20
//!  xl_xid   the transaction
//!  main data (12 bytes, little-endian):
//!   0  xact_time  i64   commit/abort time, µs since 2000-01-01 (TimestampTz)
//!   8  xid        u32   the transaction (again: redo does not trust the header alone)
//! ```
//! With `XLOG_XACT_HAS_INFO` (0x80) in `xl_info`, a list of relation files to remove
//! follows (DROP TABLE, aborted CREATE TABLE): `xact_rels.rs`.
//!
//! # Commit, in this order (README rule 1)
//! 1. insert the commit record;
//! 2. `synchronous_commit = on`: flush WAL to its end (the commit is durable, and may
//!    be acknowledged, only now) — with group commit and, if `commit_delay` is set and
//!    at least `commit_siblings` other transactions run, a short wait by whoever
//!    flushes so more commits share its fdatasync ([`WalInsert::flush_commit`]);
//!    `off`: tell the walwriter ([`WalInsert::note_async_commit`]);
//! 3. set clog COMMITTED, with the record's end LSN, so the clog page cannot reach the
//!    disk before the record does (asynchronous commit);
//! 4. the caller clears its proc slot ([`end_transaction`]): only now do new snapshots
//!    see the transaction as finished.
//!
//! Steps 2–3 run in a critical section: once the commit record is in WAL, failing to
//! flush it or to record it in clog is a PANIC (crash restart and redo settle it), never
//! an error that would let the client believe the transaction aborted.
//!
//! # Abort
//! Insert the abort record (not flushed: if it is lost, the transaction is "in
//! progress" in clog after the crash and is aborted at the end of recovery), set clog
//! ABORTED without an LSN, then [`end_transaction`].
//!
//! # Crashed transactions
//! An xid with no commit or abort record before the end of WAL never committed.
//! [`abort_in_progress_after_recovery`] marks them aborted in clog at the end of
//! recovery. (Until it runs, or for an xid it did not cover, the visibility rules
//! already treat "in progress in clog but not running per the snapshot" as not
//! committed: such rows stay invisible and such deletions do not take effect.)

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::access::heap::tuple::TransactionId;
use crate::access::heap::visibility::{xid_is_normal, FIRST_NORMAL_TRANSACTION_ID};
use crate::error::{QuillError, QuillResult};
use crate::shmem::lwlock::LWLock;
use crate::shmem::procarray::ProcSlot;
use crate::storage::ids::RelFileNode;
use crate::wal::record::{DecodedRecord, RecordBuilder, RmgrId};
use crate::wal::xlog::CommitDelay;
use crate::wal::Lsn;

use super::clog::{Clog, TransactionStatus};
use super::WalInsert;

pub const XLOG_XACT_COMMIT: u8 = 0x00;
pub const XLOG_XACT_ABORT: u8 = 0x20;
/// Bytes of an xact record's main data.
pub const XACT_DATA_LEN: usize = 12;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XactKind {
    Commit,
    Abort,
}

impl XactKind {
    pub fn info(self) -> u8 {
        match self {
            XactKind::Commit => XLOG_XACT_COMMIT,
            XactKind::Abort => XLOG_XACT_ABORT,
        }
    }
}

/// A decoded commit or abort record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XactRecord {
    pub kind: XactKind,
    pub xid: TransactionId,
    /// µs since 2000-01-01 (PostgreSQL's TimestampTz).
    pub xact_time: i64,
}

impl XactRecord {
    pub fn encode(&self) -> [u8; XACT_DATA_LEN] {
        let mut out = [0u8; XACT_DATA_LEN];
        out[..8].copy_from_slice(&self.xact_time.to_le_bytes());
        out[8..].copy_from_slice(&self.xid.to_le_bytes());
        out
    }

    /// Decodes an xact record's `xl_info` and main data; `None` if malformed.
    pub fn decode(info: u8, data: &[u8]) -> Option<XactRecord> {
        let kind = match info & super::xact_rels::XLOG_XACT_OPMASK {
            XLOG_XACT_COMMIT => XactKind::Commit,
            XLOG_XACT_ABORT => XactKind::Abort,
            _ => return None,
        };
        // With XLOG_XACT_HAS_INFO, more follows the fixed part (`xact_rels.rs`).
        let extended = info & super::xact_rels::XLOG_XACT_HAS_INFO != 0;
        if data.len() < XACT_DATA_LEN || (!extended && data.len() != XACT_DATA_LEN) {
            return None;
        }
        Some(XactRecord {
            kind,
            xact_time: i64::from_le_bytes(data[..8].try_into().ok()?),
            xid: u32::from_le_bytes(data[8..XACT_DATA_LEN].try_into().ok()?),
        })
    }

    /// Decodes a WAL record of the Xact resource manager, checking that the header's
    /// xid agrees with the data.
    pub fn from_record(record: &DecodedRecord<'_>) -> QuillResult<XactRecord> {
        let bad = || QuillError::internal("invalid transaction record");
        if record.rmgr() != RmgrId::Xact {
            return Err(bad());
        }
        let decoded = XactRecord::decode(record.info(), record.main_data()).ok_or_else(bad)?;
        if decoded.xid != record.xid() || !xid_is_normal(decoded.xid) {
            return Err(bad());
        }
        Ok(decoded)
    }

    /// The record's builder (borrows `data`, the output of [`XactRecord::encode`]).
    pub fn builder<'a>(&self, data: &'a [u8; XACT_DATA_LEN]) -> RecordBuilder<'a> {
        let mut record = RecordBuilder::new(RmgrId::Xact, self.kind.info(), self.xid);
        record.main_data(data);
        record
    }

    /// What pg_waldump prints after "desc:", e.g. `COMMIT 2026-05-01 10:00:00.000000 UTC`.
    pub fn describe(&self) -> String {
        let seconds = (self.xact_time + POSTGRES_EPOCH_UNIX_MICROS).div_euclid(1_000_000);
        let micros = self.xact_time.rem_euclid(1_000_000);
        let when = crate::wal::recovery::format_time(seconds);
        let kind = match self.kind {
            XactKind::Commit => "COMMIT",
            XactKind::Abort => "ABORT",
        };
        // format_time ends in " UTC"; put the fraction before it.
        let when = when.trim_end_matches(" UTC");
        format!("{kind} {when}.{micros:06} UTC")
    }
}

/// Now, as PostgreSQL's TimestampTz.
pub fn now_timestamp() -> i64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    since_unix - POSTGRES_EPOCH_UNIX_MICROS
}

/// How a commit reaches the disk: the session's `synchronous_commit`, `commit_delay`
/// and `commit_siblings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitSettings {
    /// `on` (and `local`, `remote_*`): flush before returning; `off`: leave it to the
    /// walwriter.
    pub synchronous_commit: bool,
    /// `commit_delay`, µs: how long the process about to flush waits for more commits
    /// to join its fdatasync (0, the default: never).
    pub commit_delay_us: u64,
    /// `commit_siblings`: the wait happens only if at least this many other
    /// transactions are running.
    pub commit_siblings: usize,
}

impl CommitSettings {
    /// Plain synchronous or asynchronous commit, without `commit_delay`.
    pub fn synchronous(synchronous_commit: bool) -> CommitSettings {
        CommitSettings {
            synchronous_commit,
            commit_delay_us: 0,
            commit_siblings: 5,
        }
    }

    pub fn from_config(config: &crate::config::Config) -> CommitSettings {
        CommitSettings {
            synchronous_commit: config.synchronous_commit(),
            commit_delay_us: config.commit_delay_us(),
            commit_siblings: config.commit_siblings(),
        }
    }
}

/// Whether at least `n` transactions other than `xid` are running: PostgreSQL's
/// `MinimumActiveBackends`, read without the proc-array lock (a hint: a wrong answer
/// only changes whether a `commit_delay` wait happens).
pub fn other_transactions_at_least(procs: &[ProcSlot], xid: TransactionId, n: usize) -> bool {
    if n == 0 {
        return true;
    }
    let mut seen = 0;
    for slot in procs {
        let other = slot.xid.load(Ordering::Relaxed);
        if other != 0 && other != xid {
            seen += 1;
            if seen >= n {
                return true;
            }
        }
    }
    false
}

/// Commits `xid` (steps 1–3 of the module doc; the caller then calls
/// [`end_transaction`]), synchronously or not, without `commit_delay`. Returns the
/// commit record's end LSN. See [`commit_with`].
pub fn commit(
    xid: TransactionId,
    wal: &dyn WalInsert,
    clog: &Clog,
    synchronous_commit: bool,
) -> QuillResult<Lsn> {
    commit_with(
        xid,
        wal,
        clog,
        &CommitSettings::synchronous(synchronous_commit),
        &[],
        &[],
    )
}

/// Commits `xid` (steps 1–3 of the module doc; the caller then calls
/// [`end_transaction`]) as `settings` say; `procs` is the proc array, for
/// `commit_siblings`; `rels` the relation files to remove once it has committed
/// (DROP TABLE; listed in the record, `xact_rels.rs`). Returns the commit record's
/// end LSN.
///
/// Must hold: `xid` is the caller's running transaction and its changes are all in
/// WAL. An error is returned only if the commit record could not be inserted (the
/// transaction then must abort); after that, failures PANIC. With
/// `synchronous_commit`, returning means the commit record is durable (rule 2).
pub fn commit_with(
    xid: TransactionId,
    wal: &dyn WalInsert,
    clog: &Clog,
    settings: &CommitSettings,
    procs: &[ProcSlot],
    rels: &[RelFileNode],
) -> QuillResult<Lsn> {
    assert!(xid_is_normal(xid), "commit of special xid {xid}");
    let end = insert_record(XactKind::Commit, xid, wal, rels)?;
    // Critical section: the commit record is in WAL.
    if settings.synchronous_commit {
        let worthwhile = || other_transactions_at_least(procs, xid, settings.commit_siblings);
        let delay = CommitDelay {
            wait: Duration::from_micros(settings.commit_delay_us),
            worthwhile: &worthwhile,
        };
        if let Err(e) = wal.flush_commit(end, &delay) {
            panic!("PANIC: could not flush commit record of transaction {xid} at {end}: {e}");
        }
    } else {
        wal.note_async_commit(end);
    }
    if let Err(e) = clog.set_status(xid, TransactionStatus::Committed, end) {
        panic!("PANIC: could not record commit of transaction {xid} in clog: {e}");
    }
    Ok(end)
}

/// Inserts a commit or abort record for `xid`, listing `rels` if there are any.
fn insert_record(
    kind: XactKind,
    xid: TransactionId,
    wal: &dyn WalInsert,
    rels: &[RelFileNode],
) -> QuillResult<Lsn> {
    if !rels.is_empty() {
        return super::xact_rels::insert(kind, xid, wal, rels);
    }
    let record = XactRecord {
        kind,
        xid,
        xact_time: now_timestamp(),
    };
    let data = record.encode();
    let (_, end) = wal.insert(&record.builder(&data))?;
    Ok(end)
}

/// Aborts `xid`: abort record (not flushed), clog ABORTED. Returns the record's end
/// LSN. The caller then calls [`end_transaction`].
pub fn abort(xid: TransactionId, wal: &dyn WalInsert, clog: &Clog) -> QuillResult<Lsn> {
    abort_removing(xid, wal, clog, &[])
}

/// [`abort`] with a record listing `rels`, the files the transaction created (they
/// are removed, also by redo).
pub fn abort_removing(
    xid: TransactionId,
    wal: &dyn WalInsert,
    clog: &Clog,
    rels: &[RelFileNode],
) -> QuillResult<Lsn> {
    assert!(xid_is_normal(xid), "abort of special xid {xid}");
    let end = insert_record(XactKind::Abort, xid, wal, rels)?;
    // Critical section, as PostgreSQL's RecordTransactionAbort.
    if let Err(e) = clog.set_status(xid, TransactionStatus::Aborted, Lsn::INVALID) {
        panic!("PANIC: could not record abort of transaction {xid} in clog: {e}");
    }
    Ok(end)
}

/// Step 4: the transaction is over for everyone else's snapshots
/// (`ProcArrayEndTransaction`). Clears the slot's xid and xmin under the proc-array
/// lock, so no snapshot sees a later commit finished and this one running.
pub fn end_transaction(proc_array_lock: &LWLock, my_slot: &ProcSlot) {
    let _procs = proc_array_lock.lock_exclusive();
    my_slot.xid.store(0, Ordering::SeqCst);
    my_slot.xmin.store(0, Ordering::SeqCst);
}

/// Redo of a commit or abort record: sets the clog status (idempotent: applying it
/// twice is applying it once). The caller also advances `next_xid` past the record's
/// xid ([`super::xid::advance_next_xid_past`]), as for every record.
pub fn xact_redo(clog: &Clog, end_lsn: Lsn, record: &DecodedRecord<'_>) -> QuillResult<()> {
    let xact = XactRecord::from_record(record)?;
    match xact.kind {
        XactKind::Commit => clog.set_status(xact.xid, TransactionStatus::Committed, end_lsn),
        XactKind::Abort => clog.set_status(xact.xid, TransactionStatus::Aborted, Lsn::INVALID),
    }
}

/// End of recovery: every xid in `[oldest_xid, next_xid)` that clog still calls in
/// progress had no commit or abort record before the end of WAL, so it never
/// committed; mark it aborted. Returns how many were.
///
/// `oldest_xid` is the oldest xid that may have been running at the crash. Quill
/// does not yet record that in checkpoints (PostgreSQL's `oldestActiveXid`), so the
/// startup process passes [`FIRST_NORMAL_TRANSACTION_ID`] — the whole clog, one page
/// per 32768 xids — until freezing and clog truncation exist. Call after
/// [`Clog::trim_after_recovery`], with the clog in recovery mode.
pub fn abort_in_progress_after_recovery(
    clog: &Clog,
    oldest_xid: TransactionId,
    next_xid: TransactionId,
) -> QuillResult<u64> {
    let from = if xid_is_normal(oldest_xid) {
        oldest_xid
    } else {
        FIRST_NORMAL_TRANSACTION_ID
    };
    let aborted = clog.abort_in_progress(from, next_xid)?;
    if aborted > 0 {
        log::info!("marked {aborted} transactions without a commit record as aborted");
    }
    Ok(aborted)
}
