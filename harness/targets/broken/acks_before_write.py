#!/usr/bin/env python3
"""BROKEN ON PURPOSE: acks a record before it writes it.

Usage: CRASHTEST_DIR=DIR python3 acks_before_write.py write|replay   (target protocol v1)
Scenario: acks_before_write.toml (expect = "fail": crashtest must report lost-ack).

The log format and replay are those of ../example_wal.py ([u32 len][u32 crc32][payload],
replay stops at the first torn record), and it promises only durability = "process":
an acked record must survive the death of the writer. But the writer prints the ack
first and appends afterwards, so a SIGKILL between the two loses a record the caller
was told is safe. The fix: swap the two lines marked below.
"""

import os
import struct
import sys
import zlib

HEADER = struct.Struct("<II")  # length, crc32


def log_path():
    return os.path.join(os.environ["CRASHTEST_DIR"], "wal.log")


def write():
    with open(log_path(), "ab", buffering=0) as f:
        for i, line in enumerate(sys.stdin):
            payload = bytes.fromhex(line.rstrip("\n"))
            print(i, flush=True)  # the bug: the ack goes out ...
            f.write(HEADER.pack(len(payload), zlib.crc32(payload)) + payload)  # ... first


def replay():
    try:
        data = open(log_path(), "rb").read()
    except FileNotFoundError:
        return
    off = 0
    while off + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, off)
        payload = data[off + HEADER.size : off + HEADER.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        print(payload.hex())
        off += HEADER.size + length
    if off < len(data):
        with open(log_path(), "r+b") as f:
            f.truncate(off)


if __name__ == "__main__":
    {"write": write, "replay": replay}[sys.argv[1]]()
