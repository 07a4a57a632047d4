//! The postmaster's listen sockets: TCP on `listen_addresses`, Unix sockets in
//! `unix_socket_directories` (`.s.PGSQL.<port>`, guarded by a `.lock` file as
//! PostgreSQL does), and the client stream a forked backend is handed.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use super::pidfile::PidFile;

pub enum Listener {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        path: PathBuf,
        _lock: PidFile,
    },
}

/// A connected client, over TCP or a Unix socket.
pub enum ClientStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    pub fn raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix { listener, .. } => listener.as_fd(),
        }
    }

    /// Accepts one pending connection; `Ok(None)` when there is none after all.
    pub fn accept(&self) -> io::Result<Option<ClientStream>> {
        let result = match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                ClientStream::Tcp(s)
            }),
            Listener::Unix { listener, .. } => {
                listener.accept().map(|(s, _)| ClientStream::Unix(s))
            }
        };
        match result {
            Ok(stream) => {
                stream.set_nonblocking(false)?;
                Ok(Some(stream))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, _lock, .. } = self {
            if std::process::id() == _lock.owner() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl ClientStream {
    pub fn raw_fd(&self) -> RawFd {
        match self {
            ClientStream::Tcp(s) => s.as_raw_fd(),
            ClientStream::Unix(s) => s.as_raw_fd(),
        }
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.set_nonblocking(on),
            ClientStream::Unix(s) => s.set_nonblocking(on),
        }
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, ClientStream::Unix(_))
    }
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.read(buf),
            ClientStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.write(buf),
            ClientStream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Binds every TCP address `listen_addresses` names. Failures are logged the way
/// PostgreSQL logs them; the caller decides whether having none is fatal.
pub fn bind_tcp(addresses: &[String], port: u16) -> Vec<Listener> {
    let mut listeners = Vec::new();
    for name in addresses {
        let host = if name == "*" {
            "0.0.0.0"
        } else {
            name.as_str()
        };
        let resolved: Vec<_> = match (host, port).to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(e) => {
                log::warn!(
                    "could not translate host name \"{name}\", service \"{port}\" to address: {e}"
                );
                continue;
            }
        };
        let before = listeners.len();
        for addr in resolved {
            let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
            match TcpListener::bind(addr) {
                Ok(l) => {
                    if let Err(e) = l.set_nonblocking(true) {
                        log::warn!("could not set listen socket to non-blocking mode: {e}");
                        continue;
                    }
                    log::info!(
                        "listening on {family} address \"{}\", port {port}",
                        addr.ip()
                    );
                    listeners.push(Listener::Tcp(l));
                }
                Err(e) => {
                    log::info!(
                        "could not bind {family} address \"{}\": {}",
                        addr.ip(),
                        describe_io_error(&e)
                    );
                    if e.kind() == io::ErrorKind::AddrInUse {
                        log::info!(target: crate::logging::HINT_TARGET,
                            "Is another postmaster already running on port {port}? If not, wait a few seconds and retry.");
                    }
                }
            }
        }
        if listeners.len() == before {
            log::warn!("could not create listen socket for \"{name}\"");
        }
    }
    listeners
}

/// Binds `<dir>/.s.PGSQL.<port>`, guarded by its `.lock` file.
pub fn bind_unix(dir: &str, port: u16, data_dir: &str) -> Result<Listener, String> {
    let path = PathBuf::from(dir).join(format!(".s.PGSQL.{port}"));
    let lock_path = PathBuf::from(dir).join(format!(".s.PGSQL.{port}.lock"));
    let lock = PidFile::acquire(
        &lock_path,
        vec![std::process::id().to_string(), data_dir.to_string()],
    )?;
    // The lock is ours, so any socket file left at the path is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| {
        format!(
            "could not bind Unix address \"{}\": {}",
            path.display(),
            describe_io_error(&e)
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("could not set Unix socket non-blocking: {e}"))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777));
    log::info!("listening on Unix socket \"{}\"", path.display());
    Ok(Listener::Unix {
        listener,
        path,
        _lock: lock,
    })
}

/// The strerror text PostgreSQL prints ("Address already in use"), without Rust's
/// "(os error 98)" suffix.
pub fn describe_io_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}
