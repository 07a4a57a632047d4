//! The postmaster alone killed with SIGKILL (as the OOM killer picks it): its
//! children must not live on. PostgreSQL's children notice postmaster death (the
//! postmaster-alive pipe, PR_SET_PDEATHSIG on Linux) and exit — a backend with
//! `FATAL: terminating connection due to unexpected postmaster exit` — and a new
//! postmaster refuses to start while the old shared memory is still attached.

mod common;

use std::time::Duration;

use common::TestServer;

/// Found while writing the crash tests. Today every child survives the postmaster:
/// the walwriter and checkpointer run on (re-parented to init), and an orphan backend
/// keeps serving its session. `quill start` then succeeds on the same data directory
/// (the pid in postmaster.pid is dead), and both the orphan backend and the new
/// server append to the same WAL segment from their own shared memory. Observed:
/// row 3 committed (acknowledged, `synchronous_commit = on`) through the orphan
/// session after the new server had started was gone after the next crash
/// recovery, while rows 1, 2 and 4 survived — an acknowledged commit lost.
#[test]
#[ignore = "server bug: children outlive a SIGKILLed postmaster and keep committing into WAL a new server also writes (see doc comment)"]
fn children_exit_when_the_postmaster_is_killed_and_their_sessions_end() {
    let mut server = TestServer::start();
    let mut orphan = server.connect();
    orphan.batch_execute("create table t (id int4)").unwrap();
    orphan.batch_execute("insert into t values (1)").unwrap();
    let children = server.child_pids();
    assert_eq!(children.len(), 3, "walwriter, checkpointer, one backend");
    common::unsafe_kill(server.postmaster_pid(), libc::SIGKILL);
    server.wait_exit(Duration::from_secs(5));

    let all_gone = common::wait_until(Duration::from_secs(10), || {
        children.iter().all(|&pid| common::process_gone(pid))
    });
    let survivors: Vec<i32> = children
        .iter()
        .copied()
        .filter(|&pid| !common::process_gone(pid))
        .collect();
    // Whatever the outcome, leave nothing running.
    for &pid in &survivors {
        common::unsafe_kill(pid, libc::SIGKILL);
    }
    assert!(
        all_gone,
        "children {survivors:?} outlived the postmaster; log:\n{}",
        server.log()
    );
    assert!(
        orphan.batch_execute("insert into t values (2)").is_err(),
        "an orphan backend committed"
    );
}
