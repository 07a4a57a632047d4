//! MVCC snapshots from the proc array (PostgreSQL's `GetSnapshotData`, procarray.c)
//! and the clog-backed [`XidStatusOracle`] the heap's visibility rules consult.
//!
//! A snapshot is `xmax` = the next xid to be assigned (everything at or after it had
//! not started), `xip` = the xids of the other transactions running now, and `xmin` =
//! the smallest of those (or `xmax`). The caller's own xid is left out: the visibility
//! rules recognise it through [`XidStatusOracle::is_current`] before they look at the
//! snapshot.
//!
//! **When to take one** is the executor's decision, by isolation level (DESIGN.md §5):
//! READ COMMITTED takes a fresh snapshot for every statement, REPEATABLE READ takes one
//! at its first statement and keeps it for the whole transaction. Either way, the first
//! snapshot of a transaction sets the proc slot's `xmin` ([`get_snapshot`]), which is
//! what VACUUM's horizon will read; [`super::xact::end_transaction`] clears it.
//!
//! **Consistency.** [`get_snapshot`] reads `next_xid` and scans the slots under the
//! proc-array lock held shared, while commits clear their slot under it held exclusive.
//! So a snapshot sees finished transactions as one prefix of the commit order: it
//! cannot see a transaction as committed and one that committed before it as running.
//! And because an xid is published in its slot before `next_xid` moves past it
//! (`xid.rs`), every xid below `xmax` is either in a slot or finished in clog.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::access::heap::tuple::TransactionId;
use crate::access::heap::visibility::{
    xid_is_normal, xid_precedes, Snapshot, XidStatus, XidStatusOracle,
};
use crate::shmem::lwlock::LWLock;
use crate::shmem::procarray::ProcSlot;

use super::clog::Clog;

/// Builds a snapshot from `procs` given the next xid to be assigned and the caller's
/// own xid (0 if it has none). `curcid` is 0: the executor sets the command id.
///
/// Pure scan: the caller holds the proc-array lock shared and read `next_xid` under it
/// (use [`get_snapshot`]); tests may call it directly.
pub fn take_snapshot(
    procs: &[ProcSlot],
    next_xid: TransactionId,
    my_xid: TransactionId,
) -> Snapshot {
    let xmax = next_xid;
    let mut xmin = xmax;
    let mut xip = Vec::new();
    for slot in procs {
        let xid = slot.xid.load(Ordering::SeqCst);
        if !xid_is_normal(xid) || xid == my_xid {
            continue;
        }
        // Assigned after next_xid was read: not running as far as we are concerned.
        if !xid_precedes(xid, xmax) {
            continue;
        }
        if xid_precedes(xid, xmin) {
            xmin = xid;
        }
        xip.push(xid);
    }
    Snapshot {
        xmin,
        xmax,
        xip,
        curcid: 0,
    }
}

/// Takes a snapshot for the process in `my_slot` (`GetSnapshotData`): under
/// `proc_array_lock` shared, reads `next_xid` (`ServerControl::next_xid`) and scans
/// `procs`; sets the slot's `xmin` if it has none yet.
pub fn get_snapshot(
    proc_array_lock: &LWLock,
    procs: &[ProcSlot],
    next_xid: &AtomicU32,
    my_slot: &ProcSlot,
) -> Snapshot {
    let _procs = proc_array_lock.lock_shared();
    let next = next_xid.load(Ordering::SeqCst);
    let my_xid = my_slot.xid.load(Ordering::Relaxed);
    let snapshot = take_snapshot(procs, next, my_xid);
    if !xid_is_normal(my_slot.xmin.load(Ordering::Relaxed)) {
        my_slot.xmin.store(snapshot.xmin, Ordering::SeqCst);
    }
    snapshot
}

/// The commit log as the visibility rules see it, for a backend whose own
/// transaction is `my_xid` (0 if it has none).
///
/// Answers are cached for the last xid asked (rows of one page often share an
/// inserter). A clog read error cannot be returned through the trait; it panics,
/// which is a crash restart — guessing a status would be silent corruption.
pub struct ClogOracle<'a> {
    clog: &'a Clog,
    my_xid: TransactionId,
    last: Cell<Option<(TransactionId, XidStatus)>>,
}

impl<'a> ClogOracle<'a> {
    pub fn new(clog: &'a Clog, my_xid: TransactionId) -> ClogOracle<'a> {
        ClogOracle {
            clog,
            my_xid,
            last: Cell::new(None),
        }
    }
}

impl XidStatusOracle for ClogOracle<'_> {
    fn status(&self, xid: TransactionId) -> XidStatus {
        if let Some((cached, status)) = self.last.get() {
            if cached == xid {
                return status;
            }
        }
        let status = match self.clog.get_status(xid) {
            Ok(status) => status.to_xid_status(),
            Err(e) => panic!("could not access status of transaction {xid}: {e}"),
        };
        // Only final answers are cached: an in-progress xid may finish any moment.
        if status != XidStatus::InProgress {
            self.last.set(Some((xid, status)));
        }
        status
    }

    fn is_current(&self, xid: TransactionId) -> bool {
        xid_is_normal(xid) && xid == self.my_xid
    }
}
