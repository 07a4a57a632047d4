//! [`SimulatedDisk`]: the in-memory file system that loses un-synced writes at a
//! simulated power cut (the rules are in the module doc of `storage::fault`).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::XorShift64Star;
use crate::storage::file_io::{errno_error, normalize_relative, FileIo, IoFile, OpenMode};

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
            if n > 0 {
                buf[..n].copy_from_slice(&file.current[offset..offset + n]);
            }
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
