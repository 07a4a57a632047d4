//! Check hooks of string settings (PostgreSQL's `check_*` functions): each accepts
//! or rejects a proposed value and returns the canonical form that is stored and
//! shown (`set datestyle = 'dmy'` stores `ISO, DMY`).
//!
//! A rejection becomes `invalid value for parameter "<canonical name>": "<value>"`
//! with the hook's SQLSTATE and DETAIL, exactly as PostgreSQL reports it.

use crate::error::sqlstate;

/// What a check hook sees besides the proposed value.
pub(crate) struct CheckContext<'a> {
    /// The setting's current value.
    pub current: &'a str,
    /// The setting's reset value (what `DEFAULT` means).
    pub reset: &'a str,
    /// True when the value is the built-in boot value (PostgreSQL's PGC_S_DEFAULT).
    pub is_boot_value: bool,
}

/// Why a check hook rejected a value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CheckFailure {
    pub sqlstate: &'static str,
    pub detail: Option<String>,
}

impl CheckFailure {
    fn invalid(detail: Option<String>) -> Self {
        CheckFailure {
            sqlstate: sqlstate::INVALID_PARAMETER_VALUE,
            detail,
        }
    }
}

pub(crate) type StringCheck = fn(&str, &CheckContext) -> Result<String, CheckFailure>;

const LIST_SYNTAX_INVALID: &str = "List syntax is invalid.";

/// The date output style of `DateStyle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateStyle {
    Iso,
    Sql,
    Postgres,
    German,
}

/// The field order of `DateStyle`, used for input and for SQL/Postgres output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    Ymd,
    Dmy,
    Mdy,
}

/// PostgreSQL's `check_datestyle`: a comma-separated list of a style and/or an
/// order; whatever is not given keeps its current value.
pub(crate) fn check_datestyle(value: &str, ctx: &CheckContext) -> Result<String, CheckFailure> {
    let (style, order) = parse_datestyle(value, ctx, 0)?;
    Ok(format_datestyle(style, order))
}

fn parse_datestyle(
    value: &str,
    ctx: &CheckContext,
    depth: u8,
) -> Result<(DateStyle, DateOrder), CheckFailure> {
    let (mut style, mut order) = datestyle_of(ctx.current);
    let (mut have_style, mut have_order, mut conflict) = (false, false, false);
    let tokens = split_identifier_list(value, ',', true)
        .ok_or_else(|| CheckFailure::invalid(Some(LIST_SYNTAX_INVALID.into())))?;
    for token in &tokens {
        let t = token.to_ascii_lowercase();
        let (mut new_style, mut new_order) = (None, None);
        if t == "iso" {
            new_style = Some(DateStyle::Iso);
        } else if t == "sql" {
            new_style = Some(DateStyle::Sql);
        } else if t.starts_with("postgres") {
            new_style = Some(DateStyle::Postgres);
        } else if t == "german" {
            new_style = Some(DateStyle::German);
            // GERMAN also sets DMY, unless explicitly overridden.
            if !have_order {
                order = DateOrder::Dmy;
            }
        } else if t == "ymd" {
            new_order = Some(DateOrder::Ymd);
        } else if t == "dmy" || t.starts_with("euro") {
            new_order = Some(DateOrder::Dmy);
        } else if t == "mdy" || t == "us" || t.starts_with("noneuro") {
            new_order = Some(DateOrder::Mdy);
        } else if t == "default" && depth == 0 {
            let (reset_style, reset_order) = parse_datestyle(ctx.reset, ctx, depth + 1)?;
            if !have_style {
                style = reset_style;
            }
            if !have_order {
                order = reset_order;
            }
        } else {
            let detail = format!("Unrecognized key word: \"{token}\".");
            return Err(CheckFailure::invalid(Some(detail)));
        }
        if let Some(new) = new_style {
            conflict |= have_style && style != new;
            style = new;
            have_style = true;
        }
        if let Some(new) = new_order {
            conflict |= have_order && order != new;
            order = new;
            have_order = true;
        }
    }
    if conflict {
        let detail = "Conflicting \"datestyle\" specifications.".to_string();
        return Err(CheckFailure::invalid(Some(detail)));
    }
    Ok((style, order))
}

fn format_datestyle(style: DateStyle, order: DateOrder) -> String {
    let style = match style {
        DateStyle::Iso => "ISO",
        DateStyle::Sql => "SQL",
        DateStyle::Postgres => "Postgres",
        DateStyle::German => "German",
    };
    let order = match order {
        DateOrder::Ymd => "YMD",
        DateOrder::Dmy => "DMY",
        DateOrder::Mdy => "MDY",
    };
    format!("{style}, {order}")
}

/// Reads a canonical `DateStyle` value (as stored by [`check_datestyle`]).
pub(crate) fn datestyle_of(canonical: &str) -> (DateStyle, DateOrder) {
    let (style, order) = canonical.split_once(", ").unwrap_or((canonical, "MDY"));
    let style = match style {
        "SQL" => DateStyle::Sql,
        "Postgres" => DateStyle::Postgres,
        "German" => DateStyle::German,
        _ => DateStyle::Iso,
    };
    let order = match order {
        "YMD" => DateOrder::Ymd,
        "DMY" => DateOrder::Dmy,
        _ => DateOrder::Mdy,
    };
    (style, order)
}

/// Time zone names that mean UTC (no offset, never daylight saving) in the tz
/// database, with their canonical spelling. Quill keeps all times in UTC for now.
const UTC_ZONE_NAMES: &[&str] = &[
    "UTC",
    "Etc/UTC",
    "UCT",
    "Etc/UCT",
    "Universal",
    "Etc/Universal",
    "Zulu",
    "Etc/Zulu",
    "GMT",
    "Etc/GMT",
    "GMT0",
    "Etc/GMT0",
    "GMT+0",
    "Etc/GMT+0",
    "GMT-0",
    "Etc/GMT-0",
    "Greenwich",
    "Etc/Greenwich",
];

/// `TimeZone`: only the UTC zones are accepted; the name is stored in the tz
/// database's spelling, as PostgreSQL does (`utc` becomes `UTC`).
pub(crate) fn check_timezone(value: &str, _: &CheckContext) -> Result<String, CheckFailure> {
    UTC_ZONE_NAMES
        .iter()
        .find(|name| name.eq_ignore_ascii_case(value))
        .map(|name| name.to_string())
        .ok_or_else(|| {
            CheckFailure::invalid(Some(
                "Quill supports only the UTC time zone for now.".into(),
            ))
        })
}

/// PostgreSQL's encoding names (after `clean_encoding_name`: lower case, letters
/// and digits only) and the canonical name of the encoding each one means.
const ENCODING_NAMES: &[(&str, &str)] = &[
    ("abc", "WIN1258"),
    ("alt", "WIN866"),
    ("big5", "BIG5"),
    ("euccn", "EUC_CN"),
    ("eucjis2004", "EUC_JIS_2004"),
    ("eucjp", "EUC_JP"),
    ("euckr", "EUC_KR"),
    ("euctw", "EUC_TW"),
    ("gb18030", "GB18030"),
    ("gbk", "GBK"),
    ("iso88591", "LATIN1"),
    ("iso885910", "LATIN6"),
    ("iso885913", "LATIN7"),
    ("iso885914", "LATIN8"),
    ("iso885915", "LATIN9"),
    ("iso885916", "LATIN10"),
    ("iso88592", "LATIN2"),
    ("iso88593", "LATIN3"),
    ("iso88594", "LATIN4"),
    ("iso88595", "ISO_8859_5"),
    ("iso88596", "ISO_8859_6"),
    ("iso88597", "ISO_8859_7"),
    ("iso88598", "ISO_8859_8"),
    ("iso88599", "LATIN5"),
    ("johab", "JOHAB"),
    ("koi8", "KOI8R"),
    ("koi8r", "KOI8R"),
    ("koi8u", "KOI8U"),
    ("latin1", "LATIN1"),
    ("latin10", "LATIN10"),
    ("latin2", "LATIN2"),
    ("latin3", "LATIN3"),
    ("latin4", "LATIN4"),
    ("latin5", "LATIN5"),
    ("latin6", "LATIN6"),
    ("latin7", "LATIN7"),
    ("latin8", "LATIN8"),
    ("latin9", "LATIN9"),
    ("mskanji", "SJIS"),
    ("muleinternal", "MULE_INTERNAL"),
    ("shiftjis", "SJIS"),
    ("shiftjis2004", "SHIFT_JIS_2004"),
    ("sjis", "SJIS"),
    ("sqlascii", "SQL_ASCII"),
    ("tcvn", "WIN1258"),
    ("tcvn5712", "WIN1258"),
    ("uhc", "UHC"),
    ("unicode", "UTF8"),
    ("utf8", "UTF8"),
    ("vscii", "WIN1258"),
    ("win", "WIN1251"),
    ("win1250", "WIN1250"),
    ("win1251", "WIN1251"),
    ("win1252", "WIN1252"),
    ("win1253", "WIN1253"),
    ("win1254", "WIN1254"),
    ("win1255", "WIN1255"),
    ("win1256", "WIN1256"),
    ("win1257", "WIN1257"),
    ("win1258", "WIN1258"),
    ("win866", "WIN866"),
    ("win874", "WIN874"),
    ("win932", "SJIS"),
    ("win936", "GBK"),
    ("win949", "UHC"),
    ("win950", "BIG5"),
    ("windows1250", "WIN1250"),
    ("windows1251", "WIN1251"),
    ("windows1252", "WIN1252"),
    ("windows1253", "WIN1253"),
    ("windows1254", "WIN1254"),
    ("windows1255", "WIN1255"),
    ("windows1256", "WIN1256"),
    ("windows1257", "WIN1257"),
    ("windows1258", "WIN1258"),
    ("windows866", "WIN866"),
    ("windows874", "WIN874"),
    ("windows932", "SJIS"),
    ("windows936", "GBK"),
    ("windows949", "UHC"),
    ("windows950", "BIG5"),
];

/// Client encodings that need no conversion from the server's UTF8: UTF8 itself,
/// and SQL_ASCII (bytes passed through, as PostgreSQL does).
const SUPPORTED_CLIENT_ENCODINGS: &[&str] = &["UTF8", "SQL_ASCII"];

/// `client_encoding`: any PostgreSQL encoding name, stored canonically; encodings
/// Quill cannot convert to are refused as PostgreSQL refuses a missing conversion.
pub(crate) fn check_client_encoding(value: &str, _: &CheckContext) -> Result<String, CheckFailure> {
    let cleaned: String = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let canonical = ENCODING_NAMES
        .iter()
        .find(|(alias, _)| *alias == cleaned)
        .map(|(_, canonical)| *canonical)
        .ok_or_else(|| CheckFailure::invalid(None))?;
    if SUPPORTED_CLIENT_ENCODINGS.contains(&canonical) {
        return Ok(canonical.to_string());
    }
    Err(CheckFailure {
        sqlstate: sqlstate::FEATURE_NOT_SUPPORTED,
        detail: Some(format!(
            "Conversion between {canonical} and UTF8 is not supported."
        )),
    })
}

/// `application_name` (PostgreSQL 15's `pg_clean_ascii`): every byte outside
/// printable ASCII becomes `?`.
pub(crate) fn check_application_name(
    value: &str,
    _: &CheckContext,
) -> Result<String, CheckFailure> {
    Ok(value
        .bytes()
        .map(|b| {
            if (32..=126).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect())
}

/// `lc_messages`: a locale the C library knows; the empty string (take it from
/// the environment) only as the boot value.
pub(crate) fn check_lc_messages(value: &str, ctx: &CheckContext) -> Result<String, CheckFailure> {
    if value.is_empty() {
        return if ctx.is_boot_value {
            Ok(String::new())
        } else {
            Err(CheckFailure::invalid(None))
        };
    }
    if locale_exists(value) {
        Ok(value.to_string())
    } else {
        Err(CheckFailure::invalid(None))
    }
}

/// Whether `newlocale` accepts `name` for LC_MESSAGES (PostgreSQL's `check_locale`
/// does the same with `setlocale`, which would change process state).
fn locale_exists(name: &str) -> bool {
    let Ok(c_name) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: `c_name` is a valid NUL-terminated string that outlives the call;
    // a null base asks for a fresh locale object, which we free at once.
    unsafe {
        let locale = libc::newlocale(
            libc::LC_MESSAGES_MASK,
            c_name.as_ptr(),
            std::ptr::null_mut(),
        );
        if locale.is_null() {
            return false;
        }
        libc::freelocale(locale);
    }
    true
}

/// `search_path`: must be a valid list of identifiers (the names themselves are
/// looked up when used, not here).
pub(crate) fn check_search_path(value: &str, _: &CheckContext) -> Result<String, CheckFailure> {
    match split_identifier_list(value, ',', true) {
        Some(_) => Ok(value.to_string()),
        None => Err(CheckFailure::invalid(Some(LIST_SYNTAX_INVALID.into()))),
    }
}

/// PostgreSQL's `SplitIdentifierString` (or, with `downcase` false,
/// `SplitGUCList`): items separated by `separator`, each a double-quoted name
/// (`""` for a quote) or a bare word (lower-cased if `downcase`); white space
/// around items is ignored; an empty string is an empty list. `None` on bad syntax.
pub fn split_identifier_list(raw: &str, separator: char, downcase: bool) -> Option<Vec<String>> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c');
    let mut rest = raw.trim_start_matches(is_space);
    let mut items = Vec::new();
    if rest.is_empty() {
        return Some(items);
    }
    loop {
        let item;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                if c != '"' {
                    name.push(c);
                } else if quoted[i + 1..].starts_with('"') {
                    name.push('"');
                    chars.next();
                } else {
                    break i + 1;
                }
            };
            item = name;
            rest = &quoted[end..];
        } else {
            let end = rest
                .find(|c: char| c == separator || is_space(c))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            let word = &rest[..end];
            item = if downcase {
                word.to_ascii_lowercase()
            } else {
                word.to_string()
            };
            rest = &rest[end..];
        }
        items.push(item);
        rest = rest.trim_start_matches(is_space);
        if rest.is_empty() {
            return Some(items);
        }
        rest = rest.strip_prefix(separator)?.trim_start_matches(is_space);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(current: &'a str, reset: &'a str) -> CheckContext<'a> {
        CheckContext {
            current,
            reset,
            is_boot_value: false,
        }
    }

    fn detail(r: Result<String, CheckFailure>) -> Option<String> {
        r.expect_err("should be rejected").detail
    }

    #[test]
    fn datestyle_keeps_what_is_not_given() {
        let c = ctx("ISO, MDY", "ISO, MDY");
        assert_eq!(check_datestyle("dmy", &c).unwrap(), "ISO, DMY");
        assert_eq!(check_datestyle("german", &c).unwrap(), "German, DMY");
        assert_eq!(check_datestyle("german, ymd", &c).unwrap(), "German, YMD");
        assert_eq!(
            check_datestyle("postgresxyz, euro", &c).unwrap(),
            "Postgres, DMY"
        );
        assert_eq!(check_datestyle("SQL,US", &c).unwrap(), "SQL, MDY");
        let c = ctx("Postgres, DMY", "ISO, MDY");
        assert_eq!(check_datestyle("", &c).unwrap(), "Postgres, DMY");
        assert_eq!(check_datestyle("default", &c).unwrap(), "ISO, MDY");
        assert_eq!(check_datestyle("default, ymd", &c).unwrap(), "ISO, YMD");
    }

    #[test]
    fn datestyle_errors_have_postgres_details() {
        let c = ctx("ISO, MDY", "ISO, MDY");
        assert_eq!(
            detail(check_datestyle("foo", &c)).unwrap(),
            "Unrecognized key word: \"foo\"."
        );
        assert_eq!(
            detail(check_datestyle("iso mdy", &c)).unwrap(),
            "List syntax is invalid."
        );
        assert_eq!(
            detail(check_datestyle("iso, sql", &c)).unwrap(),
            "Conflicting \"datestyle\" specifications."
        );
    }

    #[test]
    fn timezone_accepts_utc_names_in_canonical_spelling() {
        let c = ctx("UTC", "UTC");
        assert_eq!(check_timezone("utc", &c).unwrap(), "UTC");
        assert_eq!(check_timezone("etc/utc", &c).unwrap(), "Etc/UTC");
        assert_eq!(check_timezone("gmt", &c).unwrap(), "GMT");
        assert!(check_timezone("Europe/Berlin", &c).is_err());
        assert!(check_timezone("z", &c).is_err());
    }

    #[test]
    fn client_encoding_is_canonical_and_refuses_conversions() {
        let c = ctx("UTF8", "UTF8");
        assert_eq!(check_client_encoding("utf-8", &c).unwrap(), "UTF8");
        assert_eq!(check_client_encoding("Unicode", &c).unwrap(), "UTF8");
        assert_eq!(check_client_encoding("sql_ascii", &c).unwrap(), "SQL_ASCII");
        let bogus = check_client_encoding("bogus", &c).unwrap_err();
        assert_eq!(bogus.sqlstate, sqlstate::INVALID_PARAMETER_VALUE);
        assert_eq!(bogus.detail, None);
        let latin1 = check_client_encoding("latin1", &c).unwrap_err();
        assert_eq!(latin1.sqlstate, sqlstate::FEATURE_NOT_SUPPORTED);
        assert_eq!(
            latin1.detail.as_deref(),
            Some("Conversion between LATIN1 and UTF8 is not supported.")
        );
    }

    #[test]
    fn application_name_replaces_each_non_ascii_byte() {
        let c = ctx("", "");
        assert_eq!(check_application_name("héllo", &c).unwrap(), "h??llo");
        assert_eq!(check_application_name("a\tb", &c).unwrap(), "a?b");
    }

    #[test]
    fn lc_messages_accepts_c_and_refuses_unknown_locales() {
        let c = ctx("", "");
        assert_eq!(check_lc_messages("C", &c).unwrap(), "C");
        assert_eq!(check_lc_messages("POSIX", &c).unwrap(), "POSIX");
        assert!(check_lc_messages("xx_XX", &c).is_err());
        assert!(check_lc_messages("", &c).is_err());
        let boot = CheckContext {
            is_boot_value: true,
            ..ctx("", "")
        };
        assert_eq!(check_lc_messages("", &boot).unwrap(), "");
    }

    #[test]
    fn identifier_lists_split_like_postgres() {
        let split = |s| split_identifier_list(s, ',', true);
        assert_eq!(
            split("a, \"B c\" ,  public").unwrap(),
            ["a", "B c", "public"]
        );
        assert_eq!(split("\"$user\", public").unwrap(), ["$user", "public"]);
        assert_eq!(split("\"a\"\"b\"").unwrap(), ["a\"b"]);
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split("A").unwrap(), ["a"]);
        assert!(split("a b").is_none());
        assert!(split("a,").is_none());
        assert!(split("\"a").is_none());
        assert!(split(",a").is_none());
        let keep_case = split_identifier_list("localhost, *, ::1", ',', false);
        assert_eq!(keep_case.unwrap(), ["localhost", "*", "::1"]);
    }
}
