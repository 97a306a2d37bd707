// Command gowal is the PILOT-82 write-ahead log in Go, served as a crashtest target
// (target protocol v1).
//
// A record is [u32 length, little-endian][payload] in $CRASHTEST_DIR/wal.log.
// -mode picks the Append/Replay pair:
//
//	prefix   the code before the fix: Append writes the length and the payload in two
//	         f.Write calls, and Replay returns a hard error on a short payload, so a
//	         crash between the two writes leaves a log the server cannot start from.
//	postfix  the fix: one f.Write of [len][data], and a short length or payload at the
//	         end of the log is a torn tail: Replay stops there and succeeds.
//
// Two flags shape the postfix writer for the speed bench (they change no Replay):
//
//	-split   Append writes the length and the payload in two f.Write calls, as prefix
//	         does; postfix's Replay reads the gap as a torn tail, so it stays correct.
//	-fsync   Append syncs the file (fsync) before it returns, so before the ack.
//
// Usage: gowal [-mode prefix|postfix] [-split] [-fsync] write|replay
//
// The writer appends from a log goroutine fed by a channel, as a server would, so the
// process runs on several OS threads and the Go runtime's signals (SIGURG) are in play.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WAL is an append-only log file.
type WAL struct {
	f        *os.File
	onewrite bool // postfix: the length and the payload go out in one Write
	sync     bool // -fsync: fsync after each record
}

// Open opens (creating) the log at path for appending.
func Open(path string, onewrite, sync bool) (*WAL, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &WAL{f: f, onewrite: onewrite, sync: sync}, nil
}

// Append writes one record. Without -fsync it does not sync: an ack promises only that
// the record reached the kernel (durability = "process").
func (w *WAL) Append(data []byte) error {
	if err := w.write(data); err != nil {
		return err
	}
	if w.sync {
		return w.f.Sync()
	}
	return nil
}

func (w *WAL) write(data []byte) error {
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(data)))
	if w.onewrite {
		_, err := w.f.Write(append(hdr[:], data...))
		return err
	}
	// The bug (with prefix's Replay): a crash between these two writes leaves a length
	// with no payload.
	if _, err := w.f.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.f.Write(data)
	return err
}

// Close closes the log file.
func (w *WAL) Close() error { return w.f.Close() }

// Replay calls fn with each record of the log at path, in order. With tornOK (postfix)
// a record cut short at the end of the log ends the replay; without it (prefix) it is
// the hard error of PILOT-82. A missing log holds no records.
func Replay(path string, tornOK bool, fn func([]byte)) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for off := int64(0); ; {
		var n uint32
		err := binary.Read(r, binary.LittleEndian, &n)
		if err == io.EOF {
			return nil // a clean end between records
		}
		if err == io.ErrUnexpectedEOF && tornOK {
			return nil // a torn length
		}
		if err != nil {
			return fmt.Errorf("read length at offset %d: %w", off, err)
		}
		// No checksum: the length is trusted as written.
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			if tornOK && (err == io.ErrUnexpectedEOF || err == io.EOF) {
				return nil // a torn payload
			}
			return fmt.Errorf("read %d-byte record at offset %d: %w", n, off, err)
		}
		fn(data)
		off += 4 + int64(n)
	}
}

func main() {
	mode := flag.String("mode", "prefix", "which Append/Replay: prefix (before the fix) or postfix")
	split := flag.Bool("split", false, "postfix: append the length and the payload in two writes")
	fsync := flag.Bool("fsync", false, "fsync after each record, before its ack")
	flag.Parse()
	dir := os.Getenv("CRASHTEST_DIR")
	if flag.NArg() != 1 || dir == "" || (*mode != "prefix" && *mode != "postfix") {
		fmt.Fprintln(os.Stderr, "usage: CRASHTEST_DIR=DIR gowal [-mode prefix|postfix] [-split] [-fsync] write|replay")
		os.Exit(2)
	}
	path := filepath.Join(dir, "wal.log")
	postfix := *mode == "postfix"
	var err error
	switch flag.Arg(0) {
	case "write":
		err = write(path, postfix && !*split, *fsync)
	case "replay":
		err = Replay(path, postfix, func(rec []byte) { fmt.Println(hex.EncodeToString(rec)) })
	default:
		fmt.Fprintf(os.Stderr, "gowal: unknown command %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gowal: %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
}

// write appends the hex records read from stdin, one a line, and acks each on stdout
// after its Append returned. The appends happen in a log goroutine fed by a channel.
func write(path string, onewrite, sync bool) error {
	w, err := Open(path, onewrite, sync)
	if err != nil {
		return err
	}
	records := make(chan []byte)
	done := make(chan error, 1)
	go func() { // the log goroutine: owns the file, appends, acks
		var err error
		i := 0
		for rec := range records {
			if err != nil {
				continue // drain, so the reader never blocks
			}
			if err = w.Append(rec); err == nil {
				// Unbuffered: one write(2) per ack.
				_, err = fmt.Fprintf(os.Stdout, "%d\n", i)
				i++
			}
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	in := bufio.NewReader(os.Stdin)
	var rerr error
	for {
		line, err := in.ReadString('\n')
		if err == io.EOF && line == "" {
			break
		}
		if err != nil && err != io.EOF {
			rerr = err
			break
		}
		rec, herr := hex.DecodeString(strings.TrimSuffix(line, "\n"))
		if herr != nil {
			rerr = fmt.Errorf("bad record line: %w", herr)
			break
		}
		records <- rec
	}
	close(records)
	if err := <-done; err != nil {
		return err
	}
	return rerr
}
