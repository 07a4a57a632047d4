//! The heap access method (PostgreSQL's `heapam.c`, reduced): insert, delete and
//! update tuple versions in a relation's main fork through the shared buffer pool,
//! WAL-logging every change; scan and fetch them under an MVCC snapshot.
//!
//! # Rules (see `README.md` beside this file for the recipe)
//! * Every page change follows the WAL recipe: pin and lock exclusively (in block
//!   order when there are two pages), check preconditions, enter a
//!   [`CriticalSection`], change the pages, mark them dirty, insert the record, set
//!   each page's LSN to the record's end, leave, unlock, unpin (DESIGN.md §4 rule 1
//!   relies on the LSN being set before the exclusive lock is released).
//! * Full-page images (rule 4): a block gets one when `full_page_writes` is on and its
//!   `pd_lsn` is at or below the WAL's redo pointer, unless the record rebuilds the page
//!   from nothing (`will_init`). The decision is made against [`Wal::redo_ptr`] and
//!   inserted with [`Wal::insert_with_redo_check`]; when a checkpoint moved the redo
//!   pointer meanwhile the record is rebuilt and inserted again (XLogInsert's loop).
//! * Free space: no free-space map yet. An insert tries the relation's last block and
//!   otherwise extends the relation by one block.
//! * Write-write conflicts are detected, not waited for: [`HeapUpdateResult`] says
//!   who holds the tuple, and the caller waits or raises 40001.
//!
//! # Locks
//! Buffer content locks only, at most two, the lower block first. An update's new
//! page is always the relation's last block or a new one, so it never precedes the
//! old page; the old page's lock is held while the new page is found (extension
//! lock after content locks, as the buffer README allows).
//!
//! # Not (yet) done
//! Hint bits are never set (no `SetHintBits`; with checksums PostgreSQL WAL-logs hint
//! changes, `wal_log_hints`, which we avoid by not setting them). No HOT, no pruning,
//! no TOAST, no row locks (`HEAP_XMAX_LOCK_ONLY` xmax values are ignored), no combo
//! CIDs (deleting a tuple inserted earlier in the same transaction overwrites its
//! cmin with the cmax), no visibility map.

use crate::error::{sqlstate, QuillError, QuillResult};
use crate::storage::buffer::{BufferExclusiveGuard, BufferPool, PinnedBuffer};
use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};
use crate::storage::page::{maxalign, OffsetNumber, Page, PageBytes};
use crate::wal::record::{BlockRef, RecordBuilder, RmgrId};
use crate::wal::xlog::Wal;
use crate::wal::Lsn;

use super::heap_wal::{
    apply_stamp, place_tuple, XlHeapDelete, XlHeapInsert, XlHeapUpdate, XmaxStamp,
    XLOG_HEAP_DELETE, XLOG_HEAP_INIT_PAGE, XLOG_HEAP_INSERT, XLOG_HEAP_UPDATE,
};
use super::tuple::{
    CommandId, HeapTupleHeader, ItemPointer, TransactionId, HEAP_COMBOCID, HEAP_HOT_UPDATED,
    HEAP_KEYS_UPDATED, HEAP_LOCK_MASK, HEAP_UPDATED, HEAP_XMAX_COMMITTED, HEAP_XMAX_INVALID,
    HEAP_XMAX_IS_MULTI, HEAP_XMAX_LOCK_ONLY, MAX_HEAP_TUPLE_SIZE, SIZEOF_HEAP_TUPLE_HEADER,
};
use super::visibility::{
    heap_tuple_satisfies_mvcc, xid_is_normal, Snapshot, XidStatus, XidStatusOracle,
};

const MAIN: ForkNumber = ForkNumber::Main;

/// A WAL-logged change in progress (PostgreSQL's `START_CRIT_SECTION`). Leaving it any
/// way other than [`CriticalSection::leave`] — an error returned with `?`, or a panic
/// unwinding — aborts the process: a half-applied page change must never be seen,
/// and crash restart + redo rebuild the page from WAL. Check every precondition
/// (free space, tuple found, sizes) before entering.
#[must_use = "a critical section must be left explicitly"]
pub struct CriticalSection {
    what: &'static str,
}

impl CriticalSection {
    pub fn enter(what: &'static str) -> CriticalSection {
        CriticalSection { what }
    }

    pub fn leave(self) {
        std::mem::forget(self);
    }
}

impl Drop for CriticalSection {
    fn drop(&mut self) {
        eprintln!(
            "PANIC: error in critical section ({}); aborting for crash restart",
            self.what
        );
        std::process::abort();
    }
}

/// Outcome of [`heap_delete`]/[`heap_update`] (PostgreSQL's `TM_Result`, reduced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapUpdateResult {
    /// Done: for a delete the tuple's TID, for an update the new version's TID.
    Ok(ItemPointer),
    /// The inserter is not committed (or aborted): the caller's snapshot should not
    /// have seen it (`TM_Invisible`).
    Invisible,
    /// Already deleted or updated by the current transaction.
    SelfModified,
    /// Another transaction still in progress deleted, updated or locked it: wait for
    /// it (then re-check) or raise 40001.
    BeingModified(TransactionId),
    /// A committed transaction updated it; the newer version is here.
    Updated(ItemPointer),
    /// A committed transaction deleted it.
    Deleted,
}

fn check_tuple_len(tuple: &[u8]) -> QuillResult<HeapTupleHeader> {
    if tuple.len() > MAX_HEAP_TUPLE_SIZE {
        return Err(QuillError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "row is too big: size {}, maximum size {MAX_HEAP_TUPLE_SIZE}",
                tuple.len()
            ),
        ));
    }
    if tuple.len() < SIZEOF_HEAP_TUPLE_HEADER {
        return Err(QuillError::internal(format!(
            "heap tuple of {} bytes has no header",
            tuple.len()
        )));
    }
    Ok(HeapTupleHeader::read(tuple)?)
}

/// Whether a page can take a tuple of `len` bytes (a new page is formatted first).
fn has_room(page: &PageBytes, len: usize) -> bool {
    let page = Page::new(page);
    page.is_new() || page.heap_free_space() >= maxalign(len)
}

/// One block of a record being built: its reference, its page as it is now (after
/// the change), and its block data.
struct LoggedBlock<'a> {
    block_ref: BlockRef,
    page: &'a PageBytes,
    data: &'a [u8],
}

/// Inserts a heap record, deciding full-page images against the current redo pointer
/// and retrying when a checkpoint moved it (recipe step 6). Returns the end LSN.
fn log_heap_change(
    wal: &Wal,
    info: u8,
    xid: TransactionId,
    blocks: &[LoggedBlock<'_>],
    main_data: &[u8],
    full_page_writes: bool,
) -> QuillResult<Lsn> {
    loop {
        let redo = wal.redo_ptr();
        let mut record = RecordBuilder::new(RmgrId::Heap, info, xid);
        for block in blocks {
            record.block(block.block_ref);
            let needs_image = !block.block_ref.will_init
                && full_page_writes
                && Page::new(block.page).lsn() <= redo;
            if needs_image {
                record.image(block.page); // redo restores it; the data is not needed
            } else {
                record.block_data(block.data);
            }
        }
        record.main_data(main_data);
        if let Some((_, end)) = wal.insert_with_redo_check(&record, redo)? {
            return Ok(end);
        }
    }
}

/// The page under an exclusive guard, to change.
fn page_mut<'g>(guard: &'g mut BufferExclusiveGuard<'_>) -> crate::storage::page::PageMut<'g> {
    Page::new(&mut **guard)
}

/// Pins the next block to try for a new tuple: `candidate` (the relation's last block)
/// once, then a new block. The caller locks it and checks the free space.
fn pin_candidate(
    pool: &BufferPool,
    rel: RelFileNode,
    candidate: &mut Option<BlockNumber>,
) -> QuillResult<PinnedBuffer> {
    match candidate.take() {
        Some(block) => pool.read_buffer(rel, MAIN, block),
        None => pool.extend(rel, MAIN),
    }
}

fn last_block(pool: &BufferPool, rel: RelFileNode) -> QuillResult<Option<BlockNumber>> {
    let nblocks = pool.smgr().nblocks(rel, MAIN)?;
    Ok(nblocks.checked_sub(1).map(BlockNumber))
}

/// Inserts `tuple` (PostgreSQL's `heap_insert`). The caller filled its header (xmin,
/// cid, `HEAP_XMAX_INVALID`, see `HeapTupleHeader::for_insert`); t_ctid is set here.
/// The record's xid is the tuple's xmin. Returns where the tuple went.
///
/// Requires: the relation's main fork exists; no content lock of this relation held.
/// Errors: "row is too big" (54000); buffer and WAL errors. An error after the change
/// started is a PANIC (abort), never a half-applied change.
pub fn heap_insert(
    pool: &BufferPool,
    wal: &Wal,
    rel: RelFileNode,
    tuple: &[u8],
    full_page_writes: bool,
) -> QuillResult<ItemPointer> {
    let header = check_tuple_len(tuple)?;
    let mut candidate = last_block(pool, rel)?;
    loop {
        let buf = pin_candidate(pool, rel, &mut candidate)?;
        let mut guard = buf.lock_exclusive();
        if !has_room(&guard, tuple.len()) {
            continue; // candidate is now None: extend
        }
        let block = buf.tag().block;
        let page_was_new = Page::new(&*guard).is_new();

        let critical = CriticalSection::enter("heap_insert");
        let offnum = {
            let mut page = page_mut(&mut guard);
            if page_was_new {
                page.init(0);
            }
            let offnum = place_tuple(&mut page, tuple, None).expect("free space was checked");
            let item = page.item_mut(offnum).expect("item just added");
            let mut stored = header;
            stored.ctid = ItemPointer::new(block, offnum);
            stored.write(item).expect("tuple header fits");
            offnum
        };
        guard.mark_dirty();
        let xlrec = XlHeapInsert { offnum, flags: 0 }.encode();
        let mut info = XLOG_HEAP_INSERT;
        let mut block_ref = BlockRef::new(rel, MAIN, block);
        if page_was_new {
            assert_eq!(offnum, OffsetNumber::FIRST, "first tuple of a new page");
            info |= XLOG_HEAP_INIT_PAGE;
            block_ref.will_init = true;
        }
        let end = {
            let page: &PageBytes = &guard;
            let view = Page::new(page);
            let stored = view.item(offnum).expect("item just added");
            let blocks = [LoggedBlock {
                block_ref,
                page,
                data: stored,
            }];
            log_heap_change(wal, info, header.xmin, &blocks, &xlrec, full_page_writes)?
        };
        page_mut(&mut guard).set_lsn(end);
        critical.leave();
        return Ok(ItemPointer::new(block, offnum));
    }
}

/// PostgreSQL's `HeapTupleSatisfiesUpdate`, reduced: may `header` (at `tid`) be
/// deleted or updated now by the current transaction?
fn satisfies_update(
    header: &HeapTupleHeader,
    tid: ItemPointer,
    oracle: &dyn XidStatusOracle,
) -> QuillResult<HeapUpdateResult> {
    if !header.xmin_committed() {
        if header.xmin_invalid() {
            return Ok(HeapUpdateResult::Invisible);
        }
        let xmin = header.xmin;
        if xid_is_normal(xmin)
            && !oracle.is_current(xmin)
            && oracle.status(xmin) != XidStatus::Committed
        {
            return Ok(HeapUpdateResult::Invisible);
        }
    }
    if header.xmax_invalid() || header.xmax == 0 || header.xmax_is_locked_only() {
        return Ok(HeapUpdateResult::Ok(tid));
    }
    if header.xmax_is_multi() {
        return Err(QuillError::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "MultiXact xmax is not supported",
        ));
    }
    let xmax = header.xmax;
    if oracle.is_current(xmax) {
        return Ok(HeapUpdateResult::SelfModified);
    }
    let status = if header.xmax_committed() {
        XidStatus::Committed
    } else {
        oracle.status(xmax)
    };
    Ok(match status {
        XidStatus::InProgress => HeapUpdateResult::BeingModified(xmax),
        XidStatus::Aborted => HeapUpdateResult::Ok(tid),
        XidStatus::Committed if header.ctid == tid => HeapUpdateResult::Deleted,
        XidStatus::Committed => HeapUpdateResult::Updated(header.ctid),
    })
}

/// The old version's header after `xid`/`cid` delete it (or update it to `ctid`).
fn xmax_stamp(
    old: &HeapTupleHeader,
    xid: TransactionId,
    cid: CommandId,
    ctid: ItemPointer,
    is_delete: bool,
) -> XmaxStamp {
    let mut infomask = old.infomask;
    infomask &= !(HEAP_XMAX_COMMITTED
        | HEAP_XMAX_INVALID
        | HEAP_XMAX_IS_MULTI
        | HEAP_LOCK_MASK
        | HEAP_XMAX_LOCK_ONLY
        | HEAP_COMBOCID);
    let mut infomask2 = old.infomask2 & !HEAP_HOT_UPDATED;
    if is_delete {
        infomask2 |= HEAP_KEYS_UPDATED;
    }
    XmaxStamp {
        xmax: xid,
        cid,
        infomask,
        infomask2,
        ctid,
    }
}

/// The header of the tuple at `tid` on a locked page, or an error if there is none.
fn header_at(page: &PageBytes, tid: ItemPointer) -> QuillResult<HeapTupleHeader> {
    let view = Page::new(page);
    let item = view
        .checked_item(tid.offset)?
        .ok_or_else(|| QuillError::internal(format!("tuple {tid} to be changed does not exist")))?;
    Ok(HeapTupleHeader::read(item)?)
}

/// Deletes the tuple at `tid` as transaction `xid`, command `cid` (PostgreSQL's
/// `heap_delete`): sets xmax, clears `HEAP_XMAX_INVALID`, keeps t_ctid pointing at
/// itself, WAL-logs XLOG_HEAP_DELETE. Returns `Ok(HeapUpdateResult::Ok(tid))` when
/// done, or why not (nothing changed then).
#[allow(clippy::too_many_arguments)]
pub fn heap_delete(
    pool: &BufferPool,
    wal: &Wal,
    rel: RelFileNode,
    tid: ItemPointer,
    xid: TransactionId,
    cid: CommandId,
    oracle: &dyn XidStatusOracle,
    full_page_writes: bool,
) -> QuillResult<HeapUpdateResult> {
    let buf = pool.read_buffer(rel, MAIN, tid.block)?;
    let mut guard = buf.lock_exclusive();
    let old = header_at(&guard, tid)?;
    let verdict = satisfies_update(&old, tid, oracle)?;
    if verdict != HeapUpdateResult::Ok(tid) {
        return Ok(verdict);
    }
    let stamp = xmax_stamp(&old, xid, cid, tid, true);
    let xlrec = XlHeapDelete {
        offnum: tid.offset,
        stamp,
    }
    .encode();

    let critical = CriticalSection::enter("heap_delete");
    apply_stamp(&mut page_mut(&mut guard), tid.offset, &stamp)?;
    guard.mark_dirty();
    let end = {
        let blocks = [LoggedBlock {
            block_ref: BlockRef::new(rel, MAIN, tid.block),
            page: &guard,
            data: &[],
        }];
        log_heap_change(
            wal,
            XLOG_HEAP_DELETE,
            xid,
            &blocks,
            &xlrec,
            full_page_writes,
        )?
    };
    page_mut(&mut guard).set_lsn(end);
    critical.leave();
    Ok(HeapUpdateResult::Ok(tid))
}

/// Replaces the tuple at `otid` by `new_tuple` (PostgreSQL's `heap_update`, without
/// HOT): the new version goes on the old page if it fits, else on the last block or a
/// new one; the old version gets xmax = the new tuple's xmin, cmax = `cid`, and t_ctid
/// → the new version. One XLOG_HEAP_UPDATE record covers both pages. The caller fills
/// the new tuple's header as for an insert; `HEAP_UPDATED` is set here.
#[allow(clippy::too_many_arguments)]
pub fn heap_update(
    pool: &BufferPool,
    wal: &Wal,
    rel: RelFileNode,
    otid: ItemPointer,
    new_tuple: &[u8],
    cid: CommandId,
    oracle: &dyn XidStatusOracle,
    full_page_writes: bool,
) -> QuillResult<HeapUpdateResult> {
    let mut new_header = check_tuple_len(new_tuple)?;
    let xid = new_header.xmin;
    new_header.infomask |= HEAP_UPDATED;
    let old_buf = pool.read_buffer(rel, MAIN, otid.block)?;
    let mut old_guard = old_buf.lock_exclusive();
    let old = header_at(&old_guard, otid)?;
    let verdict = satisfies_update(&old, otid, oracle)?;
    if verdict != HeapUpdateResult::Ok(otid) {
        return Ok(verdict);
    }
    if has_room(&old_guard, new_tuple.len()) {
        return update_same_page(
            wal,
            rel,
            otid,
            &mut old_guard,
            &old,
            new_header,
            new_tuple,
            cid,
            full_page_writes,
        );
    }
    // Another page: the last block (if it is not the old one), else a new one. Both
    // come after the old page, so locking it now keeps block order.
    let mut candidate = last_block(pool, rel)?.filter(|&b| b != otid.block);
    loop {
        let new_buf = pin_candidate(pool, rel, &mut candidate)?;
        let new_block = new_buf.tag().block;
        assert!(new_block > otid.block, "update's new page precedes the old");
        let mut new_guard = new_buf.lock_exclusive();
        if !has_room(&new_guard, new_tuple.len()) {
            continue;
        }
        let page_was_new = Page::new(&*new_guard).is_new();

        let critical = CriticalSection::enter("heap_update");
        let new_offnum = {
            let mut page = page_mut(&mut new_guard);
            if page_was_new {
                page.init(0);
            }
            add_new_version(&mut page, new_block, new_header, new_tuple)
        };
        let new_tid = ItemPointer::new(new_block, new_offnum);
        let stamp = xmax_stamp(&old, xid, cid, new_tid, false);
        apply_stamp(&mut page_mut(&mut old_guard), otid.offset, &stamp)?;
        new_guard.mark_dirty();
        old_guard.mark_dirty();
        let xlrec = XlHeapUpdate {
            old_offnum: otid.offset,
            new_offnum,
            stamp,
        }
        .encode();
        let mut info = XLOG_HEAP_UPDATE;
        let mut new_ref = BlockRef::new(rel, MAIN, new_block);
        if page_was_new {
            assert_eq!(new_offnum, OffsetNumber::FIRST, "first tuple of a new page");
            info |= XLOG_HEAP_INIT_PAGE;
            new_ref.will_init = true;
        }
        let end = {
            let new_page: &PageBytes = &new_guard;
            let view = Page::new(new_page);
            let stored = view.item(new_offnum).expect("just added");
            let blocks = [
                LoggedBlock {
                    block_ref: new_ref,
                    page: new_page,
                    data: stored,
                },
                LoggedBlock {
                    block_ref: BlockRef::new(rel, MAIN, otid.block),
                    page: &old_guard,
                    data: &[],
                },
            ];
            log_heap_change(wal, info, xid, &blocks, &xlrec, full_page_writes)?
        };
        page_mut(&mut new_guard).set_lsn(end);
        page_mut(&mut old_guard).set_lsn(end);
        critical.leave();
        return Ok(HeapUpdateResult::Ok(new_tid));
    }
}

/// Adds the new version of an update and points its t_ctid at itself. Inside the
/// critical section; free space was checked.
fn add_new_version(
    page: &mut crate::storage::page::PageMut<'_>,
    block: BlockNumber,
    mut header: HeapTupleHeader,
    tuple: &[u8],
) -> OffsetNumber {
    let offnum = place_tuple(page, tuple, None).expect("free space was checked");
    header.ctid = ItemPointer::new(block, offnum);
    let item = page.item_mut(offnum).expect("item just added");
    header.write(item).expect("tuple header fits");
    offnum
}

#[allow(clippy::too_many_arguments)]
fn update_same_page(
    wal: &Wal,
    rel: RelFileNode,
    otid: ItemPointer,
    guard: &mut BufferExclusiveGuard<'_>,
    old: &HeapTupleHeader,
    new_header: HeapTupleHeader,
    new_tuple: &[u8],
    cid: CommandId,
    full_page_writes: bool,
) -> QuillResult<HeapUpdateResult> {
    let xid = new_header.xmin;
    let critical = CriticalSection::enter("heap_update");
    let new_offnum = add_new_version(&mut page_mut(guard), otid.block, new_header, new_tuple);
    let new_tid = ItemPointer::new(otid.block, new_offnum);
    let stamp = xmax_stamp(old, xid, cid, new_tid, false);
    apply_stamp(&mut page_mut(guard), otid.offset, &stamp)?;
    guard.mark_dirty();
    let xlrec = XlHeapUpdate {
        old_offnum: otid.offset,
        new_offnum,
        stamp,
    }
    .encode();
    let end = {
        let page: &PageBytes = guard;
        let view = Page::new(page);
        let stored = view.item(new_offnum).expect("just added");
        let blocks = [LoggedBlock {
            block_ref: BlockRef::new(rel, MAIN, otid.block),
            page,
            data: stored,
        }];
        log_heap_change(
            wal,
            XLOG_HEAP_UPDATE,
            xid,
            &blocks,
            &xlrec,
            full_page_writes,
        )?
    };
    page_mut(guard).set_lsn(end);
    critical.leave();
    Ok(HeapUpdateResult::Ok(new_tid))
}

/// The raw tuple at `tid`, whatever its visibility (`None`: no tuple there).
pub fn heap_fetch(
    pool: &BufferPool,
    rel: RelFileNode,
    tid: ItemPointer,
) -> QuillResult<Option<Vec<u8>>> {
    let buf = pool.read_buffer(rel, MAIN, tid.block)?;
    let guard = buf.lock_shared();
    Ok(Page::new(&*guard)
        .checked_item(tid.offset)?
        .map(<[u8]>::to_vec))
}

/// The tuple at `tid` if `snapshot` sees it (PostgreSQL's `heap_fetch`).
pub fn heap_fetch_visible(
    pool: &BufferPool,
    rel: RelFileNode,
    tid: ItemPointer,
    snapshot: &Snapshot,
    oracle: &dyn XidStatusOracle,
) -> QuillResult<Option<Vec<u8>>> {
    let Some(tuple) = heap_fetch(pool, rel, tid)? else {
        return Ok(None);
    };
    let header = HeapTupleHeader::read(&tuple)?;
    let visible = heap_tuple_satisfies_mvcc(&header, snapshot, oracle)?.visible;
    Ok(visible.then_some(tuple))
}

/// A sequential scan: every tuple `snapshot` sees, block by block, one page at a time
/// (the page's visible tuples are copied under its shared lock, PostgreSQL's page
/// mode). Blocks added after the scan started are not visited.
pub fn heap_scan<'a>(
    pool: &'a BufferPool,
    rel: RelFileNode,
    snapshot: &'a Snapshot,
    oracle: &'a dyn XidStatusOracle,
) -> QuillResult<HeapScan<'a>> {
    let nblocks = pool.smgr().nblocks(rel, MAIN)?;
    Ok(HeapScan {
        pool,
        rel,
        snapshot,
        oracle,
        nblocks,
        next_block: 0,
        page_tuples: Vec::new().into_iter(),
    })
}

/// Iterator of [`heap_scan`]: `(tid, tuple bytes)` of each visible tuple; an error
/// ends the scan.
pub struct HeapScan<'a> {
    pool: &'a BufferPool,
    rel: RelFileNode,
    snapshot: &'a Snapshot,
    oracle: &'a dyn XidStatusOracle,
    nblocks: u32,
    next_block: u32,
    page_tuples: std::vec::IntoIter<(ItemPointer, Vec<u8>)>,
}

impl HeapScan<'_> {
    fn read_page(&self, block: BlockNumber) -> QuillResult<Vec<(ItemPointer, Vec<u8>)>> {
        let buf = self.pool.read_buffer(self.rel, MAIN, block)?;
        let guard = buf.lock_shared();
        let page = Page::new(&*guard);
        let mut visible = Vec::new();
        if page.is_new() {
            return Ok(visible); // extended but never initialized
        }
        for off in 1..=page.max_offset().0 {
            let offset = OffsetNumber(off);
            let Some(tuple) = page.checked_item(offset)? else {
                continue;
            };
            let header = HeapTupleHeader::read(tuple)?;
            if heap_tuple_satisfies_mvcc(&header, self.snapshot, self.oracle)?.visible {
                visible.push((ItemPointer::new(block, offset), tuple.to_vec()));
            }
        }
        Ok(visible)
    }
}

impl Iterator for HeapScan<'_> {
    type Item = QuillResult<(ItemPointer, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(found) = self.page_tuples.next() {
                return Some(Ok(found));
            }
            if self.next_block >= self.nblocks {
                return None;
            }
            let block = BlockNumber(self.next_block);
            self.next_block += 1;
            match self.read_page(block) {
                Ok(tuples) => self.page_tuples = tuples.into_iter(),
                Err(e) => {
                    self.next_block = self.nblocks;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "heapam_tests.rs"]
pub(crate) mod tests;
