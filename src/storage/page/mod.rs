//! The slotted page: PostgreSQL's 8 KiB page layout (`bufpage.h`, `itemid.h`), byte for
//! byte, so a page written by PostgreSQL 15 reads here and the other way round.
//!
//! ```text
//!  0                          24        pd_lower                pd_upper       pd_special   8192
//!  +--------------------------+---------+-----------------------+--------------+------------+
//!  | PageHeaderData (24 B)    | ItemId  |  ... free space ...   | tuple N ...  |  special   |
//!  |                          | 1, 2, …→|                       |  ← tuple 1   |  (index AM)|
//!  +--------------------------+---------+-----------------------+--------------+------------+
//!
//!  PageHeaderData (all little-endian):
//!   0  pd_lsn.xlogid   u32   high half of the LSN of the last WAL record that changed the page
//!   4  pd_lsn.xrecoff  u32   low half
//!   8  pd_checksum     u16   data checksum (storage::checksum), 0 when never computed
//!  10  pd_flags        u16   PD_HAS_FREE_LINES | PD_PAGE_FULL | PD_ALL_VISIBLE
//!  12  pd_lower        u16   end of the line pointer array (start of free space)
//!  14  pd_upper        u16   start of the tuple area (end of free space)
//!  16  pd_special      u16   start of the special space (8192 for heap pages)
//!  18  pd_pagesize_version u16  8192 | PG_PAGE_LAYOUT_VERSION (4)
//!  20  pd_prune_xid    u32   oldest xmax that may make pruning worthwhile, 0 if none
//!
//!  ItemIdData (one u32, little-endian bit fields, low bits first):
//!   bits  0..15  lp_off    byte offset of the item from the start of the page
//!   bits 15..17  lp_flags  LP_UNUSED 0 | LP_NORMAL 1 | LP_REDIRECT 2 | LP_DEAD 3
//!   bits 17..32  lp_len    byte length of the item (0 = no storage)
//! ```
//!
//! Invariants of an initialized page (checked by [`Page::verify_header`], PostgreSQL's
//! `PageIsVerified`): `24 <= pd_lower <= pd_upper <= pd_special <= 8192`, `pd_special`
//! MAXALIGN'd (8), no unknown flag bits. A page that is entirely zero is also valid: it
//! is a block that was extended but never written with content (a backend crashed
//! between extending the file and logging anything), and reads as a new, empty page.
//! Items are MAXALIGN'd in the tuple area; their line pointers record the unpadded
//! length. Offsets ([`OffsetNumber`]) are 1-based and stable: an item keeps its offset
//! for life (index entries and ctid chains point at it), which is why deleted items
//! leave an `LP_DEAD`/`LP_UNUSED` pointer behind instead of shifting the array.
//!
//! Everything here is pure byte manipulation over a `[u8; 8192]`: no I/O, no locks. The
//! caller holds the buffer's content lock (shared to read, exclusive to change), and a
//! WAL-logged change follows the recipe in the buffer and WAL READMEs. Corrupt bytes
//! never panic: reads are bounds-checked and return `None`/[`PageError`].

use std::borrow::{Borrow, BorrowMut};
use std::fmt;

use crate::error::{sqlstate, QuillError};
use crate::storage::checksum;
use crate::wal::lsn::Lsn;

/// Page size in bytes (PostgreSQL's BLCKSZ).
pub const BLCKSZ: usize = 8192;
/// The bytes of one page.
pub type PageBytes = [u8; BLCKSZ];
/// Alignment of items in the tuple area (PostgreSQL's MAXIMUM_ALIGNOF on 64-bit).
pub const MAXIMUM_ALIGNOF: usize = 8;
/// Size of the page header (`SizeOfPageHeaderData`).
pub const SIZE_OF_PAGE_HEADER: usize = 24;
/// Size of one line pointer (`sizeof(ItemIdData)`).
pub const ITEM_ID_SIZE: usize = 4;
/// `PG_PAGE_LAYOUT_VERSION`: the layout PostgreSQL 8.3 and later write.
pub const PG_PAGE_LAYOUT_VERSION: u16 = 4;
/// The `pd_pagesize_version` every Quill page carries.
pub const PAGE_SIZE_VERSION: u16 = BLCKSZ as u16 | PG_PAGE_LAYOUT_VERSION;

/// Some line pointer before pd_lower is LP_UNUSED (a hint for `add_item`).
pub const PD_HAS_FREE_LINES: u16 = 0x0001;
/// An UPDATE found no room on the page (a hint for pruning).
pub const PD_PAGE_FULL: u16 = 0x0002;
/// Every tuple on the page is visible to everyone.
pub const PD_ALL_VISIBLE: u16 = 0x0004;
/// All valid `pd_flags` bits.
pub const PD_VALID_FLAG_BITS: u16 = 0x0007;

/// Upper bound on line pointers in a heap page (`MaxHeapTuplesPerPage`): each tuple
/// needs MAXALIGN(23-byte header) = 24 bytes plus a 4-byte line pointer.
pub const MAX_HEAP_TUPLES_PER_PAGE: usize =
    (BLCKSZ - SIZE_OF_PAGE_HEADER) / (maxalign(23) + ITEM_ID_SIZE);

/// Most line pointers the bytes after the header can hold.
const MAX_LINE_POINTERS: usize = (BLCKSZ - SIZE_OF_PAGE_HEADER) / ITEM_ID_SIZE;

// Header field offsets, checked against the diagram above.
const PD_LSN_XLOGID: usize = 0;
const PD_LSN_XRECOFF: usize = 4;
const PD_CHECKSUM: usize = 8;
const PD_FLAGS: usize = 10;
const PD_LOWER: usize = 12;
const PD_UPPER: usize = 14;
const PD_SPECIAL: usize = 16;
const PD_PAGESIZE_VERSION: usize = 18;
const PD_PRUNE_XID: usize = 20;

const _: () = assert!(PD_PRUNE_XID + 4 == SIZE_OF_PAGE_HEADER);
const _: () = assert!(std::mem::size_of::<PageBytes>() == BLCKSZ);
const _: () = assert!(std::mem::size_of::<ItemId>() == ITEM_ID_SIZE);
const _: () = assert!(MAX_HEAP_TUPLES_PER_PAGE == 291);
// lp_off and lp_len are 15 bits: every offset and length inside a page fits.
const _: () = assert!(BLCKSZ <= 1 << 15);

/// Rounds `len` up to a multiple of [`MAXIMUM_ALIGNOF`] (PostgreSQL's MAXALIGN).
pub const fn maxalign(len: usize) -> usize {
    (len + MAXIMUM_ALIGNOF - 1) & !(MAXIMUM_ALIGNOF - 1)
}

/// A 1-based index into a page's line pointer array (PostgreSQL's OffsetNumber).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OffsetNumber(pub u16);

impl OffsetNumber {
    pub const INVALID: OffsetNumber = OffsetNumber(0);
    pub const FIRST: OffsetNumber = OffsetNumber(1);
    /// The most line pointers that could fit in a page (`MaxOffsetNumber`).
    pub const MAX: OffsetNumber = OffsetNumber((BLCKSZ / ITEM_ID_SIZE) as u16);

    pub fn is_valid(self) -> bool {
        self.0 != 0 && self <= Self::MAX
    }

    pub fn next(self) -> OffsetNumber {
        OffsetNumber(self.0 + 1)
    }
}

impl fmt::Display for OffsetNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The state of a line pointer (`lp_flags`).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpFlags {
    /// Free for reuse; always has length 0.
    Unused = 0,
    /// Points at a live (or not yet pruned) item.
    Normal = 1,
    /// HOT redirect: `lp_off` is the offset of another line pointer, length 0.
    Redirect = 2,
    /// Dead; may or may not still have storage.
    Dead = 3,
}

/// One line pointer (ItemIdData), kept as its on-disk u32.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ItemId(u32);

impl ItemId {
    pub const UNUSED: ItemId = ItemId(0);

    pub fn new(offset: u16, flags: LpFlags, len: u16) -> ItemId {
        debug_assert!(offset < 1 << 15 && len < 1 << 15);
        ItemId(
            u32::from(offset & 0x7FFF)
                | (u32::from(flags as u8) << 15)
                | (u32::from(len & 0x7FFF) << 17),
        )
    }

    pub fn from_raw(raw: u32) -> ItemId {
        ItemId(raw)
    }

    pub fn raw(self) -> u32 {
        self.0
    }

    /// Byte offset of the item from the page start (or the redirect target).
    pub fn offset(self) -> u16 {
        (self.0 & 0x7FFF) as u16
    }

    pub fn flags(self) -> LpFlags {
        match (self.0 >> 15) & 3 {
            0 => LpFlags::Unused,
            1 => LpFlags::Normal,
            2 => LpFlags::Redirect,
            _ => LpFlags::Dead,
        }
    }

    pub fn len(self) -> u16 {
        (self.0 >> 17) as u16
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn is_used(self) -> bool {
        self.flags() != LpFlags::Unused
    }

    pub fn is_normal(self) -> bool {
        self.flags() == LpFlags::Normal
    }

    pub fn is_redirect(self) -> bool {
        self.flags() == LpFlags::Redirect
    }

    pub fn is_dead(self) -> bool {
        self.flags() == LpFlags::Dead
    }

    /// Whether the pointer owns bytes in the tuple area (`ItemIdHasStorage`).
    pub fn has_storage(self) -> bool {
        !self.is_empty()
    }

    /// The line pointer a HOT redirect points at.
    pub fn redirect_target(self) -> Option<OffsetNumber> {
        self.is_redirect().then(|| OffsetNumber(self.offset()))
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ItemId({:?}, off {}, len {})",
            self.flags(),
            self.offset(),
            self.len()
        )
    }
}

/// A page that is not what it should be. Each is data corruption (SQLSTATE XX001)
/// except `OffsetOutOfRange`, which is a caller error against a sound page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    /// Header pointers out of order or out of the page (PostgreSQL's wording).
    CorruptedPointers {
        lower: u16,
        upper: u16,
        special: u16,
    },
    /// Unknown bits in pd_flags.
    InvalidFlags(u16),
    /// pd_pagesize_version is not 8192 | 4.
    InvalidPageSizeVersion(u16),
    /// The stored checksum does not match the page's contents.
    ChecksumMismatch { calculated: u16, stored: u16 },
    /// A line pointer whose item lies outside the tuple area.
    CorruptedLinePointer {
        offset: OffsetNumber,
        item_offset: u16,
        item_len: u16,
    },
    /// Live items would not fit between pd_lower and pd_special.
    CorruptedItemLengths { total: usize, available: usize },
    /// The offset names no line pointer on this page.
    OffsetOutOfRange {
        offset: OffsetNumber,
        max: OffsetNumber,
    },
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::CorruptedPointers {
                lower,
                upper,
                special,
            } => write!(
                f,
                "corrupted page pointers: lower = {lower}, upper = {upper}, special = {special}"
            ),
            PageError::InvalidFlags(flags) => write!(f, "invalid page flags: 0x{flags:04X}"),
            PageError::InvalidPageSizeVersion(v) => {
                write!(f, "invalid page size and version: 0x{v:04X}")
            }
            PageError::ChecksumMismatch { calculated, stored } => write!(
                f,
                "page verification failed, calculated checksum {calculated} but expected {stored}"
            ),
            PageError::CorruptedLinePointer {
                offset,
                item_offset,
                item_len,
            } => write!(
                f,
                "corrupted line pointer {offset}: offset = {item_offset}, size = {item_len}"
            ),
            PageError::CorruptedItemLengths { total, available } => write!(
                f,
                "corrupted item lengths: total {total}, available space {available}"
            ),
            PageError::OffsetOutOfRange { offset, max } => {
                write!(f, "item offset {offset} out of range (max {max})")
            }
        }
    }
}

impl std::error::Error for PageError {}

impl From<PageError> for QuillError {
    fn from(err: PageError) -> QuillError {
        match err {
            PageError::OffsetOutOfRange { .. } => QuillError::internal(err.to_string()),
            _ => QuillError::new(sqlstate::DATA_CORRUPTED, err.to_string()),
        }
    }
}

/// A view of one page. `Page<&PageBytes>` ([`PageRef`]) reads, `Page<&mut PageBytes>`
/// ([`PageMut`]) also writes; an owned `Page<Box<PageBytes>>` works too.
pub struct Page<B> {
    bytes: B,
}

/// Read-only page view.
pub type PageRef<'a> = Page<&'a PageBytes>;
/// Read-write page view.
pub type PageMut<'a> = Page<&'a mut PageBytes>;

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn write_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn line_pointer_position(offset: OffsetNumber) -> usize {
    SIZE_OF_PAGE_HEADER + (usize::from(offset.0) - 1) * ITEM_ID_SIZE
}

impl<B: Borrow<PageBytes>> Page<B> {
    pub fn new(bytes: B) -> Self {
        Page { bytes }
    }

    pub fn bytes(&self) -> &PageBytes {
        self.bytes.borrow()
    }

    pub fn into_inner(self) -> B {
        self.bytes
    }

    /// LSN of the last WAL record that changed this page (`PageGetLSN`).
    pub fn lsn(&self) -> Lsn {
        let hi = read_u32(self.bytes(), PD_LSN_XLOGID);
        let lo = read_u32(self.bytes(), PD_LSN_XRECOFF);
        Lsn((u64::from(hi) << 32) | u64::from(lo))
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.bytes(), PD_CHECKSUM)
    }

    pub fn flags(&self) -> u16 {
        read_u16(self.bytes(), PD_FLAGS)
    }

    pub fn lower(&self) -> u16 {
        read_u16(self.bytes(), PD_LOWER)
    }

    pub fn upper(&self) -> u16 {
        read_u16(self.bytes(), PD_UPPER)
    }

    pub fn special(&self) -> u16 {
        read_u16(self.bytes(), PD_SPECIAL)
    }

    pub fn page_size_version(&self) -> u16 {
        read_u16(self.bytes(), PD_PAGESIZE_VERSION)
    }

    pub fn prune_xid(&self) -> u32 {
        read_u32(self.bytes(), PD_PRUNE_XID)
    }

    pub fn has_free_line_pointers(&self) -> bool {
        self.flags() & PD_HAS_FREE_LINES != 0
    }

    pub fn is_full(&self) -> bool {
        self.flags() & PD_PAGE_FULL != 0
    }

    pub fn is_all_visible(&self) -> bool {
        self.flags() & PD_ALL_VISIBLE != 0
    }

    /// PostgreSQL's `PageIsNew`: never initialized (`pd_upper == 0`). A verified new
    /// page is all zeros ([`Page::is_all_zeros`]); it has no items and no free space.
    pub fn is_new(&self) -> bool {
        self.upper() == 0
    }

    /// Every byte is zero: an extended-but-never-written block.
    pub fn is_all_zeros(&self) -> bool {
        self.bytes().iter().all(|&b| b == 0)
    }

    /// The special space (`pd_special..8192`), empty for heap pages; `None` if
    /// pd_special is out of the page.
    pub fn special_space(&self) -> Option<&[u8]> {
        self.bytes().get(usize::from(self.special())..)
    }

    /// Number of line pointers (`PageGetMaxOffsetNumber`), 0 on a new page.
    pub fn max_offset(&self) -> OffsetNumber {
        let lower = usize::from(self.lower());
        if lower <= SIZE_OF_PAGE_HEADER {
            return OffsetNumber(0);
        }
        // Clamped so a corrupt pd_lower cannot index past the page.
        let count = ((lower - SIZE_OF_PAGE_HEADER) / ITEM_ID_SIZE).min(MAX_LINE_POINTERS);
        OffsetNumber(count as u16)
    }

    /// The line pointer at `offset`, or `None` if there is none.
    pub fn item_id(&self, offset: OffsetNumber) -> Option<ItemId> {
        if offset.0 == 0 || offset > self.max_offset() {
            return None;
        }
        Some(ItemId(read_u32(
            self.bytes(),
            line_pointer_position(offset),
        )))
    }

    /// The item's bytes (`PageGetItem`), or `None` if the offset has no line pointer,
    /// the pointer has no storage, or its bytes lie outside the tuple area (corrupt:
    /// use [`Page::checked_item`] to get the reason as an error).
    pub fn item(&self, offset: OffsetNumber) -> Option<&[u8]> {
        self.checked_item(offset).ok().flatten()
    }

    /// As [`Page::item`], but a line pointer whose bytes lie outside
    /// `pd_upper..pd_special` is an error (corruption), not `None`.
    pub fn checked_item(&self, offset: OffsetNumber) -> Result<Option<&[u8]>, PageError> {
        let Some(item_id) = self.item_id(offset) else {
            return Ok(None);
        };
        if !item_id.has_storage() {
            return Ok(None);
        }
        let range = self.item_range(offset, item_id)?;
        Ok(Some(&self.bytes()[range]))
    }

    fn item_range(
        &self,
        offset: OffsetNumber,
        item_id: ItemId,
    ) -> Result<std::ops::Range<usize>, PageError> {
        let start = usize::from(item_id.offset());
        let end = start + usize::from(item_id.len());
        let special = usize::from(self.special()).min(BLCKSZ);
        if start < usize::from(self.upper()) || end > special {
            return Err(PageError::CorruptedLinePointer {
                offset,
                item_offset: item_id.offset(),
                item_len: item_id.len(),
            });
        }
        Ok(start..end)
    }

    /// Free bytes for a new item, net of the line pointer it needs
    /// (`PageGetFreeSpace`). 0 on a new or corrupt page.
    pub fn free_space(&self) -> usize {
        let space = self.exact_free_space();
        space.saturating_sub(ITEM_ID_SIZE)
    }

    /// Bytes between pd_lower and pd_upper (`PageGetExactFreeSpace`).
    pub fn exact_free_space(&self) -> usize {
        usize::from(self.upper()).saturating_sub(usize::from(self.lower()))
    }

    /// Free space for a new heap tuple (`PageGetHeapFreeSpace`): as
    /// [`Page::free_space`], but 0 when the page already has
    /// [`MAX_HEAP_TUPLES_PER_PAGE`] line pointers and none of them is unused.
    pub fn heap_free_space(&self) -> usize {
        let space = self.free_space();
        if space == 0 || usize::from(self.max_offset().0) < MAX_HEAP_TUPLES_PER_PAGE {
            return space;
        }
        if self.has_free_line_pointers() && self.first_unused_line_pointer().is_some() {
            space
        } else {
            0
        }
    }

    fn first_unused_line_pointer(&self) -> Option<OffsetNumber> {
        (1..=self.max_offset().0).map(OffsetNumber).find(|&off| {
            self.item_id(off)
                .is_some_and(|id| !id.is_used() && !id.has_storage())
        })
    }

    /// Cheap sanity check after a read (PostgreSQL's `PageIsVerified`, without the
    /// checksum — see [`Page::verify`]). An all-zero page is valid.
    pub fn verify_header(&self) -> Result<(), PageError> {
        if !self.is_new() {
            let (lower, upper, special) = (self.lower(), self.upper(), self.special());
            let pointers_sane = usize::from(lower) >= SIZE_OF_PAGE_HEADER
                && lower <= upper
                && upper <= special
                && usize::from(special) <= BLCKSZ
                && usize::from(special) == maxalign(special.into());
            if !pointers_sane {
                return Err(PageError::CorruptedPointers {
                    lower,
                    upper,
                    special,
                });
            }
            if self.flags() & !PD_VALID_FLAG_BITS != 0 {
                return Err(PageError::InvalidFlags(self.flags()));
            }
            if self.page_size_version() != PAGE_SIZE_VERSION {
                return Err(PageError::InvalidPageSizeVersion(self.page_size_version()));
            }
            return Ok(());
        }
        if self.is_all_zeros() {
            return Ok(());
        }
        Err(PageError::CorruptedPointers {
            lower: self.lower(),
            upper: self.upper(),
            special: self.special(),
        })
    }

    /// Full check of a page just read from block `blkno`: header sanity and, when
    /// the cluster has data checksums, the checksum. An all-zero page passes.
    pub fn verify(&self, blkno: u32, data_checksums: bool) -> Result<(), PageError> {
        if data_checksums && !self.is_all_zeros() {
            let calculated = checksum::pg_checksum_page(self.bytes(), blkno);
            if calculated != self.checksum() {
                return Err(PageError::ChecksumMismatch {
                    calculated,
                    stored: self.checksum(),
                });
            }
        }
        self.verify_header()
    }

    /// Checks every line pointer: items with storage lie inside
    /// `pd_upper..pd_special`, normal items have storage, redirects point at an
    /// existing line pointer. For scans of pages whose header already verified.
    pub fn verify_items(&self) -> Result<(), PageError> {
        let max = self.max_offset();
        for off in (1..=max.0).map(OffsetNumber) {
            let Some(item_id) = self.item_id(off) else {
                continue;
            };
            let corrupt = PageError::CorruptedLinePointer {
                offset: off,
                item_offset: item_id.offset(),
                item_len: item_id.len(),
            };
            match item_id.flags() {
                LpFlags::Normal if !item_id.has_storage() => return Err(corrupt),
                LpFlags::Redirect => {
                    let target = item_id.offset();
                    if item_id.has_storage() || target == 0 || target > max.0 {
                        return Err(corrupt);
                    }
                }
                LpFlags::Unused if item_id.has_storage() => return Err(corrupt),
                _ if item_id.has_storage() => {
                    self.item_range(off, item_id)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl<B: BorrowMut<PageBytes>> Page<B> {
    pub fn bytes_mut(&mut self) -> &mut PageBytes {
        self.bytes.borrow_mut()
    }

    /// Formats an empty page with `special_size` bytes (MAXALIGN'd) of special space
    /// at the end (`PageInit`). The checksum is left 0: it is set at write time.
    pub fn init(&mut self, special_size: usize) {
        let special_size = maxalign(special_size);
        assert!(
            special_size + SIZE_OF_PAGE_HEADER < BLCKSZ,
            "special space too large"
        );
        let bytes = self.bytes_mut();
        bytes.fill(0);
        let start = (BLCKSZ - special_size) as u16;
        write_u16(bytes, PD_LOWER, SIZE_OF_PAGE_HEADER as u16);
        write_u16(bytes, PD_UPPER, start);
        write_u16(bytes, PD_SPECIAL, start);
        write_u16(bytes, PD_PAGESIZE_VERSION, PAGE_SIZE_VERSION);
    }

    pub fn set_lsn(&mut self, lsn: Lsn) {
        write_u32(self.bytes_mut(), PD_LSN_XLOGID, (lsn.0 >> 32) as u32);
        write_u32(self.bytes_mut(), PD_LSN_XRECOFF, lsn.0 as u32);
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.bytes_mut(), PD_CHECKSUM, checksum);
    }

    pub fn set_flags(&mut self, flags: u16) {
        write_u16(self.bytes_mut(), PD_FLAGS, flags);
    }

    pub fn set_prune_xid(&mut self, xid: u32) {
        write_u32(self.bytes_mut(), PD_PRUNE_XID, xid);
    }

    fn set_lower(&mut self, lower: u16) {
        write_u16(self.bytes_mut(), PD_LOWER, lower);
    }

    fn set_upper(&mut self, upper: u16) {
        write_u16(self.bytes_mut(), PD_UPPER, upper);
    }

    fn set_flag(&mut self, flag: u16, on: bool) {
        let flags = self.flags();
        self.set_flags(if on { flags | flag } else { flags & !flag });
    }

    pub fn set_has_free_line_pointers(&mut self, on: bool) {
        self.set_flag(PD_HAS_FREE_LINES, on);
    }

    pub fn set_full(&mut self, on: bool) {
        self.set_flag(PD_PAGE_FULL, on);
    }

    pub fn set_all_visible(&mut self, on: bool) {
        self.set_flag(PD_ALL_VISIBLE, on);
    }

    pub fn special_space_mut(&mut self) -> Option<&mut [u8]> {
        let special = usize::from(self.special());
        self.bytes_mut().get_mut(special..)
    }

    /// Mutable bytes of an item with storage (for in-place header changes: hint
    /// bits, xmax, ctid). `None` as for [`Page::item`].
    pub fn item_mut(&mut self, offset: OffsetNumber) -> Option<&mut [u8]> {
        let item_id = self.item_id(offset)?;
        if !item_id.has_storage() {
            return None;
        }
        let range = self.item_range(offset, item_id).ok()?;
        Some(&mut self.bytes_mut()[range])
    }

    fn write_item_id(&mut self, offset: OffsetNumber, item_id: ItemId) {
        write_u32(self.bytes_mut(), line_pointer_position(offset), item_id.0);
    }

    fn existing_item_id(&self, offset: OffsetNumber) -> Result<ItemId, PageError> {
        self.item_id(offset).ok_or(PageError::OffsetOutOfRange {
            offset,
            max: self.max_offset(),
        })
    }

    /// Adds `item` to the page (`PageAddItem` with overwrite semantics, the way the
    /// heap uses it). With `offset == None` the first LP_UNUSED line pointer is reused
    /// (when the PD_HAS_FREE_LINES hint says there may be one), else a new one is
    /// appended. With `Some(off)` the item goes exactly there: `off` must be an unused
    /// pointer or one past the last (WAL redo replays inserts this way).
    ///
    /// Returns `None` when the item does not fit, the requested slot is in use or too
    /// far, or the header pointers are corrupt; the page is then unchanged (except
    /// that a stale PD_HAS_FREE_LINES hint may have been cleared, as PostgreSQL does).
    pub fn add_item(&mut self, item: &[u8], offset: Option<OffsetNumber>) -> Option<OffsetNumber> {
        self.add_item_impl(item, offset, false)
    }

    /// As [`Page::add_item`], also refusing to go beyond
    /// [`MAX_HEAP_TUPLES_PER_PAGE`] line pointers (`PAI_IS_HEAP`).
    pub fn add_heap_item(
        &mut self,
        item: &[u8],
        offset: Option<OffsetNumber>,
    ) -> Option<OffsetNumber> {
        self.add_item_impl(item, offset, true)
    }

    fn add_item_impl(
        &mut self,
        item: &[u8],
        offset: Option<OffsetNumber>,
        is_heap: bool,
    ) -> Option<OffsetNumber> {
        let (lower, upper, special) = (self.lower(), self.upper(), self.special());
        if usize::from(lower) < SIZE_OF_PAGE_HEADER
            || lower > upper
            || upper > special
            || usize::from(special) > BLCKSZ
        {
            return None;
        }
        if item.is_empty() || item.len() >= BLCKSZ {
            return None;
        }
        let limit = self.max_offset().next();
        let offset = match offset {
            Some(off) => {
                if off.0 == 0 {
                    return None;
                }
                if off < limit {
                    let existing = self.item_id(off)?;
                    if existing.is_used() || existing.has_storage() {
                        return None; // "will not overwrite a used ItemId"
                    }
                }
                off
            }
            None if self.has_free_line_pointers() => match self.first_unused_line_pointer() {
                Some(off) => off,
                None => {
                    self.set_has_free_line_pointers(false); // the hint was wrong
                    limit
                }
            },
            None => limit,
        };
        if offset > limit || (is_heap && usize::from(offset.0) > MAX_HEAP_TUPLES_PER_PAGE) {
            return None;
        }
        let new_lower = usize::from(lower) + if offset == limit { ITEM_ID_SIZE } else { 0 };
        let aligned_len = maxalign(item.len());
        let new_upper = usize::from(upper).checked_sub(aligned_len)?;
        if new_lower > new_upper {
            return None;
        }
        self.write_item_id(
            offset,
            ItemId::new(new_upper as u16, LpFlags::Normal, item.len() as u16),
        );
        let bytes = self.bytes_mut();
        bytes[new_upper..new_upper + item.len()].copy_from_slice(item);
        // MAXALIGN padding is zeroed so the page bytes (and checksum) are deterministic.
        bytes[new_upper + item.len()..new_upper + aligned_len].fill(0);
        self.set_lower(new_lower as u16);
        self.set_upper(new_upper as u16);
        Some(offset)
    }

    /// Marks the item dead and releases its storage at the next
    /// [`Page::repair_fragmentation`] (`ItemIdSetDead`: length becomes 0).
    pub fn set_item_dead(&mut self, offset: OffsetNumber) -> Result<(), PageError> {
        self.existing_item_id(offset)?;
        self.write_item_id(offset, ItemId::new(0, LpFlags::Dead, 0));
        Ok(())
    }

    /// Marks the item dead but keeps its storage (`ItemIdMarkDead`, as index
    /// "killed tuple" hints do).
    pub fn mark_item_dead(&mut self, offset: OffsetNumber) -> Result<(), PageError> {
        let id = self.existing_item_id(offset)?;
        self.write_item_id(offset, ItemId::new(id.offset(), LpFlags::Dead, id.len()));
        Ok(())
    }

    /// Frees the line pointer for reuse (`ItemIdSetUnused`). Callers then set the
    /// PD_HAS_FREE_LINES hint or run [`Page::repair_fragmentation`], which does.
    pub fn set_item_unused(&mut self, offset: OffsetNumber) -> Result<(), PageError> {
        self.existing_item_id(offset)?;
        self.write_item_id(offset, ItemId::UNUSED);
        Ok(())
    }

    /// Turns the line pointer into a HOT redirect to `target` (`ItemIdSetRedirect`).
    pub fn set_item_redirect(
        &mut self,
        offset: OffsetNumber,
        target: OffsetNumber,
    ) -> Result<(), PageError> {
        self.existing_item_id(offset)?;
        self.existing_item_id(target)?;
        self.write_item_id(offset, ItemId::new(target.0, LpFlags::Redirect, 0));
        Ok(())
    }

    /// Compacts the tuple area so all free space is one run between pd_lower and
    /// pd_upper (`PageRepairFragmentation`, used by pruning). Items keep their offsets
    /// and their relative physical order; LP_UNUSED pointers are not removed, and the
    /// PD_HAS_FREE_LINES hint is set to whether any exist.
    ///
    /// Everything is checked before anything moves: on corrupt pointers or lengths
    /// the page is left unchanged and the error returned.
    pub fn repair_fragmentation(&mut self) -> Result<(), PageError> {
        let (lower, upper, special) = (self.lower(), self.upper(), self.special());
        if usize::from(lower) < SIZE_OF_PAGE_HEADER
            || lower > upper
            || upper > special
            || usize::from(special) > BLCKSZ
            || usize::from(special) != maxalign(special.into())
        {
            return Err(PageError::CorruptedPointers {
                lower,
                upper,
                special,
            });
        }
        // (offset, flags, item start, item length) of every item with storage.
        let mut items: Vec<(OffsetNumber, LpFlags, usize, usize)> = Vec::new();
        let mut unused = Vec::new();
        let mut total = 0usize;
        for off in (1..=self.max_offset().0).map(OffsetNumber) {
            let Some(id) = self.item_id(off) else {
                continue;
            };
            if !id.is_used() {
                unused.push(off);
            } else if id.has_storage() {
                let range = self.item_range(off, id)?;
                total += maxalign(range.len());
                items.push((off, id.flags(), range.start, range.len()));
            }
        }
        let available = usize::from(special - lower);
        if total > available {
            return Err(PageError::CorruptedItemLengths { total, available });
        }
        for off in unused.iter().copied() {
            // Unused pointers should already have length 0; make sure.
            self.write_item_id(off, ItemId::UNUSED);
        }
        // Highest item first, so packing toward pd_special keeps the physical order.
        items.sort_by_key(|&(_, _, start, _)| std::cmp::Reverse(start));
        let mut scratch = [0u8; BLCKSZ];
        let mut new_upper = usize::from(special);
        for &(off, flags, start, len) in &items {
            new_upper -= maxalign(len);
            scratch[new_upper..new_upper + len].copy_from_slice(&self.bytes()[start..start + len]);
            self.write_item_id(off, ItemId::new(new_upper as u16, flags, len as u16));
        }
        let special_start = usize::from(special);
        let lower_usize = usize::from(lower);
        let bytes = self.bytes_mut();
        bytes[lower_usize..new_upper].fill(0);
        bytes[new_upper..special_start].copy_from_slice(&scratch[new_upper..special_start]);
        self.set_upper(new_upper as u16);
        self.set_has_free_line_pointers(!unused.is_empty());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
