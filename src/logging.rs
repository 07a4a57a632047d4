//! Server log output: `log` records written to stderr with PostgreSQL-like prefixes,
//! `2026-11-25 22:40:01.123 UTC [12345] LOG:  message`.
//!
//! Levels map onto PostgreSQL's: error → ERROR (FATAL/PANIC texts carry their own
//! severity in the message target), warn → WARNING, info → LOG, debug → DEBUG1,
//! trace → DEBUG2. The pid is read per record, so forked children log their own.

use std::io::Write;

/// Target a caller may use to log with PostgreSQL's FATAL severity at error level.
pub const FATAL_TARGET: &str = "fatal";
/// Target for a HINT/DETAIL continuation line (printed without severity change).
pub const HINT_TARGET: &str = "hint";
pub const DETAIL_TARGET: &str = "detail";

/// Installs the logger. Safe to call once per process; later calls change nothing.
pub fn init(level: log::LevelFilter) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    builder.format(|out, record| {
        let severity = match (record.target(), record.level()) {
            (FATAL_TARGET, _) => "FATAL",
            (HINT_TARGET, _) => "HINT",
            (DETAIL_TARGET, _) => "DETAIL",
            (_, log::Level::Error) => "ERROR",
            (_, log::Level::Warn) => "WARNING",
            (_, log::Level::Info) => "LOG",
            (_, log::Level::Debug) => "DEBUG1",
            (_, log::Level::Trace) => "DEBUG2",
        };
        writeln!(
            out,
            "{} [{}] {}:  {}",
            timestamp_utc(),
            std::process::id(),
            severity,
            record.args()
        )
    });
    let _ = builder.try_init();
}

/// Changes the level after a configuration reload.
pub fn set_level(level: log::LevelFilter) {
    log::set_max_level(level);
}

/// `YYYY-MM-DD HH:MM:SS.mmm UTC`, without pulling in a date crate.
fn timestamp_utc() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
