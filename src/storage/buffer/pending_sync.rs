//! Files written since the last checkpoint: which (relation, fork) the checkpointer must
//! fsync before it writes its checkpoint record (storage README rule 4; PostgreSQL's
//! fsync request queue, reduced to a set).
//!
//! A fixed table of [`PENDING_SYNC_CAPACITY`] entries under one LWLock in shared memory.
//! A page writer adds its file after `Smgr::write`/`Smgr::extend` returned and *before*
//! the buffer stops being dirty, so a checkpointer that has written or waited out every
//! dirty buffer and then calls `take` sees every file that needs a sync. When the table
//! is full the writer sets `overflowed` instead, which tells the checkpointer to sync
//! every relation file it knows of. DROP TABLE forgets the relation's entries (its files
//! are about to be unlinked).

use super::BufferPool;
use crate::storage::ids::{ForkNumber, RelFileNode};

/// Distinct files remembered before the set overflows into "sync everything".
pub const PENDING_SYNC_CAPACITY: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
struct SyncEntry {
    spc_oid: u32,
    db_oid: u32,
    rel_number: u32,
    fork: u32,
}

impl SyncEntry {
    fn new(rel: RelFileNode, fork: ForkNumber) -> SyncEntry {
        SyncEntry {
            spc_oid: rel.spc_oid,
            db_oid: rel.db_oid,
            rel_number: rel.rel_number,
            fork: fork as u32,
        }
    }

    fn rel(&self) -> RelFileNode {
        RelFileNode {
            spc_oid: self.spc_oid,
            db_oid: self.db_oid,
            rel_number: self.rel_number,
        }
    }
}

/// The shared table, under `PoolControl::pending_syncs`'s LWLock. All-zero is empty.
#[repr(C)]
pub(super) struct PendingSyncTable {
    len: u32,
    overflowed: u32,
    entries: [SyncEntry; PENDING_SYNC_CAPACITY],
}

impl PendingSyncTable {
    fn remember(&mut self, entry: SyncEntry) {
        let len = self.len as usize;
        if self.overflowed != 0 || self.entries[..len].contains(&entry) {
            return;
        }
        if len == PENDING_SYNC_CAPACITY {
            self.overflowed = 1;
        } else {
            self.entries[len] = entry;
            self.len += 1;
        }
    }
}

/// What the checkpointer must sync: these files, or (when the set overflowed) every
/// relation file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingSyncs {
    pub files: Vec<(RelFileNode, ForkNumber)>,
    pub sync_everything: bool,
}

impl BufferPool {
    /// Records that `rel`/`fork` was written or extended and needs an fsync at the next
    /// checkpoint. Called by the write and extend paths only.
    pub(super) fn remember_pending_sync(&self, rel: RelFileNode, fork: ForkNumber) {
        let entry = SyncEntry::new(rel, fork);
        self.shm
            .control
            .pending_syncs
            .lock_exclusive()
            .remember(entry);
    }

    /// Empties the set and returns what it held (the checkpointer, after writing every
    /// dirty buffer, before syncing). Files written after this call belong to the next
    /// checkpoint.
    pub fn take_pending_syncs(&self) -> PendingSyncs {
        let mut table = self.shm.control.pending_syncs.lock_exclusive();
        let len = table.len as usize;
        let files = table.entries[..len]
            .iter()
            .map(|e| {
                let fork = ForkNumber::from_u8(e.fork as u8).expect("corrupt pending sync fork");
                (e.rel(), fork)
            })
            .collect();
        let taken = PendingSyncs {
            files,
            sync_everything: table.overflowed != 0,
        };
        table.len = 0;
        table.overflowed = 0;
        taken
    }

    /// Drops the entries of `rel` (its files are being unlinked).
    pub(super) fn forget_pending_syncs(&self, rel: RelFileNode) {
        let mut table = self.shm.control.pending_syncs.lock_exclusive();
        let len = table.len as usize;
        let mut kept = 0;
        for i in 0..len {
            let entry = table.entries[i];
            if entry.rel() != rel {
                table.entries[kept] = entry;
                kept += 1;
            }
        }
        table.len = kept as u32;
    }
}
