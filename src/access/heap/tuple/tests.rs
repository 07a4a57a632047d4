//! Heap tuple layout, forming and deforming, pinned against PostgreSQL's bytes.

use super::*;
use crate::storage::page::{Page, PageBytes};

const PG15_HEAP_PAGE: &PageBytes = include_bytes!("../../../storage/testdata/pg15_heap_page.bin");

/// The fixture table: `t (id int4, flag bool, small int2, big int8, r float4,
/// d float8, name text, num numeric)`, then `ADD COLUMN extra text`.
const T_ATTRS: [AttrDesc; 9] = [
    AttrDesc::INT4,
    AttrDesc::BOOL,
    AttrDesc::INT2,
    AttrDesc::INT8,
    AttrDesc::FLOAT4,
    AttrDesc::FLOAT8,
    AttrDesc::TEXT,
    AttrDesc::NUMERIC,
    AttrDesc::TEXT,
];

fn fixture_item(offset: u16) -> &'static [u8] {
    let id = Page::new(PG15_HEAP_PAGE)
        .item_id(OffsetNumber(offset))
        .unwrap();
    &PG15_HEAP_PAGE[usize::from(id.offset())..][..usize::from(id.len())]
}

fn ctid(block: u32, offset: u16) -> ItemPointer {
    ItemPointer::new(BlockNumber(block), OffsetNumber(offset))
}

#[test]
fn decodes_tuples_written_by_postgres_15() {
    use HeapValue::*;
    // Numeric payloads are PostgreSQL's short numeric format, checked by hand.
    let n_3_14: &[u8] = &[0x00, 0x81, 0x03, 0x00, 0x78, 0x05];
    let n_0: &[u8] = &[0x00, 0x80];
    let n_12345_678: &[u8] = &[0x81, 0x81, 0x01, 0x00, 0x29, 0x09, 0x7c, 0x1a];
    let n_minus_5: &[u8] = &[0x00, 0xa0, 0x05, 0x00];
    let long = [b'x'; 200];
    let expected: [Vec<HeapValue<'_>>; 6] = [
        vec![
            Int4(1),
            Bool(true),
            Int2(7),
            Int8(10_000_000_000),
            Float4(1.5),
            Float8(2.25),
            Bytes(b"hello"),
            Bytes(n_3_14),
            Null,
        ],
        vec![
            Int4(2),
            Bool(false),
            Int2(-3),
            Int8(-1),
            Float4(-0.5),
            Float8(1e100),
            Bytes(b""),
            Bytes(n_0),
            Null,
        ],
        vec![
            Int4(3),
            Null,
            Null,
            Int8(42),
            Null,
            Null,
            Bytes(&long),
            Null,
            Null,
        ],
        vec![
            Int4(4),
            Bool(true),
            Int2(1),
            Int8(2),
            Float4(3.0),
            Float8(4.0),
            Null,
            Bytes(n_12345_678),
            Null,
        ],
        vec![
            Int4(5),
            Bool(false),
            Int2(5),
            Int8(5),
            Float4(5.0),
            Float8(5.0),
            Bytes(b"five"),
            Bytes(n_minus_5),
            Bytes(b"added"),
        ],
        vec![
            Int4(2),
            Bool(false),
            Int2(99),
            Int8(-1),
            Float4(-0.5),
            Float8(1e100),
            Bytes(b""),
            Bytes(n_0),
            Null,
        ],
    ];
    for (i, want) in expected.iter().enumerate() {
        let got = deform_tuple(&T_ATTRS, fixture_item(i as u16 + 1)).unwrap();
        assert_eq!(&got, want, "tuple {}", i + 1);
    }
}

#[test]
fn reads_headers_written_by_postgres_15() {
    // As pageinspect's heap_page_items printed them.
    let h = |off| HeapTupleHeader::read(fixture_item(off)).unwrap();
    let first = h(1);
    assert_eq!(
        (first.xmin, first.xmax, first.cid, first.ctid),
        (726, 0, 0, ctid(0, 1))
    );
    assert_eq!((first.infomask2, first.infomask, first.hoff), (8, 2306, 24));
    assert!(first.xmin_committed() && first.xmax_invalid() && first.has_varwidth());
    let updated = h(2);
    assert_eq!((updated.xmax, updated.ctid), (732, ctid(0, 6)));
    assert!(updated.is_hot_updated() && updated.xmax_committed() && !updated.xmax_invalid());
    let deleted = h(4);
    assert_eq!(
        (deleted.xmax, deleted.infomask2, deleted.infomask),
        (733, 8200, 1283)
    );
    assert!(deleted.keys_updated() && deleted.has_nulls());
    let new_version = h(6);
    assert_eq!(
        (new_version.natts(), new_version.hoff, new_version.infomask),
        (9, 32, 10499)
    );
    assert!(new_version.is_heap_only() && new_version.is_updated() && !new_version.xmin_frozen());
}

#[test]
fn forms_tuples_byte_identical_to_postgres_15() {
    for off in 1..=6u16 {
        let item = fixture_item(off);
        let header = HeapTupleHeader::read(item).unwrap();
        let attrs = &T_ATTRS[..header.natts()];
        let values = deform_tuple(attrs, item).unwrap();
        let formed = form_tuple(attrs, &values, &header).unwrap();
        assert_eq!(formed, item, "tuple {off}");
    }
}

#[test]
fn header_round_trips_and_splits_the_block_number() {
    let header = HeapTupleHeader {
        xmin: 0xDEAD_BEEF,
        xmax: 7,
        cid: 3,
        ctid: ctid(0x0001_2345, 17),
        infomask2: HEAP_HOT_UPDATED | 2,
        infomask: HEAP_XMIN_COMMITTED,
        hoff: 24,
    };
    let mut bytes = [0u8; 24];
    header.write(&mut bytes).unwrap();
    assert_eq!(bytes[12..18], [0x01, 0x00, 0x45, 0x23, 17, 0]);
    assert_eq!(HeapTupleHeader::read(&bytes).unwrap(), header);
    assert_eq!(
        HeapTupleHeader::read(&bytes[..22]),
        Err(TupleError::TooShort { len: 22 })
    );
    assert!(header.write(&mut [0u8; 10]).is_err());
    assert_eq!(ctid(5, 3).to_string(), "(5,3)");
}

#[test]
fn infomask_predicates_follow_postgres() {
    let mut h = HeapTupleHeader::for_insert(100, 0);
    assert!(h.xmax_invalid() && !h.xmin_committed() && !h.xmin_invalid());
    h.set_infomask_bits(HEAP_XMIN_FROZEN);
    assert!(h.xmin_frozen() && h.xmin_committed() && !h.xmin_invalid());
    h.clear_infomask_bits(HEAP_XMIN_COMMITTED);
    assert!(h.xmin_invalid() && !h.xmin_frozen());
    // An exclusive lock alone, without LOCK_ONLY, is also lock-only (pre-9.3 form).
    h.infomask = HEAP_XMAX_EXCL_LOCK;
    assert!(h.xmax_is_locked_only());
    h.infomask = HEAP_XMAX_EXCL_LOCK | HEAP_XMAX_IS_MULTI;
    assert!(!h.xmax_is_locked_only());
    h.infomask = HEAP_XMAX_KEYSHR_LOCK | HEAP_XMAX_LOCK_ONLY;
    assert!(h.xmax_is_locked_only());
    h.set_infomask2_bits(HEAP_ONLY_TUPLE);
    h.clear_infomask2_bits(HEAP_ONLY_TUPLE);
    assert!(!h.is_heap_only());
}

#[test]
fn short_varlena_up_to_126_bytes_else_aligned_4_byte_header() {
    let attrs = [AttrDesc::BOOL, AttrDesc::TEXT];
    let header = HeapTupleHeader::for_insert(5, 0);
    for (len, short) in [(0usize, true), (126, true), (127, false), (5000, false)] {
        let payload = vec![b'a'; len];
        let tuple = form_tuple(
            &attrs,
            &[HeapValue::Bool(true), HeapValue::Bytes(&payload)],
            &header,
        )
        .unwrap();
        let data = &tuple[24..];
        if short {
            assert_eq!(data[1], ((len as u8 + 1) << 1) | 1);
            assert_eq!(tuple.len(), 24 + 2 + len);
        } else {
            assert_eq!(data[1..4], [0, 0, 0], "padding to int alignment");
            assert_eq!(read_u32(data, 4), ((len as u32) + 4) << 2);
            assert_eq!(tuple.len(), 24 + 8 + len);
        }
        let values = deform_tuple(&attrs, &tuple).unwrap();
        assert_eq!(values[1], HeapValue::Bytes(&payload));
    }
    // PLAIN storage never uses the short form.
    let plain = [AttrDesc::varlena(b'i', b'p')];
    let tuple = form_tuple(&plain, &[HeapValue::Bytes(b"ab")], &header).unwrap();
    assert_eq!(read_u32(&tuple, 24), 6 << 2);
}

#[test]
fn fixed_width_values_are_aligned_from_the_data_start() {
    let attrs = [
        AttrDesc::BOOL,
        AttrDesc::INT8,
        AttrDesc::INT2,
        AttrDesc::CHAR,
        AttrDesc::INT4,
    ];
    let values = [
        HeapValue::Bool(true),
        HeapValue::Int8(-2),
        HeapValue::Int2(0x1234),
        HeapValue::Char(b'r'),
        HeapValue::Int4(9),
    ];
    let tuple = form_tuple(&attrs, &values, &HeapTupleHeader::for_insert(3, 0)).unwrap();
    let data = &tuple[24..];
    assert_eq!(data.len(), 24); // bool@0, pad, int8@8, int2@16, char@18, pad, int4@20
    assert_eq!(data[8..16], (-2i64).to_le_bytes());
    assert_eq!(data[16..18], [0x34, 0x12]);
    assert_eq!(data[18], b'r');
    assert_eq!(deform_tuple(&attrs, &tuple).unwrap(), values);
    assert_eq!(
        HeapTupleHeader::read(&tuple).unwrap().infomask & HEAP_HASVARWIDTH,
        0
    );
}

#[test]
fn nulls_set_the_bitmap_and_move_t_hoff() {
    let attrs = [AttrDesc::INT4; 9];
    let mut values = vec![HeapValue::Int4(1); 9];
    values[8] = HeapValue::Null;
    let tuple = form_tuple(&attrs, &values, &HeapTupleHeader::for_insert(3, 0)).unwrap();
    let header = HeapTupleHeader::read(&tuple).unwrap();
    assert_eq!((header.hoff, header.natts()), (32, 9));
    assert!(header.has_nulls());
    assert_eq!(tuple[23..25], [0xFF, 0x00]);
    assert_eq!(tuple.len(), 32 + 8 * 4);
    assert_eq!(deform_tuple(&attrs, &tuple).unwrap(), values);
    let all_null = form_tuple(&attrs[..2], &[HeapValue::Null; 2], &header).unwrap();
    assert_eq!(all_null.len(), 24);
    assert_eq!(
        deform_tuple(&attrs[..2], &all_null).unwrap(),
        vec![HeapValue::Null; 2]
    );
}

#[test]
fn missing_trailing_attributes_read_as_null_and_extra_ones_are_ignored() {
    let tuple = form_tuple(
        &[AttrDesc::INT4],
        &[HeapValue::Int4(7)],
        &HeapTupleHeader::for_insert(3, 0),
    )
    .unwrap();
    let wider = [AttrDesc::INT4, AttrDesc::TEXT, AttrDesc::INT8];
    assert_eq!(
        deform_tuple(&wider, &tuple).unwrap(),
        vec![HeapValue::Int4(7), HeapValue::Null, HeapValue::Null]
    );
    let two = form_tuple(
        &wider[..2],
        &[HeapValue::Int4(7), HeapValue::Bytes(b"x")],
        &HeapTupleHeader::for_insert(3, 0),
    )
    .unwrap();
    assert_eq!(
        deform_tuple(&wider[..1], &two).unwrap(),
        vec![HeapValue::Int4(7)]
    );
}

#[test]
fn name_cstring_and_floats_round_trip() {
    let mut name = [0u8; 64];
    name[..5].copy_from_slice(b"quill");
    let cstring = AttrDesc {
        typlen: -2,
        typalign: b'c',
        typstorage: b'p',
        kind: ValueKind::Bytes,
    };
    let attrs = [AttrDesc::NAME, cstring, AttrDesc::FLOAT4, AttrDesc::FLOAT8];
    let values = [
        HeapValue::Bytes(&name),
        HeapValue::Bytes(b"hi"),
        HeapValue::Float4(f32::INFINITY),
        HeapValue::Float8(-0.0),
    ];
    let tuple = form_tuple(&attrs, &values, &HeapTupleHeader::for_insert(3, 0)).unwrap();
    let got = deform_tuple(&attrs, &tuple).unwrap();
    assert_eq!(got[..3], values[..3]);
    assert!(matches!(got[3], HeapValue::Float8(v) if v.to_bits() == (-0.0f64).to_bits()));
    assert_eq!(tuple[24 + 64..24 + 67], *b"hi\0");
}

#[test]
fn toasted_values_pass_through_unchanged() {
    let mut compressed = vec![0u8; 12];
    compressed[..4].copy_from_slice(&((12u32 << 2) | 2).to_le_bytes());
    let mut external = vec![0x01, VARTAG_ONDISK];
    external.extend_from_slice(&[9u8; 16]);
    let attrs = [AttrDesc::BOOL, AttrDesc::TEXT, AttrDesc::TEXT];
    let values = [
        HeapValue::Bool(false),
        HeapValue::Toasted(&external),
        HeapValue::Toasted(&compressed),
    ];
    let tuple = form_tuple(&attrs, &values, &HeapTupleHeader::for_insert(3, 0)).unwrap();
    assert!(HeapTupleHeader::read(&tuple).unwrap().has_external());
    assert_eq!(tuple[25], 0x01, "external pointers are not aligned");
    assert_eq!(deform_tuple(&attrs, &tuple).unwrap(), values);
    let plain_as_toasted = [
        HeapValue::Bool(false),
        HeapValue::Toasted(&[0x05, 1, 2]),
        HeapValue::Null,
    ];
    assert!(form_tuple(
        &attrs,
        &plain_as_toasted,
        &HeapTupleHeader::for_insert(3, 0)
    )
    .is_err());
}

#[test]
fn form_rejects_values_that_do_not_fit_the_descriptor() {
    let h = HeapTupleHeader::for_insert(3, 0);
    let mismatch = |attnum| Err(TupleError::ValueMismatch { attnum });
    assert_eq!(
        form_tuple(&[AttrDesc::INT8], &[HeapValue::Int4(1)], &h),
        mismatch(1)
    );
    assert_eq!(
        form_tuple(&[AttrDesc::NAME], &[HeapValue::Bytes(b"short")], &h),
        mismatch(1)
    );
    assert_eq!(
        form_tuple(&[AttrDesc::INT4], &[], &h),
        Err(TupleError::WrongValueCount {
            attrs: 1,
            values: 0
        })
    );
    let bad = AttrDesc {
        typlen: 8,
        ..AttrDesc::INT4
    };
    assert_eq!(
        form_tuple(&[bad], &[HeapValue::Int4(1)], &h),
        Err(TupleError::BadDescriptor { attnum: 1 })
    );
    let bad_align = AttrDesc {
        typalign: b'x',
        ..AttrDesc::INT4
    };
    assert!(form_tuple(&[bad_align], &[HeapValue::Int4(1)], &h).is_err());
    let many = vec![AttrDesc::BOOL; MAX_HEAP_ATTRIBUTE_NUMBER + 1];
    let vals = vec![HeapValue::Null; many.len()];
    let err = form_tuple(&many, &vals, &h).unwrap_err();
    assert_eq!(
        QuillError::from(err).sqlstate,
        sqlstate::PROGRAM_LIMIT_EXCEEDED
    );
}

#[test]
fn bad_t_hoff_is_an_error() {
    let mut tuple = fixture_item(1).to_vec();
    for hoff in [0u8, 16, 23, 25, 200] {
        tuple[T_HOFF] = hoff;
        assert!(
            matches!(
                deform_tuple(&T_ATTRS, &tuple),
                Err(TupleError::BadHoff { .. })
            ),
            "{hoff}"
        );
    }
    // With HASNULL and 9 attributes the bitmap needs 2 bytes: t_hoff 24 is too small.
    let mut tuple = fixture_item(6).to_vec();
    tuple[T_HOFF] = 24;
    assert!(matches!(
        deform_tuple(&T_ATTRS, &tuple),
        Err(TupleError::BadHoff { min: 25, .. })
    ));
}

#[test]
fn truncated_tuples_are_errors_never_panics() {
    for off in 1..=6u16 {
        let item = fixture_item(off);
        for len in 0..item.len() {
            let result = deform_tuple(&T_ATTRS, &item[..len]);
            // A cut that only removes trailing NULL-free bytes must still fail
            // because the last attribute no longer fits.
            assert!(result.is_err(), "tuple {off} cut to {len} bytes decoded");
        }
    }
    let err = deform_tuple(&T_ATTRS, &fixture_item(1)[..40]).unwrap_err();
    assert_eq!(QuillError::from(err).sqlstate, sqlstate::DATA_CORRUPTED);
}

#[test]
fn corrupted_bytes_never_panic() {
    // Seeded xorshift: flip random bytes of real tuples and decode.
    let mut state: u64 = 0x5EED_0FC0_FFEE;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let mut tuple = fixture_item((round % 6) as u16 + 1).to_vec();
        for _ in 0..=(next() % 4) {
            let at = (next() as usize) % tuple.len();
            tuple[at] = next() as u8;
        }
        let _ = deform_tuple(&T_ATTRS, &tuple);
    }
}

#[test]
fn bad_varlena_headers_are_errors() {
    let h = HeapTupleHeader::for_insert(3, 0);
    let attrs = [AttrDesc::INT4, AttrDesc::TEXT];
    let mut tuple = form_tuple(
        &attrs,
        &[HeapValue::Int4(1), HeapValue::Bytes(&[b'z'; 200])],
        &h,
    )
    .unwrap();
    // A 4-byte length word claiming fewer than 4 bytes.
    tuple[28..32].copy_from_slice(&(2u32 << 2).to_le_bytes());
    assert!(matches!(
        deform_tuple(&attrs, &tuple),
        Err(TupleError::BadVarlenaHeader { attnum: 2, .. })
    ));
    // An external pointer with an in-memory tag cannot be on disk.
    tuple[28] = 0x01;
    tuple[29] = 1;
    assert!(matches!(
        deform_tuple(&attrs, &tuple),
        Err(TupleError::BadVarlenaHeader { attnum: 2, .. })
    ));
}
