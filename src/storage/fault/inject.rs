//! [`FaultInjectingIo`]: a [`FileIo`] wrapper that fails chosen operations with EIO
//! or ENOSPC, by [`FaultRule`]s (see the module doc of `storage::fault`).

use std::io;
use std::ops::BitOr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::storage::file_io::{errno_error, normalize_relative, FileIo, IoFile, OpenMode};

/// The error a [`FaultRule`] injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `EIO`: the device failed (QuillError 58030).
    Eio,
    /// `ENOSPC`: the disk is full (QuillError 53100 disk_full).
    Enospc,
}

impl FaultKind {
    pub fn errno(self) -> i32 {
        match self {
            FaultKind::Eio => libc::EIO,
            FaultKind::Enospc => libc::ENOSPC,
        }
    }
}

/// A set of operation classes a [`FaultRule`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultOps(u8);

impl FaultOps {
    /// `read_at` (and the reads of `read_exact_at`/`read_full_at`).
    pub const READ: FaultOps = FaultOps(1);
    /// `write_all_at` and `set_len`.
    pub const WRITE: FaultOps = FaultOps(2);
    /// `sync_data`, `sync_all` and `sync_dir`.
    pub const SYNC: FaultOps = FaultOps(4);
    /// `open`, in any mode.
    pub const OPEN: FaultOps = FaultOps(8);
    /// `remove`, `rename`, `create_dir_all`, `list_dir`.
    pub const DIR: FaultOps = FaultOps(16);
    pub const ALL: FaultOps = FaultOps(31);

    pub fn contains(self, other: FaultOps) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for FaultOps {
    type Output = FaultOps;
    fn bitor(self, rhs: FaultOps) -> FaultOps {
        FaultOps(self.0 | rhs.0)
    }
}

/// When to fail: operations of class `ops` on paths under `path_prefix` (whole path
/// components; `None` = any path) succeed `skip` times, then fail `times` times
/// (`None` = from then on, until [`FaultInjectingIo::clear`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub kind: FaultKind,
    pub ops: FaultOps,
    pub path_prefix: Option<PathBuf>,
    pub skip: u64,
    pub times: Option<u64>,
}

impl FaultRule {
    /// Fails every matching operation, on any path.
    pub fn new(kind: FaultKind, ops: FaultOps) -> FaultRule {
        FaultRule {
            kind,
            ops,
            path_prefix: None,
            skip: 0,
            times: None,
        }
    }

    /// Only paths equal to or below `prefix` (e.g. `base/5`, `pg_wal`).
    pub fn under(mut self, prefix: impl Into<PathBuf>) -> FaultRule {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Lets the first `n` matching operations succeed.
    pub fn after(mut self, n: u64) -> FaultRule {
        self.skip = n;
        self
    }

    /// Fails only `n` operations, then lets the rest succeed.
    pub fn times(mut self, n: u64) -> FaultRule {
        self.times = Some(n);
        self
    }
}

#[derive(Debug, Default)]
struct FaultState {
    /// Each rule with how many operations it matched and how many it failed.
    rules: Vec<(FaultRule, u64, u64)>,
    injected: u64,
}

impl FaultState {
    /// Counts the operation against every rule; the first rule that fires decides.
    fn check(&mut self, op: FaultOps, paths: &[&Path]) -> io::Result<()> {
        let mut fired = None;
        for (rule, matched, failed) in &mut self.rules {
            let on_path = match &rule.path_prefix {
                None => true,
                Some(prefix) => paths.iter().any(|p| p.starts_with(prefix)),
            };
            if !rule.ops.contains(op) || !on_path {
                continue;
            }
            *matched += 1;
            let fires = *matched > rule.skip && rule.times.is_none_or(|t| *failed < t);
            if fires && fired.is_none() {
                *failed += 1;
                fired = Some(rule.kind);
            }
        }
        match fired {
            Some(kind) => {
                self.injected += 1;
                Err(errno_error(kind.errno()))
            }
            None => Ok(()),
        }
    }
}

/// A [`FileIo`] that forwards to another and fails operations chosen by rules.
#[derive(Clone)]
pub struct FaultInjectingIo {
    inner: Arc<dyn FileIo>,
    faults: Arc<Mutex<FaultState>>,
}

impl FaultInjectingIo {
    pub fn new(inner: Arc<dyn FileIo>) -> FaultInjectingIo {
        FaultInjectingIo {
            inner,
            faults: Arc::new(Mutex::new(FaultState::default())),
        }
    }

    /// Adds a rule; rules apply to handles opened before and after.
    pub fn add_rule(&self, rule: FaultRule) {
        self.lock().rules.push((rule, 0, 0));
    }

    /// After `n_ops` more successful writes/syncs (any path), every write and sync
    /// fails with `kind` until [`clear`](Self::clear).
    pub fn fail_after(&self, n_ops: u64, kind: FaultKind) {
        self.add_rule(FaultRule::new(kind, FaultOps::WRITE | FaultOps::SYNC).after(n_ops));
    }

    /// Removes all rules (the disk is healthy again).
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// How many operations have been failed so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, op: FaultOps, paths: &[&Path]) -> io::Result<()> {
        let normalized: Vec<PathBuf> = paths
            .iter()
            .map(|p| normalize_relative(p))
            .collect::<io::Result<_>>()?;
        let refs: Vec<&Path> = normalized.iter().map(PathBuf::as_path).collect();
        self.lock().check(op, &refs)
    }
}

impl FileIo for FaultInjectingIo {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn IoFile>> {
        self.check(FaultOps::OPEN, &[path])?;
        Ok(Box::new(FaultFile {
            inner: self.inner.open(path, mode)?,
            path: normalize_relative(path)?,
            faults: Arc::clone(&self.faults),
        }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.check(FaultOps::DIR, &[path])?;
        self.inner.remove(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(FaultOps::DIR, &[from, to])?;
        self.inner.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(FaultOps::SYNC, &[dir])?;
        self.inner.sync_dir(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.check(FaultOps::DIR, &[dir])?;
        self.inner.list_dir(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.check(FaultOps::DIR, &[dir])?;
        self.inner.create_dir_all(dir)
    }
}

/// A handle whose operations consult the rules of the [`FaultInjectingIo`] that opened it.
struct FaultFile {
    inner: Box<dyn IoFile>,
    path: PathBuf,
    faults: Arc<Mutex<FaultState>>,
}

impl FaultFile {
    fn check(&self, op: FaultOps) -> io::Result<()> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        faults.check(op, &[self.path.as_path()])
    }
}

impl IoFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.check(FaultOps::READ)?;
        self.inner.read_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check(FaultOps::WRITE)?;
        self.inner.write_all_at(buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.check(FaultOps::SYNC)?;
        self.inner.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.check(FaultOps::SYNC)?;
        self.inner.sync_all()
    }

    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.check(FaultOps::WRITE)?;
        self.inner.set_len(len_bytes)
    }
}
