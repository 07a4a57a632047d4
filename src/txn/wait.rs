//! Waiting for another transaction to end (PostgreSQL's `XactLockTableWait`), with
//! deadlock detection (`DeadLockCheck`, reduced to transaction waits).
//!
//! A backend that finds a row version being updated or deleted by a transaction
//! still in progress (`HeapUpdateResult::BeingModified(xid)`) waits here until that
//! transaction has ended — committed or aborted — and then re-checks the row.
//!
//! # How it waits
//! A transaction is running while its xid is in some proc slot: commit and abort
//! set clog first and clear the slot after (`xact::end_transaction`), so once the
//! xid is gone from the proc array its clog status is final. The waiter polls the
//! proc array with a short sleep that grows from 50 µs to 5 ms (no queue, no
//! wake-up: simple, and the cost is a little latency under contention), and calls
//! the interrupt check on every round, so a cancel or `statement_timeout` ends the
//! wait with 57014 like any other long statement.
//!
//! # Deadlocks
//! While waiting, the backend publishes the xid it waits for in its proc slot
//! (`ProcSlot::waiting_for_xid`). Once it has waited `deadlock_timeout`, it checks
//! once, as PostgreSQL does: follow the edges "transaction → the xid its backend
//! waits for" from the holder; if they lead back to our own xid there is a cycle,
//! and this backend is the victim (40P01 `deadlock detected`). Only the backend whose
//! timer fires first while the cycle exists sees it, so one victim breaks the cycle
//! and the others proceed. Before returning the error the victim withdraws its own
//! edge, so a check running just after it does not find the cycle again.
//!
//! Reads of other slots are lock-free (atomics): a stale edge can only make a check
//! miss a cycle that is still forming, and the last backend to join a cycle always
//! finds it when its own timer fires.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::access::heap::tuple::TransactionId;
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::shmem::procarray::ProcSlot;

/// First and longest sleep between two looks at the proc array.
const FIRST_SLEEP: Duration = Duration::from_micros(50);
const LONGEST_SLEEP: Duration = Duration::from_millis(5);

/// Whether `xid` is still running: some slot holds it.
pub fn xid_is_running(procs: &[ProcSlot], xid: TransactionId) -> bool {
    xid != 0 && procs.iter().any(|s| s.xid.load(Ordering::SeqCst) == xid)
}

fn slot_of(procs: &[ProcSlot], xid: TransactionId) -> Option<&ProcSlot> {
    if xid == 0 {
        return None;
    }
    procs.iter().find(|s| s.xid.load(Ordering::SeqCst) == xid)
}

/// Clears the waiter's edge however the wait ends.
struct WaitEdge<'a>(&'a ProcSlot);

impl Drop for WaitEdge<'_> {
    fn drop(&mut self) {
        self.0.waiting_for_xid.store(0, Ordering::SeqCst);
    }
}

/// Waits until transaction `xid` has ended. The caller runs transaction `my_xid`
/// (which must be in `procs`: it has written, so it has an xid). `check_interrupts`
/// runs on every round; its error ends the wait. After `deadlock_timeout` the wait
/// checks once for a deadlock and fails with 40P01 if this backend closes a cycle.
pub fn wait_for_xid(
    procs: &[ProcSlot],
    my_xid: TransactionId,
    xid: TransactionId,
    deadlock_timeout: Duration,
    check_interrupts: &mut dyn FnMut() -> QuillResult<()>,
) -> QuillResult<()> {
    if xid == my_xid {
        return Err(QuillError::internal("a transaction cannot wait for itself"));
    }
    let me = slot_of(procs, my_xid).ok_or_else(|| {
        QuillError::internal(format!("transaction {my_xid} is not in the proc array"))
    })?;
    me.waiting_for_xid.store(xid, Ordering::SeqCst);
    let edge = WaitEdge(me);
    let started = Instant::now();
    let mut checked = false;
    let mut sleep = FIRST_SLEEP;
    while xid_is_running(procs, xid) {
        check_interrupts()?;
        if !checked && started.elapsed() >= deadlock_timeout {
            checked = true;
            if let Some(cycle) = find_cycle(procs, my_xid, xid) {
                drop(edge);
                return Err(deadlock_error(&cycle));
            }
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(LONGEST_SLEEP);
    }
    drop(edge);
    Ok(())
}

/// One wait edge of a cycle: (waiter pid, xid waited for, holder pid).
type Edge = (i32, TransactionId, i32);

/// The cycle through `my_xid` that waiting for `xid` closes, if there is one.
pub fn find_cycle(
    procs: &[ProcSlot],
    my_xid: TransactionId,
    xid: TransactionId,
) -> Option<Vec<Edge>> {
    let me = slot_of(procs, my_xid)?;
    let mut edges = Vec::new();
    let mut waiter_pid = me.pid();
    let mut wanted = xid;
    // A path longer than the number of slots has repeated a slot without us.
    for _ in 0..=procs.len() {
        let holder = slot_of(procs, wanted)?;
        edges.push((waiter_pid, wanted, holder.pid()));
        let next = holder.waiting_for_xid.load(Ordering::SeqCst);
        if next == 0 {
            return None;
        }
        if next == my_xid {
            edges.push((holder.pid(), my_xid, me.pid()));
            return Some(edges);
        }
        waiter_pid = holder.pid();
        wanted = next;
    }
    None
}

/// PostgreSQL's `DeadLockReport` for transaction waits.
fn deadlock_error(cycle: &[Edge]) -> QuillError {
    let detail = cycle
        .iter()
        .map(|(waiter, xid, holder)| {
            format!("Process {waiter} waits for ShareLock on transaction {xid}; blocked by process {holder}.")
        })
        .collect::<Vec<_>>()
        .join("\n");
    QuillError::new(sqlstate::DEADLOCK_DETECTED, "deadlock detected")
        .with_detail(detail)
        .with_hint("See server log for query details.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(n: usize) -> Vec<ProcSlot> {
        (0..n).map(|_| ProcSlot::default()).collect()
    }

    fn occupy(slot: &ProcSlot, pid: i32, xid: TransactionId) {
        slot.pid.store(pid, Ordering::SeqCst);
        slot.xid.store(xid, Ordering::SeqCst);
    }

    #[test]
    fn two_backends_waiting_for_each_other_form_a_cycle() {
        let procs = slots(3);
        occupy(&procs[0], 100, 10);
        occupy(&procs[1], 200, 11);
        procs[1].waiting_for_xid.store(10, Ordering::SeqCst);
        let cycle = find_cycle(&procs, 10, 11).expect("cycle");
        assert_eq!(cycle, vec![(100, 11, 200), (200, 10, 100)]);
        // No cycle when the other one waits for someone else.
        procs[1].waiting_for_xid.store(12, Ordering::SeqCst);
        assert_eq!(find_cycle(&procs, 10, 11), None);
    }

    #[test]
    fn a_cycle_not_through_us_is_not_ours() {
        let procs = slots(4);
        occupy(&procs[0], 100, 10);
        occupy(&procs[1], 200, 11);
        occupy(&procs[2], 300, 12);
        procs[1].waiting_for_xid.store(12, Ordering::SeqCst);
        procs[2].waiting_for_xid.store(11, Ordering::SeqCst);
        assert_eq!(find_cycle(&procs, 10, 11), None);
    }

    #[test]
    fn three_way_cycle_is_found() {
        let procs = slots(3);
        occupy(&procs[0], 100, 10);
        occupy(&procs[1], 200, 11);
        occupy(&procs[2], 300, 12);
        procs[1].waiting_for_xid.store(12, Ordering::SeqCst);
        procs[2].waiting_for_xid.store(10, Ordering::SeqCst);
        let cycle = find_cycle(&procs, 10, 11).expect("cycle");
        assert_eq!(cycle.len(), 3);
        let e = deadlock_error(&cycle);
        assert_eq!(e.sqlstate, "40P01");
        assert!(e.detail.unwrap().starts_with(
            "Process 100 waits for ShareLock on transaction 11; blocked by process 200."
        ));
    }

    #[test]
    fn wait_returns_when_the_holder_ends_and_clears_the_edge() {
        let procs = slots(2);
        occupy(&procs[0], 100, 10);
        occupy(&procs[1], 200, 11);
        let mut rounds = 0;
        wait_for_xid(&procs, 10, 11, Duration::from_secs(1), &mut || {
            rounds += 1;
            if rounds == 3 {
                assert_eq!(procs[0].waiting_for_xid.load(Ordering::SeqCst), 11);
                procs[1].xid.store(0, Ordering::SeqCst); // the holder commits
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(procs[0].waiting_for_xid.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_interrupt_ends_the_wait() {
        let procs = slots(2);
        occupy(&procs[0], 100, 10);
        occupy(&procs[1], 200, 11);
        let err = wait_for_xid(&procs, 10, 11, Duration::from_secs(1), &mut || {
            Err(QuillError::new(sqlstate::QUERY_CANCELED, "canceled"))
        })
        .unwrap_err();
        assert_eq!(err.sqlstate, sqlstate::QUERY_CANCELED);
        assert_eq!(procs[0].waiting_for_xid.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn deadlock_is_reported_after_the_timeout() {
        let procs = slots(2);
        occupy(&procs[0], 100, 10);
        occupy(&procs[1], 200, 11);
        procs[1].waiting_for_xid.store(10, Ordering::SeqCst);
        let started = Instant::now();
        let err =
            wait_for_xid(&procs, 10, 11, Duration::from_millis(20), &mut || Ok(())).unwrap_err();
        assert_eq!(err.sqlstate, "40P01");
        assert_eq!(err.message, "deadlock detected");
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(procs[0].waiting_for_xid.load(Ordering::SeqCst), 0);
    }
}
