//! A backend's handles on the shared storage (WAL, buffer pool, clog) and its
//! transaction: xid assigned on the first write, a snapshot per statement (READ
//! COMMITTED), command ids within the transaction, and commit or abort at the end
//! (DESIGN.md §5: commit record → flush per `synchronous_commit` → clog → proc array).

use std::cell::Cell;
use std::sync::Arc;

use crate::error::QuillResult;
use crate::postmaster::aux_process;
use crate::shmem::procarray::ProcSlot;
use crate::storage::buffer::BufferPool;
use crate::storage::file_io::FileIo;
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
    /// Catalog rows this session found, kept across statements. Rows are cached
    /// only once visible, and nothing yet drops or alters a relation, so the only
    /// way an entry goes stale is this session's own aborted DDL: any abort clears
    /// it. (DROP/ALTER will need the shared invalidation queue, DESIGN.md §6.)
    pub catalog_cache: std::cell::RefCell<crate::catalog::CatCache>,
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

    /// A snapshot for the next statement (PostgreSQL's GetSnapshotData).
    pub fn statement_snapshot(&self) -> crate::access::heap::visibility::Snapshot {
        let shmem = crate::shmem::shmem();
        let mut snapshot = crate::txn::snapshot::get_snapshot(
            &self.txn_shared().proc_array_lock,
            shmem.procs(),
            &shmem.control().next_xid,
            self.my_slot(),
        );
        snapshot.curcid = self.cid;
        snapshot
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
        if xid != 0 {
            let outcome = if commit {
                crate::txn::xact::commit_with(
                    xid,
                    self.wal.as_ref(),
                    &self.clog,
                    settings,
                    crate::shmem::shmem().procs(),
                )
            } else {
                self.catalog_cache.replace(Default::default());
                crate::txn::xact::abort(xid, self.wal.as_ref(), &self.clog)
            };
            crate::txn::xact::end_transaction(&self.txn_shared().proc_array_lock, self.my_slot());
            outcome?;
        } else {
            let slot = self.my_slot();
            slot.xmin.store(0, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
}
