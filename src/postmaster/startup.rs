//! The startup process: runs WAL recovery (or bootstraps a new cluster), leaves the
//! WAL ready for insertion, and exits 0. The postmaster starts it before accepting
//! connections and after every crash restart, and waits for it; a non-zero exit
//! aborts the server's start. SIGQUIT ends it at once.

use std::path::Path;

use super::aux_process;
use crate::config::Config;
use crate::shmem;
use crate::wal::recovery::{startup, RmgrRedo, TxnRedoTarget};

pub fn startup_main(config: &Config, data_dir: &Path) -> ! {
    aux_process::set_process_name("startup");
    aux_process::install_signal_handlers();
    let io = aux_process::data_dir_io(data_dir);
    let wal = aux_process::attach_wal(config, &io);
    let buffers = aux_process::attach_buffer_pool(&io, &wal);
    // Replay applies commit/abort records to the clog; its pages are written with
    // WAL already on disk, so clog writes need no WAL flush while replaying.
    let mut clog = aux_process::attach_clog_for_recovery(&io);
    clog.set_in_recovery(true);
    let next_xid = &shmem::shmem().control().next_xid;
    let mut redo = RmgrRedo::with_txn(TxnRedoTarget {
        clog: &clog,
        next_xid,
    });
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
            // Nothing is logged beyond it yet: the first OID handed out logs NEXTOID.
            control
                .oid_logged_limit
                .store(info.next_oid, std::sync::atomic::Ordering::SeqCst);
            std::process::exit(0)
        }
        Err(error) => aux_process::exit_fatal(&error),
    }
}
