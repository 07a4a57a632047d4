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
    // TODO(txn): once the transaction subsystem's region (`txn::TxnShared`) is in the
    // shared segment, attach the clog here in recovery mode (`Clog::attach` with
    // `txn::RecoveryWalFlush`, `set_in_recovery(true)`), replay with
    // `RmgrRedo::with_txn`, then `trim_after_recovery`, abort the crashed xids
    // (`xact::abort_in_progress_after_recovery`), flush the clog in the end-of-recovery
    // checkpoint and publish the larger of the replayed and checkpointed next xid.
    // Until then an xact or clog record in WAL makes recovery fail.
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
