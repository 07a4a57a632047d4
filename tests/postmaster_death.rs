//! The postmaster alone killed with SIGKILL (as the OOM killer picks it): its
//! children must not live on. PostgreSQL's children notice postmaster death (the
//! postmaster-alive pipe, PR_SET_PDEATHSIG on Linux) and exit — a backend with
//! `FATAL: terminating connection due to unexpected postmaster exit` — and a new
//! postmaster refuses to start while the old shared memory is still attached.

mod common;

use std::time::Duration;

use common::TestServer;

/// Found while writing the crash tests: every child used to survive the postmaster
/// (re-parented to init), `quill start` then succeeded on the same data directory,
/// and an orphan backend's acknowledged commit, appended to WAL that the new server
/// also wrote, was lost at the next recovery. Now each child asks the kernel to kill
/// it when the postmaster dies, and the data directory's interlock keeps a new
/// postmaster out while any old process lives.
#[test]
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

/// A postmaster whose lock file was lost while its processes still run (the case a
/// surviving child of a killed postmaster used to create) must not let a second
/// server start on the same data directory.
#[test]
fn a_second_server_is_refused_while_processes_of_the_first_still_run() {
    let server = TestServer::start();
    std::fs::remove_file(server.data_dir().join("postmaster.pid")).unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let out = server
        .start_command()
        .args(["-c", &format!("port={}", common::free_port())])
        .args([
            "-c",
            &format!("unix_socket_directories={}", sockets.path().display()),
        ])
        .output()
        .expect("run quill start");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("pre-existing shared memory block is still in use"),
        "{printed}"
    );
    assert!(
        printed.contains("Terminate any old server processes associated with data directory"),
        "{printed}"
    );
    // The first server is undisturbed.
    let mut client = server.connect();
    assert_eq!(common::first_value(&mut client, "select 1"), "1");
}
