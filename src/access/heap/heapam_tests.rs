//! Tests of the heap access method (insert, delete, update, scan, fetch, conflicts),
//! and the harness the WAL tests (`heap_wal_tests.rs`) share: a "server" of a real WAL
//! and a buffer pool over a [`SimulatedDisk`], bootstrapped or restarted through the
//! real startup code.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::access::heap::tuple::{deform_tuple, form_tuple, AttrDesc, HeapValue};
use crate::shmem::TestSegment;
use crate::storage::buffer::test_support::test_pool;
use crate::storage::fault::{SimulatedDisk, XorShift64Star};
use crate::storage::file_io::FileIo;
use crate::wal::checkpoint::{create_checkpoint, CheckpointReason, CheckpointRequest};
use crate::wal::control::ControlFile;
use crate::wal::recovery::{startup, RmgrRedo, StartupOutcome};
use crate::wal::xlog::{WalShared, WAL_DIR};

pub(crate) const REL: RelFileNode = RelFileNode {
    spc_oid: 1663,
    db_oid: 5,
    rel_number: 16384,
};

const RING_PAGES: usize = 64;

/// One life of a server: WAL and buffer pool in fresh shared memory over `disk`.
pub(crate) struct Node {
    pub io: Arc<dyn FileIo>,
    pub wal: Arc<Wal>,
    pub pool: BufferPool,
    pub control: ControlFile,
    pub outcome: StartupOutcome,
}

fn new_wal(io: &Arc<dyn FileIo>) -> Arc<Wal> {
    let len = crate::shmem::WAL_CONTROL_LEN_BYTES + RING_PAGES * 8192;
    let segment = TestSegment::new(len);
    Arc::new(Wal::attach(
        segment.struct_at::<WalShared>(0),
        segment.bytes(crate::shmem::WAL_CONTROL_LEN_BYTES, RING_PAGES * 8192),
        Arc::clone(io),
        true,
    ))
}

pub(crate) fn new_disk() -> SimulatedDisk {
    let disk = SimulatedDisk::new();
    for dir in ["global", WAL_DIR, "base/5"] {
        disk.create_dir_all(Path::new(dir)).unwrap();
    }
    disk.sync_dir(Path::new("base")).unwrap();
    disk.sync_dir(Path::new("")).unwrap();
    disk
}

/// Starts a server on `disk` (bootstrap on a new one, crash recovery after a crash).
pub(crate) fn start(disk: &SimulatedDisk, nbuffers: usize) -> QuillResult<Node> {
    let io: Arc<dyn FileIo> = Arc::new(disk.clone());
    let wal = new_wal(&io);
    let pool = test_pool(nbuffers, Arc::clone(&io), wal.clone());
    let outcome = startup(&wal, &io, &pool, &mut RmgrRedo::new(), false)?;
    if !pool.smgr().exists(REL, ForkNumber::Main) {
        pool.smgr().create(REL, ForkNumber::Main)?;
    }
    Ok(Node {
        io,
        wal,
        pool,
        control: outcome.control,
        outcome,
    })
}

impl Node {
    pub(crate) fn checkpoint(&mut self) {
        create_checkpoint(
            &self.wal,
            self.io.as_ref(),
            &mut self.control,
            &CheckpointRequest {
                reason: CheckpointReason::Immediate,
                next_xid: 3,
                next_oid: 16384,
                log: false,
            },
            &self.pool,
        )
        .unwrap();
    }

    /// Makes everything inserted so far durable; returns the flushed position.
    pub(crate) fn flush_wal(&self) -> Lsn {
        let end = self.wal.shared().reserved_end();
        self.wal.flush(end).unwrap();
        end
    }
}

/// Transaction outcomes for the visibility rules.
#[derive(Default)]
pub(crate) struct Xids {
    pub status: RefCell<HashMap<TransactionId, XidStatus>>,
    pub current: Option<TransactionId>,
}

impl Xids {
    /// Every xid committed unless told otherwise.
    pub(crate) fn all_committed() -> Xids {
        Xids::default()
    }

    pub(crate) fn set(&self, xid: TransactionId, status: XidStatus) {
        self.status.borrow_mut().insert(xid, status);
    }

    fn as_current(&self, xid: TransactionId) -> Xids {
        Xids {
            status: RefCell::new(self.status.borrow().clone()),
            current: Some(xid),
        }
    }
}

impl XidStatusOracle for Xids {
    fn status(&self, xid: TransactionId) -> XidStatus {
        *self
            .status
            .borrow()
            .get(&xid)
            .unwrap_or(&XidStatus::Committed)
    }

    fn is_current(&self, xid: TransactionId) -> bool {
        self.current == Some(xid)
    }
}

/// A snapshot that sees every committed xid below 10000 except those in `xip`.
pub(crate) fn snapshot(xip: &[TransactionId]) -> Snapshot {
    Snapshot {
        xmin: xip.iter().copied().min().unwrap_or(10_000),
        xmax: 10_000,
        xip: xip.to_vec(),
        curcid: 0,
    }
}

const ATTRS: [AttrDesc; 2] = [AttrDesc::INT4, AttrDesc::TEXT];

/// Row `id` inserted by `xid`, with a payload of `len` bytes derived from `id`.
pub(crate) fn row(id: i32, len: usize, xid: TransactionId) -> Vec<u8> {
    let payload: Vec<u8> = (0..len)
        .map(|i| b'a' + ((id as usize + i) % 26) as u8)
        .collect();
    let values = [HeapValue::Int4(id), HeapValue::Bytes(&payload)];
    form_tuple(&ATTRS, &values, &HeapTupleHeader::for_insert(xid, 0)).unwrap()
}

/// (id, payload length) of a row built by [`row`], checking the payload.
pub(crate) fn row_id(tuple: &[u8]) -> (i32, usize) {
    let values = deform_tuple(&ATTRS, tuple).unwrap();
    let (HeapValue::Int4(id), HeapValue::Bytes(payload)) = (values[0], values[1]) else {
        panic!("unexpected row {values:?}");
    };
    for (i, &b) in payload.iter().enumerate() {
        assert_eq!(
            b,
            b'a' + ((id as usize + i) % 26) as u8,
            "payload of row {id}"
        );
    }
    (id, payload.len())
}

pub(crate) fn scan_ids(node: &Node, snap: &Snapshot, oracle: &Xids) -> Vec<(ItemPointer, i32)> {
    heap_scan(&node.pool, REL, snap, oracle)
        .unwrap()
        .map(|r| {
            let (tid, tuple) = r.unwrap();
            (tid, row_id(&tuple).0)
        })
        .collect()
}

fn insert(node: &Node, id: i32, len: usize, xid: TransactionId) -> ItemPointer {
    heap_insert(&node.pool, &node.wal, REL, &row(id, len, xid), true).unwrap()
}

#[test]
fn inserted_rows_come_back_from_scan_and_fetch_exactly_once() {
    for seed in 1..=5u64 {
        let node = start(&new_disk(), 16).unwrap();
        let mut rng = XorShift64Star::new(seed);
        let mut expected = HashMap::new();
        for id in 0..400 {
            let len = rng.below(700) as usize;
            let tid = insert(&node, id, len, 5);
            assert!(
                expected.insert(tid, (id, len)).is_none(),
                "seed {seed}: tid reused"
            );
        }
        assert!(
            node.pool.smgr().nblocks(REL, ForkNumber::Main).unwrap() > 5,
            "seed {seed}: rows should span several pages"
        );
        let oracle = Xids::all_committed();
        let mut seen = HashMap::new();
        for r in heap_scan(&node.pool, REL, &snapshot(&[]), &oracle).unwrap() {
            let (tid, tuple) = r.unwrap();
            let header = HeapTupleHeader::read(&tuple).unwrap();
            assert_eq!(header.ctid, tid, "seed {seed}: t_ctid points at itself");
            assert!(seen.insert(tid, row_id(&tuple)).is_none());
        }
        assert_eq!(seen, expected, "seed {seed}");
        let (&tid, &(id, _)) = expected.iter().next().unwrap();
        let fetched = heap_fetch(&node.pool, REL, tid).unwrap().unwrap();
        assert_eq!(row_id(&fetched).0, id, "seed {seed}");
    }
}

#[test]
fn a_row_too_big_for_a_page_is_refused_with_54000() {
    let node = start(&new_disk(), 8).unwrap();
    let err = heap_insert(&node.pool, &node.wal, REL, &row(1, 9000, 5), true).unwrap_err();
    assert_eq!(err.sqlstate, "54000");
    assert!(err.message.starts_with("row is too big: size"), "{err:?}");
}

#[test]
fn delete_and_update_are_seen_only_by_snapshots_after_the_commit() {
    let node = start(&new_disk(), 8).unwrap();
    let oracle = Xids::all_committed();
    let a = insert(&node, 1, 10, 10);
    let b = insert(&node, 2, 10, 10);
    let c = insert(&node, 3, 10, 10);
    // Taken before transaction 11 started.
    let before = Snapshot {
        xmin: 11,
        xmax: 11,
        xip: vec![],
        curcid: 0,
    };
    // Transaction 11 deletes a and updates b; it is running.
    oracle.set(11, XidStatus::InProgress);
    let me = oracle.as_current(11);
    let del = heap_delete(&node.pool, &node.wal, REL, a, 11, 0, &me, true).unwrap();
    assert_eq!(del, HeapUpdateResult::Ok(a));
    let new_b = match heap_update(
        &node.pool,
        &node.wal,
        REL,
        b,
        &row(20, 10, 11),
        0,
        &me,
        true,
    )
    .unwrap()
    {
        HeapUpdateResult::Ok(tid) => tid,
        other => panic!("{other:?}"),
    };
    let old_b = HeapTupleHeader::read(&heap_fetch(&node.pool, REL, b).unwrap().unwrap()).unwrap();
    assert_eq!((old_b.xmax, old_b.ctid), (11, new_b));
    assert!(!old_b.xmax_invalid());
    let ids = |snap: &Snapshot, oracle: &Xids| {
        let ids: BTreeSet<i32> = scan_ids(&node, snap, oracle)
            .into_iter()
            .map(|x| x.1)
            .collect();
        ids.into_iter().collect::<Vec<_>>()
    };
    assert_eq!(ids(&before, &oracle), [1, 2, 3]);
    assert_eq!(ids(&snapshot(&[11]), &oracle), [1, 2, 3]);
    // Its own later command sees its changes.
    let mine = Snapshot {
        curcid: 1,
        ..snapshot(&[11])
    };
    assert_eq!(ids(&mine, &me), [3, 20]);
    oracle.set(11, XidStatus::Committed);
    assert_eq!(
        ids(&before, &oracle),
        [1, 2, 3],
        "an old snapshot keeps its view"
    );
    assert_eq!(ids(&snapshot(&[]), &oracle), [3, 20]);
    let visible = heap_fetch_visible(&node.pool, REL, c, &snapshot(&[]), &oracle).unwrap();
    assert!(visible.is_some());
    assert!(
        heap_fetch_visible(&node.pool, REL, a, &snapshot(&[]), &oracle)
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_row_held_by_a_running_transaction_reports_being_modified() {
    let node = start(&new_disk(), 8).unwrap();
    let oracle = Xids::all_committed();
    let a = insert(&node, 1, 10, 10);
    oracle.set(11, XidStatus::InProgress);
    let del = |xid, oracle: &Xids| heap_delete(&node.pool, &node.wal, REL, a, xid, 0, oracle, true);
    assert_eq!(
        del(11, &oracle.as_current(11)).unwrap(),
        HeapUpdateResult::Ok(a)
    );
    assert_eq!(
        del(11, &oracle.as_current(11)).unwrap(),
        HeapUpdateResult::SelfModified
    );
    let other = oracle.as_current(12);
    assert_eq!(
        del(12, &other).unwrap(),
        HeapUpdateResult::BeingModified(11)
    );
    let upd = heap_update(
        &node.pool,
        &node.wal,
        REL,
        a,
        &row(1, 10, 12),
        0,
        &other,
        true,
    );
    assert_eq!(upd.unwrap(), HeapUpdateResult::BeingModified(11));
    // 11 aborts: its xmax no longer counts, 12 may update.
    oracle.set(11, XidStatus::Aborted);
    let other = oracle.as_current(12);
    let upd = heap_update(
        &node.pool,
        &node.wal,
        REL,
        a,
        &row(1, 10, 12),
        0,
        &other,
        true,
    );
    let HeapUpdateResult::Ok(new_a) = upd.unwrap() else {
        panic!("update after abort")
    };
    // 12 commits: 13 finds the row updated, and where the new version is.
    let third = oracle.as_current(13);
    assert_eq!(del(13, &third).unwrap(), HeapUpdateResult::Updated(new_a));
    assert_eq!(
        heap_delete(&node.pool, &node.wal, REL, new_a, 13, 0, &third, true).unwrap(),
        HeapUpdateResult::Ok(new_a)
    );
    assert_eq!(
        heap_delete(
            &node.pool,
            &node.wal,
            REL,
            new_a,
            14,
            0,
            &oracle.as_current(14),
            true
        )
        .unwrap(),
        HeapUpdateResult::Deleted
    );
    // A row whose inserter is still running cannot be changed by others.
    oracle.set(15, XidStatus::InProgress);
    let b = insert(&node, 2, 10, 15);
    assert_eq!(
        heap_delete(
            &node.pool,
            &node.wal,
            REL,
            b,
            16,
            0,
            &oracle.as_current(16),
            true
        )
        .unwrap(),
        HeapUpdateResult::Invisible
    );
}

#[test]
fn an_update_that_does_not_fit_moves_the_row_to_a_later_page() {
    let node = start(&new_disk(), 8).unwrap();
    let oracle = Xids::all_committed();
    let first = insert(&node, 0, 100, 10);
    let mut id = 1;
    while node.pool.smgr().nblocks(REL, ForkNumber::Main).unwrap() == 1 {
        insert(&node, id, 100, 10);
        id += 1;
    }
    let big = row(1000, 3000, 11);
    let result = heap_update(
        &node.pool,
        &node.wal,
        REL,
        first,
        &big,
        0,
        &oracle.as_current(11),
        true,
    );
    let HeapUpdateResult::Ok(new_tid) = result.unwrap() else {
        panic!("update failed")
    };
    assert!(new_tid.block > first.block);
    let new =
        HeapTupleHeader::read(&heap_fetch(&node.pool, REL, new_tid).unwrap().unwrap()).unwrap();
    assert!(new.is_updated() && new.xmax_invalid());
    let ids: Vec<i32> = scan_ids(&node, &snapshot(&[]), &oracle)
        .into_iter()
        .map(|x| x.1)
        .collect();
    assert!(!ids.contains(&0) && ids.contains(&1000));
    assert_eq!(ids.len(), id as usize);
}
