//! Test doubles for the [`FileIo`] trait: a disk that can lose power, and a wrapper that
//! makes the disk fail (DESIGN.md §9, "simulated power loss", in the style of SQLite's
//! crash tests). Production code never sees these types; it only sees `dyn FileIo`.
//!
//! # [`SimulatedDisk`]: what survives power loss
//! An in-memory file system. Each file has a *durable image* (what the platter holds)
//! and a *current image* (what reads see: durable + page cache), plus the list of
//! writes and truncations issued since its last `sync_data`/`sync_all`. A sync applies
//! that list to the durable image. [`SimulatedDisk::crash`] is the power cut: for each
//! file, in issue order, a seeded choice per un-synced write
//! * drops it (it never left the page cache),
//! * keeps it, or
//! * tears it: the write is cut into pieces at absolute file offsets that are multiples
//!   of 512 bytes (a sector) or 4 KiB (a file-system page, chosen per write), and each
//!   piece independently survives or not;
//!
//! and each un-synced truncation survives with probability ½. Because every write gets
//! its own choice, a later write can survive while an earlier one is lost — the
//! reordering a disk cache produces. Overlapping writes never *regress* a sector to an
//! older version after a newer one survived, since the page cache writes back current
//! contents; a sector therefore ends up holding some version it had since the last
//! sync. **Synced data always survives**, unless a later un-synced write overwrote it.
//!
//! Directory entries follow the same discipline: `open` with create, `rename` and
//! `remove` change the current namespace at once, and change the durable namespace only
//! when `sync_dir` runs on the entry's parent (for a rename across directories, each
//! half when its directory is synced). At a crash, a seeded prefix of the still-pending
//! directory operations survives, in order, as a journaling file system replays its
//! journal. A file reachable by no durable name after the crash is gone, data and all.
//! Directories themselves are durable as soon as `create_dir_all` returns (simplification:
//! Quill creates directories only at initdb and CREATE DATABASE, which fsync them).
//!
//! After a crash, handles opened before it fail (the process that held them is dead);
//! reopen through the disk. Everything is deterministic for a given seed and call
//! sequence: maps are ordered and the only randomness is [`XorShift64Star`].
//!
//! # [`FaultInjectingIo`]: EIO and ENOSPC
//! Wraps any `Arc<dyn FileIo>` — [`OsFileIo`](super::file_io::OsFileIo) to test the real
//! server on a "full" disk, or a [`SimulatedDisk`] — and fails chosen operations by
//! [`FaultRule`]s: which kinds of operation, under which path, after how many matching
//! successes, how many times. A failed operation does not reach the inner layer: a
//! failed write writes nothing, a failed sync syncs nothing (the writes stay un-synced
//! and a later crash may drop them). Linux can instead forget the dirty pages and let
//! the *next* fsync succeed; Quill must PANIC on a failed fsync either way, and that is
//! what tests built on this assert.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::ops::BitOr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::file_io::{errno_error, normalize_relative, FileIo, IoFile, OpenMode};

/// xorshift64* (Vigna): a tiny, fast, deterministic PRNG for seeded tests.
#[derive(Debug, Clone)]
pub struct XorShift64Star {
    state: u64,
}

impl XorShift64Star {
    /// A generator for `seed`; every seed (0 included) gives a distinct, usable stream.
    pub fn new(seed: u64) -> XorShift64Star {
        // One splitmix64 step spreads nearby seeds apart and never leaves state 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift64Star {
            state: if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z },
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough value in `0..n` (`n > 0`; modulo bias is irrelevant for tests).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "XorShift64Star::below(0)");
        self.next_u64() % n
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// What [`SimulatedDisk::crash`] did, for logging next to the seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashReport {
    pub seed: u64,
    pub writes_kept: u64,
    pub writes_dropped: u64,
    pub writes_torn: u64,
    pub truncations_kept: u64,
    pub truncations_dropped: u64,
    pub dir_ops_kept: u64,
    pub dir_ops_dropped: u64,
    /// Files that no durable name reached after the crash (their data is gone).
    pub files_lost: u64,
}

/// An un-synced change to a file.
#[derive(Debug, Clone)]
enum PendingChange {
    Write { offset: usize, data: Vec<u8> },
    SetLen(usize),
}

#[derive(Debug, Default)]
struct SimFileData {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<PendingChange>,
}

/// One directory-entry change: `path` now names `inode`, or nothing.
#[derive(Debug, Clone)]
struct EntryChange {
    path: PathBuf,
    inode: Option<u64>,
}

#[derive(Debug)]
struct SimState {
    /// Bumped by every crash; handles from an older generation are dead.
    generation: u64,
    next_inode: u64,
    files: BTreeMap<u64, SimFileData>,
    /// Directories (durable at once); the root is the empty path.
    dirs: BTreeSet<PathBuf>,
    /// The namespace as processes see it.
    names: BTreeMap<PathBuf, u64>,
    /// The namespace that survives a crash.
    durable_names: BTreeMap<PathBuf, u64>,
    /// Namespace operations not yet made durable, in issue order; each is the list of
    /// entry changes (one, or two for a rename) still waiting for their `sync_dir`.
    pending_dir_ops: Vec<Vec<EntryChange>>,
}

/// An in-memory [`FileIo`] that models power loss; see the module doc. Clones share
/// one disk (hand a clone, or an `Arc`, to the code under test and keep one to crash it).
#[derive(Debug, Clone)]
pub struct SimulatedDisk {
    state: Arc<Mutex<SimState>>,
}

impl Default for SimulatedDisk {
    fn default() -> Self {
        SimulatedDisk::new()
    }
}

fn apply_write(image: &mut Vec<u8>, offset: usize, data: &[u8]) {
    let end = offset + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[offset..end].copy_from_slice(data);
}

fn apply_change(image: &mut Vec<u8>, change: &PendingChange) {
    match change {
        PendingChange::Write { offset, data } => apply_write(image, *offset, data),
        PendingChange::SetLen(len) => image.resize(*len, 0),
    }
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn to_usize(value: u64) -> io::Result<usize> {
    // Simulated files live in memory; anything near usize::MAX is a bug or an attack.
    const MAX_SIM_FILE_BYTES: u64 = 1 << 40;
    if value > MAX_SIM_FILE_BYTES {
        return Err(errno_error(libc::EFBIG));
    }
    Ok(value as usize)
}

impl SimState {
    fn lookup_dir(&self, dir: &Path) -> io::Result<()> {
        if self.dirs.contains(dir) {
            Ok(())
        } else if self.names.contains_key(dir) {
            Err(errno_error(libc::ENOTDIR))
        } else {
            Err(errno_error(libc::ENOENT))
        }
    }

    fn lookup_file(&self, path: &Path) -> io::Result<u64> {
        if let Some(&inode) = self.names.get(path) {
            Ok(inode)
        } else if self.dirs.contains(path) {
            Err(errno_error(libc::EISDIR))
        } else {
            Err(errno_error(libc::ENOENT))
        }
    }

    fn file(&mut self, inode: u64, generation: u64) -> io::Result<&mut SimFileData> {
        if generation != self.generation {
            return Err(io::Error::other(
                "file handle opened before a simulated crash",
            ));
        }
        Ok(self
            .files
            .get_mut(&inode)
            .expect("simulated inode of a live handle exists"))
    }

    /// Applies a seeded prefix of the pending directory operations to the durable
    /// namespace, then makes it the current one and forgets unreachable files.
    fn crash_namespace(&mut self, rng: &mut XorShift64Star, report: &mut CrashReport) {
        let ops = std::mem::take(&mut self.pending_dir_ops);
        let kept = rng.below(ops.len() as u64 + 1) as usize;
        for change in ops[..kept].iter().flatten() {
            match change.inode {
                Some(inode) => self.durable_names.insert(change.path.clone(), inode),
                None => self.durable_names.remove(&change.path),
            };
        }
        report.dir_ops_kept = kept as u64;
        report.dir_ops_dropped = (ops.len() - kept) as u64;
        // A durable name whose directory vanished cannot exist; directories are durable
        // at once, so this only guards against misuse.
        let dirs = &self.dirs;
        self.durable_names
            .retain(|p, _| dirs.contains(&parent_of(p)));
        self.names = self.durable_names.clone();
        let reachable: BTreeSet<u64> = self.names.values().copied().collect();
        let before = self.files.len();
        self.files.retain(|inode, _| reachable.contains(inode));
        report.files_lost = (before - self.files.len()) as u64;
    }

    fn crash_file(file: &mut SimFileData, rng: &mut XorShift64Star, report: &mut CrashReport) {
        for change in std::mem::take(&mut file.pending) {
            match change {
                PendingChange::SetLen(len) => {
                    if rng.chance(1, 2) {
                        file.durable.resize(len, 0);
                        report.truncations_kept += 1;
                    } else {
                        report.truncations_dropped += 1;
                    }
                }
                PendingChange::Write { offset, data } => match rng.below(3) {
                    0 => report.writes_dropped += 1,
                    1 => {
                        apply_write(&mut file.durable, offset, &data);
                        report.writes_kept += 1;
                    }
                    _ => {
                        let granule = if rng.chance(1, 2) { 512 } else { 4096 };
                        let end = offset + data.len();
                        let mut start = offset;
                        while start < end {
                            let piece_end = ((start / granule + 1) * granule).min(end);
                            if rng.chance(1, 2) {
                                let piece = &data[start - offset..piece_end - offset];
                                apply_write(&mut file.durable, start, piece);
                            }
                            start = piece_end;
                        }
                        report.writes_torn += 1;
                    }
                },
            }
        }
        file.current = file.durable.clone();
    }
}

impl SimulatedDisk {
    /// An empty disk holding only the (root) data directory.
    pub fn new() -> SimulatedDisk {
        let mut dirs = BTreeSet::new();
        dirs.insert(PathBuf::new());
        SimulatedDisk {
            state: Arc::new(Mutex::new(SimState {
                generation: 0,
                next_inode: 1,
                files: BTreeMap::new(),
                dirs,
                names: BTreeMap::new(),
                durable_names: BTreeMap::new(),
                pending_dir_ops: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test thread must not hide the disk from the others.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Cuts the power: turns the current state into what a reboot would find, as the
    /// module doc describes, chosen by `seed`. Handles opened before fail afterwards.
    pub fn crash(&self, seed: u64) -> CrashReport {
        let mut rng = XorShift64Star::new(seed);
        let mut report = CrashReport {
            seed,
            ..CrashReport::default()
        };
        let mut state = self.lock();
        state.generation += 1;
        state.crash_namespace(&mut rng, &mut report);
        for file in state.files.values_mut() {
            SimState::crash_file(file, &mut rng, &mut report);
        }
        report
    }

    /// Number of file writes and truncations not yet made durable by a sync.
    pub fn unsynced_file_changes(&self) -> usize {
        self.lock().files.values().map(|f| f.pending.len()).sum()
    }

    /// Number of create/rename/remove operations not fully made durable by `sync_dir`.
    pub fn unsynced_dir_ops(&self) -> usize {
        self.lock().pending_dir_ops.len()
    }
}

impl FileIo for SimulatedDisk {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn IoFile>> {
        let path = normalize_relative(path)?;
        let mut state = self.lock();
        state.lookup_dir(&parent_of(&path))?;
        let inode = match state.lookup_file(&path) {
            Ok(_) if mode == OpenMode::CreateNew => return Err(errno_error(libc::EEXIST)),
            Ok(inode) => inode,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && mode.creates() => {
                let inode = state.next_inode;
                state.next_inode += 1;
                state.files.insert(inode, SimFileData::default());
                state.names.insert(path.clone(), inode);
                state.pending_dir_ops.push(vec![EntryChange {
                    path,
                    inode: Some(inode),
                }]);
                inode
            }
            Err(e) => return Err(e),
        };
        Ok(Box::new(SimFile {
            state: Arc::clone(&self.state),
            inode,
            generation: state.generation,
            writable: mode != OpenMode::ReadOnly,
        }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let path = normalize_relative(path)?;
        let mut state = self.lock();
        state.lookup_file(&path)?;
        state.names.remove(&path);
        state
            .pending_dir_ops
            .push(vec![EntryChange { path, inode: None }]);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (normalize_relative(from)?, normalize_relative(to)?);
        let mut state = self.lock();
        let inode = state.lookup_file(&from)?;
        state.lookup_dir(&parent_of(&to))?;
        if state.dirs.contains(&to) {
            return Err(errno_error(libc::EISDIR));
        }
        if from == to {
            return Ok(());
        }
        state.names.remove(&from);
        state.names.insert(to.clone(), inode);
        // The new name first: if only a prefix survives, the file has both names,
        // never neither.
        state.pending_dir_ops.push(vec![
            EntryChange {
                path: to,
                inode: Some(inode),
            },
            EntryChange {
                path: from,
                inode: None,
            },
        ]);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let dir = normalize_relative(dir)?;
        let mut state = self.lock();
        state.lookup_dir(&dir)?;
        let mut ops = std::mem::take(&mut state.pending_dir_ops);
        for op in &mut ops {
            for change in op.iter().filter(|c| parent_of(&c.path) == dir) {
                match change.inode {
                    Some(inode) => state.durable_names.insert(change.path.clone(), inode),
                    None => state.durable_names.remove(&change.path),
                };
            }
            op.retain(|c| parent_of(&c.path) != dir);
        }
        ops.retain(|op| !op.is_empty());
        state.pending_dir_ops = ops;
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let Ok(path) = normalize_relative(path) else {
            return false;
        };
        let state = self.lock();
        state.names.contains_key(&path) || state.dirs.contains(&path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let dir = normalize_relative(dir)?;
        let state = self.lock();
        state.lookup_dir(&dir)?;
        let files = state.names.keys();
        let subdirs = state.dirs.iter().filter(|d| !d.as_os_str().is_empty());
        let mut names: Vec<String> = files
            .chain(subdirs)
            .filter(|p| parent_of(p) == dir)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        Ok(names)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let dir = normalize_relative(dir)?;
        let mut state = self.lock();
        let mut prefix = PathBuf::new();
        for part in dir.iter() {
            prefix.push(part);
            if state.names.contains_key(&prefix) {
                return Err(errno_error(libc::ENOTDIR));
            }
            state.dirs.insert(prefix.clone());
        }
        Ok(())
    }
}

/// A handle on a [`SimulatedDisk`] file.
#[derive(Debug)]
struct SimFile {
    state: Arc<Mutex<SimState>>,
    inode: u64,
    generation: u64,
    writable: bool,
}

impl SimFile {
    fn with_file<T>(&self, f: impl FnOnce(&mut SimFileData) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(state.file(self.inode, self.generation)?)
    }

    fn change(&self, change: PendingChange) -> io::Result<()> {
        if !self.writable {
            return Err(errno_error(libc::EBADF));
        }
        self.with_file(|file| {
            apply_change(&mut file.current, &change);
            file.pending.push(change);
            Ok(())
        })
    }

    fn sync(&self) -> io::Result<()> {
        self.with_file(|file| {
            for change in std::mem::take(&mut file.pending) {
                apply_change(&mut file.durable, &change);
            }
            debug_assert_eq!(file.durable.len(), file.current.len());
            Ok(())
        })
    }
}

impl IoFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let offset = to_usize(offset)?;
        self.with_file(|file| {
            let available = file.current.len().saturating_sub(offset);
            let n = available.min(buf.len());
            buf[..n].copy_from_slice(&file.current[offset..offset + n]);
            Ok(n)
        })
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        to_usize(offset + buf.len() as u64)?;
        let offset = offset as usize;
        self.change(PendingChange::Write {
            offset,
            data: buf.to_vec(),
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync()
    }

    fn len(&self) -> io::Result<u64> {
        self.with_file(|file| Ok(file.current.len() as u64))
    }

    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        let len = to_usize(len_bytes)?;
        self.change(PendingChange::SetLen(len))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const SECTOR: usize = 512;

    fn disk_with_dir(dir: &str) -> SimulatedDisk {
        let disk = SimulatedDisk::new();
        disk.create_dir_all(Path::new(dir)).unwrap();
        disk
    }

    fn read_all(io: &dyn FileIo, path: &str) -> Option<Vec<u8>> {
        let file = io.open(Path::new(path), OpenMode::ReadOnly).ok()?;
        let mut buf = vec![0; file.len().unwrap() as usize];
        file.read_exact_at(&mut buf, 0).unwrap();
        Some(buf)
    }

    #[test]
    fn xorshift_is_deterministic_per_seed() {
        let (mut a, mut b, mut c) = (
            XorShift64Star::new(7),
            XorShift64Star::new(7),
            XorShift64Star::new(8),
        );
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(xs, (0..4).map(|_| c.next_u64()).collect::<Vec<_>>());
        assert_ne!(XorShift64Star::new(0).next_u64(), 0);
    }

    #[test]
    fn synced_data_survives_crash_for_every_seed() {
        for seed in 0..500u64 {
            let mut rng = XorShift64Star::new(seed);
            let disk = disk_with_dir("base/5");
            let file = disk
                .open(Path::new("base/5/16384"), OpenMode::CreateNew)
                .unwrap();
            disk.sync_dir(Path::new("base/5")).unwrap();
            let mut synced = vec![0u8; 3 * 8192];
            rng.fill(&mut synced);
            file.write_all_at(&synced[..8192], 0).unwrap();
            file.write_all_at(&synced[8192..], 8192).unwrap();
            file.sync_data().unwrap();
            // Un-synced noise after the sync: an extension, and another new file.
            let mut noise = vec![0u8; 8192];
            rng.fill(&mut noise);
            file.write_all_at(&noise, synced.len() as u64).unwrap();
            let other = disk
                .open(Path::new("base/5/16385"), OpenMode::CreateNew)
                .unwrap();
            other.write_all_at(&noise, 0).unwrap();
            let report = disk.crash(seed);
            let after = read_all(&disk, "base/5/16384")
                .unwrap_or_else(|| panic!("seed {seed}: synced file lost ({report:?})"));
            assert!(
                after.len() >= synced.len() && after[..synced.len()] == synced[..],
                "seed {seed}: synced bytes changed by crash ({report:?})"
            );
            assert!(
                file.len().is_err(),
                "seed {seed}: handle survived the crash"
            );
        }
    }

    /// Classifies each 512-byte sector of `after` as old or new; panics on a mix.
    fn sector_outcomes(seed: u64, old: &[u8], new: &[u8], after: &[u8]) -> (usize, usize) {
        assert_eq!(after.len(), old.len(), "seed {seed}: length changed");
        let (mut old_n, mut new_n) = (0, 0);
        for (i, sector) in after.chunks(SECTOR).enumerate() {
            let range = i * SECTOR..(i + 1) * SECTOR;
            if sector == &new[range.clone()] {
                new_n += 1;
            } else if sector == &old[range] {
                old_n += 1;
            } else {
                panic!("seed {seed}: sector {i} mixes old and new bytes");
            }
        }
        (old_n, new_n)
    }

    #[test]
    fn unsynced_writes_are_dropped_kept_or_torn_at_sector_granularity() {
        let (mut dropped, mut kept, mut torn) = (0, 0, 0);
        for seed in 0..200u64 {
            let disk = disk_with_dir("pg_wal");
            let path = Path::new("pg_wal/000000010000000000000001");
            let file = disk.open(path, OpenMode::CreateNew).unwrap();
            disk.sync_dir(Path::new("pg_wal")).unwrap();
            let old = vec![0xAAu8; 16384];
            let mut new = vec![0u8; 16384];
            XorShift64Star::new(seed ^ 0xFEED).fill(&mut new);
            file.write_all_at(&old, 0).unwrap();
            file.sync_data().unwrap();
            file.write_all_at(&new[..8192], 0).unwrap();
            file.write_all_at(&new[8192..], 8192).unwrap();
            let report = disk.crash(seed);
            assert_eq!(
                report.writes_kept + report.writes_dropped + report.writes_torn,
                2
            );
            let after = read_all(&disk, "pg_wal/000000010000000000000001").unwrap();
            // Each 8 KiB write on its own: all old, all new, or a sector-aligned mix.
            for half in 0..2 {
                let r = half * 8192..(half + 1) * 8192;
                match sector_outcomes(seed, &old[r.clone()], &new[r.clone()], &after[r]) {
                    (_, 0) => dropped += 1,
                    (0, _) => kept += 1,
                    _ => torn += 1,
                }
            }
        }
        assert!(
            dropped > 0 && kept > 0 && torn > 0,
            "{dropped} {kept} {torn}"
        );
    }

    #[test]
    fn crash_is_deterministic_for_a_seed() {
        let run = |seed: u64| {
            let disk = disk_with_dir("d");
            for i in 0..8u64 {
                let f = disk
                    .open(Path::new(&format!("d/f{i}")), OpenMode::CreateNew)
                    .unwrap();
                f.write_all_at(&[i as u8; 5000], i * 700).unwrap();
                if i % 3 == 0 {
                    f.sync_data().unwrap();
                }
            }
            let report = disk.crash(seed);
            let names = disk.list_dir(Path::new("d")).unwrap();
            let contents: Vec<_> = names
                .iter()
                .map(|n| read_all(&disk, &format!("d/{n}")))
                .collect();
            (report, names, contents)
        };
        assert_eq!(run(42), run(42));
    }

    #[test]
    fn extension_is_lost_without_sync_and_holes_read_as_zeros() {
        let mut shorter = false;
        for seed in 0..50u64 {
            let disk = disk_with_dir("d");
            let f = disk.open(Path::new("d/f"), OpenMode::CreateNew).unwrap();
            disk.sync_dir(Path::new("d")).unwrap();
            f.write_all_at(&[1; 4096], 0).unwrap();
            f.sync_data().unwrap();
            f.write_all_at(&[2; 4096], 8192).unwrap();
            assert_eq!(f.len().unwrap(), 12288);
            disk.crash(seed);
            let after = read_all(&disk, "d/f").unwrap();
            assert_eq!(&after[..4096], &[1; 4096][..], "seed {seed}");
            assert!(after[4096..8192.min(after.len())].iter().all(|&b| b == 0));
            shorter |= after.len() == 4096;
        }
        assert!(shorter, "no seed dropped the extension");
    }

    #[test]
    fn new_names_need_sync_dir_to_survive() {
        let (mut lost, mut survived) = (0, 0);
        for seed in 0..100u64 {
            let disk = disk_with_dir("global");
            let synced = disk
                .open(Path::new("global/a"), OpenMode::CreateNew)
                .unwrap();
            synced.write_all_at(b"a", 0).unwrap();
            synced.sync_all().unwrap();
            disk.sync_dir(Path::new("global")).unwrap();
            let unsynced = disk
                .open(Path::new("global/b"), OpenMode::CreateNew)
                .unwrap();
            unsynced.write_all_at(b"b", 0).unwrap();
            unsynced.sync_all().unwrap();
            assert_eq!(disk.unsynced_dir_ops(), 1);
            disk.crash(seed);
            assert_eq!(read_all(&disk, "global/a").unwrap(), b"a", "seed {seed}");
            match read_all(&disk, "global/b") {
                Some(b) => {
                    assert_eq!(b, b"b", "seed {seed}");
                    survived += 1;
                }
                None => lost += 1,
            }
        }
        assert!(lost > 0 && survived > 0, "lost {lost} survived {survived}");
    }

    #[test]
    fn durable_rename_replaces_atomically() {
        for seed in 0..100u64 {
            let disk = disk_with_dir("global");
            for (name, body) in [("global/pg_control", b"old"), ("global/tmp", b"new")] {
                let f = disk.open(Path::new(name), OpenMode::CreateNew).unwrap();
                f.write_all_at(body, 0).unwrap();
                f.sync_all().unwrap();
            }
            disk.sync_dir(Path::new("global")).unwrap();
            disk.rename(Path::new("global/tmp"), Path::new("global/pg_control"))
                .unwrap();
            let before_sync = seed % 2 == 0;
            if !before_sync {
                disk.sync_dir(Path::new("global")).unwrap();
            }
            disk.crash(seed);
            let control = read_all(&disk, "global/pg_control").unwrap();
            if before_sync {
                assert!(control == b"old" || control == b"new", "seed {seed}");
            } else {
                assert_eq!(control, b"new", "seed {seed}");
                assert!(!disk.exists(Path::new("global/tmp")), "seed {seed}");
            }
        }
    }

    #[test]
    fn namespace_errors_match_posix() {
        let disk = disk_with_dir("base/1");
        let kind = |r: io::Result<Box<dyn IoFile>>| r.err().unwrap().raw_os_error();
        assert_eq!(
            kind(disk.open(Path::new("base/1/x"), OpenMode::ReadWrite)),
            Some(libc::ENOENT)
        );
        assert_eq!(
            kind(disk.open(Path::new("nodir/x"), OpenMode::CreateNew)),
            Some(libc::ENOENT)
        );
        assert_eq!(
            kind(disk.open(Path::new("base"), OpenMode::ReadOnly)),
            Some(libc::EISDIR)
        );
        disk.open(Path::new("base/1/x"), OpenMode::CreateNew)
            .unwrap();
        assert_eq!(
            kind(disk.open(Path::new("base/1/x"), OpenMode::CreateNew)),
            Some(libc::EEXIST)
        );
        let ro = disk
            .open(Path::new("base/1/x"), OpenMode::ReadOnly)
            .unwrap();
        assert_eq!(
            ro.write_all_at(b"x", 0).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        assert_eq!(disk.list_dir(Path::new("")).unwrap(), vec!["base"]);
        assert_eq!(disk.list_dir(Path::new("base/1")).unwrap(), vec!["x"]);
        disk.remove(Path::new("base/1/x")).unwrap();
        assert!(!disk.exists(Path::new("base/1/x")));
        assert!(disk.exists(Path::new("base/1")));
    }

    fn errno_of<T>(r: io::Result<T>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    #[test]
    fn fail_after_injects_enospc_on_writes_and_syncs() {
        let disk: Arc<dyn FileIo> = Arc::new(disk_with_dir("d"));
        let io = FaultInjectingIo::new(disk);
        let f = io.open(Path::new("d/f"), OpenMode::CreateNew).unwrap();
        io.fail_after(2, FaultKind::Enospc);
        f.write_all_at(b"1", 0).unwrap();
        f.sync_data().unwrap();
        assert_eq!(errno_of(f.write_all_at(b"2", 1)), Some(libc::ENOSPC));
        assert_eq!(errno_of(f.sync_data()), Some(libc::ENOSPC));
        assert_eq!(errno_of(f.set_len(0)), Some(libc::ENOSPC));
        assert_eq!(f.len().unwrap(), 1, "failed write must not reach the disk");
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(io.injected(), 3);
        io.clear();
        f.write_all_at(b"2", 1).unwrap();
    }

    #[test]
    fn path_rules_fail_the_nth_matching_op_only() {
        let disk: Arc<dyn FileIo> = Arc::new(disk_with_dir("base/5"));
        disk.create_dir_all(Path::new("pg_wal")).unwrap();
        let io = FaultInjectingIo::new(disk);
        io.add_rule(
            FaultRule::new(FaultKind::Eio, FaultOps::READ)
                .under("base/5")
                .after(1)
                .times(1),
        );
        let data = io.open(Path::new("base/5/1"), OpenMode::CreateNew).unwrap();
        let wal = io
            .open(Path::new("./pg_wal/1"), OpenMode::CreateNew)
            .unwrap();
        let mut b = [0u8; 4];
        for _ in 0..3 {
            wal.read_at(&mut b, 0).unwrap();
        }
        data.read_at(&mut b, 0).unwrap();
        assert_eq!(errno_of(data.read_at(&mut b, 0)), Some(libc::EIO));
        data.read_at(&mut b, 0).unwrap();
        io.add_rule(FaultRule::new(FaultKind::Eio, FaultOps::SYNC | FaultOps::DIR).under("pg_wal"));
        assert_eq!(errno_of(io.sync_dir(Path::new("pg_wal"))), Some(libc::EIO));
        assert_eq!(errno_of(wal.sync_all()), Some(libc::EIO));
        assert_eq!(
            errno_of(io.rename(Path::new("base/5/1"), Path::new("pg_wal/2"))),
            Some(libc::EIO)
        );
        io.sync_dir(Path::new("base/5")).unwrap();
        assert_eq!(io.injected(), 4);
    }

    #[test]
    fn faults_wrap_the_real_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let os: Arc<dyn FileIo> = Arc::new(super::super::file_io::OsFileIo::new(dir.path()));
        let io = FaultInjectingIo::new(os);
        io.add_rule(FaultRule::new(FaultKind::Enospc, FaultOps::WRITE).after(1));
        let f = io.open(Path::new("f"), OpenMode::CreateNew).unwrap();
        f.write_all_at(&[7; 100], 0).unwrap();
        let err = f.write_all_at(&[8; 100], 100).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        let quill = crate::error::QuillError::io("could not write", &err);
        assert_eq!(quill.sqlstate, crate::error::sqlstate::DISK_FULL);
        assert_eq!(f.len().unwrap(), 100);
    }
}
