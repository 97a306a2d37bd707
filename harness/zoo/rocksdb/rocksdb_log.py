#!/usr/bin/env python3
"""RocksDB (through rocksdict) as a crashtest target.

Usage: CRASHTEST_DIR=DIR python3 rocksdb_log.py write|replay sync|nosync

The database is $CRASHTEST_DIR itself. Record n is the key n as a big-endian u64
(so key order is log order) with the payload as its value, one Put per record with
WriteOptions.sync = True ("sync": the WAL is fsynced before Put returns) or False
("nosync": Put returns once the WAL record is written to the OS). A writer appends after
the highest key already there, so a writer started after recovery goes on from the
recovered records. RocksDB locks the database to one process: max_writers = 1.

Replay opens the database, which is where RocksDB recovers from its WAL, and prints the
values in key order.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../clients/python"))
from crashtest_target import path, serve  # noqa: E402
from rocksdict import Options, Rdict, WriteOptions  # noqa: E402

KEY = struct.Struct(">Q")


class Log:
    def open(self):
        options = Options(raw_mode=True)  # keys and values are bytes, stored as they are
        options.create_if_missing(True)
        self.db = Rdict(path(), options)
        self.write_options = WriteOptions()
        self.write_options.sync = sys.argv[2:] == ["sync"]
        last = self.db.iter()
        last.seek_to_last()
        self.next = KEY.unpack(last.key())[0] + 1 if last.valid() else 0

    def append(self, payload):
        self.db.put(KEY.pack(self.next), payload, self.write_options)
        self.next += 1

    def replay(self):
        return self.db.values()

    def close(self):
        self.db.close()


if __name__ == "__main__":
    if sys.argv[2:] not in (["sync"], ["nosync"]):
        sys.exit("usage: CRASHTEST_DIR=DIR rocksdb_log.py write|replay sync|nosync")
    log = Log()
    serve(log.append, log.replay, open=log.open, close=log.close)
