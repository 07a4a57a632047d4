//! A backend's handles on the shared storage (WAL, buffer pool, clog) and its
//! transaction: xid assigned on the first write, a snapshot per statement (READ
//! COMMITTED), command ids within the transaction, and commit or abort at the end
//! (DESIGN.md §5: commit record → flush per `synchronous_commit` → clog → proc array).
//!
//! # What a transaction leaves for its end
//! * **Pending deletes** (PostgreSQL's `storage.c`): DROP TABLE schedules the
//!   relation's files for removal at commit, CREATE TABLE its new file for removal at
//!   abort. The commit (abort) record lists the files to remove
//!   (`txn::xact_rels`), so redo removes them too; the files are removed only after
//!   the record is durable and the transaction has left the proc array, buffers first
//!   (discarded unwritten), then the files. Nothing is removed for the other outcome.
//! * **Invalidations** (`catalog::inval`): the relations whose catalog rows it changed
//!   are announced in the shared queue at commit, after clog and before the proc
//!   array; every statement reads the queue right after taking its snapshot.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::catalog::{InvalReader, PendingInvals};
use crate::error::QuillResult;
use crate::postmaster::aux_process;
use crate::shmem::procarray::ProcSlot;
use crate::storage::buffer::BufferPool;
use crate::storage::file_io::FileIo;
use crate::storage::ids::{Oid, RelFileNode};
use crate::txn::clog::Clog;
use crate::txn::TxnShared;
use crate::wal::xlog::Wal;

pub struct BackendStorage {
    pub io: Arc<dyn FileIo>,
    pub wal: Arc<Wal>,
    pub pool: BufferPool,
    pub clog: Clog,
    /// This backend's proc slot index.
    pub slot: usize,
    /// The connected database (set once authenticated).
    pub db_oid: u32,
    /// The current transaction's xid; 0 until its first write.
    xid: Cell<u32>,
    /// Command id of the next statement in the transaction.
    cid: u32,
    /// Catalog rows this session found, kept across statements. Other sessions'
    /// DDL reaches it through the invalidation queue (read by
    /// [`BackendStorage::statement_snapshot`]); its own DROP removes the entry at once,
    /// and any abort clears it (its own aborted DDL).
    pub catalog_cache: RefCell<crate::catalog::CatCache>,
    /// Files to remove when the transaction ends (module doc).
    pending_deletes: RefCell<Vec<PendingDelete>>,
    /// Relations whose catalog rows the transaction changed, announced at commit.
    pending_invals: RefCell<PendingInvals>,
    /// This backend's position in the invalidation queue.
    inval_reader: RefCell<InvalReader>,
}

/// A relation file to remove when the transaction ends one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingDelete {
    rel: RelFileNode,
    /// Removed at commit (DROP) or at abort (CREATE).
    at_commit: bool,
}

impl BackendStorage {
    pub fn attach(
        data_dir: &std::path::Path,
        config: &crate::config::Config,
        slot: usize,
    ) -> BackendStorage {
        let io = aux_process::data_dir_io(data_dir);
        let wal = aux_process::attach_wal(config, &io);
        let pool = aux_process::attach_buffer_pool(&io, &wal);
        let clog = aux_process::attach_clog(&io, &wal);
        BackendStorage {
            io,
            wal,
            pool,
            clog,
            slot,
            db_oid: 0,
            xid: Cell::new(0),
            cid: 0,
            catalog_cache: Default::default(),
            pending_deletes: Default::default(),
            pending_invals: Default::default(),
            // Before the first snapshot, with an empty cache (InvalReader::starting_at).
            inval_reader: RefCell::new(InvalReader::starting_at(
                crate::shmem::shmem().sinval().current_position(),
            )),
        }
    }

    fn txn_shared(&self) -> &'static TxnShared {
        crate::shmem::shmem().txn_control()
    }

    fn my_slot(&self) -> &'static ProcSlot {
        &crate::shmem::shmem().procs()[self.slot]
    }

    pub fn xid(&self) -> u32 {
        self.xid.get()
    }

    pub fn cid(&self) -> u32 {
        self.cid
    }

    /// A snapshot for the next statement (PostgreSQL's GetSnapshotData), and the
    /// catalog cache brought up to date for it: invalidation messages are read after
    /// the snapshot is taken (`catalog::inval` explains why after).
    pub fn statement_snapshot(&self) -> crate::access::heap::visibility::Snapshot {
        let shmem = crate::shmem::shmem();
        let mut snapshot = crate::txn::snapshot::get_snapshot(
            &self.txn_shared().proc_array_lock,
            shmem.procs(),
            &shmem.control().next_xid,
            self.my_slot(),
        );
        snapshot.curcid = self.cid;
        self.inval_reader.borrow_mut().accept(
            shmem.sinval(),
            self.db_oid,
            &snapshot,
            || {
                shmem
                    .control()
                    .next_xid
                    .load(std::sync::atomic::Ordering::SeqCst)
            },
            &mut self.catalog_cache.borrow_mut(),
        );
        snapshot
    }

    /// DROP TABLE: `rel`'s files are removed if the transaction commits, and the
    /// change of relation `relid`'s catalog rows is announced then.
    pub fn drop_relation_at_commit(&self, relid: Oid, rel: RelFileNode) {
        self.pending_deletes.borrow_mut().push(PendingDelete {
            rel,
            at_commit: true,
        });
        self.pending_invals.borrow_mut().relation_changed(relid);
    }

    /// CREATE TABLE: the new file `rel` is removed if the transaction aborts; the new
    /// catalog rows of `relid` are announced if it commits.
    pub fn created_relation(&self, relid: Oid, rel: RelFileNode) {
        self.pending_deletes.borrow_mut().push(PendingDelete {
            rel,
            at_commit: false,
        });
        self.pending_invals.borrow_mut().relation_changed(relid);
    }

    /// Whether the transaction made `rel`'s file (CREATE TABLE, or a new file for
    /// an existing relation), so no other transaction can see its rows yet.
    pub fn created_in_transaction(&self, rel: RelFileNode) -> bool {
        self.pending_deletes
            .borrow()
            .iter()
            .any(|d| !d.at_commit && d.rel == rel)
    }

    /// Assigns the transaction's xid on its first write.
    pub fn ensure_xid(&self) -> QuillResult<u32> {
        if self.xid.get() == 0 {
            let xid = crate::txn::xid::assign_xid(
                &self.txn_shared().xid_gen_lock,
                &crate::shmem::shmem().control().next_xid,
                self.my_slot(),
                &self.clog,
                self.wal.as_ref(),
            )?;
            self.xid.set(xid);
        }
        Ok(self.xid.get())
    }

    /// The statement is over: later statements of the transaction see its changes.
    pub fn next_command(&mut self) {
        self.cid += 1;
    }

    /// Ends the transaction: commit (durable per `synchronous_commit`) or abort.
    /// A transaction that never wrote has nothing to record.
    pub fn finish_transaction(
        &mut self,
        commit: bool,
        settings: &crate::txn::xact::CommitSettings,
    ) -> QuillResult<()> {
        let xid = self.xid.replace(0);
        self.cid = 0;
        let deletes = self.pending_deletes.take();
        if xid != 0 {
            let mut remove: Vec<RelFileNode> = Vec::new();
            for d in deletes.iter().filter(|d| d.at_commit == commit) {
                if !remove.contains(&d.rel) {
                    remove.push(d.rel);
                }
            }
            let wal = self.wal.as_ref();
            let outcome = if commit {
                // From before the commit record until clog says committed.
                let delay = crate::shmem::procarray::DelayCheckpointStart::enter(self.my_slot());
                let outcome = crate::txn::xact::commit_with(
                    xid,
                    wal,
                    &self.clog,
                    settings,
                    crate::shmem::shmem().procs(),
                    &remove,
                );
                drop(delay);
                if outcome.is_ok() {
                    // Committed in clog, still in the proc array (catalog::inval).
                    self.pending_invals.borrow_mut().send(
                        crate::shmem::shmem().sinval(),
                        self.db_oid,
                        xid,
                        &mut self.catalog_cache.borrow_mut(),
                    );
                }
                outcome
            } else {
                crate::txn::xact::abort_removing(xid, wal, &self.clog, &remove)
            };
            crate::txn::xact::end_transaction(&self.txn_shared().proc_array_lock, self.my_slot());
            if !commit || outcome.is_err() {
                self.catalog_cache.replace(Default::default());
                self.pending_invals.borrow_mut().discard();
            }
            outcome?;
            self.remove_files(&remove);
        } else {
            let slot = self.my_slot();
            slot.xmin.store(0, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// Removes files whose removal the ended transaction's record announced. A
    /// failure is only logged (PostgreSQL's WARNING "could not remove file"): the
    /// transaction's outcome is settled, and an orphaned file is harmless.
    fn remove_files(&self, rels: &[RelFileNode]) {
        for &rel in rels {
            if let Err(e) = crate::txn::xact_rels::remove_relation_files(&self.pool, rel) {
                log::warn!("{}", e.message);
            }
        }
    }
}
