//! The walwriter process: every `wal_writer_delay` it writes and flushes WAL that
//! asynchronous commits left unflushed and pages that are full, so a crash loses at
//! most about three delays' worth of `synchronous_commit = off` commits (rule 2) and
//! backends rarely have to write WAL themselves. Started by the postmaster once
//! startup is done; SIGTERM (at the very end of shutdown) stops it after a last
//! flush; SIGQUIT ends it at once. If it dies, the postmaster does a crash restart.

use std::path::Path;
use std::time::Duration;

use super::aux_process;
use crate::config::Config;

pub fn walwriter_main(config: &Config, data_dir: &Path) -> ! {
    aux_process::set_process_name("walwriter");
    aux_process::install_signal_handlers();
    let io = aux_process::data_dir_io(data_dir);
    let wal = aux_process::attach_wal(config, &io);
    let mut config = config.clone();
    loop {
        if let Err(error) = wal.background_flush() {
            aux_process::exit_fatal(&error);
        }
        if aux_process::terminate_requested() {
            std::process::exit(0);
        }
        if aux_process::take_reload() {
            if let Ok((reloaded, _)) = config.reload_in_backend(data_dir) {
                config = reloaded;
            }
        }
        aux_process::sleep_interruptibly(Duration::from_millis(
            config.wal_writer_delay_ms().max(1),
        ));
    }
}
