//! `quill stop` and `quill status`: control a running postmaster through the pid in
//! `postmaster.pid`, as pg_ctl does.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::postmaster::pidfile::{process_alive, read_pid, PID_FILE_NAME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    Smart,
    Fast,
    Immediate,
}

impl ShutdownMode {
    pub fn parse(text: &str) -> Option<ShutdownMode> {
        match text {
            "s" | "smart" => Some(ShutdownMode::Smart),
            "f" | "fast" => Some(ShutdownMode::Fast),
            "i" | "immediate" => Some(ShutdownMode::Immediate),
            _ => None,
        }
    }

    fn signal(self) -> Signal {
        match self {
            ShutdownMode::Smart => Signal::SIGTERM,
            ShutdownMode::Fast => Signal::SIGINT,
            ShutdownMode::Immediate => Signal::SIGQUIT,
        }
    }
}

/// The running postmaster's pid, if `postmaster.pid` names a live process.
pub fn running_pid(data_dir: &Path) -> Option<i32> {
    read_pid(&data_dir.join(PID_FILE_NAME)).filter(|&pid| process_alive(pid))
}

/// Signals the postmaster and waits until it is gone. Returns the exit code.
pub fn stop(data_dir: &Path, mode: ShutdownMode, timeout: Duration) -> i32 {
    let pid_path = data_dir.join(PID_FILE_NAME);
    let Some(pid) = read_pid(&pid_path) else {
        eprintln!("quill: PID file \"{}\" does not exist", pid_path.display());
        eprintln!("Is server running?");
        return 1;
    };
    if let Err(e) = kill(Pid::from_raw(pid), mode.signal()) {
        eprintln!(
            "quill: could not send stop signal (PID: {pid}): {}",
            e.desc()
        );
        return 1;
    }
    print!("waiting for server to shut down...");
    let deadline = Instant::now() + timeout;
    while process_alive(pid) && pid_path.exists() {
        if Instant::now() >= deadline {
            println!(" failed");
            eprintln!("quill: server does not shut down");
            return 1;
        }
        print!(".");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(" done");
    println!("server stopped");
    0
}

/// Prints whether a server runs on `data_dir`; exit code 0 if so, 3 if not (pg_ctl's).
pub fn status(data_dir: &Path) -> i32 {
    match running_pid(data_dir) {
        Some(pid) => {
            println!("quill: server is running (PID: {pid})");
            0
        }
        None => {
            println!("quill: no server running");
            3
        }
    }
}
