//! What every auxiliary process (startup, walwriter, checkpointer) shares: signal
//! handling and its handle on the WAL.
//!
//! Signals (PostgreSQL's conventions for these processes): SIGTERM asks the process
//! to exit; SIGUSR2 asks the checkpointer for the shutdown checkpoint; SIGINT asks it
//! for an immediate checkpoint; SIGHUP re-reads the configuration; SIGQUIT exits at
//! once with code 2 (the postmaster sends it when shared memory may be corrupt).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::Config;
use crate::error::QuillResult;
use crate::shmem;
use crate::storage::buffer::{BufferPool, BufferPoolShmem, WalFlusher};
use crate::storage::file_io::{FileIo, OsFileIo};
use crate::storage::smgr::Smgr;
use crate::txn::clog::Clog;
use crate::txn::TxnShared;
use crate::wal::checkpoint::CheckpointWork;
use crate::wal::xlog::Wal;

static TERMINATE: AtomicBool = AtomicBool::new(false);
static SHUTDOWN_CHECKPOINT: AtomicBool = AtomicBool::new(false);
static CHECKPOINT_REQUEST: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}
extern "C" fn on_sigusr2(_: libc::c_int) {
    SHUTDOWN_CHECKPOINT.store(true, Ordering::SeqCst);
}
extern "C" fn on_sigint(_: libc::c_int) {
    CHECKPOINT_REQUEST.store(true, Ordering::SeqCst);
}
extern "C" fn on_sighup(_: libc::c_int) {
    RELOAD.store(true, Ordering::SeqCst);
}
extern "C" fn on_sigquit(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(2) };
}

/// Names the process (`/proc/<pid>/comm`, as `ps` and tests see it), the way
/// PostgreSQL's processes show as "checkpointer", "walwriter", "startup".
pub fn set_process_name(name: &str) {
    if let Ok(name) = std::ffi::CString::new(name) {
        let _ = nix::sys::prctl::set_name(&name);
    }
}

/// Installs the auxiliary-process handlers (right after fork).
pub fn install_signal_handlers() {
    let handlers: [(Signal, extern "C" fn(libc::c_int)); 5] = [
        (Signal::SIGTERM, on_sigterm),
        (Signal::SIGUSR2, on_sigusr2),
        (Signal::SIGINT, on_sigint),
        (Signal::SIGHUP, on_sighup),
        (Signal::SIGQUIT, on_sigquit),
    ];
    super::signals::install_child_handlers(
        &handlers,
        &[Signal::SIGCHLD, Signal::SIGUSR1, Signal::SIGALRM],
    );
}

pub fn terminate_requested() -> bool {
    TERMINATE.load(Ordering::SeqCst)
}

pub fn take_shutdown_checkpoint_request() -> bool {
    SHUTDOWN_CHECKPOINT.swap(false, Ordering::SeqCst)
}

pub fn take_checkpoint_request() -> bool {
    CHECKPOINT_REQUEST.swap(false, Ordering::SeqCst)
}

pub fn take_reload() -> bool {
    RELOAD.swap(false, Ordering::SeqCst)
}

/// Sleeps up to `duration`, returning early when a signal arrives.
pub fn sleep_interruptibly(duration: Duration) {
    let request = libc::timespec {
        tv_sec: duration.as_secs() as libc::time_t,
        tv_nsec: duration.subsec_nanos() as libc::c_long,
    };
    // SAFETY: nanosleep reads `request`; a signal ends it early with EINTR, which is
    // the point.
    unsafe {
        libc::nanosleep(&request, std::ptr::null_mut());
    }
}

/// The data directory's file layer.
pub fn data_dir_io(data_dir: &Path) -> Arc<dyn FileIo> {
    Arc::new(OsFileIo::new(data_dir))
}

/// This process's handle on the shared WAL.
pub fn attach_wal(config: &Config, io: &Arc<dyn FileIo>) -> Arc<Wal> {
    let segment = shmem::shmem();
    Arc::new(Wal::attach(
        segment.wal_control(),
        segment.wal_buffers(),
        Arc::clone(io),
        config.fsync(),
    ))
}

/// This process's handle on the shared buffer pool, writing through `wal` (rule 1).
pub fn attach_buffer_pool(io: &Arc<dyn FileIo>, wal: &Arc<Wal>) -> BufferPool {
    let wal: Arc<dyn WalFlusher> = Arc::clone(wal) as Arc<dyn WalFlusher>;
    BufferPool::attach(
        BufferPoolShmem::from_shmem(shmem::shmem()),
        Arc::new(Smgr::new(Arc::clone(io))),
        wal,
    )
}

/// This process's handle on the shared clog.
pub fn attach_clog(io: &Arc<dyn FileIo>, wal: &Arc<Wal>) -> Clog {
    let txn: &'static TxnShared = shmem::shmem().txn_control();
    Clog::attach(
        &txn.clog,
        Arc::clone(io),
        Arc::clone(wal) as Arc<dyn WalFlusher>,
    )
}

/// A clog handle for the startup process's replay: WAL read from `pg_wal` is
/// already durable, so clog page writes need no WAL flush (txn::RecoveryWalFlush).
pub fn attach_clog_for_recovery(io: &Arc<dyn FileIo>) -> Clog {
    let txn: &'static TxnShared = shmem::shmem().txn_control();
    Clog::attach(
        &txn.clog,
        Arc::clone(io),
        Arc::new(crate::txn::RecoveryWalFlush),
    )
}

/// What a checkpoint writes and syncs in a running server: dirty buffers (data
/// files) and dirty clog pages, each after the WAL that describes them (rule 1).
pub struct ServerCheckpointWork<'a> {
    pub buffers: &'a BufferPool,
    pub clog: &'a Clog,
}

impl CheckpointWork for ServerCheckpointWork<'_> {
    fn counters_after_redo(&self) -> Option<(u32, u32)> {
        let control = crate::shmem::shmem().control();
        let next_xid = control.next_xid.load(std::sync::atomic::Ordering::SeqCst);
        // OIDs up to the logged limit may be in use by the time the record is read
        // back: recovery starts from there (PostgreSQL: nextOid + oidCount).
        let next_oid = control
            .oid_logged_limit
            .load(std::sync::atomic::Ordering::SeqCst)
            .max(control.next_oid.load(std::sync::atomic::Ordering::SeqCst));
        Some((next_xid, next_oid))
    }

    fn wait_for_commits_in_flight(&self) {
        crate::shmem::procarray::wait_for_delayed_checkpoint_starts(crate::shmem::shmem().procs());
    }

    fn write_dirty_buffers(&self) -> QuillResult<usize> {
        self.buffers.write_dirty_buffers()
    }

    fn sync_data_files(&self) -> QuillResult<()> {
        self.buffers.sync_data_files()?;
        self.clog.flush_all().map(|_| ())
    }
}

/// Ends an auxiliary process after a FATAL error.
pub fn exit_fatal(error: &crate::error::QuillError) -> ! {
    log::error!(target: crate::logging::FATAL_TARGET, "{}", error.message);
    std::process::exit(1)
}
