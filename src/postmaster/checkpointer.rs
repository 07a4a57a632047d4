//! The checkpointer process: runs checkpoints — timed (`checkpoint_timeout`),
//! size-triggered (`max_wal_size` of WAL since the last redo point), requested
//! (SIGINT, e.g. the CHECKPOINT command) — and the shutdown checkpoint (SIGUSR2 from
//! the postmaster once every backend has gone), after which it exits 0. It is the
//! only process that fsyncs data files. SIGQUIT ends it at once; if it dies the
//! postmaster does a crash restart.

use std::path::Path;
use std::time::{Duration, Instant};

use super::aux_process;
use crate::config::Config;
use crate::shmem;
use crate::wal::checkpoint::{create_checkpoint, CheckpointReason, CheckpointRequest};
use crate::wal::control::ControlFile;

pub fn checkpointer_main(config: &Config, data_dir: &Path) -> ! {
    aux_process::set_process_name("checkpointer");
    aux_process::install_signal_handlers();
    let io = aux_process::data_dir_io(data_dir);
    let wal = aux_process::attach_wal(config, &io);
    let buffers = aux_process::attach_buffer_pool(&io, &wal);
    let clog = aux_process::attach_clog(&io, &wal);
    let work = aux_process::ServerCheckpointWork {
        buffers: &buffers,
        clog: &clog,
    };
    let mut config = config.clone();
    let mut control = match ControlFile::read(io.as_ref()) {
        Ok(control) => control,
        Err(e) => aux_process::exit_fatal(&crate::error::QuillError::internal(e.to_string())),
    };
    let mut last_checkpoint = Instant::now();
    shmem::shmem().control().checkpointer_pid.store(
        std::process::id() as i32,
        std::sync::atomic::Ordering::SeqCst,
    );
    loop {
        let reason = if aux_process::take_shutdown_checkpoint_request() {
            log::info!("shutting down");
            Some(CheckpointReason::Shutdown)
        } else if aux_process::take_checkpoint_request() {
            Some(CheckpointReason::Immediate)
        } else if last_checkpoint.elapsed() >= Duration::from_secs(config.checkpoint_timeout_s()) {
            Some(CheckpointReason::Time)
        } else if wal_since_redo(&wal, &control) >= config.max_wal_size_bytes() / 2 {
            Some(CheckpointReason::Wal)
        } else {
            None
        };
        if let Some(reason) = reason {
            let shared = shmem::shmem().control();
            let next_xid = shared.next_xid.load(std::sync::atomic::Ordering::SeqCst);
            let next_oid = shared.next_oid.load(std::sync::atomic::Ordering::SeqCst);
            shared
                .checkpoints_started
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let request = CheckpointRequest {
                reason,
                next_xid,
                next_oid,
                log: config.log_checkpoints(),
            };
            if let Err(error) = create_checkpoint(&wal, io.as_ref(), &mut control, &request, &work)
            {
                aux_process::exit_fatal(&error);
            }
            last_checkpoint = Instant::now();
            shared
                .checkpoints_completed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if reason == CheckpointReason::Shutdown {
                // Group commit at work, for benchmarks: fdatasyncs per record.
                let (commit_wait, commits) = wal.shared().commit_wait();
                log::info!(
                    "WAL statistics: {} records inserted, {} flushes since start, {} synchronous commits waited {} us on average for durability",
                    wal.shared().insert_count(),
                    wal.shared().flush_count(),
                    commits,
                    commit_wait.as_micros()
                );
                std::process::exit(0);
            }
        }
        if aux_process::take_reload() {
            if let Ok((reloaded, _)) = config.reload_in_backend(data_dir) {
                config = reloaded;
            }
        }
        aux_process::sleep_interruptibly(Duration::from_millis(200));
    }
}

/// WAL bytes inserted since the last checkpoint's redo point.
fn wal_since_redo(wal: &crate::wal::xlog::Wal, control: &ControlFile) -> u64 {
    wal.shared()
        .reserved_end()
        .0
        .saturating_sub(control.checkpoint_info.redo.0)
}
