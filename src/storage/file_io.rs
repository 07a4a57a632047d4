//! The one file I/O trait (SQLite's VFS idea): every read, write, fsync and directory
//! change of a data file, WAL segment, clog page or control file goes through
//! [`FileIo`] and the [`IoFile`] handles it opens. Nothing in Quill calls `std::fs`
//! on the data directory directly.
//!
//! Why: durability bugs only show when un-fsynced writes are lost, reordered or torn,
//! or when the disk says EIO/ENOSPC. Because all I/O passes through this trait, tests
//! swap in [`SimulatedDisk`](super::fault::SimulatedDisk) (which models what survives
//! power loss) or wrap the real disk in
//! [`FaultInjectingIo`](super::fault::FaultInjectingIo) (which injects errors), and the
//! production code paths run unchanged. There is no test-only shortcut around fsync:
//! code that forgets a `sync_data` or `sync_dir` loses data under the simulated disk.
//!
//! # Paths
//! Every path handed to a [`FileIo`] is **relative to the data directory** the
//! implementation was built for (`base/5/16384`, `pg_wal/000000010000000000000001`,
//! `global/pg_control`). Absolute paths and `..` components are rejected with
//! `InvalidInput`, so the real and the simulated disk have the same namespace and no
//! caller can escape the data directory. The empty path (or `.`) names the data
//! directory itself (for `list_dir` and `sync_dir`).
//!
//! # Durability contract (both implementations honour it)
//! 1. `write_all_at` puts bytes in the (possibly volatile) file image; they are durable
//!    only after a later `sync_data`/`sync_all` on that file returns `Ok`.
//! 2. Creating, renaming or removing a file changes the directory; the change is
//!    durable only after `sync_dir` of the parent directory returns `Ok` (both parents
//!    for a rename across directories). Syncing a file does not sync its name.
//! 3. An `Err` from a sync means nothing about what reached the disk; callers treat a
//!    failed data-file or WAL fsync as a PANIC (PostgreSQL's `data_sync_retry = off`),
//!    never as "try again later".

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// How [`FileIo::open`] treats a missing or existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file for reading only; writes fail with `EBADF`.
    ReadOnly,
    /// Open an existing file for reading and writing; `NotFound` if missing.
    ReadWrite,
    /// Open for reading and writing, creating an empty file if missing.
    CreateIfMissing,
    /// Create a new empty file; `AlreadyExists` if the name is taken.
    CreateNew,
}

impl OpenMode {
    /// True if this mode may add a directory entry.
    pub fn creates(self) -> bool {
        matches!(self, OpenMode::CreateIfMissing | OpenMode::CreateNew)
    }
}

/// The file system under the data directory. Object-safe; shared as
/// `Arc<dyn FileIo>` by every subsystem of one process.
pub trait FileIo: Send + Sync {
    /// Opens (or creates, per `mode`) the file at `path`. Creating requires the
    /// parent directory to exist (`NotFound` otherwise).
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn IoFile>>;
    /// Removes a file's directory entry (not a directory). Open handles stay usable.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals of entries in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// True if a file or directory exists at `path` (false on any error).
    fn exists(&self, path: &Path) -> bool;
    /// Names (not paths) of the entries of `dir`, files and directories, sorted.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates `dir` and any missing parents (mode 0700). Directory creation is
    /// durable once this returns (see each implementation for how).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
}

/// An open file: positioned I/O only (pread/pwrite), so one handle can be shared by
/// threads without a seek position to race on.
pub trait IoFile: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at EOF).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`, extending the file (with a zero-filled hole if
    /// `offset` is past the end). Not durable until a sync.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// fdatasync: makes the file's data and size durable.
    fn sync_data(&self) -> io::Result<()>;
    /// fsync: as `sync_data`, plus all other metadata.
    fn sync_all(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or zero-extends to `len_bytes`. Not durable until a sync.
    fn set_len(&self, len_bytes: u64) -> io::Result<()>;

    /// True if the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Reads until `buf` is full or EOF; returns the number of bytes read, so a
    /// caller can report "read only N of M bytes".
    fn read_full_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Fills `buf` from `offset`; `UnexpectedEof` if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let n = self.read_full_at(buf, offset)?;
        if n < buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read only {n} of {} bytes", buf.len()),
            ));
        }
        Ok(())
    }
}

/// Checks that `path` is relative and has no `..`, and returns it without `.`
/// components. Shared by every [`FileIo`] so all agree on the namespace.
pub fn normalize_relative(path: &Path) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "path \"{}\" must be relative to the data directory, without \"..\"",
                        path.display()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// `io::Error` for an errno, so `raw_os_error()` works the same for real and
/// simulated errors (QuillError::io maps ENOSPC to 53100 through it).
pub fn errno_error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// The real file system: `std::fs` plus pread/pwrite, rooted at a data directory.
#[derive(Debug, Clone)]
pub struct OsFileIo {
    root: PathBuf,
}

impl OsFileIo {
    /// An `OsFileIo` whose relative paths resolve under `root` (the data directory).
    /// `root` itself need not exist yet (initdb creates it with `create_dir_all("")`).
    pub fn new(root: impl Into<PathBuf>) -> OsFileIo {
        OsFileIo { root: root.into() }
    }

    /// The data directory this instance resolves paths against.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        Ok(self.root.join(normalize_relative(path)?))
    }
}

impl FileIo for OsFileIo {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn IoFile>> {
        let full = self.resolve(path)?;
        let mut options = OpenOptions::new();
        options.read(true).mode(0o600);
        match mode {
            OpenMode::ReadOnly => {}
            OpenMode::ReadWrite => {
                options.write(true);
            }
            OpenMode::CreateIfMissing => {
                options.write(true).create(true);
            }
            OpenMode::CreateNew => {
                options.write(true).create_new(true);
            }
        }
        let file = options.open(full)?;
        Ok(Box::new(OsFile { file }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(self.resolve(path)?)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(self.resolve(from)?, self.resolve(to)?)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // Opening a directory read-only and fsyncing it is how PostgreSQL's
        // fsync_fname() makes entries durable on Linux.
        File::open(self.resolve(dir)?)?.sync_all()
    }

    fn exists(&self, path: &Path) -> bool {
        self.resolve(path).map(|p| p.exists()).unwrap_or(false)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(self.resolve(dir)?)? {
            let name = entry?.file_name();
            names.push(name.to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let full = self.resolve(dir)?;
        if full.is_dir() {
            return Ok(());
        }
        // The deepest ancestor that already exists gains an entry, and so does each
        // new directory except the last: fsync those so the new names are durable.
        let mut existing = full.clone();
        while !existing.is_dir() && existing.pop() {}
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&full)?;
        let mut dir = if existing.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            existing.clone()
        };
        let new_parts: Vec<_> = full
            .strip_prefix(&existing)
            .unwrap_or(&full)
            .iter()
            .collect();
        File::open(&dir)?.sync_all()?;
        for part in new_parts.iter().take(new_parts.len().saturating_sub(1)) {
            dir.push(part);
            File::open(&dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// An open real file.
#[derive(Debug)]
struct OsFile {
    file: File,
}

impl IoFile for OsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(&self.file, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.file, buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.file.set_len(len_bytes)
    }
}

/// Directories that hold relation files: `global/` and every `base/<db>/`.
pub fn relation_dirs(io: &dyn FileIo) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("global")];
    for db in io.list_dir(Path::new("base")).unwrap_or_default() {
        dirs.push(Path::new("base").join(db));
    }
    dirs
}

/// fsyncs every file in `dirs`, then each directory itself.
pub fn sync_files_in(io: &dyn FileIo, dirs: &[PathBuf]) -> crate::error::QuillResult<()> {
    for dir in dirs {
        for name in io.list_dir(dir).unwrap_or_default() {
            let path = dir.join(&name);
            if let Ok(file) = io.open(&path, OpenMode::ReadOnly) {
                file.sync_all().map_err(|e| {
                    crate::error::QuillError::io(
                        &format!("could not fsync file \"{}\"", path.display()),
                        &e,
                    )
                })?;
            }
        }
        let _ = io.sync_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io_in_tempdir() -> (tempfile::TempDir, OsFileIo) {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = OsFileIo::new(dir.path().join("data"));
        io.create_dir_all(Path::new("")).expect("create data dir");
        (dir, io)
    }

    #[test]
    fn os_write_read_sync_len_and_set_len() {
        let (_dir, io) = io_in_tempdir();
        io.create_dir_all(Path::new("base/5")).unwrap();
        let f = io
            .open(Path::new("base/5/16384"), OpenMode::CreateNew)
            .unwrap();
        assert!(f.is_empty().unwrap());
        f.write_all_at(b"hello", 10).unwrap();
        assert_eq!(f.len().unwrap(), 15);
        let mut buf = [0xffu8; 15];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf[..10], &[0u8; 10], "hole reads as zeros");
        assert_eq!(&buf[10..], b"hello");
        f.sync_data().unwrap();
        f.sync_all().unwrap();
        let mut big = [0u8; 20];
        assert_eq!(f.read_full_at(&mut big, 0).unwrap(), 15);
        let err = f.read_exact_at(&mut big, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        f.set_len(4).unwrap();
        assert_eq!(f.len().unwrap(), 4);
        io.sync_dir(Path::new("base/5")).unwrap();
    }

    #[test]
    fn os_open_modes() {
        let (_dir, io) = io_in_tempdir();
        let p = Path::new("f");
        let missing = io.open(p, OpenMode::ReadWrite).err().unwrap();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        io.open(p, OpenMode::CreateIfMissing).unwrap();
        io.open(p, OpenMode::CreateIfMissing).unwrap();
        let taken = io.open(p, OpenMode::CreateNew).err().unwrap();
        assert_eq!(taken.kind(), io::ErrorKind::AlreadyExists);
        let ro = io.open(p, OpenMode::ReadOnly).unwrap();
        assert!(ro.write_all_at(b"x", 0).is_err());
        let no_parent = io.open(Path::new("nodir/f"), OpenMode::CreateNew);
        assert_eq!(no_parent.err().unwrap().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn os_rename_remove_list_exists() {
        let (_dir, io) = io_in_tempdir();
        io.create_dir_all(Path::new("global")).unwrap();
        let f = io
            .open(Path::new("global/pg_control.tmp"), OpenMode::CreateNew)
            .unwrap();
        f.write_all_at(b"ctl", 0).unwrap();
        f.sync_all().unwrap();
        io.rename(
            Path::new("global/pg_control.tmp"),
            Path::new("global/pg_control"),
        )
        .unwrap();
        io.sync_dir(Path::new("global")).unwrap();
        assert!(io.exists(Path::new("global/pg_control")));
        assert!(!io.exists(Path::new("global/pg_control.tmp")));
        io.open(Path::new("global/a"), OpenMode::CreateNew).unwrap();
        assert_eq!(
            io.list_dir(Path::new("global")).unwrap(),
            vec!["a".to_string(), "pg_control".to_string()]
        );
        assert_eq!(io.list_dir(Path::new(".")).unwrap(), vec!["global"]);
        io.remove(Path::new("global/a")).unwrap();
        assert!(!io.exists(Path::new("global/a")));
        let gone = io.remove(Path::new("global/a")).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn paths_must_stay_inside_the_data_directory() {
        let (_dir, io) = io_in_tempdir();
        for bad in ["/etc/passwd", "../x", "base/../../x"] {
            let err = io.open(Path::new(bad), OpenMode::ReadOnly).err().unwrap();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(!io.exists(Path::new(bad)));
        }
        assert_eq!(
            normalize_relative(Path::new("./base/./5")).unwrap(),
            PathBuf::from("base/5")
        );
    }
}
