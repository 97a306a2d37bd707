#!/bin/sh
# BROKEN ON PURPOSE: a replay that cannot start from a torn tail (PILOT-82's bug, in sh).
#
# Usage: CRASHTEST_DIR=DIR sh strict_replay.sh write|replay   (target protocol v1)
# Scenario: strict_replay.toml (expect = "fail": crashtest must report replay-failed).
#
# The log is $CRASHTEST_DIR/wal.txt, one record a line, in hex as it came on stdin.
# The writer appends each line with one write(2) (dash's printf builds the whole line,
# then writes it once), so a SIGKILL alone never tears a line. A file that lost its end
# does: truncated at a random offset, the last line is cut short and has no newline.
# This replay treats that as a hard error, exits 1, and the log can never be opened
# again. The fix: drop a last line without its newline (and cut it from the file).
set -eu
log="$CRASHTEST_DIR/wal.txt"
case "${1-}" in
write)
	i=0
	while IFS= read -r hex; do
		printf '%s\n' "$hex" >>"$log"
		echo "$i" # the ack; no fsync, so durability = "process"
		i=$((i + 1))
	done
	;;
replay)
	[ -e "$log" ] || exit 0
	# $(...) strips a trailing newline: the last byte is something else iff this is non-empty.
	if [ -n "$(tail -c 1 "$log")" ]; then
		echo "strict_replay: torn last line in $log" >&2
		exit 1
	fi
	cat "$log"
	;;
*)
	echo "usage: CRASHTEST_DIR=DIR strict_replay.sh write|replay" >&2
	exit 2
	;;
esac
