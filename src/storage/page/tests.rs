//! Page layout, item and checksum behaviour, pinned against PostgreSQL's bytes.

use super::*;
use crate::storage::checksum;

const PG15_HEAP_PAGE: &PageBytes = include_bytes!("../testdata/pg15_heap_page.bin");
const PG15_PRUNED_PAGE: &PageBytes = include_bytes!("../testdata/pg15_pruned_page.bin");

fn empty_page() -> Box<PageBytes> {
    let mut page = Page::new(Box::new([0u8; BLCKSZ]));
    page.init(0);
    page.into_inner()
}

#[test]
fn reads_header_and_line_pointers_of_a_postgres_15_heap_page() {
    // Values as pageinspect's page_header/heap_page_items printed them.
    let page = Page::new(PG15_HEAP_PAGE);
    assert_eq!(page.lsn(), Lsn::parse("0/17D2BD0").unwrap());
    assert_eq!(
        (page.lower(), page.upper(), page.special()),
        (48, 7592, 8192)
    );
    assert_eq!(page.page_size_version(), PAGE_SIZE_VERSION);
    assert_eq!(page.prune_xid(), 732);
    assert_eq!(page.flags(), 0);
    assert_eq!(page.max_offset(), OffsetNumber(6));
    let expected = [
        (8120, 69),
        (8056, 60),
        (7808, 244),
        (7736, 65),
        (7664, 72),
        (7592, 68),
    ];
    for (i, (off, len)) in expected.into_iter().enumerate() {
        let id = page.item_id(OffsetNumber(i as u16 + 1)).unwrap();
        assert_eq!(
            (id.flags(), id.offset(), id.len()),
            (LpFlags::Normal, off, len)
        );
        assert_eq!(
            page.item(OffsetNumber(i as u16 + 1)).unwrap().len(),
            usize::from(len)
        );
    }
    assert_eq!(page.item_id(OffsetNumber(7)), None);
    assert_eq!(page.item(OffsetNumber(0)), None);
    page.verify_header().unwrap();
    page.verify_items().unwrap();
    page.verify(0, true).unwrap();
    assert_eq!(page.free_space(), 7592 - 48 - 4);
}

#[test]
fn reads_redirect_and_unused_pointers_of_a_vacuumed_postgres_page() {
    let page = Page::new(PG15_PRUNED_PAGE);
    assert_eq!(page.flags(), PD_HAS_FREE_LINES | PD_ALL_VISIBLE);
    assert_eq!((page.lower(), page.upper()), (56, 8032));
    assert_eq!(
        page.item_id(OffsetNumber(1)).unwrap().redirect_target(),
        Some(OffsetNumber(8))
    );
    for off in [2, 4, 7] {
        assert_eq!(page.item_id(OffsetNumber(off)), Some(ItemId::UNUSED));
        assert_eq!(page.item(OffsetNumber(off)), None);
    }
    assert_eq!(page.item(OffsetNumber(8)).unwrap().len(), 34);
    page.verify_items().unwrap();
    page.verify(0, true).unwrap();
}

#[test]
fn add_item_reuses_the_first_unused_pointer_as_postgres_does() {
    let mut bytes = *PG15_PRUNED_PAGE;
    let mut page = PageMut::new(&mut bytes);
    assert_eq!(page.add_heap_item(&[7u8; 30], None), Some(OffsetNumber(2)));
    assert_eq!(page.lower(), 56, "no new line pointer needed");
    assert_eq!(page.upper(), 8032 - 32);
    assert_eq!(page.add_heap_item(&[8u8; 30], None), Some(OffsetNumber(4)));
    assert_eq!(page.add_heap_item(&[9u8; 30], None), Some(OffsetNumber(7)));
    assert_eq!(page.add_heap_item(&[1u8; 30], None), Some(OffsetNumber(9)));
    assert_eq!(page.lower(), 60);
    assert_eq!(page.item(OffsetNumber(4)).unwrap(), &[8u8; 30]);
}

#[test]
fn repair_fragmentation_reproduces_postgres_compaction() {
    // PostgreSQL's VACUUM left this page compacted; compacting again must keep the
    // header, line pointers and tuple area byte for byte.
    let mut bytes = *PG15_PRUNED_PAGE;
    PageMut::new(&mut bytes).repair_fragmentation().unwrap();
    let lower = usize::from(Page::new(PG15_PRUNED_PAGE).lower());
    let upper = usize::from(Page::new(PG15_PRUNED_PAGE).upper());
    assert_eq!(bytes[..lower], PG15_PRUNED_PAGE[..lower]);
    assert_eq!(bytes[upper..], PG15_PRUNED_PAGE[upper..]);
}

#[test]
fn init_formats_an_empty_page() {
    let mut bytes = [0xAAu8; BLCKSZ];
    let mut page = PageMut::new(&mut bytes);
    page.init(10);
    assert_eq!(
        (page.lower(), page.upper(), page.special()),
        (24, 8176, 8176)
    );
    assert_eq!(page.special_space().unwrap().len(), 16);
    assert_eq!(page.max_offset(), OffsetNumber(0));
    assert_eq!(page.free_space(), 8176 - 24 - 4);
    assert!(!page.is_new());
    page.verify_header().unwrap();
    assert!(page.bytes()[24..].iter().all(|&b| b == 0));
}

#[test]
fn lsn_round_trips_as_two_halves() {
    let mut page = Page::new(empty_page());
    page.set_lsn(Lsn(0x0000_0001_2345_6789));
    assert_eq!(page.lsn(), Lsn(0x0000_0001_2345_6789));
    assert_eq!(page.bytes()[..8], [1, 0, 0, 0, 0x89, 0x67, 0x45, 0x23]);
}

#[test]
fn add_item_packs_maxaligned_items_downward() {
    let mut page = Page::new(empty_page());
    assert_eq!(page.add_item(b"hello", None), Some(OffsetNumber(1)));
    assert_eq!(page.add_item(&[1u8; 16], None), Some(OffsetNumber(2)));
    assert_eq!((page.lower(), page.upper()), (32, 8192 - 8 - 16));
    let id = page.item_id(OffsetNumber(1)).unwrap();
    assert_eq!(
        (id.offset(), id.len(), id.flags()),
        (8184, 5, LpFlags::Normal)
    );
    assert_eq!(page.item(OffsetNumber(1)).unwrap(), b"hello");
    page.item_mut(OffsetNumber(1)).unwrap()[0] = b'j';
    assert_eq!(page.item(OffsetNumber(1)).unwrap(), b"jello");
    assert_eq!(page.free_space(), 8168 - 32 - 4);
}

#[test]
fn add_item_refuses_what_does_not_fit_and_changes_nothing() {
    let mut page = Page::new(empty_page());
    let big = vec![0x55u8; 8000];
    assert_eq!(page.add_item(&big, None), Some(OffsetNumber(1)));
    let before = *page.bytes();
    let left = page.free_space();
    assert_eq!(page.add_item(&vec![1u8; left + 1], None), None);
    assert_eq!(*page.bytes(), before);
    assert_eq!(page.add_item(&vec![1u8; left], None), Some(OffsetNumber(2)));
    assert_eq!(page.free_space(), 0);
    assert_eq!(page.add_item(&[], None), None);
}

#[test]
fn add_item_at_an_explicit_offset_only_takes_free_slots() {
    let mut page = Page::new(empty_page());
    assert_eq!(
        page.add_item(b"a", Some(OffsetNumber(2))),
        None,
        "beyond the end"
    );
    assert_eq!(
        page.add_item(b"a", Some(OffsetNumber(1))),
        Some(OffsetNumber(1))
    );
    assert_eq!(
        page.add_item(b"b", Some(OffsetNumber(1))),
        None,
        "slot in use"
    );
    assert_eq!(
        page.add_item(b"b", Some(OffsetNumber(2))),
        Some(OffsetNumber(2))
    );
    page.set_item_unused(OffsetNumber(1)).unwrap();
    assert_eq!(
        page.add_item(b"c", Some(OffsetNumber(1))),
        Some(OffsetNumber(1))
    );
    assert_eq!(page.add_item(b"d", Some(OffsetNumber(0))), None);
    page.set_item_dead(OffsetNumber(2)).unwrap();
    assert_eq!(
        page.add_item(b"d", Some(OffsetNumber(2))),
        None,
        "dead is still used"
    );
}

#[test]
fn heap_pages_hold_at_most_291_line_pointers() {
    let mut page = Page::new(empty_page());
    for i in 1..=MAX_HEAP_TUPLES_PER_PAGE {
        assert_eq!(
            page.add_heap_item(&[1u8], None),
            Some(OffsetNumber(i as u16))
        );
    }
    assert!(page.free_space() > 0);
    assert_eq!(page.heap_free_space(), 0);
    assert_eq!(page.add_heap_item(&[1u8], None), None);
    page.set_item_unused(OffsetNumber(10)).unwrap();
    assert_eq!(
        page.heap_free_space(),
        0,
        "the free-lines hint is not set yet"
    );
    page.repair_fragmentation().unwrap();
    assert!(page.heap_free_space() > 0);
    assert_eq!(page.add_heap_item(&[2u8], None), Some(OffsetNumber(10)));
    assert_eq!(
        page.add_item(&[3u8], None),
        Some(OffsetNumber(292)),
        "non-heap pages may"
    );
}

#[test]
fn a_stale_free_lines_hint_is_cleared() {
    let mut page = Page::new(empty_page());
    page.add_item(b"x", None).unwrap();
    page.set_has_free_line_pointers(true);
    assert_eq!(page.add_item(b"y", None), Some(OffsetNumber(2)));
    assert!(!page.has_free_line_pointers());
}

#[test]
fn line_pointer_state_changes() {
    let mut page = Page::new(empty_page());
    for item in [b"one", b"two", b"thr"] {
        page.add_item(item, None).unwrap();
    }
    page.mark_item_dead(OffsetNumber(1)).unwrap();
    let id = page.item_id(OffsetNumber(1)).unwrap();
    assert!(id.is_dead() && id.has_storage());
    assert_eq!(page.item(OffsetNumber(1)).unwrap(), b"one");
    page.set_item_dead(OffsetNumber(1)).unwrap();
    assert!(!page.item_id(OffsetNumber(1)).unwrap().has_storage());
    page.set_item_redirect(OffsetNumber(2), OffsetNumber(3))
        .unwrap();
    assert_eq!(
        page.item_id(OffsetNumber(2)).unwrap().redirect_target(),
        Some(OffsetNumber(3))
    );
    assert_eq!(page.item(OffsetNumber(2)), None);
    let out_of_range = PageError::OffsetOutOfRange {
        offset: OffsetNumber(4),
        max: OffsetNumber(3),
    };
    assert_eq!(
        page.set_item_unused(OffsetNumber(4)),
        Err(out_of_range.clone())
    );
    assert_eq!(
        page.set_item_redirect(OffsetNumber(1), OffsetNumber(4)),
        Err(out_of_range)
    );
    page.verify_items().unwrap();
}

#[test]
fn repair_fragmentation_compacts_and_keeps_offsets() {
    let mut page = Page::new(empty_page());
    let items: Vec<Vec<u8>> = (1..=6u8).map(|i| vec![i; usize::from(i) * 5]).collect();
    for item in &items {
        page.add_item(item, None).unwrap();
    }
    page.set_item_unused(OffsetNumber(2)).unwrap();
    page.set_item_dead(OffsetNumber(4)).unwrap();
    page.mark_item_dead(OffsetNumber(5)).unwrap();
    page.repair_fragmentation().unwrap();
    let live = [1usize, 3, 5, 6];
    let used: usize = live.iter().map(|&i| maxalign(items[i - 1].len())).sum();
    assert_eq!(usize::from(page.upper()), BLCKSZ - used);
    for i in live {
        assert_eq!(
            page.item(OffsetNumber(i as u16)).unwrap(),
            &items[i - 1][..]
        );
    }
    assert!(
        page.item_id(OffsetNumber(5)).unwrap().is_dead(),
        "dead-with-storage kept"
    );
    // Physical order preserved: a lower offset number still sits higher in the page.
    let offs: Vec<u16> = live
        .iter()
        .map(|&i| page.item_id(OffsetNumber(i as u16)).unwrap().offset())
        .collect();
    assert!(offs.windows(2).all(|w| w[0] > w[1]));
    assert!(page.has_free_line_pointers());
    assert_eq!(
        page.max_offset(),
        OffsetNumber(6),
        "unused pointers are not removed"
    );
    page.verify_items().unwrap();
}

#[test]
fn repair_fragmentation_of_an_empty_item_set_resets_upper() {
    let mut page = Page::new(empty_page());
    page.add_item(b"abc", None).unwrap();
    page.set_item_dead(OffsetNumber(1)).unwrap();
    page.repair_fragmentation().unwrap();
    assert_eq!(page.upper(), 8192);
    assert!(!page.has_free_line_pointers());
}

#[test]
fn corrupt_line_pointers_are_errors_not_crashes() {
    let mut page = Page::new(empty_page());
    page.add_item(b"abcdef", None).unwrap();
    page.add_item(b"ghijkl", None).unwrap();
    // Point item 2 past the end of the page.
    let bad = ItemId::new(8190, LpFlags::Normal, 100);
    page.bytes_mut()[28..32].copy_from_slice(&bad.raw().to_le_bytes());
    assert_eq!(page.item(OffsetNumber(2)), None);
    assert!(page.item_mut(OffsetNumber(2)).is_none());
    let err = page.checked_item(OffsetNumber(2)).unwrap_err();
    assert!(matches!(err, PageError::CorruptedLinePointer { .. }));
    assert_eq!(page.verify_items().unwrap_err(), err);
    let before = *page.bytes();
    assert_eq!(page.repair_fragmentation().unwrap_err(), err);
    assert_eq!(*page.bytes(), before, "nothing moved");
    let qe: QuillError = err.into();
    assert!(format!("{qe:?}").contains("XX001"));
}

#[test]
fn corrupt_pd_lower_cannot_index_past_the_page() {
    let mut page = Page::new(empty_page());
    page.bytes_mut()[PD_LOWER..PD_LOWER + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    assert_eq!(usize::from(page.max_offset().0), MAX_LINE_POINTERS);
    for off in 1..=u16::MAX {
        let _ = page.item(OffsetNumber(off));
    }
    assert!(page.verify_header().is_err());
    assert_eq!(page.add_item(b"x", None), None);
    assert_eq!(page.free_space(), 0);
    assert!(page.repair_fragmentation().is_err());
}

#[test]
fn verify_header_checks_pointers_flags_and_version() {
    assert_eq!(Page::new(&[0u8; BLCKSZ]).verify_header(), Ok(()));
    assert!(Page::new(&[0u8; BLCKSZ]).is_new());
    let corrupt = |edit: &dyn Fn(&mut PageBytes)| {
        let mut bytes = *empty_page();
        edit(&mut bytes);
        Page::new(&bytes).verify_header()
    };
    let err = corrupt(&|b| write_u16(b, PD_LOWER, 9000)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "corrupted page pointers: lower = 9000, upper = 8192, special = 8192"
    );
    assert!(corrupt(&|b| write_u16(b, PD_LOWER, 20)).is_err());
    assert!(corrupt(&|b| write_u16(b, PD_UPPER, 8200)).is_err());
    assert!(
        corrupt(&|b| write_u16(b, PD_SPECIAL, 8100)).is_err(),
        "unaligned special"
    );
    assert_eq!(
        corrupt(&|b| write_u16(b, PD_FLAGS, 8)),
        Err(PageError::InvalidFlags(8))
    );
    assert!(corrupt(&|b| write_u16(b, PD_PAGESIZE_VERSION, 8192 | 3)).is_err());
    // Not initialized, yet not zero: garbage.
    assert!(corrupt(&|b| write_u16(b, PD_UPPER, 0)).is_err());
}

#[test]
fn verify_checks_the_checksum_when_enabled() {
    let mut bytes = *PG15_HEAP_PAGE;
    bytes[8000] ^= 0x10;
    let page = Page::new(&bytes);
    page.verify(0, false).unwrap();
    let err = page.verify(0, true).unwrap_err();
    assert!(matches!(
        err,
        PageError::ChecksumMismatch { stored: 0xED9A, .. }
    ));
    assert!(err
        .to_string()
        .starts_with("page verification failed, calculated checksum"));
    Page::new(&[0u8; BLCKSZ]).verify(3, true).unwrap();
    let mut fresh = empty_page();
    checksum::set_checksum(&mut fresh, 3);
    Page::new(&*fresh).verify(3, true).unwrap();
}
