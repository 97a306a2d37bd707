#!/usr/bin/env python3
"""SQLite in WAL mode as a crashtest target (target protocol v1).

Usage: CRASHTEST_DIR=DIR python3 sqlite_wal.py write|replay

The log is a table in $CRASHTEST_DIR/log.db:

    log(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)

one row per record, one transaction per row, journal_mode=WAL and synchronous=FULL:
SQLite fsyncs log.db-wal before COMMIT returns, so an ack promises what
durability = "fsync" says. crashtest truncates log.db-wal at random offsets
(scenarios/sqlite.toml); SQLite must then recover every commit whose frames lie
before the cut. A frame cut short fails its checksum and is ignored, with every
frame after it.

The protocol, as this script speaks it:

  write   stdin holds one record a line, its payload in lowercase hex (an empty
          line is the empty record). After record i's append is as durable as the
          scenario's `durability` promises, print i (0, 1, 2, ... in this
          writer's stream) on a line of its own and flush: that line is the ack.
          At the end of stdin, close the log and exit 0.
  replay  print every record recovered, in log order, one lowercase hex line
          each, and exit 0. Any other exit is a finding (replay-failed).

Everything goes in $CRASHTEST_DIR. stderr is free for messages.
Standard library only.
"""

import os
import sqlite3
import sys


def connect():
    path = os.path.join(os.environ["CRASHTEST_DIR"], "log.db")
    # isolation_level=None: the module opens no transaction behind our back; the
    # writer says BEGIN and COMMIT itself, so it knows when the commit happened.
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit (NORMAL would sync only at
    # checkpoints, and an ack would promise only durability = "process").
    db.execute("PRAGMA synchronous=FULL")
    return db


def write():
    db = connect()
    # IF NOT EXISTS: a writer started again after a crash appends to the same log.
    db.execute(
        "CREATE TABLE IF NOT EXISTS log(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)"
    )
    for i, line in enumerate(sys.stdin):
        payload = bytes.fromhex(line.rstrip("\n"))
        db.execute("BEGIN")
        # seq NULL: SQLite picks max(seq) + 1, so a resumed writer appends after the
        # records already there. (i numbers this writer's stream, not the log.)
        db.execute("INSERT INTO log(seq, payload) VALUES (NULL, ?)", (payload,))
        db.execute("COMMIT")  # returns after the WAL frames are written and fsynced
        # The ack: one write(2) of "i\n", only now that the commit returned.
        print(i, flush=True)
    # Leave without db.close(). Closing the last connection checkpoints: it copies the
    # WAL's pages into log.db in place, then deletes the WAL. A kill in the middle of
    # that, followed by a cut of the (already fsynced) WAL, leaves log.db half new with
    # nothing to complete it: "database disk image is malformed". No real crash cuts
    # synced bytes, so that is not a SQLite bug, but crashtest's truncate fault cannot
    # tell synced bytes apart and would report it. Every record is committed and synced
    # by now; the next connection recovers the WAL as it does after any crash.
    # (SQLite's auto-checkpoint, at 1000 WAL pages, has the same window: the scenario's
    # records stay far below it.)
    os._exit(0)


def replay():
    db = connect()
    # A crash (or a cut WAL) before CREATE TABLE committed leaves no table: an empty log.
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'log'"
    ).fetchone()
    if exists:
        for (payload,) in db.execute("SELECT payload FROM log ORDER BY seq"):
            sys.stdout.write(payload.hex() + "\n")
    sys.stdout.flush()
    db.close()


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("write", "replay") \
            or not os.environ.get("CRASHTEST_DIR"):
        sys.exit("usage: CRASHTEST_DIR=DIR sqlite_wal.py write|replay")
    try:
        write() if sys.argv[1] == "write" else replay()
    except sqlite3.Error as e:
        # Exit 1 with the reason on stderr: crashtest quotes it in the finding.
        sys.exit(f"sqlite_wal: {sys.argv[1]}: {e}")


if __name__ == "__main__":
    main()
