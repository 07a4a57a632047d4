//! Per-session state: who is connected, the session's settings, and the transaction
//! block state. Implements [`crate::sql::SessionContext`], the narrow interface SQL
//! execution uses to reach the session.
//!
//! Transaction blocks follow PostgreSQL: BEGIN opens a block (`T`), an error inside
//! it makes it failed (`E`, only COMMIT/ROLLBACK accepted, COMMIT then reports
//! ROLLBACK), and settings changed inside a block are undone if it rolls back; `SET
//! LOCAL` changes last until the block ends.
//!
//! Several statements in one simple Query message form an implicit block, as in
//! PostgreSQL: they commit together after the last one, an error rolls all of them
//! back (settings included), BEGIN turns the implicit block into an explicit one,
//! and COMMIT/ROLLBACK inside it end it with a warning, after which the following
//! statements start a new implicit block.

use super::storage::BackendStorage;
use crate::backend::interrupts;
use crate::backend::protocol::messages::TxnStatus;
use crate::config::{Config, SetSource};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::{SessionContext, TxnCommand};

/// Gives the executor the transaction's xid on its first write, takes DDL's
/// end-of-transaction work, and queues its notices.
struct StorageXids<'a>(&'a BackendStorage, Vec<(&'static str, QuillError)>);

impl crate::executor::XidSource for StorageXids<'_> {
    fn ensure_xid(&mut self) -> QuillResult<u32> {
        self.0.ensure_xid()
    }

    fn relation_ddl(
        &mut self,
        relid: u32,
        rel: crate::storage::ids::RelFileNode,
        created: bool,
    ) -> QuillResult<()> {
        if created {
            self.0.created_relation(relid, rel);
        } else {
            self.0.drop_relation_at_commit(relid, rel);
        }
        Ok(())
    }

    fn created_in_transaction(&self, rel: crate::storage::ids::RelFileNode) -> bool {
        self.0.created_in_transaction(rel)
    }

    fn notice(&mut self, sqlstate: &'static str, message: String) {
        self.1.push(("NOTICE", QuillError::new(sqlstate, message)));
    }

    fn next_oid(&mut self) -> QuillResult<Option<u32>> {
        let shmem = crate::shmem::shmem();
        let control = shmem.control();
        let counter = crate::catalog::OidCounter {
            lock: &shmem.txn_control::<crate::txn::TxnShared>().xid_gen_lock,
            next_oid: &control.next_oid,
            logged_limit: &control.oid_logged_limit,
        };
        crate::catalog::allocate_oid(&counter, self.0.wal.as_ref()).map(Some)
    }
}

pub struct Session {
    data_dir: std::path::PathBuf,
    user: String,
    database: String,
    pid: i32,
    /// Settings as the session currently sees them.
    config: Config,
    /// Values RESET returns to: the server's configuration plus startup options.
    baseline: Config,
    txn: TxnStatus,
    /// Settings at BEGIN, restored on ROLLBACK.
    config_at_begin: Option<Config>,
    /// Settings when the current implicit block (several statements in one Query
    /// message, outside an explicit block) began; `None` outside one.
    config_at_implicit_start: Option<Config>,
    /// Whether the implicit block goes on after the statement now running (false
    /// for the message's last statement, which commits it).
    implicit_continues: bool,
    /// The implicit block is the extended protocol's (statements between two
    /// Syncs), where SET LOCAL only warns, as in PostgreSQL.
    implicit_is_extended: bool,
    /// Names changed with SET LOCAL in the current block.
    local_settings: Vec<String>,
    /// Notices raised while a statement ran, sent before its result.
    pending_notices: Vec<(&'static str, QuillError)>,
    /// Bumped whenever settings may have changed, so the command loop recomputes
    /// the reported parameters only then (not per statement).
    settings_generation: u64,
    /// ParameterStatus values the client was last told.
    last_reported: Vec<(String, String)>,
    /// Shared storage handles and the current transaction (None only in tests).
    storage: Option<BackendStorage>,
}

impl Session {
    pub fn new(
        data_dir: std::path::PathBuf,
        user: String,
        database: String,
        config: Config,
    ) -> Session {
        Session {
            data_dir,
            user,
            database,
            pid: nix::unistd::getpid().as_raw(),
            baseline: config.clone(),
            config,
            txn: TxnStatus::Idle,
            config_at_begin: None,
            config_at_implicit_start: None,
            implicit_continues: false,
            implicit_is_extended: false,
            local_settings: Vec::new(),
            pending_notices: Vec::new(),
            settings_generation: 0,
            last_reported: Vec::new(),
            storage: None,
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn application_name(&self) -> String {
        self.config.show("application_name").unwrap_or_default()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn txn_status(&self) -> TxnStatus {
        self.txn
    }

    /// A startup-packet parameter or `-c` option.
    pub fn apply_startup_setting(&mut self, name: &str, value: &str) -> QuillResult<()> {
        self.config.set(name, value, SetSource::Startup)
    }

    /// Records who the authenticated user is; done before the client's startup
    /// options are applied, since superuser-only settings check it.
    pub fn set_authenticated_user(&mut self, is_superuser: bool) -> QuillResult<()> {
        let user = self.user.clone();
        self.config
            .set("session_authorization", &user, SetSource::Internal)?;
        self.config.set(
            "is_superuser",
            if is_superuser { "on" } else { "off" },
            SetSource::Internal,
        )
    }

    /// After startup, RESET returns to what the client asked for at connect time.
    pub fn mark_startup_settings_as_baseline(&mut self) {
        self.baseline = self.config.clone();
    }

    /// The (name, value) pairs sent as ParameterStatus.
    pub fn reported_parameters(&self) -> Vec<(String, String)> {
        crate::config::parameter_status_names()
            .iter()
            .filter_map(|name| self.config.show(name).ok().map(|v| (name.to_string(), v)))
            .collect()
    }

    pub fn attach_storage(&mut self, storage: BackendStorage) {
        self.storage = Some(storage);
    }

    /// Before each statement of a Query message with several statements:
    /// `continues` says whether more statements of the message follow, so the
    /// implicit block must stay open after this one.
    pub fn enter_implicit_block(&mut self, continues: bool) {
        if self.txn != TxnStatus::Idle {
            self.implicit_continues = false;
            return;
        }
        if self.config_at_implicit_start.is_none() {
            self.config_at_implicit_start = Some(self.config.clone());
        }
        self.implicit_continues = continues;
    }

    /// The Query message is done: no implicit block outlives it.
    pub fn leave_implicit_block(&mut self) {
        self.config_at_implicit_start = None;
        self.implicit_continues = false;
        self.implicit_is_extended = false;
    }

    /// Before an extended-protocol message that runs SQL (Parse, Bind, Execute):
    /// outside a transaction block, everything up to the next Sync is one
    /// implicit transaction — each statement's work stays open after it, an
    /// error rolls all of it back (settings included), and Sync commits it
    /// ([`Session::sync`]). Unlike a multi-statement Query it is no transaction
    /// block: SET LOCAL warns and COMMIT says there is no transaction.
    pub fn enter_extended_implicit(&mut self) {
        self.enter_implicit_block(true);
        if self.txn == TxnStatus::Idle {
            self.implicit_is_extended = true;
        }
    }

    /// A simple Query arrived before Sync: its statements end the extended
    /// protocol's implicit transaction with their own (PostgreSQL runs them in
    /// the transaction already open and commits at the Query's end).
    pub fn before_simple_query(&mut self) {
        if self.implicit_is_extended {
            self.implicit_continues = false;
            self.implicit_is_extended = false;
        }
    }

    /// Sync: commits the extended protocol's implicit transaction, if one is
    /// open (a transaction block stays open), and ends the implicit block.
    pub fn sync(&mut self) -> QuillResult<()> {
        let outcome = if self.txn == TxnStatus::Idle {
            if self.in_implicit_block() {
                self.end_implicit_block(true);
            }
            let settings = crate::txn::xact::CommitSettings::from_config(&self.config);
            match self.storage.as_mut() {
                Some(storage) => storage.finish_transaction(true, &settings),
                None => Ok(()),
            }
        } else {
            Ok(())
        };
        self.leave_implicit_block();
        outcome
    }

    fn in_implicit_block(&self) -> bool {
        self.txn == TxnStatus::Idle && self.config_at_implicit_start.is_some()
    }

    /// A statement finished (successfully or not). Outside a transaction block it
    /// was its own transaction, or the last of an implicit block: commit it, or
    /// abort it after an error (an implicit block's settings are undone too). An
    /// error inside an explicit block aborts the transaction at once, as PostgreSQL
    /// does, so others waiting on its rows go on; the block stays failed (only its
    /// settings wait for ROLLBACK).
    pub fn end_statement(&mut self, succeeded: bool) -> QuillResult<()> {
        let in_block = self.txn != TxnStatus::Idle;
        let implicit = self.in_implicit_block();
        let keep_open =
            (in_block && succeeded) || (succeeded && implicit && self.implicit_continues);
        if !keep_open && implicit {
            self.end_implicit_block(succeeded);
        }
        if let Some(storage) = self.storage.as_mut() {
            if keep_open {
                storage.next_command();
            } else {
                let settings = crate::txn::xact::CommitSettings::from_config(&self.config);
                storage.finish_transaction(succeeded, &settings)?;
            }
        }
        Ok(())
    }

    /// Ends an implicit block's settings: on commit SET LOCAL values revert, on
    /// abort every change since the block began does. A block that may follow in
    /// the same message starts from the settings as they are now.
    fn end_implicit_block(&mut self, commit: bool) {
        let Some(at_start) = self.config_at_implicit_start.take() else {
            return;
        };
        if commit {
            for name in std::mem::take(&mut self.local_settings) {
                self.config.restore_setting(&name, &at_start);
            }
        } else {
            self.config = at_start;
        }
        self.local_settings.clear();
        self.settings_generation += 1;
        self.config_at_implicit_start = Some(self.config.clone());
    }

    fn finish_block(&mut self, commit: bool) -> QuillResult<()> {
        let settings = crate::txn::xact::CommitSettings::from_config(&self.config);
        match self.storage.as_mut() {
            Some(storage) => storage.finish_transaction(commit, &settings),
            None => Ok(()),
        }
    }

    /// Changes whenever a setting may have changed.
    pub fn settings_generation(&self) -> u64 {
        self.settings_generation
    }

    /// Reported parameters whose value differs from what the client was last told
    /// (all of them the first time); remembers the new values.
    pub fn changed_reported_parameters(&mut self) -> Vec<(String, String)> {
        let now = self.reported_parameters();
        let changed = now
            .iter()
            .filter(|p| !self.last_reported.contains(p))
            .cloned()
            .collect();
        self.last_reported = now;
        changed
    }

    /// Notices queued by the last statement, oldest first.
    pub fn take_notices(&mut self) -> Vec<(&'static str, QuillError)> {
        std::mem::take(&mut self.pending_notices)
    }

    /// An error ended the current statement: a transaction block becomes failed.
    pub fn statement_failed(&mut self) {
        if self.txn == TxnStatus::InBlock {
            self.txn = TxnStatus::Failed;
        }
    }

    /// A SIGHUP arrived: re-read the configuration for settings this session has not
    /// overridden.
    pub fn reload_config(&mut self) {
        self.settings_generation += 1;
        // Each value remembers its source, so a reload never overrides what the
        // session SET or the client asked for at startup.
        if let Ok((reloaded, messages)) = self.config.reload_in_backend(&self.data_dir) {
            for message in messages {
                log::debug!("{message}");
            }
            self.config = reloaded;
        }
        if let Ok((reloaded, _)) = self.baseline.reload_in_backend(&self.data_dir) {
            self.baseline = reloaded;
        }
        crate::logging::set_level(self.config.log_min_messages());
    }

    fn end_block(&mut self, commit: bool) {
        if let Some(at_begin) = self.config_at_begin.take() {
            if commit {
                for name in std::mem::take(&mut self.local_settings) {
                    self.config.restore_setting(&name, &at_begin);
                }
            } else {
                self.config = at_begin;
            }
        }
        self.local_settings.clear();
        self.txn = TxnStatus::Idle;
    }

    /// Runs `f` over the statement's storage context: a snapshot for this
    /// command of the current transaction, the catalog cache, and the session
    /// itself (taken out of the way while `f` runs: the executor evaluates
    /// expressions through it).
    fn with_storage_context<T>(
        &mut self,
        stmt: &crate::sql::Statement,
        f: impl FnOnce(
            &crate::executor::StorageContext<'_>,
            &mut dyn crate::executor::XidSource,
            &mut dyn SessionContext,
        ) -> QuillResult<T>,
    ) -> QuillResult<T> {
        let fpw = self.config.full_page_writes();
        let Some(storage) = self.storage.take() else {
            return Err(QuillError::feature_not_supported(format!(
                "{} is not supported yet",
                stmt.command_tag()
            )));
        };
        let snapshot = storage.statement_snapshot();
        let ctx = crate::executor::StorageContext {
            wal: storage.wal.as_ref(),
            pool: &storage.pool,
            clog: &storage.clog,
            db_oid: storage.db_oid,
            full_page_writes: fpw,
            snapshot: &snapshot,
            my_xid: storage.xid(),
            cid: storage.cid(),
            query: stmt.source(),
            catalog_cache: &storage.catalog_cache,
        };
        let mut xids = StorageXids(&storage, Vec::new());
        let result = f(&ctx, &mut xids, self);
        let notices = xids.1;
        self.pending_notices.extend(notices);
        self.storage = Some(storage);
        result
    }

    fn warn(&mut self, sqlstate: &'static str, message: &str) {
        self.pending_notices
            .push(("WARNING", QuillError::new(sqlstate, message)));
    }
}

impl SessionContext for Session {
    fn current_user(&self) -> &str {
        &self.user
    }

    fn current_database(&self) -> &str {
        &self.database
    }

    fn backend_pid(&self) -> i32 {
        self.pid
    }

    fn in_transaction_block(&self) -> Option<bool> {
        Some(self.txn != TxnStatus::Idle)
    }

    fn request_checkpoint(&mut self) -> QuillResult<()> {
        use std::sync::atomic::Ordering;
        let control = crate::shmem::shmem().control();
        let pid = control.checkpointer_pid.load(Ordering::SeqCst);
        if pid <= 0 {
            return Err(QuillError::new(
                sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                "checkpoint request failed",
            )
            .with_hint("Consult recent messages in the server log for details."));
        }
        // A checkpoint already running may have fixed its redo point before our
        // request: wait for one that starts after it (PostgreSQL's ckpt_started rule).
        let started_before = control.checkpoints_started.load(Ordering::SeqCst);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGINT,
        );
        while control.checkpoints_completed.load(Ordering::SeqCst) < started_before + 1 {
            interrupts::check_for_interrupts()?;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(())
    }

    fn has_storage(&self) -> bool {
        self.storage.is_some()
    }

    fn run_storage_statement(
        &mut self,
        stmt: &crate::sql::Statement,
        format: crate::sql::OutputFormat,
    ) -> QuillResult<crate::sql::QueryResult> {
        self.with_storage_context(stmt, |ctx, xids, session| {
            crate::executor::execute_storage_statement(stmt.node(), ctx, xids, session, format)
        })
    }

    fn run_copy(
        &mut self,
        stmt: &crate::sql::Statement,
        format: crate::sql::OutputFormat,
        channel: &mut dyn crate::sql::CopyChannel,
    ) -> QuillResult<crate::sql::QueryResult> {
        self.with_storage_context(stmt, |ctx, xids, session| {
            crate::executor::execute_copy(stmt.node(), ctx, xids, session, channel, format)
        })
    }

    fn describe_storage_statement(
        &mut self,
        stmt: &crate::sql::Statement,
    ) -> QuillResult<Option<Vec<crate::sql::Column>>> {
        self.with_storage_context(stmt, |ctx, _, _| {
            crate::executor::describe_storage_statement(stmt.node(), ctx)
        })
    }

    fn check_for_interrupts(&mut self) -> QuillResult<()> {
        interrupts::check_for_interrupts()
    }

    fn show_setting(&self, name: &str) -> QuillResult<String> {
        self.config.show(name)
    }

    fn show_all_settings(&self) -> Vec<(String, String, String)> {
        self.config.show_all()
    }

    fn set_setting(&mut self, name: &str, value: Option<&str>, is_local: bool) -> QuillResult<()> {
        self.settings_generation += 1;
        let in_implicit_block = self.in_implicit_block() && !self.implicit_is_extended;
        if is_local && self.txn == TxnStatus::Idle && !in_implicit_block {
            self.warn(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                "SET LOCAL can only be used in transaction blocks",
            );
            return Ok(());
        }
        match value {
            Some(value) => {
                if let Some(notice) =
                    self.config
                        .set_with_notice(name, value, SetSource::Session)?
                {
                    self.pending_notices.push((
                        "NOTICE",
                        QuillError::new(sqlstate::SUCCESSFUL_COMPLETION, notice),
                    ));
                }
            }
            None => self.config.reset(name, &self.baseline)?,
        }
        if is_local {
            self.local_settings.push(name.to_string());
        }
        Ok(())
    }

    fn reset_setting(&mut self, name: &str) -> QuillResult<()> {
        self.settings_generation += 1;
        if name.eq_ignore_ascii_case("all") {
            self.config.reset_all(&self.baseline);
            Ok(())
        } else {
            self.config.reset(name, &self.baseline)
        }
    }

    fn transaction_command(&mut self, cmd: TxnCommand) -> QuillResult<String> {
        self.settings_generation += 1;
        match cmd {
            TxnCommand::Begin => {
                if self.txn == TxnStatus::Idle {
                    // BEGIN inside an implicit block makes it explicit: what the
                    // earlier statements of the message did belongs to it.
                    let at_begin = self
                        .config_at_implicit_start
                        .take()
                        .unwrap_or_else(|| self.config.clone());
                    self.txn = TxnStatus::InBlock;
                    self.config_at_begin = Some(at_begin);
                } else {
                    self.warn(
                        sqlstate::ACTIVE_SQL_TRANSACTION,
                        "there is already a transaction in progress",
                    );
                }
                Ok("BEGIN".into())
            }
            TxnCommand::Commit => match self.txn {
                TxnStatus::Idle => {
                    // Outside any block there is nothing to commit; inside an
                    // implicit one, it commits what the message did so far.
                    self.warn(
                        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    );
                    self.end_implicit_block(true);
                    self.finish_block(true)?;
                    Ok("COMMIT".into())
                }
                TxnStatus::InBlock => {
                    self.end_block(true);
                    self.finish_block(true)?;
                    Ok("COMMIT".into())
                }
                TxnStatus::Failed => {
                    self.end_block(false);
                    self.finish_block(false)?;
                    Ok("ROLLBACK".into())
                }
            },
            TxnCommand::Rollback => {
                if self.txn == TxnStatus::Idle {
                    self.warn(
                        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    );
                    self.end_implicit_block(false);
                    self.finish_block(false)?;
                } else {
                    self.end_block(false);
                    self.finish_block(false)?;
                }
                Ok("ROLLBACK".into())
            }
        }
    }

    fn notice(&mut self, severity: &'static str, sqlstate: &'static str, message: String) {
        self.pending_notices
            .push((severity, QuillError::new(sqlstate, message)));
    }
}
