#!/usr/bin/env python3
"""Broken on purpose: example_wal.py, but the writer never syncs the folder after it
creates the log. Every record is fsynced before its ack, so SIGKILL finds nothing; after a
power loss on a fresh log the file's name itself may be gone, and every acked record with
it. Scenario: no_dir_fsync.toml (expect = "fail", lost-ack under power loss)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import example_wal  # noqa: E402

if __name__ == "__main__":
    if sys.argv[1] == "write":
        example_wal.write(sync_folder=False)
    else:
        example_wal.replay()
