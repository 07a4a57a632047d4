//! Transaction ids: assignment (PostgreSQL's `GetNewTransactionId`, varsup.c) and the
//! wraparound-aware comparisons that `access::heap::visibility` does not already have.
//!
//! Xids are 32-bit and wrap around: after 2^32 − 1 comes 3, because 0 (invalid),
//! 1 (bootstrap) and 2 (frozen) are never handed out. Normal xids compare modulo 2^32
//! within a 2^31 window ([`xid_precedes`]); keeping live xids inside that window is
//! VACUUM's freezing job (not built yet, and neither are the xidWarnLimit /
//! xidStopLimit guards that refuse new xids near wraparound).
//!
//! # Assignment
//! Under `xid_gen_lock` (held exclusive, nothing else takes it):
//! 1. read `next_xid`;
//! 2. [`Clog::extend_for`]: if it is the first xid of a clog page, zero the page and
//!    WAL-log `CLOG_ZEROPAGE` — so no xid is ever handed out before its clog page
//!    exists and redo can recreate the page;
//! 3. publish the xid in the caller's proc slot;
//! 4. only then advance `next_xid` (Release).
//!
//! Why 3 before 4: a snapshot reads `next_xid` and then scans the proc array. Any xid
//! below the `next_xid` it read is therefore already visible in its slot (or finished,
//! with its clog status set before the slot was cleared), so a running transaction can
//! never look "finished" to a snapshot. An atomic `fetch_add` alone would allow that.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::access::heap::tuple::TransactionId;
pub use crate::access::heap::visibility::{
    xid_is_normal, xid_precedes, FIRST_NORMAL_TRANSACTION_ID, INVALID_TRANSACTION_ID,
};
use crate::error::QuillResult;
use crate::shmem::lwlock::LWLock;
use crate::shmem::procarray::ProcSlot;

use super::clog::Clog;
use super::WalInsert;

/// `TransactionIdFollows`: is `a` logically after `b`?
pub fn xid_follows(a: TransactionId, b: TransactionId) -> bool {
    xid_precedes(b, a)
}

/// `TransactionIdPrecedesOrEquals`.
pub fn xid_precedes_or_equals(a: TransactionId, b: TransactionId) -> bool {
    a == b || xid_precedes(a, b)
}

/// `TransactionIdFollowsOrEquals`.
pub fn xid_follows_or_equals(a: TransactionId, b: TransactionId) -> bool {
    a == b || xid_precedes(b, a)
}

/// The xid after `xid` (`TransactionIdAdvance`): skips the special ids at wraparound.
pub fn xid_after(xid: TransactionId) -> TransactionId {
    let next = xid.wrapping_add(1);
    if xid_is_normal(next) {
        next
    } else {
        FIRST_NORMAL_TRANSACTION_ID
    }
}

/// Assigns the calling transaction its xid and publishes it in `my_slot` (see the
/// module doc for the order and why). `next_xid` is `ServerControl::next_xid`;
/// `xid_gen_lock` is [`super::TxnShared::xid_gen_lock`].
///
/// Must hold: the transaction has no xid yet; the caller holds no clog or WAL lock
/// (lock order: xid_gen_lock → clog → WAL). An error (the zero-page record could not
/// be inserted, a clog page could not be written) hands out nothing.
pub fn assign_xid(
    xid_gen_lock: &LWLock,
    next_xid: &AtomicU32,
    my_slot: &ProcSlot,
    clog: &Clog,
    wal: &dyn WalInsert,
) -> QuillResult<TransactionId> {
    debug_assert_eq!(
        my_slot.xid.load(Ordering::Relaxed),
        INVALID_TRANSACTION_ID,
        "a transaction gets one xid"
    );
    let _gen = xid_gen_lock.lock_exclusive();
    let mut xid = next_xid.load(Ordering::Acquire);
    if !xid_is_normal(xid) {
        xid = FIRST_NORMAL_TRANSACTION_ID; // a zeroed control region
    }
    clog.extend_for(xid, wal)?;
    my_slot.xid.store(xid, Ordering::SeqCst);
    next_xid.store(xid_after(xid), Ordering::SeqCst);
    Ok(xid)
}

/// Redo: makes `next_xid` follow `seen`, an xid found in a replayed record, so no xid
/// that has left a trace in WAL is handed out again after recovery
/// (`AdvanceNextFullTransactionIdPastXid`). Special xids are ignored. Startup process
/// only (no concurrent assignment).
pub fn advance_next_xid_past(next_xid: &AtomicU32, seen: TransactionId) {
    if !xid_is_normal(seen) {
        return;
    }
    let current = next_xid.load(Ordering::Acquire);
    if !xid_is_normal(current) || xid_follows_or_equals(seen, current) {
        next_xid.store(xid_after(seen), Ordering::Release);
    }
}
