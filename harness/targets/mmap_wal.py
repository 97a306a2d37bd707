#!/usr/bin/env python3
"""example_wal.py's log, written through mmap instead of write(): correct, and invisible
to a write log. crashtest traces the ftruncate that grows the file but not the bytes
stored through the mapping, so a crash state built from the write log would hold zeros
where the records are. `crashtest run --exhaustive` checks a sample of built states
against real kills and stops with a harness error naming the file; with --reexec every
state comes from a real kill and the log passes. Scenario: mmap_wal.toml.
"""

import mmap
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import example_wal  # noqa: E402


def write():
    fresh = not os.path.exists(example_wal.log_path())
    with open(example_wal.log_path(), "a+b", buffering=0) as f:
        if fresh:
            folder = os.open(os.environ["CRASHTEST_DIR"], os.O_RDONLY)
            os.fsync(folder)
            os.close(folder)
        end = os.fstat(f.fileno()).st_size
        for i, line in enumerate(sys.stdin):
            payload = bytes.fromhex(line.rstrip("\n"))
            record = example_wal.HEADER.pack(len(payload), example_wal.checksum(payload)) + payload
            os.ftruncate(f.fileno(), end + len(record))
            with mmap.mmap(f.fileno(), end + len(record)) as m:
                m[end : end + len(record)] = record
                m.flush()
            end += len(record)
            os.fsync(f.fileno())
            print(i, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write()
    else:
        example_wal.replay()
