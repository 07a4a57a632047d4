//! The startup process: runs WAL recovery (or bootstraps a new cluster), leaves the
//! WAL ready for insertion, and exits 0. The postmaster starts it before accepting
//! connections and after every crash restart, and waits for it; a non-zero exit
//! aborts the server's start. SIGQUIT ends it at once.

use std::path::Path;

use super::aux_process;
use crate::config::Config;
use crate::shmem;
use crate::wal::recovery::{startup, RmgrRedo};

pub fn startup_main(config: &Config, data_dir: &Path) -> ! {
    aux_process::set_process_name("startup");
    aux_process::install_signal_handlers();
    let io = aux_process::data_dir_io(data_dir);
    let wal = aux_process::attach_wal(config, &io);
    let buffers = aux_process::attach_buffer_pool(&io, &wal);
    // TODO(txn): replay xact/clog records too. The clog region now exists
    // (`aux_process::attach_clog`), but `startup()` does not fit yet: attach the clog
    // in recovery mode (flushing through `txn::RecoveryWalFlush`, `set_in_recovery`)
    // and replay with `RmgrRedo::with_txn`; then, between replay and the
    // end-of-recovery checkpoint (both inside `startup()`), `trim_after_recovery` and
    // `xact::abort_in_progress_after_recovery` must run, and that checkpoint must
    // flush the clog (`ServerCheckpointWork`, not just the buffer pool), and the
    // larger of the replayed and checkpointed next xid must be published. Needs a
    // post-replay hook and a checkpoint-work argument on `startup()`. Until then an
    // xact or clog record in WAL makes recovery fail ("no redo routine").
    let mut redo = RmgrRedo::new();
    match startup(&wal, &io, &buffers, &mut redo, config.log_checkpoints()) {
        Ok(outcome) => {
            let control = shmem::shmem().control();
            let info = outcome.control.checkpoint_info;
            control
                .next_xid
                .store(info.next_xid, std::sync::atomic::Ordering::SeqCst);
            control
                .next_oid
                .store(info.next_oid, std::sync::atomic::Ordering::SeqCst);
            std::process::exit(0)
        }
        Err(error) => aux_process::exit_fatal(&error),
    }
}
