//! [`BufferPool`]: one process's handle on the shared buffers, and the read side of the
//! buffer manager (PostgreSQL's `ReadBuffer_common`, `BufferAlloc`, `StrategyGetBuffer`).
//!
//! # Reading a page (`read_buffer`)
//! 1. **Lookup** under the tag's mapping partition, shared. A hit pins the buffer (CAS on
//!    the state word, usage count + 1) before the partition is released, so the buffer
//!    cannot be re-mapped in between.
//! 2. **Miss**: choose a victim by clock sweep: advance the shared hand; a buffer with
//!    pins is skipped, one with usage count > 0 has it decremented, the first with
//!    neither is pinned (under its header lock) and taken. After a full round of pinned
//!    buffers with no usage count left to decrement: ERROR "no unpinned buffers
//!    available".
//! 3. If the victim is dirty it is written out first through the one write path
//!    (`write.rs`), under its content lock taken with a *try* (a process that pinned and
//!    locked it meanwhile may be waiting for a lock we hold; we pick another victim
//!    instead of waiting).
//! 4. **Re-map** under the old and new tags' partitions, exclusive, lower index first.
//!    If the new tag is now mapped (another process read it meanwhile), pin that buffer
//!    and release the victim: one page never occupies two buffers. If the victim was
//!    pinned or dirtied again meanwhile, release it and go back to 2. Otherwise give it
//!    the new tag (TAG_VALID, not VALID, usage 1) and move it between chains.
//! 5. **Fill**: `start_io(Input)`; whoever gets the I/O reads the block with smgr under
//!    the content lock and verifies it (`page.verify(blkno, true)`); others sleep until
//!    it finishes (`desc.rs`). Success sets VALID. A failure (I/O error, short read,
//!    corrupt page) is an ERROR naming the block and relation; the buffer keeps its tag
//!    but not VALID, with IO_ERROR, and the next reader simply tries again.
//!
//! No partition lock is held during any I/O, any wait for I/O, or any wait for a
//! content lock.
//!
//! # Extending (`extend`)
//! The relation's extension lock (one of [`NUM_EXTENSION_LOCKS`] LWLocks, chosen by a
//! hash of relation and fork; unrelated relations may share one and then merely
//! serialise their extensions) is held while smgr reports the size `n`, appends a zeroed
//! block `n`, and the buffer for block `n` is mapped, zero-filled without a read and
//! pinned. It makes "size, then append" atomic among processes. The file change is
//! recorded for the next checkpoint's fsync.
//!
//! # Zero-filling for redo (`read_buffer_zeroed`)
//! As `read_buffer`, but step 5 zero-fills the buffer instead of reading it (a buffer
//! already VALID is kept), and a block past the end of the file is first appended,
//! with every block before it, under the extension lock.

use std::sync::Arc;

use super::desc::{
    refcount, usage_count, IoKind, BM_DIRTY, BM_IO_IN_PROGRESS, BM_LOCKED, BM_TAG_VALID, BM_VALID,
    REFCOUNT_MASK, REFCOUNT_ONE, USAGECOUNT_ONE,
};
use super::{
    BufferId, BufferPoolShmem, BufferTag, PinnedBuffer, WalFlusher, INSUFFICIENT_RESOURCES,
    NUM_EXTENSION_LOCKS,
};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};
use crate::storage::page::{Page, PageBytes, BLCKSZ};
use crate::storage::smgr::Smgr;

/// Pages are verified with checksums on every read (the cluster always has them).
const DATA_CHECKSUMS: bool = true;

/// What an extension appends.
static ZERO_PAGE: PageBytes = [0; BLCKSZ];

/// How a newly mapped buffer gets its contents.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fill {
    /// Read the block with smgr and verify it.
    Read,
    /// A block `extend` just appended: zero-fill without reading.
    ZeroNew,
    /// A block the caller will overwrite whole (`read_buffer_zeroed`): zero-fill
    /// without reading; a buffer already valid is left as it is.
    Zero,
}

/// One process's handle on the shared buffer pool: the shared state plus this process's
/// storage manager and WAL. Created after fork (or before, and inherited).
pub struct BufferPool {
    pub(super) shm: BufferPoolShmem,
    pub(super) smgr: Arc<Smgr>,
    pub(super) wal: Arc<dyn WalFlusher>,
}

impl BufferPool {
    /// Attaches to the pool in `shm`, reading and writing pages through `smgr` and
    /// flushing WAL through `wal` before every page write.
    pub fn attach(shm: BufferPoolShmem, smgr: Arc<Smgr>, wal: Arc<dyn WalFlusher>) -> BufferPool {
        BufferPool { shm, smgr, wal }
    }

    /// Another handle on the same shared buffers and storage manager that flushes WAL
    /// through `wal` before each page write. The startup process replays WAL through
    /// one whose flusher knows how far replay has got (`wal::recovery`), and writes
    /// the end-of-recovery checkpoint through the one flushing the real WAL.
    pub fn with_flusher(&self, wal: Arc<dyn WalFlusher>) -> BufferPool {
        BufferPool {
            shm: self.shm,
            smgr: Arc::clone(&self.smgr),
            wal,
        }
    }

    /// Number of buffers (`shared_buffers / 8192`).
    pub fn nbuffers(&self) -> usize {
        self.shm.nbuffers()
    }

    /// The storage manager pages go through.
    pub fn smgr(&self) -> &Arc<Smgr> {
        &self.smgr
    }

    /// Returns block `block` of `rel`/`fork`, pinned and valid (PostgreSQL's
    /// `ReadBufferExtended`), reading and verifying it if it is not in the pool.
    ///
    /// Requires: nothing (the caller may hold content locks of other buffers).
    /// Errors: "no unpinned buffers available" (53000); smgr's read errors; a page that
    /// fails verification, `invalid page in block 7 of relation base/5/16384` (XX001);
    /// errors writing out a dirty victim (including the WAL flush). No pin or lock of
    /// this call is left behind by an error.
    pub fn read_buffer(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        block: BlockNumber,
    ) -> QuillResult<PinnedBuffer> {
        let buf = self.pin_for_tag(BufferTag::new(rel, fork, block))?;
        self.fill(&buf, Fill::Read)?;
        Ok(buf)
    }

    /// Appends a zeroed block to `rel`/`fork` and returns it pinned (PostgreSQL's
    /// `ReadBuffer(rel, P_NEW)`): the caller locks it exclusively, initialises the page,
    /// marks it dirty and WAL-logs the change. Serialised per relation by the extension
    /// lock (module doc).
    pub fn extend(&self, rel: RelFileNode, fork: ForkNumber) -> QuillResult<PinnedBuffer> {
        let lock = &self.shm.control.extension_locks[extension_slot(rel, fork)].0;
        let _extension = lock.lock_exclusive();
        let block = BlockNumber(self.smgr.nblocks(rel, fork)?);
        // Map the new block and make it valid (zeroed) in the pool *before* the file
        // grows: another backend that sees the new length and reads the block must
        // find it here, not read the zero page from disk and start using it while we
        // still think it is new (PostgreSQL maps P_NEW before smgrextend too). If the
        // file then fails to grow, the buffer is a clean zero page that is never
        // written, and the next extend reuses it.
        let buf = self.pin_for_tag(BufferTag::new(rel, fork, block))?;
        self.fill(&buf, Fill::ZeroNew)?;
        self.smgr.extend(rel, fork, block, &ZERO_PAGE)?;
        self.remember_pending_sync(rel, fork);
        Ok(buf)
    }

    /// Returns block `block` of `rel`/`fork` pinned and valid **without reading it**
    /// when it is not in the pool (PostgreSQL's `RBM_ZERO_AND_LOCK`, reduced; the
    /// caller takes the exclusive lock): a buffer already valid is returned as it is,
    /// otherwise the buffer is zero-filled and marked valid, with no read and no
    /// checksum check. For redo that rebuilds the whole page (a full-page image, or a
    /// `will_init` record): a torn page on disk fails its checksum, and it is exactly
    /// the page the image repairs. A block at or beyond the end of the file is created
    /// first: the relation is extended with zero pages up to and including `block`
    /// (under the extension lock, as [`extend`](Self::extend)), so that a later write
    /// of the block finds it in the file.
    ///
    /// Requires: no other process uses the block meanwhile (recovery): until the caller
    /// overwrites it, the page may be all zeros. The relation's file must exist.
    /// Errors: smgr's (size, extension); "no unpinned buffers available" (53000);
    /// errors writing out a dirty victim. No pin is left behind by an error.
    pub fn read_buffer_zeroed(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        block: BlockNumber,
    ) -> QuillResult<PinnedBuffer> {
        if block.0 >= self.smgr.nblocks(rel, fork)? {
            let lock = &self.shm.control.extension_locks[extension_slot(rel, fork)].0;
            let _extension = lock.lock_exclusive();
            let nblocks = self.smgr.nblocks(rel, fork)?; // again, under the lock
            if nblocks <= block.0 {
                // Before appending: a sync of a file that then failed to grow is harmless.
                self.remember_pending_sync(rel, fork);
            }
            for b in nblocks..=block.0 {
                self.smgr.extend(rel, fork, BlockNumber(b), &ZERO_PAGE)?;
            }
        }
        let buf = self.pin_for_tag(BufferTag::new(rel, fork, block))?;
        self.fill(&buf, Fill::Zero)?;
        Ok(buf)
    }

    /// Steps 1–4 of the module doc: a pinned buffer tagged `tag`, valid or not.
    fn pin_for_tag(&self, tag: BufferTag) -> QuillResult<PinnedBuffer> {
        {
            let partition = self.shm.mapping.lock_shared(&tag);
            if let Some(id) = partition.lookup(&tag) {
                self.shm.descriptors[id.index()].pin(true);
                return Ok(PinnedBuffer::adopt(&self.shm, id));
            }
        }
        loop {
            let victim = self.clock_sweep()?;
            if let Some(buf) = self.remap(victim, tag)? {
                return Ok(buf);
            }
        }
    }

    /// PostgreSQL's `StrategyGetBuffer`: the next buffer of the clock with no pins and
    /// usage count 0, pinned by us.
    fn clock_sweep(&self) -> QuillResult<PinnedBuffer> {
        let n = self.nbuffers();
        let mut tries_left = n;
        loop {
            let hand = self
                .shm
                .control
                .clock_hand
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let id = (hand % n as u64) as usize;
            let desc = &self.shm.descriptors[id];
            let mut header = desc.lock_header();
            if refcount(header.state) == 0 {
                if usage_count(header.state) == 0 {
                    header.state += REFCOUNT_ONE;
                    drop(header);
                    return Ok(PinnedBuffer::adopt(&self.shm, BufferId(id as u32)));
                }
                header.state -= USAGECOUNT_ONE;
                tries_left = n;
            } else {
                tries_left -= 1;
                if tries_left == 0 {
                    return Err(QuillError::new(
                        INSUFFICIENT_RESOURCES,
                        "no unpinned buffers available",
                    ));
                }
            }
        }
    }

    /// Steps 3–4: writes `victim` out if dirty and gives it `tag`. Returns the buffer for
    /// `tag` (the victim, or a buffer another process mapped meanwhile), or `None` when
    /// the victim became unusable and another must be chosen.
    fn remap(&self, victim: PinnedBuffer, tag: BufferTag) -> QuillResult<Option<PinnedBuffer>> {
        let desc = victim.desc();
        if desc.state() & BM_DIRTY != 0 {
            let Some(content) = desc.content_lock.try_lock_shared() else {
                return Ok(None);
            };
            self.flush_buffer(&victim, &content)?;
        }
        // Stable while we hold the pin: re-mapping and invalidation need other pins gone.
        let old_tag = {
            let header = desc.lock_header();
            (header.state & BM_TAG_VALID != 0).then(|| desc.tag())
        };
        let partitions = self.shm.mapping.lock_exclusive_pair(&tag, old_tag.as_ref());
        if let Some(existing) = partitions.lookup(&tag) {
            self.shm.descriptors[existing.index()].pin(true);
            return Ok(Some(PinnedBuffer::adopt(&self.shm, existing)));
        }
        let mut header = desc.lock_header();
        if refcount(header.state) != 1 || header.state & BM_DIRTY != 0 {
            return Ok(None); // pinned or dirtied by another process since we chose it
        }
        assert_eq!(
            header.state & BM_TAG_VALID != 0,
            old_tag.is_some(),
            "tag of a pinned buffer changed"
        );
        debug_assert_eq!(header.state & BM_IO_IN_PROGRESS, 0);
        desc.set_tag(&header, Some(tag));
        header.state &= REFCOUNT_MASK | BM_LOCKED;
        header.state |= BM_TAG_VALID | USAGECOUNT_ONE;
        drop(header);
        if let Some(old) = old_tag {
            partitions.remove(&old, victim.buffer_id());
        }
        partitions.insert(&tag, victim.buffer_id());
        Ok(Some(victim))
    }

    /// Step 5: makes the pinned buffer VALID, doing the I/O or waiting for whoever does.
    fn fill(&self, buf: &PinnedBuffer, fill: Fill) -> QuillResult<()> {
        let desc = buf.desc();
        if desc.state() & BM_VALID == 0 {
            if let Some(io) = desc.start_io(IoKind::Input) {
                let tag = buf.tag();
                {
                    let mut content = desc.content_lock.lock_exclusive();
                    let page = buf.page_mut_under(&mut content);
                    match fill {
                        Fill::Read => {
                            self.smgr.read(tag.rel, tag.fork, tag.block, page)?;
                            Page::new(&*page)
                                .verify(tag.block.0, DATA_CHECKSUMS)
                                .map_err(|e| {
                                    QuillError::new(
                                        sqlstate::DATA_CORRUPTED,
                                        format!("invalid page in {tag}"),
                                    )
                                    .with_detail(e.to_string())
                                })?;
                        }
                        Fill::ZeroNew | Fill::Zero => page.fill(0),
                    }
                }
                io.finish_input();
                return Ok(());
            }
        }
        if fill == Fill::ZeroNew {
            // Another process read the new block while we held the extension lock; it
            // must still be the zero page we appended (PostgreSQL's check).
            let content = desc.content_lock.lock_shared();
            if buf.page_under(&content).iter().any(|&b| b != 0) {
                return Err(QuillError::internal(format!(
                    "unexpected data beyond EOF in {}",
                    buf.tag()
                ))
                .with_hint(
                    "This has been seen to occur with buggy kernels; consider updating your system.",
                ));
            }
        }
        Ok(())
    }

    /// Every buffer's pin count (tests: no pin outlives its holder).
    #[cfg(test)]
    pub(super) fn pin_counts(&self) -> Vec<u32> {
        self.shm
            .descriptors
            .iter()
            .map(|d| refcount(d.state()))
            .collect()
    }

    /// The buffers whose tag is `tag` (tests: never more than one).
    #[cfg(test)]
    pub(super) fn buffers_holding(&self, tag: BufferTag) -> Vec<BufferId> {
        (0..self.nbuffers())
            .filter(|&i| {
                let d = &self.shm.descriptors[i];
                d.state() & BM_TAG_VALID != 0 && d.tag() == tag
            })
            .map(|i| BufferId(i as u32))
            .collect()
    }

    /// The flag bits of buffer `id` (tests).
    #[cfg(test)]
    pub(super) fn flags_of(&self, id: BufferId) -> u32 {
        self.shm.descriptors[id.index()].state()
    }
}

/// Which extension lock guards `rel`/`fork`.
fn extension_slot(rel: RelFileNode, fork: ForkNumber) -> usize {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for w in [rel.spc_oid, rel.db_oid, rel.rel_number, fork as u32] {
        h = (h ^ u64::from(w)).wrapping_mul(0x0100_0000_01B3);
    }
    (h % NUM_EXTENSION_LOCKS as u64) as usize
}
