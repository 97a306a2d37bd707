//! fjall as a crashtest target (protocol v1, through `crashtest-target`).
//!
//! Usage: `CRASHTEST_DIR=DIR zoo-fjall write|replay buffer|sync-data|sync-all`
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
//! Replay opens the database (recovery replays the journal and cuts a torn tail) and
//! reads the keyspace in key order.

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
    let persist = match std::env::args().nth(2).as_deref() {
        Some("buffer") => None,
        Some("sync-data") => Some(PersistMode::SyncData),
        Some("sync-all") => Some(PersistMode::SyncAll),
        _ => {
            eprintln!("usage: CRASHTEST_DIR=DIR zoo-fjall write|replay buffer|sync-data|sync-all");
            return ExitCode::from(2);
        }
    };
    serve_with(open, |log, record| append(log, persist, record), replay)
}

fn open() -> Result<Log, Error> {
    let db = Database::builder(dir().join("db")).open()?;
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
