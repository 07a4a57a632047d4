//! Heap tuples: PostgreSQL's on-disk row format (`htup_details.h`, `heap_fill_tuple`,
//! `heap_deform_tuple`), byte for byte.
//!
//! ```text
//!  offset  field        type
//!   0      t_xmin       u32    inserting transaction
//!   4      t_xmax       u32    deleting/locking transaction, 0 if none
//!   8      t_cid        u32    cmin/cmax or combo CID (t_xvac for pre-9.0 VACUUM FULL)
//!  12      t_ctid       3×u16  block hi, block lo, offset: self, or the newer version
//!  18      t_infomask2  u16
//!  20      t_infomask   u16
//!  22      t_hoff       u8     offset of the data area, MAXALIGN'd (24 without nulls)
//!  23      t_bits       null bitmap, (natts + 7) / 8 bytes, only if HEAP_HASNULL
//!   …      zero padding up to t_hoff
//!  t_hoff  data         the non-null attributes
//!
//!  infomask2: bits 0..11 number of attributes; HEAP_KEYS_UPDATED, HEAP_HOT_UPDATED,
//!             HEAP_ONLY_TUPLE in the high bits.
//!  null bitmap: bit (i % 8) of byte (i / 8) is 1 when attribute i (0-based) is NOT null.
//! ```
//!
//! The data area holds the non-null attributes in order. Each starts at its type's
//! alignment (`typalign`: c=1, s=2, i=4, d=8) measured from the start of the data
//! area — which, since t_hoff and every item on a page are MAXALIGN'd, is also the
//! alignment in memory. Fixed-length types take `typlen` bytes (little-endian; floats
//! as IEEE bits). Variable-length ("varlena") values carry their length in a header:
//!
//! ```text
//!  short   1 byte:  (total_len << 1) | 1        total_len = 1 + payload  (≤ 127), no alignment
//!  4-byte  4 bytes: (total_len << 2)            total_len = 4 + payload, aligned to typalign
//!  compressed 4B:   (total_len << 2) | 2, then 4 bytes of size/method   } TOAST: carried as
//!  external 1B:     0x01, tag 18, TOAST pointer (18 bytes in all)         } raw bytes, not decoded
//! ```
//!
//! A varlena whose payload is at most 126 bytes is stored short unless its type's
//! storage is PLAIN; a reader tells a short header from alignment padding because a
//! pad byte is always zero and a short header never is.
//!
//! A tuple may have fewer attributes than the relation (it was written before
//! `ALTER TABLE ADD COLUMN`): the missing trailing attributes read as NULL, and the
//! caller substitutes `attmissingval` where the catalog has one.
//!
//! Tuples come from disk, so [`deform_tuple`] trusts nothing: every length and offset
//! is checked and a bad one is a [`TupleError`] (SQLSTATE XX001), never a panic.

use std::fmt;

use crate::error::{sqlstate, QuillError};
use crate::storage::ids::BlockNumber;
use crate::storage::page::{maxalign, OffsetNumber, BLCKSZ, ITEM_ID_SIZE, SIZE_OF_PAGE_HEADER};

/// A transaction id (PostgreSQL's TransactionId).
pub type TransactionId = u32;
/// A command id within a transaction (PostgreSQL's CommandId).
pub type CommandId = u32;

/// Size of the fixed tuple header (`SizeofHeapTupleHeader`).
pub const SIZEOF_HEAP_TUPLE_HEADER: usize = 23;
/// Largest tuple that fits on an otherwise empty heap page (`MaxHeapTupleSize`).
pub const MAX_HEAP_TUPLE_SIZE: usize = BLCKSZ - maxalign(SIZE_OF_PAGE_HEADER + ITEM_ID_SIZE);
/// Most columns a table may have (`MaxHeapAttributeNumber`).
pub const MAX_HEAP_ATTRIBUTE_NUMBER: usize = 1600;
/// Largest varlena total size (a 30-bit length).
pub const MAX_VARLENA_SIZE: usize = 0x3FFF_FFFF;

const _: () = assert!(MAX_HEAP_TUPLE_SIZE == 8160);
const _: () = assert!(MAX_HEAP_ATTRIBUTE_NUMBER <= HEAP_NATTS_MASK as usize);
// t_hoff is a u8: the header plus the largest null bitmap must fit.
const _: () =
    assert!(maxalign(SIZEOF_HEAP_TUPLE_HEADER + bitmap_len(MAX_HEAP_ATTRIBUTE_NUMBER)) <= 255);

// t_infomask bits (PostgreSQL's values).
pub const HEAP_HASNULL: u16 = 0x0001;
pub const HEAP_HASVARWIDTH: u16 = 0x0002;
pub const HEAP_HASEXTERNAL: u16 = 0x0004;
pub const HEAP_HASOID_OLD: u16 = 0x0008;
pub const HEAP_XMAX_KEYSHR_LOCK: u16 = 0x0010;
pub const HEAP_COMBOCID: u16 = 0x0020;
pub const HEAP_XMAX_EXCL_LOCK: u16 = 0x0040;
pub const HEAP_XMAX_LOCK_ONLY: u16 = 0x0080;
pub const HEAP_XMAX_SHR_LOCK: u16 = HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_KEYSHR_LOCK;
pub const HEAP_LOCK_MASK: u16 = HEAP_XMAX_SHR_LOCK | HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_KEYSHR_LOCK;
pub const HEAP_XMIN_COMMITTED: u16 = 0x0100;
pub const HEAP_XMIN_INVALID: u16 = 0x0200;
pub const HEAP_XMIN_FROZEN: u16 = HEAP_XMIN_COMMITTED | HEAP_XMIN_INVALID;
pub const HEAP_XMAX_COMMITTED: u16 = 0x0400;
pub const HEAP_XMAX_INVALID: u16 = 0x0800;
pub const HEAP_XMAX_IS_MULTI: u16 = 0x1000;
pub const HEAP_UPDATED: u16 = 0x2000;
pub const HEAP_MOVED_OFF: u16 = 0x4000;
pub const HEAP_MOVED_IN: u16 = 0x8000;
pub const HEAP_MOVED: u16 = HEAP_MOVED_OFF | HEAP_MOVED_IN;
/// The visibility-related bits of t_infomask.
pub const HEAP_XACT_MASK: u16 = 0xFFF0;

// t_infomask2 bits.
pub const HEAP_NATTS_MASK: u16 = 0x07FF;
pub const HEAP_KEYS_UPDATED: u16 = 0x2000;
pub const HEAP_HOT_UPDATED: u16 = 0x4000;
pub const HEAP_ONLY_TUPLE: u16 = 0x8000;
/// The visibility-related bits of t_infomask2.
pub const HEAP2_XACT_MASK: u16 = 0xE000;

/// The infomask bits `form_tuple` computes from the values.
const HEAP_LAYOUT_BITS: u16 = HEAP_HASNULL | HEAP_HASVARWIDTH | HEAP_HASEXTERNAL;

// Field offsets within the header.
const T_XMIN: usize = 0;
const T_XMAX: usize = 4;
const T_CID: usize = 8;
const T_CTID: usize = 12;
const T_INFOMASK2: usize = 18;
const T_INFOMASK: usize = 20;
const T_HOFF: usize = 22;
const _: () = assert!(T_HOFF + 1 == SIZEOF_HEAP_TUPLE_HEADER);

/// The varlena tag of an on-disk TOAST pointer, and that pointer's size.
const VARTAG_ONDISK: u8 = 18;
const TOAST_POINTER_SIZE: usize = 2 + 16;

/// A tuple's physical address: block and line pointer (PostgreSQL's ItemPointerData,
/// stored as block hi u16, block lo u16, offset u16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemPointer {
    pub block: BlockNumber,
    pub offset: OffsetNumber,
}

impl ItemPointer {
    pub const INVALID: ItemPointer = ItemPointer {
        block: BlockNumber::INVALID,
        offset: OffsetNumber::INVALID,
    };

    pub fn new(block: BlockNumber, offset: OffsetNumber) -> ItemPointer {
        ItemPointer { block, offset }
    }
}

impl fmt::Display for ItemPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.block, self.offset)
    }
}

/// A tuple that cannot be read or built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TupleError {
    /// Fewer bytes than the fixed header.
    TooShort { len: usize },
    /// t_hoff is unaligned, overlaps the header/null bitmap, or is past the end.
    BadHoff { hoff: u8, min: usize, len: usize },
    /// An attribute's bytes run past the end of the tuple.
    AttrOutOfBounds {
        attnum: usize,
        offset: usize,
        len: usize,
    },
    /// A varlena header that is not a valid length word.
    BadVarlenaHeader { attnum: usize, header: u32 },
    /// The descriptor is inconsistent (kind vs typlen, unknown typalign).
    BadDescriptor { attnum: usize },
    /// `form_tuple`: a value does not match its attribute's kind or length.
    ValueMismatch { attnum: usize },
    /// `form_tuple`: not one value per attribute.
    WrongValueCount { attrs: usize, values: usize },
    /// `form_tuple`: more attributes than a tuple can have.
    TooManyAttributes { count: usize },
    /// `form_tuple`: a varlena longer than 1 GB.
    ValueTooLong { attnum: usize, len: usize },
}

impl fmt::Display for TupleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TupleError::TooShort { len } => write!(f, "invalid tuple length {len}"),
            TupleError::BadHoff { hoff, min, len } => write!(
                f,
                "invalid tuple header offset t_hoff = {hoff} (minimum {min}, tuple length {len})"
            ),
            TupleError::AttrOutOfBounds { attnum, offset, len } => write!(
                f,
                "attribute {attnum} at offset {offset} extends past the end of the tuple (length {len})"
            ),
            TupleError::BadVarlenaHeader { attnum, header } => {
                write!(f, "invalid varlena header 0x{header:08X} in attribute {attnum}")
            }
            TupleError::BadDescriptor { attnum } => {
                write!(f, "invalid tuple descriptor for attribute {attnum}")
            }
            TupleError::ValueMismatch { attnum } => {
                write!(f, "value does not match the type of attribute {attnum}")
            }
            TupleError::WrongValueCount { attrs, values } => {
                write!(f, "tuple has {attrs} attributes but {values} values were given")
            }
            TupleError::TooManyAttributes { count } => write!(
                f,
                "number of columns ({count}) exceeds limit ({MAX_HEAP_ATTRIBUTE_NUMBER})"
            ),
            TupleError::ValueTooLong { attnum, len } => {
                write!(f, "value of attribute {attnum} is too long ({len} bytes)")
            }
        }
    }
}

impl std::error::Error for TupleError {}

impl From<TupleError> for QuillError {
    fn from(err: TupleError) -> QuillError {
        match err {
            TupleError::TooManyAttributes { .. } | TupleError::ValueTooLong { .. } => {
                QuillError::new(sqlstate::PROGRAM_LIMIT_EXCEEDED, err.to_string())
            }
            TupleError::ValueMismatch { .. }
            | TupleError::WrongValueCount { .. }
            | TupleError::BadDescriptor { .. } => QuillError::internal(err.to_string()),
            _ => QuillError::new(sqlstate::DATA_CORRUPTED, err.to_string()),
        }
    }
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn read_u64(bytes: &[u8]) -> u64 {
    u64::from(read_u32(bytes, 0)) | (u64::from(read_u32(bytes, 4)) << 32)
}

/// The fixed 23-byte tuple header, decoded. Read it with [`HeapTupleHeader::read`],
/// change fields, and store it back in place with [`HeapTupleHeader::write`] (the null
/// bitmap and data are untouched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapTupleHeader {
    /// Inserting transaction.
    pub xmin: TransactionId,
    /// Deleting or locking transaction (or MultiXactId), 0 if none.
    pub xmax: TransactionId,
    /// Inserting and/or deleting command id, or a combo CID (t_cid/t_xvac).
    pub cid: CommandId,
    /// This tuple's own TID, or the TID of its newer version after an UPDATE.
    pub ctid: ItemPointer,
    pub infomask2: u16,
    pub infomask: u16,
    /// Offset of the data area.
    pub hoff: u8,
}

impl HeapTupleHeader {
    /// A header for a new tuple inserted by `xmin` at command `cid`, as heap_insert
    /// prepares it: no xmax (`HEAP_XMAX_INVALID`), ctid unset until placed.
    pub fn for_insert(xmin: TransactionId, cid: CommandId) -> HeapTupleHeader {
        HeapTupleHeader {
            xmin,
            xmax: 0,
            cid,
            ctid: ItemPointer::INVALID,
            infomask2: 0,
            infomask: HEAP_XMAX_INVALID,
            hoff: 0,
        }
    }

    /// Decodes the fixed header. Only checks that 23 bytes are there; t_hoff is
    /// checked by [`deform_tuple`].
    pub fn read(tuple: &[u8]) -> Result<HeapTupleHeader, TupleError> {
        if tuple.len() < SIZEOF_HEAP_TUPLE_HEADER {
            return Err(TupleError::TooShort { len: tuple.len() });
        }
        let block =
            (u32::from(read_u16(tuple, T_CTID)) << 16) | u32::from(read_u16(tuple, T_CTID + 2));
        Ok(HeapTupleHeader {
            xmin: read_u32(tuple, T_XMIN),
            xmax: read_u32(tuple, T_XMAX),
            cid: read_u32(tuple, T_CID),
            ctid: ItemPointer::new(
                BlockNumber(block),
                OffsetNumber(read_u16(tuple, T_CTID + 4)),
            ),
            infomask2: read_u16(tuple, T_INFOMASK2),
            infomask: read_u16(tuple, T_INFOMASK),
            hoff: tuple[T_HOFF],
        })
    }

    /// Stores the fixed header into the first 23 bytes of `tuple`.
    pub fn write(&self, tuple: &mut [u8]) -> Result<(), TupleError> {
        if tuple.len() < SIZEOF_HEAP_TUPLE_HEADER {
            return Err(TupleError::TooShort { len: tuple.len() });
        }
        let block = self.ctid.block.0;
        tuple[T_XMIN..T_XMIN + 4].copy_from_slice(&self.xmin.to_le_bytes());
        tuple[T_XMAX..T_XMAX + 4].copy_from_slice(&self.xmax.to_le_bytes());
        tuple[T_CID..T_CID + 4].copy_from_slice(&self.cid.to_le_bytes());
        tuple[T_CTID..T_CTID + 2].copy_from_slice(&((block >> 16) as u16).to_le_bytes());
        tuple[T_CTID + 2..T_CTID + 4].copy_from_slice(&(block as u16).to_le_bytes());
        tuple[T_CTID + 4..T_CTID + 6].copy_from_slice(&self.ctid.offset.0.to_le_bytes());
        tuple[T_INFOMASK2..T_INFOMASK2 + 2].copy_from_slice(&self.infomask2.to_le_bytes());
        tuple[T_INFOMASK..T_INFOMASK + 2].copy_from_slice(&self.infomask.to_le_bytes());
        tuple[T_HOFF] = self.hoff;
        Ok(())
    }

    /// Number of attributes stored in the tuple.
    pub fn natts(&self) -> usize {
        usize::from(self.infomask2 & HEAP_NATTS_MASK)
    }

    pub fn has_nulls(&self) -> bool {
        self.infomask & HEAP_HASNULL != 0
    }

    pub fn has_varwidth(&self) -> bool {
        self.infomask & HEAP_HASVARWIDTH != 0
    }

    pub fn has_external(&self) -> bool {
        self.infomask & HEAP_HASEXTERNAL != 0
    }

    /// Hint: xmin is known committed (also true when frozen).
    pub fn xmin_committed(&self) -> bool {
        self.infomask & HEAP_XMIN_COMMITTED != 0
    }

    /// Hint: xmin is known aborted (false when frozen).
    pub fn xmin_invalid(&self) -> bool {
        self.infomask & HEAP_XMIN_FROZEN == HEAP_XMIN_INVALID
    }

    /// xmin is frozen: visible to every snapshot.
    pub fn xmin_frozen(&self) -> bool {
        self.infomask & HEAP_XMIN_FROZEN == HEAP_XMIN_FROZEN
    }

    pub fn xmax_committed(&self) -> bool {
        self.infomask & HEAP_XMAX_COMMITTED != 0
    }

    /// xmax is unset or known aborted.
    pub fn xmax_invalid(&self) -> bool {
        self.infomask & HEAP_XMAX_INVALID != 0
    }

    pub fn xmax_is_multi(&self) -> bool {
        self.infomask & HEAP_XMAX_IS_MULTI != 0
    }

    /// xmax, if valid, only locks the row (`HEAP_XMAX_IS_LOCKED_ONLY`).
    pub fn xmax_is_locked_only(&self) -> bool {
        self.infomask & HEAP_XMAX_LOCK_ONLY != 0
            || self.infomask & (HEAP_XMAX_IS_MULTI | HEAP_LOCK_MASK) == HEAP_XMAX_EXCL_LOCK
    }

    pub fn is_combo_cid(&self) -> bool {
        self.infomask & HEAP_COMBOCID != 0
    }

    /// This version was created by an UPDATE.
    pub fn is_updated(&self) -> bool {
        self.infomask & HEAP_UPDATED != 0
    }

    pub fn is_hot_updated(&self) -> bool {
        self.infomask2 & HEAP_HOT_UPDATED != 0
    }

    pub fn is_heap_only(&self) -> bool {
        self.infomask2 & HEAP_ONLY_TUPLE != 0
    }

    pub fn keys_updated(&self) -> bool {
        self.infomask2 & HEAP_KEYS_UPDATED != 0
    }

    pub fn set_infomask_bits(&mut self, bits: u16) {
        self.infomask |= bits;
    }

    pub fn clear_infomask_bits(&mut self, bits: u16) {
        self.infomask &= !bits;
    }

    pub fn set_infomask2_bits(&mut self, bits: u16) {
        self.infomask2 |= bits;
    }

    pub fn clear_infomask2_bits(&mut self, bits: u16) {
        self.infomask2 &= !bits;
    }
}

/// Length in bytes of a null bitmap for `natts` attributes (`BITMAPLEN`).
pub const fn bitmap_len(natts: usize) -> usize {
    natts.div_ceil(8)
}

/// How to interpret an attribute's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    /// PostgreSQL's one-byte `"char"`.
    Char,
    Int2,
    /// int4, and 4-byte integer-like types (oid, date, xid) read as bits.
    Int4,
    /// int8, and 8-byte integer-like types (timestamp, time) read as bits.
    Int8,
    Float4,
    Float8,
    /// Raw bytes: a varlena's payload (typlen -1), a fixed-length by-reference type
    /// such as `name` or `uuid` (typlen > 0), or a C string without its NUL (-2).
    Bytes,
}

/// What a tuple needs to know about a column (a slice of pg_attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrDesc {
    /// attlen: > 0 fixed length, -1 varlena, -2 NUL-terminated C string.
    pub typlen: i16,
    /// attalign: b'c', b's', b'i' or b'd'.
    pub typalign: u8,
    /// attstorage: b'p' (plain: never a short header), b'e', b'm' or b'x'.
    pub typstorage: u8,
    pub kind: ValueKind,
}

impl AttrDesc {
    pub const BOOL: AttrDesc = AttrDesc::fixed(1, b'c', ValueKind::Bool);
    pub const CHAR: AttrDesc = AttrDesc::fixed(1, b'c', ValueKind::Char);
    pub const INT2: AttrDesc = AttrDesc::fixed(2, b's', ValueKind::Int2);
    pub const INT4: AttrDesc = AttrDesc::fixed(4, b'i', ValueKind::Int4);
    pub const INT8: AttrDesc = AttrDesc::fixed(8, b'd', ValueKind::Int8);
    pub const FLOAT4: AttrDesc = AttrDesc::fixed(4, b'i', ValueKind::Float4);
    pub const FLOAT8: AttrDesc = AttrDesc::fixed(8, b'd', ValueKind::Float8);
    /// text, varchar, bpchar, bytea.
    pub const TEXT: AttrDesc = AttrDesc::varlena(b'i', b'x');
    pub const NUMERIC: AttrDesc = AttrDesc::varlena(b'i', b'm');
    /// The 64-byte `name` type.
    pub const NAME: AttrDesc = AttrDesc::fixed(64, b'c', ValueKind::Bytes);

    pub const fn fixed(typlen: i16, typalign: u8, kind: ValueKind) -> AttrDesc {
        AttrDesc {
            typlen,
            typalign,
            typstorage: b'p',
            kind,
        }
    }

    pub const fn varlena(typalign: u8, typstorage: u8) -> AttrDesc {
        AttrDesc {
            typlen: -1,
            typalign,
            typstorage,
            kind: ValueKind::Bytes,
        }
    }

    fn alignment(&self) -> Option<usize> {
        match self.typalign {
            b'c' => Some(1),
            b's' => Some(2),
            b'i' => Some(4),
            b'd' => Some(8),
            _ => None,
        }
    }

    /// The fixed byte width `kind` requires, if any.
    fn kind_width(&self) -> Option<usize> {
        match self.kind {
            ValueKind::Bool | ValueKind::Char => Some(1),
            ValueKind::Int2 => Some(2),
            ValueKind::Int4 | ValueKind::Float4 => Some(4),
            ValueKind::Int8 | ValueKind::Float8 => Some(8),
            ValueKind::Bytes => None,
        }
    }

    /// Alignment in bytes, after checking the descriptor is consistent.
    fn checked_alignment(&self, attnum: usize) -> Result<usize, TupleError> {
        let bad = TupleError::BadDescriptor { attnum };
        let align = self.alignment().ok_or(bad.clone())?;
        let consistent = match (self.kind_width(), self.typlen) {
            (Some(width), len) => len > 0 && width == len as usize,
            (None, len) => len > 0 || len == -1 || len == -2,
        };
        if consistent {
            Ok(align)
        } else {
            Err(bad)
        }
    }
}

/// One attribute value as stored in a tuple. Borrowed bytes point into the tuple.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeapValue<'a> {
    Null,
    Bool(bool),
    Char(u8),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    /// Varlena payload (without its header), fixed-length by-reference bytes, or a
    /// C string without its NUL.
    Bytes(&'a [u8]),
    /// A TOASTed varlena (compressed inline or an external pointer), whole and with its
    /// header. Only read: detoasting is the caller's job.
    Toasted(&'a [u8]),
}

fn align_up(offset: usize, align: usize) -> usize {
    (offset + align - 1) & !(align - 1)
}

/// Builds a tuple (`heap_form_tuple`) from one value per attribute. The header's
/// xmin, xmax, cid, ctid and flag bits are taken from `header`; the attribute count,
/// t_hoff, and HEAP_HASNULL/HASVARWIDTH/HASEXTERNAL are computed. The result is
/// unpadded (its length is t_len); the page pads it to MAXALIGN.
pub fn form_tuple(
    attrs: &[AttrDesc],
    values: &[HeapValue<'_>],
    header: &HeapTupleHeader,
) -> Result<Vec<u8>, TupleError> {
    if attrs.len() != values.len() {
        return Err(TupleError::WrongValueCount {
            attrs: attrs.len(),
            values: values.len(),
        });
    }
    if attrs.len() > MAX_HEAP_ATTRIBUTE_NUMBER {
        return Err(TupleError::TooManyAttributes { count: attrs.len() });
    }
    let has_nulls = values.iter().any(|v| matches!(v, HeapValue::Null));
    let bitmap_bytes = if has_nulls {
        bitmap_len(attrs.len())
    } else {
        0
    };
    let hoff = maxalign(SIZEOF_HEAP_TUPLE_HEADER + bitmap_bytes);

    let mut tuple = vec![0u8; hoff];
    let mut infomask = header.infomask & !HEAP_LAYOUT_BITS;
    if has_nulls {
        infomask |= HEAP_HASNULL;
    }
    for (i, (attr, value)) in attrs.iter().zip(values).enumerate() {
        let attnum = i + 1;
        let align = attr.checked_alignment(attnum)?;
        if matches!(value, HeapValue::Null) {
            continue;
        }
        if has_nulls {
            tuple[SIZEOF_HEAP_TUPLE_HEADER + i / 8] |= 1 << (i % 8);
        }
        infomask |= fill_value(&mut tuple, hoff, attr, align, value, attnum)?;
    }
    let stored = HeapTupleHeader {
        infomask,
        infomask2: (header.infomask2 & !HEAP_NATTS_MASK) | attrs.len() as u16,
        hoff: hoff as u8,
        ..*header
    };
    stored.write(&mut tuple)?;
    Ok(tuple)
}

/// Appends one non-null value at its aligned position in the data area (which starts
/// at `hoff`), returning infomask bits it implies.
fn fill_value(
    tuple: &mut Vec<u8>,
    hoff: usize,
    attr: &AttrDesc,
    align: usize,
    value: &HeapValue<'_>,
    attnum: usize,
) -> Result<u16, TupleError> {
    let mismatch = TupleError::ValueMismatch { attnum };
    let pad_to = |tuple: &mut Vec<u8>, align: usize| {
        let at = hoff + align_up(tuple.len() - hoff, align);
        tuple.resize(at, 0);
    };
    if let Some((scalar, len)) = scalar_bytes(attr.kind, value) {
        pad_to(tuple, align);
        tuple.extend_from_slice(&scalar[..len]);
        return Ok(0);
    }
    match (attr.kind, value) {
        (ValueKind::Bytes, HeapValue::Bytes(b)) if attr.typlen > 0 => {
            if b.len() != attr.typlen as usize {
                return Err(mismatch);
            }
            pad_to(tuple, align);
            tuple.extend_from_slice(b);
            return Ok(0);
        }
        (ValueKind::Bytes, HeapValue::Bytes(_) | HeapValue::Toasted(_)) => {}
        _ => return Err(mismatch),
    }
    match (attr.typlen, value) {
        (-2, HeapValue::Bytes(s)) => {
            if s.contains(&0) {
                return Err(mismatch);
            }
            pad_to(tuple, align);
            tuple.extend_from_slice(s);
            tuple.push(0);
            Ok(HEAP_HASVARWIDTH)
        }
        (-1, HeapValue::Bytes(payload)) => {
            let total = payload.len() + 4;
            if total > MAX_VARLENA_SIZE {
                return Err(TupleError::ValueTooLong {
                    attnum,
                    len: payload.len(),
                });
            }
            if attr.typstorage != b'p' && payload.len() < 0x7F {
                // Short header, never aligned.
                tuple.push(((payload.len() as u8 + 1) << 1) | 1);
            } else {
                pad_to(tuple, align);
                tuple.extend_from_slice(&((total as u32) << 2).to_le_bytes());
            }
            tuple.extend_from_slice(payload);
            Ok(HEAP_HASVARWIDTH)
        }
        (-1, HeapValue::Toasted(raw)) => match decode_varlena(raw, 0, attnum)? {
            (Varlena::External(datum), _) => {
                tuple.extend_from_slice(datum);
                Ok(HEAP_HASVARWIDTH | HEAP_HASEXTERNAL)
            }
            (Varlena::Compressed(datum), _) => {
                pad_to(tuple, align);
                tuple.extend_from_slice(datum);
                Ok(HEAP_HASVARWIDTH)
            }
            (Varlena::Plain(_), _) => Err(mismatch),
        },
        _ => Err(mismatch),
    }
}

/// The little-endian bytes of a by-value scalar whose variant matches `kind`.
fn scalar_bytes(kind: ValueKind, value: &HeapValue<'_>) -> Option<([u8; 8], usize)> {
    let mut out = [0u8; 8];
    let mut put = |bytes: &[u8]| {
        out[..bytes.len()].copy_from_slice(bytes);
        bytes.len()
    };
    let len = match (kind, value) {
        (ValueKind::Bool, HeapValue::Bool(b)) => put(&[u8::from(*b)]),
        (ValueKind::Char, HeapValue::Char(c)) => put(&[*c]),
        (ValueKind::Int2, HeapValue::Int2(v)) => put(&v.to_le_bytes()),
        (ValueKind::Int4, HeapValue::Int4(v)) => put(&v.to_le_bytes()),
        (ValueKind::Int8, HeapValue::Int8(v)) => put(&v.to_le_bytes()),
        (ValueKind::Float4, HeapValue::Float4(v)) => put(&v.to_bits().to_le_bytes()),
        (ValueKind::Float8, HeapValue::Float8(v)) => put(&v.to_bits().to_le_bytes()),
        _ => return None,
    };
    Some((out, len))
}

/// A varlena found in a tuple.
enum Varlena<'a> {
    Plain(&'a [u8]),
    Compressed(&'a [u8]),
    External(&'a [u8]),
}

/// Decodes the varlena starting at `data[at]` (already aligned if it needed to be),
/// returning it and its total size.
fn decode_varlena(
    data: &[u8],
    at: usize,
    attnum: usize,
) -> Result<(Varlena<'_>, usize), TupleError> {
    let out_of_bounds = |size: usize| TupleError::AttrOutOfBounds {
        attnum,
        offset: at,
        len: size,
    };
    let first = *data.get(at).ok_or(out_of_bounds(1))?;
    let (size, header_len) = if first == 0x01 {
        let tag = *data.get(at + 1).ok_or(out_of_bounds(2))?;
        if tag != VARTAG_ONDISK {
            return Err(TupleError::BadVarlenaHeader {
                attnum,
                header: u32::from(tag) << 8 | 1,
            });
        }
        (TOAST_POINTER_SIZE, 0)
    } else if first & 0x01 == 0x01 {
        (usize::from(first >> 1), 1)
    } else {
        let word_bytes = data.get(at..at + 4).ok_or(out_of_bounds(4))?;
        let word = read_u32(word_bytes, 0);
        let size = (word >> 2) as usize;
        let min = if word & 0x03 == 0x02 { 8 } else { 4 };
        if size < min {
            return Err(TupleError::BadVarlenaHeader {
                attnum,
                header: word,
            });
        }
        (size, 4)
    };
    let datum = data.get(at..at + size).ok_or(out_of_bounds(size))?;
    let varlena = match (first, header_len) {
        (0x01, _) => Varlena::External(datum),
        (_, 4) if first & 0x03 == 0x02 => Varlena::Compressed(datum),
        (_, header_len) => Varlena::Plain(&datum[header_len..]),
    };
    Ok((varlena, size))
}

/// Splits a tuple into its attribute values (`heap_deform_tuple`), one per entry of
/// `attrs`. Attributes beyond the tuple's stored count read as NULL; stored attributes
/// beyond `attrs` are ignored. Every offset and length is checked against the tuple.
pub fn deform_tuple<'a>(
    attrs: &[AttrDesc],
    tuple: &'a [u8],
) -> Result<Vec<HeapValue<'a>>, TupleError> {
    let header = HeapTupleHeader::read(tuple)?;
    let stored_natts = header.natts();
    let min_hoff = SIZEOF_HEAP_TUPLE_HEADER
        + if header.has_nulls() {
            bitmap_len(stored_natts)
        } else {
            0
        };
    let hoff = usize::from(header.hoff);
    if hoff < min_hoff || hoff != maxalign(hoff) || hoff > tuple.len() {
        return Err(TupleError::BadHoff {
            hoff: header.hoff,
            min: min_hoff,
            len: tuple.len(),
        });
    }
    let bitmap = &tuple[SIZEOF_HEAP_TUPLE_HEADER..min_hoff];
    let data = &tuple[hoff..];
    let natts = stored_natts.min(attrs.len());

    let mut values = Vec::with_capacity(attrs.len());
    let mut off = 0usize;
    for (i, attr) in attrs.iter().enumerate().take(natts) {
        let attnum = i + 1;
        let align = attr.checked_alignment(attnum)?;
        if header.has_nulls() && bitmap[i / 8] & (1 << (i % 8)) == 0 {
            values.push(HeapValue::Null);
            continue;
        }
        let (value, next) = read_value(data, off, attr, align, attnum)?;
        values.push(value);
        off = next;
    }
    values.resize(attrs.len(), HeapValue::Null);
    Ok(values)
}

/// Reads one non-null attribute at `off` (before alignment) in the data area,
/// returning it and the offset just past it.
fn read_value<'a>(
    data: &'a [u8],
    off: usize,
    attr: &AttrDesc,
    align: usize,
    attnum: usize,
) -> Result<(HeapValue<'a>, usize), TupleError> {
    let out_of_bounds = |at: usize, len: usize| TupleError::AttrOutOfBounds {
        attnum,
        offset: at,
        len,
    };
    match attr.typlen {
        -1 => {
            // A zero byte is padding (or an aligned 4-byte header); anything else is
            // the first byte of a header that needs no alignment.
            let at = match data.get(off) {
                Some(0) | None => align_up(off, align),
                Some(_) => off,
            };
            let (varlena, size) = decode_varlena(data, at, attnum)?;
            let value = match varlena {
                Varlena::Plain(payload) => HeapValue::Bytes(payload),
                Varlena::Compressed(datum) | Varlena::External(datum) => HeapValue::Toasted(datum),
            };
            Ok((value, at + size))
        }
        -2 => {
            let at = align_up(off, align);
            let rest = data.get(at..).ok_or(out_of_bounds(at, 1))?;
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(out_of_bounds(at, rest.len() + 1))?;
            Ok((HeapValue::Bytes(&rest[..nul]), at + nul + 1))
        }
        len => {
            let len = len as usize;
            let at = align_up(off, align);
            let b = data.get(at..at + len).ok_or(out_of_bounds(at, len))?;
            let value = match attr.kind {
                ValueKind::Bool => HeapValue::Bool(b[0] != 0),
                ValueKind::Char => HeapValue::Char(b[0]),
                ValueKind::Int2 => HeapValue::Int2(i16::from_le_bytes([b[0], b[1]])),
                ValueKind::Int4 => HeapValue::Int4(read_u32(b, 0) as i32),
                ValueKind::Float4 => HeapValue::Float4(f32::from_bits(read_u32(b, 0))),
                ValueKind::Int8 => HeapValue::Int8(read_u64(b) as i64),
                ValueKind::Float8 => HeapValue::Float8(f64::from_bits(read_u64(b))),
                ValueKind::Bytes => HeapValue::Bytes(b),
            };
            Ok((value, at + len))
        }
    }
}

#[cfg(test)]
mod tests;
