//! Tests of the heap's WAL records and redo: encoding, redo idempotence (applying the
//! log twice is applying it once, and reproduces the original pages byte for byte),
//! torn pages repaired from full-page images, and power loss at random points.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::access::heap::heapam::tests::{new_disk, row, row_id, snapshot, start, Node, Xids, REL};
use crate::access::heap::heapam::{
    heap_delete, heap_insert, heap_scan, heap_update, HeapUpdateResult,
};
use crate::access::heap::visibility::XidStatus;
use crate::storage::buffer::test_support::{test_pool, TestFlusher};
use crate::storage::fault::XorShift64Star;
use crate::storage::file_io::{FileIo, OpenMode};
use crate::storage::page::{PageBytes, BLCKSZ};
use crate::wal::reader::{WalDirectory, WalReader};
use crate::wal::segment::TimeLineId;
use crate::wal::xlog::WAL_DIR;

#[test]
fn records_encode_and_decode_round_trip() {
    let stamp = XmaxStamp {
        xmax: 0xDEAD_BEEF,
        cid: 7,
        infomask: 0x2902,
        infomask2: 0x2003,
        ctid: ItemPointer::new(BlockNumber(70_000), OffsetNumber(291)),
    };
    let insert = XlHeapInsert {
        offnum: OffsetNumber(5),
        flags: 1,
    };
    assert_eq!(XlHeapInsert::decode(&insert.encode()).unwrap(), insert);
    let delete = XlHeapDelete {
        offnum: OffsetNumber(9),
        stamp,
    };
    assert_eq!(XlHeapDelete::decode(&delete.encode()).unwrap(), delete);
    let update = XlHeapUpdate {
        old_offnum: OffsetNumber(3),
        new_offnum: OffsetNumber(4),
        stamp,
    };
    assert_eq!(XlHeapUpdate::decode(&update.encode()).unwrap(), update);
    assert!(XlHeapDelete::decode(&update.encode()).is_err());
}

/// Every page of `REL` in `pool`, with the checksum field zeroed (it is set only on
/// the copy written to disk).
fn page_images(pool: &BufferPool) -> Vec<Box<PageBytes>> {
    let nblocks = pool.smgr().nblocks(REL, ForkNumber::Main).unwrap();
    (0..nblocks)
        .map(|b| {
            let buf = pool
                .read_buffer(REL, ForkNumber::Main, BlockNumber(b))
                .unwrap();
            let guard = buf.lock_shared();
            let mut page = Box::new(*guard);
            page[8..10].fill(0);
            page
        })
        .collect()
}

/// Applies every heap record of `node`'s WAL from `from` to `pool`; returns how many.
fn replay_all(node: &Node, from: Lsn, pool: &BufferPool) -> usize {
    let source = WalDirectory::new(Arc::clone(&node.io), WAL_DIR, TimeLineId::FIRST);
    let mut reader = WalReader::new(source, from);
    let mut n = 0;
    while let Some(rec) = reader.next_record().unwrap() {
        if rec.record.rmgr() == RmgrId::Heap {
            heap_redo(pool, rec.lsn, rec.end_lsn, &rec.record).unwrap();
            n += 1;
        }
    }
    n
}

/// Inserts, same-page and cross-page updates, deletes, with checkpoints in between
/// (so some records carry full-page images).
fn mixed_workload(node: &mut Node, rng: &mut XorShift64Star) {
    let oracle = Xids::all_committed();
    let mut live = Vec::new();
    for id in 0..300 {
        let xid = 10 + id as u32;
        let (pool, wal) = (&node.pool, &node.wal);
        match rng.below(10) {
            0..=5 => {
                let tid = heap_insert(pool, wal, REL, &row(id, rng.below(400) as usize, xid), true);
                live.push(tid.unwrap());
            }
            6..=7 if !live.is_empty() => {
                let i = rng.below(live.len() as u64) as usize;
                let new = row(id, rng.below(900) as usize, xid);
                let result = heap_update(pool, wal, REL, live[i], &new, 0, &oracle, true);
                match result.unwrap() {
                    HeapUpdateResult::Ok(tid) => live[i] = tid,
                    other => panic!("update: {other:?}"),
                }
            }
            8 if !live.is_empty() => {
                let tid = live.swap_remove(rng.below(live.len() as u64) as usize);
                let result = heap_delete(pool, wal, REL, tid, xid, 0, &oracle, true);
                assert_eq!(result.unwrap(), HeapUpdateResult::Ok(tid));
            }
            _ => node.checkpoint(),
        }
    }
}

#[test]
fn redo_twice_is_redo_once_and_rebuilds_the_pages_byte_for_byte() {
    for seed in 1..=4u64 {
        let mut node = start(&new_disk(), 32).unwrap();
        let first_checkpoint = node.control.checkpoint;
        mixed_workload(&mut node, &mut XorShift64Star::new(seed));
        node.flush_wal();
        let original = page_images(&node.pool);

        let replica_disk = new_disk();
        let replica = test_pool(32, Arc::new(replica_disk), Arc::new(TestFlusher::new()));
        let records = replay_all(&node, first_checkpoint, &replica);
        assert!(records >= 200, "seed {seed}: {records} heap records");
        let once = page_images(&replica);
        assert_eq!(replay_all(&node, first_checkpoint, &replica), records);
        let twice = page_images(&replica);
        assert!(once == twice, "seed {seed}: second replay changed pages");
        assert_eq!(once.len(), original.len(), "seed {seed}");
        for (b, (redone, orig)) in once.iter().zip(&original).enumerate() {
            assert!(redone == orig, "seed {seed}: block {b} differs after redo");
        }
    }
}

fn read_block(io: &dyn FileIo, block: u32) -> Box<PageBytes> {
    let file = io
        .open(Path::new("base/5/16384"), OpenMode::ReadWrite)
        .unwrap();
    let mut page = Box::new([0u8; BLCKSZ]);
    file.read_at(&mut page[..], u64::from(block) * BLCKSZ as u64)
        .unwrap();
    page
}

/// A page written after a checkpoint is torn (half new, half old) and the server
/// crashes: redo must restore it from the full-page image its first change after the
/// checkpoint logged, and every row is there once.
#[test]
fn torn_page_is_restored_from_its_full_page_image() {
    let disk = new_disk();
    let mut node = start(&disk, 16).unwrap();
    for id in 0..20 {
        heap_insert(&node.pool, &node.wal, REL, &row(id, 100, 5), true).unwrap();
    }
    node.checkpoint();
    let old = read_block(node.io.as_ref(), 0);
    heap_insert(&node.pool, &node.wal, REL, &row(20, 100, 5), true).unwrap();
    node.flush_wal();
    node.pool.flush_all_dirty(|_| {}).unwrap();
    let mut torn = read_block(node.io.as_ref(), 0);
    torn[BLCKSZ / 2..].copy_from_slice(&old[BLCKSZ / 2..]);
    assert!(
        Page::new(&*torn).verify(0, true).is_err(),
        "the tear must show"
    );
    let file = node
        .io
        .open(Path::new("base/5/16384"), OpenMode::ReadWrite)
        .unwrap();
    file.write_all_at(&torn[..], 0).unwrap();
    drop(file);
    drop(node);

    let node = start(&disk, 16).unwrap();
    assert!(node.outcome.crash_recovery);
    let mut ids: Vec<i32> = heap_scan(&node.pool, REL, &snapshot(&[]), &Xids::all_committed())
        .unwrap()
        .map(|r| row_id(&r.unwrap().1).0)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..=20).collect::<Vec<_>>());
}

/// One power-loss round: inserts with WAL flushes and checkpoints at random points,
/// then the power fails; after recovery every row whose WAL was flushed is there
/// exactly once, no other row is there twice, and every page on disk verifies with an
/// LSN within the durable WAL. With `evict`, a small pool and random page writes put
/// un-synced (tearable) data pages on disk too.
fn power_loss_round(seed: u64, evict: bool) {
    let disk = new_disk();
    let nbuffers = if evict { 4 } else { 64 };
    let mut node = start(&disk, nbuffers).unwrap();
    let mut rng = XorShift64Star::new(seed);
    let total = 30 + rng.below(170) as i32;
    let mut lens = HashMap::new();
    let mut acknowledged = 0;
    for id in 0..total {
        let len = rng.below(500) as usize;
        heap_insert(&node.pool, &node.wal, REL, &row(id, len, 5), true).unwrap();
        lens.insert(id, len);
        if rng.chance(1, 6) {
            node.flush_wal();
            acknowledged = id + 1;
        }
        if rng.chance(1, 40) {
            node.checkpoint();
            acknowledged = id + 1;
        }
        if evict && rng.chance(1, 10) {
            node.pool.flush_all_dirty(|_| {}).unwrap();
        }
    }
    let report = disk.crash(seed);
    drop(node);

    let node = start(&disk, 64).unwrap_or_else(|e| panic!("seed {seed}: recovery: {e:?}"));
    let mut count = HashMap::new();
    for r in heap_scan(&node.pool, REL, &snapshot(&[]), &Xids::all_committed()).unwrap() {
        let (id, len) = row_id(&r.unwrap().1);
        assert_eq!(lens.get(&id), Some(&len), "seed {seed}: row {id}");
        *count.entry(id).or_insert(0) += 1;
    }
    for id in 0..total {
        let n = count.get(&id).copied().unwrap_or(0);
        assert!(
            n <= 1,
            "seed {seed}: row {id} present {n} times ({report:?})"
        );
        if id < acknowledged {
            assert_eq!(n, 1, "seed {seed}: flushed row {id} lost ({report:?})");
        }
    }
    // The end-of-recovery checkpoint wrote and synced every page.
    let durable = node.wal.shared().flushed_upto();
    let nblocks = node.pool.smgr().nblocks(REL, ForkNumber::Main).unwrap();
    for b in 0..nblocks {
        let page = read_block(node.io.as_ref(), b);
        let page = Page::new(&*page);
        page.verify(b, true)
            .unwrap_or_else(|e| panic!("seed {seed}: block {b}: {e}"));
        assert!(page.lsn() <= durable, "seed {seed}: block {b} LSN past WAL");
    }
}

fn rounds() -> u64 {
    std::env::var("QUILL_HEAP_POWER_LOSS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// Seeds 1..=QUILL_HEAP_POWER_LOSS_ROUNDS (default 100); data pages reach the disk
/// only through checkpoints (synced), so nothing tears but WAL and extensions.
#[test]
fn power_loss_keeps_every_flushed_row_exactly_once() {
    for seed in 1..=rounds() {
        power_loss_round(seed, false);
    }
}

/// As above with evictions and un-synced page writes, which the crash may tear.
#[test]
fn power_loss_with_torn_data_pages_keeps_every_flushed_row_exactly_once() {
    for seed in 1..=rounds() {
        power_loss_round(seed, true);
    }
}

#[test]
fn an_aborted_deleter_leaves_the_row_visible_after_redo() {
    let disk = new_disk();
    let node = start(&disk, 8).unwrap();
    let oracle = Xids::all_committed();
    let tid = heap_insert(&node.pool, &node.wal, REL, &row(1, 10, 5), true).unwrap();
    let deleted = heap_delete(&node.pool, &node.wal, REL, tid, 6, 0, &oracle, true).unwrap();
    assert_eq!(deleted, HeapUpdateResult::Ok(tid));
    node.flush_wal();
    disk.crash(7);
    drop(node);
    let node = start(&disk, 8).unwrap();
    oracle.set(6, XidStatus::Aborted);
    let rows: Vec<_> = heap_scan(&node.pool, REL, &snapshot(&[]), &oracle)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    let header = crate::access::heap::tuple::HeapTupleHeader::read(&rows[0].1).unwrap();
    assert_eq!(
        (header.xmax, rows[0].0),
        (6, tid),
        "the delete was replayed"
    );
}

/// Replay into a pool much smaller than the relation evicts replayed (dirty) pages
/// before WAL insertion exists: the startup process's recovery flusher lets them be
/// written (their WAL was read from disk), and the end-of-recovery checkpoint writes
/// the rest through the real WAL.
#[test]
fn replay_through_a_tiny_pool_evicts_replayed_pages() {
    let disk = new_disk();
    let node = start(&disk, 64).unwrap();
    for id in 0..300 {
        heap_insert(&node.pool, &node.wal, REL, &row(id, 300, 5), true).unwrap();
    }
    node.flush_wal();
    let nblocks = node.pool.smgr().nblocks(REL, ForkNumber::Main).unwrap();
    assert!(nblocks > 8, "{nblocks} blocks");
    disk.crash(3);
    drop(node);

    let node = start(&disk, 3).unwrap();
    assert!(node.outcome.crash_recovery);
    assert!(node.outcome.records_replayed >= 300);
    let mut ids: Vec<i32> = heap_scan(&node.pool, REL, &snapshot(&[]), &Xids::all_committed())
        .unwrap()
        .map(|r| row_id(&r.unwrap().1).0)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..300).collect::<Vec<_>>());
    let durable = node.wal.shared().flushed_upto();
    for b in 0..node.pool.smgr().nblocks(REL, ForkNumber::Main).unwrap() {
        let page = read_block(node.io.as_ref(), b);
        let page = Page::new(&*page);
        page.verify(b, true).unwrap();
        assert!(page.lsn() <= durable && page.lsn().is_valid(), "block {b}");
    }
}
