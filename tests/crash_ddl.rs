//! DDL across kill -9: an object created after a crash must not reuse the OID (and
//! relfilenode) of one created before it.

mod common;

use std::time::Duration;

use common::{rows, some, TestServer};

/// Found by tests/crash_random.rs (a new table every ten rounds): the OID counter
/// restarted at the last checkpoint's NextOID after crash recovery, because OID
/// allocation was not WAL-logged (PostgreSQL logs XLOG_NEXTOID ahead of the OIDs it
/// hands out, replays it and checkpoint records' nextOid, and online checkpoints
/// record nextOid + oidCount). So the first table created after the crash gets the
/// OID and relfilenode of one created before it: both share one file and their
/// pg_attribute rows mixed (SELECT * of either showed the columns of both). Now
/// `catalog::allocate_oid` logs NEXTOID ahead of use and recovery replays it.
#[test]
fn a_table_created_after_kill_9_gets_its_own_oid_and_file() {
    let mut server = TestServer::start();
    let mut client = server.connect();
    client
        .batch_execute("create table before_crash (x int4, y text)")
        .unwrap();
    client
        .batch_execute("insert into before_crash values (1, 'one')")
        .unwrap();
    assert_eq!(common::user_relation_files(&server).len(), 1);
    drop(client);
    server.kill_everything_hard();
    server.launch();

    let mut client = server.connect_eventually(Duration::from_secs(20));
    client
        .batch_execute("create table after_crash (p text, q int4, r int4)")
        .unwrap();
    assert_eq!(
        common::user_relation_files(&server).len(),
        2,
        "the new table reused a relation file: {:?}",
        common::user_relation_files(&server)
    );
    client
        .batch_execute("insert into after_crash values ('s', 2, 3)")
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        rows(&mut client, "select * from after_crash"),
        vec![some(&["s", "2", "3"])]
    );
    assert_eq!(
        rows(&mut client, "select * from before_crash"),
        vec![some(&["1", "one"])]
    );
    drop(client);
    assert_eq!(server.stop("fast"), Some(0));
    let verify = server.quill("verify", &[]);
    assert!(verify.status.success(), "{}", common::stdout(&verify));
}
