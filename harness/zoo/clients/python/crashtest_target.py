"""crashtest_target: write a crashtest target as two functions. Copy this file.

    from crashtest_target import serve, path

    def append(payload):        # append one record; return once it is as durable
        ...                     # as the scenario's `durability` says
    def replay():               # the records recovered, in log order (any iterable
        return [...]            # of bytes, a generator too)

    serve(append, replay)

`serve` speaks target protocol v1 (docs/target-protocol.md) for you. The scenario runs
your script as `python3 my_log.py write` and `python3 my_log.py replay` (arguments after
those are yours, in sys.argv[2:]); then:

  write   every stdin line is one record's payload in hex (an empty line is the empty
          record): serve calls append(payload) and, once it returns, prints the
          record's index in this writer's stream (0, 1, 2, ...) and flushes: the ack.
          At the end of stdin it calls close() and exits 0.
  replay  serve calls replay() and prints each record as a hex line, then close(),
          then exits 0.

An exception, in either role, exits 1 with its message on stderr (crashtest quotes it in
the finding); a missing role or $CRASHTEST_DIR exits 2 with a usage line. Two optional
hooks open an engine once per process rather than once per record:

    serve(append, replay, open=connect, close=disconnect)

open() runs before the first append (or the replay), close() after the end of stdin (or
the replay's last record); each role is a process of its own.

Where things are: path("wal.log") is a file in the trial's folder ($CRASHTEST_DIR, the
only place the log may keep files); writer() is this writer's index (0 .. writers()-1,
None in replay) and writers() how many run at once. Standard library only, Python 3.7+.
Kept in another folder than your script, import it by a path relative to the script:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "client"))
"""

import os
import sys

__all__ = ["serve", "path", "writer", "writers"]


def path(*names):
    """A path inside the trial's folder, $CRASHTEST_DIR."""
    return os.path.join(os.environ["CRASHTEST_DIR"], *names)


def writer():
    """This writer's index, 0 .. writers()-1; None in replay."""
    index = os.environ.get("CRASHTEST_WRITER")
    return None if index is None else int(index)


def writers():
    """How many writers append at once to the trial's folder."""
    return int(os.environ.get("CRASHTEST_WRITERS", "1"))


def serve(append, replay, open=None, close=None):
    """Run the role named by sys.argv[1] ("write" or "replay") and exit."""
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ("write", "replay") or not os.environ.get("CRASHTEST_DIR"):
        print(f"usage: CRASHTEST_DIR=DIR {sys.argv[0]} write|replay", file=sys.stderr)
        sys.exit(2)
    try:
        if open:
            open()
        if role == "write":
            for i, line in enumerate(sys.stdin):
                append(bytes.fromhex(line.rstrip("\n")))
                # The ack, only now that append returned: one write of "i\n".
                sys.stdout.write(f"{i}\n")
                sys.stdout.flush()
        else:
            for record in replay():
                sys.stdout.write(record.hex() + "\n")
            sys.stdout.flush()
        if close:
            close()
    except Exception as e:  # noqa: BLE001 - any failure is the target's verdict
        sys.exit(f"{os.path.basename(sys.argv[0])}: {role}: {type(e).__name__}: {e}")
    sys.exit(0)
