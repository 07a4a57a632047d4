//! The proc array: one slot per backend or auxiliary process (DESIGN.md §2).
//!
//! A slot says who runs there (pid, kind), the cancel key the client was given, and —
//! once transactions exist — the process's current xid and xmin.
//!
//! Ownership of a slot: the postmaster picks a free slot index for a child before it
//! forks (from its private bookkeeping, without touching shared state) and clears the
//! slot after reaping the child. In between, only the child writes its slot. Readers
//! (cancel requests, snapshots) scan without a lock: every field is an atomic and a
//! reader that races with a slot change sees either the old or the new occupant, both
//! of which are harmless (a cancel is checked against pid *and* key).

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// What kind of process holds a slot.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcKind {
    Free = 0,
    Backend = 1,
    Startup = 2,
    WalWriter = 3,
    Checkpointer = 4,
}

/// `Default` is the free, all-zero slot (what a fresh segment holds).
#[repr(C)]
#[derive(Default)]
pub struct ProcSlot {
    /// Pid of the occupant, 0 when free. Written by the occupant at start and by the
    /// postmaster when it reaps the occupant.
    pub pid: AtomicI32,
    /// The secret key sent in BackendKeyData. Written by the occupant before `pid`.
    pub cancel_key: AtomicI32,
    /// A [`ProcKind`] value.
    pub kind: AtomicU32,
    /// Current transaction id (0 = none). Written by the occupant.
    pub xid: AtomicU32,
    /// Oldest xid the occupant's snapshots may still need (0 = none).
    pub xmin: AtomicU32,
    /// Futex word the occupant sleeps on when it waits for a lock.
    pub wait_futex: AtomicU32,
    /// The transaction whose end the occupant is waiting for (a row another
    /// transaction is updating), 0 when not waiting. Written by the occupant only
    /// (`crate::txn::wait`); read without a lock by other backends' deadlock checks.
    pub waiting_for_xid: AtomicU32,
    /// Non-zero while the occupant is between inserting its commit record and
    /// recording the commit in clog (PostgreSQL's `DELAY_CHKPT_START`): a checkpoint
    /// whose redo point falls in that window must wait before it writes clog, or
    /// recovery would start after a commit record whose clog update never reached
    /// the disk, and abort an acknowledged transaction. See [`DelayCheckpointStart`].
    pub delay_checkpoint_start: AtomicU32,
}

impl ProcSlot {
    /// Claims the slot for the calling process (called by the child right after fork).
    pub fn occupy(&self, kind: ProcKind, cancel_key: i32) {
        self.cancel_key.store(cancel_key, Ordering::Relaxed);
        self.kind.store(kind as u32, Ordering::Relaxed);
        self.xid.store(0, Ordering::Relaxed);
        self.xmin.store(0, Ordering::Relaxed);
        self.waiting_for_xid.store(0, Ordering::Relaxed);
        self.delay_checkpoint_start.store(0, Ordering::Relaxed);
        // Release: a reader that sees the pid also sees the key and kind.
        self.pid
            .store(nix::unistd::getpid().as_raw(), Ordering::Release);
    }

    /// Frees the slot (postmaster, after reaping its occupant).
    pub fn clear(&self) {
        self.pid.store(0, Ordering::Release);
        self.kind.store(ProcKind::Free as u32, Ordering::Relaxed);
        self.cancel_key.store(0, Ordering::Relaxed);
    }

    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::Acquire)
    }
}

/// Holds off checkpoints that begin while it lives (the committing side of
/// [`ProcSlot::delay_checkpoint_start`]).
pub struct DelayCheckpointStart<'a>(&'a ProcSlot);

impl<'a> DelayCheckpointStart<'a> {
    /// Set before the commit record is inserted: the store is ordered before the
    /// record's WAL reservation, so a checkpoint that fixes its redo point after the
    /// record sees the flag when it looks ([`wait_for_delayed_checkpoint_starts`]).
    pub fn enter(slot: &'a ProcSlot) -> DelayCheckpointStart<'a> {
        slot.delay_checkpoint_start.store(1, Ordering::SeqCst);
        DelayCheckpointStart(slot)
    }
}

impl Drop for DelayCheckpointStart<'_> {
    fn drop(&mut self) {
        self.0.delay_checkpoint_start.store(0, Ordering::SeqCst);
    }
}

/// The checkpoint side: after fixing the redo point, waits until every process that
/// was inside a commit's critical window at that moment has left it. Only those
/// present now are waited for (identified by slot and xid), so a stream of new
/// commits cannot starve the checkpoint.
pub fn wait_for_delayed_checkpoint_starts(procs: &[ProcSlot]) {
    let delaying: Vec<(usize, u32)> = procs
        .iter()
        .enumerate()
        .filter(|(_, slot)| slot.delay_checkpoint_start.load(Ordering::SeqCst) != 0)
        .map(|(i, slot)| (i, slot.xid.load(Ordering::SeqCst)))
        .collect();
    for (i, xid) in delaying {
        let slot = &procs[i];
        while slot.delay_checkpoint_start.load(Ordering::SeqCst) != 0
            && slot.xid.load(Ordering::SeqCst) == xid
        {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    }
}

/// Finds the backend a CancelRequest names: pid and key must both match.
pub fn find_backend_for_cancel(procs: &[ProcSlot], pid: i32, key: i32) -> Option<i32> {
    procs
        .iter()
        .find(|slot| {
            pid != 0
                && slot.pid() == pid
                && slot.kind.load(Ordering::Relaxed) == ProcKind::Backend as u32
                && slot.cancel_key.load(Ordering::Relaxed) == key
        })
        .map(|slot| slot.pid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_needs_pid_and_key_to_match() {
        let slots = [ProcSlot::default(), ProcSlot::default()];
        slots[1].occupy(ProcKind::Backend, 42);
        let me = nix::unistd::getpid().as_raw();
        assert_eq!(find_backend_for_cancel(&slots, me, 42), Some(me));
        assert_eq!(find_backend_for_cancel(&slots, me, 41), None);
        assert_eq!(find_backend_for_cancel(&slots, me + 1, 42), None);
        assert_eq!(find_backend_for_cancel(&slots, 0, 0), None);
        slots[1].clear();
        assert_eq!(find_backend_for_cancel(&slots, me, 42), None);
    }

    #[test]
    fn checkpoint_waits_for_commits_in_their_window() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let slots: Arc<[ProcSlot; 2]> = Arc::new([ProcSlot::default(), ProcSlot::default()]);
        slots[0].xid.store(100, Ordering::SeqCst);
        let guard = DelayCheckpointStart::enter(&slots[0]);
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (slots, done) = (Arc::clone(&slots), Arc::clone(&done));
            std::thread::spawn(move || {
                wait_for_delayed_checkpoint_starts(&slots[..]);
                done.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !done.load(Ordering::SeqCst),
            "returned while a commit was in its window"
        );
        drop(guard);
        waiter.join().unwrap();
        assert!(done.load(Ordering::SeqCst));
    }
}
