//! Round trips through the builder and the decoder, the byte layout against
//! PostgreSQL's, and every decode error.

use super::*;
use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};
use crate::storage::page::BLCKSZ;
use crate::wal::segment::{read_u32, read_u64};
use crate::wal::Lsn;

const REL: RelFileNode = RelFileNode {
    spc_oid: 1663,
    db_oid: 5,
    rel_number: 16384,
};
const OTHER_REL: RelFileNode = RelFileNode {
    spc_oid: 1663,
    db_oid: 5,
    rel_number: 16390,
};

/// A standard page with pd_lower/pd_upper describing a zeroed hole, the rest
/// filled with a pattern.
fn page_with_hole(lower: u16, upper: u16, seed: u8) -> [u8; BLCKSZ] {
    let mut page = [0u8; BLCKSZ];
    for (i, byte) in page.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(31).wrapping_add(seed) | 1;
    }
    page[usize::from(lower)..usize::from(upper)].fill(0);
    page[PD_LOWER_OFFSET..PD_LOWER_OFFSET + 2].copy_from_slice(&lower.to_le_bytes());
    page[PD_UPPER_OFFSET..PD_UPPER_OFFSET + 2].copy_from_slice(&upper.to_le_bytes());
    page
}

fn encode(builder: &RecordBuilder<'_>, prev: Lsn) -> Vec<u8> {
    let mut out = Vec::new();
    builder.encode(prev, &mut out).unwrap();
    out
}

/// Rewrites the CRC after a test damaged a record on purpose.
fn fix_crc(record: &mut [u8]) {
    let crc = record_crc(record);
    record[XL_CRC..XL_CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

fn heap_record(pages: &[[u8; BLCKSZ]; 2]) -> Vec<u8> {
    let mut builder = RecordBuilder::new(RmgrId::Heap, 0x20, 731);
    builder
        .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(7)))
        .image(&pages[0])
        .block_data(b"tuple ")
        .block_data(b"header");
    builder.block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(8)));
    builder
        .block(BlockRef {
            will_init: true,
            ..BlockRef::new(OTHER_REL, ForkNumber::VisibilityMap, BlockNumber(0))
        })
        .image_without_hole(&pages[1])
        .block_data(&[9; 300]);
    builder.main_data(b"xl_heap_").main_data(b"update");
    encode(&builder, Lsn(0x1_0000_0028))
}

#[test]
fn crc32c_has_the_castagnoli_check_value() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn round_trip_keeps_blocks_images_with_holes_and_data() {
    let pages = [page_with_hole(64, 8000, 3), page_with_hole(0, 0, 5)];
    let bytes = heap_record(&pages);
    let record = DecodedRecord::decode(&bytes).unwrap();
    assert_eq!(
        (record.rmgr(), record.info(), record.xid()),
        (RmgrId::Heap, 0x20, 731)
    );
    assert_eq!(record.prev(), Lsn(0x1_0000_0028));
    assert_eq!(record.total_len() as usize, bytes.len());
    assert_eq!(record.main_data(), b"xl_heap_update");
    let blocks = record.blocks();
    assert_eq!(blocks.len(), 3);
    assert_eq!(
        blocks[0].block_ref,
        BlockRef::new(REL, ForkNumber::Main, BlockNumber(7))
    );
    assert_eq!(blocks[0].data, b"tuple header");
    let image = blocks[0].image.unwrap();
    assert_eq!(
        (image.hole_offset, image.hole_length, image.apply),
        (64, 7936, true)
    );
    assert_eq!(image.bytes.len(), BLCKSZ - 7936);
    let mut restored = [0xFFu8; BLCKSZ];
    image.restore(&mut restored);
    assert_eq!(restored, pages[0]);
    assert_eq!(
        (blocks[1].block_ref.block, blocks[1].image, blocks[1].data),
        (BlockNumber(8), None, &[][..])
    );
    assert_eq!(blocks[2].block_ref.rel, OTHER_REL);
    assert!(blocks[2].block_ref.will_init);
    let image = blocks[2].image.unwrap();
    assert_eq!(
        (image.hole_offset, image.hole_length, image.bytes.len()),
        (0, 0, BLCKSZ)
    );
    image.restore(&mut restored);
    assert_eq!(restored, pages[1]);
    assert_eq!(blocks[2].data, &[9; 300][..]);
    assert_eq!(record.block(2), Some(&blocks[2]));
    assert_eq!(record.block(3), None);
}

#[test]
fn header_layout_and_crc_order_match_postgres() {
    let bytes = heap_record(&[page_with_hole(64, 8000, 3), page_with_hole(0, 0, 5)]);
    assert_eq!(read_u32(&bytes, 0) as usize, bytes.len());
    assert_eq!(read_u32(&bytes, 4), 731);
    assert_eq!(read_u64(&bytes, 8), 0x1_0000_0028);
    assert_eq!(&bytes[16..20], &[0x20, RmgrId::Heap as u8, 0, 0]);
    // Payload first, then the header up to xl_crc.
    let crc_input = [&bytes[24..], &bytes[..20]].concat();
    assert_eq!(read_u32(&bytes, 20), crc32c(&crc_input));
    // Block 1 repeats block 0's relation: BKPBLOCK_SAME_REL, no RelFileNode.
    let block1 = 24 + SIZE_OF_BLOCK_HEADER + SIZE_OF_IMAGE_HEADER + 12 + 4;
    assert_eq!(bytes[block1], 1);
    assert_eq!(bytes[block1 + 1], BKPBLOCK_SAME_REL);
}

#[test]
fn empty_and_long_main_data_records_round_trip() {
    let bytes = encode(&RecordBuilder::new(RmgrId::Xlog, 0, 0), Lsn::INVALID);
    assert_eq!(bytes.len(), SIZE_OF_RECORD_HEADER);
    let record = DecodedRecord::decode(&bytes).unwrap();
    assert!(record.blocks().is_empty() && record.main_data().is_empty());

    let main: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let bytes = encode(
        RecordBuilder::new(RmgrId::Xact, 0x10, 9).main_data(&main),
        Lsn(8),
    );
    assert_eq!(bytes[24], XLR_BLOCK_ID_DATA_LONG);
    assert_eq!(bytes.len(), 24 + 5 + 1000);
    assert_eq!(
        DecodedRecord::decode(&bytes).unwrap().main_data(),
        &main[..]
    );
}

#[test]
fn assemble_then_finish_equals_encode() {
    let page = page_with_hole(100, 200, 1);
    let mut builder = RecordBuilder::new(RmgrId::Btree, 0x30, 5);
    builder
        .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(1)))
        .image(&page);
    builder.main_data(b"split");
    let mut assembled = vec![0xEE; 3]; // appends after what is there
    let record = builder.assemble(&mut assembled).unwrap();
    assert_eq!(record.len, builder.total_len().unwrap());
    record.finish(&mut assembled[3..], Lsn(0x2_0000_0040));
    assert_eq!(&assembled[3..], &encode(&builder, Lsn(0x2_0000_0040))[..]);
}

#[test]
fn every_flipped_bit_is_detected() {
    let page = page_with_hole(40, 8100, 7);
    let mut builder = RecordBuilder::new(RmgrId::Heap, 0x00, 77);
    builder
        .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(3)))
        .image(&page)
        .block_data(b"row");
    builder.main_data(b"insert");
    let bytes = encode(&builder, Lsn(0x100_0028));
    let mut damaged = bytes.clone();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            damaged[i] ^= 1 << bit;
            assert!(
                DecodedRecord::decode(&damaged).is_err(),
                "byte {i} bit {bit}"
            );
            damaged[i] ^= 1 << bit;
        }
    }
}

#[test]
fn limits_are_errors_not_panics() {
    let mut builder = RecordBuilder::new(RmgrId::Heap, 0, 1);
    for block in 0..=MAX_BLOCK_REFS as u32 {
        builder
            .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(block)))
            .block_data(b"x");
    }
    assert_eq!(builder.total_len(), Err(EncodeError::TooManyBlockRefs));

    let big = vec![0u8; MAX_BLOCK_DATA + 1];
    let mut builder = RecordBuilder::new(RmgrId::Heap, 0, 1);
    builder
        .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(0)))
        .block_data(&big);
    let error = builder.encode(Lsn(8), &mut Vec::new()).unwrap_err();
    assert_eq!(
        error,
        EncodeError::BlockDataTooLong {
            block_id: 0,
            len: 65536
        }
    );

    let huge = vec![0u8; MAX_RECORD_SIZE as usize];
    let mut out = Vec::new();
    let result = RecordBuilder::new(RmgrId::Xact, 0, 1)
        .main_data(&huge)
        .encode(Lsn(8), &mut out);
    assert!(matches!(result, Err(EncodeError::RecordTooLong { .. })));
    assert!(
        out.is_empty(),
        "nothing written for a record over the limit"
    );

    let mut builder = RecordBuilder::new(RmgrId::Xact, 0, 1);
    for _ in 0..=MAX_DATA_CHUNKS {
        builder.main_data(b"piece");
    }
    assert_eq!(builder.total_len(), Err(EncodeError::TooManyDataChunks));
    let invalid_info = RecordBuilder::new(RmgrId::Xact, 0x04, 1).total_len();
    assert_eq!(invalid_info, Err(EncodeError::InvalidInfo { info: 0x04 }));
}

#[test]
fn header_errors_read_like_postgres() {
    let at = |error: RecordError| error.at(Lsn(0x300_0060)).to_string();
    let zero = RecordHeader::parse(&[0; 24]).validate().unwrap_err();
    assert_eq!(
        at(zero),
        "invalid record length at 0/3000060: wanted 24, got 0"
    );
    let mut bytes = encode(&RecordBuilder::new(RmgrId::Xlog, 0, 0), Lsn::INVALID);
    bytes[XL_RMID] = 99;
    fix_crc(&mut bytes);
    let bad_rmgr = DecodedRecord::decode(&bytes).unwrap_err();
    assert_eq!(at(bad_rmgr), "invalid resource manager ID 99 at 0/3000060");
    let too_long = check_tot_len(MAX_RECORD_SIZE + 1).unwrap_err();
    assert_eq!(at(too_long), "record length 67108865 at 0/3000060 too long");
    let prev = RecordError::BadPrevLink {
        prev: Lsn(0x300_0028),
    };
    assert_eq!(
        at(prev),
        "record with incorrect prev-link 0/3000028 at 0/3000060"
    );
    assert_eq!(
        at(RecordError::BadChecksum),
        "incorrect resource manager data checksum in record at 0/3000060"
    );
    assert_eq!(
        RecordError::ShortData.to_string(),
        "record with invalid length"
    );
}

/// A record with one block (no image unless asked) and main data, whose header
/// bytes a test then damages (the CRC is fixed up, so the block checks must
/// catch it).
fn damaged(with_image: bool, damage: impl FnOnce(&mut Vec<u8>)) -> RecordError {
    let page = page_with_hole(100, 7000, 2);
    let mut builder = RecordBuilder::new(RmgrId::Heap, 0, 1);
    builder
        .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(1)))
        .block_data(b"d");
    if with_image {
        builder.image(&page);
    }
    builder.main_data(b"main");
    let mut bytes = encode(&builder, Lsn(8));
    damage(&mut bytes);
    fix_crc(&mut bytes);
    DecodedRecord::decode(&bytes).unwrap_err()
}

#[test]
fn malformed_block_headers_are_rejected() {
    const FLAGS: usize = 25;
    const IMAGE: usize = 28; // bimg_len u16, hole_offset u16, bimg_info u8
    assert_eq!(
        damaged(false, |b| b[24] = 40),
        RecordError::InvalidBlockId { id: 40 }
    );
    assert_eq!(
        damaged(false, |b| b[FLAGS] |= BKPBLOCK_SAME_REL),
        RecordError::NoPreviousRel
    );
    assert_eq!(
        damaged(false, |b| b[FLAGS] |= 0x07),
        RecordError::InvalidFork { fork: 7 }
    );
    assert_eq!(
        damaged(false, |b| b[FLAGS] &= !BKPBLOCK_HAS_DATA),
        RecordError::DataWithoutFlag { len: 1 }
    );
    assert_eq!(
        damaged(false, |b| b[26] = 0),
        RecordError::DataFlagWithoutData
    );
    assert_eq!(damaged(false, |b| b[26] = 2), RecordError::ShortData);
    assert_eq!(damaged(false, |b| b.push(0)), RecordError::ShortData);
    let hole = |offset: u16, info: u8| {
        move |b: &mut Vec<u8>| {
            b[IMAGE + 2..IMAGE + 4].copy_from_slice(&offset.to_le_bytes());
            b[IMAGE + 4] = info;
        }
    };
    let image_len = (BLCKSZ - 6900) as u16;
    assert_eq!(
        damaged(true, hole(0, BKPIMAGE_HAS_HOLE)),
        RecordError::BadHole {
            offset: 0,
            length: 6900,
            image_len
        }
    );
    assert_eq!(
        damaged(true, hole(100, 0)),
        RecordError::HoleWithoutFlag { offset: 100 }
    );
    assert_eq!(
        damaged(true, hole(0, 0)),
        RecordError::ImageLength { len: image_len }
    );
    assert_eq!(
        damaged(true, hole(100, 0x83)),
        RecordError::ImageInfo { info: 0x83 }
    );
    let message = damaged(true, hole(0, BKPIMAGE_HAS_HOLE))
        .at(Lsn(0x100_0028))
        .to_string();
    assert_eq!(
        message,
        "BKPIMAGE_HAS_HOLE set, but hole offset 0 length 6900 block image length 1292 at 0/1000028"
    );
}

#[test]
fn out_of_order_block_ids_are_rejected() {
    let mut builder = RecordBuilder::new(RmgrId::Heap, 0, 1);
    builder.block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(1)));
    builder.block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(2)));
    let mut bytes = encode(&builder, Lsn(8));
    let second = 24 + SIZE_OF_BLOCK_HEADER + SIZE_OF_REL_FILE_NODE + SIZE_OF_BLOCK_NUMBER;
    bytes[second] = 0;
    fix_crc(&mut bytes);
    let error = DecodedRecord::decode(&bytes).unwrap_err();
    assert_eq!(error, RecordError::OutOfOrderBlockId { id: 0 });
}

#[test]
fn random_records_round_trip() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let pages: Vec<[u8; BLCKSZ]> = (0..4)
        .map(|i| page_with_hole(24 + 8 * i, 8192 - 512 * i, i as u8))
        .collect();
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    for round in 0..500 {
        let mut builder = RecordBuilder::new(RmgrId::ALL[next(8) as usize], 0x10, round);
        let n_blocks = next(5) as u32;
        let mut expected = Vec::new();
        for i in 0..n_blocks {
            let rel = if next(2) == 0 { REL } else { OTHER_REL };
            let block_ref = BlockRef::new(rel, ForkNumber::Main, BlockNumber(i * 3));
            builder.block(block_ref);
            let image = next(3) == 0;
            if image {
                builder.image(&pages[next(4) as usize]);
            }
            let len = [0, 1, 200, 65535][next(4) as usize];
            builder.block_data(&data[..len]);
            expected.push((block_ref, image, len));
        }
        let main_len = [0, 1, 255, 256, 5000][next(5) as usize];
        builder.main_data(&data[..main_len]);
        let bytes = encode(&builder, Lsn(u64::from(round) * 8));
        let record = DecodedRecord::decode(&bytes).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(record.main_data(), &data[..main_len], "round {round}");
        assert_eq!(record.blocks().len(), expected.len());
        for (block, (block_ref, image, len)) in record.blocks().iter().zip(expected) {
            assert_eq!((block.block_ref, block.image.is_some()), (block_ref, image));
            assert_eq!(block.data, &data[..len], "round {round}");
        }
    }
}
