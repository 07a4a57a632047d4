//! MVCC visibility: which tuple versions a snapshot sees (PostgreSQL's
//! `HeapTupleSatisfiesMVCC`, heapam_visibility.c), as a pure function.
//!
//! A snapshot sees a tuple when its inserter "happened before" the snapshot and its
//! deleter (if any) did not:
//!
//! * **xmin** must be committed and not running as of the snapshot — i.e. not in
//!   `xip` and below `xmax` — or be the current transaction with `cmin < curcid`
//!   (inserted by an earlier command of ours; a scan never sees rows its own command
//!   inserts, which is what stops `INSERT INTO t SELECT * FROM t` from looping).
//! * **xmax** hides the tuple only when it is a real deleter (not a row lock:
//!   `HEAP_XMAX_LOCK_ONLY`) and either committed and not running as of the snapshot,
//!   or the current transaction with `cmax < curcid`. An aborted or still-running
//!   deleter leaves the tuple visible.
//!
//! The order of checks is PostgreSQL's, and so is the reason for it: the snapshot is
//! consulted **before** the commit log. A transaction that commits after the snapshot
//! was taken is "in progress" for this snapshot, and clog alone cannot say that.
//!
//! **Hint bits.** Finding that xmin committed or aborted means a clog lookup; the
//! answer is final, so PostgreSQL caches it in the tuple (`HEAP_XMIN_COMMITTED` …).
//! This function never writes: it returns the [`HintBits`] the caller may set. A
//! "committed" hint names its xid because, under asynchronous commit, the hint may
//! only be written once that transaction's commit record is flushed — otherwise a
//! crash could leave a page saying "committed" about a transaction that, after
//! recovery, never did. "Invalid" hints are always safe. Hints are not WAL-logged.
//!
//! **Not supported** (reported as [`VisibilityError`], never guessed): combo CIDs and
//! MultiXact updaters that the oracle cannot resolve, and pre-9.0 `HEAP_MOVED` tuples.
//! Quill has no subtransactions, so `xip` is the whole in-progress list.
//!
//! Transaction ids compare modulo 2^32 as PostgreSQL's `TransactionIdPrecedes`:
//! normal xids (≥ 3) are ordered within a 2^31 window; special ids (0 invalid,
//! 1 bootstrap, 2 frozen) precede every normal one.

use std::fmt;

use crate::access::heap::tuple::{
    CommandId, HeapTupleHeader, TransactionId, HEAP_MOVED, HEAP_XMAX_COMMITTED, HEAP_XMAX_INVALID,
    HEAP_XMIN_COMMITTED, HEAP_XMIN_INVALID,
};
use crate::error::{sqlstate, QuillError};

pub const INVALID_TRANSACTION_ID: TransactionId = 0;
pub const BOOTSTRAP_TRANSACTION_ID: TransactionId = 1;
pub const FROZEN_TRANSACTION_ID: TransactionId = 2;
pub const FIRST_NORMAL_TRANSACTION_ID: TransactionId = 3;

pub fn xid_is_normal(xid: TransactionId) -> bool {
    xid >= FIRST_NORMAL_TRANSACTION_ID
}

/// `TransactionIdPrecedes`: is `a` logically before `b`?
pub fn xid_precedes(a: TransactionId, b: TransactionId) -> bool {
    if !xid_is_normal(a) || !xid_is_normal(b) {
        return a < b;
    }
    (a.wrapping_sub(b) as i32) < 0
}

/// An MVCC snapshot: everything below `xmin` had finished, everything at or above
/// `xmax` had not started, and `xip` lists those in between still running. `curcid`
/// is the current command's id: our own changes made by earlier commands are seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub xmin: TransactionId,
    pub xmax: TransactionId,
    pub xip: Vec<TransactionId>,
    pub curcid: CommandId,
}

impl Snapshot {
    /// Whether `xid` counts as still running for this snapshot (`XidInMVCCSnapshot`).
    pub fn xid_in_progress(&self, xid: TransactionId) -> bool {
        if xid_precedes(xid, self.xmin) {
            return false;
        }
        if !xid_precedes(xid, self.xmax) {
            return true;
        }
        self.xip.contains(&xid)
    }
}

/// A transaction's outcome according to the commit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XidStatus {
    Committed,
    /// Aborted, or crashed before committing.
    Aborted,
    InProgress,
}

/// What the visibility rules need to know beyond the tuple and the snapshot. Only
/// asked about normal xids (≥ 3).
pub trait XidStatusOracle {
    /// The commit log's answer for `xid`.
    fn status(&self, xid: TransactionId) -> XidStatus;

    /// Whether `xid` is the calling backend's own transaction.
    fn is_current(&self, xid: TransactionId) -> bool;

    /// (cmin, cmax) for a combo command id of the current transaction, `None` if
    /// unknown. Quill does not create combo CIDs yet.
    fn combo_cid(&self, _combo: CommandId) -> Option<(CommandId, CommandId)> {
        None
    }

    /// The updating member of a MultiXact xmax, `None` if unknown. Quill does not
    /// create MultiXacts yet.
    fn multixact_updater(&self, _multi: TransactionId) -> Option<TransactionId> {
        None
    }
}

/// One hint bit the caller may set in `t_infomask`. `xid` is the transaction whose
/// commit record must be flushed first (`INVALID_TRANSACTION_ID`: no condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub bit: u16,
    pub xid: TransactionId,
}

/// Hint bits learned while deciding visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HintBits {
    /// `HEAP_XMIN_COMMITTED` or `HEAP_XMIN_INVALID`.
    pub xmin: Option<Hint>,
    /// `HEAP_XMAX_COMMITTED` or `HEAP_XMAX_INVALID`.
    pub xmax: Option<Hint>,
}

impl HintBits {
    pub fn is_empty(&self) -> bool {
        self.xmin.is_none() && self.xmax.is_none()
    }

    /// Sets the hints in `header` for which `may_set(hint)` says yes (e.g. "its
    /// commit record is flushed").
    pub fn apply(&self, header: &mut HeapTupleHeader, mut may_set: impl FnMut(&Hint) -> bool) {
        for hint in [self.xmin, self.xmax].into_iter().flatten() {
            if may_set(&hint) {
                header.infomask |= hint.bit;
            }
        }
    }
}

/// The answer for one tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visibility {
    pub visible: bool,
    pub hints: HintBits,
}

/// A tuple the rules cannot decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisibilityError {
    UnresolvedComboCid(CommandId),
    UnresolvedMultiXact(TransactionId),
    /// `HEAP_MOVED_OFF`/`HEAP_MOVED_IN`: written by pre-9.0 VACUUM FULL.
    MovedTuple,
}

impl fmt::Display for VisibilityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VisibilityError::UnresolvedComboCid(cid) => write!(f, "unknown combo CID {cid}"),
            VisibilityError::UnresolvedMultiXact(m) => {
                write!(f, "cannot resolve updater of MultiXactId {m}")
            }
            VisibilityError::MovedTuple => write!(f, "tuple moved by old-style VACUUM FULL"),
        }
    }
}

impl std::error::Error for VisibilityError {}

impl From<VisibilityError> for QuillError {
    fn from(err: VisibilityError) -> QuillError {
        match err {
            VisibilityError::MovedTuple => {
                QuillError::new(sqlstate::DATA_CORRUPTED, err.to_string())
            }
            _ => QuillError::internal(err.to_string()),
        }
    }
}

/// Special xids answer for themselves; only normal ones go to the oracle.
fn did_commit(oracle: &dyn XidStatusOracle, xid: TransactionId) -> XidStatus {
    match xid {
        INVALID_TRANSACTION_ID => XidStatus::Aborted,
        BOOTSTRAP_TRANSACTION_ID | FROZEN_TRANSACTION_ID => XidStatus::Committed,
        _ => oracle.status(xid),
    }
}

fn is_current(oracle: &dyn XidStatusOracle, xid: TransactionId) -> bool {
    xid_is_normal(xid) && oracle.is_current(xid)
}

fn cmin(
    header: &HeapTupleHeader,
    oracle: &dyn XidStatusOracle,
) -> Result<CommandId, VisibilityError> {
    if !header.is_combo_cid() {
        return Ok(header.cid);
    }
    let (cmin, _) = oracle
        .combo_cid(header.cid)
        .ok_or(VisibilityError::UnresolvedComboCid(header.cid))?;
    Ok(cmin)
}

fn cmax(
    header: &HeapTupleHeader,
    oracle: &dyn XidStatusOracle,
) -> Result<CommandId, VisibilityError> {
    if !header.is_combo_cid() {
        return Ok(header.cid);
    }
    let (_, cmax) = oracle
        .combo_cid(header.cid)
        .ok_or(VisibilityError::UnresolvedComboCid(header.cid))?;
    Ok(cmax)
}

/// The xid that updated or deleted the tuple when xmax is a MultiXact (not lock-only).
fn multi_updater(
    header: &HeapTupleHeader,
    oracle: &dyn XidStatusOracle,
) -> Result<TransactionId, VisibilityError> {
    oracle
        .multixact_updater(header.xmax)
        .ok_or(VisibilityError::UnresolvedMultiXact(header.xmax))
}

fn hint(bit: u16, xid: TransactionId) -> Option<Hint> {
    Some(Hint { bit, xid })
}

/// Is the tuple with this header visible to `snapshot`? (`HeapTupleSatisfiesMVCC`,
/// for READ COMMITTED and REPEATABLE READ alike; they differ only in when the
/// snapshot is taken.) Reads nothing but its arguments; see the module doc for hints.
pub fn heap_tuple_satisfies_mvcc(
    header: &HeapTupleHeader,
    snapshot: &Snapshot,
    oracle: &dyn XidStatusOracle,
) -> Result<Visibility, VisibilityError> {
    let mut hints = HintBits::default();
    let answer = |visible: bool, hints: HintBits| Ok(Visibility { visible, hints });
    let xmin = header.xmin;

    if !header.xmin_committed() {
        if header.xmin_invalid() {
            return answer(false, hints);
        }
        if header.infomask & HEAP_MOVED != 0 {
            return Err(VisibilityError::MovedTuple);
        }
        if is_current(oracle, xmin) {
            // Inserted by us: visible to commands after the inserting one, unless
            // also deleted by an earlier command of ours.
            if cmin(header, oracle)? >= snapshot.curcid {
                return answer(false, hints); // inserted after this scan started
            }
            if header.xmax_invalid() || header.xmax_is_locked_only() {
                return answer(true, hints);
            }
            let deleter = if header.xmax_is_multi() {
                multi_updater(header, oracle)?
            } else {
                header.xmax
            };
            if !is_current(oracle, deleter) {
                // The deleting subtransaction must have aborted.
                if !header.xmax_is_multi() {
                    hints.xmax = hint(HEAP_XMAX_INVALID, INVALID_TRANSACTION_ID);
                }
                return answer(true, hints);
            }
            return answer(cmax(header, oracle)? >= snapshot.curcid, hints);
        }
        if snapshot.xid_in_progress(xmin) {
            return answer(false, hints);
        }
        match did_commit(oracle, xmin) {
            XidStatus::Committed => hints.xmin = hint(HEAP_XMIN_COMMITTED, xmin),
            XidStatus::Aborted => {
                hints.xmin = hint(HEAP_XMIN_INVALID, INVALID_TRANSACTION_ID);
                return answer(false, hints);
            }
            // Not running per the snapshot, yet running per clog: cannot be decided
            // safely, so hide the row and record nothing.
            XidStatus::InProgress => return answer(false, hints),
        }
    } else if !header.xmin_frozen() && snapshot.xid_in_progress(xmin) {
        return answer(false, hints); // committed, but after our snapshot
    }

    // The inserter committed before our snapshot. Now the deleter, if any.
    if header.xmax_invalid() || header.xmax_is_locked_only() {
        return answer(true, hints);
    }
    if header.xmax_is_multi() {
        let updater = multi_updater(header, oracle)?;
        if is_current(oracle, updater) {
            return answer(cmax(header, oracle)? >= snapshot.curcid, hints);
        }
        if snapshot.xid_in_progress(updater) {
            return answer(true, hints);
        }
        let committed = did_commit(oracle, updater) == XidStatus::Committed;
        return answer(!committed, hints);
    }
    let xmax = header.xmax;
    if !header.xmax_committed() {
        if is_current(oracle, xmax) {
            return answer(cmax(header, oracle)? >= snapshot.curcid, hints);
        }
        if snapshot.xid_in_progress(xmax) {
            return answer(true, hints);
        }
        match did_commit(oracle, xmax) {
            XidStatus::Committed => hints.xmax = hint(HEAP_XMAX_COMMITTED, xmax),
            XidStatus::Aborted => {
                hints.xmax = hint(HEAP_XMAX_INVALID, INVALID_TRANSACTION_ID);
                return answer(true, hints);
            }
            XidStatus::InProgress => return answer(true, hints),
        }
    } else if snapshot.xid_in_progress(xmax) {
        return answer(true, hints); // deleter committed, but after our snapshot
    }
    answer(false, hints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::heap::tuple::{
        ItemPointer, HEAP_COMBOCID, HEAP_MOVED_IN, HEAP_XMAX_EXCL_LOCK, HEAP_XMAX_IS_MULTI,
        HEAP_XMAX_LOCK_ONLY, HEAP_XMIN_FROZEN,
    };
    use std::collections::HashMap;

    const CURRENT: TransactionId = 150;
    const COMMITTED: TransactionId = 110;
    const COMMITTED_2: TransactionId = 115;
    const ABORTED: TransactionId = 120;
    const CRASHED: TransactionId = 125; // never committed; clog still says in progress
    const COMMITTED_AFTER: TransactionId = 160; // in xip, committed since
    const RUNNING: TransactionId = 170; // in xip, still running
    const STARTED_AFTER: TransactionId = 210; // >= snapshot xmax, committed since
    const CURCID: CommandId = 5;

    struct Oracle {
        status: HashMap<TransactionId, XidStatus>,
        combos: HashMap<CommandId, (CommandId, CommandId)>,
        multis: HashMap<TransactionId, TransactionId>,
    }

    impl Oracle {
        fn new() -> Oracle {
            let status = [
                (CURRENT, XidStatus::InProgress),
                (COMMITTED, XidStatus::Committed),
                (COMMITTED_2, XidStatus::Committed),
                (ABORTED, XidStatus::Aborted),
                (CRASHED, XidStatus::InProgress),
                (COMMITTED_AFTER, XidStatus::Committed),
                (RUNNING, XidStatus::InProgress),
                (STARTED_AFTER, XidStatus::Committed),
            ];
            Oracle {
                status: status.into(),
                combos: HashMap::new(),
                multis: HashMap::new(),
            }
        }
    }

    impl XidStatusOracle for Oracle {
        fn status(&self, xid: TransactionId) -> XidStatus {
            assert!(xid_is_normal(xid), "oracle asked about special xid {xid}");
            self.status[&xid]
        }
        fn is_current(&self, xid: TransactionId) -> bool {
            xid == CURRENT
        }
        fn combo_cid(&self, combo: CommandId) -> Option<(CommandId, CommandId)> {
            self.combos.get(&combo).copied()
        }
        fn multixact_updater(&self, multi: TransactionId) -> Option<TransactionId> {
            self.multis.get(&multi).copied()
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            xmin: 100,
            xmax: 200,
            xip: vec![CURRENT, COMMITTED_AFTER, RUNNING],
            curcid: CURCID,
        }
    }

    fn tuple(
        xmin: TransactionId,
        xmax: TransactionId,
        cid: CommandId,
        infomask: u16,
    ) -> HeapTupleHeader {
        let infomask = if xmax == 0 {
            infomask | HEAP_XMAX_INVALID
        } else {
            infomask
        };
        HeapTupleHeader {
            xmin,
            xmax,
            cid,
            ctid: ItemPointer::INVALID,
            infomask2: 1,
            infomask,
            hoff: 24,
        }
    }

    fn check(header: &HeapTupleHeader, oracle: &Oracle) -> Visibility {
        heap_tuple_satisfies_mvcc(header, &snapshot(), oracle).unwrap()
    }

    fn xmin_hint(bit: u16, xid: TransactionId) -> HintBits {
        HintBits {
            xmin: Some(Hint { bit, xid }),
            xmax: None,
        }
    }

    #[test]
    fn xid_comparison_wraps_around() {
        assert!(xid_precedes(3, 4));
        assert!(
            xid_precedes(u32::MAX, 3),
            "2^32-1 is just before 3 after wraparound"
        );
        assert!(!xid_precedes(3, u32::MAX));
        assert!(xid_precedes(FROZEN_TRANSACTION_ID, 3));
        assert!(xid_precedes(
            INVALID_TRANSACTION_ID,
            BOOTSTRAP_TRANSACTION_ID
        ));
        let snap = Snapshot {
            xmin: u32::MAX - 5,
            xmax: 10,
            xip: vec![u32::MAX - 1],
            curcid: 0,
        };
        assert!(!snap.xid_in_progress(u32::MAX - 6));
        assert!(snap.xid_in_progress(u32::MAX - 1));
        assert!(!snap.xid_in_progress(u32::MAX));
        assert!(!snap.xid_in_progress(5));
        assert!(snap.xid_in_progress(10));
        assert!(!snap.xid_in_progress(FROZEN_TRANSACTION_ID));
    }

    #[test]
    fn rule_table() {
        let o = Oracle::new();
        let none = HintBits::default();
        let vis = |visible, hints| Visibility { visible, hints };
        let xmax_hint = |bit, xid| HintBits {
            xmin: None,
            xmax: Some(Hint { bit, xid }),
        };
        let cases: Vec<(&str, HeapTupleHeader, Visibility)> = vec![
            // Inserted by the current transaction.
            (
                "own insert, earlier command",
                tuple(CURRENT, 0, 4, 0),
                vis(true, none),
            ),
            (
                "own insert, this command",
                tuple(CURRENT, 0, 5, 0),
                vis(false, none),
            ),
            (
                "own insert, later command",
                tuple(CURRENT, 0, 6, 0),
                vis(false, none),
            ),
            (
                "own insert, locked by us",
                tuple(CURRENT, CURRENT, 4, HEAP_XMAX_LOCK_ONLY),
                vis(true, none),
            ),
            (
                "own insert, xmax of aborted subxact",
                tuple(CURRENT, ABORTED, 4, 0),
                vis(true, xmax_hint(HEAP_XMAX_INVALID, 0)),
            ),
            // Inserted by others.
            (
                "xmin hinted invalid",
                tuple(COMMITTED, 0, 0, HEAP_XMIN_INVALID),
                vis(false, none),
            ),
            (
                "xmin committed before snapshot",
                tuple(COMMITTED, 0, 0, 0),
                vis(true, xmin_hint(HEAP_XMIN_COMMITTED, COMMITTED)),
            ),
            (
                "xmin committed, hinted",
                tuple(COMMITTED, 0, 0, HEAP_XMIN_COMMITTED),
                vis(true, none),
            ),
            (
                "xmin in xip, committed since",
                tuple(COMMITTED_AFTER, 0, 0, 0),
                vis(false, none),
            ),
            (
                "xmin in xip, hinted committed",
                tuple(COMMITTED_AFTER, 0, 0, HEAP_XMIN_COMMITTED),
                vis(false, none),
            ),
            (
                "xmin started after snapshot",
                tuple(STARTED_AFTER, 0, 0, HEAP_XMIN_COMMITTED),
                vis(false, none),
            ),
            ("xmin running", tuple(RUNNING, 0, 0, 0), vis(false, none)),
            (
                "xmin aborted",
                tuple(ABORTED, 0, 0, 0),
                vis(false, xmin_hint(HEAP_XMIN_INVALID, 0)),
            ),
            (
                "xmin crashed: no hint",
                tuple(CRASHED, 0, 0, 0),
                vis(false, none),
            ),
            (
                "frozen xmin id",
                tuple(FROZEN_TRANSACTION_ID, 0, 0, 0),
                vis(true, xmin_hint(HEAP_XMIN_COMMITTED, 2)),
            ),
            (
                "bootstrap xmin",
                tuple(BOOTSTRAP_TRANSACTION_ID, 0, 0, HEAP_XMIN_COMMITTED),
                vis(true, none),
            ),
            (
                "frozen bits skip the snapshot",
                tuple(COMMITTED_AFTER, 0, 0, HEAP_XMIN_FROZEN),
                vis(true, none),
            ),
            // Deleted or locked.
            (
                "deleted before snapshot",
                tuple(COMMITTED, COMMITTED_2, 0, HEAP_XMIN_COMMITTED),
                vis(false, xmax_hint(HEAP_XMAX_COMMITTED, COMMITTED_2)),
            ),
            (
                "deleted, hinted",
                tuple(
                    COMMITTED,
                    COMMITTED_2,
                    0,
                    HEAP_XMIN_COMMITTED | HEAP_XMAX_COMMITTED,
                ),
                vis(false, none),
            ),
            (
                "deleter in xip, committed since",
                tuple(COMMITTED, COMMITTED_AFTER, 0, HEAP_XMIN_COMMITTED),
                vis(true, none),
            ),
            (
                "deleter in xip, hinted committed",
                tuple(
                    COMMITTED,
                    COMMITTED_AFTER,
                    0,
                    HEAP_XMIN_COMMITTED | HEAP_XMAX_COMMITTED,
                ),
                vis(true, none),
            ),
            (
                "deleter running",
                tuple(COMMITTED, RUNNING, 0, HEAP_XMIN_COMMITTED),
                vis(true, none),
            ),
            (
                "deleter aborted",
                tuple(COMMITTED, ABORTED, 0, HEAP_XMIN_COMMITTED),
                vis(true, xmax_hint(HEAP_XMAX_INVALID, 0)),
            ),
            (
                "deleter crashed: no hint",
                tuple(COMMITTED, CRASHED, 0, HEAP_XMIN_COMMITTED),
                vis(true, none),
            ),
            (
                "locked only",
                tuple(
                    COMMITTED,
                    COMMITTED_2,
                    0,
                    HEAP_XMIN_COMMITTED | HEAP_XMAX_LOCK_ONLY,
                ),
                vis(true, none),
            ),
            (
                "old-style exclusive lock",
                tuple(
                    COMMITTED,
                    RUNNING,
                    0,
                    HEAP_XMIN_COMMITTED | HEAP_XMAX_EXCL_LOCK,
                ),
                vis(true, none),
            ),
            (
                "deleted by us, earlier command",
                tuple(COMMITTED, CURRENT, 4, HEAP_XMIN_COMMITTED),
                vis(false, none),
            ),
            (
                "deleted by us, this command",
                tuple(COMMITTED, CURRENT, 5, HEAP_XMIN_COMMITTED),
                vis(true, none),
            ),
            (
                "both hints learned",
                tuple(COMMITTED, ABORTED, 0, 0),
                vis(
                    true,
                    HintBits {
                        xmin: Some(Hint {
                            bit: HEAP_XMIN_COMMITTED,
                            xid: COMMITTED,
                        }),
                        xmax: Some(Hint {
                            bit: HEAP_XMAX_INVALID,
                            xid: 0,
                        }),
                    },
                ),
            ),
        ];
        for (name, header, want) in cases {
            assert_eq!(check(&header, &o), want, "{name}");
        }
    }

    #[test]
    fn combo_cids_are_resolved_through_the_oracle() {
        let mut o = Oracle::new();
        let h = tuple(CURRENT, CURRENT, 0, HEAP_COMBOCID);
        let err = heap_tuple_satisfies_mvcc(&h, &snapshot(), &o).unwrap_err();
        assert_eq!(err, VisibilityError::UnresolvedComboCid(0));
        for ((cmin, cmax), visible) in [((2, 4), false), ((2, 5), true), ((5, 6), false)] {
            o.combos.insert(0, (cmin, cmax));
            assert_eq!(check(&h, &o).visible, visible, "cmin {cmin} cmax {cmax}");
        }
    }

    #[test]
    fn multixact_updaters_are_resolved_through_the_oracle() {
        let mut o = Oracle::new();
        let multi = 7;
        let h = tuple(
            COMMITTED,
            multi,
            4,
            HEAP_XMIN_COMMITTED | HEAP_XMAX_IS_MULTI,
        );
        assert!(heap_tuple_satisfies_mvcc(&h, &snapshot(), &o).is_err());
        for (updater, visible) in [
            (COMMITTED_2, false),
            (RUNNING, true),
            (ABORTED, true),
            (CURRENT, false),
        ] {
            o.multis.insert(multi, updater);
            let result = check(&h, &o);
            assert_eq!(result.visible, visible, "updater {updater}");
            assert!(result.hints.is_empty(), "no hints for multixacts");
        }
        // A lock-only multi never needs resolving.
        let locked = tuple(
            COMMITTED,
            8,
            0,
            HEAP_XMIN_COMMITTED | HEAP_XMAX_IS_MULTI | HEAP_XMAX_LOCK_ONLY,
        );
        assert!(check(&locked, &o).visible);
        // Our own insert, updated through a multi by an aborted subtransaction.
        o.multis.insert(multi, ABORTED);
        assert_eq!(
            check(&tuple(CURRENT, multi, 4, HEAP_XMAX_IS_MULTI), &o),
            Visibility {
                visible: true,
                hints: HintBits::default()
            }
        );
    }

    #[test]
    fn moved_tuples_are_refused() {
        let h = tuple(COMMITTED, 0, 0, HEAP_MOVED_IN);
        let err = heap_tuple_satisfies_mvcc(&h, &snapshot(), &Oracle::new()).unwrap_err();
        assert_eq!(err, VisibilityError::MovedTuple);
        assert_eq!(QuillError::from(err).sqlstate, sqlstate::DATA_CORRUPTED);
    }

    #[test]
    fn hints_apply_only_where_allowed() {
        let mut h = tuple(COMMITTED, ABORTED, 0, 0);
        let result = check(&h, &Oracle::new());
        result
            .hints
            .apply(&mut h, |hint| hint.xid == INVALID_TRANSACTION_ID);
        assert_eq!(h.infomask, HEAP_XMAX_INVALID);
        result.hints.apply(&mut h, |_| true);
        assert!(h.xmin_committed());
        // With the hints set, the answer is the same and nothing more is learned.
        assert_eq!(
            check(&h, &Oracle::new()),
            Visibility {
                visible: true,
                hints: HintBits::default()
            }
        );
    }

    /// How a transaction id in xmin or xmax relates to the snapshot.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Who {
        Before, // committed before the snapshot
        After,  // committed, but running when the snapshot was taken
        Running,
        Aborted,
        UsEarlier, // the current transaction, an earlier command
        UsLater,   // the current transaction, this or a later command
    }

    fn xid_of(who: Who, second: bool) -> TransactionId {
        match who {
            Who::Before if second => COMMITTED_2,
            Who::Before => COMMITTED,
            Who::After => COMMITTED_AFTER,
            Who::Running => RUNNING,
            Who::Aborted => ABORTED,
            Who::UsEarlier | Who::UsLater => CURRENT,
        }
    }

    fn cid_of(who: Who) -> CommandId {
        if who == Who::UsEarlier {
            CURCID - 1
        } else {
            CURCID
        }
    }

    /// The declarative rule: the insert happened before us and the delete did not.
    fn model_visible(xmin: Who, xmax: Option<(Who, bool)>) -> bool {
        let happened = |who| matches!(who, Who::Before | Who::UsEarlier);
        happened(xmin) && !matches!(xmax, Some((who, false)) if happened(who))
    }

    #[test]
    fn every_combination_agrees_with_the_declarative_rule() {
        use Who::*;
        let all = [Before, After, Running, Aborted, UsEarlier, UsLater];
        let mut checked = 0;
        for xmin in all {
            // (deleter, lock_only); None = never deleted.
            let mut xmaxes: Vec<Option<(Who, bool)>> = vec![None];
            for who in all {
                for lock_only in [false, true] {
                    xmaxes.push(Some((who, lock_only)));
                }
            }
            for xmax in xmaxes {
                let ours = |w| matches!(w, UsEarlier | UsLater);
                // Without subtransactions, only we can delete or lock our own
                // uncommitted row (an aborted xmax is the aborted-subxact case).
                if ours(xmin) && matches!(xmax, Some((w, _)) if !ours(w) && w != Aborted) {
                    continue;
                }
                let mut o = Oracle::new();
                let cid = match xmax {
                    Some((w, _)) if ours(w) && ours(xmin) => {
                        o.combos.insert(1, (cid_of(xmin), cid_of(w)));
                        1
                    }
                    Some((w, _)) if ours(w) => cid_of(w),
                    _ => cid_of(xmin),
                };
                let combo = if o.combos.is_empty() {
                    0
                } else {
                    HEAP_COMBOCID
                };
                let (xmax_xid, lock) = match xmax {
                    None => (0, 0),
                    Some((w, lock_only)) => (
                        xid_of(w, true),
                        if lock_only { HEAP_XMAX_LOCK_ONLY } else { 0 },
                    ),
                };
                let header = tuple(xid_of(xmin, false), xmax_xid, cid, combo | lock);
                let first = check(&header, &o);
                assert_eq!(
                    first.visible,
                    model_visible(xmin, xmax),
                    "xmin {xmin:?} xmax {xmax:?}"
                );
                // Setting every hint offered must not change the answer.
                let mut hinted = header;
                first.hints.apply(&mut hinted, |_| true);
                let second = check(&hinted, &o);
                assert_eq!(
                    second.visible, first.visible,
                    "after hints: xmin {xmin:?} xmax {xmax:?}"
                );
                assert!(
                    second.hints.is_empty(),
                    "hints offered twice: xmin {xmin:?} xmax {xmax:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 50);
    }
}
