#!/usr/bin/env python3
"""A minimal correct write-ahead log, as a crashtest target. Copy it to start your own.

Usage: CRASHTEST_DIR=DIR python3 example_wal.py write|replay
Scenario: scenarios/example.toml. Protocol: target protocol v1, in brief:

  write   stdin: one record a line, its payload in lowercase hex ("" is the
          empty record). After record i is appended and fsynced, print i on a
          line of its own and flush: the ack. At end of stdin, exit 0.
  replay  print each record recovered, in order, one hex line each; exit 0.

The log is $CRASHTEST_DIR/wal.log, a sequence of records:

    [u32 length, little-endian][u32 crc32 of the length bytes and the payload][payload]

A crash can leave a torn record at the end (a short header, a short payload, or
bytes whose CRC does not match: the CRC covers the length too, so a run of zeros,
which a power loss can leave, is not an empty record). Replay stops at the first
such record and cuts the file there, so the next writer appends after the last
good record. A new log's name is made durable by syncing its folder.
"""

import os
import struct
import sys
import zlib

HEADER = struct.Struct("<II")  # length, crc32


def log_path():
    return os.path.join(os.environ["CRASHTEST_DIR"], "wal.log")


def checksum(payload):
    return zlib.crc32(struct.pack("<I", len(payload)) + payload)


def write(sync_folder=True):
    fresh = not os.path.exists(log_path())
    with open(log_path(), "ab", buffering=0) as f:  # unbuffered: one write per record
        if fresh and sync_folder:
            # The file's name survives a power loss only once its folder is synced.
            folder = os.open(os.environ["CRASHTEST_DIR"], os.O_RDONLY)
            os.fsync(folder)
            os.close(folder)
        for i, line in enumerate(sys.stdin):
            payload = bytes.fromhex(line.rstrip("\n"))
            f.write(HEADER.pack(len(payload), checksum(payload)) + payload)
            os.fsync(f.fileno())  # durability = "fsync": on disk before the ack
            print(i, flush=True)  # the ack: one line, flushed


def replay():
    try:
        data = open(log_path(), "rb").read()
    except FileNotFoundError:
        return  # nothing written yet: an empty log
    off = 0
    while off + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, off)
        payload = data[off + HEADER.size : off + HEADER.size + length]
        if len(payload) < length or checksum(payload) != crc:
            break  # a torn or damaged record: the log ends here
        print(payload.hex())
        off += HEADER.size + length
    if off < len(data):
        # Cut the torn tail, so that records appended later are not hidden behind it.
        with open(log_path(), "r+b") as f:
            f.truncate(off)
            os.fsync(f.fileno())


if __name__ == "__main__":
    {"write": write, "replay": replay}[sys.argv[1]]()
