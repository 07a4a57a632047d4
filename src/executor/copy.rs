//! `COPY table [(columns)] FROM STDIN` and `COPY table [(columns)] TO STDOUT` in
//! text and CSV formats (`copy_text.rs`), with PostgreSQL's options `FORMAT
//! text|csv`, `DELIMITER`, `NULL`, `HEADER`, `QUOTE`, `ESCAPE` and `FREEZE`.
//!
//! The data moves through a [`CopyChannel`] the backend implements over the
//! connection; this module never sees the socket. After an error while COPY IN
//! is running, the backend discards the client's remaining data up to CopyDone
//! or CopyFail (PostgreSQL's behaviour), so the session stays in sync.
//!
//! # Rules
//! 1. A row goes through the same checks as INSERT's: each field is converted
//!    by its column's input function with the column's typmod (an over-long
//!    `varchar(n)` value is an error, as in an assignment), then NOT NULL on the
//!    whole row, then `heap_insert` stamped with the statement's `(xid, cid)`.
//! 2. Errors in the data carry PostgreSQL's CONTEXT (`COPY t, line 2, column a:
//!    "x"`); the transaction aborts as for any statement error.
//! 3. FREEZE is accepted only where PostgreSQL accepts it (the table's file was
//!    created in this transaction); rows are then written as usual, not frozen.
//!
//! Not yet (0A000): the binary format, FORCE_QUOTE / FORCE_NULL / FORCE_NOT_NULL,
//! ENCODING, files and programs, `COPY (query) TO`.

use pg_query::protobuf;
use pg_query::NodeEnum;

use super::copy_text::{self, LineSplitter};
use super::{command, str_value, unsupported, StorageContext, Table, XidSource};
use crate::access::heap::heapam::{heap_insert, heap_scan};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::sql::types::SqlType;
use crate::sql::value::{apply_char_typmod, datum_from_text, Datum, OutputFormat};
use crate::sql::{CopyChannel, CopyInput, QueryResult, SessionContext};
use crate::txn::snapshot::ClogOracle;

/// The options of one COPY statement.
struct CopyOptions {
    /// CSV's `(quote, escape)`; `None` for the text format.
    csv: Option<(u8, u8)>,
    delimiter: u8,
    null: Vec<u8>,
    header: bool,
    freeze: bool,
}

/// Runs a COPY statement.
pub fn execute_copy(
    node: &NodeEnum,
    ctx: &StorageContext<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
    channel: &mut dyn CopyChannel,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    let NodeEnum::CopyStmt(s) = node else {
        return Err(QuillError::internal("not a COPY statement"));
    };
    if !s.filename.is_empty() || s.is_program {
        return Err(unsupported("COPY to or from a file or program"));
    }
    if s.where_clause.is_some() {
        return Err(unsupported("COPY FROM ... WHERE"));
    }
    let Some(rv) = &s.relation else {
        return Err(unsupported("COPY (query) TO"));
    };
    let options = copy_options(s, ctx)?;
    // PostgreSQL reports COPY's errors without a position.
    let table = Table::open(ctx, rv, false).map_err(|mut e| {
        e.position = None;
        e
    })?;
    let columns = copy_columns(s, &table)?;
    if s.is_from {
        table.check_writable()?;
        if table.rel.kind != b'r' {
            return Err(QuillError::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("cannot copy to non-table relation \"{}\"", table.rel.name),
            ));
        }
        let reader = RowReader {
            table: &table,
            columns: &columns,
            options: &options,
            ctx,
            format,
            xid: 0,
            line_no: 0,
            rows: 0,
            ended: false,
        };
        copy_from(reader, xids, session, channel)
    } else {
        if table.rel.kind != b'r' {
            return Err(QuillError::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("cannot copy from non-table relation \"{}\"", table.rel.name),
            ));
        }
        copy_to(&table, &columns, &options, ctx, channel, format)
    }
}

/// PostgreSQL's ProcessCopyOptions, for the options Quill has.
fn copy_options(s: &protobuf::CopyStmt, ctx: &StorageContext<'_>) -> QuillResult<CopyOptions> {
    let mut delimiter: Option<String> = None;
    let mut null: Option<String> = None;
    let mut header: Option<bool> = None;
    let mut freeze: Option<bool> = None;
    let mut format: Option<String> = None;
    let mut quote: Option<String> = None;
    let mut escape: Option<String> = None;
    let at = |e: QuillError, location: i32| {
        e.with_position_opt(crate::sql::char_position(ctx.query.text, location))
    };
    for option in &s.options {
        let Some(NodeEnum::DefElem(d)) = &option.node else {
            return Err(QuillError::internal("COPY option is not a DefElem"));
        };
        let redundant = || {
            at(
                QuillError::syntax("conflicting or redundant options", None),
                d.location,
            )
        };
        let arg = d.arg.as_deref();
        match d.defname.as_str() {
            "format" if format.is_none() => format = Some(def_string(d, arg)?),
            "delimiter" if delimiter.is_none() => delimiter = Some(def_string(d, arg)?),
            "null" if null.is_none() => null = Some(def_string(d, arg)?),
            "header" if header.is_none() => header = Some(def_boolean(d, arg)?),
            "freeze" if freeze.is_none() => freeze = Some(def_boolean(d, arg)?),
            "quote" if quote.is_none() => quote = Some(def_string(d, arg)?),
            "escape" if escape.is_none() => escape = Some(def_string(d, arg)?),
            "format" | "delimiter" | "null" | "header" | "freeze" | "quote" | "escape" => {
                return Err(redundant())
            }
            "force_quote" | "force_not_null" | "force_null" | "encoding" => {
                return Err(unsupported(&format!("COPY option \"{}\"", d.defname)));
            }
            other => {
                return Err(at(
                    QuillError::syntax(format!("option \"{other}\" not recognized"), None),
                    d.location,
                ))
            }
        }
    }
    let csv = match format.as_deref() {
        None | Some("text") => false,
        Some("csv") => true,
        Some("binary") => {
            return Err(unsupported(&format!(
                "COPY format \"{}\"",
                format.unwrap_or_default()
            )))
        }
        Some(other) => {
            let location = s
                .options
                .iter()
                .find_map(|o| match &o.node {
                    Some(NodeEnum::DefElem(d)) if d.defname == "format" => Some(d.location),
                    _ => None,
                })
                .unwrap_or(-1);
            return Err(at(
                QuillError::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("COPY format \"{other}\" not recognized"),
                ),
                location,
            ));
        }
    };
    let delimiter = match delimiter {
        None if csv => b',',
        None => b'\t',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some(_) => {
            return Err(QuillError::feature_not_supported(
                "COPY delimiter must be a single one-byte character",
            ))
        }
    };
    if delimiter == b'\n' || delimiter == b'\r' {
        return Err(QuillError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "COPY delimiter cannot be newline or carriage return",
        ));
    }
    if !csv && b"\\.abcdefghijklmnopqrstuvwxyz0123456789".contains(&delimiter) {
        return Err(QuillError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("COPY delimiter cannot be \"{}\"", delimiter as char),
        ));
    }
    let null = null.unwrap_or_else(|| if csv { "" } else { "\\N" }.to_string());
    if null.contains(['\n', '\r']) {
        return Err(QuillError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "COPY null representation cannot use newline or carriage return",
        ));
    }
    if null.as_bytes().contains(&delimiter) {
        return Err(QuillError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "COPY delimiter must not appear in the NULL specification",
        ));
    }
    let csv = if csv {
        let quote = one_byte("quote", quote.as_deref().unwrap_or("\""))?;
        let escape = match &escape {
            Some(e) => one_byte("escape", e)?,
            None => quote,
        };
        if quote == delimiter {
            return Err(QuillError::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                "COPY delimiter and quote must be different",
            ));
        }
        Some((quote, escape))
    } else {
        for (name, given) in [("quote", &quote), ("escape", &escape)] {
            if given.is_some() {
                return Err(QuillError::feature_not_supported(format!(
                    "COPY {name} available only in CSV mode"
                )));
            }
        }
        None
    };
    let freeze = freeze.unwrap_or(false);
    if freeze && !s.is_from {
        return Err(unsupported_freeze_to());
    }
    Ok(CopyOptions {
        csv,
        delimiter,
        null: null.into_bytes(),
        header: header.unwrap_or(false),
        freeze,
    })
}

/// A quote or escape character: exactly one byte.
fn one_byte(name: &str, value: &str) -> QuillResult<u8> {
    match value.as_bytes() {
        [b] => Ok(*b),
        _ => Err(QuillError::feature_not_supported(format!(
            "COPY {name} must be a single one-byte character"
        ))),
    }
}

fn unsupported_freeze_to() -> QuillError {
    QuillError::feature_not_supported("COPY FREEZE cannot be used with COPY TO")
}

/// PostgreSQL's defGetString: the option's value as text.
fn def_string(d: &protobuf::DefElem, arg: Option<&protobuf::Node>) -> QuillResult<String> {
    match arg.and_then(|a| a.node.as_ref()) {
        Some(NodeEnum::String(s)) => Ok(s.sval.clone()),
        Some(NodeEnum::Integer(i)) => Ok(i.ival.to_string()),
        Some(NodeEnum::Float(f)) => Ok(f.fval.clone()),
        Some(NodeEnum::Boolean(b)) => Ok(if b.boolval { "true" } else { "false" }.into()),
        _ => Err(QuillError::syntax(
            format!("{} requires a parameter", d.defname),
            None,
        )),
    }
}

/// PostgreSQL's defGetBoolean: no value means true.
fn def_boolean(d: &protobuf::DefElem, arg: Option<&protobuf::Node>) -> QuillResult<bool> {
    let bad = || QuillError::syntax(format!("{} requires a Boolean value", d.defname), None);
    match arg.and_then(|a| a.node.as_ref()) {
        None => Ok(true),
        Some(NodeEnum::Integer(i)) => match i.ival {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad()),
        },
        Some(NodeEnum::Boolean(b)) => Ok(b.boolval),
        Some(NodeEnum::String(s)) => match s.sval.to_ascii_lowercase().as_str() {
            "true" | "on" => Ok(true),
            "false" | "off" => Ok(false),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// The columns named (or all, in order); PostgreSQL's CopyGetAttnums.
fn copy_columns(s: &protobuf::CopyStmt, table: &Table) -> QuillResult<Vec<usize>> {
    if s.attlist.is_empty() {
        return Ok((0..table.rel.columns.len()).collect());
    }
    let mut out = Vec::with_capacity(s.attlist.len());
    for item in &s.attlist {
        let name = str_value(item);
        let Some(i) = table.scope.column_index(name) else {
            return Err(QuillError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!(
                    "column \"{name}\" of relation \"{}\" does not exist",
                    table.rel.name
                ),
            ));
        };
        if out.contains(&i) {
            return Err(QuillError::new(
                sqlstate::DUPLICATE_COLUMN,
                format!("column \"{name}\" specified more than once"),
            ));
        }
        out.push(i);
    }
    Ok(out)
}

/// COPY FROM STDIN: reads the client's rows and inserts each.
fn copy_from(
    mut reader: RowReader<'_>,
    xids: &mut dyn XidSource,
    session: &mut dyn SessionContext,
    channel: &mut dyn CopyChannel,
) -> QuillResult<QueryResult> {
    let (table, ctx) = (reader.table, reader.ctx);
    channel.begin_copy_in(reader.columns.len())?;
    if reader.options.freeze && !xids.created_in_transaction(table.node(ctx)) {
        return Err(QuillError::new(
            sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
            "cannot perform COPY FREEZE because the table was not created or truncated in the current subtransaction",
        ));
    }
    let mut lines = match reader.options.csv {
        Some((quote, escape)) => LineSplitter::csv(quote, escape),
        None => LineSplitter::default(),
    };
    loop {
        session.check_for_interrupts()?;
        match channel.next_copy_in()? {
            CopyInput::Data(data) => {
                lines.push(&data);
                for line in lines.take_lines() {
                    reader.line(&line, xids)?;
                }
            }
            CopyInput::Done => {
                if let Some(line) = lines.finish() {
                    reader.line(&line, xids)?;
                }
                break;
            }
            CopyInput::Fail(message) => {
                return Err(QuillError::new(
                    sqlstate::QUERY_CANCELED,
                    format!("COPY from stdin failed: {message}"),
                ));
            }
        }
    }
    Ok(command(format!("COPY {}", reader.rows)))
}

/// Turns lines into inserted rows, counting lines for error contexts.
struct RowReader<'a> {
    table: &'a Table,
    columns: &'a [usize],
    options: &'a CopyOptions,
    ctx: &'a StorageContext<'a>,
    format: OutputFormat,
    /// 0 until the first row is written.
    xid: u32,
    line_no: u64,
    rows: u64,
    /// The end-of-data marker `\.` was seen: the rest is ignored.
    ended: bool,
}

impl RowReader<'_> {
    fn line(&mut self, line: &[u8], xids: &mut dyn XidSource) -> QuillResult<()> {
        if self.ended {
            return Ok(());
        }
        self.line_no += 1;
        if self.line_no == 1 && self.options.header {
            return Ok(());
        }
        if line == b"\\." {
            self.ended = true;
            return Ok(());
        }
        let context = || {
            format!(
                "COPY {}, line {}: \"{}\"",
                self.table.rel.name,
                self.line_no,
                copy_text::display(line)
            )
        };
        let add_context = |e: QuillError| {
            if e.context.is_some() {
                e
            } else {
                e.with_context(context())
            }
        };
        let options = self.options;
        let fields = match options.csv {
            Some((quote, escape)) => {
                copy_text::parse_csv_line(line, options.delimiter, quote, escape, &options.null)
            }
            None => copy_text::parse_line(line, options.delimiter, &options.null),
        }
        .map_err(add_context)?;
        let row = self.row(fields).map_err(add_context)?;
        let ctx = self.ctx;
        let table = self.table;
        if self.xid == 0 {
            self.xid = xids.ensure_xid()?;
        }
        let tuple = table.form(&row, self.xid, ctx.cid).map_err(add_context)?;
        heap_insert(
            ctx.pool,
            ctx.wal,
            table.node(ctx),
            &tuple,
            ctx.full_page_writes,
        )
        .map_err(add_context)?;
        self.rows += 1;
        Ok(())
    }

    /// The fields converted to a whole row (NULL in columns not copied).
    fn row(&self, fields: Vec<Option<String>>) -> QuillResult<Vec<Datum>> {
        let table = self.table;
        if fields.len() > self.columns.len() {
            return Err(QuillError::new(
                sqlstate::BAD_COPY_FILE_FORMAT,
                "extra data after last expected column",
            ));
        }
        if fields.len() < self.columns.len() {
            let missing = &table.scope.columns[self.columns[fields.len()]].name;
            return Err(QuillError::new(
                sqlstate::BAD_COPY_FILE_FORMAT,
                format!("missing data for column \"{missing}\""),
            ));
        }
        let mut row = vec![Datum::Null; table.rel.columns.len()];
        for (field, &i) in fields.into_iter().zip(self.columns) {
            let Some(text) = field else { continue };
            let col = &table.scope.columns[i];
            row[i] = column_input(col.ty, col.typmod, &text).map_err(|e| {
                e.with_context(format!(
                    "COPY {}, line {}, column {}: \"{}\"",
                    table.rel.name,
                    self.line_no,
                    col.name,
                    copy_text::display(text.as_bytes())
                ))
            })?;
        }
        table.check_not_null(&row, self.format)?;
        Ok(row)
    }
}

/// A column's input function with its typmod applied as an assignment does
/// (`varchar(3)` refuses "abcd" instead of cutting it).
fn column_input(ty: SqlType, typmod: i32, text: &str) -> QuillResult<Datum> {
    match ty {
        SqlType::Bpchar | SqlType::Varchar => Ok(Datum::Text(apply_char_typmod(
            ty,
            typmod,
            text.to_string(),
            false,
        )?)),
        _ => datum_from_text(ty, typmod, text),
    }
}

/// COPY TO STDOUT: sends every row the statement's snapshot sees.
fn copy_to(
    table: &Table,
    columns: &[usize],
    options: &CopyOptions,
    ctx: &StorageContext<'_>,
    channel: &mut dyn CopyChannel,
    format: OutputFormat,
) -> QuillResult<QueryResult> {
    channel.begin_copy_out(columns.len())?;
    let delimiter = options.delimiter;
    let mut out = Vec::new();
    if options.header {
        for (n, &i) in columns.iter().enumerate() {
            if n > 0 {
                out.push(delimiter);
            }
            put_value(
                &mut out,
                &table.scope.columns[i].name,
                options,
                columns.len(),
            );
        }
        out.push(b'\n');
        channel.copy_out(&out)?;
    }
    let oracle = ClogOracle::new(ctx.clog, ctx.my_xid);
    let mut rows = 0u64;
    for item in heap_scan(ctx.pool, table.node(ctx), ctx.snapshot, &oracle)? {
        let (_, tuple) = item?;
        let row = table.row_of(&tuple)?;
        out.clear();
        for (n, &i) in columns.iter().enumerate() {
            if n > 0 {
                out.push(delimiter);
            }
            match row[i].to_text(format) {
                None => out.extend_from_slice(&options.null),
                Some(text) => put_value(&mut out, &text, options, columns.len()),
            }
        }
        out.push(b'\n');
        channel.copy_out(&out)?;
        rows += 1;
    }
    Ok(command(format!("COPY {rows}")))
}

/// One non-NULL value in the statement's format.
fn put_value(out: &mut Vec<u8>, value: &str, options: &CopyOptions, columns: usize) {
    match options.csv {
        Some((quote, escape)) => copy_text::csv_escape_into(
            out,
            value,
            options.delimiter,
            quote,
            escape,
            &options.null,
            columns == 1,
        ),
        None => copy_text::escape_into(out, value, options.delimiter),
    }
}
