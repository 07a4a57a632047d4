//! Test harness: starts the real `quill` binary on a free port with a temporary data
//! directory (its Unix socket inside that directory too), and always stops it.

#![allow(dead_code)]

pub mod wire;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SUPERUSER: &str = "tester";

pub fn quill_bin() -> &'static str {
    env!("CARGO_BIN_EXE_quill")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().unwrap().port()
}

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    settings: Vec<(String, String)>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// Initialises a data directory and starts a server with extra `-c` settings.
    pub fn start_with(settings: &[(&str, &str)]) -> TestServer {
        let mut server = TestServer::init_with(settings);
        server.launch();
        server
    }

    /// Initialises a data directory and picks a port, but starts nothing.
    pub fn init_with(settings: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("quill-test-")
            .tempdir()
            .expect("tempdir");
        let status = Command::new(quill_bin())
            .args(["init", "-D"])
            .arg(dir.path().join("data"))
            .args(["-U", SUPERUSER])
            .stdout(Stdio::null())
            .status()
            .expect("run quill init");
        assert!(status.success(), "quill init failed");
        TestServer {
            port: free_port(),
            dir,
            child: None,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `quill start` with this server's data directory, port, sockets and settings.
    pub fn start_command(&self) -> Command {
        let mut cmd = Command::new(quill_bin());
        cmd.arg("start")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-c", &format!("port={}", self.port)])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args([
                "-c",
                &format!("unix_socket_directories={}", self.socket_dir().display()),
            ]);
        for (k, v) in &self.settings {
            cmd.args(["-c", &format!("{k}={v}")]);
        }
        cmd
    }

    /// Starts (or restarts) the postmaster on the same data directory and port.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = self
            .start_command()
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn quill start");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until a `select 1` over TCP succeeds.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("server exited early ({status}); log:\n{}", self.log());
                }
            }
            if self.try_connect().is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!("server did not become ready; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn conn_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname=postgres connect_timeout=10",
            self.port
        )
    }

    pub fn try_connect_as(
        &self,
        user: &str,
        db: &str,
    ) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user={user} dbname={db} connect_timeout=10",
                self.port
            ),
            postgres::NoTls,
        )
    }

    pub fn try_connect(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(&self.conn_string(), postgres::NoTls)
    }

    pub fn connect(&self) -> postgres::Client {
        self.try_connect()
            .unwrap_or_else(|e| panic!("connect failed: {e}; log:\n{}", self.log()))
    }

    /// Runs `psql -X -A -t -c SQL` over TCP.
    pub fn psql(&self, sql: &str) -> Output {
        self.psql_args(&["-h", "127.0.0.1", "-c", sql])
    }

    /// Runs psql with the given extra arguments (port, user, db are added).
    pub fn psql_args(&self, args: &[&str]) -> Output {
        Command::new("psql")
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .args(args)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("run psql")
    }

    pub fn postmaster_pid(&self) -> i32 {
        self.child.as_ref().expect("server running").id() as i32
    }

    /// Runs `quill stop -m MODE` and waits for the postmaster to exit; returns its
    /// exit status code.
    pub fn stop(&mut self, mode: &str) -> Option<i32> {
        let out = Command::new(quill_bin())
            .args(["stop", "-D"])
            .arg(self.data_dir())
            .args(["-m", mode, "-t", "30"])
            .output()
            .expect("run quill stop");
        assert!(
            out.status.success(),
            "quill stop failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        self.wait_exit(Duration::from_secs(30))
    }

    /// Waits for the postmaster process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status.code();
            }
            if Instant::now() > deadline {
                panic!("postmaster did not exit; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pids of the postmaster's client backends: its children except the auxiliary
    /// processes (which name themselves startup, walwriter, checkpointer).
    pub fn backend_pids(&self) -> Vec<i32> {
        self.child_pids()
            .into_iter()
            .filter(|pid| {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                !matches!(comm.trim(), "startup" | "walwriter" | "checkpointer")
            })
            .collect()
    }

    /// Pids of the postmaster's children (backends and auxiliary processes), from /proc.
    pub fn child_pids(&self) -> Vec<i32> {
        let ppid = self.postmaster_pid();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let mut stat = String::new();
            if std::fs::File::open(format!("/proc/{pid}/stat"))
                .and_then(|mut f| f.read_to_string(&mut stat))
                .is_err()
            {
                continue;
            }
            // Field 4 (after the parenthesised command name) is the parent pid.
            if let Some(rest) = stat.rsplit(')').next() {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                if fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(ppid) {
                    pids.push(pid);
                }
            }
        }
        pids
    }
}

impl TestServer {
    /// True while the postmaster process runs (it is our child, so this also reaps it).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(child) => match child.try_wait() {
                Ok(None) => true,
                _ => {
                    self.child = None;
                    false
                }
            },
        }
    }

    /// Runs `quill <command> -D DATA <args...>`.
    pub fn quill(&self, command: &str, args: &[&str]) -> Output {
        Command::new(quill_bin())
            .arg(command)
            .arg("-D")
            .arg(self.data_dir())
            .args(args)
            .output()
            .expect("run quill")
    }

    /// Runs `quill start` for a start that is expected to fail; returns its exit code
    /// and everything it printed. Panics if it is still running after `timeout`.
    pub fn start_expecting_exit(&self, timeout: Duration) -> (Option<i32>, String) {
        let out_path = self.dir.path().join("failed-start.out");
        let out = std::fs::File::create(&out_path).unwrap();
        let mut child = self
            .start_command()
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn quill start");
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                unsafe_kill(child.id() as i32, libc::SIGQUIT);
                std::thread::sleep(Duration::from_millis(500));
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "quill start kept running; it printed:\n{}",
                    std::fs::read_to_string(&out_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (
            status.code(),
            std::fs::read_to_string(&out_path).unwrap_or_default(),
        )
    }

    /// Polls the server log until it contains `needle` (true) or `timeout` passes.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// How many times `needle` occurs in the server log.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// The pid on line 1 of `postmaster.pid`, if the file exists.
    pub fn pidfile_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// kill -9 of the postmaster, then of every child it had (as an OOM killer or a
    /// power cut might leave things); postmaster.pid stays behind, stale.
    pub fn kill_everything_hard(&mut self) {
        let children = self.child_pids();
        let mut child = self.child.take().expect("server running");
        unsafe_kill(child.id() as i32, libc::SIGKILL);
        let _ = child.wait();
        for pid in &children {
            unsafe_kill(*pid, libc::SIGKILL);
        }
        for pid in children {
            assert!(
                wait_until(Duration::from_secs(10), || process_gone(pid)),
                "child {pid} survived SIGKILL"
            );
        }
    }

    /// A fresh `select 1` client: polls until the server accepts sessions again.
    pub fn connect_eventually(&self, timeout: Duration) -> postgres::Client {
        let deadline = Instant::now() + timeout;
        loop {
            match self.try_connect() {
                Ok(client) => return client,
                Err(e) if Instant::now() > deadline => {
                    panic!("no connection after {timeout:?}: {e}; log:\n{}", self.log())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// True if no process `pid` runs (gone, or a zombie nobody reaped yet).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// The SQLSTATE of a server error, if the error is one.
pub fn sqlstate(e: &postgres::Error) -> Option<String> {
    e.as_db_error().map(|db| db.code().code().to_string())
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            // Immediate shutdown first so children go too; then make sure.
            unsafe_kill(pid, libc::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn unsafe_kill(pid: i32, signal: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::try_from(signal).unwrap(),
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim_end().to_string()
}

/// The first column of the first row of a simple query (panics on an error).
pub fn first_value(client: &mut postgres::Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

/// Every row of a simple query's result, as text (NULL is `None`); panics on an
/// error.
pub fn rows(client: &mut postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// A row of non-NULL values, to compare with [`rows`].
pub fn some(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some(v.to_string())).collect()
}

/// The relation files with user OIDs (>= 16384) in the `postgres` database's
/// directory (`base/5`), sorted: how tests find the file of a table they created.
pub fn user_relation_files(server: &TestServer) -> Vec<u32> {
    let mut files: Vec<u32> = std::fs::read_dir(server.data_dir().join("base/5"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&oid| oid >= 16384)
        .collect();
    files.sort_unstable();
    files
}
