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

#[repr(C)]
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
}

impl ProcSlot {
    /// Claims the slot for the calling process (called by the child right after fork).
    pub fn occupy(&self, kind: ProcKind, cancel_key: i32) {
        self.cancel_key.store(cancel_key, Ordering::Relaxed);
        self.kind.store(kind as u32, Ordering::Relaxed);
        self.xid.store(0, Ordering::Relaxed);
        self.xmin.store(0, Ordering::Relaxed);
        self.waiting_for_xid.store(0, Ordering::Relaxed);
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

    fn empty_slot() -> ProcSlot {
        ProcSlot {
            pid: AtomicI32::new(0),
            cancel_key: AtomicI32::new(0),
            kind: AtomicU32::new(0),
            xid: AtomicU32::new(0),
            xmin: AtomicU32::new(0),
            wait_futex: AtomicU32::new(0),
            waiting_for_xid: AtomicU32::new(0),
        }
    }

    #[test]
    fn cancel_needs_pid_and_key_to_match() {
        let slots = [empty_slot(), empty_slot()];
        slots[1].occupy(ProcKind::Backend, 42);
        let me = nix::unistd::getpid().as_raw();
        assert_eq!(find_backend_for_cancel(&slots, me, 42), Some(me));
        assert_eq!(find_backend_for_cancel(&slots, me, 41), None);
        assert_eq!(find_backend_for_cancel(&slots, me + 1, 42), None);
        assert_eq!(find_backend_for_cancel(&slots, 0, 0), None);
        slots[1].clear();
        assert_eq!(find_backend_for_cancel(&slots, me, 42), None);
    }
}
