//! `quill controldata -D DIR`: prints `global/pg_control` the way pg_controldata does.

use std::path::Path;

use crate::storage::file_io::OsFileIo;
use crate::wal::control::{ControlFile, CATALOG_VERSION, CONTROL_FILE_SIZE, PG_CONTROL_VERSION};
use crate::wal::recovery::format_time;
use crate::wal::segment::{segment_file_name, segno_of, WAL_SEGMENT_SIZE, XLOG_BLCKSZ};

pub fn run(data_dir: &Path) -> i32 {
    let io = OsFileIo::new(data_dir);
    let control = match ControlFile::read(&io) {
        Ok(control) => control,
        Err(e) => {
            eprintln!("quill controldata: error: {e}");
            return 1;
        }
    };
    print!("{}", render(&control));
    0
}

pub fn render(c: &ControlFile) -> String {
    let info = &c.checkpoint_info;
    let rows: Vec<(&str, String)> = vec![
        ("pg_control version number", PG_CONTROL_VERSION.to_string()),
        ("Catalog version number", CATALOG_VERSION.to_string()),
        (
            "Database system identifier",
            c.system_identifier.to_string(),
        ),
        ("Database cluster state", c.state.describe().to_string()),
        ("pg_control last modified", format_time(c.time)),
        ("Latest checkpoint location", c.checkpoint.to_string()),
        ("Latest checkpoint's REDO location", info.redo.to_string()),
        (
            "Latest checkpoint's REDO WAL file",
            segment_file_name(info.timeline, segno_of(info.redo)),
        ),
        (
            "Latest checkpoint's TimeLineID",
            info.timeline.0.to_string(),
        ),
        (
            "Latest checkpoint's NextXID",
            format!("0:{}", info.next_xid),
        ),
        ("Latest checkpoint's NextOID", info.next_oid.to_string()),
        ("Time of latest checkpoint", format_time(info.time)),
        ("Database block size", "8192".to_string()),
        ("Blocks per segment of large relation", "131072".to_string()),
        ("WAL block size", XLOG_BLCKSZ.to_string()),
        ("Bytes per WAL segment", WAL_SEGMENT_SIZE.to_string()),
        ("Maximum length of identifiers", "64".to_string()),
        ("Size of control file", CONTROL_FILE_SIZE.to_string()),
        (
            "Data page checksum version",
            c.data_checksum_version.to_string(),
        ),
    ];
    rows.iter()
        .map(|(k, v)| format!("{:<38}{v}\n", format!("{k}:")))
        .collect()
}
