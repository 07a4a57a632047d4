//! The postmaster process: accepts connections and forks a backend for each, reaps
//! children, runs the shutdown modes and crash restart.
//!
//! Started by `quill start`. Signals (as PostgreSQL's): SIGTERM smart shutdown (wait
//! for clients to leave), SIGINT fast shutdown (terminate backends, then stop),
//! SIGQUIT immediate shutdown (SIGQUIT everyone, no checkpoint), SIGHUP reload the
//! configuration (and forward it to the children), SIGCHLD reap.
//! If the postmaster itself dies, children notice on their next client interaction;
//! a new postmaster refuses to start while `postmaster.pid` names a live process.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::listen::{self, ClientStream, Listener};
use super::pidfile::{self, PidFile};
use super::signals::PostmasterSignals;
use crate::backend::{self, BackendLaunch, StartupRefusal};
use crate::config::Config;
use crate::shmem::{self, QuitReason, ShmemLayout};

/// How long children get to exit after SIGQUIT before they are sent SIGKILL
/// (PostgreSQL's SIGKILL_CHILDREN_AFTER_SECS).
const SIGKILL_CHILDREN_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A client backend holding proc slot `slot`.
    Backend {
        slot: usize,
    },
    /// A child that only reports an error to its client (or serves a cancel request).
    DeadEnd,
    Startup,
    WalWriter,
    Checkpointer,
}

impl Role {
    fn is_aux(self) -> bool {
        matches!(self, Role::Startup | Role::WalWriter | Role::Checkpointer)
    }

    /// PostgreSQL's name for the process in log lines.
    fn describe(self) -> &'static str {
        match self {
            Role::Backend { .. } | Role::DeadEnd => "server process",
            Role::Startup => "startup process",
            Role::WalWriter => "WAL writer process",
            Role::Checkpointer => "checkpointer process",
        }
    }
}

struct Child {
    pid: Pid,
    role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The startup process runs recovery; no connections yet.
    Starting,
    Running,
    /// A child crashed; waiting for the others to exit after SIGQUIT.
    CrashRestart {
        sigkill_at: Instant,
    },
    SmartShutdown,
    FastShutdown,
    ImmediateShutdown {
        sigkill_at: Instant,
    },
}

struct Postmaster {
    /// The postmaster's own pid, which a forked child checks against its parent.
    pid: i32,
    data_dir: PathBuf,
    overrides: Vec<(String, String)>,
    config: Config,
    listeners: Vec<Listener>,
    signals: PostmasterSignals,
    pid_file: PidFile,
    children: Vec<Child>,
    slot_in_use: Vec<bool>,
    state: State,
    /// The shutdown checkpoint has been requested from the checkpointer.
    shutdown_checkpoint_requested: bool,
    /// The startup process failed: the server stops with exit code 1.
    startup_failed: bool,
    /// Connections were accepted before (so a new startup is crash recovery).
    ever_ready: bool,
}

/// Runs the postmaster in the foreground until it shuts down; returns the exit code.
pub fn run(data_dir: &Path, overrides: &[(String, String)]) -> i32 {
    let data_dir = match data_dir.canonicalize() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!(
                "quill: could not access data directory \"{}\": {e}",
                data_dir.display()
            );
            return 1;
        }
    };
    let config = match Config::load(&data_dir, overrides) {
        Ok(config) => config,
        Err(e) => {
            crate::logging::init(log::LevelFilter::Info);
            log::error!(target: crate::logging::FATAL_TARGET, "{e}");
            return 1;
        }
    };
    crate::logging::init(config.log_min_messages());
    log::info!(
        "starting Quill {} (PostgreSQL 15 compatible) on {}-linux, compiled by rustc, {}-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        usize::BITS
    );
    match Postmaster::start(data_dir, overrides.to_vec(), config) {
        Ok(mut postmaster) => postmaster.serve(),
        Err(message) => {
            log::error!(target: crate::logging::FATAL_TARGET, "{message}");
            1
        }
    }
}

impl Postmaster {
    fn start(
        data_dir: PathBuf,
        overrides: Vec<(String, String)>,
        config: Config,
    ) -> Result<Postmaster, String> {
        let port = config.port();
        let socket_dirs = config.unix_socket_directories();
        let addresses = config.listen_addresses();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let pid_file = PidFile::acquire(
            &data_dir.join(pidfile::PID_FILE_NAME),
            vec![
                std::process::id().to_string(),
                data_dir.display().to_string(),
                started.to_string(),
                port.to_string(),
                socket_dirs.first().cloned().unwrap_or_default(),
                addresses.first().cloned().unwrap_or_default(),
                "0".to_string(),
                pidfile::STATUS_STARTING.to_string(),
            ],
        )?;

        let mut listeners = listen::bind_tcp(&addresses, port);
        if !addresses.is_empty() && listeners.is_empty() {
            return Err("could not create any TCP/IP sockets".into());
        }
        for dir in &socket_dirs {
            match listen::bind_unix(dir, port, &data_dir.display().to_string()) {
                Ok(l) => listeners.push(l),
                Err(message) => {
                    log::warn!("{message}");
                    log::warn!("could not create Unix-domain socket in directory \"{dir}\"");
                }
            }
        }
        if !socket_dirs.is_empty() && !listeners.iter().any(|l| matches!(l, Listener::Unix { .. }))
        {
            return Err("could not create any Unix-domain sockets".into());
        }
        if listeners.is_empty() {
            return Err("no socket created for listening".into());
        }

        pidfile::hold_data_directory_interlock(&data_dir)?;
        let max_connections = config.max_connections();
        shmem::create(ShmemLayout::compute(
            max_connections,
            config.shared_buffers_bytes(),
            config.wal_buffers_bytes(),
        ))
        .map_err(|e| format!("could not create shared memory segment: {e}"))?;
        let signals = PostmasterSignals::install()
            .map_err(|e| format!("could not install signal handlers: {e}"))?;

        let mut postmaster = Postmaster {
            pid: std::process::id() as i32,
            data_dir,
            overrides,
            config,
            listeners,
            signals,
            pid_file,
            children: Vec::new(),
            slot_in_use: vec![false; max_connections],
            state: State::Starting,
            shutdown_checkpoint_requested: false,
            startup_failed: false,
            ever_ready: false,
        };
        postmaster.launch_aux(Role::Startup);
        Ok(postmaster)
    }

    /// The main loop: wait for a connection or a signal, act, repeat.
    fn serve(&mut self) -> i32 {
        loop {
            self.handle_signals();
            self.reap_children();
            if let Some(code) = self.advance_state() {
                return code;
            }
            let ready = self.wait_for_events();
            for index in ready {
                self.accept_on(index);
            }
        }
    }

    /// Polls the listen sockets and the signal self-pipe; returns the indexes of
    /// listeners with pending connections.
    fn wait_for_events(&self) -> Vec<usize> {
        let mut fds: Vec<PollFd> = self
            .listeners
            .iter()
            .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN))
            .collect();
        fds.push(PollFd::new(self.signals.wake_fd(), PollFlags::POLLIN));
        match poll(&mut fds, PollTimeout::from(1000u16)) {
            Ok(_) => {}
            Err(Errno::EINTR) => return Vec::new(),
            Err(e) => {
                log::warn!("poll() failed in postmaster: {e}");
                std::thread::sleep(Duration::from_millis(100));
                return Vec::new();
            }
        }
        let ready: Vec<usize> = fds[..self.listeners.len()]
            .iter()
            .enumerate()
            .filter(|(_, fd)| {
                fd.revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLERR))
            })
            .map(|(i, _)| i)
            .collect();
        if fds[self.listeners.len()]
            .revents()
            .is_some_and(|r| !r.is_empty())
        {
            self.signals.drain();
        }
        ready
    }

    fn handle_signals(&mut self) {
        if PostmasterSignals::take(&self.signals.immediate) {
            log::info!("received immediate shutdown request");
            self.begin_immediate_shutdown();
        }
        if PostmasterSignals::take(&self.signals.fast) && self.may_escalate_to(State::FastShutdown)
        {
            log::info!("received fast shutdown request");
            log::info!("aborting any active transactions");
            self.state = State::FastShutdown;
            self.pid_file.set_status(pidfile::STATUS_STOPPING);
            self.signal_backends(Signal::SIGTERM);
        }
        if PostmasterSignals::take(&self.signals.smart)
            && self.may_escalate_to(State::SmartShutdown)
        {
            log::info!("received smart shutdown request");
            self.state = State::SmartShutdown;
            self.pid_file.set_status(pidfile::STATUS_STOPPING);
        }
        if PostmasterSignals::take(&self.signals.reload) {
            self.reload_config();
        }
    }

    /// A later shutdown request may only make shutdown faster, never slower.
    fn may_escalate_to(&self, target: State) -> bool {
        let rank = |s: State| match s {
            State::Starting | State::Running | State::CrashRestart { .. } => 0,
            State::SmartShutdown => 1,
            State::FastShutdown => 2,
            State::ImmediateShutdown { .. } => 3,
        };
        rank(target) > rank(self.state)
    }

    fn begin_immediate_shutdown(&mut self) {
        if !self.may_escalate_to(State::ImmediateShutdown {
            sigkill_at: Instant::now(),
        }) {
            return;
        }
        self.pid_file.set_status(pidfile::STATUS_STOPPING);
        shmem::shmem()
            .control()
            .quit_reason
            .store(QuitReason::ImmediateShutdown as u32, Ordering::SeqCst);
        self.signal_children(Signal::SIGQUIT);
        self.state = State::ImmediateShutdown {
            sigkill_at: Instant::now() + SIGKILL_CHILDREN_AFTER,
        };
    }

    fn reload_config(&mut self) {
        log::info!("received SIGHUP, reloading configuration files");
        match self.config.reload(&self.data_dir, &self.overrides) {
            Ok((config, messages)) => {
                for message in messages {
                    log::info!("{message}");
                }
                crate::logging::set_level(config.log_min_messages());
                self.config = config;
                self.signal_children(Signal::SIGHUP);
            }
            Err(e) => log::info!("{e}"),
        }
    }

    fn signal_children(&self, signal: Signal) {
        for child in &self.children {
            let _ = kill(child.pid, signal);
        }
    }

    /// Collects every exited child; a crash starts a crash restart.
    fn reap_children(&mut self) {
        PostmasterSignals::take(&self.signals.child_exited);
        loop {
            let status = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => status,
            };
            let Some(pid) = status.pid() else { continue };
            let Some(index) = self.children.iter().position(|c| c.pid == pid) else {
                continue;
            };
            let child = self.children.swap_remove(index);
            if let Role::Backend { slot } = child.role {
                shmem::shmem().procs()[slot].clear();
                self.slot_in_use[slot] = false;
            }
            let exited_cleanly = matches!(status, WaitStatus::Exited(_, 0));
            let crashed = match status {
                WaitStatus::Exited(_, code) => code != 0 && code != 1,
                WaitStatus::Signaled(..) => true,
                _ => false,
            };
            match child.role {
                Role::DeadEnd => {}
                Role::Backend { .. } if crashed => self.handle_child_crash(child.role, pid, status),
                Role::Backend { .. } => {}
                Role::Startup if exited_cleanly && self.state == State::Starting => {
                    self.startup_finished();
                }
                Role::Startup if self.state == State::Starting => {
                    log::info!("startup process (PID {pid}) {}", describe_exit(status));
                    log::info!("aborting startup due to startup process failure");
                    self.startup_failed = true;
                }
                // The checkpointer exits 0 after the shutdown checkpoint.
                Role::Checkpointer if exited_cleanly && self.shutdown_checkpoint_requested => {}
                Role::WalWriter if exited_cleanly && self.is_shutting_down() => {}
                role => self.handle_child_crash(role, pid, status),
            }
        }
    }

    fn handle_child_crash(&mut self, role: Role, pid: Pid, status: WaitStatus) {
        let how = describe_exit(status);
        match self.state {
            State::Starting | State::Running | State::SmartShutdown | State::FastShutdown => {
                log::info!("{} (PID {pid}) {how}", role.describe());
                log::info!("terminating any other active server processes");
                shmem::shmem()
                    .control()
                    .quit_reason
                    .store(QuitReason::Crash as u32, Ordering::SeqCst);
                self.signal_children(Signal::SIGQUIT);
                if matches!(self.state, State::Running | State::Starting) {
                    self.state = State::CrashRestart {
                        sigkill_at: Instant::now() + SIGKILL_CHILDREN_AFTER,
                    };
                } else {
                    // A crash during shutdown: finish as an immediate shutdown.
                    self.state = State::ImmediateShutdown {
                        sigkill_at: Instant::now() + SIGKILL_CHILDREN_AFTER,
                    };
                }
            }
            State::CrashRestart { .. } | State::ImmediateShutdown { .. } => {
                log::debug!("server process (PID {pid}) {how} during crash restart");
            }
        }
    }

    /// Moves the state machine on when its condition is met; `Some(code)` means the
    /// postmaster is done.
    fn advance_state(&mut self) -> Option<i32> {
        let backends_left = self
            .children
            .iter()
            .any(|c| matches!(c.role, Role::Backend { .. }));
        if self.startup_failed {
            self.signal_children(Signal::SIGQUIT);
            self.listeners.clear();
            return Some(1);
        }
        match self.state {
            State::Starting | State::Running => None,
            State::CrashRestart { sigkill_at } | State::ImmediateShutdown { sigkill_at } => {
                if self.children.is_empty() {
                    if matches!(self.state, State::ImmediateShutdown { .. }) {
                        return Some(self.finish_shutdown());
                    }
                    log::info!("all server processes terminated; reinitializing");
                    shmem::shmem().reinitialize();
                    self.state = State::Starting;
                    self.launch_aux(Role::Startup);
                } else if Instant::now() >= sigkill_at {
                    self.signal_children(Signal::SIGKILL);
                }
                None
            }
            State::SmartShutdown | State::FastShutdown => {
                if backends_left {
                    return None;
                }
                let alive = |role: Role| self.children.iter().any(|c| c.role == role);
                if alive(Role::Startup) {
                    return None; // let recovery finish; it is followed by a checkpoint
                }
                if alive(Role::Checkpointer) {
                    if !self.shutdown_checkpoint_requested {
                        self.shutdown_checkpoint_requested = true;
                        self.signal_role(Role::Checkpointer, Signal::SIGUSR2);
                    }
                    return None;
                }
                if alive(Role::WalWriter) {
                    self.signal_role(Role::WalWriter, Signal::SIGTERM);
                    return None;
                }
                // Dead-end children are only reporting an error; don't wait on them.
                self.signal_children(Signal::SIGKILL);
                Some(self.finish_shutdown())
            }
        }
    }

    fn finish_shutdown(&mut self) -> i32 {
        self.listeners.clear();
        log::info!("database system is shut down");
        0
    }

    /// Accepts a pending connection and forks the child that will serve it.
    fn accept_on(&mut self, index: usize) {
        let stream = match self.listeners[index].accept() {
            Ok(Some(stream)) => stream,
            Ok(None) => return,
            Err(e) => {
                log::info!("could not accept new connection: {e}");
                return;
            }
        };
        let refusal = match self.state {
            State::Running => None,
            State::Starting if self.ever_ready => Some(StartupRefusal::InRecovery),
            State::Starting => Some(StartupRefusal::Starting),
            State::CrashRestart { .. } => Some(StartupRefusal::InRecovery),
            _ => Some(StartupRefusal::ShuttingDown),
        };
        let slot = if refusal.is_none() {
            self.slot_in_use.iter().position(|used| !used)
        } else {
            None
        };
        let refusal = match (refusal, slot) {
            (Some(r), _) => Some(r),
            (None, None) => Some(StartupRefusal::TooManyClients),
            (None, Some(_)) => None,
        };
        // Dead-end children are bounded too, so a connection flood cannot fork-bomb.
        let dead_ends = self
            .children
            .iter()
            .filter(|c| c.role == Role::DeadEnd)
            .count();
        if refusal.is_some() && dead_ends >= 2 * self.slot_in_use.len() + 10 {
            return; // dropping the stream closes the connection
        }
        let launch = BackendLaunch {
            slot,
            cancel_key: random_cancel_key(),
            refusal,
            data_dir: self.data_dir.clone(),
            config: self.config.clone(),
        };
        self.fork_child(stream, launch);
    }

    fn fork_child(&mut self, stream: ClientStream, launch: BackendLaunch) {
        let slot = launch.slot;
        // SAFETY: the postmaster is single-threaded (rule 1), so the child starts with
        // a consistent copy of every lock and allocator state.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                self.prepare_child();
                backend::backend_main(stream, launch)
            }
            Ok(ForkResult::Parent { child }) => {
                drop(stream);
                let role = match slot {
                    Some(slot) => {
                        self.slot_in_use[slot] = true;
                        Role::Backend { slot }
                    }
                    None => Role::DeadEnd,
                };
                self.children.push(Child { pid: child, role });
            }
            Err(e) => {
                log::info!("could not fork new process for connection: {e}");
            }
        }
    }

    fn is_shutting_down(&self) -> bool {
        matches!(
            self.state,
            State::SmartShutdown | State::FastShutdown | State::ImmediateShutdown { .. }
        )
    }

    fn signal_backends(&self, signal: Signal) {
        for child in self.children.iter().filter(|c| !c.role.is_aux()) {
            let _ = kill(child.pid, signal);
        }
    }

    fn signal_role(&self, role: Role, signal: Signal) {
        for child in self.children.iter().filter(|c| c.role == role) {
            let _ = kill(child.pid, signal);
        }
    }

    /// Recovery is done: start the background writers and open the doors.
    fn startup_finished(&mut self) {
        self.launch_aux(Role::WalWriter);
        self.launch_aux(Role::Checkpointer);
        self.state = State::Running;
        self.ever_ready = true;
        self.pid_file.set_status(pidfile::STATUS_READY);
        log::info!("database system is ready to accept connections");
    }

    /// Forks an auxiliary process (startup, walwriter, checkpointer).
    fn launch_aux(&mut self, role: Role) {
        debug_assert!(role.is_aux());
        // SAFETY: the postmaster is single-threaded (rule 1).
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                self.prepare_child();
                let config = self.config.clone();
                let data_dir = self.data_dir.clone();
                match role {
                    Role::Startup => super::startup::startup_main(&config, &data_dir),
                    Role::WalWriter => super::walwriter::walwriter_main(&config, &data_dir),
                    Role::Checkpointer => {
                        super::checkpointer::checkpointer_main(&config, &data_dir)
                    }
                    _ => unreachable!("not an auxiliary process"),
                }
            }
            Ok(ForkResult::Parent { child }) => self.children.push(Child { pid: child, role }),
            Err(e) => {
                log::info!("could not fork {}: {e}", role.describe());
                if role == Role::Startup {
                    self.startup_failed = true;
                }
            }
        }
    }

    /// First thing in a forked child: it must not outlive the postmaster (a child
    /// left running could go on writing WAL and data pages behind a new server's
    /// back; PostgreSQL's children exit on postmaster death too), and must not hold
    /// the postmaster's sockets or self-pipe.
    fn prepare_child(&self) {
        // The kernel kills the child when the postmaster dies. If the postmaster
        // died before the request was made, the parent is already someone else.
        if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
            || nix::unistd::getppid().as_raw() != self.pid
        {
            std::process::exit(1);
        }
        for listener in &self.listeners {
            let _ = nix::unistd::close(listener.raw_fd());
        }
        for fd in self.signals.fds() {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// `was terminated by signal 9: Killed` / `exited with exit code 1`.
fn describe_exit(status: WaitStatus) -> String {
    match status {
        WaitStatus::Signaled(_, signal, _) => format!(
            "was terminated by signal {}: {}",
            signal as i32,
            signal_description(signal)
        ),
        WaitStatus::Exited(_, code) => format!("exited with exit code {code}"),
        _ => "exited abnormally".to_string(),
    }
}

fn signal_description(signal: Signal) -> &'static str {
    match signal {
        Signal::SIGKILL => "Killed",
        Signal::SIGSEGV => "Segmentation fault",
        Signal::SIGABRT => "Aborted",
        Signal::SIGTERM => "Terminated",
        Signal::SIGQUIT => "Quit",
        Signal::SIGBUS => "Bus error",
        Signal::SIGILL => "Illegal instruction",
        Signal::SIGFPE => "Floating point exception",
        Signal::SIGINT => "Interrupt",
        Signal::SIGHUP => "Hangup",
        _ => "Signal",
    }
}

/// A cancel key the client cannot guess (getrandom; falls back to time and pid).
fn random_cancel_key() -> i32 {
    let mut bytes = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        bytes = (nanos ^ std::process::id().rotate_left(16)).to_ne_bytes();
    }
    i32::from_ne_bytes(bytes)
}
