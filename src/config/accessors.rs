//! Typed accessors: what the rest of the server reads, in the units it needs.
//! Each is an array index and a match, cheap enough for hot paths (commit reads
//! `synchronous_commit`).

use super::checks::{self, DateOrder, DateStyle};
use super::registry::{interval_style, isolation, level, sync_commit, sync_method, Guc};
use super::{Config, Source, Value};

/// How WAL is forced to disk (`wal_sync_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalSyncMethod {
    Fsync,
    Fdatasync,
    OpenSync,
    OpenDatasync,
}

/// The output style of interval values (`IntervalStyle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalStyle {
    Postgres,
    PostgresVerbose,
    SqlStandard,
    Iso8601,
}

const KB: usize = 1024;
const MB: usize = 1024 * 1024;

impl Config {
    pub(super) fn int(&self, g: Guc) -> i32 {
        match &self.slots[g as usize].value {
            Value::Int(v) => *v,
            other => unreachable!("{} holds {other:?}, not an integer", g.def().name),
        }
    }

    fn flag(&self, g: Guc) -> bool {
        match &self.slots[g as usize].value {
            Value::Bool(v) => *v,
            other => unreachable!("{} holds {other:?}, not a bool", g.def().name),
        }
    }

    fn real(&self, g: Guc) -> f64 {
        match &self.slots[g as usize].value {
            Value::Real(v) => *v,
            other => unreachable!("{} holds {other:?}, not a real", g.def().name),
        }
    }

    fn text(&self, g: Guc) -> &str {
        match &self.slots[g as usize].value {
            Value::Str(v) => v,
            other => unreachable!("{} holds {other:?}, not a string", g.def().name),
        }
    }

    fn choice(&self, g: Guc) -> i32 {
        match &self.slots[g as usize].value {
            Value::Enum(v) => *v,
            other => unreachable!("{} holds {other:?}, not an enum", g.def().name),
        }
    }

    /// Non-negative integer setting as u64 (the registry's minimum is >= 0).
    fn count(&self, g: Guc) -> u64 {
        u64::try_from(self.int(g)).unwrap_or(0)
    }

    // --- connections -----------------------------------------------------

    pub fn port(&self) -> u16 {
        u16::try_from(self.int(Guc::Port)).unwrap_or(5432)
    }

    /// `listen_addresses` split into host names/addresses; `*` means all
    /// interfaces and an empty list means no TCP at all.
    pub fn listen_addresses(&self) -> Vec<String> {
        checks::split_identifier_list(self.text(Guc::ListenAddresses), ',', false)
            .unwrap_or_default()
    }

    /// Directories for Unix-domain sockets; empty means none.
    pub fn unix_socket_directories(&self) -> Vec<String> {
        checks::split_identifier_list(self.text(Guc::UnixSocketDirectories), ',', false)
            .unwrap_or_default()
    }

    pub fn max_connections(&self) -> usize {
        self.count(Guc::MaxConnections) as usize
    }

    pub fn superuser_reserved_connections(&self) -> usize {
        self.count(Guc::SuperuserReservedConnections) as usize
    }

    pub fn authentication_timeout_s(&self) -> u64 {
        self.count(Guc::AuthenticationTimeout)
    }

    // --- memory --------------------------------------------------------------

    pub fn shared_buffers_bytes(&self) -> usize {
        self.count(Guc::SharedBuffers) as usize * 8 * KB
    }

    /// `shared_buffers` in 8 kB pages.
    pub fn shared_buffers_pages(&self) -> usize {
        self.count(Guc::SharedBuffers) as usize
    }

    /// `work_mem`: memory one sort or hash table may use before spilling to disk.
    pub fn work_mem_bytes(&self) -> usize {
        self.count(Guc::WorkMem) as usize * KB
    }

    /// `maintenance_work_mem`: memory for VACUUM, CREATE INDEX and the like.
    pub fn maintenance_work_mem_bytes(&self) -> usize {
        self.count(Guc::MaintenanceWorkMem) as usize * KB
    }

    /// `wal_buffers` in bytes, with `-1` resolved as PostgreSQL does.
    pub fn wal_buffers_bytes(&self) -> usize {
        let blocks = match self.int(Guc::WalBuffers) {
            -1 => self.auto_wal_buffers(),
            n => n,
        };
        usize::try_from(blocks).unwrap_or(0) * 8 * KB
    }

    // --- WAL and checkpoints -------------------------------------------------

    pub fn fsync(&self) -> bool {
        self.flag(Guc::Fsync)
    }

    /// Whether a commit waits for its WAL flush: every level but `off`.
    pub fn synchronous_commit(&self) -> bool {
        self.choice(Guc::SynchronousCommit) != sync_commit::OFF
    }

    pub fn wal_sync_method(&self) -> WalSyncMethod {
        match self.choice(Guc::WalSyncMethod) {
            sync_method::FSYNC => WalSyncMethod::Fsync,
            sync_method::OPEN_SYNC => WalSyncMethod::OpenSync,
            sync_method::OPEN_DATASYNC => WalSyncMethod::OpenDatasync,
            _ => WalSyncMethod::Fdatasync,
        }
    }

    pub fn full_page_writes(&self) -> bool {
        self.flag(Guc::FullPageWrites)
    }

    pub fn wal_writer_delay_ms(&self) -> u64 {
        self.count(Guc::WalWriterDelay)
    }

    pub fn commit_delay_us(&self) -> u64 {
        self.count(Guc::CommitDelay)
    }

    pub fn commit_siblings(&self) -> usize {
        self.count(Guc::CommitSiblings) as usize
    }

    pub fn checkpoint_timeout_s(&self) -> u64 {
        self.count(Guc::CheckpointTimeout)
    }

    pub fn max_wal_size_bytes(&self) -> u64 {
        self.count(Guc::MaxWalSize) * MB as u64
    }

    pub fn min_wal_size_bytes(&self) -> u64 {
        self.count(Guc::MinWalSize) * MB as u64
    }

    pub fn checkpoint_completion_target(&self) -> f64 {
        self.real(Guc::CheckpointCompletionTarget)
    }

    pub fn wal_segment_size_bytes(&self) -> u64 {
        self.count(Guc::WalSegmentSize)
    }

    // --- logging -------------------------------------------------------------

    /// `log_min_messages` for the `log` crate, where `log::info!` is PostgreSQL's LOG
    /// level. PostgreSQL ranks LOG above ERROR for the server log, so every level up
    /// to `log` (the default `warning` included) still shows LOG lines; only `fatal`
    /// and `panic` hide them. debug5..debug3 → Trace, debug2..debug1 → Debug.
    pub fn log_min_messages(&self) -> log::LevelFilter {
        match self.choice(Guc::LogMinMessages) {
            level::DEBUG5 | level::DEBUG4 | level::DEBUG3 => log::LevelFilter::Trace,
            level::DEBUG2 | level::DEBUG1 => log::LevelFilter::Debug,
            level::INFO | level::NOTICE | level::LOG | level::WARNING | level::ERROR => {
                log::LevelFilter::Info
            }
            _ => log::LevelFilter::Error,
        }
    }

    /// Whether a message of `severity` (the NoticeResponse `S` field: `WARNING`,
    /// `NOTICE`, `INFO`, `LOG`, `DEBUG`) goes to the client under
    /// `client_min_messages`: PostgreSQL's `should_output_to_client` once the
    /// session is authenticated. INFO and errors always go; the others when at or
    /// above the setting (`DEBUG` counted as debug1). Unknown severities go.
    pub fn sends_to_client(&self, severity: &str) -> bool {
        let elevel = match severity {
            "DEBUG" => level::DEBUG1,
            "LOG" => level::LOG,
            "INFO" => return true,
            "NOTICE" => level::NOTICE,
            "WARNING" => level::WARNING,
            _ => return true,
        };
        elevel >= self.choice(Guc::ClientMinMessages)
    }

    /// `log_min_messages` as PostgreSQL names it (`warning`, `debug2`, ...).
    pub fn log_min_messages_name(&self) -> String {
        self.get("log_min_messages").unwrap_or_default()
    }

    pub fn log_checkpoints(&self) -> bool {
        self.flag(Guc::LogCheckpoints)
    }

    pub fn log_connections(&self) -> bool {
        self.flag(Guc::LogConnections)
    }

    pub fn log_disconnections(&self) -> bool {
        self.flag(Guc::LogDisconnections)
    }

    // --- statements, locks and sessions --------------------------------------

    /// 0 means no timeout.
    pub fn statement_timeout_ms(&self) -> u64 {
        self.count(Guc::StatementTimeout)
    }

    /// Longest wait for a heavyweight lock; 0 means wait forever.
    pub fn lock_timeout_ms(&self) -> u64 {
        self.count(Guc::LockTimeout)
    }

    /// Longest idle time inside a transaction block before the session is ended; 0
    /// means no limit.
    pub fn idle_in_transaction_session_timeout_ms(&self) -> u64 {
        self.count(Guc::IdleInTransactionSessionTimeout)
    }

    pub fn deadlock_timeout_ms(&self) -> u64 {
        self.count(Guc::DeadlockTimeout)
    }

    pub fn application_name(&self) -> &str {
        self.text(Guc::ApplicationName)
    }

    pub fn extra_float_digits(&self) -> i32 {
        self.int(Guc::ExtraFloatDigits)
    }

    pub fn standard_conforming_strings(&self) -> bool {
        self.flag(Guc::StandardConformingStrings)
    }

    /// `search_path` as written (`"$user", public`); split it with
    /// [`super::split_identifier_list`] (separator `,`, downcasing on).
    pub fn search_path(&self) -> &str {
        self.text(Guc::SearchPath)
    }

    /// `read committed`, `repeatable read`, `serializable` or `read uncommitted`.
    pub fn default_transaction_isolation(&self) -> &'static str {
        isolation_name(self.choice(Guc::DefaultTransactionIsolation))
    }

    pub fn default_transaction_read_only(&self) -> bool {
        self.flag(Guc::DefaultTransactionReadOnly)
    }

    pub fn default_transaction_deferrable(&self) -> bool {
        self.flag(Guc::DefaultTransactionDeferrable)
    }

    /// The current transaction's isolation level (names as in
    /// [`Config::default_transaction_isolation`]); its default unless SQL set it.
    pub fn transaction_isolation(&self) -> &'static str {
        isolation_name(self.choice(self.transaction_mode(Guc::TransactionIsolation)))
    }

    pub fn transaction_read_only(&self) -> bool {
        self.flag(self.transaction_mode(Guc::TransactionReadOnly))
    }

    pub fn transaction_deferrable(&self) -> bool {
        self.flag(self.transaction_mode(Guc::TransactionDeferrable))
    }

    /// The setting `g` reads: a transaction mode reads its own value once SQL set
    /// it and its default otherwise (rule 6 of the module doc); anything else
    /// reads itself.
    pub(super) fn transaction_mode(&self, g: Guc) -> Guc {
        match g.transaction_default() {
            Some(default) if self.slots[g as usize].source < Source::Session => default,
            _ => g,
        }
    }

    pub fn date_style(&self) -> (DateStyle, DateOrder) {
        checks::datestyle_of(self.text(Guc::DateStyle))
    }

    pub fn interval_style(&self) -> IntervalStyle {
        match self.choice(Guc::IntervalStyle) {
            interval_style::POSTGRES_VERBOSE => IntervalStyle::PostgresVerbose,
            interval_style::SQL_STANDARD => IntervalStyle::SqlStandard,
            interval_style::ISO_8601 => IntervalStyle::Iso8601,
            _ => IntervalStyle::Postgres,
        }
    }

    /// Always a name for UTC for now (see `checks::check_timezone`).
    pub fn timezone(&self) -> &str {
        self.text(Guc::TimeZone)
    }

    /// `UTF8` or `SQL_ASCII` (the encodings Quill accepts from clients).
    pub fn client_encoding(&self) -> &str {
        self.text(Guc::ClientEncoding)
    }

    pub fn is_superuser(&self) -> bool {
        self.flag(Guc::IsSuperuser)
    }

    pub fn session_authorization(&self) -> &str {
        self.text(Guc::SessionAuthorization)
    }

    pub fn data_directory(&self) -> &str {
        self.text(Guc::DataDirectory)
    }

    pub fn server_version(&self) -> &str {
        self.text(Guc::ServerVersion)
    }

    pub fn server_version_num(&self) -> i32 {
        self.int(Guc::ServerVersionNum)
    }
}

fn isolation_name(value: i32) -> &'static str {
    match value {
        isolation::SERIALIZABLE => "serializable",
        isolation::REPEATABLE_READ => "repeatable read",
        isolation::READ_UNCOMMITTED => "read uncommitted",
        _ => "read committed",
    }
}
