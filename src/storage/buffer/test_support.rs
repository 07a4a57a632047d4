//! Test doubles for code built on the buffer pool (this module's tests, and the access
//! methods' tests): a WAL flusher that records, fails or lies on demand, a file layer that
//! records page writes and counts (and can slow down) reads, and a pool in a stand-alone
//! shared segment.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{BufferPool, BufferPoolShmem, WalFlusher};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::shmem::TestSegment;
use crate::storage::file_io::{FileIo, IoFile, OpenMode};
use crate::storage::page::{Page, PageBytes};
use crate::storage::smgr::Smgr;
use crate::wal::Lsn;

/// What happened, in order: WAL flushes and page-sized writes to relation files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Flush(Lsn),
    Write {
        path: PathBuf,
        offset: u64,
        page_lsn: Lsn,
    },
}

pub(crate) type EventLog = Arc<Mutex<Vec<Event>>>;

/// A [`WalFlusher`] whose "WAL" is a number: `flush(lsn)` raises it to `lsn`. It can be
/// told to fail (return an error, flush nothing) or to lie (return Ok, flush nothing).
#[derive(Default)]
pub(crate) struct TestFlusher {
    flushed: AtomicU64,
    failing: AtomicBool,
    lying: AtomicBool,
    log: Option<EventLog>,
}

impl TestFlusher {
    pub(crate) fn new() -> TestFlusher {
        TestFlusher::default()
    }

    pub(crate) fn with_log(log: EventLog) -> TestFlusher {
        TestFlusher {
            log: Some(log),
            ..TestFlusher::default()
        }
    }

    pub(crate) fn set_failing(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    pub(crate) fn set_lying(&self, on: bool) {
        self.lying.store(on, Ordering::SeqCst);
    }
}

impl WalFlusher for TestFlusher {
    fn flush(&self, upto: Lsn) -> QuillResult<()> {
        if let Some(log) = &self.log {
            log.lock().unwrap().push(Event::Flush(upto));
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(QuillError::new(
                sqlstate::IO_ERROR,
                "could not fsync file \"pg_wal/000000010000000000000001\": Input/output error",
            ));
        }
        if !self.lying.load(Ordering::SeqCst) {
            self.flushed.fetch_max(upto.0, Ordering::SeqCst);
        }
        Ok(())
    }

    fn flushed_lsn(&self) -> Lsn {
        Lsn(self.flushed.load(Ordering::SeqCst))
    }
}

/// Called with (path, offset, bytes) before each write an [`ObservedIo`] passes on.
pub(crate) type WriteHook = Arc<dyn Fn(&Path, u64, &[u8]) + Send + Sync>;

/// Wraps a [`FileIo`]: shows every write to a hook, counts reads, and sleeps
/// `read_delay` in each read (to widen races).
pub(crate) struct ObservedIo {
    inner: Arc<dyn FileIo>,
    on_write: WriteHook,
    pub(crate) reads: Arc<AtomicUsize>,
    pub(crate) read_delay: Duration,
}

impl ObservedIo {
    /// Logs every page-sized write, with the page's `pd_lsn`, to `log`.
    pub(crate) fn new(inner: Arc<dyn FileIo>, log: EventLog) -> ObservedIo {
        ObservedIo::with_write_hook(
            inner,
            Arc::new(move |path: &Path, offset: u64, buf: &[u8]| {
                if let Ok(page) = <&PageBytes>::try_from(buf) {
                    log.lock().unwrap().push(Event::Write {
                        path: path.to_path_buf(),
                        offset,
                        page_lsn: Page::new(page).lsn(),
                    });
                }
            }),
        )
    }

    pub(crate) fn with_write_hook(inner: Arc<dyn FileIo>, on_write: WriteHook) -> ObservedIo {
        ObservedIo {
            inner,
            on_write,
            reads: Arc::new(AtomicUsize::new(0)),
            read_delay: Duration::ZERO,
        }
    }
}

struct ObservedFile {
    inner: Box<dyn IoFile>,
    path: PathBuf,
    on_write: WriteHook,
    reads: Arc<AtomicUsize>,
    read_delay: Duration,
}

impl FileIo for ObservedIo {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn IoFile>> {
        Ok(Box::new(ObservedFile {
            inner: self.inner.open(path, mode)?,
            path: path.to_path_buf(),
            on_write: Arc::clone(&self.on_write),
            reads: Arc::clone(&self.reads),
            read_delay: self.read_delay,
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
}

impl IoFile for ObservedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if !self.read_delay.is_zero() {
            std::thread::sleep(self.read_delay);
        }
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        (self.on_write)(&self.path, offset, buf);
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.inner.sync_all()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.inner.set_len(len_bytes)
    }
}

/// A pool of `nbuffers` in a fresh [`TestSegment`] over `io`. Fork after this to share it.
pub(crate) fn test_pool(
    nbuffers: usize,
    io: Arc<dyn FileIo>,
    wal: Arc<dyn WalFlusher>,
) -> BufferPool {
    let segment = TestSegment::new(BufferPoolShmem::test_segment_len_bytes(nbuffers));
    // TestSegment is never unmapped, so the pool's 'static references outlive it.
    let shm = BufferPoolShmem::from_test_segment(&segment, nbuffers);
    BufferPool::attach(shm, Arc::new(Smgr::new(io)), wal)
}
