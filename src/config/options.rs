//! The `options` startup parameter (what `PGOPTIONS` sends): PostgreSQL's
//! `pg_split_opts` and the `-c` handling of `process_postgres_switches`.

use crate::error::{sqlstate, QuillError, QuillResult};

/// Splits a startup packet's `options` into (name, value) settings, to be applied
/// with `SetSource::Startup`. Words are separated by white space; a backslash
/// makes the next character literal (`a\ b` is one word). Accepted: `-c name=value`,
/// `-cname=value`, `--name=value`, and the postgres switches `-B n`
/// (shared_buffers), `-N n` (max_connections), `-p n` (port) and `-F` (fsync off),
/// which then fail the usual context checks. A dash in a name means underscore.
/// Errors are PostgreSQL's (FATAL, 42601).
pub fn split_startup_options(options: &str) -> QuillResult<Vec<(String, String)>> {
    let words = split_words(options);
    let mut settings = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let invalid = || invalid_argument(word);
        let Some(switch) = word.strip_prefix('-') else {
            return Err(invalid());
        };
        let mut chars = switch.chars();
        let Some(flag) = chars.next() else {
            return Err(invalid());
        };
        let attached = chars.as_str();
        match flag {
            'c' | '-' | 'B' | 'N' | 'p' => {
                // getopt: the argument is the rest of this word or the next word.
                let arg = if !attached.is_empty() {
                    attached.to_string()
                } else if let Some(next) = words.get(i + 1) {
                    i += 1;
                    next.clone()
                } else {
                    return Err(invalid());
                };
                settings.push(match flag {
                    'B' => ("shared_buffers".to_string(), arg),
                    'N' => ("max_connections".to_string(), arg),
                    'p' => ("port".to_string(), arg),
                    _ => parse_long_option(flag, &arg)?,
                });
            }
            'F' if attached.is_empty() => settings.push(("fsync".to_string(), "false".to_string())),
            _ => return Err(invalid()),
        }
        i += 1;
    }
    Ok(settings)
}

/// PostgreSQL's `ParseLongOption`: `name=value`, dashes in the name become
/// underscores; a missing `=value` is an error.
fn parse_long_option(flag: char, arg: &str) -> QuillResult<(String, String)> {
    match arg.split_once('=') {
        Some((name, value)) => Ok((name.replace('-', "_"), value.to_string())),
        None => {
            let message = if flag == '-' {
                format!("--{arg} requires a value")
            } else {
                format!("-c {arg} requires a value")
            };
            Err(QuillError::fatal(sqlstate::SYNTAX_ERROR, message))
        }
    }
}

fn invalid_argument(word: &str) -> QuillError {
    QuillError::fatal(
        sqlstate::SYNTAX_ERROR,
        format!("invalid command-line argument for server process: {word}"),
    )
    .with_hint("Try \"quill --help\" for more information.")
}

/// PostgreSQL's `pg_split_opts`.
fn split_words(options: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = options.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        let mut escaped = false;
        while let Some(&c) = chars.peek() {
            if c.is_ascii_whitespace() && !escaped {
                break;
            }
            if !escaped && c == '\\' {
                escaped = true;
            } else {
                escaped = false;
                word.push(c);
            }
            chars.next();
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(options: &str) -> Vec<(String, String)> {
        split_startup_options(options).expect("valid options")
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.into(), value.into())
    }

    #[test]
    fn splits_c_and_long_options() {
        assert_eq!(
            pairs("  -c myapp.v=1  -cmyapp.w=2 --application-name=x\\ y -c a=b\\\\c"),
            vec![
                pair("myapp.v", "1"),
                pair("myapp.w", "2"),
                pair("application_name", "x y"),
                pair("a", "b\\c"),
            ]
        );
        assert_eq!(pairs("-c x.y="), vec![pair("x.y", "")]);
        assert_eq!(pairs(""), vec![]);
        assert_eq!(
            pairs("-B 100 -F"),
            vec![pair("shared_buffers", "100"), pair("fsync", "false")]
        );
    }

    #[test]
    fn bad_options_give_postgres_errors() {
        let e = split_startup_options("-x").unwrap_err();
        assert_eq!(
            e.message,
            "invalid command-line argument for server process: -x"
        );
        assert!(e.is_fatal());
        assert_eq!(e.sqlstate, sqlstate::SYNTAX_ERROR);
        let e = split_startup_options("-c").unwrap_err();
        assert_eq!(
            e.message,
            "invalid command-line argument for server process: -c"
        );
        let e = split_startup_options("-c foo").unwrap_err();
        assert_eq!(e.message, "-c foo requires a value");
        let e = split_startup_options("--foo").unwrap_err();
        assert_eq!(e.message, "--foo requires a value");
        let e = split_startup_options("-c a=1 junk").unwrap_err();
        assert_eq!(
            e.message,
            "invalid command-line argument for server process: junk"
        );
    }
}
