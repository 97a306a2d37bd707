#!/usr/bin/env python3
"""LevelDB (through plyvel) as a crashtest target.

Usage: CRASHTEST_DIR=DIR python3 leveldb_log.py write|replay sync|nosync

The database is $CRASHTEST_DIR itself. Record n is the key n as a big-endian u64
(so key order is log order) with the payload as its value, one Put per record with
sync=True ("sync": the log is fsynced before Put returns) or sync=False ("nosync": Put
returns once the log record is written to the OS). A writer appends after the highest
key already there, so a writer started after recovery goes on from the recovered
records. LevelDB locks the database to one process: max_writers = 1.

Replay opens the database, which is where LevelDB recovers from its log, and prints the
values in key order.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../clients/python"))
from crashtest_target import path, serve  # noqa: E402
import plyvel  # noqa: E402

KEY = struct.Struct(">Q")


class Log:
    def open(self):
        self.db = plyvel.DB(path(), create_if_missing=True)
        self.sync = sys.argv[2:] == ["sync"]
        last = next(self.db.iterator(reverse=True, include_value=False), None)
        self.next = KEY.unpack(last)[0] + 1 if last is not None else 0

    def append(self, payload):
        self.db.put(KEY.pack(self.next), payload, sync=self.sync)
        self.next += 1

    def replay(self):
        return self.db.iterator(include_key=False)

    def close(self):
        self.db.close()


if __name__ == "__main__":
    if sys.argv[2:] not in (["sync"], ["nosync"]):
        sys.exit("usage: CRASHTEST_DIR=DIR leveldb_log.py write|replay sync|nosync")
    log = Log()
    serve(log.append, log.replay, open=log.open, close=log.close)
