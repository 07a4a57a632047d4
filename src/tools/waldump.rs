//! `quill waldump -D DIR [--start LSN] [--stats]`: prints WAL records the way
//! pg_waldump does — resource manager, lengths, xid, LSN, prev-link, description and
//! block references — or, with `--stats`, counts per resource manager.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::storage::file_io::{FileIo, OsFileIo};
use crate::wal::checkpoint::{decode_next_oid, XLOG_CHECKPOINT_SHUTDOWN, XLOG_NEXTOID};
use crate::wal::control::{CheckpointInfo, ControlFile};
use crate::wal::reader::{WalDirectory, WalReader};
use crate::wal::record::{DecodedRecord, RmgrId};
use crate::wal::segment::{lsn_of_segment_start, parse_segment_file_name, TimeLineId};
use crate::wal::xlog::WAL_DIR;
use crate::wal::Lsn;

pub fn run(data_dir: &Path, start: Option<Lsn>, stats: bool) -> i32 {
    let io: Arc<dyn FileIo> = Arc::new(OsFileIo::new(data_dir));
    let control = ControlFile::read(io.as_ref()).ok();
    let timeline = control
        .map(|c| c.checkpoint_info.timeline)
        .unwrap_or(TimeLineId::FIRST);
    let Some(start) = start.or_else(|| first_record_lsn(io.as_ref())) else {
        eprintln!(
            "quill waldump: error: no WAL segments in \"{}\"",
            data_dir.join(WAL_DIR).display()
        );
        return 1;
    };
    let mut reader = WalReader::new(WalDirectory::new(Arc::clone(&io), WAL_DIR, timeline), start);
    let mut per_rmgr: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    loop {
        let rec = match reader.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(e) => {
                eprintln!("quill waldump: error: {e}");
                return 1;
            }
        };
        if stats {
            let entry = per_rmgr.entry(rec.record.rmgr().name()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(rec.record.total_len());
        } else {
            println!("{}", describe(rec.lsn, &rec.record));
        }
    }
    if stats {
        println!("{:<16}{:>10}{:>16}", "Type", "N", "Combined size");
        for (name, (n, bytes)) in &per_rmgr {
            println!("{name:<16}{n:>10}{bytes:>16}");
        }
    }
    if let Some(reason) = reader.end_reason() {
        eprintln!("quill waldump: end of WAL: {reason}");
    }
    0
}

/// The first record of the oldest segment present.
fn first_record_lsn(io: &dyn FileIo) -> Option<Lsn> {
    let names = io.list_dir(Path::new(WAL_DIR)).ok()?;
    let segno = names
        .iter()
        .filter_map(|n| parse_segment_file_name(n))
        .map(|(_, s)| s)
        .min()?;
    Some(Lsn(lsn_of_segment_start(segno).0 + 40))
}

/// One line per record, as pg_waldump prints it.
pub fn describe(lsn: Lsn, record: &DecodedRecord<'_>) -> String {
    let mut line = format!(
        "rmgr: {:<11} len (rec/tot): {:>6}/{:>6}, tx: {:>10}, lsn: {}, prev {}, desc: {}",
        record.rmgr().name(),
        record.main_data().len(),
        record.total_len(),
        record.xid(),
        lsn,
        record.prev(),
        description(record)
    );
    for block in record.blocks() {
        let r = &block.block_ref;
        line.push_str(&format!(
            ", blkref #{}: rel {} fork {:?} blk {}{}",
            block.id,
            r.rel,
            r.fork,
            r.block,
            if block.image.is_some() { " FPW" } else { "" }
        ));
    }
    line
}

fn description(record: &DecodedRecord<'_>) -> String {
    match record.rmgr() {
        RmgrId::Xlog if record.info() & 0xF0 == XLOG_NEXTOID => {
            match decode_next_oid(RmgrId::Xlog, record.info(), record.main_data()) {
                Some(oid) => format!("NEXTOID {oid}"),
                None => format!("info 0x{:02X}", record.info()),
            }
        }
        RmgrId::Xlog => match CheckpointInfo::decode(record.main_data()) {
            Some(info) => format!(
                "CHECKPOINT_{} redo {}; tli {}; xid 0:{}; oid {}",
                if record.info() == XLOG_CHECKPOINT_SHUTDOWN {
                    "SHUTDOWN"
                } else {
                    "ONLINE"
                },
                info.redo,
                info.timeline,
                info.next_xid,
                info.next_oid
            ),
            None => format!("info 0x{:02X}", record.info()),
        },
        _ => format!("info 0x{:02X}", record.info()),
    }
}
