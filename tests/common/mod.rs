//! Test harness: starts the real `quill` binary on a free port with a temporary data
//! directory (its Unix socket inside that directory too), and always stops it.

#![allow(dead_code)]

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
        let mut server = TestServer {
            port: free_port(),
            dir,
            child: None,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        server.launch();
        server
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

    /// Starts (or restarts) the postmaster on the same data directory and port.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
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
        let child = cmd
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
            .args(["-p", &self.port.to_string(), "-U", SUPERUSER, "-d", "postgres"])
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

    /// Pids of the postmaster's children (backends), from /proc.
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
