//! Helpers for tests that fork processes sharing one anonymous `MAP_SHARED` mapping, as the
//! postmaster and its children do. Used by the tests of every lock in this folder (and by
//! any other test that needs forked children on shared memory).
//!
//! A child only touches the mapping and ends with `_exit`, never returning into the test
//! harness; the parent reaps exactly its own children and kills them after
//! [`CHILD_DEADLINE`], failing the test instead of hanging.

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// How long forked children may run before the parent kills them and fails the test.
pub(crate) const CHILD_DEADLINE: Duration = Duration::from_secs(30);

/// A zero-filled `MAP_SHARED | MAP_ANONYMOUS` mapping holding one `T`, inherited by forked
/// children at the same address. `T` must be valid when all bytes are zero (atomics,
/// integers, the locks of this folder) and must not need `Drop`.
pub(crate) struct SharedMapping<T> {
    ptr: NonNull<T>,
    len_bytes: usize,
}

impl<T> SharedMapping<T> {
    pub(crate) fn new_zeroed() -> Self {
        let len_bytes = std::mem::size_of::<T>().max(1);
        assert!(
            std::mem::align_of::<T>() <= 4096,
            "mmap gives page alignment only"
        );
        // SAFETY: a fresh anonymous mapping at an address the kernel chooses aliases no
        // existing Rust object; the result is checked.
        let addr = unsafe {
            mmap_anonymous(
                None,
                NonZeroUsize::new(len_bytes).expect("non-zero length"),
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .expect("mmap_anonymous(MAP_SHARED)");
        SharedMapping {
            ptr: addr.cast(),
            len_bytes,
        }
    }

    pub(crate) fn get(&self) -> &T {
        // SAFETY: the mapping is page aligned, at least size_of::<T>() long, zero filled,
        // and T is valid when zeroed (the contract of new_zeroed). It stays mapped as long
        // as self lives, and only shared references are handed out.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for SharedMapping<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by new_zeroed with this length, and no reference
        // from get() outlives self.
        unsafe { munmap(self.ptr.cast(), self.len_bytes) }.expect("munmap");
    }
}

/// Forks `n` children; child `i` runs `body(i)` and then `_exit`s with 0, or with 101 if
/// `body` panicked. A child never returns into the test harness. The caller must pass
/// the result to [`wait_children`].
///
/// The parent is the multithreaded test harness, so a child should touch only the shared
/// mapping, atomics and the locks under test (no stdout, no locks of other threads).
pub(crate) fn fork_children(n: usize, body: impl Fn(usize)) -> Vec<Pid> {
    let mut pids = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: the child runs only `body` (shared memory and atomics) and leaves with
        // _exit, never running the harness or destructors that belong to the parent.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(i)));
                let code = if outcome.is_ok() { 0 } else { 101 };
                // SAFETY: _exit ends this process at once without touching state shared
                // with the parent's threads.
                unsafe { libc::_exit(code) };
            }
            ForkResult::Parent { child } => pids.push(child),
        }
    }
    pids
}

/// Waits until process `pid` is asleep in the kernel (state `S` in `/proc/<pid>/stat`).
/// The children of these tests sleep only in `futex_wait`, so this tells the parent a
/// child has really gone to sleep on the futex rather than still spinning towards it.
pub(crate) fn wait_until_sleeping(pid: Pid) {
    let deadline = Instant::now() + CHILD_DEADLINE;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
        // The state follows the parenthesised command name: "pid (comm) S ...".
        let state = stat
            .rsplit(") ")
            .next()
            .and_then(|rest| rest.chars().next());
        if state == Some('S') {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} never went to sleep"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for every child in `pids` and asserts each exited with code 0. After
/// [`CHILD_DEADLINE`] the remaining children are killed and the test fails (a hang).
pub(crate) fn wait_children(pids: Vec<Pid>) {
    let deadline = Instant::now() + CHILD_DEADLINE;
    let mut running = pids;
    let mut failures = Vec::new();
    while !running.is_empty() {
        running.retain(|&pid| match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => true,
            Ok(WaitStatus::Exited(_, 0)) => false,
            Ok(status) => {
                failures.push(format!("{status:?}"));
                false
            }
            Err(e) => panic!("waitpid({pid}): {e}"),
        });
        if Instant::now() > deadline {
            for &pid in &running {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
            }
            panic!("children {running:?} still running after {CHILD_DEADLINE:?}: hang");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(failures.is_empty(), "children failed: {failures:?}");
}
