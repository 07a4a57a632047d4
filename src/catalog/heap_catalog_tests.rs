//! Tests of the heap-table catalogs: the definitions file, bootstrap into a real WAL
//! and buffer pool over a `SimulatedDisk` (the heap tests' harness), lookups, MVCC
//! visibility of new entries, and crash recovery.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicU32;

use super::defs::{catalog_defs, CatalogDefs, INT4OID, NAMEOID, TEXTOID};
use super::*;
use crate::access::heap::heapam::tests::{new_disk, snapshot, start, Xids};
use crate::access::heap::visibility::XidStatus;
use crate::error::sqlstate;

fn all_committed() -> Xids {
    Xids::all_committed()
}

fn snap<'s>(
    snapshot: &'s crate::access::heap::visibility::Snapshot,
    oracle: &'s Xids,
) -> CatalogSnapshot<'s> {
    CatalogSnapshot { snapshot, oracle }
}

#[test]
fn definitions_parse_with_postgres_oids() {
    let defs = catalog_defs();
    let oids: Vec<_> = defs
        .catalogs
        .iter()
        .map(|c| (c.name.as_str(), c.oid, c.shared))
        .collect();
    assert_eq!(
        oids,
        [
            ("pg_type", 1247, false),
            ("pg_attribute", 1249, false),
            ("pg_class", 1259, false),
            ("pg_namespace", 2615, false),
            ("pg_database", 1262, true),
            ("pg_authid", 1260, true),
        ]
    );
    for (oid, name, len, align) in [
        (16, "bool", 1, b'c'),
        (17, "bytea", -1, b'i'),
        (19, "name", 64, b'c'),
        (20, "int8", 8, b'd'),
        (21, "int2", 2, b's'),
        (23, "int4", 4, b'i'),
        (25, "text", -1, b'i'),
        (26, "oid", 4, b'i'),
        (701, "float8", 8, b'd'),
        (1043, "varchar", -1, b'i'),
        (1700, "numeric", -1, b'i'),
    ] {
        let t = &defs.types[&oid];
        assert_eq!((t.name.as_str(), t.typlen, t.typalign), (name, len, align));
    }
}

#[test]
fn malformed_definitions_are_rejected_with_the_line() {
    let bad = [
        "catalog pg_type oid=1247\ncolumn oid nosuchtype\nend\n",
        "catalog pg_x\nend\n",
        "row oid=1\n",
        "catalog pg_type oid=1247\ncolumn oid oid\n",
    ];
    for text in bad {
        assert!(CatalogDefs::parse(text).is_err(), "accepted {text:?}");
    }
    let text =
        super::defs::CATALOG_TXT.replace("typname=int4 typlen=4", "typname=int4 typlen=four");
    let err = CatalogDefs::parse(&text).unwrap_err();
    assert!(err.contains("typlen"), "{err}");
}

#[test]
fn bootstrap_writes_catalogs_that_lookups_read_back() {
    let node = start(&new_disk(), 64).unwrap();
    let summary = bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
    assert_eq!(summary.databases, [1, 4, 5]);
    for path in [
        "global/1262",
        "global/1260",
        "base/5/1259",
        "base/1/1249",
        "base/4/1247",
    ] {
        assert!(node.io.exists(Path::new(path)), "{path}");
    }
    let (s, oracle) = (snapshot(&[]), all_committed());
    let snap = snap(&s, &oracle);
    let mut catalog = Catalog::new(&node.pool, 5);

    let pg_class = catalog
        .relation_by_name(&snap, "pg_catalog", "pg_class")
        .unwrap()
        .unwrap();
    assert_eq!(
        (pg_class.oid, pg_class.relfilenode, pg_class.kind),
        (1259, 1259, b'r')
    );
    assert_eq!(pg_class.columns[1].name, "relname");
    assert_eq!(pg_class.columns[1].type_oid, NAMEOID);

    let pg_attribute = catalog
        .relation_by_name(&snap, "pg_catalog", "pg_attribute")
        .unwrap()
        .unwrap();
    let names: Vec<_> = pg_attribute
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        &names[..5],
        ["attrelid", "attname", "atttypid", "attlen", "attnum"]
    );
    let attnums: Vec<_> = pg_attribute.columns.iter().map(|c| c.attnum).collect();
    assert_eq!(attnums, (1..=names.len() as i16).collect::<Vec<_>>());
    assert!(pg_attribute.columns.iter().all(|c| c.not_null));
    assert_eq!(
        pg_attribute.attrs(),
        catalog_defs().catalog("pg_attribute").attrs
    );

    let int4 = catalog.type_by_oid(&snap, INT4OID).unwrap().unwrap();
    assert_eq!(
        (int4.name.as_str(), int4.typlen, int4.typalign),
        ("int4", 4, b'i')
    );
    assert!(int4.typbyval && int4.typarray == 1007);
    let rowtype = catalog.type_by_oid(&snap, 83).unwrap().unwrap();
    assert_eq!(
        (rowtype.name.as_str(), rowtype.typtype, rowtype.typrelid),
        ("pg_class", b'c', 1259)
    );
    assert_eq!(catalog.type_by_oid(&snap, 999_999).unwrap(), None);

    assert_eq!(
        catalog
            .namespace_by_name(&snap, "public")
            .unwrap()
            .unwrap()
            .oid,
        2200
    );
    assert_eq!(
        catalog
            .namespace_by_name(&snap, "pg_catalog")
            .unwrap()
            .unwrap()
            .oid,
        11
    );
    assert_eq!(
        catalog
            .relation_by_name(&snap, "public", "pg_class")
            .unwrap(),
        None
    );
    assert_eq!(
        catalog.relation_by_name(&snap, "nope", "pg_class").unwrap(),
        None
    );

    let postgres = catalog
        .database_by_name(&snap, "postgres")
        .unwrap()
        .unwrap();
    assert_eq!(
        (postgres.oid, postgres.owner, postgres.tablespace),
        (5, 10, 1663)
    );
    let template0 = catalog
        .database_by_name(&snap, "template0")
        .unwrap()
        .unwrap();
    assert!(template0.is_template && !template0.allow_connections);
    let pg_database = catalog
        .relation_by_name(&snap, "pg_catalog", "pg_database")
        .unwrap()
        .unwrap();
    assert!(pg_database.shared);
    assert_eq!(
        pg_database
            .rel_file_node(5)
            .relative_path(crate::storage::ids::ForkNumber::Main),
        "global/1262"
    );

    let alice = catalog.role_by_name(&snap, "alice").unwrap().unwrap();
    assert!(alice.oid == 10 && alice.superuser && alice.can_login);
    assert_eq!(catalog.role_by_name(&snap, "bob").unwrap(), None);

    // The other databases have their own copies; the shared catalogs are one.
    let mut template1 = Catalog::new(&node.pool, 1);
    assert!(template1
        .relation_by_name(&snap, "pg_catalog", "pg_type")
        .unwrap()
        .is_some());
    assert_eq!(
        template1
            .database_by_name(&snap, "postgres")
            .unwrap()
            .unwrap()
            .oid,
        5
    );
}

#[test]
fn cache_answers_repeated_lookups_until_invalidated() {
    let node = start(&new_disk(), 64).unwrap();
    bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
    let (s, oracle) = (snapshot(&[]), all_committed());
    let snap = snap(&s, &oracle);
    let mut catalog = Catalog::new(&node.pool, 5);
    let first = catalog
        .relation_by_name(&snap, "pg_catalog", "pg_type")
        .unwrap();
    let before = catalog.cache_stats();
    let second = catalog
        .relation_by_name(&snap, "pg_catalog", "pg_type")
        .unwrap();
    assert_eq!(first, second);
    let after = catalog.cache_stats();
    assert_eq!(
        after.hits,
        before.hits + 2,
        "namespace and relation both hit"
    );
    assert_eq!(after.misses, before.misses);
    catalog.invalidate_all();
    assert_eq!(catalog.cache_stats().entries, 0);
    assert_eq!(
        catalog
            .relation_by_name(&snap, "pg_catalog", "pg_type")
            .unwrap(),
        first
    );
}

#[test]
fn bootstrapping_twice_is_an_error() {
    let node = start(&new_disk(), 64).unwrap();
    bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
    let err = bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap_err();
    assert!(err.message.contains("already exists"), "{err:?}");
}

fn user_table(oid: u32) -> NewRelation {
    NewRelation::table(
        oid,
        2200,
        "accounts",
        vec![
            NewColumn {
                typmod: -1,
                name: "id".into(),
                type_oid: INT4OID,
                not_null: true,
            },
            NewColumn {
                typmod: -1,
                name: "owner".into(),
                type_oid: TEXTOID,
                not_null: false,
            },
        ],
    )
}

fn oracle_with(xid: u32, status: XidStatus, current: bool) -> Xids {
    Xids {
        status: RefCell::new(HashMap::from([(xid, status)])),
        current: current.then_some(xid),
    }
}

#[test]
fn new_relation_is_seen_by_its_creator_and_by_others_only_after_commit() {
    let node = start(&new_disk(), 64).unwrap();
    bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
    let oid = FIRST_NORMAL_OBJECT_ID;
    let xid = 100;

    // The creator: its own xid is current.
    let creator_oracle = oracle_with(xid, XidStatus::InProgress, true);
    let creator_snapshot = snapshot(&[]);
    let mut creator = Catalog::new(&node.pool, 5);
    let creator_snap = snap(&creator_snapshot, &creator_oracle);
    let created = creator
        .create_relation_entries(&node.wal, &creator_snap, &user_table(oid), xid, 0, true)
        .unwrap();
    let mut own_view = creator_snapshot.clone();
    own_view.curcid = 1;
    let seen = creator
        .relation_by_name(&snap(&own_view, &creator_oracle), "public", "accounts")
        .unwrap()
        .expect("the creator sees its own table after the next command");
    assert_eq!(seen, created);
    creator.invalidate_all();

    // Another backend, snapshot taken while xid 100 runs: nothing.
    let running = oracle_with(xid, XidStatus::InProgress, false);
    let before = snapshot(&[xid]);
    let mut other = Catalog::new(&node.pool, 5);
    assert_eq!(
        other
            .relation_by_name(&snap(&before, &running), "public", "accounts")
            .unwrap(),
        None
    );

    // After commit, a new snapshot sees it, with its columns.
    let committed = oracle_with(xid, XidStatus::Committed, false);
    assert_eq!(
        other
            .relation_by_name(&snap(&before, &committed), "public", "accounts")
            .unwrap(),
        None
    );
    let after = snapshot(&[]);
    let rel = other
        .relation_by_name(&snap(&after, &committed), "public", "accounts")
        .unwrap()
        .unwrap();
    assert_eq!(
        (rel.oid, rel.relfilenode, rel.kind, rel.namespace),
        (16384, 16384, b'r', 2200)
    );
    let cols: Vec<_> = rel
        .columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.type_oid,
                c.typlen,
                c.typalign,
                c.attnum,
                c.not_null,
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("id", 23, 4, b'i', 1, true),
            ("owner", 25, -1, b'i', 2, false)
        ]
    );

    // Aborted instead: never seen.
    let aborted = oracle_with(xid, XidStatus::Aborted, false);
    let mut third = Catalog::new(&node.pool, 5);
    assert_eq!(
        third
            .relation_by_name(&snap(&after, &aborted), "public", "accounts")
            .unwrap(),
        None
    );
}

#[test]
fn create_relation_entries_rejects_bad_definitions_before_writing() {
    let node = start(&new_disk(), 64).unwrap();
    bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
    let (s, oracle) = (snapshot(&[]), all_committed());
    let snap = snap(&s, &oracle);
    let mut catalog = Catalog::new(&node.pool, 5);
    catalog
        .create_relation_entries(&node.wal, &snap, &user_table(16384), 100, 0, true)
        .unwrap();

    let err = catalog
        .create_relation_entries(&node.wal, &snap, &user_table(16385), 101, 0, true)
        .unwrap_err();
    assert_eq!(err.sqlstate, sqlstate::DUPLICATE_TABLE);
    let mut bad_type = user_table(16386);
    bad_type.name = "other".into();
    bad_type.columns[1].type_oid = 424_242;
    let err = catalog
        .create_relation_entries(&node.wal, &snap, &bad_type, 102, 0, true)
        .unwrap_err();
    assert_eq!(err.sqlstate, sqlstate::UNDEFINED_OBJECT);
    let mut dup_col = bad_type.clone();
    dup_col.columns[1] = dup_col.columns[0].clone();
    assert_eq!(
        catalog
            .create_relation_entries(&node.wal, &snap, &dup_col, 103, 0, true)
            .unwrap_err()
            .sqlstate,
        "42701"
    );
    let mut long = user_table(16387);
    long.name = "x".repeat(64);
    assert_eq!(
        catalog
            .create_relation_entries(&node.wal, &snap, &long, 104, 0, true)
            .unwrap_err()
            .sqlstate,
        "42622"
    );
    assert_eq!(
        catalog.relation_by_name(&snap, "public", "other").unwrap(),
        None
    );
}

#[test]
fn oids_are_logged_ahead_of_use_and_skip_built_in_oids_after_wraparound() {
    use crate::wal::checkpoint::{decode_next_oid, OID_PREFETCH};
    use crate::wal::record::DecodedRecord;
    use crate::wal::Lsn;

    /// Keeps the NEXTOID values of the records inserted into it.
    #[derive(Default)]
    struct NextOidLog(std::sync::Mutex<Vec<u32>>);
    impl crate::txn::WalFlush for NextOidLog {
        fn flush(&self, _upto: Lsn) -> crate::error::QuillResult<()> {
            Ok(())
        }
        fn flushed_lsn(&self) -> Lsn {
            Lsn::INVALID
        }
    }
    impl crate::txn::WalInsert for NextOidLog {
        fn insert(
            &self,
            record: &crate::wal::record::RecordBuilder<'_>,
        ) -> crate::error::QuillResult<(Lsn, Lsn)> {
            let mut bytes = Vec::new();
            record.encode(Lsn::INVALID, &mut bytes).unwrap();
            let r = DecodedRecord::decode(&bytes).unwrap();
            let oid = decode_next_oid(r.rmgr(), r.info(), r.main_data()).expect("a NEXTOID");
            self.0.lock().unwrap().push(oid);
            Ok((Lsn::INVALID, Lsn::INVALID))
        }
        fn note_async_commit(&self, _end: Lsn) {}
    }

    let wal = NextOidLog::default();
    let lock = crate::shmem::lwlock::LWLock::new();
    let (next, limit) = (AtomicU32::new(u32::MAX - 1), AtomicU32::new(u32::MAX - 1));
    let counter = OidCounter {
        lock: &lock,
        next_oid: &next,
        logged_limit: &limit,
    };
    assert_eq!(allocate_oid(&counter, &wal).unwrap(), u32::MAX - 1);
    let first_limit = (u32::MAX - 1).wrapping_add(OID_PREFETCH);
    // Still covered by the first record: no new one.
    assert_eq!(allocate_oid(&counter, &wal).unwrap(), u32::MAX);
    assert_eq!(*wal.0.lock().unwrap(), vec![first_limit]);
    // Wrapped: built-in OIDs are skipped, and the new range is logged first.
    assert_eq!(
        allocate_oid(&counter, &wal).unwrap(),
        FIRST_NORMAL_OBJECT_ID
    );
    assert_eq!(
        allocate_oid(&counter, &wal).unwrap(),
        FIRST_NORMAL_OBJECT_ID + 1
    );
    assert_eq!(
        *wal.0.lock().unwrap(),
        vec![first_limit, FIRST_NORMAL_OBJECT_ID + OID_PREFETCH]
    );
    assert_eq!(
        limit.load(std::sync::atomic::Ordering::SeqCst),
        FIRST_NORMAL_OBJECT_ID + OID_PREFETCH
    );
}

#[test]
fn catalogs_survive_a_crash_after_the_wal_flush() {
    for seed in 1..=3u64 {
        let disk = new_disk();
        let node = start(&disk, 16).unwrap();
        bootstrap_catalogs(&node.pool, &node.wal, "alice", true).unwrap();
        let (s, oracle) = (snapshot(&[]), all_committed());
        let mut catalog = Catalog::new(&node.pool, 5);
        catalog
            .create_relation_entries(
                &node.wal,
                &snap(&s, &oracle),
                &user_table(16384),
                100,
                0,
                true,
            )
            .unwrap();
        node.flush_wal();
        drop(catalog);
        drop(node);
        let report = disk.crash(seed);
        // The catalog files were never fsynced: the crash loses (some of) them.
        assert!(
            report.files_lost + report.writes_dropped + report.writes_torn > 0,
            "{report:?}"
        );

        // Restart: startup replays heap records through RmgrRedo (Heap → heap_redo).
        let node = start(&disk, 16).unwrap();
        assert!(node.outcome.crash_recovery, "seed {seed}");
        let mut catalog = Catalog::new(&node.pool, 5);
        let snap = snap(&s, &oracle);
        let accounts = catalog
            .relation_by_name(&snap, "public", "accounts")
            .unwrap()
            .unwrap();
        assert_eq!(accounts.columns.len(), 2, "seed {seed}");
        let pg_class = catalog
            .relation_by_name(&snap, "pg_catalog", "pg_class")
            .unwrap()
            .unwrap();
        assert_eq!(
            pg_class.columns.len(),
            catalog_defs().catalog("pg_class").columns.len()
        );
        assert_eq!(
            catalog.type_by_oid(&snap, INT4OID).unwrap().unwrap().typlen,
            4
        );
        assert_eq!(
            catalog
                .database_by_name(&snap, "postgres")
                .unwrap()
                .unwrap()
                .oid,
            5
        );
        assert!(
            catalog
                .role_by_name(&snap, "alice")
                .unwrap()
                .unwrap()
                .superuser
        );
    }
}
