//! Behaviour of `Config` as a whole, pinned against PostgreSQL 15's answers.

use super::*;
use std::path::Path;

fn session() -> Config {
    let mut config = Config::defaults();
    config
        .set("is_superuser", "on", SetSource::Internal)
        .unwrap();
    config
}

fn err(
    result: QuillResult<impl std::fmt::Debug>,
) -> (String, String, Option<String>, Option<String>) {
    let e = result.expect_err("should fail");
    (e.sqlstate.to_string(), e.message, e.detail, e.hint)
}

fn data_dir(conf: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("postgresql.conf"), conf).unwrap();
    dir
}

fn conf_path(dir: &Path) -> String {
    dir.join("postgresql.conf").display().to_string()
}

#[test]
fn defaults_match_the_shipped_file_and_postgres() {
    let c = Config::defaults();
    assert_eq!(c.port(), 5432);
    assert_eq!(c.listen_addresses(), ["localhost"]);
    assert_eq!(c.unix_socket_directories(), ["/tmp"]);
    assert_eq!(c.max_connections(), 100);
    assert_eq!(c.shared_buffers_bytes(), 128 << 20);
    assert_eq!(c.wal_buffers_bytes(), 16 << 20);
    // warning still shows LOG lines, which are log::info! (see the accessor).
    assert_eq!(c.log_min_messages(), log::LevelFilter::Info);
    assert!(c.log_checkpoints() && !c.log_connections() && !c.log_disconnections());
    assert!(c.fsync() && c.synchronous_commit() && c.full_page_writes());
    assert_eq!(c.wal_sync_method(), WalSyncMethod::Fdatasync);
    assert_eq!(c.wal_writer_delay_ms(), 200);
    assert_eq!((c.commit_delay_us(), c.commit_siblings()), (0, 5));
    assert_eq!(c.checkpoint_timeout_s(), 300);
    assert_eq!(c.max_wal_size_bytes(), 1 << 30);
    assert_eq!(c.min_wal_size_bytes(), 80 << 20);
    assert_eq!(c.checkpoint_completion_target(), 0.9);
    assert_eq!(c.deadlock_timeout_ms(), 1000);
    assert_eq!(c.statement_timeout_ms(), 0);
    assert_eq!(c.authentication_timeout_s(), 60);
    assert_eq!(c.application_name(), "");
    assert_eq!(c.extra_float_digits(), 1);
    assert_eq!(c.date_style(), (DateStyle::Iso, DateOrder::Mdy));
    assert_eq!(c.interval_style(), IntervalStyle::Postgres);
    assert_eq!(c.default_transaction_isolation(), "read committed");
    assert_eq!(c.timezone(), "UTC");
    assert_eq!(c.client_encoding(), "UTF8");
    assert_eq!(c.search_path(), "\"$user\", public");
    assert!(c.standard_conforming_strings());
}

#[test]
fn show_formats_like_postgres() {
    let c = session();
    let show = |name| c.show(name).unwrap();
    assert_eq!(show("shared_buffers"), "128MB");
    assert_eq!(show("wal_buffers"), "16MB");
    assert_eq!(show("checkpoint_timeout"), "5min");
    assert_eq!(show("wal_writer_delay"), "200ms");
    assert_eq!(show("deadlock_timeout"), "1s");
    assert_eq!(show("authentication_timeout"), "1min");
    assert_eq!(show("max_wal_size"), "1GB");
    assert_eq!(show("wal_segment_size"), "16MB");
    assert_eq!(show("statement_timeout"), "0");
    assert_eq!(show("fsync"), "on");
    assert_eq!(show("log_connections"), "off");
    assert_eq!(show("checkpoint_completion_target"), "0.9");
    assert_eq!(show("DATESTYLE"), "ISO, MDY");
    assert_eq!(show("server_version"), "15.0");
    assert_eq!(show("server_version_num"), "150000");
    assert_eq!(show("block_size"), "8192");
    assert_eq!(show("integer_datetimes"), "on");
    assert_eq!(show("is_superuser"), "on");
    assert_eq!(c.canonical_name("timezone").as_deref(), Some("TimeZone"));
    assert_eq!(
        err(c.show("foo")),
        (
            "42704".into(),
            "unrecognized configuration parameter \"foo\"".into(),
            None,
            None
        )
    );
}

#[test]
fn set_parses_units_and_enums() {
    let mut c = session();
    c.set("statement_timeout", "1.5s", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("statement_timeout").unwrap(), "1500ms");
    c.set("statement_timeout", "3600000", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("statement_timeout").unwrap(), "1h");
    assert_eq!(c.statement_timeout_ms(), 3_600_000);
    c.set("synchronous_commit", "true", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("synchronous_commit").unwrap(), "on");
    c.set("synchronous_commit", "LOCAL", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("synchronous_commit").unwrap(), "local");
    assert!(c.synchronous_commit());
    c.set("synchronous_commit", "off", SetSource::Session)
        .unwrap();
    assert!(!c.synchronous_commit());
    c.set("log_min_messages", "debug", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("log_min_messages").unwrap(), "debug2");
    assert_eq!(c.log_min_messages(), log::LevelFilter::Debug);
    c.set("IntervalStyle", "SQL_STANDARD", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("intervalstyle").unwrap(), "sql_standard");
    c.set("extra_float_digits", "1.5", SetSource::Session)
        .unwrap();
    assert_eq!(c.extra_float_digits(), 2);
    c.set("standard_conforming_strings", "of", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("standard_conforming_strings").unwrap(), "off");
    c.set("timezone", "etc/utc", SetSource::Session).unwrap();
    assert_eq!(c.show("TimeZone").unwrap(), "Etc/UTC");
    c.set("client_encoding", "utf-8", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("client_encoding").unwrap(), "UTF8");
    c.set("application_name", "héllo", SetSource::Session)
        .unwrap();
    assert_eq!(c.application_name(), "h??llo");
}

#[test]
fn bad_values_get_postgres_errors() {
    let mut c = session();
    let mut set = |name: &str, value: &str| err(c.set(name, value, SetSource::Session));
    let invalid =
        |name: &str, value: &str| format!("invalid value for parameter \"{name}\": \"{value}\"");
    assert_eq!(
        set("standard_conforming_strings", "maybe"),
        (
            "22023".into(),
            "parameter \"standard_conforming_strings\" requires a Boolean value".into(),
            None,
            None
        )
    );
    assert_eq!(
        set("intervalstyle", "bad"),
        (
            "22023".into(),
            invalid("intervalstyle", "bad"),
            None,
            Some("Available values: postgres, postgres_verbose, sql_standard, iso_8601.".into())
        )
    );
    assert_eq!(
        set("synchronous_commit", "bogus").3.unwrap(),
        "Available values: local, remote_write, remote_apply, on, off."
    );
    assert_eq!(
        set("statement_timeout", "abc"),
        (
            "22023".into(),
            invalid("statement_timeout", "abc"),
            None,
            None
        )
    );
    assert_eq!(
        set("statement_timeout", "5 parsecs").3.unwrap(),
        "Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\"."
    );
    assert_eq!(
        set("statement_timeout", "-5").1,
        "-5 ms is outside the valid range for parameter \"statement_timeout\" (0 .. 2147483647)"
    );
    assert_eq!(
        set("statement_timeout", "100000000000").3.unwrap(),
        "Value exceeds integer range."
    );
    assert_eq!(
        set("extra_float_digits", "10").1,
        "10 is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
    );
    assert_eq!(
        set("datestyle", "foo"),
        (
            "22023".into(),
            invalid("DateStyle", "foo"),
            Some("Unrecognized key word: \"foo\".".into()),
            None
        )
    );
    assert_eq!(
        set("timezone", "Mars/Base").1,
        invalid("TimeZone", "Mars/Base")
    );
    let latin1 = set("client_encoding", "latin1");
    assert_eq!(
        (latin1.0.as_str(), latin1.1),
        ("0A000", invalid("client_encoding", "latin1"))
    );
    assert_eq!(
        set("lc_messages", "xx_XX").1,
        invalid("lc_messages", "xx_XX")
    );
}

#[test]
fn set_respects_contexts() {
    let mut c = session();
    let mut set = |name: &str, value: &str| err(c.set(name, value, SetSource::Session));
    let cant = |what: &str| ("55P02".to_string(), what.to_string(), None, None);
    assert_eq!(
        set("port", "5433"),
        cant("parameter \"port\" cannot be changed without restarting the server")
    );
    assert_eq!(
        set("shared_buffers", "1GB"),
        cant("parameter \"shared_buffers\" cannot be changed without restarting the server")
    );
    assert_eq!(
        set("fsync", "off"),
        cant("parameter \"fsync\" cannot be changed now")
    );
    assert_eq!(
        set("server_version", "x"),
        cant("parameter \"server_version\" cannot be changed")
    );
    assert_eq!(
        set("is_superuser", "off"),
        cant("parameter \"is_superuser\" cannot be changed")
    );
    assert_eq!(
        set("log_connections", "on"),
        cant("parameter \"log_connections\" cannot be set after connection start")
    );
    assert_eq!(
        set("foo", "1").1,
        "unrecognized configuration parameter \"foo\""
    );
    assert_eq!(
        set("a.b-c", "1"),
        (
            "42602".into(),
            "invalid configuration parameter name \"a.b-c\"".into(),
            Some(
                "Custom parameter names must be two or more simple identifiers separated by dots."
                    .into()
            ),
            None
        )
    );
    let baseline = c.clone();
    assert_eq!(
        err(c.reset("port", &baseline)).1,
        "parameter \"port\" cannot be changed without restarting the server"
    );
    // A superuser may set superuser settings.
    c.set("commit_delay", "10", SetSource::Session).unwrap();
    assert_eq!(c.commit_delay_us(), 10);
}

#[test]
fn non_superusers_cannot_set_or_see_superuser_settings() {
    let mut c = Config::defaults();
    let denied = |name: &str| {
        (
            "42501".to_string(),
            format!("permission denied to set parameter \"{name}\""),
            None,
            None,
        )
    };
    assert_eq!(
        err(c.set("commit_delay", "10", SetSource::Session)),
        denied("commit_delay")
    );
    assert_eq!(
        err(c.set("log_min_messages", "error", SetSource::Session)),
        denied("log_min_messages")
    );
    assert_eq!(
        err(c.set("log_connections", "on", SetSource::Startup)),
        denied("log_connections")
    );
    assert_eq!(
        err(c.show("data_directory")).1,
        "must be superuser or have privileges of pg_read_all_settings to examine \"data_directory\""
    );
    assert!(c.show_all().iter().all(|row| row.0 != "data_directory"));
    c.set("commit_siblings", "7", SetSource::Session).unwrap();
}

#[test]
fn startup_options_may_set_backend_settings() {
    let mut c = session();
    c.set("log_connections", "on", SetSource::Startup).unwrap();
    assert!(c.log_connections());
    assert_eq!(
        err(c.set("fsync", "off", SetSource::Startup)).1,
        "parameter \"fsync\" cannot be changed now"
    );
    c.set("application_name", "psql", SetSource::Startup)
        .unwrap();
    let baseline = c.clone();
    c.set("application_name", "mine", SetSource::Session)
        .unwrap();
    c.reset("application_name", &baseline).unwrap();
    assert_eq!(c.application_name(), "psql");
}

#[test]
fn custom_settings_are_strings() {
    let mut c = session();
    c.set("myapp.x", "1", SetSource::Session).unwrap();
    assert_eq!(c.show("MYAPP.X").unwrap(), "1");
    assert_eq!(
        err(c.show("myapp.y")).1,
        "unrecognized configuration parameter \"myapp.y\""
    );
    c.reset("myapp.x", &Config::defaults()).unwrap();
    assert_eq!(c.show("myapp.x").unwrap(), "");
    c.set("A.B", "x", SetSource::Session).unwrap();
    assert_eq!(c.canonical_name("a.b").as_deref(), Some("A.B"));
    assert!(c.show_all().iter().all(|row| !row.0.contains('.')));
}

#[test]
fn reset_all_restores_session_changes_only() {
    let mut c = session();
    c.set("application_name", "psql", SetSource::Startup)
        .unwrap();
    let before = c.clone();
    c.set("application_name", "x", SetSource::Session).unwrap();
    c.set("DateStyle", "german", SetSource::Session).unwrap();
    c.set("statement_timeout", "5s", SetSource::Session)
        .unwrap();
    assert_eq!(
        c.changed_reported(&before),
        vec![
            ("application_name", "x".to_string()),
            ("DateStyle", "German, DMY".to_string())
        ]
    );
    c.reset_all(&before);
    assert_eq!(c.application_name(), "psql");
    assert_eq!(c.show("DateStyle").unwrap(), "ISO, MDY");
    assert_eq!(c.statement_timeout_ms(), 0);
    assert!(c.is_superuser());
    assert!(c.changed_reported(&before).is_empty());
}

#[test]
fn session_and_statement_settings_match_postgres() {
    let mut c = session();
    for (name, shown) in [
        ("work_mem", "4MB"),
        ("maintenance_work_mem", "64MB"),
        ("client_min_messages", "notice"),
        ("lock_timeout", "0"),
        ("idle_in_transaction_session_timeout", "0"),
        ("row_security", "on"),
        ("enable_seqscan", "on"),
        ("enable_indexscan", "on"),
        ("default_transaction_deferrable", "off"),
        ("transaction_isolation", "read committed"),
        ("transaction_read_only", "off"),
        ("transaction_deferrable", "off"),
    ] {
        assert_eq!(c.show(name).unwrap(), shown, "{name}");
    }
    assert_eq!(c.work_mem_bytes(), 4 << 20);
    let mut set = |name: &str, value: &str| {
        c.set(name, value, SetSource::Session)?;
        c.show(name)
    };
    assert_eq!(set("work_mem", "1048576").unwrap(), "1GB");
    assert_eq!(set("lock_timeout", "1s").unwrap(), "1s");
    assert_eq!(
        set("idle_in_transaction_session_timeout", "1min").unwrap(),
        "1min"
    );
    assert_eq!(set("client_min_messages", "info").unwrap(), "info");
    assert_eq!(set("client_min_messages", "debug").unwrap(), "debug2");
    assert_eq!(
        err(set("work_mem", "10")).1,
        "10 kB is outside the valid range for parameter \"work_mem\" (64 .. 2147483647)"
    );
    assert_eq!(
        err(set("maintenance_work_mem", "1000")).1,
        "1000 kB is outside the valid range for parameter \"maintenance_work_mem\" (1024 .. 2147483647)"
    );
    assert_eq!(
        err(set("client_min_messages", "bogus")).3.unwrap(),
        "Available values: debug5, debug4, debug3, debug2, debug1, log, notice, warning, error."
    );
    assert_eq!(
        err(set("transaction_isolation", "bogus")).3.unwrap(),
        "Available values: serializable, repeatable read, read committed, read uncommitted."
    );
    assert_eq!(
        err(set("transaction_read_only", "bogus")).1,
        "parameter \"transaction_read_only\" requires a Boolean value"
    );
}

#[test]
fn transaction_modes_show_their_defaults_until_sql_sets_them() {
    let mut c = session();
    let baseline = c.clone();
    c.set(
        "default_transaction_isolation",
        "serializable",
        SetSource::Session,
    )
    .unwrap();
    c.set("default_transaction_read_only", "on", SetSource::Session)
        .unwrap();
    assert_eq!(c.show("transaction_isolation").unwrap(), "serializable");
    assert_eq!(c.transaction_isolation(), "serializable");
    assert_eq!(c.show("transaction_read_only").unwrap(), "on");
    assert!(c.transaction_read_only() && !c.transaction_deferrable());

    // Inside a block: BEGIN ISOLATION LEVEL / SET TRANSACTION give the transaction
    // its own mode, which later changes of the default do not touch.
    let at_begin = c.clone();
    c.set(
        "transaction_isolation",
        "repeatable read",
        SetSource::Session,
    )
    .unwrap();
    c.set(
        "default_transaction_isolation",
        "read committed",
        SetSource::Session,
    )
    .unwrap();
    assert_eq!(c.show("transaction_isolation").unwrap(), "repeatable read");
    // The end of the block restores the SET LOCAL; the mode follows the default again.
    c.restore_setting("transaction_isolation", &at_begin);
    assert_eq!(c.show("transaction_isolation").unwrap(), "read committed");
    c.set("transaction_isolation", "serializable", SetSource::Session)
        .unwrap();
    let restored = at_begin.show("transaction_isolation").unwrap();
    c.set("transaction_isolation", &restored, SetSource::Internal)
        .unwrap();
    assert_eq!(c.show("transaction_isolation").unwrap(), "read committed");

    // RESET gives the transaction the boot value, not the default (PostgreSQL's
    // reset_val), and RESET ALL leaves the modes alone.
    c.set(
        "default_transaction_isolation",
        "serializable",
        SetSource::Session,
    )
    .unwrap();
    c.reset("transaction_isolation", &baseline).unwrap();
    assert_eq!(c.show("transaction_isolation").unwrap(), "read committed");
    c.set("transaction_deferrable", "on", SetSource::Session)
        .unwrap();
    c.reset_all(&baseline);
    assert_eq!(c.show("transaction_deferrable").unwrap(), "on");

    // The file and the startup packet never set a mode (PostgreSQL sets them at
    // start with a higher priority than either).
    let mut fresh = session();
    fresh
        .set("transaction_read_only", "on", SetSource::Startup)
        .unwrap();
    assert_eq!(fresh.show("transaction_read_only").unwrap(), "off");
    assert!(fresh
        .show_all()
        .iter()
        .any(|row| row.0 == "transaction_isolation"));
}

#[test]
fn client_min_messages_decides_which_notices_reach_the_client() {
    let mut c = session();
    let sent = |c: &Config| {
        ["DEBUG", "LOG", "INFO", "NOTICE", "WARNING", "ERROR"].map(|s| c.sends_to_client(s))
    };
    assert_eq!(sent(&c), [false, false, true, true, true, true]);
    c.set("client_min_messages", "warning", SetSource::Session)
        .unwrap();
    assert_eq!(sent(&c), [false, false, true, false, true, true]);
    c.set("client_min_messages", "error", SetSource::Session)
        .unwrap();
    assert_eq!(sent(&c), [false, false, true, false, false, true]);
    c.set("client_min_messages", "log", SetSource::Session)
        .unwrap();
    assert_eq!(sent(&c), [false, true, true, true, true, true]);
    c.set("client_min_messages", "debug5", SetSource::Session)
        .unwrap();
    assert_eq!(sent(&c), [true, true, true, true, true, true]);
}

#[test]
fn show_all_is_sorted_and_hides_no_show_all_settings() {
    let rows = session().show_all();
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_ascii_lowercase());
    assert_eq!(names, sorted);
    assert!(!names.contains(&"is_superuser") && !names.contains(&"session_authorization"));
    let datestyle = rows.iter().find(|r| r.0 == "DateStyle").unwrap();
    assert_eq!(
        datestyle.2,
        "Sets the display format for date and time values."
    );
    assert_eq!(names.first(), Some(&"application_name"));
}

#[test]
fn parameter_status_reports_postgres_names() {
    let mut c = session();
    c.set("session_authorization", "alice", SetSource::Internal)
        .unwrap();
    let values = c.reported_values();
    let names: Vec<&str> = values.iter().map(|v| v.0).collect();
    assert_eq!(names, parameter_status_names());
    assert!(values.contains(&("session_authorization", "alice".to_string())));
    assert!(values.contains(&("integer_datetimes", "on".to_string())));
    assert!(is_reported("datestyle") && is_reported("TimeZone"));
    assert!(!is_reported("statement_timeout"));
    assert_eq!(
        err(c.set("session_authorization", "bob", SetSource::Session)).0,
        "0A000"
    );
}

#[test]
fn long_names_are_truncated_with_a_notice() {
    let mut c = session();
    let long = "a".repeat(70);
    let notice = c
        .set_with_notice("application_name", &long, SetSource::Session)
        .unwrap();
    assert_eq!(c.application_name(), "a".repeat(63));
    assert_eq!(
        notice.unwrap(),
        format!(
            "identifier \"{long}\" will be truncated to \"{}\"",
            "a".repeat(63)
        )
    );
}

#[test]
fn load_reads_the_file_then_overrides_win() {
    let dir =
        data_dir("port = 5433\nshared_buffers = 1024\nmax_connections 20\nmyapp.x = 'it''s'\n");
    let overrides = vec![
        ("port".to_string(), "6000".to_string()),
        ("wal-writer-delay".into(), "1s".into()),
    ];
    let c = Config::load(dir.path(), &overrides).unwrap();
    assert_eq!(c.port(), 6000);
    assert_eq!(c.shared_buffers_bytes(), 1024 * 8192);
    assert_eq!(c.show("shared_buffers").unwrap_or_default(), "8MB");
    assert_eq!(c.max_connections(), 20);
    assert_eq!(c.wal_writer_delay_ms(), 1000);
    assert_eq!(c.get("myapp.x").as_deref(), Some("it's"));
    assert_eq!(c.data_directory(), dir.path().display().to_string());
    // wal_buffers absent from the file: automatic, 1/32 of shared_buffers, >= 8 blocks.
    assert_eq!(c.get("wal_buffers").as_deref(), Some("256kB"));
}

#[test]
fn load_errors_name_the_file_and_line() {
    let dir = data_dir("# comment\nport = 5432\n foo = 1\n");
    let path = conf_path(dir.path());
    let e = Config::load(dir.path(), &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "unrecognized configuration parameter \"foo\" in file \"{path}\" line 3\n\
             configuration file \"{path}\" contains errors"
        )
    );

    let dir = data_dir("fsync = maybe\nport = abc\nDateStyle = 'bogus'\n");
    let e = Config::load(dir.path(), &[]).unwrap_err();
    let messages: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        messages,
        [
            "parameter \"fsync\" requires a Boolean value",
            "invalid value for parameter \"port\": \"abc\"",
            "invalid value for parameter \"DateStyle\": \"bogus\"\nDETAIL:  Unrecognized key word: \"bogus\".",
        ]
    );
    let path = conf_path(dir.path());
    assert_eq!(
        e.summary.unwrap(),
        format!("configuration file \"{path}\" contains errors")
    );

    let dir = data_dir("port = 1 2\n");
    let e = Config::load(dir.path(), &[]).unwrap_err();
    let path = conf_path(dir.path());
    assert_eq!(
        e.problems[0].message,
        format!("syntax error in file \"{path}\" line 1, near token \"2\"")
    );

    let dir = data_dir("server_version = '14'\n");
    let e = Config::load(dir.path(), &[]).unwrap_err();
    assert_eq!(
        e.problems[0].message,
        "parameter \"server_version\" cannot be changed"
    );
}

#[test]
fn load_reports_bad_overrides_and_missing_files() {
    let dir = data_dir("");
    let bad = |name: &str, value: &str| {
        let e = Config::load(dir.path(), &[(name.to_string(), value.to_string())]).unwrap_err();
        assert!(e.summary.is_none());
        e.to_string()
    };
    assert_eq!(
        bad("foo", "1"),
        "unrecognized configuration parameter \"foo\""
    );
    assert_eq!(
        bad("port", "abc"),
        "invalid value for parameter \"port\": \"abc\""
    );
    assert_eq!(
        bad("max_connections", "3"),
        "superuser_reserved_connections (3) must be less than max_connections (3)"
    );

    let missing = tempfile::tempdir().unwrap();
    let e = Config::load(missing.path(), &[]).unwrap_err();
    let path = conf_path(missing.path());
    assert_eq!(
        e.problems[0].message,
        format!("could not open configuration file \"{path}\": No such file or directory")
    );
}

#[test]
fn reload_applies_sighup_settings_and_keeps_postmaster_ones() {
    let dir = data_dir(DEFAULT_CONF);
    let old = Config::load(dir.path(), &[]).unwrap();
    let conf = format!(
        "{DEFAULT_CONF}\nport = 5999\nwal_writer_delay = 300ms\ncommit_siblings = 7\n\
         deadlock_timeout = 'x'\nmyapp.y = 'q'\nlog_connections = on\nshared_buffers = 128MB\n"
    );
    std::fs::write(dir.path().join("postgresql.conf"), conf).unwrap();
    let (new, log) = old.reload(dir.path(), &[]).unwrap();
    let path = conf_path(dir.path());
    assert_eq!(
        log,
        [
            "parameter \"port\" cannot be changed without restarting the server".to_string(),
            "parameter \"wal_writer_delay\" changed to \"300ms\"".into(),
            "parameter \"commit_siblings\" changed to \"7\"".into(),
            "invalid value for parameter \"deadlock_timeout\": \"x\"".into(),
            "parameter \"myapp.y\" changed to \"q\"".into(),
            "parameter \"log_connections\" changed to \"on\"".into(),
            format!(
                "configuration file \"{path}\" contains errors; unaffected changes were applied"
            ),
        ]
    );
    assert_eq!(new.port(), 5432);
    assert_eq!(new.wal_writer_delay_ms(), 300);
    assert_eq!(new.deadlock_timeout_ms(), 1000);
    assert!(new.log_connections());

    // A backend keeps its backend-context settings.
    let (in_backend, _) = old.reload_in_backend(dir.path()).unwrap();
    assert!(!in_backend.log_connections());
    assert_eq!(in_backend.wal_writer_delay_ms(), 300);
}

#[test]
fn reload_resets_settings_removed_from_the_file() {
    let dir = data_dir("wal_writer_delay = 300ms\nDateStyle = 'SQL, DMY'\nshared_buffers = 64MB\n");
    let old = Config::load(dir.path(), &[]).unwrap();
    std::fs::write(dir.path().join("postgresql.conf"), "# all gone\n").unwrap();
    let (new, log) = old.reload(dir.path(), &[]).unwrap();
    assert_eq!(
        log[..3],
        [
            "parameter \"DateStyle\" removed from configuration file, reset to default",
            "parameter \"shared_buffers\" cannot be changed without restarting the server",
            "parameter \"wal_writer_delay\" removed from configuration file, reset to default",
        ]
    );
    assert!(log[3].ends_with("contains errors; unaffected changes were applied"));
    assert_eq!(new.wal_writer_delay_ms(), 200);
    assert_eq!(new.show("DateStyle").unwrap(), "ISO, MDY");
    assert_eq!(new.shared_buffers_bytes(), 64 << 20);
}

#[test]
fn reload_rejects_a_broken_file_entirely() {
    let dir = data_dir("wal_writer_delay = 300ms\n");
    let old = Config::load(dir.path(), &[]).unwrap();
    std::fs::write(
        dir.path().join("postgresql.conf"),
        "wal_writer_delay = 400ms\nfoo = 1\n",
    )
    .unwrap();
    let e = old.reload(dir.path(), &[]).unwrap_err();
    let path = conf_path(dir.path());
    assert_eq!(
        e.to_string(),
        format!(
            "unrecognized configuration parameter \"foo\" in file \"{path}\" line 2\n\
             configuration file \"{path}\" contains errors; no changes were applied"
        )
    );
    std::fs::write(dir.path().join("postgresql.conf"), "port = 5432 x\n").unwrap();
    assert!(old.reload(dir.path(), &[]).is_err());
}

#[test]
fn reload_keeps_session_sets_and_command_line_values() {
    let dir = data_dir("statement_timeout = 1s\nwal_writer_delay = 300ms\n");
    let overrides = vec![("wal_writer_delay".to_string(), "50ms".to_string())];
    let postmaster = Config::load(dir.path(), &overrides).unwrap();
    assert_eq!(postmaster.wal_writer_delay_ms(), 50);
    let baseline = postmaster.clone();
    let mut backend = postmaster.clone();
    backend
        .set("statement_timeout", "5s", SetSource::Session)
        .unwrap();
    std::fs::write(
        dir.path().join("postgresql.conf"),
        "statement_timeout = 2s\nwal_writer_delay = 400ms\n",
    )
    .unwrap();

    let (backend, _) = backend.reload_in_backend(dir.path()).unwrap();
    let (baseline, _) = baseline.reload_in_backend(dir.path()).unwrap();
    assert_eq!(backend.statement_timeout_ms(), 5000);
    let mut backend = backend;
    backend.reset("statement_timeout", &baseline).unwrap();
    assert_eq!(backend.statement_timeout_ms(), 2000);

    let (postmaster, _) = postmaster.reload(dir.path(), &overrides).unwrap();
    assert_eq!(postmaster.wal_writer_delay_ms(), 50);
    assert_eq!(postmaster.statement_timeout_ms(), 2000);
}

#[test]
fn shipped_conf_lists_every_settable_setting() {
    let items = file::parse_config(DEFAULT_CONF.as_bytes(), "postgresql.conf").unwrap();
    // Everything settable except what may not appear in a file (data_directory,
    // session_authorization, the current transaction's modes).
    for def in SETTINGS
        .iter()
        .filter(|d| d.context != GucContext::Internal && !d.has(flags::DISALLOW_IN_FILE))
    {
        let listed = items.iter().any(|i| i.name == def.name);
        assert!(listed, "{} is missing from conf/postgresql.conf", def.name);
    }
    for item in &items {
        let def = registry::find(&item.name);
        assert!(
            def.is_some_and(|d| !d.has(flags::DISALLOW_IN_FILE)),
            "{} may not be in conf/postgresql.conf",
            item.name
        );
    }
    let c = Config::defaults();
    for item in &items {
        assert!(c.get(&item.name).is_some(), "{}", item.name);
    }
}
