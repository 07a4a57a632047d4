//! Data page checksums: PostgreSQL's algorithm (`storage/checksum_impl.h`), bit for
//! bit, so `pg_checksums` and PostgreSQL agree with us about every page.
//!
//! The page is read as 2048 little-endian u32 words arranged as 64 rows of 32
//! columns. Each column j feeds its own FNV-1a-like running hash, seeded with a fixed
//! base offset:
//!
//! ```text
//!   sums[j] = BASE_OFFSETS[j]
//!   for row in 0..64, for j in 0..32:  mix(sums[j], word[row * 32 + j])
//!   2 more rounds:                     mix(sums[j], 0)          (extra mixing)
//!   result  = sums[0] ^ sums[1] ^ … ^ sums[31]
//!   mix(s, v):  t = s ^ v;  s = t * FNV_PRIME ^ (t >> 17)         (wrapping)
//!
//!   pd_checksum = ((result ^ block_number) % 65535) + 1            (never 0)
//! ```
//!
//! The hash is computed as if `pd_checksum` (bytes 8..10) were zero, so the stored
//! value does not feed itself. Mixing in the block number catches a page written to the
//! wrong place. Thirty-two independent columns let the compiler vectorize the loop.
//!
//! When checksums are on, the buffer manager sets the checksum just before a page is
//! written ([`set_checksum`]) and checks it just after one is read ([`verify_checksum`],
//! usually via `Page::verify`). A page of all zeros — a block extended but never
//! written — carries no checksum and verifies.

use crate::storage::page::{PageBytes, BLCKSZ};

/// Number of parallel partial sums (columns).
const N_SUMS: usize = 32;
/// The FNV-1a 32-bit prime.
const FNV_PRIME: u32 = 16_777_619;
/// Byte offset of `pd_checksum` in the page header, and the word that holds it.
const PD_CHECKSUM_OFFSET: usize = 8;
const PD_CHECKSUM_WORD: usize = PD_CHECKSUM_OFFSET / 4;

const _: () = assert!(BLCKSZ.is_multiple_of(4 * N_SUMS));

/// Seeds for the 32 partial sums: the fixed table from PostgreSQL's checksum_impl.h,
/// needed verbatim for on-disk compatibility.
const BASE_OFFSETS: [u32; N_SUMS] = [
    0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
    0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
    0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
    0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756,
];

#[inline(always)]
fn mix(sum: u32, value: u32) -> u32 {
    let tmp = sum ^ value;
    tmp.wrapping_mul(FNV_PRIME) ^ (tmp >> 17)
}

/// The 32-bit block hash (`pg_checksum_block`), with pd_checksum taken as zero.
fn checksum_block(page: &PageBytes) -> u32 {
    let mut sums = BASE_OFFSETS;
    for (row_index, row) in page.chunks_exact(4 * N_SUMS).enumerate() {
        for (j, sum) in sums.iter_mut().enumerate() {
            let at = 4 * j;
            let mut word = u32::from_le_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]]);
            if row_index == 0 && j == PD_CHECKSUM_WORD {
                word &= 0xFFFF_0000; // pd_checksum (low half) counts as zero
            }
            *sum = mix(*sum, word);
        }
    }
    for _ in 0..2 {
        for sum in sums.iter_mut() {
            *sum = mix(*sum, 0);
        }
    }
    sums.iter().fold(0, |acc, &sum| acc ^ sum)
}

/// The checksum PostgreSQL would store in `pd_checksum` for this page at block
/// `blkno` (`pg_checksum_page`). Defined for initialized pages; the stored checksum
/// field itself is ignored.
pub fn pg_checksum_page(page: &PageBytes, blkno: u32) -> u16 {
    let checksum = checksum_block(page) ^ blkno;
    ((checksum % 65535) + 1) as u16
}

/// Stores the page's checksum in `pd_checksum`, just before the page is written.
pub fn set_checksum(page: &mut PageBytes, blkno: u32) {
    let checksum = pg_checksum_page(page, blkno);
    page[PD_CHECKSUM_OFFSET..PD_CHECKSUM_OFFSET + 2].copy_from_slice(&checksum.to_le_bytes());
}

/// Whether the stored checksum matches (as `PageIsVerified` with checksums on). An
/// all-zero page verifies; any other page whose `pd_upper` is 0 (not initialized,
/// but not zero either) does not.
pub fn verify_checksum(page: &PageBytes, blkno: u32) -> bool {
    let stored = u16::from_le_bytes([page[PD_CHECKSUM_OFFSET], page[PD_CHECKSUM_OFFSET + 1]]);
    let pd_upper = u16::from_le_bytes([page[14], page[15]]);
    if pd_upper != 0 && pg_checksum_page(page, blkno) == stored {
        return true;
    }
    page.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::page::{Page, PageMut};

    const PG15_HEAP_PAGE: &PageBytes = include_bytes!("testdata/pg15_heap_page.bin");
    const PG15_PRUNED_PAGE: &PageBytes = include_bytes!("testdata/pg15_pruned_page.bin");

    #[test]
    fn matches_checksums_written_by_postgres_15() {
        // Both fixtures are block 0 of tables in a cluster made with `initdb -k`.
        for page in [PG15_HEAP_PAGE, PG15_PRUNED_PAGE] {
            let stored = Page::new(page).checksum();
            assert_ne!(stored, 0);
            assert_eq!(pg_checksum_page(page, 0), stored);
            assert!(verify_checksum(page, 0));
        }
        assert_eq!(Page::new(PG15_HEAP_PAGE).checksum(), 0xED9A);
    }

    #[test]
    fn block_number_is_mixed_in() {
        assert!(!verify_checksum(PG15_HEAP_PAGE, 1));
        assert_ne!(
            pg_checksum_page(PG15_HEAP_PAGE, 0),
            pg_checksum_page(PG15_HEAP_PAGE, 1)
        );
    }

    #[test]
    fn stored_checksum_does_not_feed_itself() {
        let mut page = *PG15_HEAP_PAGE;
        page[8] ^= 0xFF;
        assert_eq!(
            pg_checksum_page(&page, 0),
            pg_checksum_page(PG15_HEAP_PAGE, 0)
        );
        assert!(!verify_checksum(&page, 0));
        set_checksum(&mut page, 0);
        assert_eq!(page, *PG15_HEAP_PAGE);
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        // Flip one bit in each of a spread of positions: header, line pointers, tuple
        // data, the last byte.
        for at in [
            0usize,
            9 * 8 + 3,
            10 * 8,
            100 * 8 + 7,
            4000 * 8,
            8191 * 8 + 7,
        ] {
            let mut page = *PG15_HEAP_PAGE;
            page[at / 8] ^= 1 << (at % 8);
            assert!(!verify_checksum(&page, 0), "bit {at} flip not detected");
        }
    }

    #[test]
    fn all_zero_page_verifies_but_uninitialized_garbage_does_not() {
        let mut page = [0u8; BLCKSZ];
        assert!(verify_checksum(&page, 7));
        page[4000] = 1; // pd_upper still 0
        assert!(!verify_checksum(&page, 7));
    }

    #[test]
    fn checksum_is_never_zero_and_round_trips() {
        let mut page = [0u8; BLCKSZ];
        PageMut::new(&mut page).init(0);
        for blkno in [0u32, 1, 2, 1000, u32::MAX] {
            set_checksum(&mut page, blkno);
            let stored = Page::new(&page).checksum();
            assert_ne!(stored, 0);
            assert!(verify_checksum(&page, blkno));
        }
    }
}
