//! The `quill` command line: `init`, `start`, `stop`, `status`.
//!
//! Arguments are few and PostgreSQL-shaped (`-D DIR`, `-U NAME`, `-c name=value`,
//! `-m MODE`), so they are parsed by hand. `-D` defaults to `$PGDATA`.

use std::path::PathBuf;
use std::time::Duration;

use crate::tools::ctl::{self, ShutdownMode};
use crate::tools::initdb;

const USAGE: &str = "\
quill — a PostgreSQL-style database server

Usage:
  quill init   -D DATADIR [-U SUPERUSER]
  quill start  -D DATADIR [-p PORT] [-c NAME=VALUE]...
  quill stop   -D DATADIR [-m smart|fast|immediate] [-t SECONDS]
  quill status -D DATADIR
  quill controldata -D DATADIR
  quill waldump -D DATADIR [--start LSN] [--stats]
  quill verify -D DATADIR      (offline check of a stopped server's files)

`start` creates the data directory on first use. -D defaults to $PGDATA.";

/// Parsed options common to the subcommands.
#[derive(Debug, Default)]
struct Options {
    data_dir: Option<PathBuf>,
    superuser: Option<String>,
    settings: Vec<(String, String)>,
    mode: Option<String>,
    timeout_s: Option<u64>,
    start_lsn: Option<String>,
    stats: bool,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("option {name} requires an argument"))
        };
        match arg.as_str() {
            "-D" | "--pgdata" => options.data_dir = Some(PathBuf::from(value(arg)?)),
            "-U" | "--username" => options.superuser = Some(value(arg)?),
            "-m" | "--mode" => options.mode = Some(value(arg)?),
            "-t" | "--timeout" => {
                let text = value(arg)?;
                options.timeout_s = Some(
                    text.parse()
                        .map_err(|_| format!("invalid timeout \"{text}\""))?,
                );
            }
            "--start" | "-s" => options.start_lsn = Some(value(arg)?),
            "--stats" | "-z" => options.stats = true,
            "-p" => {
                let port = value(arg)?;
                options.settings.push(("port".into(), port));
            }
            "-c" => {
                let setting = value(arg)?;
                let (name, val) = setting
                    .split_once('=')
                    .ok_or_else(|| format!("-c {setting} requires a value"))?;
                options
                    .settings
                    .push((name.replace('-', "_"), val.to_string()));
            }
            other if other.starts_with("--") && other.contains('=') => {
                let (name, val) = other[2..].split_once('=').expect("checked");
                options
                    .settings
                    .push((name.replace('-', "_"), val.to_string()));
            }
            other => return Err(format!("unrecognized argument \"{other}\"")),
        }
    }
    if options.data_dir.is_none() {
        options.data_dir = std::env::var_os("PGDATA").map(PathBuf::from);
    }
    Ok(options)
}

/// Runs the command line and exits with its code.
pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(&args));
}

fn run(args: &[String]) -> i32 {
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return 1;
    };
    match command.as_str() {
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            return 0;
        }
        "--version" | "-V" => {
            println!(
                "quill {} (PostgreSQL 15 compatible)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        _ => {}
    }
    let options = match parse_options(&args[1..]) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("quill: {message}\nTry \"quill --help\" for more information.");
            return 1;
        }
    };
    let Some(data_dir) = options.data_dir.clone() else {
        eprintln!("quill: no data directory specified\nUse -D DATADIR or set PGDATA.");
        return 1;
    };
    match command.as_str() {
        "init" => init(&data_dir, &options),
        "start" => start(&data_dir, &options),
        "stop" => {
            let mode = match options.mode.as_deref().map(ShutdownMode::parse) {
                None => ShutdownMode::Fast,
                Some(Some(mode)) => mode,
                Some(None) => {
                    eprintln!(
                        "quill: unrecognized shutdown mode \"{}\"",
                        options.mode.unwrap_or_default()
                    );
                    return 1;
                }
            };
            ctl::stop(
                &data_dir,
                mode,
                Duration::from_secs(options.timeout_s.unwrap_or(60)),
            )
        }
        "status" => ctl::status(&data_dir),
        "controldata" => crate::tools::controldata::run(&data_dir),
        "verify" => crate::tools::verify::run(&data_dir),
        "waldump" => {
            let start = match options.start_lsn.as_deref().map(crate::wal::Lsn::parse) {
                None => None,
                Some(Some(lsn)) => Some(lsn),
                Some(None) => {
                    eprintln!(
                        "quill waldump: invalid WAL location \"{}\"",
                        options.start_lsn.unwrap_or_default()
                    );
                    return 1;
                }
            };
            crate::tools::waldump::run(&data_dir, start, options.stats)
        }
        other => {
            eprintln!("quill: unknown command \"{other}\"\n{USAGE}");
            1
        }
    }
}

fn init(data_dir: &std::path::Path, options: &Options) -> i32 {
    let superuser = options
        .superuser
        .clone()
        .unwrap_or_else(initdb::os_user_name);
    println!(
        "The files belonging to this database system will be owned by user \"{}\".",
        initdb::os_user_name()
    );
    println!("The database superuser is \"{superuser}\".");
    match initdb::init_data_directory(data_dir, &superuser) {
        Ok(()) => {
            println!(
                "Success. You can now start the database server using:\n\n    quill start -D {}\n",
                data_dir.display()
            );
            0
        }
        Err(message) => {
            eprintln!("quill init: error: {message}");
            1
        }
    }
}

fn start(data_dir: &std::path::Path, options: &Options) -> i32 {
    if !initdb::is_initialized(data_dir) {
        if !initdb::is_missing_or_empty(data_dir) {
            eprintln!(
                "quill: directory \"{}\" is not a Quill data directory (no PG_VERSION) and is not empty",
                data_dir.display()
            );
            return 1;
        }
        let superuser = options
            .superuser
            .clone()
            .unwrap_or_else(initdb::os_user_name);
        if let Err(message) = initdb::init_data_directory(data_dir, &superuser) {
            eprintln!("quill: could not initialize data directory: {message}");
            return 1;
        }
        println!(
            "quill: initialized new data directory \"{}\" (superuser \"{superuser}\")",
            data_dir.display()
        );
    }
    crate::postmaster::run(data_dir, &options.settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_settings_and_modes() {
        let args: Vec<String> = [
            "-D",
            "/d",
            "-c",
            "port=5",
            "-p",
            "6",
            "--max-connections=3",
            "-m",
            "fast",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = parse_options(&args).unwrap();
        assert_eq!(o.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(
            o.settings,
            vec![
                ("port".to_string(), "5".to_string()),
                ("port".to_string(), "6".to_string()),
                ("max_connections".to_string(), "3".to_string())
            ]
        );
        assert_eq!(o.mode.as_deref(), Some("fast"));
        assert!(parse_options(&["-c".to_string(), "novalue".to_string()]).is_err());
    }
}
