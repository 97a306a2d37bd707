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
the finding). `open` and `close` are optional hooks, called once per process before the
first call and after the last (open an engine once, not once per record).

Where things are: path("wal.log") is a file in the trial's folder ($CRASHTEST_DIR, the
only place the log may keep files); writer() is this writer's index (0 .. writers()-1,
None in replay) and writers() how many run at once. Standard library only, Python 3.7+.
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
        sys.exit(f"usage: CRASHTEST_DIR=DIR {sys.argv[0]} write|replay")
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
