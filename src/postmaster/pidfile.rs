//! `postmaster.pid`: the lock that keeps two postmasters off one data directory, and
//! the way `quill stop`/`quill status` find the running server.
//!
//! Format, as PostgreSQL's: line 1 pid, 2 data directory, 3 start time (epoch
//! seconds), 4 port, 5 first Unix socket directory, 6 first listen address, 7 shared
//! memory key (unused: 0), 8 status (`starting`, `ready   `, `stopping`).
//!
//! A file left behind by a postmaster that was killed is stale when its pid is not a
//! live process (or is our own pid, reused): it is replaced. Otherwise starting fails
//! with PostgreSQL's message and hint.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const PID_FILE_NAME: &str = "postmaster.pid";

/// Status words written on line 8.
pub const STATUS_STARTING: &str = "starting";
pub const STATUS_READY: &str = "ready   ";
pub const STATUS_STOPPING: &str = "stopping";

/// Owns the lock file; removes it when dropped in the process that created it.
pub struct PidFile {
    path: PathBuf,
    owner_pid: u32,
    lines: Vec<String>,
}

/// True if a process with this pid exists (signal 0 probes without signalling).
pub fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Reads the pid on line 1 of a lock file, if the file exists and is well formed.
pub fn read_pid(path: &Path) -> Option<i32> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().next()?.trim().parse().ok()
}

impl PidFile {
    /// Creates the lock file exclusively, replacing a stale one.
    ///
    /// `what` names the lock in messages (`"postmaster.pid"` or a socket lock path).
    pub fn acquire(path: &Path, lines: Vec<String>) -> Result<PidFile, String> {
        for _attempt in 0..10 {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(mut file) => {
                    let body = lines.join("\n") + "\n";
                    file.write_all(body.as_bytes())
                        .and_then(|_| file.sync_all())
                        .map_err(|e| {
                            format!("could not write lock file \"{}\": {e}", path.display())
                        })?;
                    return Ok(PidFile {
                        path: path.to_path_buf(),
                        owner_pid: std::process::id(),
                        lines,
                    });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let other = read_pid(path);
                    let me = std::process::id() as i32;
                    let parent = nix::unistd::getppid().as_raw();
                    match other {
                        Some(pid) if pid != me && pid != parent && process_alive(pid) => {
                            // PostgreSQL's texts: the data directory's lock is named
                            // relative to it, a socket's lock by its full path.
                            let is_data_dir_lock =
                                path.file_name() == Some(std::ffi::OsStr::new(PID_FILE_NAME));
                            return Err(if is_data_dir_lock {
                                format!(
                                    "lock file \"{PID_FILE_NAME}\" already exists\nHINT:  Is another postmaster (PID {pid}) running in data directory \"{}\"?",
                                    lines.get(1).map(String::as_str).unwrap_or("")
                                )
                            } else {
                                format!(
                                    "lock file \"{}\" already exists\nHINT:  Is another postmaster (PID {pid}) using socket file \"{}\"?",
                                    path.display(),
                                    path.with_extension("").display()
                                )
                            });
                        }
                        _ => {
                            // Stale (its postmaster is gone) or unreadable: replace it.
                            let _ = fs::remove_file(path);
                        }
                    }
                }
                Err(e) => {
                    return Err(format!(
                        "could not create lock file \"{}\": {e}",
                        path.display()
                    ))
                }
            }
        }
        Err(format!(
            "could not create lock file \"{}\": too many attempts",
            path.display()
        ))
    }

    /// The process that created the file (and alone may remove it).
    pub fn owner(&self) -> u32 {
        self.owner_pid
    }

    /// Rewrites line 8 (the status word) so `quill status` and `pg_ctl`-like tools
    /// can tell starting from ready.
    pub fn set_status(&mut self, status: &str) {
        while self.lines.len() < 8 {
            self.lines.push(String::new());
        }
        self.lines[7] = status.to_string();
        let body = self.lines.join("\n") + "\n";
        let tmp = self.path.with_extension("pid.tmp");
        if fs::write(&tmp, body).is_ok() {
            let _ = fs::rename(&tmp, &self.path);
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // A forked child inherits the value but must never remove the postmaster's lock.
        if std::process::id() == self.owner_pid {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Takes the data directory's process interlock: an exclusive `flock` on the data
/// directory itself, held through an open descriptor that every child inherits. The
/// kernel releases it only when the last process of this server has exited, so a new
/// postmaster cannot start while a process of an old one (for instance a backend that
/// outlived a killed postmaster) could still write WAL or data pages. This is what
/// PostgreSQL's check of the old shared memory segment's attach count does.
///
/// The descriptor is deliberately leaked: it must stay open for the postmaster's life
/// and in every child, and it is never unlocked explicitly (closing it in one process
/// must not release the others).
pub fn hold_data_directory_interlock(data_dir: &Path) -> Result<(), String> {
    use nix::fcntl::{Flock, FlockArg};
    let dir = fs::File::open(data_dir).map_err(|e| {
        format!(
            "could not open data directory \"{}\": {e}",
            data_dir.display()
        )
    })?;
    match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            std::mem::forget(lock);
            Ok(())
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(format!(
            "pre-existing shared memory block is still in use\nHINT:  Terminate any old server processes associated with data directory \"{}\".",
            data_dir.display()
        )),
        Err((_, e)) => Err(format!(
            "could not lock data directory \"{}\": {e}",
            data_dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_lock_is_replaced_and_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PID_FILE_NAME);
        // A pid that cannot be alive: stale.
        fs::write(&path, "999999999\n/x\n").unwrap();
        let lock = PidFile::acquire(&path, vec![std::process::id().to_string()]).unwrap();
        assert_eq!(read_pid(&path), Some(std::process::id() as i32));
        drop(lock);
        assert!(!path.exists());
        // pid 1 is always alive: refused with PostgreSQL's message.
        fs::write(&path, "1\n/x\n").unwrap();
        let err = PidFile::acquire(&path, vec!["0".into(), "/data".into()])
            .err()
            .unwrap();
        assert!(err.contains("already exists"), "{err}");
        assert!(
            err.contains("Is another postmaster (PID 1) running"),
            "{err}"
        );
    }

    #[test]
    fn interlock_is_held_by_children_and_released_when_the_last_exits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        // The lock belongs to the open descriptor, so a second descriptor in this
        // process conflicts just as another process would.
        hold_data_directory_interlock(&path).unwrap();
        let err = hold_data_directory_interlock(&path).unwrap_err();
        assert!(
            err.starts_with("pre-existing shared memory block is still in use"),
            "{err}"
        );
    }
}
