//! The table of settings Quill knows: PostgreSQL's names, types, contexts, limits,
//! units, boot values, flags and descriptions (PostgreSQL 15's `guc_tables`, reduced).
//!
//! The table is data only. `Guc` numbers the settings; `SETTINGS[g as usize]` is the
//! definition of `g` (checked at compile time), so typed accessors index a `Config`
//! without any name lookup.

use super::checks::{self, StringCheck};
use super::value::Unit;

/// PostgreSQL's `GucContext`: who may change a setting, and when. Ordered as in
/// PostgreSQL, so `context < GucContext::Sighup` means "needs a restart".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GucContext {
    /// Fixed at build or start time; nobody can change it (`server_version`).
    Internal,
    /// Only at server start: `postgresql.conf` or the command line (`port`).
    Postmaster,
    /// In `postgresql.conf`, applied on reload (SIGHUP) (`fsync`).
    Sighup,
    /// Like `Backend`, but only superusers may set it at connection start.
    SuBackend,
    /// At connection start (startup packet), not afterwards.
    Backend,
    /// By superusers at any time (`log_min_messages`).
    Suset,
    /// By anyone at any time (`DateStyle`).
    Userset,
}

impl GucContext {
    /// The name `pg_settings.context` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            GucContext::Internal => "internal",
            GucContext::Postmaster => "postmaster",
            GucContext::Sighup => "sighup",
            GucContext::SuBackend => "superuser-backend",
            GucContext::Backend => "backend",
            GucContext::Suset => "superuser",
            GucContext::Userset => "user",
        }
    }
}

/// One accepted spelling of an enum setting. Several spellings may share a value;
/// SHOW prints the first spelling with the value, and hidden ones are left out of
/// the "Available values" hint.
#[derive(Debug, Clone, Copy)]
pub struct EnumOption {
    pub name: &'static str,
    pub value: i32,
    pub hidden: bool,
}

const fn opt(name: &'static str, value: i32) -> EnumOption {
    EnumOption {
        name,
        value,
        hidden: false,
    }
}

const fn hidden(name: &'static str, value: i32) -> EnumOption {
    EnumOption {
        name,
        value,
        hidden: true,
    }
}

/// The type of a setting, with its boot value (PostgreSQL's `boot_val`: the value
/// when nothing sets it) and limits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Bool {
        boot: bool,
    },
    Int {
        boot: i32,
        min: i32,
        max: i32,
        unit: Option<Unit>,
    },
    Real {
        boot: f64,
        min: f64,
        max: f64,
    },
    Str {
        boot: &'static str,
        check: Option<StringCheck>,
    },
    Enum {
        boot: i32,
        options: &'static [EnumOption],
    },
}

/// PostgreSQL's GUC flags that Quill honours.
pub mod flags {
    /// Sent to the client in ParameterStatus at startup and whenever it changes.
    pub const REPORT: u16 = 1 << 0;
    /// Left out of SHOW ALL.
    pub const NO_SHOW_ALL: u16 = 1 << 1;
    /// Left alone by RESET ALL.
    pub const NO_RESET_ALL: u16 = 1 << 2;
    /// Only superusers may SHOW it.
    pub const SUPERUSER_ONLY: u16 = 1 << 3;
    /// `SET x = a, b` joins the list items with ", " (GUC_LIST_INPUT).
    pub const LIST_INPUT: u16 = 1 << 4;
    /// List items that are not plain identifiers get double quotes (GUC_LIST_QUOTE).
    pub const LIST_QUOTE: u16 = 1 << 5;
    /// May not appear in `postgresql.conf` (GUC_DISALLOW_IN_FILE).
    pub const DISALLOW_IN_FILE: u16 = 1 << 6;
    /// Truncated to 63 bytes like an identifier (GUC_IS_NAME).
    pub const IS_NAME: u16 = 1 << 7;
}

/// The definition of one setting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SettingDef {
    pub id: Guc,
    /// Canonical spelling, as SHOW ALL and ParameterStatus print it.
    pub name: &'static str,
    pub context: GucContext,
    pub kind: Kind,
    pub flags: u16,
    /// PostgreSQL's `short_desc`, the third column of SHOW ALL.
    pub description: &'static str,
}

impl SettingDef {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
}

/// Every setting Quill knows, in the order of [`SETTINGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guc {
    ListenAddresses,
    Port,
    UnixSocketDirectories,
    MaxConnections,
    SuperuserReservedConnections,
    AuthenticationTimeout,
    SharedBuffers,
    WorkMem,
    MaintenanceWorkMem,
    Fsync,
    SynchronousCommit,
    WalSyncMethod,
    FullPageWrites,
    WalBuffers,
    WalWriterDelay,
    CommitDelay,
    CommitSiblings,
    CheckpointTimeout,
    MaxWalSize,
    MinWalSize,
    CheckpointCompletionTarget,
    EnableSeqscan,
    EnableIndexscan,
    LogMinMessages,
    LogCheckpoints,
    LogConnections,
    LogDisconnections,
    DeadlockTimeout,
    ClientMinMessages,
    StatementTimeout,
    LockTimeout,
    IdleInTransactionSessionTimeout,
    SearchPath,
    RowSecurity,
    DefaultTransactionIsolation,
    DefaultTransactionReadOnly,
    DefaultTransactionDeferrable,
    TransactionIsolation,
    TransactionReadOnly,
    TransactionDeferrable,
    DateStyle,
    IntervalStyle,
    TimeZone,
    ExtraFloatDigits,
    ClientEncoding,
    LcMessages,
    StandardConformingStrings,
    ApplicationName,
    ServerVersion,
    ServerVersionNum,
    ServerEncoding,
    IntegerDatetimes,
    BlockSize,
    WalSegmentSize,
    MaxIdentifierLength,
    InHotStandby,
    DataDirectory,
    IsSuperuser,
    SessionAuthorization,
}

/// PostgreSQL's `INT_MAX`, the upper limit of most integer settings.
const INT_MAX: i32 = i32::MAX;
/// PostgreSQL's `MAX_BACKENDS` (2^18 - 1), the upper limit of connection counts.
const MAX_BACKENDS: i32 = 0x3FFFF;
/// PostgreSQL's `MAX_KILOBYTES` on 64-bit platforms, the upper limit of memory
/// settings in kB.
const MAX_KILOBYTES: i32 = INT_MAX;

/// The version Quill reports itself as (`server_version`, `server_version_num`).
pub const SERVER_VERSION: &str = "15.0";
pub const SERVER_VERSION_NUM: i32 = 150000;
/// Data page size, `block_size`.
pub const BLOCK_SIZE: i32 = 8192;
/// WAL segment size in bytes, `wal_segment_size`.
pub const WAL_SEGMENT_SIZE: i32 = 16 * 1024 * 1024;

// Values of the enum settings. Their numbers are private to this module and to
// the typed accessors.
pub(crate) mod level {
    pub const DEBUG5: i32 = 10;
    pub const DEBUG4: i32 = 11;
    pub const DEBUG3: i32 = 12;
    pub const DEBUG2: i32 = 13;
    pub const DEBUG1: i32 = 14;
    pub const LOG: i32 = 15;
    pub const INFO: i32 = 17;
    pub const NOTICE: i32 = 18;
    pub const WARNING: i32 = 19;
    pub const ERROR: i32 = 21;
    pub const FATAL: i32 = 22;
    pub const PANIC: i32 = 23;
}

const SERVER_MESSAGE_LEVELS: &[EnumOption] = &[
    opt("debug5", level::DEBUG5),
    opt("debug4", level::DEBUG4),
    opt("debug3", level::DEBUG3),
    opt("debug2", level::DEBUG2),
    opt("debug1", level::DEBUG1),
    hidden("debug", level::DEBUG2),
    opt("info", level::INFO),
    opt("notice", level::NOTICE),
    opt("warning", level::WARNING),
    opt("error", level::ERROR),
    opt("log", level::LOG),
    opt("fatal", level::FATAL),
    opt("panic", level::PANIC),
];

/// PostgreSQL's `client_message_level_options`: `debug` is debug2, `info` is
/// accepted but not offered (INFO messages reach the client at every level).
const CLIENT_MESSAGE_LEVELS: &[EnumOption] = &[
    opt("debug5", level::DEBUG5),
    opt("debug4", level::DEBUG4),
    opt("debug3", level::DEBUG3),
    opt("debug2", level::DEBUG2),
    opt("debug1", level::DEBUG1),
    hidden("debug", level::DEBUG2),
    opt("log", level::LOG),
    hidden("info", level::INFO),
    opt("notice", level::NOTICE),
    opt("warning", level::WARNING),
    opt("error", level::ERROR),
];

pub(crate) mod sync_commit {
    pub const OFF: i32 = 0;
    pub const LOCAL: i32 = 1;
    pub const REMOTE_WRITE: i32 = 2;
    pub const ON: i32 = 3;
    pub const REMOTE_APPLY: i32 = 4;
}

const SYNCHRONOUS_COMMIT_OPTIONS: &[EnumOption] = &[
    opt("local", sync_commit::LOCAL),
    opt("remote_write", sync_commit::REMOTE_WRITE),
    opt("remote_apply", sync_commit::REMOTE_APPLY),
    opt("on", sync_commit::ON),
    opt("off", sync_commit::OFF),
    hidden("true", sync_commit::ON),
    hidden("false", sync_commit::OFF),
    hidden("yes", sync_commit::ON),
    hidden("no", sync_commit::OFF),
    hidden("1", sync_commit::ON),
    hidden("0", sync_commit::OFF),
];

pub(crate) mod sync_method {
    pub const FSYNC: i32 = 0;
    pub const FDATASYNC: i32 = 1;
    pub const OPEN_SYNC: i32 = 2;
    pub const OPEN_DATASYNC: i32 = 3;
}

const SYNC_METHOD_OPTIONS: &[EnumOption] = &[
    opt("fsync", sync_method::FSYNC),
    opt("fdatasync", sync_method::FDATASYNC),
    opt("open_sync", sync_method::OPEN_SYNC),
    opt("open_datasync", sync_method::OPEN_DATASYNC),
];

pub(crate) mod isolation {
    pub const READ_UNCOMMITTED: i32 = 0;
    pub const READ_COMMITTED: i32 = 1;
    pub const REPEATABLE_READ: i32 = 2;
    pub const SERIALIZABLE: i32 = 3;
}

const ISOLATION_OPTIONS: &[EnumOption] = &[
    opt("serializable", isolation::SERIALIZABLE),
    opt("repeatable read", isolation::REPEATABLE_READ),
    opt("read committed", isolation::READ_COMMITTED),
    opt("read uncommitted", isolation::READ_UNCOMMITTED),
];

pub(crate) mod interval_style {
    pub const POSTGRES: i32 = 0;
    pub const POSTGRES_VERBOSE: i32 = 1;
    pub const SQL_STANDARD: i32 = 2;
    pub const ISO_8601: i32 = 3;
}

const INTERVAL_STYLE_OPTIONS: &[EnumOption] = &[
    opt("postgres", interval_style::POSTGRES),
    opt("postgres_verbose", interval_style::POSTGRES_VERBOSE),
    opt("sql_standard", interval_style::SQL_STANDARD),
    opt("iso_8601", interval_style::ISO_8601),
];

use flags::*;

const fn def(
    id: Guc,
    name: &'static str,
    context: GucContext,
    kind: Kind,
    flags: u16,
    description: &'static str,
) -> SettingDef {
    SettingDef {
        id,
        name,
        context,
        kind,
        flags,
        description,
    }
}

const fn int(boot: i32, min: i32, max: i32, unit: Option<Unit>) -> Kind {
    Kind::Int {
        boot,
        min,
        max,
        unit,
    }
}

const fn string(boot: &'static str, check: Option<StringCheck>) -> Kind {
    Kind::Str { boot, check }
}

const fn boolean(boot: bool) -> Kind {
    Kind::Bool { boot }
}

const fn enumerated(boot: i32, options: &'static [EnumOption]) -> Kind {
    Kind::Enum { boot, options }
}

use GucContext::*;

/// The registry. Boot values are PostgreSQL 15's except where Quill decides
/// otherwise (TimeZone and client_encoding are UTC and UTF8 from the start; see
/// `conf/postgresql.conf` for the values a new data directory gets).
pub(crate) const SETTINGS: [SettingDef; 59] = [
    def(Guc::ListenAddresses, "listen_addresses", Postmaster,
        string("localhost", None), LIST_INPUT,
        "Sets the host name or IP address(es) to listen to."),
    def(Guc::Port, "port", Postmaster,
        int(5432, 1, 65535, None), 0,
        "Sets the TCP port the server listens on."),
    def(Guc::UnixSocketDirectories, "unix_socket_directories", Postmaster,
        string("/tmp", None), LIST_INPUT | LIST_QUOTE | SUPERUSER_ONLY,
        "Sets the directories where Unix-domain sockets will be created."),
    def(Guc::MaxConnections, "max_connections", Postmaster,
        int(100, 1, MAX_BACKENDS, None), 0,
        "Sets the maximum number of concurrent connections."),
    def(Guc::SuperuserReservedConnections, "superuser_reserved_connections", Postmaster,
        int(3, 0, MAX_BACKENDS, None), 0,
        "Sets the number of connection slots reserved for superusers."),
    def(Guc::AuthenticationTimeout, "authentication_timeout", Sighup,
        int(60, 1, 600, Some(Unit::Seconds)), 0,
        "Sets the maximum allowed time to complete client authentication."),
    def(Guc::SharedBuffers, "shared_buffers", Postmaster,
        int(16384, 16, INT_MAX / 2, Some(Unit::Blocks)), 0,
        "Sets the number of shared memory buffers used by the server."),
    def(Guc::WorkMem, "work_mem", Userset,
        int(4096, 64, MAX_KILOBYTES, Some(Unit::Kilobytes)), 0,
        "Sets the maximum memory to be used for query workspaces."),
    def(Guc::MaintenanceWorkMem, "maintenance_work_mem", Userset,
        int(65536, 1024, MAX_KILOBYTES, Some(Unit::Kilobytes)), 0,
        "Sets the maximum memory to be used for maintenance operations."),
    def(Guc::Fsync, "fsync", Sighup,
        boolean(true), 0,
        "Forces synchronization of updates to disk."),
    def(Guc::SynchronousCommit, "synchronous_commit", Userset,
        enumerated(sync_commit::ON, SYNCHRONOUS_COMMIT_OPTIONS), 0,
        "Sets the current transaction's synchronization level."),
    def(Guc::WalSyncMethod, "wal_sync_method", Sighup,
        enumerated(sync_method::FDATASYNC, SYNC_METHOD_OPTIONS), 0,
        "Selects the method used for forcing WAL updates to disk."),
    def(Guc::FullPageWrites, "full_page_writes", Sighup,
        boolean(true), 0,
        "Writes full pages to WAL when first modified after a checkpoint."),
    def(Guc::WalBuffers, "wal_buffers", Postmaster,
        int(-1, -1, INT_MAX / 8192, Some(Unit::WalBlocks)), 0,
        "Sets the number of disk-page buffers in shared memory for WAL."),
    def(Guc::WalWriterDelay, "wal_writer_delay", Sighup,
        int(200, 1, 10000, Some(Unit::Milliseconds)), 0,
        "Time between WAL flushes performed in the WAL writer."),
    def(Guc::CommitDelay, "commit_delay", Suset,
        int(0, 0, 100000, None), 0,
        "Sets the delay in microseconds between transaction commit and flushing WAL to disk."),
    def(Guc::CommitSiblings, "commit_siblings", Userset,
        int(5, 0, 1000, None), 0,
        "Sets the minimum number of concurrent open transactions required before performing commit_delay."),
    def(Guc::CheckpointTimeout, "checkpoint_timeout", Sighup,
        int(300, 30, 86400, Some(Unit::Seconds)), 0,
        "Sets the maximum time between automatic WAL checkpoints."),
    def(Guc::MaxWalSize, "max_wal_size", Sighup,
        int(1024, 2, INT_MAX, Some(Unit::Megabytes)), 0,
        "Sets the WAL size that triggers a checkpoint."),
    def(Guc::MinWalSize, "min_wal_size", Sighup,
        int(80, 2, INT_MAX, Some(Unit::Megabytes)), 0,
        "Sets the minimum size to shrink the WAL to."),
    def(Guc::CheckpointCompletionTarget, "checkpoint_completion_target", Sighup,
        Kind::Real { boot: 0.9, min: 0.0, max: 1.0 }, 0,
        "Time spent flushing dirty buffers during checkpoint, as fraction of checkpoint interval."),
    def(Guc::EnableSeqscan, "enable_seqscan", Userset,
        boolean(true), 0,
        "Enables the planner's use of sequential-scan plans."),
    def(Guc::EnableIndexscan, "enable_indexscan", Userset,
        boolean(true), 0,
        "Enables the planner's use of index-scan plans."),
    def(Guc::LogMinMessages, "log_min_messages", Suset,
        enumerated(level::WARNING, SERVER_MESSAGE_LEVELS), 0,
        "Sets the message levels that are logged."),
    def(Guc::LogCheckpoints, "log_checkpoints", Sighup,
        boolean(true), 0,
        "Logs each checkpoint."),
    def(Guc::LogConnections, "log_connections", SuBackend,
        boolean(false), 0,
        "Logs each successful connection."),
    def(Guc::LogDisconnections, "log_disconnections", SuBackend,
        boolean(false), 0,
        "Logs end of a session, including duration."),
    def(Guc::DeadlockTimeout, "deadlock_timeout", Suset,
        int(1000, 1, INT_MAX, Some(Unit::Milliseconds)), 0,
        "Sets the time to wait on a lock before checking for deadlock."),
    def(Guc::ClientMinMessages, "client_min_messages", Userset,
        enumerated(level::NOTICE, CLIENT_MESSAGE_LEVELS), 0,
        "Sets the message levels that are sent to the client."),
    def(Guc::StatementTimeout, "statement_timeout", Userset,
        int(0, 0, INT_MAX, Some(Unit::Milliseconds)), 0,
        "Sets the maximum allowed duration of any statement."),
    def(Guc::LockTimeout, "lock_timeout", Userset,
        int(0, 0, INT_MAX, Some(Unit::Milliseconds)), 0,
        "Sets the maximum allowed duration of any wait for a lock."),
    def(Guc::IdleInTransactionSessionTimeout, "idle_in_transaction_session_timeout", Userset,
        int(0, 0, INT_MAX, Some(Unit::Milliseconds)), 0,
        "Sets the maximum allowed idle time between queries, when in a transaction."),
    def(Guc::SearchPath, "search_path", Userset,
        string("\"$user\", public", Some(checks::check_search_path)), LIST_INPUT | LIST_QUOTE,
        "Sets the schema search order for names that are not schema-qualified."),
    def(Guc::RowSecurity, "row_security", Userset,
        boolean(true), 0,
        "Enable row security."),
    def(Guc::DefaultTransactionIsolation, "default_transaction_isolation", Userset,
        enumerated(isolation::READ_COMMITTED, ISOLATION_OPTIONS), 0,
        "Sets the transaction isolation level of each new transaction."),
    def(Guc::DefaultTransactionReadOnly, "default_transaction_read_only", Userset,
        boolean(false), REPORT,
        "Sets the default read-only status of new transactions."),
    def(Guc::DefaultTransactionDeferrable, "default_transaction_deferrable", Userset,
        boolean(false), 0,
        "Sets the default deferrable status of new transactions."),
    // The current transaction's modes. Outside a transaction's own SET they show
    // their default_ counterpart: see `Config::transaction_default`.
    def(Guc::TransactionIsolation, "transaction_isolation", Userset,
        enumerated(isolation::READ_COMMITTED, ISOLATION_OPTIONS), NO_RESET_ALL | DISALLOW_IN_FILE,
        "Sets the current transaction's isolation level."),
    def(Guc::TransactionReadOnly, "transaction_read_only", Userset,
        boolean(false), NO_RESET_ALL | DISALLOW_IN_FILE,
        "Sets the current transaction's read-only status."),
    def(Guc::TransactionDeferrable, "transaction_deferrable", Userset,
        boolean(false), NO_RESET_ALL | DISALLOW_IN_FILE,
        "Whether to defer a read-only serializable transaction until it can be executed with no possible serialization failures."),
    def(Guc::DateStyle, "DateStyle", Userset,
        string("ISO, MDY", Some(checks::check_datestyle)), LIST_INPUT | REPORT,
        "Sets the display format for date and time values."),
    def(Guc::IntervalStyle, "IntervalStyle", Userset,
        enumerated(interval_style::POSTGRES, INTERVAL_STYLE_OPTIONS), REPORT,
        "Sets the display format for interval values."),
    def(Guc::TimeZone, "TimeZone", Userset,
        string("UTC", Some(checks::check_timezone)), REPORT,
        "Sets the time zone for displaying and interpreting time stamps."),
    def(Guc::ExtraFloatDigits, "extra_float_digits", Userset,
        int(1, -15, 3, None), 0,
        "Sets the number of digits displayed for floating-point values."),
    def(Guc::ClientEncoding, "client_encoding", Userset,
        string("UTF8", Some(checks::check_client_encoding)), REPORT | IS_NAME,
        "Sets the client's character set encoding."),
    def(Guc::LcMessages, "lc_messages", Suset,
        string("", Some(checks::check_lc_messages)), 0,
        "Sets the language in which messages are displayed."),
    def(Guc::StandardConformingStrings, "standard_conforming_strings", Userset,
        boolean(true), REPORT,
        "Causes '...' strings to treat backslashes literally."),
    def(Guc::ApplicationName, "application_name", Userset,
        string("", Some(checks::check_application_name)), REPORT | IS_NAME,
        "Sets the application name to be reported in statistics and logs."),
    def(Guc::ServerVersion, "server_version", Internal,
        string(SERVER_VERSION, None), REPORT | DISALLOW_IN_FILE,
        "Shows the server version."),
    def(Guc::ServerVersionNum, "server_version_num", Internal,
        int(SERVER_VERSION_NUM, SERVER_VERSION_NUM, SERVER_VERSION_NUM, None), DISALLOW_IN_FILE,
        "Shows the server version as an integer."),
    def(Guc::ServerEncoding, "server_encoding", Internal,
        string("UTF8", None), REPORT | DISALLOW_IN_FILE,
        "Shows the server (database) character set encoding."),
    def(Guc::IntegerDatetimes, "integer_datetimes", Internal,
        boolean(true), REPORT | DISALLOW_IN_FILE,
        "Shows whether datetimes are integer based."),
    def(Guc::BlockSize, "block_size", Internal,
        int(BLOCK_SIZE, BLOCK_SIZE, BLOCK_SIZE, None), DISALLOW_IN_FILE,
        "Shows the size of a disk block."),
    def(Guc::WalSegmentSize, "wal_segment_size", Internal,
        int(WAL_SEGMENT_SIZE, 1024 * 1024, 1024 * 1024 * 1024, Some(Unit::Bytes)), DISALLOW_IN_FILE,
        "Shows the size of write ahead log segments."),
    def(Guc::MaxIdentifierLength, "max_identifier_length", Internal,
        int(63, 63, 63, None), DISALLOW_IN_FILE,
        "Shows the maximum identifier length."),
    def(Guc::InHotStandby, "in_hot_standby", Internal,
        boolean(false), REPORT | DISALLOW_IN_FILE,
        "Shows whether hot standby is currently active."),
    def(Guc::DataDirectory, "data_directory", Postmaster,
        string("", None), SUPERUSER_ONLY | DISALLOW_IN_FILE,
        "Sets the server's data directory."),
    def(Guc::IsSuperuser, "is_superuser", Internal,
        boolean(false), REPORT | NO_SHOW_ALL | NO_RESET_ALL | DISALLOW_IN_FILE,
        "Shows whether the current user is a superuser."),
    def(Guc::SessionAuthorization, "session_authorization", Userset,
        string("", None), REPORT | NO_SHOW_ALL | NO_RESET_ALL | DISALLOW_IN_FILE | IS_NAME,
        "Sets the session user name."),
];

// `SETTINGS[g as usize].id == g` for every `Guc`: typed accessors rely on it.
const _: () = {
    let mut i = 0;
    while i < SETTINGS.len() {
        assert!(SETTINGS[i].id as usize == i);
        i += 1;
    }
    assert!(Guc::SessionAuthorization as usize == SETTINGS.len() - 1);
};

impl Guc {
    pub fn def(self) -> &'static SettingDef {
        &SETTINGS[self as usize]
    }

    /// For a mode of the current transaction (`transaction_isolation`, …), the
    /// `default_` setting every new transaction starts from.
    pub fn transaction_default(self) -> Option<Guc> {
        match self {
            Guc::TransactionIsolation => Some(Guc::DefaultTransactionIsolation),
            Guc::TransactionReadOnly => Some(Guc::DefaultTransactionReadOnly),
            Guc::TransactionDeferrable => Some(Guc::DefaultTransactionDeferrable),
            _ => None,
        }
    }
}

/// PostgreSQL's `guc_name_compare`: ASCII case-insensitive.
pub(crate) fn name_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Looks a built-in setting up by name, case-insensitively.
pub(crate) fn find(name: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|d| name_eq(d.name, name))
}

/// PostgreSQL's `valid_custom_variable_name`: two or more simple identifiers
/// separated by dots (`myapp.x`).
pub(crate) fn valid_custom_name(name: &str) -> bool {
    let mut saw_separator = false;
    let mut at_component_start = true;
    for &b in name.as_bytes() {
        if b == b'.' {
            if at_component_start {
                return false;
            }
            saw_separator = true;
            at_component_start = true;
        } else if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 {
            if at_component_start && b.is_ascii_digit() {
                return false;
            }
            at_component_start = false;
        } else {
            return false;
        }
    }
    !at_component_start && saw_separator
}

/// The settings PostgreSQL 15 reports with ParameterStatus (GUC_REPORT), in the
/// order it sends them at connection start.
pub const PARAMETER_STATUS_NAMES: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "IntervalStyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "TimeZone",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_case_insensitively() {
        for (i, a) in SETTINGS.iter().enumerate() {
            for b in &SETTINGS[i + 1..] {
                assert!(!name_eq(a.name, b.name), "{} twice", a.name);
            }
        }
    }

    #[test]
    fn parameter_status_names_are_exactly_the_report_flags_in_sorted_order() {
        let mut reported: Vec<&str> = SETTINGS
            .iter()
            .filter(|d| d.has(REPORT))
            .map(|d| d.name)
            .collect();
        reported.sort_by_key(|n| n.to_ascii_lowercase());
        assert_eq!(reported, PARAMETER_STATUS_NAMES);
    }

    #[test]
    fn custom_names_need_a_dot_and_identifier_components() {
        assert!(valid_custom_name("myapp.x"));
        assert!(valid_custom_name("a.b.c_1"));
        assert!(!valid_custom_name("myapp"));
        assert!(!valid_custom_name("a..b"));
        assert!(!valid_custom_name("1a.b"));
        assert!(!valid_custom_name("a.b-c"));
        assert!(!valid_custom_name("a."));
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(find("datestyle").map(|d| d.name), Some("DateStyle"));
        assert_eq!(find("TIMEZONE").map(|d| d.id), Some(Guc::TimeZone));
        assert!(find("nonexistent").is_none());
    }
}
