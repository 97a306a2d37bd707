//! redb as a crashtest target (protocol v1, through `crashtest-target`).
//!
//! Usage: `CRASHTEST_DIR=DIR zoo-redb write|replay immediate|none [plain-create]`
//!
//! The log is the table `log` in `$CRASHTEST_DIR/log.redb`: key the record's sequence
//! number (u64, the last key + 1), value its payload. Each record is one write
//! transaction with the durability named on the command line:
//!
//! - `immediate` (redb's default, `Durability::Immediate`): "Commits with this
//!   durability level are guaranteed to be persistent as soon as
//!   `WriteTransaction::commit` returns": the commit fsyncs, the ack promises "fsync".
//! - `none` (`Durability::None`): "Commits with this durability level will not be
//!   persisted to disk unless followed by a commit with `Durability::Immediate`." The
//!   commit lives in this process's memory, so even a SIGKILL may lose it: the ack
//!   promises nothing, and crashtest checks only that replay returns a prefix.
//!
//! Both open the file with `Database::create`, which repairs after a crash. A file that
//! does not exist yet is first made under a temporary name, renamed into place, and its
//! folder synced: `Database::create` alone leaves, after a crash in its first
//! milliseconds, a file it refuses to open ever after, and it never syncs the folder, so
//! a power loss may take the whole file (findings 1 and 2 in ../README.md).
//! `plain-create` skips that, to show the findings. Replay reads the table in key order.

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

use crashtest_target::{Error, dir, serve_with};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (durability, plain) = match args[..] {
        ["immediate"] => (Durability::Immediate, false),
        ["none"] => (Durability::None, false),
        ["immediate", "plain-create"] => (Durability::Immediate, true),
        ["none", "plain-create"] => (Durability::None, true),
        _ => {
            eprintln!(
                "usage: CRASHTEST_DIR=DIR zoo-redb write|replay immediate|none [plain-create]"
            );
            return ExitCode::from(2);
        }
    };
    serve_with(
        || open(&dir(), plain),
        |db, record| append(db, durability, record),
        replay,
    )
}

/// Opens `log.redb` in `folder`, making it first unless `plain` (see the top of the file).
fn open(folder: &Path, plain: bool) -> Result<Database, Error> {
    let path = folder.join("log.redb");
    if !plain && !path.exists() {
        let fresh = folder.join("log.redb.new");
        // Left by a crash during an earlier try: never renamed, so nothing in it counts.
        if fresh.exists() {
            std::fs::remove_file(&fresh)?;
        }
        Database::create(&fresh)?.close()?;
        std::fs::rename(&fresh, &path)?;
        File::open(folder)?.sync_all()?;
    }
    Ok(Database::create(path)?)
}

fn append(db: &mut Database, durability: Durability, record: &[u8]) -> Result<(), Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(durability)?;
    {
        let mut log = txn.open_table(LOG)?;
        let next = log.last()?.map_or(0, |(seq, _)| seq.value() + 1);
        log.insert(next, record)?;
    }
    // Immediate: returns after the fsync that makes the commit durable.
    txn.commit()?;
    Ok(())
}

fn replay(db: &mut Database) -> Result<Vec<Vec<u8>>, Error> {
    let txn = db.begin_read()?;
    let log = match txn.open_table(LOG) {
        Ok(log) => log,
        // A crash before the first commit leaves a database without the table.
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut records = Vec::new();
    for entry in log.iter()? {
        let (_, payload) = entry?;
        records.push(payload.value().to_vec());
    }
    Ok(records)
}
