//! Configuration: PostgreSQL's GUC ("grand unified configuration"), reduced to the
//! settings Quill reads.
//!
//! # What it owns
//! * The registry of settings ([`registry`]): PostgreSQL's names, types, limits,
//!   units, contexts, boot values and flags.
//! * [`Config`], one complete snapshot of values. The postmaster builds it with
//!   [`Config::load`] (`postgresql.conf` in the data directory plus `-c` options)
//!   and every child inherits it at fork; a backend then applies its startup
//!   packet and SQL `SET`/`RESET` to its own copy. Nothing here lives in shared
//!   memory and nothing here takes a lock.
//! * Parsing (`value`, `file`, `checks`) and SHOW formatting, as PostgreSQL does it.
//! * `conf/postgresql.conf`, the file `quill init` writes ([`DEFAULT_CONF`]).
//!
//! # Rules
//! 1. **Contexts decide who may change what** (PostgreSQL's `set_config_option`):
//!    `internal` settings never change; `postmaster` ones only at server start
//!    (a reload that changes one keeps the old value and logs
//!    `parameter "port" cannot be changed without restarting the server`);
//!    `sighup` ones from the file, at start or on reload; `backend` ones at start
//!    or in the startup packet; `superuser`/`user` ones anywhere (superuser ones
//!    only by superusers).
//! 2. **Sources have priorities** (PostgreSQL's `GucSource`): default < file <
//!    command line < startup packet < server-internal < session `SET`. A value
//!    from a lower source never replaces one from a higher source; it only
//!    becomes the setting's new reset value. So a reload never undoes a
//!    session's `SET`, and `-c` options outlive reloads.
//! 3. **A bad file changes nothing at start** (the server refuses to start) and,
//!    on reload, syntax errors and unknown names reject the whole file while a bad
//!    value rejects only that setting (PostgreSQL's "unaffected changes were
//!    applied").
//! 4. **Names are case-insensitive**; SHOW ALL, ParameterStatus and messages
//!    about the file use PostgreSQL's canonical spelling (`DateStyle`), while
//!    errors for `SET` quote the name as the user wrote it, as PostgreSQL does.
//! 5. **Custom settings** (`myapp.x`) are accepted anywhere as strings.
//! 6. **Transaction modes follow their defaults.** PostgreSQL copies
//!    `default_transaction_isolation` (`_read_only`, `_deferrable`) into
//!    `transaction_isolation` (…) when each transaction starts, so outside a
//!    transaction's own `SET` the mode shows its default. Here a mode holds a value
//!    of its own only while SQL (`SET`, `RESET`, `BEGIN ISOLATION LEVEL …`) gave it
//!    one; any other source — the file, the startup packet, or the server restoring
//!    a `SET LOCAL` at the end of a block (the caller's restore goes through
//!    [`SetSource::Internal`]) — returns it to following its default (PostgreSQL
//!    ignores those sources too: its modes are set with the highest priority at
//!    start). The caller makes such `SET`s local to the transaction.
//!
//! # Callers
//! The postmaster (`load`, `reload`, the typed accessors), every process through
//! the typed accessors, and the backend/SQL layer for `SET`, `SHOW`, `RESET`,
//! startup options and ParameterStatus. The backend keeps a *baseline* copy
//! (its configuration after the startup packet) that `RESET` returns to, and
//! reloads both copies with [`Config::reload_in_backend`] on SIGHUP.
//! Transactional `SET` (rolled back with the transaction, `SET LOCAL`) is the
//! caller's too: keep a copy of the `Config` and restore it;
//! [`Config::changed_reported`] says which ParameterStatus messages the
//! restore requires.

mod accessors;
mod checks;
mod file;
mod load;
mod options;
mod registry;
mod value;

#[cfg(test)]
mod tests;

use crate::error::{sqlstate, QuillError, QuillResult};
use checks::CheckContext;
use registry::{flags, Guc, Kind, SettingDef, SETTINGS};

pub use accessors::{IntervalStyle, WalSyncMethod};
pub use checks::{split_identifier_list, DateOrder, DateStyle};
pub use load::{ConfigError, ConfigProblem};
pub use options::split_startup_options;
pub use registry::{GucContext, PARAMETER_STATUS_NAMES};
pub use value::Unit;

/// The `postgresql.conf` a new data directory gets: every setting Quill reads,
/// with its default.
pub const DEFAULT_CONF: &str = include_str!("../../conf/postgresql.conf");

/// PostgreSQL's NAMEDATALEN - 1: longest identifier, in bytes.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The settings PostgreSQL 15 reports with ParameterStatus (GUC_REPORT), with
/// their canonical spelling, in the order it sends them at connection start.
pub fn parameter_status_names() -> &'static [&'static str] {
    PARAMETER_STATUS_NAMES
}

/// Checks `value` for `name` as an ordinary user's SQL `SET` would (unknown
/// name, bad value) and returns it as SHOW would print it, without keeping it:
/// for a `SET` whose effect would end before anything could see it.
pub fn check_value(name: &str, value: &str) -> QuillResult<String> {
    let mut scratch = Config::boot();
    scratch.set(name, value, SetSource::Session)?;
    scratch.show(name)
}

/// Whether changing `name` must be reported with ParameterStatus (GUC_REPORT).
pub fn is_reported(name: &str) -> bool {
    registry::find(name).is_some_and(|def| def.has(flags::REPORT))
}

/// Who is setting a value, which decides what is allowed (rule 1) and which
/// value wins (rule 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetSource {
    /// `-c name=value` when the server starts.
    CommandLine,
    /// `postgresql.conf` re-read on SIGHUP.
    Reload,
    /// The client's startup packet (including `-c` in its `options`): allows
    /// `backend` settings as well.
    Startup,
    /// SQL `SET` in a session.
    Session,
    /// The server itself, e.g. `is_superuser` and `session_authorization` after
    /// authentication, `in_hot_standby` (PostgreSQL's PGC_S_OVERRIDE).
    Internal,
}

/// A setting's current value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Bool(bool),
    Int(i32),
    Real(f64),
    Str(String),
    Enum(i32),
}

/// Where a value came from, lowest priority first (PostgreSQL's `GucSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Default,
    File,
    CommandLine,
    Client,
    Override,
    Session,
}

/// One setting's state: its value and the value `RESET` returns to.
#[derive(Debug, Clone, PartialEq)]
struct Slot {
    value: Value,
    source: Source,
    reset_value: Value,
    reset_source: Source,
}

impl Slot {
    fn new(value: Value) -> Slot {
        Slot {
            reset_value: value.clone(),
            value,
            source: Source::Default,
            reset_source: Source::Default,
        }
    }
}

/// A custom setting (`myapp.x`): a string under the name first used for it.
#[derive(Debug, Clone, PartialEq)]
struct Custom {
    name: String,
    slot: Slot,
}

/// Which setting a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Builtin(Guc),
    Custom(usize),
}

/// The result of one `set_option`: PostgreSQL's 1 / -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Ignored,
}

/// A complete snapshot of configuration values. Cloning copies a few dozen small
/// values, so a backend may keep copies (e.g. to undo a transaction's `SET`s).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Indexed by `Guc`.
    slots: Vec<Slot>,
    custom: Vec<Custom>,
}

impl Config {
    /// Every setting at its boot value (PostgreSQL's `boot_val`).
    fn boot() -> Config {
        let slots = SETTINGS
            .iter()
            .map(|def| Slot::new(boot_value(def)))
            .collect();
        Config {
            slots,
            custom: Vec::new(),
        }
    }

    /// The configuration of a freshly initialized data directory: boot values
    /// with [`DEFAULT_CONF`] applied, as [`Config::load`] would produce it.
    pub fn defaults() -> Config {
        let mut config = Config::boot();
        config
            .apply_file_text(DEFAULT_CONF.as_bytes(), "postgresql.conf")
            .expect("the built-in conf/postgresql.conf is valid");
        config.finish();
        config
    }

    /// Sets `name` to `value` (PostgreSQL's `set_config_option`). Errors are
    /// PostgreSQL's: 42704 unknown name, 42602 bad custom name, 55P02 wrong
    /// context, 42501 not superuser, 22023 bad value.
    pub fn set(&mut self, name: &str, value: &str, source: SetSource) -> QuillResult<()> {
        self.set_with_notice(name, value, source).map(|_| ())
    }

    /// [`Config::set`], also returning the text of a NOTICE PostgreSQL would send
    /// (a name-like value such as `application_name` truncated to 63 bytes).
    pub fn set_with_notice(
        &mut self,
        name: &str,
        value: &str,
        source: SetSource,
    ) -> QuillResult<Option<String>> {
        if source == SetSource::Session || source == SetSource::Startup {
            refuse_session_authorization(name)?;
        }
        let (context, source) = self.caller(source);
        let mut notice = None;
        self.set_option(name, Some(value), context, source, false, &mut notice)?;
        Ok(notice)
    }

    /// SQL `RESET name` / `SET name TO DEFAULT`, with `SET`'s checks: back to the
    /// value in `baseline`, the session's configuration after its startup packet.
    pub fn reset(&mut self, name: &str, baseline: &Config) -> QuillResult<()> {
        refuse_session_authorization(name)?;
        let (context, source) = self.caller(SetSource::Session);
        self.set_option(name, None, context, source, false, &mut None)?;
        if let (Some(target), Some(base)) = (self.find(name), baseline.find(name)) {
            let base = baseline.slot(base);
            let slot = self.slot_mut(target);
            slot.value = base.value.clone();
            slot.source = base.source;
            if matches!(target, Target::Builtin(g) if g.transaction_default().is_some()) {
                // PostgreSQL's RESET gives the transaction its mode's boot value
                // (`read committed`), not the default_ setting (rule 6).
                slot.value = slot.reset_value.clone();
                slot.source = Source::Session;
            }
        }
        Ok(())
    }

    /// Puts `name` back exactly as it is in `earlier` (value, source and reset
    /// value): how the end of a transaction block undoes a `SET LOCAL`. Unknown
    /// names are left alone.
    pub fn restore_setting(&mut self, name: &str, earlier: &Config) {
        if let (Some(target), Some(from)) = (self.find(name), earlier.find(name)) {
            *self.slot_mut(target) = earlier.slot(from).clone();
        }
    }

    /// SQL `RESET ALL`: every `user`/`superuser` setting the session changed goes
    /// back to its value in `baseline`, except those PostgreSQL exempts
    /// (`session_authorization`, `is_superuser`).
    pub fn reset_all(&mut self, baseline: &Config) {
        for (def, slot) in SETTINGS.iter().zip(self.slots.iter_mut()) {
            let resettable = matches!(def.context, GucContext::Suset | GucContext::Userset)
                && !def.has(flags::NO_RESET_ALL);
            if resettable {
                reset_slot(slot, Some(&baseline.slots[def.id as usize]));
            }
        }
        for custom in &mut self.custom {
            let base = baseline
                .custom
                .iter()
                .find(|b| registry::name_eq(&b.name, &custom.name));
            reset_slot(&mut custom.slot, base.map(|b| &b.slot));
        }
    }

    /// SQL `SHOW name`: the value as PostgreSQL prints it (`128MB`, `5min`, `on`).
    pub fn show(&self, name: &str) -> QuillResult<String> {
        match self.find(name) {
            Some(Target::Builtin(g)) if g.def().has(flags::SUPERUSER_ONLY) && !self.is_superuser() => {
                Err(QuillError::new(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("must be superuser or have privileges of pg_read_all_settings to examine \"{name}\""),
                ))
            }
            Some(target) => Ok(self.show_target(target)),
            None => Err(unrecognized(name)),
        }
    }

    /// Rule 6: the setting whose value `target` shows — a transaction mode that
    /// SQL has not set shows its `default_` setting.
    fn effective(&self, target: Target) -> Target {
        match target {
            Target::Builtin(g) => Target::Builtin(self.transaction_mode(g)),
            custom => custom,
        }
    }

    /// A setting's value as SHOW prints it, without SHOW's privilege check (for
    /// the server's own use). `None` for unknown names.
    pub fn get(&self, name: &str) -> Option<String> {
        self.find(name).map(|target| self.show_target(target))
    }

    /// The canonical spelling of a setting's name (SHOW's column title).
    pub fn canonical_name(&self, name: &str) -> Option<String> {
        match self.find(name)? {
            Target::Builtin(g) => Some(g.def().name.to_string()),
            Target::Custom(i) => Some(self.custom[i].name.clone()),
        }
    }

    /// SQL `SHOW ALL`: (name, setting, description), sorted by name ignoring case;
    /// hidden and (for non-superusers) superuser-only settings left out.
    pub fn show_all(&self) -> Vec<(String, String, String)> {
        let superuser = self.is_superuser();
        let mut rows: Vec<(String, String, String)> = SETTINGS
            .iter()
            .filter(|def| !def.has(flags::NO_SHOW_ALL))
            .filter(|def| superuser || !def.has(flags::SUPERUSER_ONLY))
            .map(|def| {
                let setting = self.show_target(Target::Builtin(def.id));
                (def.name.to_string(), setting, def.description.to_string())
            })
            .collect();
        rows.sort_by_key(|row| row.0.to_ascii_lowercase());
        rows
    }

    /// Every reported setting with its value: the ParameterStatus messages a
    /// backend sends after authentication.
    pub fn reported_values(&self) -> Vec<(&'static str, String)> {
        PARAMETER_STATUS_NAMES
            .iter()
            .map(|&name| (name, self.get(name).unwrap_or_default()))
            .collect()
    }

    /// The reported settings whose value differs from `before`: the
    /// ParameterStatus messages owed after `SET`, `RESET`, or a rollback.
    pub fn changed_reported(&self, before: &Config) -> Vec<(&'static str, String)> {
        self.reported_values()
            .into_iter()
            .filter(|(name, value)| before.get(name).as_deref() != Some(value.as_str()))
            .collect()
    }

    /// Facts about a built-in setting, for `pg_settings`-like output and for the
    /// SQL layer's `SET` argument flattening (list flags).
    pub fn describe(name: &str) -> Option<SettingInfo> {
        let def = registry::find(name)?;
        let (vartype, unit) = match def.kind {
            Kind::Bool { .. } => ("bool", None),
            Kind::Int { unit, .. } => ("integer", unit),
            Kind::Real { .. } => ("real", None),
            Kind::Str { .. } => ("string", None),
            Kind::Enum { .. } => ("enum", None),
        };
        Some(SettingInfo {
            name: def.name,
            context: def.context,
            vartype,
            unit,
            description: def.description,
            reported: def.has(flags::REPORT),
            list_input: def.has(flags::LIST_INPUT),
            list_quote: def.has(flags::LIST_QUOTE),
        })
    }

    /// PostgreSQL's GucContext and source for each kind of caller; superusers get
    /// the superuser contexts.
    fn caller(&self, source: SetSource) -> (GucContext, Source) {
        let superuser = self.is_superuser();
        match source {
            SetSource::CommandLine => (GucContext::Postmaster, Source::CommandLine),
            SetSource::Reload => (GucContext::Sighup, Source::File),
            SetSource::Startup if superuser => (GucContext::SuBackend, Source::Client),
            SetSource::Startup => (GucContext::Backend, Source::Client),
            SetSource::Session if superuser => (GucContext::Suset, Source::Session),
            SetSource::Session => (GucContext::Userset, Source::Session),
            SetSource::Internal => (GucContext::Internal, Source::Override),
        }
    }

    fn find(&self, name: &str) -> Option<Target> {
        if let Some(def) = registry::find(name) {
            return Some(Target::Builtin(def.id));
        }
        self.custom
            .iter()
            .position(|c| registry::name_eq(&c.name, name))
            .map(Target::Custom)
    }

    /// Finds `name`, creating a custom placeholder for a valid dotted name.
    fn find_or_create(&mut self, name: &str) -> QuillResult<Target> {
        if let Some(target) = self.find(name) {
            return Ok(target);
        }
        if !name.contains('.') {
            return Err(unrecognized(name));
        }
        if !registry::valid_custom_name(name) {
            return Err(QuillError::new(
                sqlstate::INVALID_NAME,
                format!("invalid configuration parameter name \"{name}\""),
            )
            .with_detail(
                "Custom parameter names must be two or more simple identifiers separated by dots.",
            ));
        }
        self.custom.push(Custom {
            name: name.to_string(),
            slot: Slot::new(Value::Str(String::new())),
        });
        Ok(Target::Custom(self.custom.len() - 1))
    }

    fn slot(&self, target: Target) -> &Slot {
        match target {
            Target::Builtin(g) => &self.slots[g as usize],
            Target::Custom(i) => &self.custom[i].slot,
        }
    }

    fn slot_mut(&mut self, target: Target) -> &mut Slot {
        match target {
            Target::Builtin(g) => &mut self.slots[g as usize],
            Target::Custom(i) => &mut self.custom[i].slot,
        }
    }

    fn show_target(&self, target: Target) -> String {
        let target = self.effective(target);
        let value = &self.slot(target).value;
        match target {
            Target::Builtin(g) => format_value(g.def(), value),
            Target::Custom(_) => match value {
                Value::Str(s) => s.clone(),
                other => unreachable!("custom settings hold strings, not {other:?}"),
            },
        }
    }

    /// PostgreSQL's `set_config_option`. `value` None means "reset" (to the boot
    /// value when `source` is `Default`). `in_backend_reload` makes a reload
    /// leave `backend` settings alone, as a running backend must.
    fn set_option(
        &mut self,
        name: &str,
        value: Option<&str>,
        context: GucContext,
        source: Source,
        in_backend_reload: bool,
        notice: &mut Option<String>,
    ) -> QuillResult<Outcome> {
        let target = self.find_or_create(name)?;
        let def_context = match target {
            Target::Builtin(g) => g.def().context,
            Target::Custom(_) => GucContext::Userset,
        };
        let prohibit_value_change = match check_context(def_context, name, context, source)? {
            ContextCheck::Proceed => false,
            ContextCheck::ProhibitValueChange => true,
            ContextCheck::IgnoreInBackend if in_backend_reload => return Ok(Outcome::Ignored),
            ContextCheck::IgnoreInBackend => false,
        };

        // Rule 2: a lower-priority source only sets the reset value.
        let make_default =
            source <= Source::Override && (value.is_some() || source == Source::Default);
        let slot = self.slot(target);
        let mut change_value = true;
        if slot.source > source {
            if !make_default {
                return Ok(Outcome::Ignored);
            }
            change_value = false;
        }

        let (new_value, new_source) = match value {
            Some(text) => (self.parse_value(target, name, text, false, notice)?, source),
            None if source == Source::Default => {
                let boot = match target {
                    Target::Builtin(g) => boot_text(g.def()),
                    Target::Custom(_) => String::new(),
                };
                (
                    self.parse_value(target, name, &boot, true, notice)?,
                    Source::Default,
                )
            }
            None => (slot.reset_value.clone(), slot.reset_source),
        };

        if prohibit_value_change {
            if self.slot(target).value != new_value {
                return Err(cannot_change_without_restart(name));
            }
            return Ok(Outcome::Ignored);
        }

        // Rule 6: only SQL gives a transaction mode a value of its own.
        if let Target::Builtin(g) = target {
            if g.transaction_default().is_some() && source < Source::Session {
                *self.slot_mut(target) = Slot::new(boot_value(g.def()));
                return Ok(Outcome::Ignored);
            }
        }

        let slot = self.slot_mut(target);
        if change_value {
            slot.value = new_value.clone();
            slot.source = new_source;
        }
        if make_default && slot.reset_source <= new_source {
            slot.reset_value = new_value;
            slot.reset_source = new_source;
        }
        Ok(if change_value {
            Outcome::Applied
        } else {
            Outcome::Ignored
        })
    }

    /// PostgreSQL's `parse_and_validate_value` plus the check hooks.
    fn parse_value(
        &self,
        target: Target,
        name: &str,
        text: &str,
        is_boot_value: bool,
        notice: &mut Option<String>,
    ) -> QuillResult<Value> {
        let Target::Builtin(g) = target else {
            return Ok(Value::Str(text.to_string()));
        };
        let def = g.def();
        let invalid = || {
            QuillError::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"{name}\": \"{text}\""),
            )
        };
        match def.kind {
            Kind::Bool { .. } => value::parse_bool(text).map(Value::Bool).ok_or_else(|| {
                QuillError::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("parameter \"{name}\" requires a Boolean value"),
                )
            }),
            Kind::Int { min, max, unit, .. } => {
                let parsed = value::parse_int(text, unit).map_err(|hint| match hint {
                    Some(hint) => invalid().with_hint(hint),
                    None => invalid(),
                })?;
                if parsed < min || parsed > max {
                    let unit = unit.map(|u| format!(" {}", u.name())).unwrap_or_default();
                    return Err(QuillError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("{parsed}{unit} is outside the valid range for parameter \"{name}\" ({min} .. {max})"),
                    ));
                }
                Ok(Value::Int(self.check_int(g, parsed)))
            }
            Kind::Real { min, max, .. } => {
                let parsed = value::parse_real(text, None).map_err(|_| invalid())?;
                if parsed < min || parsed > max {
                    let (v, lo, hi) = (
                        value::format_g(parsed),
                        value::format_g(min),
                        value::format_g(max),
                    );
                    return Err(QuillError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("{v} is outside the valid range for parameter \"{name}\" ({lo} .. {hi})"),
                    ));
                }
                Ok(Value::Real(parsed))
            }
            Kind::Enum { options, .. } => options
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(text))
                .map(|o| Value::Enum(o.value))
                .ok_or_else(|| {
                    let names: Vec<&str> = options
                        .iter()
                        .filter(|o| !o.hidden)
                        .map(|o| o.name)
                        .collect();
                    invalid().with_hint(format!("Available values: {}.", names.join(", ")))
                }),
            Kind::Str { check, .. } => {
                let mut text = text.to_string();
                if def.has(flags::IS_NAME) && text.len() > MAX_IDENTIFIER_BYTES {
                    let truncated = truncate_at_char_boundary(&text, MAX_IDENTIFIER_BYTES);
                    *notice = Some(format!(
                        "identifier \"{text}\" will be truncated to \"{truncated}\""
                    ));
                    text = truncated.to_string();
                }
                let Some(check) = check else {
                    return Ok(Value::Str(text));
                };
                let slot = &self.slots[g as usize];
                let ctx = CheckContext {
                    current: as_str(&slot.value),
                    reset: as_str(&slot.reset_value),
                    is_boot_value,
                };
                check(&text, &ctx).map(Value::Str).map_err(|failure| {
                    let error = QuillError::new(
                        failure.sqlstate,
                        format!("invalid value for parameter \"{}\": \"{text}\"", def.name),
                    );
                    match failure.detail {
                        Some(detail) => error.with_detail(detail),
                        None => error,
                    }
                })
            }
        }
    }

    /// Check hooks of integer settings.
    fn check_int(&self, g: Guc, value: i32) -> i32 {
        match g {
            // PostgreSQL's check_wal_buffers: -1 asks for the automatic size (kept
            // as -1 until startup resolves it), and anything below 4 means 4.
            Guc::WalBuffers if value == -1 && self.int(Guc::WalBuffers) == -1 => -1,
            Guc::WalBuffers if value == -1 => self.auto_wal_buffers(),
            Guc::WalBuffers => value.max(4),
            _ => value,
        }
    }

    /// PostgreSQL's XLOGChooseNumBuffers: 1/32 of shared_buffers, at least 8
    /// blocks and at most one WAL segment.
    fn auto_wal_buffers(&self) -> i32 {
        let segment_blocks = registry::WAL_SEGMENT_SIZE / registry::BLOCK_SIZE;
        (self.int(Guc::SharedBuffers) / 32).clamp(8, segment_blocks)
    }

    /// Settles values computed from others once loading is done.
    fn finish(&mut self) {
        if self.int(Guc::WalBuffers) == -1 {
            let auto = Value::Int(self.auto_wal_buffers());
            let slot = &mut self.slots[Guc::WalBuffers as usize];
            slot.value = auto.clone();
            slot.reset_value = auto;
        }
    }
}

/// Facts about a built-in setting ([`Config::describe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingInfo {
    pub name: &'static str,
    pub context: GucContext,
    /// `pg_settings.vartype`: bool, integer, real, string or enum.
    pub vartype: &'static str,
    pub unit: Option<Unit>,
    pub description: &'static str,
    /// GUC_REPORT: send ParameterStatus when it changes.
    pub reported: bool,
    /// GUC_LIST_INPUT: `SET x = a, b` is allowed and joined with ", ".
    pub list_input: bool,
    /// GUC_LIST_QUOTE: list items that are not plain identifiers are quoted.
    pub list_quote: bool,
}

/// The outcome of PostgreSQL's context switch in `set_config_option`.
enum ContextCheck {
    Proceed,
    /// A reload met a `postmaster` setting: only an unchanged value is accepted.
    ProhibitValueChange,
    /// A reload met a `backend` setting: the postmaster takes it, for future
    /// backends; a running backend ignores it.
    IgnoreInBackend,
}

fn check_context(
    setting: GucContext,
    name: &str,
    context: GucContext,
    source: Source,
) -> QuillResult<ContextCheck> {
    use GucContext::*;
    let cant_change = |what: &str| {
        QuillError::new(
            sqlstate::CANT_CHANGE_RUNTIME_PARAM,
            format!("parameter \"{name}\" {what}"),
        )
    };
    let permission_denied = || {
        QuillError::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied to set parameter \"{name}\""),
        )
    };
    match setting {
        Internal if context != Internal => Err(cant_change("cannot be changed")),
        Postmaster if context == Sighup => Ok(ContextCheck::ProhibitValueChange),
        Postmaster if context != Postmaster => Err(cannot_change_without_restart(name)),
        Sighup if context != Sighup && context != Postmaster => {
            Err(cant_change("cannot be changed now"))
        }
        SuBackend if context == Backend => Err(permission_denied()),
        SuBackend | Backend if context == Sighup => Ok(ContextCheck::IgnoreInBackend),
        SuBackend | Backend
            if !matches!(context, Postmaster | Backend | SuBackend) && source != Source::Client =>
        {
            Err(cant_change("cannot be set after connection start"))
        }
        Suset if context == Userset || context == Backend => Err(permission_denied()),
        _ => Ok(ContextCheck::Proceed),
    }
}

fn cannot_change_without_restart(name: &str) -> QuillError {
    QuillError::new(
        sqlstate::CANT_CHANGE_RUNTIME_PARAM,
        format!("parameter \"{name}\" cannot be changed without restarting the server"),
    )
}

fn unrecognized(name: &str) -> QuillError {
    QuillError::new(
        sqlstate::UNDEFINED_OBJECT,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

/// `session_authorization` needs a role lookup: the SQL layer resolves the role
/// and then sets it with [`SetSource::Internal`].
fn refuse_session_authorization(name: &str) -> QuillResult<()> {
    if registry::name_eq(name, "session_authorization") {
        return Err(QuillError::feature_not_supported(
            "SET session_authorization must go through SET SESSION AUTHORIZATION",
        ));
    }
    Ok(())
}

/// RESET ALL for one slot: only values a session set (above the server's own)
/// are reset, to the baseline's value or else the slot's own reset value.
fn reset_slot(slot: &mut Slot, baseline: Option<&Slot>) {
    if slot.source > Source::Override {
        (slot.value, slot.source) = match baseline {
            Some(base) => (base.value.clone(), base.source),
            None => (slot.reset_value.clone(), slot.reset_source),
        };
    }
}

fn boot_value(def: &SettingDef) -> Value {
    match def.kind {
        Kind::Bool { boot } => Value::Bool(boot),
        Kind::Int { boot, .. } => Value::Int(boot),
        Kind::Real { boot, .. } => Value::Real(boot),
        Kind::Str { boot, .. } => Value::Str(boot.to_string()),
        Kind::Enum { boot, .. } => Value::Enum(boot),
    }
}

/// The boot value as text, to run through parsing and check hooks.
fn boot_text(def: &SettingDef) -> String {
    format_value(def, &boot_value(def))
}

/// SHOW's text for a value (PostgreSQL's `_ShowOption`).
fn format_value(def: &SettingDef, value: &Value) -> String {
    match (def.kind, value) {
        (_, Value::Bool(b)) => if *b { "on" } else { "off" }.to_string(),
        (Kind::Int { unit, .. }, Value::Int(v)) => value::format_int(*v, unit),
        (_, Value::Real(v)) => value::format_g(*v),
        (_, Value::Str(s)) => s.clone(),
        (Kind::Enum { options, .. }, Value::Enum(v)) => options
            .iter()
            .find(|o| o.value == *v)
            .map_or_else(|| v.to_string(), |o| o.name.to_string()),
        (kind, value) => unreachable!("{} is {kind:?} but holds {value:?}", def.name),
    }
}

fn as_str(value: &Value) -> &str {
    match value {
        Value::Str(s) => s,
        _ => "",
    }
}

fn truncate_at_char_boundary(s: &str, max_bytes: usize) -> &str {
    let mut end = max_bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
