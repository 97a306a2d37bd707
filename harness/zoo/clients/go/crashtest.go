// Package crashtest serves a log as a crashtest target (target protocol v1), so that the
// only code you write is how to append one record and how to read them all back.
//
// Copy this one file into your project (package crashtest, standard library only) and
// write a main:
//
//	func main() {
//		crashtest.Serve(appendRecord, replay)
//	}
//
//	// appendRecord appends rec and returns once it is as durable as the scenario's
//	// `durability` says ("fsync": on disk; "process": it survives the process's death).
//	func appendRecord(rec []byte) error { ... }
//
//	// replay calls emit with each record recovered from crashtest.Dir, in log order.
//	func replay(emit func(rec []byte)) error { ... }
//
// An engine that should be opened once per writer process and closed at the end uses
// ServeOpen instead: open returns the append function and a close function (nil when
// there is nothing to close).
//
// Serve runs the command named by the first argument (the first one left after flag
// parsing, if main parsed flags):
//
//	write   reads one record a line from stdin, its payload in hex (an empty line is the
//	        empty record), appends it, and then prints its index (0, 1, 2, ...) on a line
//	        of its own: the ack. At end of stdin it closes and exits 0.
//	replay  prints each record replay emits as a hex line and exits 0; an error from
//	        replay exits 1 with the message on stderr, which crashtest reports.
//
// Before calling anything, Serve fills Dir, Writer and Writers from the environment
// crashtest sets (CRASHTEST_DIR, CRASHTEST_WRITER, CRASHTEST_WRITERS). Keep every file
// of the log inside Dir.
package crashtest

import (
	"bufio"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Dir is the folder the log lives in: $CRASHTEST_DIR.
var Dir string

// Writer is this writer's index, 0 .. Writers-1 ($CRASHTEST_WRITER; 0 in replay).
var Writer int

// Writers is how many writers run at once on Dir ($CRASHTEST_WRITERS; 1 when unset).
var Writers = 1

// Serve runs the target: appendRecord is called once per record sent, replay once per replay.
// It does not return.
func Serve(appendRecord func(rec []byte) error, replay func(emit func(rec []byte)) error) {
	ServeOpen(func() (func([]byte) error, func() error, error) { return appendRecord, nil, nil }, replay)
}

// ServeOpen is Serve for an engine opened once per writer process: open runs before the
// first record is read, and the close it returns after the last one. It does not return.
func ServeOpen(
	open func() (appendRecord func(rec []byte) error, closeLog func() error, err error),
	replay func(emit func(rec []byte)) error,
) {
	args := os.Args[1:]
	if flag.Parsed() {
		args = flag.Args()
	}
	Dir = os.Getenv("CRASHTEST_DIR")
	Writer, _ = strconv.Atoi(os.Getenv("CRASHTEST_WRITER"))
	if n, err := strconv.Atoi(os.Getenv("CRASHTEST_WRITERS")); err == nil {
		Writers = n
	}
	if len(args) != 1 || Dir == "" || (args[0] != "write" && args[0] != "replay") {
		fmt.Fprintf(os.Stderr, "usage: CRASHTEST_DIR=DIR %s write|replay\n", os.Args[0])
		os.Exit(2)
	}
	var err error
	if args[0] == "write" {
		err = write(open)
	} else {
		out := bufio.NewWriter(os.Stdout)
		err = replay(func(rec []byte) { fmt.Fprintln(out, hex.EncodeToString(rec)) })
		if ferr := out.Flush(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", args[0], err)
		os.Exit(1)
	}
	os.Exit(0)
}

// write opens the log, appends and acks each record read from stdin, and closes it.
func write(open func() (func([]byte) error, func() error, error)) error {
	appendRecord, closeLog, err := open()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	in := bufio.NewReader(os.Stdin)
	for i := 0; ; i++ {
		line, err := in.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read stdin: %w", err)
		}
		rec, err := hex.DecodeString(strings.TrimSuffix(line, "\n"))
		if err != nil {
			return fmt.Errorf("record %d is not hex: %w", i, err)
		}
		if err := appendRecord(rec); err != nil {
			return fmt.Errorf("append record %d: %w", i, err)
		}
		// The ack: one line in one write(2) (os.Stdout is not buffered).
		if _, err := fmt.Fprintf(os.Stdout, "%d\n", i); err != nil {
			return err
		}
	}
	if closeLog != nil {
		if err := closeLog(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
	}
	return nil
}
