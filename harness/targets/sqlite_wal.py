#!/usr/bin/env python3
"""SQLite in WAL mode as a crashtest target, on the Python client (crashtest_target.py).

Usage: CRASHTEST_DIR=DIR python3 sqlite_wal.py write|replay

The log is a table in $CRASHTEST_DIR/log.db:

    log(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)

one row per record, one transaction per row, journal_mode=WAL and synchronous=FULL:
SQLite fsyncs log.db-wal before COMMIT returns, so an ack promises what
durability = "fsync" says. crashtest truncates log.db-wal at random offsets
(scenarios/sqlite.toml); SQLite must then recover every commit whose frames lie
before the cut. A frame cut short fails its checksum and is ignored, with every
frame after it. Standard library only.
"""

import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../zoo/clients/python"))
from crashtest_target import path, serve  # noqa: E402


class Log:
    def open(self):
        # isolation_level=None: the module opens no transaction behind our back; append
        # says BEGIN and COMMIT itself, so it knows when the commit happened.
        self.db = sqlite3.connect(path("log.db"), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit (NORMAL would sync only at
        # checkpoints, and an ack would promise only durability = "process").
        self.db.execute("PRAGMA synchronous=FULL")
        # IF NOT EXISTS: a writer started again after a crash appends to the same log,
        # and a replay after a crash before the first commit finds an empty one.
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS log(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)"
        )

    def append(self, payload):
        self.db.execute("BEGIN")
        # seq NULL: SQLite picks max(seq) + 1, so a resumed writer appends after the
        # records already there.
        self.db.execute("INSERT INTO log(seq, payload) VALUES (NULL, ?)", (payload,))
        self.db.execute("COMMIT")  # returns after the WAL frames are written and fsynced

    def replay(self):
        return (payload for (payload,) in self.db.execute("SELECT payload FROM log ORDER BY seq"))

    def close(self):
        if sys.argv[1] == "replay":
            self.db.close()
            return
        # The writer leaves without db.close(). Closing the last connection checkpoints:
        # it copies the WAL's pages into log.db in place, then deletes the WAL. A kill in
        # the middle of that, followed by a cut of the (already fsynced) WAL, leaves log.db
        # half new with nothing to complete it: "database disk image is malformed". No real
        # crash cuts synced bytes, so that is not a SQLite bug, but crashtest's truncate
        # fault cannot tell synced bytes apart and would report it. Every record is
        # committed and synced by now; the next connection recovers the WAL as it does
        # after any crash. (SQLite's auto-checkpoint, at 1000 WAL pages, has the same
        # window: the scenario's records stay far below it.)
        os._exit(0)


if __name__ == "__main__":
    log = Log()
    serve(log.append, log.replay, open=log.open, close=log.close)
