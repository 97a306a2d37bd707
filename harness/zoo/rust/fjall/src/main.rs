//! fjall as a crashtest target (protocol v1, through `crashtest-target`).
//!
//! Usage: `CRASHTEST_DIR=DIR zoo-fjall write|replay buffer|sync-data|sync-all [plain-create]`
//!
//! The log is the keyspace `log` of the database in `$CRASHTEST_DIR/db`: key the
//! record's sequence number (u64, big-endian so that keys sort in log order), value its
//! payload. Each record is one `Keyspace::insert`, followed by what the mode names:
//!
//! - `buffer`: nothing. fjall's README: "By default, any operation will flush to OS
//!   buffers, but **not** to disk." (`PersistMode::Buffer`: "This allows the OS to write
//!   out data in case of an application crash.") The ack promises "process".
//! - `sync-data`: `Database::persist(PersistMode::SyncData)`, "Flushes data using
//!   `fdatasync`": the ack promises "fsync".
//! - `sync-all`: `Database::persist(PersistMode::SyncAll)`, "Flushes data + metadata
//!   using `fsync`": the ack promises "fsync".
//!
//! Both open the database with `Database::builder(..).open()`, whose recovery replays
//! the journal. A database that does not exist yet is first made in a folder of its own,
//! closed, renamed into place, and the parent synced: fjall's open, killed while it
//! creates a database, leaves a folder that it refuses ever after (finding 3 in
//! ../README.md); the keyspace is made there too, and `keyspaces/` synced, since fjall
//! never syncs that folder after adding a keyspace to it (finding 4). `plain-create`
//! skips all that, to show the findings. Replay reads the keyspace in key order.

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

use crashtest_target::{Error, dir, serve_with};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

/// The open database, its log keyspace, and the next record's key.
struct Log {
    db: Database,
    log: Keyspace,
    next: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mode, plain) = match args[..] {
        [mode] => (mode, false),
        [mode, "plain-create"] => (mode, true),
        _ => ("", false),
    };
    let persist = match mode {
        "buffer" => None,
        "sync-data" => Some(PersistMode::SyncData),
        "sync-all" => Some(PersistMode::SyncAll),
        _ => {
            eprintln!(
                "usage: CRASHTEST_DIR=DIR zoo-fjall write|replay buffer|sync-data|sync-all [plain-create]"
            );
            return ExitCode::from(2);
        }
    };
    serve_with(
        || open(&dir(), plain),
        |log, record| append(log, persist, record),
        replay,
    )
}

/// Opens the database `db` in `folder`, making it first unless `plain` (see the top).
fn open(folder: &Path, plain: bool) -> Result<Log, Error> {
    let path = folder.join("db");
    if !plain && !path.exists() {
        let fresh = folder.join("db.new");
        // Left by a crash during an earlier try: never renamed, so nothing in it counts.
        if fresh.exists() {
            std::fs::remove_dir_all(&fresh)?;
        }
        {
            let db = Database::builder(&fresh).open()?;
            db.keyspace("log", KeyspaceCreateOptions::default)?;
            // Dropping the database stops its threads and syncs its journal.
        }
        // fjall syncs a new keyspace's own folder, not its name in keyspaces/
        // (finding 4 in ../README.md).
        File::open(fresh.join("keyspaces"))?.sync_all()?;
        std::fs::rename(&fresh, &path)?;
        File::open(folder)?.sync_all()?;
    }
    let db = Database::builder(path).open()?;
    let log = db.keyspace("log", KeyspaceCreateOptions::default)?;
    let next = match log.last_key_value() {
        Some(last) => u64::from_be_bytes(last.key()?.as_ref().try_into()?) + 1,
        None => 0,
    };
    Ok(Log { db, log, next })
}

fn append(log: &mut Log, persist: Option<PersistMode>, record: &[u8]) -> Result<(), Error> {
    // Without manual_journal_persist, insert writes the journal entry to the OS.
    log.log.insert(log.next.to_be_bytes(), record)?;
    log.next += 1;
    if let Some(mode) = persist {
        log.db.persist(mode)?;
    }
    Ok(())
}

fn replay(log: &mut Log) -> Result<Vec<Vec<u8>>, Error> {
    let mut records = Vec::new();
    for entry in log.log.iter() {
        records.push(entry.value()?.to_vec());
    }
    Ok(records)
}
