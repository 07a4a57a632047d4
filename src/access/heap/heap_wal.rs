//! The heap's WAL records and their redo (PostgreSQL's `heapam_xlog.h` and
//! `heap_xlog_insert`/`heap_xlog_delete`/`heap_xlog_update`), reduced.
//!
//! # Records (resource manager `Heap`, `xl_info` high bits)
//! ```text
//!  XLOG_HEAP_INSERT 0x00   block 0: the page;   block data: the whole tuple as stored
//!                          (header included, t_ctid already pointing at itself)
//!                          main data (3 B):  offnum u16 | flags u8
//!  XLOG_HEAP_DELETE 0x10   block 0: the page;   no block data
//!                          main data (20 B): offnum u16 | stamp (18 B)
//!  XLOG_HEAP_UPDATE 0x20   block 0: the page receiving the new version; block data: the
//!                          new tuple as stored. block 1 (only when different): the page
//!                          of the old version. main data (22 B):
//!                          old_offnum u16 | new_offnum u16 | stamp (18 B)
//!  XLOG_HEAP_INIT_PAGE 0x80  flag on INSERT/UPDATE: block 0 was a new page; redo
//!                          formats it from nothing (the block ref is `will_init`)
//!
//!  stamp: what the change wrote into the old tuple's header, all little-endian:
//!         xmax u32 | cid u32 | infomask u16 | infomask2 u16 | ctid block u32 | ctid off u16
//! ```
//! Info codes are PostgreSQL's; the payloads are not byte-compatible with PostgreSQL's
//! (`xl_heap_header` omits xmin/cid/ctid and redo reconstructs them): Quill logs the
//! header fields it wrote, so that redo reproduces the page **byte for byte** and the
//! do path and the redo path share the same page-change functions
//! ([`place_tuple`], [`apply_stamp`]).
//!
//! # Redo (DESIGN.md §4 rules 4 and 5; WAL README rule 5)
//! For every block reference of a record:
//! 1. With a full-page image (`BKPIMAGE_APPLY`): restore the image, set
//!    `pd_lsn = end_lsn`, mark dirty. The page's old bytes are never trusted: after a
//!    torn write its LSN can be anything.
//! 2. With `will_init` (XLOG_HEAP_INIT_PAGE): format the page, then apply.
//! 3. Otherwise apply only if `pd_lsn < end_lsn` (the change is not yet on the page),
//!    then set `pd_lsn = end_lsn` and mark dirty. Applying a record twice is applying it
//!    once.
//!
//! Blocks are reached through the buffer pool (the startup process has one). A block
//! beyond the end of the file is created by extending the relation when the record
//! rebuilds it (image or init), as PostgreSQL's `XLogReadBufferExtended`; a missing
//! relation file is created. A change to a missing block that the record cannot
//! rebuild is corruption ("WAL contains references to invalid pages").

use crate::error::{sqlstate, QuillError, QuillResult};
use crate::storage::buffer::{BufferPool, PinnedBuffer};
use crate::storage::ids::{BlockNumber, ForkNumber};
use crate::storage::page::{OffsetNumber, Page, PageMut};
use crate::wal::record::{BlockRef, DecodedBlock, DecodedRecord, RmgrId, XLR_RMGR_INFO_MASK};
use crate::wal::Lsn;

use super::tuple::{CommandId, HeapTupleHeader, ItemPointer, TransactionId};

pub const XLOG_HEAP_INSERT: u8 = 0x00;
pub const XLOG_HEAP_DELETE: u8 = 0x10;
pub const XLOG_HEAP_UPDATE: u8 = 0x20;
/// The record's kind, without the INIT_PAGE flag.
pub const XLOG_HEAP_OPMASK: u8 = 0x70;
/// Block 0 is a new page: redo formats it instead of reading it.
pub const XLOG_HEAP_INIT_PAGE: u8 = 0x80;

const STAMP_LEN: usize = 18;
const INSERT_LEN: usize = 3;
const DELETE_LEN: usize = 2 + STAMP_LEN;
const UPDATE_LEN: usize = 4 + STAMP_LEN;

/// The header fields a delete or update writes into the old tuple version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmaxStamp {
    pub xmax: TransactionId,
    pub cid: CommandId,
    pub infomask: u16,
    pub infomask2: u16,
    /// The tuple itself (delete) or its new version (update).
    pub ctid: ItemPointer,
}

impl XmaxStamp {
    fn encode(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.xmax.to_le_bytes());
        out[4..8].copy_from_slice(&self.cid.to_le_bytes());
        out[8..10].copy_from_slice(&self.infomask.to_le_bytes());
        out[10..12].copy_from_slice(&self.infomask2.to_le_bytes());
        out[12..16].copy_from_slice(&self.ctid.block.0.to_le_bytes());
        out[16..18].copy_from_slice(&self.ctid.offset.0.to_le_bytes());
    }

    fn decode(data: &[u8]) -> XmaxStamp {
        XmaxStamp {
            xmax: u32_at(data, 0),
            cid: u32_at(data, 4),
            infomask: u16_at(data, 8),
            infomask2: u16_at(data, 10),
            ctid: ItemPointer::new(
                BlockNumber(u32_at(data, 12)),
                OffsetNumber(u16_at(data, 16)),
            ),
        }
    }
}

fn u16_at(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Main data of XLOG_HEAP_INSERT (PostgreSQL's `xl_heap_insert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XlHeapInsert {
    pub offnum: OffsetNumber,
    pub flags: u8,
}

impl XlHeapInsert {
    pub fn encode(&self) -> [u8; INSERT_LEN] {
        let [a, b] = self.offnum.0.to_le_bytes();
        [a, b, self.flags]
    }

    pub fn decode(data: &[u8]) -> QuillResult<XlHeapInsert> {
        check_len("insert", data, INSERT_LEN)?;
        Ok(XlHeapInsert {
            offnum: OffsetNumber(u16_at(data, 0)),
            flags: data[2],
        })
    }
}

/// Main data of XLOG_HEAP_DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XlHeapDelete {
    pub offnum: OffsetNumber,
    pub stamp: XmaxStamp,
}

impl XlHeapDelete {
    pub fn encode(&self) -> [u8; DELETE_LEN] {
        let mut out = [0u8; DELETE_LEN];
        out[0..2].copy_from_slice(&self.offnum.0.to_le_bytes());
        self.stamp.encode(&mut out[2..]);
        out
    }

    pub fn decode(data: &[u8]) -> QuillResult<XlHeapDelete> {
        check_len("delete", data, DELETE_LEN)?;
        Ok(XlHeapDelete {
            offnum: OffsetNumber(u16_at(data, 0)),
            stamp: XmaxStamp::decode(&data[2..]),
        })
    }
}

/// Main data of XLOG_HEAP_UPDATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XlHeapUpdate {
    pub old_offnum: OffsetNumber,
    pub new_offnum: OffsetNumber,
    pub stamp: XmaxStamp,
}

impl XlHeapUpdate {
    pub fn encode(&self) -> [u8; UPDATE_LEN] {
        let mut out = [0u8; UPDATE_LEN];
        out[0..2].copy_from_slice(&self.old_offnum.0.to_le_bytes());
        out[2..4].copy_from_slice(&self.new_offnum.0.to_le_bytes());
        self.stamp.encode(&mut out[4..]);
        out
    }

    pub fn decode(data: &[u8]) -> QuillResult<XlHeapUpdate> {
        check_len("update", data, UPDATE_LEN)?;
        Ok(XlHeapUpdate {
            old_offnum: OffsetNumber(u16_at(data, 0)),
            new_offnum: OffsetNumber(u16_at(data, 2)),
            stamp: XmaxStamp::decode(&data[4..]),
        })
    }
}

fn check_len(what: &str, data: &[u8], want: usize) -> QuillResult<()> {
    if data.len() != want {
        return Err(QuillError::new(
            sqlstate::DATA_CORRUPTED,
            format!(
                "invalid heap {what} record: main data is {} bytes, expected {want}",
                data.len()
            ),
        ));
    }
    Ok(())
}

/// pg_waldump's description of a heap record (`heap_desc`).
pub fn heap_desc(record: &DecodedRecord<'_>) -> String {
    let info = record.info() & XLR_RMGR_INFO_MASK;
    let init = if info & XLOG_HEAP_INIT_PAGE != 0 {
        "+INIT"
    } else {
        ""
    };
    let main = record.main_data();
    match info & XLOG_HEAP_OPMASK {
        XLOG_HEAP_INSERT => match XlHeapInsert::decode(main) {
            Ok(x) => format!("INSERT{init} off {} flags 0x{:02X}", x.offnum, x.flags),
            Err(e) => e.to_string(),
        },
        XLOG_HEAP_DELETE => match XlHeapDelete::decode(main) {
            Ok(x) => format!("DELETE off {} xmax {}", x.offnum, x.stamp.xmax),
            Err(e) => e.to_string(),
        },
        XLOG_HEAP_UPDATE => match XlHeapUpdate::decode(main) {
            Ok(x) => format!(
                "UPDATE{init} old_xmax {} old_off {} new_off {}",
                x.stamp.xmax, x.old_offnum, x.new_offnum
            ),
            Err(e) => e.to_string(),
        },
        other => format!("UNKNOWN heap info 0x{other:02X}"),
    }
}

// ---- Page changes, shared by the do path (heapam.rs) and redo ----

/// Adds `tuple` (exactly as it is to be stored) at `offnum`, or at the first free slot
/// when `offnum` is `None`. `None` if it does not fit or the slot is taken; the page is
/// then unchanged.
pub(super) fn place_tuple(
    page: &mut PageMut<'_>,
    tuple: &[u8],
    offnum: Option<OffsetNumber>,
) -> Option<OffsetNumber> {
    let placed = page.add_heap_item(tuple, offnum)?;
    if offnum.is_some_and(|want| want != placed) {
        return None;
    }
    Some(placed)
}

/// Writes `stamp` into the header of the tuple at `offnum` (delete, and the old
/// version of an update). Validates before changing anything.
pub(super) fn apply_stamp(
    page: &mut PageMut<'_>,
    offnum: OffsetNumber,
    stamp: &XmaxStamp,
) -> QuillResult<()> {
    let item = page.item_mut(offnum).ok_or_else(|| {
        QuillError::new(
            sqlstate::DATA_CORRUPTED,
            format!("heap tuple at offset {offnum} has no storage"),
        )
    })?;
    let mut header = HeapTupleHeader::read(item)?;
    header.xmax = stamp.xmax;
    header.cid = stamp.cid;
    header.infomask = stamp.infomask;
    header.infomask2 = stamp.infomask2;
    header.ctid = stamp.ctid;
    header.write(item)?;
    Ok(())
}

// ---- Redo ----

/// Replays one heap record (module doc). `lsn` is the record's start, `end_lsn` what
/// the changed pages are stamped with. Requires: recovery (no other process changes
/// these pages); errors mean recovery cannot continue.
pub fn heap_redo(
    pool: &BufferPool,
    lsn: Lsn,
    end_lsn: Lsn,
    record: &DecodedRecord<'_>,
) -> QuillResult<()> {
    debug_assert_eq!(record.rmgr(), RmgrId::Heap);
    let info = record.info() & XLR_RMGR_INFO_MASK;
    let init = info & XLOG_HEAP_INIT_PAGE != 0;
    let block0 = record
        .block(0)
        .ok_or_else(|| bad_record(lsn, "no block 0"))?;
    match info & XLOG_HEAP_OPMASK {
        XLOG_HEAP_INSERT => {
            let xlrec = XlHeapInsert::decode(record.main_data())?;
            redo_block(pool, block0, end_lsn, init, |page| {
                place_tuple(page, block0.data, Some(xlrec.offnum))
                    .map(drop)
                    .ok_or_else(|| bad_record(lsn, "failed to add tuple"))
            })
        }
        XLOG_HEAP_DELETE => {
            let xlrec = XlHeapDelete::decode(record.main_data())?;
            redo_block(pool, block0, end_lsn, false, |page| {
                apply_stamp(page, xlrec.offnum, &xlrec.stamp)
            })
        }
        XLOG_HEAP_UPDATE => {
            let xlrec = XlHeapUpdate::decode(record.main_data())?;
            let add_new = |page: &mut PageMut<'_>| {
                place_tuple(page, block0.data, Some(xlrec.new_offnum))
                    .map(drop)
                    .ok_or_else(|| bad_record(lsn, "failed to add tuple"))
            };
            match record.block(1) {
                Some(old_block) => {
                    redo_block(pool, old_block, end_lsn, false, |page| {
                        apply_stamp(page, xlrec.old_offnum, &xlrec.stamp)
                    })?;
                    redo_block(pool, block0, end_lsn, init, add_new)
                }
                None => redo_block(pool, block0, end_lsn, false, |page| {
                    add_new(page)?;
                    apply_stamp(page, xlrec.old_offnum, &xlrec.stamp)
                }),
            }
        }
        other => Err(bad_record(lsn, &format!("unknown op code 0x{other:02X}"))),
    }
}

fn bad_record(lsn: Lsn, what: &str) -> QuillError {
    QuillError::new(
        sqlstate::DATA_CORRUPTED,
        format!("heap redo of record at {lsn}: {what}"),
    )
}

/// Steps 1–3 of the module doc for one block.
fn redo_block(
    pool: &BufferPool,
    block: &DecodedBlock<'_>,
    end_lsn: Lsn,
    init: bool,
    apply: impl FnOnce(&mut PageMut<'_>) -> QuillResult<()>,
) -> QuillResult<()> {
    let image = block.image.filter(|image| image.apply);
    let buf = redo_buffer(pool, &block.block_ref, image.is_some() || init)?;
    let mut guard = buf.lock_exclusive();
    {
        let mut page = Page::new(&mut *guard);
        if let Some(image) = image {
            image.restore(page.bytes_mut());
        } else {
            if init {
                page.init(0);
            } else if page.lsn() >= end_lsn {
                return Ok(()); // already applied (rule 5)
            }
            apply(&mut page)?;
        }
        page.set_lsn(end_lsn);
    }
    guard.mark_dirty();
    Ok(())
}

/// The buffer of a block a record changes. A block the record rebuilds from nothing
/// (`overwrite`: image or init) is mapped without reading it
/// ([`BufferPool::read_buffer_zeroed`], PostgreSQL's `RBM_ZERO_AND_LOCK`), extending
/// the relation when it is beyond the end: a torn page fails its checksum on read, and
/// it is exactly the page the image is there to repair. A missing relation file is
/// created (PostgreSQL's `XLogReadBufferExtended`).
fn redo_buffer(pool: &BufferPool, r: &BlockRef, overwrite: bool) -> QuillResult<PinnedBuffer> {
    let smgr = pool.smgr();
    let fork: ForkNumber = r.fork;
    if !smgr.exists(r.rel, fork) {
        smgr.create(r.rel, fork)?;
    }
    if overwrite {
        return pool.read_buffer_zeroed(r.rel, fork, r.block);
    }
    let nblocks = smgr.nblocks(r.rel, fork)?;
    if r.block.0 < nblocks {
        return pool.read_buffer(r.rel, fork, r.block);
    }
    Err(QuillError::new(
        sqlstate::DATA_CORRUPTED,
        "WAL contains references to invalid pages",
    )
    .with_detail(format!(
        "block {} of relation {} does not exist (it has {nblocks} blocks)",
        r.block,
        r.rel.relative_path(fork)
    )))
}

#[cfg(test)]
#[path = "heap_wal_tests.rs"]
mod tests;
