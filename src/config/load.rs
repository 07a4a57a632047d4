//! Loading `postgresql.conf` at server start and re-reading it on SIGHUP
//! (PostgreSQL's `ProcessConfigFileInternal`).
//!
//! Both read the whole file first; a syntax error or an unknown name rejects
//! it before anything is applied. Then, on reload only, settings that were
//! taken from the file but are no longer in it go back to their boot values.
//! Then every line is applied as source "file" (the last line for a name wins).
//! At start any problem is fatal; on reload a bad value is logged and skipped,
//! and the other lines still apply.

use std::fmt;
use std::path::Path;

use super::file::{parse_config, FileItem};
use super::registry::{self, Guc, SETTINGS};
use super::{checks, Config, GucContext, Outcome, Source, Target};
use crate::error::{sqlstate, QuillError};

/// One problem found while loading the configuration, with PostgreSQL's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ConfigProblem {
    fn new(message: impl Into<String>) -> Self {
        ConfigProblem {
            message: message.into(),
            detail: None,
            hint: None,
        }
    }
}

impl From<QuillError> for ConfigProblem {
    fn from(e: QuillError) -> Self {
        ConfigProblem {
            message: e.message,
            detail: e.detail,
            hint: e.hint,
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL:  {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT:  {hint}")?;
        }
        Ok(())
    }
}

/// Why the configuration could not be loaded (or reloaded). PostgreSQL logs each
/// problem at LOG level and then the summary (FATAL at start, LOG on reload);
/// a bad `-c` option is itself the FATAL message and has no summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
    /// E.g. `configuration file "/x/postgresql.conf" contains errors`.
    pub summary: Option<String>,
}

impl ConfigError {
    fn in_file(problems: Vec<ConfigProblem>, summary: String) -> Self {
        ConfigError {
            problems,
            summary: Some(summary),
        }
    }
}

impl fmt::Display for ConfigError {
    /// Every problem, then the summary, one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for line in self
            .problems
            .iter()
            .map(|p| p.to_string())
            .chain(self.summary.clone())
        {
            if !first {
                f.write_str("\n")?;
            }
            f.write_str(&line)?;
            first = false;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for QuillError {
    fn from(e: ConfigError) -> Self {
        QuillError::fatal(sqlstate::CONFIG_FILE_ERROR, e.to_string())
    }
}

/// Where a reload runs: the postmaster takes `backend` settings for future
/// backends, a running backend leaves them alone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReloadIn {
    Postmaster,
    Backend,
}

impl Config {
    /// Server start: boot values, then `-c` `overrides` (name, value) — a name's
    /// dashes count as underscores, as in PostgreSQL — then
    /// `data_dir/postgresql.conf` (which cannot override the `-c` values), then
    /// `data_directory`. Any problem is an error.
    pub fn load(data_dir: &Path, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut config = Config::boot();
        for (name, value) in overrides {
            let name = name.replace('-', "_");
            config
                .set_option(
                    &name,
                    Some(value),
                    GucContext::Postmaster,
                    Source::CommandLine,
                    false,
                    &mut None,
                )
                .map_err(|e| ConfigError {
                    problems: vec![e.into()],
                    summary: None,
                })?;
        }
        let path = data_dir.join("postgresql.conf");
        let contents = read_file(&path, "contains errors")?;
        config.apply_file_text(&contents, &path.display().to_string())?;
        let data_dir_text = data_dir.display().to_string();
        config
            .set_option(
                "data_directory",
                Some(&data_dir_text),
                GucContext::Postmaster,
                Source::Override,
                false,
                &mut None,
            )
            .map_err(|e| ConfigError {
                problems: vec![e.into()],
                summary: None,
            })?;
        config.finish();
        config.check_startup_rules()?;
        Ok(config)
    }

    /// SIGHUP in the postmaster: re-reads `data_dir/postgresql.conf` and returns
    /// the new configuration with the lines PostgreSQL would log (all at LOG
    /// level): changed and removed settings, `postmaster` settings that need a
    /// restart (kept at their old values), bad values (skipped). A syntax error or
    /// an unknown name is an `Err` and the caller keeps `self`. `overrides` are
    /// the server's `-c` options; they keep their priority over the file.
    pub fn reload(
        &self,
        data_dir: &Path,
        overrides: &[(String, String)],
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let (mut config, mut log) = self.reload_in(data_dir, ReloadIn::Postmaster)?;
        for (name, value) in overrides {
            let name = name.replace('-', "_");
            // Unchanged values from server start: nothing can fail or change,
            // except that a postmaster setting's reload check may complain.
            if let Err(e) = config.set_option(
                &name,
                Some(value),
                GucContext::Sighup,
                Source::CommandLine,
                false,
                &mut None,
            ) {
                log.push(ConfigProblem::from(e).to_string());
            }
        }
        Ok((config, log))
    }

    /// SIGHUP in a backend: like [`Config::reload`], but `backend` settings keep
    /// their values (they are fixed at connection start) and the session's own
    /// `SET`s stay in force. PostgreSQL logs the returned lines at DEBUG2 in
    /// backends, to avoid repeating the postmaster's complaints.
    pub fn reload_in_backend(&self, data_dir: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        self.reload_in(data_dir, ReloadIn::Backend)
    }

    fn reload_in(
        &self,
        data_dir: &Path,
        place: ReloadIn,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let path = data_dir.join("postgresql.conf");
        let path_text = path.display().to_string();
        let nothing_applied =
            format!("configuration file \"{path_text}\" contains errors; no changes were applied");
        let contents = read_file(&path, "contains errors; no changes were applied")?;
        let items = parse_config(&contents, &path_text).map_err(|errors| {
            ConfigError::in_file(
                errors.into_iter().map(ConfigProblem::new).collect(),
                nothing_applied.clone(),
            )
        })?;
        let items = last_occurrences(items);
        self.check_names(&items, &path_text)
            .map_err(|problems| ConfigError::in_file(problems, nothing_applied))?;

        let in_backend = place == ReloadIn::Backend;
        let mut config = self.clone();
        let mut log = Vec::new();
        let mut error = false;
        for name in config.names_removed_from_file(&items) {
            error |= config.reset_removed(&name, in_backend, &mut log);
        }
        for item in &items {
            let before = config.get(&item.name).unwrap_or_default();
            match config.set_option(
                &item.name,
                Some(&item.value),
                GucContext::Sighup,
                Source::File,
                in_backend,
                &mut None,
            ) {
                Ok(Outcome::Applied) => {
                    if config.get(&item.name).unwrap_or_default() != before {
                        log.push(format!(
                            "parameter \"{}\" changed to \"{}\"",
                            item.name, item.value
                        ));
                    }
                }
                Ok(Outcome::Ignored) => {}
                Err(e) => {
                    log.push(ConfigProblem::from(e).to_string());
                    error = true;
                }
            }
        }
        config.finish();
        if error {
            log.push(format!(
                "configuration file \"{path_text}\" contains errors; unaffected changes were applied"
            ));
        }
        Ok((config, log))
    }

    /// Applies a whole file at server start (context postmaster, source file).
    pub(super) fn apply_file_text(
        &mut self,
        contents: &[u8],
        path: &str,
    ) -> Result<(), ConfigError> {
        let summary = format!("configuration file \"{path}\" contains errors");
        let items = parse_config(contents, path).map_err(|errors| {
            ConfigError::in_file(
                errors.into_iter().map(ConfigProblem::new).collect(),
                summary.clone(),
            )
        })?;
        let items = last_occurrences(items);
        self.check_names(&items, path)
            .map_err(|problems| ConfigError::in_file(problems, summary.clone()))?;
        let mut problems = Vec::new();
        for item in &items {
            if let Err(e) = self.set_option(
                &item.name,
                Some(&item.value),
                GucContext::Postmaster,
                Source::File,
                false,
                &mut None,
            ) {
                problems.push(e.into());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::in_file(problems, summary))
        }
    }

    /// Every name in the file must be a known setting or a valid custom name.
    fn check_names(&self, items: &[FileItem], path: &str) -> Result<(), Vec<ConfigProblem>> {
        let problems: Vec<ConfigProblem> = items
            .iter()
            .filter(|item| {
                self.find(&item.name).is_none() && !registry::valid_custom_name(&item.name)
            })
            .map(|item| {
                ConfigProblem::new(format!(
                    "unrecognized configuration parameter \"{}\" in file \"{path}\" line {}",
                    item.name, item.line
                ))
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Canonical names of settings whose reset value came from the file but
    /// that the file no longer mentions, sorted like PostgreSQL's GUC array.
    fn names_removed_from_file(&self, items: &[FileItem]) -> Vec<String> {
        let in_file = |name: &str| items.iter().any(|item| registry::name_eq(&item.name, name));
        let builtin = SETTINGS
            .iter()
            .filter(|def| self.slots[def.id as usize].reset_source == Source::File)
            .map(|def| def.name.to_string());
        let custom = self
            .custom
            .iter()
            .filter(|c| c.slot.reset_source == Source::File)
            .map(|c| c.name.clone());
        let mut names: Vec<String> = builtin
            .chain(custom)
            .filter(|name| !in_file(name))
            .collect();
        names.sort_by_key(|name| name.to_ascii_lowercase());
        names
    }

    /// Returns a removed setting to its boot value. Returns true on an error
    /// (a `postmaster` setting, which needs a restart).
    fn reset_removed(&mut self, name: &str, in_backend: bool, log: &mut Vec<String>) -> bool {
        let Some(target) = self.find(name) else {
            return false;
        };
        if let Target::Builtin(g) = target {
            if g.def().context < GucContext::Sighup {
                log.push(format!(
                    "parameter \"{name}\" cannot be changed without restarting the server"
                ));
                return true;
            }
        }
        let slot = self.slot_mut(target);
        slot.reset_source = Source::Default;
        if slot.source == Source::File {
            slot.source = Source::Default;
        }
        let outcome = self.set_option(
            name,
            None,
            GucContext::Sighup,
            Source::Default,
            in_backend,
            &mut None,
        );
        if outcome == Ok(Outcome::Applied) {
            log.push(format!(
                "parameter \"{name}\" removed from configuration file, reset to default"
            ));
        }
        false
    }

    /// Checks PostgreSQL makes when the postmaster starts.
    fn check_startup_rules(&self) -> Result<(), ConfigError> {
        let fatal = |message: String| ConfigError {
            problems: vec![ConfigProblem::new(message)],
            summary: None,
        };
        let reserved = self.int(Guc::SuperuserReservedConnections);
        let max = self.int(Guc::MaxConnections);
        if reserved >= max {
            return Err(fatal(format!(
                "superuser_reserved_connections ({reserved}) must be less than max_connections ({max})"
            )));
        }
        for name in ["listen_addresses", "unix_socket_directories"] {
            let raw = self.get(name).unwrap_or_default();
            if checks::split_identifier_list(&raw, ',', false).is_none() {
                return Err(fatal(format!(
                    "invalid list syntax in parameter \"{name}\""
                )));
            }
        }
        Ok(())
    }
}

/// Later lines for the same name replace earlier ones (PostgreSQL marks the
/// earlier ones "ignore"); the survivors keep file order.
fn last_occurrences(items: Vec<FileItem>) -> Vec<FileItem> {
    let mut kept: Vec<FileItem> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let repeated_later = items[i + 1..]
            .iter()
            .any(|later| registry::name_eq(&later.name, &item.name));
        if !repeated_later {
            kept.push(item.clone());
        }
    }
    kept
}

/// Reads the file; failure is PostgreSQL's `could not open configuration file`.
fn read_file(path: &Path, summary_tail: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| {
        let path = path.display();
        ConfigError::in_file(
            vec![ConfigProblem::new(format!(
                "could not open configuration file \"{path}\": {}",
                strerror(&e)
            ))],
            format!("configuration file \"{path}\" {summary_tail}"),
        )
    })
}

/// The C library's text for an I/O error, without Rust's "(os error N)".
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
