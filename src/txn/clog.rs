//! The commit log (clog, `pg_xact`): two status bits per transaction, PostgreSQL's
//! `clog.c` over a reduced `slru.c`.
//!
//! # Layout
//! ```text
//!  xid → page  = xid / 32768            (CLOG_XACTS_PER_PAGE: 8192 bytes × 4 xids)
//!        byte  = (xid % 32768) / 4
//!        bits  = 2 × (xid % 4) .. +2     00 in progress, 01 committed,
//!                                        10 aborted,     11 sub-committed
//!  page → file  pg_xact/XXXX, XXXX = page / 32 in 4 hex digits (256 KiB segments)
//!         offset (page % 32) × 8192
//! ```
//!
//! # The page cache
//! [`NUM_CLOG_SLOTS`] page slots live in shared memory ([`ClogShared`]) under ONE
//! LWLock (PostgreSQL's `XactSLRULock`). Readers of a cached page take it shared;
//! everything else — setting a status, loading or zeroing a page, writing a dirty page —
//! takes it exclusive, **and keeps it across the I/O**. PostgreSQL drops the control
//! lock during I/O and uses per-buffer locks; clog I/O is rare (one page covers 32768
//! transactions), so Quill keeps the simpler protocol. A victim is the least recently
//! used slot (recency counters are atomics, bumped even under the shared lock), never
//! the newest page if another slot will do.
//!
//! # Log before data (DESIGN.md §4 rule 1)
//! Each slot remembers the largest commit-record end LSN among the statuses set on
//! its page. A dirty page is written only after [`WalFlush::flush`] up to that LSN
//! returns, and the write asserts (in release builds too) that WAL is durable there:
//! otherwise, after an asynchronous commit, a crash could leave clog saying
//! "committed" about a transaction whose commit record never reached the disk.
//! Aborts pass no LSN (an aborted transaction that reverts to "in progress" after a
//! crash is still treated as aborted).
//!
//! # Creating pages (WAL-logged)
//! [`Clog::extend_for`] zeroes the page of an xid that is the first on its page
//! (or is `FirstNormalTransactionId`, after wraparound) and WAL-logs `CLOG_ZEROPAGE`
//! before the xid is handed out. Redo replays the zeroing, so a page that never
//! reached the disk is recreated before any commit record for it is replayed.
//!
//! # Durability of the files
//! Evicting a dirty page writes it without fsync; [`Clog::flush_all`] (the
//! checkpoint) writes every dirty page and fsyncs every segment written since the
//! last one, and `pg_xact` itself when a segment was created. A torn clog write is
//! harmless: each sector holds either the contents synced at the last checkpoint or a
//! newer one, and WAL after the checkpoint redoes everything newer.
//!
//! # Missing pages
//! Outside recovery a missing segment or a short page is an error ("could not access
//! status of transaction"), as in PostgreSQL. In recovery ([`Clog::set_in_recovery`])
//! it reads as zeros: the page's `CLOG_ZEROPAGE` and commit records are being
//! replayed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::access::heap::tuple::TransactionId;
use crate::access::heap::visibility::{XidStatus, FIRST_NORMAL_TRANSACTION_ID};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::shmem::lwlock::LWLocked;
use crate::storage::file_io::{FileIo, OpenMode};
use crate::wal::record::{DecodedRecord, RecordBuilder, RmgrId};
use crate::wal::Lsn;

use super::{WalFlush, WalInsert};

/// Size of a clog page.
pub const CLOG_PAGE_BYTES: usize = 8192;
/// Transactions per status byte (2 bits each).
pub const CLOG_XACTS_PER_BYTE: u32 = 4;
/// Transactions per clog page.
pub const CLOG_XACTS_PER_PAGE: u32 = CLOG_PAGE_BYTES as u32 * CLOG_XACTS_PER_BYTE;
/// Pages per `pg_xact` segment file (PostgreSQL's SLRU_PAGES_PER_SEGMENT).
pub const SLRU_PAGES_PER_SEGMENT: u32 = 32;
/// Page slots in the shared cache.
pub const NUM_CLOG_SLOTS: usize = 16;
/// Directory of the clog segments, relative to the data directory.
pub const CLOG_DIR: &str = "pg_xact";
/// `xl_info` of the record that zeroes (creates) a clog page; main data: page (u32).
pub const CLOG_ZEROPAGE: u8 = 0x00;

/// Segments that can exist: the last xid's page is 131071, in segment 0xFFF.
const MAX_SEGMENTS: usize = (u32::MAX / CLOG_XACTS_PER_PAGE / SLRU_PAGES_PER_SEGMENT) as usize + 1;
const _: () = assert!(MAX_SEGMENTS == 4096);
const _: () = assert!(CLOG_XACTS_PER_PAGE == 32768);

/// A transaction's status as clog stores it (`XidStatus` plus sub-committed, which
/// Quill does not produce yet: it has no subtransactions).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    InProgress = 0,
    Committed = 1,
    Aborted = 2,
    SubCommitted = 3,
}

impl TransactionStatus {
    fn from_bits(bits: u8) -> TransactionStatus {
        match bits & 3 {
            0 => TransactionStatus::InProgress,
            1 => TransactionStatus::Committed,
            2 => TransactionStatus::Aborted,
            _ => TransactionStatus::SubCommitted,
        }
    }

    /// What the visibility rules make of it (sub-committed without a committed parent
    /// is still running).
    pub fn to_xid_status(self) -> XidStatus {
        match self {
            TransactionStatus::Committed => XidStatus::Committed,
            TransactionStatus::Aborted => XidStatus::Aborted,
            TransactionStatus::InProgress | TransactionStatus::SubCommitted => {
                XidStatus::InProgress
            }
        }
    }
}

/// The clog page holding `xid`'s status.
pub fn page_of(xid: TransactionId) -> u32 {
    xid / CLOG_XACTS_PER_PAGE
}

/// Whether handing out `xid` needs a fresh clog page (first xid of a page, or the
/// first normal xid, which starts page 0 again after wraparound).
pub fn is_first_on_page(xid: TransactionId) -> bool {
    xid.is_multiple_of(CLOG_XACTS_PER_PAGE) || xid == FIRST_NORMAL_TRANSACTION_ID
}

/// `pg_xact/XXXX`, the segment file holding `page`.
pub fn segment_path(page: u32) -> PathBuf {
    Path::new(CLOG_DIR).join(format!("{:04X}", page / SLRU_PAGES_PER_SEGMENT))
}

fn page_offset_in_segment(page: u32) -> u64 {
    u64::from(page % SLRU_PAGES_PER_SEGMENT) * CLOG_PAGE_BYTES as u64
}

/// Byte index in the page and bit shift of `xid`'s status.
fn status_position(xid: TransactionId) -> (usize, u32) {
    let index = xid % CLOG_XACTS_PER_PAGE;
    (
        (index / CLOG_XACTS_PER_BYTE) as usize,
        (index % CLOG_XACTS_PER_BYTE) * 2,
    )
}

fn read_status(page: &[u8; CLOG_PAGE_BYTES], xid: TransactionId) -> TransactionStatus {
    let (byte, shift) = status_position(xid);
    TransactionStatus::from_bits(page[byte] >> shift)
}

fn write_status(page: &mut [u8; CLOG_PAGE_BYTES], xid: TransactionId, status: TransactionStatus) {
    let (byte, shift) = status_position(xid);
    page[byte] = (page[byte] & !(3 << shift)) | ((status as u8) << shift);
}

/// One page slot's bookkeeping. Written under the cache lock held exclusive.
#[repr(C)]
#[derive(Clone, Copy)]
struct SlotMeta {
    page: u32,
    /// 1 when `page` and the slot's bytes are meaningful.
    valid: u32,
    /// 1 when the bytes differ from the file.
    dirty: u32,
    _pad: u32,
    /// Largest commit-record end LSN reflected on the page since it was last written:
    /// WAL must be flushed to here before the page is.
    max_lsn: u64,
}

/// Everything protected by the cache lock.
#[repr(C)]
struct ClogBuffers {
    slots: [SlotMeta; NUM_CLOG_SLOTS],
    /// The newest page zeroed by [`Clog::extend_for`] or set by
    /// [`Clog::trim_after_recovery`] (PostgreSQL's `latest_page_number`), valid when
    /// `latest_page_valid` is 1.
    latest_page: u32,
    latest_page_valid: u32,
    /// 1 when a segment file was created since the last `flush_all` (`pg_xact` needs an
    /// fsync for the new name to be durable).
    dir_needs_sync: u32,
    _pad: u32,
    /// One bit per segment written since the last `flush_all` (needs fsync).
    pending_fsync: [u64; MAX_SEGMENTS / 64],
    /// Statistic: pages written to files (for tests and monitoring).
    pages_written: u64,
    pages: [[u8; CLOG_PAGE_BYTES]; NUM_CLOG_SLOTS],
}

/// The clog's shared state. All-zero bytes are an empty cache.
///
/// * `buffers`: everything but recency, under its LWLock (shared to read a cached
///   page, exclusive for anything else).
/// * `recency`, `lru_clock`: approximate LRU order, bumped atomically by any reader.
#[repr(C)]
pub struct ClogShared {
    lru_clock: AtomicU64,
    recency: [AtomicU64; NUM_CLOG_SLOTS],
    buffers: LWLocked<ClogBuffers>,
}

/// A process's handle on the clog: the shared cache, the file system, and how to flush
/// WAL before writing a page. Cheap; every process makes its own.
pub struct Clog {
    shared: &'static ClogShared,
    io: Arc<dyn FileIo>,
    wal: Arc<dyn WalFlush>,
    in_recovery: bool,
}

impl Clog {
    /// Attaches to `shared` (zeroed at server start).
    pub fn attach(
        shared: &'static ClogShared,
        io: Arc<dyn FileIo>,
        wal: Arc<dyn WalFlush>,
    ) -> Clog {
        Clog {
            shared,
            io,
            wal,
            in_recovery: false,
        }
    }

    /// In recovery, a missing segment or page reads as zeros (its zero-page and commit
    /// records are being replayed), and redo may overwrite any status.
    pub fn set_in_recovery(&mut self, in_recovery: bool) {
        self.in_recovery = in_recovery;
    }

    /// Creates `pg_xact` (initdb).
    pub fn create_dir(io: &dyn FileIo) -> QuillResult<()> {
        io.create_dir_all(Path::new(CLOG_DIR))
            .map_err(|e| QuillError::io("could not create directory \"pg_xact\"", &e))
    }

    /// `xid`'s status (`TransactionIdGetStatus`). Loads the page if it is not cached.
    pub fn get_status(&self, xid: TransactionId) -> QuillResult<TransactionStatus> {
        let page = page_of(xid);
        {
            let buffers = self.shared.buffers.lock_shared();
            if let Some(slot) = find_slot(&buffers, page) {
                self.touch(slot);
                return Ok(read_status(&buffers.pages[slot], xid));
            }
        }
        let mut buffers = self.shared.buffers.lock_exclusive();
        let slot = self.load_page(&mut buffers, page, xid, self.in_recovery)?;
        Ok(read_status(&buffers.pages[slot], xid))
    }

    /// Records `xid`'s outcome (`TransactionIdSetStatusBit`). `commit_lsn` is the end of
    /// the commit record (or [`Lsn::INVALID`]); the page is not written before WAL is
    /// flushed there. Setting the same status again is a no-op (redo).
    ///
    /// A committed transaction never becomes aborted or vice versa: outside recovery
    /// that is corruption and panics.
    pub fn set_status(
        &self,
        xid: TransactionId,
        status: TransactionStatus,
        commit_lsn: Lsn,
    ) -> QuillResult<()> {
        let page = page_of(xid);
        let mut buffers = self.shared.buffers.lock_exclusive();
        let slot = self.load_page(&mut buffers, page, xid, self.in_recovery)?;
        let current = read_status(&buffers.pages[slot], xid);
        let allowed = current == status
            || current == TransactionStatus::InProgress
            || (current == TransactionStatus::SubCommitted
                && status != TransactionStatus::InProgress);
        if !allowed {
            assert!(
                self.in_recovery,
                "clog corruption: transaction {xid} is {current:?}, cannot become {status:?}"
            );
            log::warn!("redo changes transaction {xid} from {current:?} to {status:?}");
        }
        write_status(&mut buffers.pages[slot], xid, status);
        let meta = &mut buffers.slots[slot];
        meta.dirty = 1;
        meta.max_lsn = meta.max_lsn.max(commit_lsn.0);
        Ok(())
    }

    /// Makes sure `xid`'s page exists before `xid` is handed out (`ExtendCLOG`): when
    /// `xid` is the first on its page, zeroes the page in the cache and WAL-logs
    /// `CLOG_ZEROPAGE` (not flushed: any commit on the page comes later in WAL).
    /// Idempotent: a page already zeroed as the newest page is left alone.
    ///
    /// Called with `xid_gen_lock` held (see [`super::xid::assign_xid`]).
    pub fn extend_for(&self, xid: TransactionId, wal: &dyn WalInsert) -> QuillResult<()> {
        if !is_first_on_page(xid) {
            return Ok(());
        }
        let page = page_of(xid);
        let mut buffers = self.shared.buffers.lock_exclusive();
        if buffers.latest_page_valid == 1 && buffers.latest_page == page {
            return Ok(());
        }
        // Find room first (may write a victim); then log; then zero.
        let slot = self.slot_for(&mut buffers, page)?;
        let data = page.to_le_bytes();
        let mut record = RecordBuilder::new(RmgrId::Clog, CLOG_ZEROPAGE, 0);
        record.main_data(&data);
        let (_, end) = wal.insert(&record)?;
        self.install_zero_page(&mut buffers, slot, page, Lsn(end.0));
        Ok(())
    }

    /// Redo of a clog record: `CLOG_ZEROPAGE` zeroes the page it names (idempotent:
    /// replaying it twice zeroes twice, before the same later commit records).
    pub fn redo(&self, end_lsn: Lsn, record: &DecodedRecord<'_>) -> QuillResult<()> {
        match record.info() & 0xF0 {
            CLOG_ZEROPAGE => {
                let data = record.main_data();
                let page = data
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes)
                    .ok_or_else(|| QuillError::internal("CLOG_ZEROPAGE record without a page"))?;
                let mut buffers = self.shared.buffers.lock_exclusive();
                let slot = self.slot_for(&mut buffers, page)?;
                self.install_zero_page(&mut buffers, slot, page, end_lsn);
                Ok(())
            }
            info => Err(QuillError::internal(format!(
                "clog_redo: unknown op code {info}"
            ))),
        }
    }

    /// End of recovery (`TrimCLOG`): `next_xid` is the first xid not yet handed out.
    /// Zeroes the statuses from `next_xid` to the end of its page, so a status written
    /// for an xid whose WAL was lost (an abort, which is not flushed before clog) cannot
    /// be inherited by the transaction that gets that xid next, and makes that page
    /// the newest one. If `next_xid` starts a page, the page is left to `extend_for`.
    pub fn trim_after_recovery(&self, next_xid: TransactionId) -> QuillResult<()> {
        let page = page_of(next_xid);
        let mut buffers = self.shared.buffers.lock_exclusive();
        if is_first_on_page(next_xid) {
            buffers.latest_page = page.wrapping_sub(1);
            buffers.latest_page_valid = 1;
            return Ok(());
        }
        let slot = self.load_page(&mut buffers, page, next_xid, true)?;
        let (byte, shift) = status_position(next_xid);
        let bytes = &mut buffers.pages[slot];
        bytes[byte] &= !(0xFFu8 << shift);
        bytes[byte + 1..].fill(0);
        buffers.slots[slot].dirty = 1;
        buffers.latest_page = page;
        buffers.latest_page_valid = 1;
        Ok(())
    }

    /// Sets every xid in `[from, to)` (modulo 2^32, special xids skipped) that clog
    /// says is in progress to aborted; returns how many. Missing pages read as zeros.
    /// For the end of recovery: see [`super::xact::abort_in_progress_after_recovery`].
    pub fn abort_in_progress(&self, from: TransactionId, to: TransactionId) -> QuillResult<u64> {
        let mut aborted = 0u64;
        let mut xid = from;
        while xid != to {
            let page = page_of(xid);
            let mut buffers = self.shared.buffers.lock_exclusive();
            let slot = self.load_page(&mut buffers, page, xid, true)?;
            let mut changed = false;
            while xid != to && page_of(xid) == page {
                if xid >= FIRST_NORMAL_TRANSACTION_ID
                    && read_status(&buffers.pages[slot], xid) == TransactionStatus::InProgress
                {
                    write_status(&mut buffers.pages[slot], xid, TransactionStatus::Aborted);
                    aborted += 1;
                    changed = true;
                }
                xid = xid.wrapping_add(1);
            }
            if changed {
                buffers.slots[slot].dirty = 1;
            }
        }
        Ok(aborted)
    }

    /// The checkpoint's part (`CheckPointCLOG`): writes every dirty page (each after
    /// flushing WAL to its LSN), fsyncs every segment written since the last call,
    /// then `pg_xact` if a segment was created. Returns the pages written. An error
    /// means nothing is known to be durable; the checkpoint must fail (and a failed
    /// fsync PANICs, `FileIo` contract rule 3).
    pub fn flush_all(&self) -> QuillResult<usize> {
        let mut buffers = self.shared.buffers.lock_exclusive();
        let mut written = 0;
        for slot in 0..NUM_CLOG_SLOTS {
            if buffers.slots[slot].valid == 1 && buffers.slots[slot].dirty == 1 {
                self.write_slot(&mut buffers, slot)?;
                written += 1;
            }
        }
        for word in 0..buffers.pending_fsync.len() {
            while buffers.pending_fsync[word] != 0 {
                let bit = buffers.pending_fsync[word].trailing_zeros() as usize;
                let segment = (word * 64 + bit) as u32;
                let path = segment_path(segment * SLRU_PAGES_PER_SEGMENT);
                let file = self
                    .io
                    .open(&path, OpenMode::ReadWrite)
                    .map_err(|e| file_error("open", &path, &e))?;
                file.sync_data()
                    .map_err(|e| file_error("fsync", &path, &e))?;
                buffers.pending_fsync[word] &= !(1u64 << bit);
            }
        }
        if buffers.dir_needs_sync == 1 {
            self.io
                .sync_dir(Path::new(CLOG_DIR))
                .map_err(|e| file_error("fsync", Path::new(CLOG_DIR), &e))?;
            buffers.dir_needs_sync = 0;
        }
        Ok(written)
    }

    /// Pages written to segment files since the segment was initialised.
    pub fn pages_written(&self) -> u64 {
        self.shared.buffers.lock_shared().pages_written
    }

    fn touch(&self, slot: usize) {
        let now = self.shared.lru_clock.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared.recency[slot].store(now, Ordering::Relaxed);
    }

    /// The slot holding `page`, reading it from its file if needed.
    fn load_page(
        &self,
        buffers: &mut ClogBuffers,
        page: u32,
        xid: TransactionId,
        missing_ok: bool,
    ) -> QuillResult<usize> {
        if let Some(slot) = find_slot(buffers, page) {
            self.touch(slot);
            return Ok(slot);
        }
        let slot = self.victim(buffers)?;
        // The slot is invalid until the read succeeds, so an error leaves no stale page.
        buffers.slots[slot].valid = 0;
        self.read_page(page, xid, missing_ok, &mut buffers.pages[slot])?;
        buffers.slots[slot] = SlotMeta {
            page,
            valid: 1,
            dirty: 0,
            _pad: 0,
            max_lsn: 0,
        };
        self.touch(slot);
        Ok(slot)
    }

    /// A slot for a page about to be zeroed: the page's own if cached, else a victim.
    fn slot_for(&self, buffers: &mut ClogBuffers, page: u32) -> QuillResult<usize> {
        match find_slot(buffers, page) {
            Some(slot) => Ok(slot),
            None => self.victim(buffers),
        }
    }

    fn install_zero_page(&self, buffers: &mut ClogBuffers, slot: usize, page: u32, lsn: Lsn) {
        buffers.pages[slot].fill(0);
        let max_lsn = if buffers.slots[slot].valid == 1 && buffers.slots[slot].page == page {
            buffers.slots[slot].max_lsn.max(lsn.0)
        } else {
            lsn.0
        };
        buffers.slots[slot] = SlotMeta {
            page,
            valid: 1,
            dirty: 1,
            _pad: 0,
            max_lsn,
        };
        buffers.latest_page = page;
        buffers.latest_page_valid = 1;
        self.touch(slot);
    }

    /// Frees a slot: an invalid one, else the least recently used (sparing the newest
    /// page), writing it first if dirty.
    fn victim(&self, buffers: &mut ClogBuffers) -> QuillResult<usize> {
        if let Some(slot) = buffers.slots.iter().position(|m| m.valid == 0) {
            return Ok(slot);
        }
        let spare_latest = |slot: usize| {
            buffers.latest_page_valid == 1 && buffers.slots[slot].page == buffers.latest_page
        };
        let slot = (0..NUM_CLOG_SLOTS)
            .filter(|&slot| !spare_latest(slot))
            .min_by_key(|&slot| self.shared.recency[slot].load(Ordering::Relaxed))
            .expect("more than one clog slot");
        if buffers.slots[slot].dirty == 1 {
            self.write_slot(buffers, slot)?;
        }
        buffers.slots[slot].valid = 0;
        Ok(slot)
    }

    /// Writes one dirty page to its segment file, WAL first (log before data).
    fn write_slot(&self, buffers: &mut ClogBuffers, slot: usize) -> QuillResult<()> {
        let meta = buffers.slots[slot];
        debug_assert!(meta.valid == 1 && meta.dirty == 1);
        let lsn = Lsn(meta.max_lsn);
        if lsn.is_valid() {
            self.wal.flush(lsn)?;
            assert!(
                self.wal.flushed_lsn() >= lsn,
                "clog page {} would be written before WAL is flushed to {lsn}",
                meta.page
            );
        }
        let path = segment_path(meta.page);
        if !self.io.exists(&path) {
            buffers.dir_needs_sync = 1;
        }
        let file = self
            .io
            .open(&path, OpenMode::CreateIfMissing)
            .map_err(|e| file_error("open", &path, &e))?;
        file.write_all_at(&buffers.pages[slot], page_offset_in_segment(meta.page))
            .map_err(|e| file_error("write to", &path, &e))?;
        let segment = (meta.page / SLRU_PAGES_PER_SEGMENT) as usize;
        buffers.pending_fsync[segment / 64] |= 1u64 << (segment % 64);
        buffers.slots[slot].dirty = 0;
        buffers.slots[slot].max_lsn = 0;
        buffers.pages_written += 1;
        Ok(())
    }

    fn read_page(
        &self,
        page: u32,
        xid: TransactionId,
        missing_ok: bool,
        out: &mut [u8; CLOG_PAGE_BYTES],
    ) -> QuillResult<()> {
        let path = segment_path(page);
        let missing = |detail: String| {
            QuillError::new(
                sqlstate::DATA_CORRUPTED,
                format!("could not access status of transaction {xid}"),
            )
            .with_detail(detail)
        };
        if !self.io.exists(&path) {
            if missing_ok {
                out.fill(0);
                return Ok(());
            }
            return Err(missing(format!(
                "Could not open file \"{}\": No such file or directory.",
                path.display()
            )));
        }
        let file = self
            .io
            .open(&path, OpenMode::ReadOnly)
            .map_err(|e| file_error("open", &path, &e))?;
        let offset = page_offset_in_segment(page);
        let n = file
            .read_full_at(out, offset)
            .map_err(|e| file_error("read", &path, &e))?;
        if n < CLOG_PAGE_BYTES {
            if !missing_ok {
                return Err(missing(format!(
                    "Could not read from file \"{}\" at offset {offset}: read too few bytes.",
                    path.display()
                )));
            }
            out[n..].fill(0);
        }
        Ok(())
    }
}

fn find_slot(buffers: &ClogBuffers, page: u32) -> Option<usize> {
    buffers
        .slots
        .iter()
        .position(|m| m.valid == 1 && m.page == page)
}

fn file_error(what: &str, path: &Path, e: &std::io::Error) -> QuillError {
    QuillError::io(&format!("could not {what} file \"{}\"", path.display()), e)
}
