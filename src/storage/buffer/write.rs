//! The one place where a data page is written to its file (PostgreSQL's `FlushBuffer`),
//! and the operations built on it: writing one buffer, writing all dirty buffers for a
//! checkpoint, and discarding a dropped relation's buffers without writing them.
//!
//! # Log before data (DESIGN.md §4 rule 1)
//! A page may reach its file only after the WAL is durable up to the page's `pd_lsn`:
//! otherwise a crash could leave on disk a change whose WAL record is lost, which redo
//! can neither undo nor complete (a torn transaction, an index entry pointing at nothing).
//! [`BufferPool::flush_buffer`] enforces it for every page write in the server:
//! 1. with the buffer pinned and its content lock held **shared** (no one changes the
//!    page meanwhile), it claims the write (`IO_IN_PROGRESS`; if the buffer is no longer
//!    dirty, someone else wrote it and there is nothing to do),
//! 2. copies the page and reads `pd_lsn` from the copy,
//! 3. calls [`WalFlusher::flush`]`(pd_lsn)`; an error aborts the write (the buffer stays
//!    dirty) and propagates,
//! 4. asserts, in release builds too, that [`WalFlusher::flushed_lsn`] `>= pd_lsn` — a
//!    flusher that returned Ok without flushing would otherwise corrupt silently,
//! 5. sets the checksum on the copy (not on a new, all-zero page, as PostgreSQL),
//! 6. writes the copy with `Smgr::write` (an error aborts; the buffer stays dirty),
//! 7. records the file in the pending-sync set, then clears DIRTY unless the page was
//!    dirtied again since step 1 (`JUST_DIRTIED`).
//!
//! Data files are not fsynced here; the checkpointer does it (storage README rule 4).
//!
//! [`WalFlusher::flush`]: super::WalFlusher::flush
//! [`WalFlusher::flushed_lsn`]: super::WalFlusher::flushed_lsn

use super::desc::{refcount, BM_DIRTY, BM_IO_IN_PROGRESS, BM_TAG_VALID, BM_VALID, REFCOUNT_ONE};
use super::desc::{IoKind, BM_LOCKED};
use super::{BufferId, BufferPool, PinnedBuffer};
use crate::error::QuillResult;
use crate::shmem::lwlock::LWLockSharedGuard;
use crate::shmem::spinlock::STUCK_SPINLOCK_TIMEOUT;
use crate::storage::checksum::set_checksum;
use crate::storage::ids::RelFileNode;
use crate::storage::page::{Page, PageBytes};
use std::time::{Duration, Instant};

impl BufferPool {
    /// Writes buffer `id` to its file if it is valid and dirty (PostgreSQL's
    /// `SyncOneBuffer` + `FlushBuffer`). Returns whether this call wrote it.
    ///
    /// Requires: the caller does not hold this buffer's content lock (it is taken shared
    /// here and may wait for an exclusive holder). Errors: the WAL flush's or smgr's;
    /// the buffer then stays dirty.
    pub fn write_dirty_buffer(&self, id: BufferId) -> QuillResult<bool> {
        let desc = &self.shm.descriptors[id.index()];
        {
            let mut header = desc.lock_header();
            if header.state & (BM_VALID | BM_DIRTY) != BM_VALID | BM_DIRTY {
                return Ok(false);
            }
            header.state += REFCOUNT_ONE; // PinBuffer_Locked: no usage-count bump
        }
        let buf = PinnedBuffer::adopt(&self.shm, id);
        let content = desc.content_lock.lock_shared();
        self.flush_buffer(&buf, &content)
    }

    /// Writes every dirty buffer (the checkpointer; also fast shutdown). `progress` is
    /// called after each write with the number written so far, so the caller can pace
    /// itself. Returns the number of buffers this call wrote; buffers written meanwhile
    /// by other processes are not counted. Stops at the first error.
    pub fn flush_all_dirty(&self, mut progress: impl FnMut(usize)) -> QuillResult<usize> {
        let mut written = 0;
        for id in 0..self.nbuffers() {
            if self.shm.descriptors[id].state() & BM_DIRTY == 0 {
                continue; // cheap unlocked filter; write_dirty_buffer re-checks
            }
            if self.write_dirty_buffer(BufferId(id as u32))? {
                written += 1;
                progress(written);
            }
        }
        Ok(written)
    }

    /// The one write path (module doc). Requires: `buf` pinned by this process and
    /// `content` its content lock held shared. Returns false if the buffer was not dirty
    /// (another process wrote it first).
    pub(super) fn flush_buffer(
        &self,
        buf: &PinnedBuffer,
        content: &LWLockSharedGuard<'_>,
    ) -> QuillResult<bool> {
        let desc = buf.desc();
        let Some(io) = desc.start_io(IoKind::Output) else {
            return Ok(false);
        };
        let tag = buf.tag();
        let mut copy: PageBytes = *buf.page_under(content);
        let page_lsn = Page::new(&copy).lsn();

        self.wal.flush(page_lsn)?;
        let flushed = self.wal.flushed_lsn();
        assert!(
            flushed >= page_lsn,
            "log before data violated: writing {tag} with page LSN {page_lsn} but WAL is flushed only to {flushed}"
        );

        if !Page::new(&copy).is_new() {
            set_checksum(&mut copy, tag.block.0);
        }
        self.smgr.write(tag.rel, tag.fork, tag.block, &copy)?;
        self.remember_pending_sync(tag.rel, tag.fork);
        io.finish_output();
        Ok(true)
    }

    /// Discards every buffer of `rel` (all forks) without writing it (PostgreSQL's
    /// `DropRelFileNodesAllBuffers`), and forgets the relation's pending syncs. For DROP
    /// TABLE (and TRUNCATE's new-relfilenode swap) after the change is committed, just
    /// before the files are unlinked.
    ///
    /// Requires: no process uses the relation any more (the caller holds its
    /// AccessExclusiveLock) and this process holds no pin on its buffers. A buffer
    /// pinned briefly by another process's clock sweep or checkpoint write is waited
    /// for; one still pinned after [`STUCK_SPINLOCK_TIMEOUT`] is a bug and panics.
    pub fn drop_relation_buffers(&self, rel: RelFileNode) {
        for (id, desc) in self.shm.descriptors.iter().enumerate() {
            if desc.state() & BM_TAG_VALID != 0 && desc.tag_rel_unlocked() == rel {
                self.invalidate_buffer(BufferId(id as u32), rel);
            }
        }
        self.forget_pending_syncs(rel);
    }

    /// Removes `desc` from the mapping and clears it, if it still holds a page of `rel`.
    fn invalidate_buffer(&self, id: BufferId, rel: RelFileNode) {
        let desc = &self.shm.descriptors[id.index()];
        let started = Instant::now();
        loop {
            let tag = desc.tag();
            if tag.rel != rel {
                return;
            }
            let partition = self.shm.mapping.lock_exclusive(&tag);
            let mut header = desc.lock_header();
            if header.state & BM_TAG_VALID == 0 || desc.tag() != tag {
                continue; // re-mapped meanwhile; look again
            }
            if refcount(header.state) > 0 {
                let in_io = header.state & BM_IO_IN_PROGRESS != 0;
                drop(header);
                drop(partition);
                assert!(
                    started.elapsed() < STUCK_SPINLOCK_TIMEOUT,
                    "buffer {id} of relation {rel} still pinned while dropping it"
                );
                if in_io {
                    desc.wait_io();
                } else {
                    std::thread::sleep(Duration::from_micros(100));
                }
                continue;
            }
            desc.set_tag(&header, None);
            header.state = BM_LOCKED; // no tag, no flags, usage 0; stored unlocked on drop
            drop(header);
            partition.remove(&tag, id);
            return;
        }
    }
}
