//! A backend: the process forked for one client connection (DESIGN.md §1, §7).
//!
//! Owns: the connection's life from the first packet to exit — startup and
//! authentication ([`startup`]), the session state ([`session`]), and the command
//! loop ([`command_loop`]) that reads protocol messages and runs SQL through
//! [`crate::sql`], and the COPY sub-protocol ([`copy`]) that feeds COPY's data
//! to the executor.
//!
//! Rules:
//! 1. Nothing the client sends may crash the process: malformed input is a FATAL
//!    08P01 for this session, bad SQL an ERROR; the postmaster and other sessions are
//!    untouched. A panic would be taken for a crash (and restart every session), so
//!    client-influenced paths return errors instead.
//! 2. Exit codes tell the postmaster how the backend ended: 0 (client left) or 1
//!    (FATAL) are normal; anything else, or a signal, starts a crash restart.
//! 3. The backend's proc slot is claimed only after authentication succeeded, so a
//!    cancel request can never reach a half-started backend.

pub mod command_loop;
pub mod copy;
pub mod extended;
pub mod interrupts;
pub mod protocol;
pub mod session;
pub mod startup;
pub mod storage;

use std::path::PathBuf;

use crate::config::Config;
use crate::postmaster::listen::ClientStream;
use crate::shmem::QuitReason;
use protocol::messages::encode_notice;
use protocol::Connection;

/// Why the postmaster will not let this connection in (it still forks a child to
/// say so, as PostgreSQL does, so a CancelRequest can still be served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupRefusal {
    TooManyClients,
    Starting,
    ShuttingDown,
    InRecovery,
}

/// Everything a forked child needs from the postmaster.
pub struct BackendLaunch {
    /// Proc slot reserved by the postmaster; None for a dead-end child.
    pub slot: Option<usize>,
    pub cancel_key: i32,
    pub refusal: Option<StartupRefusal>,
    pub data_dir: PathBuf,
    pub config: Config,
}

/// Entry point of a forked child: serves the connection, then exits the process.
pub fn backend_main(stream: ClientStream, launch: BackendLaunch) -> ! {
    crate::logging::set_level(launch.config.log_min_messages());
    interrupts::install_backend_handlers(
        stream.raw_fd(),
        [
            encode_notice("WARNING", &interrupts::quit_message(QuitReason::Crash)),
            encode_notice(
                "WARNING",
                &interrupts::quit_message(QuitReason::ImmediateShutdown),
            ),
        ],
    );
    interrupts::arm_startup_timeout(
        launch
            .config
            .authentication_timeout_s()
            .min(u64::from(u32::MAX)) as u32,
    );
    let mut conn = Connection::new(stream);
    // A panic is a crash (rule 2), but it must not unwind into the postmaster's stack
    // frames this process inherited: their destructors would close the listen sockets
    // and self-pipe a second time (std aborts on that) or remove shared state.
    let served =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || match startup::start_session(&mut conn, &launch) {
                Ok(Some(mut session)) => {
                    interrupts::startup_done();
                    command_loop::run(&mut conn, &mut session)
                }
                Ok(None) => 0,
                Err(error) => {
                    conn.report_fatal(&error);
                    1
                }
            },
        ));
    // 101 is the exit code of a panicking Rust program: the postmaster sees a crash.
    std::process::exit(served.unwrap_or(101))
}
