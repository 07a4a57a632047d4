//! End-to-end tests of the SQL front half: text in, PostgreSQL's results and
//! errors out. Every expected value, column name, type OID, SQLSTATE, message
//! and position in these tests was produced by a real PostgreSQL 15.
//!
//! This file holds the test session and helpers; `expressions.rs` tests
//! expression semantics, `statements.rs` statements and the session interface.

mod columns;
mod expressions;
mod statements;

use std::cell::Cell;
use std::collections::HashMap;

use super::*;
use crate::error::sqlstate;

/// A session with a few settings, a transaction-block flag, and an optional
/// cancel that arrives after some number of interrupt checks.
#[derive(Default)]
pub(super) struct TestSession {
    pub(super) settings: HashMap<String, String>,
    pub(super) in_block: bool,
    pub(super) notices: Vec<(&'static str, &'static str, String)>,
    /// Set values and their `is_local` flag, in order.
    pub(super) sets: Vec<(String, Option<String>, bool)>,
    pub(super) cancel_after_checks: Option<usize>,
    pub(super) interrupt_checks: usize,
    /// How many times `show_setting` was called.
    pub(super) setting_reads: Cell<usize>,
}

impl TestSession {
    pub(super) fn new() -> TestSession {
        let mut s = TestSession::default();
        for (name, value) in [
            ("work_mem", "4MB"),
            ("search_path", "\"$user\", public"),
            ("timezone", "Etc/UTC"),
            ("datestyle", "ISO, MDY"),
            ("transaction_isolation", "read committed"),
            ("transaction_read_only", "off"),
            ("transaction_deferrable", "off"),
            ("default_transaction_read_only", "off"),
            ("extra_float_digits", "1"),
        ] {
            s.settings.insert(name.into(), value.into());
        }
        s
    }

    fn unknown(name: &str) -> QuillError {
        QuillError::new(
            sqlstate::UNDEFINED_OBJECT,
            format!("unrecognized configuration parameter \"{name}\""),
        )
    }
}

impl SessionContext for TestSession {
    fn current_user(&self) -> &str {
        "alice"
    }
    fn current_database(&self) -> &str {
        "bank"
    }
    fn backend_pid(&self) -> i32 {
        4242
    }
    fn check_for_interrupts(&mut self) -> QuillResult<()> {
        self.interrupt_checks += 1;
        match self.cancel_after_checks {
            Some(n) if self.interrupt_checks > n => Err(QuillError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to user request",
            )),
            _ => Ok(()),
        }
    }
    fn show_setting(&self, name: &str) -> QuillResult<String> {
        self.setting_reads.set(self.setting_reads.get() + 1);
        let key = name.to_ascii_lowercase();
        self.settings
            .get(&key)
            .cloned()
            .ok_or_else(|| Self::unknown(name))
    }
    fn show_all_settings(&self) -> Vec<(String, String, String)> {
        let mut all: Vec<_> = self
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), format!("about {k}")))
            .collect();
        all.sort();
        all
    }
    fn set_setting(&mut self, name: &str, value: Option<&str>, is_local: bool) -> QuillResult<()> {
        let key = name.to_ascii_lowercase();
        if !self.settings.contains_key(&key) {
            return Err(Self::unknown(name));
        }
        self.sets
            .push((key.clone(), value.map(str::to_string), is_local));
        self.settings
            .insert(key, value.unwrap_or("default").to_string());
        Ok(())
    }
    fn reset_setting(&mut self, name: &str) -> QuillResult<()> {
        self.sets.push((format!("reset {name}"), None, false));
        Ok(())
    }
    fn transaction_command(&mut self, cmd: TxnCommand) -> QuillResult<String> {
        let tag = match cmd {
            TxnCommand::Begin => "BEGIN",
            TxnCommand::Commit => "COMMIT",
            TxnCommand::Rollback => "ROLLBACK",
        };
        self.in_block = cmd == TxnCommand::Begin;
        Ok(tag.to_string())
    }
    fn notice(&mut self, severity: &'static str, sqlstate: &'static str, message: String) {
        self.notices.push((severity, sqlstate, message));
    }
    fn in_transaction_block(&self) -> Option<bool> {
        Some(self.in_block)
    }
}

pub(super) fn run_in(session: &mut TestSession, sql: &str) -> QuillResult<QueryResult> {
    let statements = parse_query(sql)?;
    assert_eq!(statements.len(), 1, "{sql}");
    execute(&statements[0], session)
}

pub(super) fn run(sql: &str) -> QuillResult<QueryResult> {
    run_in(&mut TestSession::new(), sql)
}

/// The single row of a query, NULL shown as "NULL".
pub(super) fn row(sql: &str) -> Vec<String> {
    row_in(&mut TestSession::new(), sql)
}

/// [`row`] in a given session.
pub(super) fn row_in(session: &mut TestSession, sql: &str) -> Vec<String> {
    let result = run_in(session, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(result.rows.len(), 1, "{sql}");
    result.rows[0]
        .iter()
        .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
        .collect()
}

pub(super) fn value(sql: &str) -> String {
    row(sql).remove(0)
}

/// (name, type OID, typmod) of each column.
pub(super) fn columns(sql: &str) -> Vec<(String, u32, i32)> {
    let result = run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    result
        .columns
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.type_oid, c.type_mod))
        .collect()
}

/// (SQLSTATE, message, position) of a failing statement.
pub(super) fn error(sql: &str) -> (&'static str, String, Option<u32>) {
    match run(sql) {
        Ok(r) => panic!("{sql} unexpectedly gave {r:?}"),
        Err(e) => (e.sqlstate, e.message, e.position),
    }
}
