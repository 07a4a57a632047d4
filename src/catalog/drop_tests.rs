//! Tests of DROP's catalog half (`drop.rs`), column typmods, and cache invalidation
//! (`inval.rs`) over the shared queue.

use std::cell::RefCell;
use std::collections::HashMap;

use super::defs::INT4OID;

/// PostgreSQL's OID of varchar.
const VARCHAROID: u32 = 1043;
use super::*;
use crate::access::heap::heapam::tests::{new_disk, snapshot, start, Xids};
use crate::access::heap::visibility::{Snapshot, XidStatus};
use crate::shmem::sinval::{SinvalMessage, SinvalShared, SINVAL_QUEUE_LEN, SINVAL_SHMEM_BYTES};
use crate::shmem::TestSegment;

fn snap<'s>(snapshot: &'s Snapshot, oracle: &'s Xids) -> CatalogSnapshot<'s> {
    CatalogSnapshot { snapshot, oracle }
}

fn oracle(statuses: &[(u32, XidStatus)], current: Option<u32>) -> Xids {
    Xids {
        status: RefCell::new(statuses.iter().copied().collect::<HashMap<_, _>>()),
        current,
    }
}

fn table(oid: u32) -> NewRelation {
    NewRelation::table(
        oid,
        2200,
        "t",
        vec![
            NewColumn {
                name: "id".into(),
                type_oid: INT4OID,
                typmod: -1,
                not_null: false,
            },
            NewColumn {
                name: "code".into(),
                type_oid: VARCHAROID,
                typmod: 3 + 4, // varchar(3)
                not_null: false,
            },
        ],
    )
}

#[test]
fn column_typmod_is_stored_in_pg_attribute_and_read_back() {
    let node = start(&new_disk(), 64).unwrap();
    bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
    let creator = oracle(&[(100, XidStatus::InProgress)], Some(100));
    let s = snapshot(&[]);
    let mut catalog = Catalog::new(&node.pool, 5);
    let created = catalog
        .create_relation_entries(&node.wal, &snap(&s, &creator), &table(16384), 100, 0, true)
        .unwrap();
    assert_eq!(
        created.columns.iter().map(|c| c.typmod).collect::<Vec<_>>(),
        [-1, 7]
    );
    let committed = oracle(&[(100, XidStatus::Committed)], None);
    let mut other = Catalog::new(&node.pool, 5);
    let rel = other
        .relation_by_name(&snap(&s, &committed), "public", "t")
        .unwrap()
        .unwrap();
    assert_eq!(rel, created);
}

#[test]
fn dropped_relation_disappears_for_others_only_when_its_transaction_commits() {
    use XidStatus::*;
    let node = start(&new_disk(), 64).unwrap();
    bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
    let oid = FIRST_NORMAL_OBJECT_ID;
    let creator = oracle(&[(100, InProgress)], Some(100));
    let s = snapshot(&[]);
    Catalog::new(&node.pool, 5)
        .create_relation_entries(&node.wal, &snap(&s, &creator), &table(oid), 100, 0, true)
        .unwrap();

    // Transaction 101 drops it; it had the table cached.
    let dropper = oracle(&[(100, Committed), (101, InProgress)], Some(101));
    let mut catalog = Catalog::new(&node.pool, 5);
    let rel = catalog
        .relation_by_name(&snap(&s, &dropper), "public", "t")
        .unwrap()
        .unwrap();
    assert_eq!(catalog.cache_stats().entries, 2, "namespace and table");
    let outcome = catalog
        .delete_relation_entries(&node.wal, &snap(&s, &dropper), &rel, 101, 0, true)
        .unwrap();
    assert_eq!(outcome, DropOutcome::Deleted);
    assert_eq!(catalog.cache_stats().entries, 1, "the table left the cache");
    // The same command names it again: already gone, nothing changes.
    assert_eq!(
        catalog
            .delete_relation_entries(&node.wal, &snap(&s, &dropper), &rel, 101, 0, true)
            .unwrap(),
        DropOutcome::AlreadyGone
    );
    // The dropper's next command no longer sees it.
    let mut next_command = s.clone();
    next_command.curcid = 1;
    assert_eq!(
        catalog
            .relation_by_name(&snap(&next_command, &dropper), "public", "t")
            .unwrap(),
        None
    );

    // Others still see it, columns and all, while 101 runs; a second dropper must wait.
    let running = snapshot(&[101]);
    let second = oracle(
        &[(100, Committed), (101, InProgress), (102, InProgress)],
        Some(102),
    );
    let mut other = Catalog::new(&node.pool, 5);
    assert_eq!(
        other
            .relation_by_name(&snap(&running, &second), "public", "t")
            .unwrap(),
        Some(rel.clone())
    );
    assert_eq!(
        other
            .delete_relation_entries(&node.wal, &snap(&running, &second), &rel, 102, 0, true)
            .unwrap(),
        DropOutcome::BeingDropped(101)
    );

    // 101 aborts: everyone sees the table again, and 102 may drop it.
    second.set(101, Aborted);
    let after = snapshot(&[102]);
    let mut fresh = Catalog::new(&node.pool, 5);
    assert_eq!(
        fresh
            .relation_by_name(&snap(&after, &second), "public", "t")
            .unwrap(),
        Some(rel.clone())
    );
    assert_eq!(
        fresh
            .delete_relation_entries(&node.wal, &snap(&after, &second), &rel, 102, 0, true)
            .unwrap(),
        DropOutcome::Deleted
    );

    // 102 commits: gone for new snapshots (pg_attribute rows too); a third dropper
    // whose snapshot predates the commit finds it already gone.
    let third = oracle(
        &[
            (100, Committed),
            (101, Aborted),
            (102, Committed),
            (103, InProgress),
        ],
        Some(103),
    );
    let mut last = Catalog::new(&node.pool, 5);
    assert_eq!(
        last.relation_by_name(&snap(&snapshot(&[]), &third), "public", "t")
            .unwrap(),
        None
    );
    let pg_attribute = super::defs::catalog_defs().catalog("pg_attribute");
    let attrs = last
        .scan(pg_attribute, &snap(&snapshot(&[]), &third), |r| {
            r.oid("attrelid") == oid
        })
        .unwrap();
    assert!(attrs.is_empty(), "pg_attribute rows outlived the drop");
    assert_eq!(
        last.delete_relation_entries(
            &node.wal,
            &snap(&snapshot(&[102]), &third),
            &rel,
            103,
            0,
            true
        )
        .unwrap(),
        DropOutcome::AlreadyGone
    );
}

// ------------------------------------------------------------------ invalidation

fn queue() -> &'static SinvalShared {
    let segment = Box::leak(Box::new(TestSegment::new(SINVAL_SHMEM_BYTES)));
    segment.struct_at::<SinvalShared>(0)
}

fn relation(oid: u32, name: &str) -> RelationInfo {
    RelationInfo {
        oid,
        name: name.into(),
        relfilenode: oid,
        namespace: 2200,
        kind: b'r',
        shared: false,
        columns: Vec::new(),
    }
}

/// A cache holding relations `oids` (named after them).
fn cache_with(oids: &[u32]) -> CatCache {
    let mut cache = CatCache::default();
    for &oid in oids {
        cache
            .relations
            .insert((2200, format!("r{oid}")), relation(oid, &format!("r{oid}")));
    }
    cache
}

fn cached(cache: &CatCache) -> Vec<u32> {
    let mut oids: Vec<u32> = cache.relations.values().map(|r| r.oid).collect();
    oids.sort();
    oids
}

/// A snapshot with `running` in progress and everything below 1000 else finished.
fn snapshot_with(running: &[u32]) -> Snapshot {
    Snapshot {
        xmin: running.iter().copied().min().unwrap_or(1000),
        xmax: 1000,
        xip: running.to_vec(),
        curcid: 0,
    }
}

#[test]
fn committed_drop_invalidates_other_backends_entry() {
    let q = queue();
    let mut reader = InvalReader::starting_at(q.current_position());
    let mut cache = cache_with(&[16384, 16390]);
    // Sender: xid 500 dropped 16384 in database 5; its own entry goes at once.
    let mut pending = PendingInvals::default();
    pending.relation_changed(16384);
    let mut own = cache_with(&[16384]);
    pending.send(q, 5, 500, &mut own);
    assert!(cached(&own).is_empty() && pending.is_empty());

    reader.accept(q, 5, &snapshot_with(&[]), || 1000, &mut cache);
    assert_eq!(cached(&cache), [16390]);
    assert_eq!(reader.deferred_len(), 0);
    // Read once: a re-cached entry (the new definition) stays.
    let mut cache = cache_with(&[16384, 16390]);
    reader.accept(q, 5, &snapshot_with(&[]), || 1000, &mut cache);
    assert_eq!(cached(&cache), [16384, 16390]);
}

#[test]
fn message_whose_sender_the_snapshot_sees_running_is_applied_until_it_sees_it_finished() {
    let q = queue();
    let mut reader = InvalReader::starting_at(q.current_position());
    q.append(&[SinvalMessage::relation(5, 16384, 500)]);
    let mut cache = cache_with(&[16384]);
    // The snapshot still sees 500 running: the old rows may be loaded again under it.
    reader.accept(q, 5, &snapshot_with(&[500]), || 1000, &mut cache);
    assert!(cached(&cache).is_empty());
    assert_eq!(reader.deferred_len(), 1);
    cache = cache_with(&[16384]); // re-cached from the old rows
    reader.accept(q, 5, &snapshot_with(&[500]), || 1000, &mut cache);
    assert!(cached(&cache).is_empty(), "dropped again while 500 runs");
    cache = cache_with(&[16384]);
    reader.accept(q, 5, &snapshot_with(&[]), || 1000, &mut cache);
    assert!(
        cached(&cache).is_empty(),
        "dropped once more when 500 is seen"
    );
    assert_eq!(reader.deferred_len(), 0);
    cache = cache_with(&[16384]); // the new rows
    reader.accept(q, 5, &snapshot_with(&[]), || 1000, &mut cache);
    assert_eq!(cached(&cache), [16384]);
}

#[test]
fn messages_of_other_databases_are_ignored_and_reset_messages_are_not() {
    let q = queue();
    let mut reader = InvalReader::starting_at(q.current_position());
    let mut cache = cache_with(&[16384]);
    q.append(&[SinvalMessage::relation(1, 16384, 500)]);
    reader.accept(q, 5, &snapshot_with(&[]), || 1000, &mut cache);
    assert_eq!(cached(&cache), [16384]);
    q.append(&[SinvalMessage::relation(0, 0, 501)]);
    reader.accept(q, 5, &snapshot_with(&[]), || 1000, &mut cache);
    assert!(cached(&cache).is_empty());
}

#[test]
fn a_reader_that_missed_messages_resets_until_every_possible_sender_is_seen() {
    let q = queue();
    let mut reader = InvalReader::starting_at(q.current_position());
    for i in 0..=SINVAL_QUEUE_LEN as u32 {
        q.append(&[SinvalMessage::relation(5, 20000 + i, 600)]);
    }
    let mut cache = cache_with(&[16384]);
    // next_xid was 700 when the overflow was noticed.
    reader.accept(q, 5, &snapshot_with(&[650]), || 700, &mut cache);
    assert!(cached(&cache).is_empty());
    cache = cache_with(&[16384]);
    reader.accept(q, 5, &snapshot_with(&[650]), || 700, &mut cache);
    assert!(
        cached(&cache).is_empty(),
        "xmin 650 < horizon 700: reset again"
    );
    cache = cache_with(&[16384]);
    reader.accept(q, 5, &snapshot_with(&[]), || 1000, &mut cache);
    assert!(cached(&cache).is_empty());
    assert_eq!(reader.deferred_len(), 0);
    cache = cache_with(&[16384]);
    reader.accept(q, 5, &snapshot_with(&[]), || 1000, &mut cache);
    assert_eq!(cached(&cache), [16384]);
}

#[test]
fn an_aborted_transaction_announces_nothing() {
    let q = queue();
    let start = q.current_position();
    let mut pending = PendingInvals::default();
    pending.relation_changed(16384);
    pending.relation_changed(16384);
    assert_eq!(pending.relations(), [16384]);
    pending.discard();
    pending.send(q, 5, 500, &mut CatCache::default());
    assert_eq!(q.current_position(), start);
}
