//! Built-in functions: their catalog (name, argument and result types,
//! volatility, as in PostgreSQL's `pg_proc`), overload resolution, and
//! implementations.
//!
//! Resolution follows PostgreSQL's `func_select_candidate` for the overloads
//! listed here: an exact match wins; otherwise among the candidates every
//! argument can reach implicitly, prefer the most exact matches, then the most
//! preferred types (float8, text), then settle unknown literals by category
//! (string first) and preferred type. `sqrt(2)` is float8, `abs('-5')` float8,
//! `length(NULL)` text's.
//!
//! Only immutable functions may be folded at plan time ([`Volatility`]); the
//! others run per row with the session at hand (`pg_sleep` polls it for cancels).

use std::time::{Duration, Instant};

use pg_query::protobuf;

use super::aggregate::AggFunc;
use super::analyze::{str_value, Analyzer};
use super::arith::{self, ArithOp, Operator};
use super::expr::{Expr, ExprKind};
use super::types::SqlType;
use super::utility::{is_transaction_mode, set_setting};
use super::value::{truncate_name, Datum};
use super::SessionContext;
use crate::error::{sqlstate, QuillError, QuillResult};

/// PostgreSQL's `provolatile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    /// Same result for the same arguments, always: may be computed at plan time.
    Immutable,
    /// Same result within a statement (reads session state).
    Stable,
    /// Side effects or changing results (`pg_sleep`).
    Volatile,
}

/// A resolved built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Length,
    BpcharLength,
    OctetLength,
    Upper,
    Lower,
    Abs,
    Sqrt,
    Round,
    RoundTo,
    Trunc,
    TruncTo,
    Floor,
    Ceil,
    Mod,
    Power,
    Pi,
    Version,
    CurrentDatabase,
    CurrentSchema,
    CurrentUser,
    SessionUser,
    PgBackendPid,
    PgSleep,
    /// `pg_typeof`, with its argument's type decided at analysis.
    PgTypeOf(SqlType),
    CurrentSetting,
    CurrentSettingMissingOk,
    SetConfig,
    /// Exists in PostgreSQL, not implemented yet: resolving to it is an error.
    Unsupported,
}

/// One overload: PostgreSQL's `pg_proc` row for it (aggregates reuse the shape).
pub(super) struct Signature {
    pub name: &'static str,
    pub args: &'static [SqlType],
    pub result: SqlType,
    pub func: Func,
    pub volatility: Volatility,
}

const fn sig(
    name: &'static str,
    args: &'static [SqlType],
    result: SqlType,
    func: Func,
    volatility: Volatility,
) -> Signature {
    Signature {
        name,
        args,
        result,
        func,
        volatility,
    }
}

use SqlType::{Bool, Bpchar, Float4, Float8, Int2, Int4, Int8, Name, Numeric as Num, Text, Void};
use Volatility::{Immutable as I, Stable as S, Volatile as V};

/// The functions Quill knows, with PostgreSQL's signatures.
#[rustfmt::skip]
const FUNCTIONS: &[Signature] = &[
    sig("length", &[Text], Int4, Func::Length, I),
    sig("length", &[Bpchar], Int4, Func::BpcharLength, I),
    sig("char_length", &[Text], Int4, Func::Length, I),
    sig("char_length", &[Bpchar], Int4, Func::BpcharLength, I),
    sig("character_length", &[Text], Int4, Func::Length, I),
    sig("character_length", &[Bpchar], Int4, Func::BpcharLength, I),
    sig("octet_length", &[Text], Int4, Func::OctetLength, I),
    sig("octet_length", &[Bpchar], Int4, Func::OctetLength, I),
    sig("upper", &[Text], Text, Func::Upper, I),
    sig("lower", &[Text], Text, Func::Lower, I),
    sig("abs", &[Int2], Int2, Func::Abs, I),
    sig("abs", &[Int4], Int4, Func::Abs, I),
    sig("abs", &[Int8], Int8, Func::Abs, I),
    sig("abs", &[Float4], Float4, Func::Abs, I),
    sig("abs", &[Float8], Float8, Func::Abs, I),
    sig("abs", &[Num], Num, Func::Abs, I),
    sig("sqrt", &[Float8], Float8, Func::Sqrt, I),
    sig("sqrt", &[Num], Num, Func::Unsupported, I),
    sig("round", &[Float8], Float8, Func::Round, I),
    sig("round", &[Num], Num, Func::Round, I),
    sig("round", &[Num, Int4], Num, Func::RoundTo, I),
    sig("trunc", &[Float8], Float8, Func::Trunc, I),
    sig("trunc", &[Num], Num, Func::Trunc, I),
    sig("trunc", &[Num, Int4], Num, Func::TruncTo, I),
    sig("floor", &[Float8], Float8, Func::Floor, I),
    sig("floor", &[Num], Num, Func::Floor, I),
    sig("ceil", &[Float8], Float8, Func::Ceil, I),
    sig("ceil", &[Num], Num, Func::Ceil, I),
    sig("ceiling", &[Float8], Float8, Func::Ceil, I),
    sig("ceiling", &[Num], Num, Func::Ceil, I),
    sig("mod", &[Int2, Int2], Int2, Func::Mod, I),
    sig("mod", &[Int4, Int4], Int4, Func::Mod, I),
    sig("mod", &[Int8, Int8], Int8, Func::Mod, I),
    sig("mod", &[Num, Num], Num, Func::Mod, I),
    sig("power", &[Float8, Float8], Float8, Func::Power, I),
    sig("power", &[Num, Num], Num, Func::Unsupported, I),
    sig("pow", &[Float8, Float8], Float8, Func::Power, I),
    sig("pow", &[Num, Num], Num, Func::Unsupported, I),
    sig("pi", &[], Float8, Func::Pi, I),
    sig("version", &[], Text, Func::Version, S),
    sig("current_database", &[], Name, Func::CurrentDatabase, S),
    sig("current_schema", &[], Name, Func::CurrentSchema, S),
    sig("pg_backend_pid", &[], Int4, Func::PgBackendPid, S),
    sig("pg_sleep", &[Float8], Void, Func::PgSleep, V),
    sig("current_setting", &[Text], Text, Func::CurrentSetting, S),
    sig("current_setting", &[Text, Bool], Text, Func::CurrentSettingMissingOk, S),
    sig("set_config", &[Text, Text, Bool], Text, Func::SetConfig, V),
];

/// PostgreSQL functions Quill does not have yet, named in a "not supported"
/// error rather than "does not exist".
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "now",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timeofday",
    "date_trunc",
    "date_part",
    "extract",
    "age",
    "to_char",
    "to_date",
    "to_timestamp",
    "make_date",
    "concat",
    "concat_ws",
    "substr",
    "substring",
    "replace",
    "position",
    "strpos",
    "btrim",
    "ltrim",
    "rtrim",
    "left",
    "right",
    "lpad",
    "rpad",
    "repeat",
    "reverse",
    "md5",
    "random",
    "setseed",
    "generate_series",
    "format",
    "quote_ident",
    "quote_literal",
    "to_hex",
    "split_part",
    "initcap",
    "ascii",
    "chr",
    "exp",
    "ln",
    "log",
    "log10",
    "cbrt",
    "sign",
    "div",
    "greatest",
    "least",
    "array_length",
    "unnest",
    "string_to_array",
    "regexp_replace",
    "regexp_matches",
    "txid_current",
    "pg_current_xact_id",
    "obj_description",
    "col_description",
    "has_table_privilege",
    "pg_get_userbyid",
    "format_type",
];

/// Aggregate and window functions Quill does not compute yet (those it does are
/// [`AggFunc`]s).
const AGGREGATES: &[&str] = &[
    "array_agg",
    "string_agg",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "json_agg",
    "jsonb_agg",
    "bit_and",
    "bit_or",
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
];

impl Func {
    /// Whether a NULL argument makes the result NULL without calling it.
    pub fn is_strict(self) -> bool {
        !matches!(self, Func::PgTypeOf(_) | Func::SetConfig)
    }

    pub fn volatility(self) -> Volatility {
        match self {
            Func::PgTypeOf(_) | Func::CurrentUser | Func::SessionUser => Volatility::Stable,
            other => FUNCTIONS
                .iter()
                .find(|s| s.func == other)
                .map_or(Volatility::Volatile, |s| s.volatility),
        }
    }
}

/// How well a candidate fits the arguments (PostgreSQL's tie-breakers).
fn exact_matches(sig: &Signature, types: &[SqlType]) -> usize {
    sig.args.iter().zip(types).filter(|(a, t)| a == t).count()
}

fn preferred_matches(sig: &Signature, types: &[SqlType]) -> usize {
    sig.args
        .iter()
        .zip(types)
        .filter(|(a, t)| a != t && **t != SqlType::Unknown && a.is_preferred())
        .count()
}

/// Keeps the candidates scoring highest.
fn keep_best(candidates: Vec<&Signature>, score: impl Fn(&Signature) -> usize) -> Vec<&Signature> {
    let best = candidates.iter().map(|s| score(s)).max().unwrap_or(0);
    candidates
        .into_iter()
        .filter(|s| score(s) == best)
        .collect()
}

/// Settles unknown-literal positions: string category if any candidate takes
/// one there, then the preferred type of that category.
fn resolve_unknown_positions<'s>(
    mut candidates: Vec<&'s Signature>,
    types: &[SqlType],
) -> Vec<&'s Signature> {
    for (i, _) in types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == SqlType::Unknown)
    {
        let string_wanted = candidates.iter().any(|s| s.args[i].is_string());
        let category = if string_wanted {
            SqlType::Text.category()
        } else {
            match candidates.first() {
                Some(s)
                    if candidates
                        .iter()
                        .all(|c| c.args[i].category() == s.args[i].category()) =>
                {
                    s.args[i].category()
                }
                _ => return candidates,
            }
        };
        candidates.retain(|s| s.args[i].category() == category);
        if candidates.iter().any(|s| s.args[i].is_preferred()) {
            candidates.retain(|s| s.args[i].is_preferred());
        }
    }
    candidates
}

impl Analyzer<'_> {
    pub fn func_call(&self, f: &protobuf::FuncCall) -> QuillResult<Expr> {
        let names: Vec<&str> = f.funcname.iter().map(str_value).collect();
        let name = names.last().copied().unwrap_or("");
        let qualified = names.len() > 1 && names[0] != "pg_catalog";
        let loc = f.location;
        if let (false, Some(agg)) = (qualified, AggFunc::by_name(name)) {
            return self.aggregate_call(f, agg, name);
        }
        if !qualified && AGGREGATES.contains(&name) {
            return Err(self.unsupported_plural("aggregate and window functions", loc));
        }
        if f.agg_star
            || f.agg_distinct
            || f.over.is_some()
            || !f.agg_order.is_empty()
            || f.agg_filter.is_some()
        {
            return Err(self.unsupported_plural("aggregate and window functions", loc));
        }
        let mut args = Vec::with_capacity(f.args.len());
        for arg in &f.args {
            args.push(self.expr(arg)?);
        }
        let types: Vec<SqlType> = args.iter().map(|a| a.ty).collect();
        let signature = || {
            let list: Vec<&str> = types.iter().map(|t| t.display_name()).collect();
            format!("{}({})", names.join("."), list.join(", "))
        };
        if !qualified && name == "pg_typeof" && args.len() == 1 {
            let kind = ExprKind::Func {
                func: Func::PgTypeOf(types[0]),
                args,
            };
            return Ok(Expr::new(kind, SqlType::RegType, -1, loc));
        }
        let chosen = if qualified {
            Vec::new()
        } else {
            best_candidates(FUNCTIONS, name, &types)
        };
        let sig = match chosen.as_slice() {
            [one] => *one,
            [] if !qualified && UNSUPPORTED_FUNCTIONS.contains(&name) => {
                return Err(self.unsupported(&format!("function {}", signature()), loc));
            }
            [] => {
                return Err(self.at(
                    QuillError::new(
                        sqlstate::UNDEFINED_FUNCTION,
                        format!("function {} does not exist", signature()),
                    )
                    .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."),
                    loc,
                ))
            }
            _ => {
                return Err(self.at(
                    QuillError::new(sqlstate::AMBIGUOUS_FUNCTION, format!("function {} is not unique", signature()))
                        .with_hint("Could not choose a best candidate function. You might need to add explicit type casts."),
                    loc,
                ))
            }
        };
        if sig.func == Func::Unsupported {
            return Err(self.unsupported(&format!("function {}", signature()), loc));
        }
        let mut coerced = Vec::with_capacity(args.len());
        for (arg, &ty) in args.into_iter().zip(sig.args) {
            coerced.push(self.coerce_implicit(arg, ty)?);
        }
        let kind = ExprKind::Func {
            func: sig.func,
            args: coerced,
        };
        Ok(Expr::new(kind, sig.result, -1, loc))
    }
}

/// The overloads of `name` in `list` that best fit `types` (one, none, or
/// ambiguous).
pub(super) fn best_candidates(
    list: &'static [Signature],
    name: &str,
    types: &[SqlType],
) -> Vec<&'static Signature> {
    let all: Vec<&Signature> = list
        .iter()
        .filter(|s| s.name == name && s.args.len() == types.len())
        .collect();
    if let Some(exact) = all.iter().find(|s| s.args == types) {
        return vec![*exact];
    }
    let reachable: Vec<&Signature> = all
        .into_iter()
        .filter(|s| {
            s.args
                .iter()
                .zip(types)
                .all(|(a, t)| t.implicitly_casts_to(*a))
        })
        .collect();
    if reachable.len() <= 1 {
        return reachable;
    }
    let best = keep_best(reachable, |s| exact_matches(s, types));
    if best.len() == 1 {
        return best;
    }
    let best = keep_best(best, |s| preferred_matches(s, types));
    if best.len() == 1 {
        return best;
    }
    resolve_unknown_positions(best, types)
}

/// Runs a function on evaluated arguments (NULLs already handled for strict
/// functions).
pub fn call(func: Func, args: &[Datum], ctx: &mut dyn SessionContext) -> QuillResult<Datum> {
    use Datum as D;
    Ok(match (func, args) {
        (Func::Length, [D::Text(s)]) => D::Int4(s.chars().count() as i32),
        (Func::BpcharLength, [D::Text(s)]) => {
            D::Int4(s.trim_end_matches(' ').chars().count() as i32)
        }
        (Func::OctetLength, [D::Text(s)]) => D::Int4(s.len() as i32),
        (Func::Upper, [D::Text(s)]) => D::Text(s.chars().map(simple_upper).collect()),
        (Func::Lower, [D::Text(s)]) => D::Text(s.chars().map(simple_lower).collect()),
        (Func::Abs, [x]) => arith::apply(Operator::Abs, std::slice::from_ref(x))?,
        (Func::Sqrt, [D::Float8(x)]) => D::Float8(arith::sqrt(*x)?),
        (Func::Power, [D::Float8(x), D::Float8(y)]) => D::Float8(arith::pow(*x, *y)?),
        (Func::Mod, [x, y]) => {
            arith::apply(Operator::Arith(ArithOp::Mod), &[x.clone(), y.clone()])?
        }
        (Func::Round | Func::Trunc | Func::Floor | Func::Ceil, [D::Float8(x)]) => {
            D::Float8(match func {
                Func::Round => x.round_ties_even(),
                Func::Trunc => x.trunc(),
                Func::Floor => x.floor(),
                _ => x.ceil(),
            })
        }
        (Func::Round | Func::Trunc | Func::Floor | Func::Ceil, [D::Numeric(n)]) => {
            D::Numeric(match func {
                Func::Round => n.round(0),
                Func::Trunc => n.truncate(0),
                Func::Floor => n.floor(),
                _ => n.ceil(),
            })
        }
        (Func::RoundTo, [D::Numeric(n), D::Int4(s)]) => D::Numeric(n.round(*s)),
        (Func::TruncTo, [D::Numeric(n), D::Int4(s)]) => D::Numeric(n.truncate(*s)),
        (Func::Pi, []) => D::Float8(std::f64::consts::PI),
        (Func::Version, []) => D::Text(version_string()),
        (Func::CurrentDatabase, []) => D::Text(truncate_name(ctx.current_database())),
        (Func::CurrentSchema, []) => D::Text("public".to_string()),
        (Func::CurrentUser | Func::SessionUser, []) => D::Text(truncate_name(ctx.current_user())),
        (Func::PgBackendPid, []) => D::Int4(ctx.backend_pid()),
        (Func::PgSleep, [D::Float8(seconds)]) => {
            pg_sleep(*seconds, ctx)?;
            D::Text(String::new())
        }
        (Func::PgTypeOf(ty), [_]) => D::Text(ty.display_name().to_string()),
        (Func::CurrentSetting, [D::Text(name)]) => D::Text(ctx.show_setting(name)?),
        (Func::CurrentSettingMissingOk, [D::Text(name), D::Bool(missing_ok)]) => {
            match ctx.show_setting(name) {
                Ok(value) => D::Text(value),
                Err(_) if *missing_ok => D::Null,
                Err(e) => return Err(e),
            }
        }
        (Func::SetConfig, [name, value, is_local]) => set_config(name, value, is_local, ctx)?,
        _ => {
            return Err(QuillError::internal(format!(
                "function {func:?} called with unexpected arguments {args:?}"
            )))
        }
    })
}

/// A character's upper case when that is one character (C's `towupper`, which
/// PostgreSQL's `upper` uses: 'ß' stays 'ß').
pub fn simple_upper(c: char) -> char {
    let mut mapped = c.to_uppercase();
    match (mapped.next(), mapped.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// A character's lower case when that is one character (C's `towlower`).
pub fn simple_lower(c: char) -> char {
    let mut mapped = c.to_lowercase();
    match (mapped.next(), mapped.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// What `version()` says: PostgreSQL's shape, so clients that parse it work.
pub fn version_string() -> String {
    format!(
        "PostgreSQL 15.0 (Quill {}) on {}-pc-linux-gnu, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

/// Sleeps in short slices, checking for a cancel or shutdown between them, so
/// an interrupt ends the sleep within about 10 ms.
fn pg_sleep(seconds: f64, ctx: &mut dyn SessionContext) -> QuillResult<()> {
    const SLICE: Duration = Duration::from_millis(10);
    if seconds.is_nan() || seconds <= 0.0 {
        return ctx.check_for_interrupts();
    }
    // Anything beyond ~30 years is "until cancelled".
    let total = Duration::from_secs_f64(seconds.min(1e9));
    let start = Instant::now();
    loop {
        ctx.check_for_interrupts()?;
        let elapsed = start.elapsed();
        if elapsed >= total {
            return Ok(());
        }
        std::thread::sleep((total - elapsed).min(SLICE));
    }
}

fn set_config(
    name: &Datum,
    value: &Datum,
    is_local: &Datum,
    ctx: &mut dyn SessionContext,
) -> QuillResult<Datum> {
    let Datum::Text(name) = name else {
        return Err(QuillError::new(
            sqlstate::NULL_VALUE_NOT_ALLOWED,
            "SET requires parameter name",
        ));
    };
    let value = match value {
        Datum::Text(v) => Some(v.as_str()),
        _ => None,
    };
    let is_local = matches!(is_local, Datum::Bool(true));
    if let (true, Some(value)) = (is_transaction_mode(name), value) {
        let shown = crate::config::check_value(name, value)?;
        check_mode_change_after_query(name, &shown, ctx)?;
        if ctx.in_transaction_block() == Some(false) {
            // It applies to this statement's own transaction, which is ending.
            return Ok(Datum::Text(shown));
        }
    }
    set_setting(ctx, name, value, is_local)?;
    Ok(Datum::Text(ctx.show_setting(name)?))
}

/// PostgreSQL's check hooks of the transaction modes once the transaction has
/// run a query (as the SELECT calling `set_config` has): the isolation level may
/// not change, read-only may not become read-write, and deferrability may not be
/// set at all. `shown` is the new value as SHOW prints it.
fn check_mode_change_after_query(
    name: &str,
    shown: &str,
    ctx: &dyn SessionContext,
) -> QuillResult<()> {
    let message = if name.eq_ignore_ascii_case("transaction_isolation") {
        (ctx.show_setting(name)? != shown)
            .then_some("SET TRANSACTION ISOLATION LEVEL must be called before any query")
    } else if name.eq_ignore_ascii_case("transaction_read_only") {
        (shown == "off" && ctx.show_setting(name)? == "on")
            .then_some("transaction read-write mode must be set before any query")
    } else {
        Some("SET TRANSACTION [NOT] DEFERRABLE must be called before any query")
    };
    match message {
        Some(message) => Err(QuillError::new(sqlstate::ACTIVE_SQL_TRANSACTION, message)),
        None => Ok(()),
    }
}
