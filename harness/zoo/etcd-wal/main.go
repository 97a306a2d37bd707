// Command etcd-wal serves etcd 3.4's write-ahead log (package go.etcd.io/etcd/wal) as a
// crashtest target, on the Go client (harness/zoo/clients/go).
//
// Each record is one raft entry (Index = the next index, Data = the payload), saved with
// the raft HardState that commits it by WAL.Save, as etcd's raft loop saves a Ready: Save
// fdatasyncs before it returns whenever it holds an entry (raft.MustSync), so the ack
// follows the sync. The log lives in $CRASHTEST_DIR/wal and is opened the way etcd's
// server opens its WAL on start (etcdserver/server.go, storage.go readWAL): wal.Create when
// wal.Exist says there is none, else wal.Open at the empty snapshot and ReadAll; when
// ReadAll returns io.ErrUnexpectedEOF (a torn last record), wal.Repair cuts it and the
// read is tried once more. Any other error is fatal to the server: replay exits 1.
//
// Usage: etcd-wal [-unsafe-no-fsync] [-segment-bytes N] write|replay
//
//	-unsafe-no-fsync  WAL.SetUnsafeNoFsync, as etcd --unsafe-no-fsync: no fdatasync at all
//	-segment-bytes    wal.SegmentSizeBytes, the size at which a segment is cut (and to which
//	                  each is preallocated); default 64 MB, as in etcd
//	-sync-dir         after wal.Create, fsync the new WAL folder, which etcd 3.4 does not
//	                  (README.md: Findings); not etcd's behaviour, for checking the finding
package main

import (
	"crashtest"
	"flag"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/raft/raftpb"
	"go.etcd.io/etcd/wal"
	"go.etcd.io/etcd/wal/walpb"
)

var (
	noSync  = flag.Bool("unsafe-no-fsync", false, "never fdatasync, as etcd --unsafe-no-fsync")
	segment = flag.Int64("segment-bytes", wal.SegmentSizeBytes, "segment size (wal.SegmentSizeBytes)")
	syncDir = flag.Bool("sync-dir", false, "fsync the WAL folder after wal.Create (not etcd's behaviour)")
)

func main() {
	flag.Parse()
	wal.SegmentSizeBytes = *segment
	crashtest.ServeOpen(open, replay)
}

// dir is the WAL's folder, as etcd's data-dir/member/wal.
func dir() string { return filepath.Join(crashtest.Dir, "wal") }

// open opens (or creates) the WAL for appending and returns its append and close.
func open() (func([]byte) error, func() error, error) {
	var w *wal.WAL
	var ents []raftpb.Entry
	var err error
	if wal.Exist(dir()) {
		w, ents, err = readWAL()
	} else if w, err = wal.Create(nil, dir(), nil); err == nil && *syncDir {
		err = fsyncDir(dir())
	}
	if err != nil {
		return nil, nil, err
	}
	if *noSync {
		w.SetUnsafeNoFsync()
	}
	next := uint64(1) // raft's first index
	if len(ents) > 0 {
		next = ents[len(ents)-1].Index + 1
	}
	appendRecord := func(rec []byte) error {
		e := raftpb.Entry{Term: 1, Index: next, Type: raftpb.EntryNormal, Data: rec}
		st := raftpb.HardState{Term: 1, Vote: 1, Commit: next}
		if err := w.Save(st, []raftpb.Entry{e}); err != nil {
			return err
		}
		next++
		return nil
	}
	return appendRecord, w.Close, nil
}

// replay prints the entries etcd's server would start from.
func replay(emit func([]byte)) error {
	if !wal.Exist(dir()) {
		return nil // the server would create a new WAL: nothing was kept
	}
	w, ents, err := readWAL()
	if err != nil {
		return err
	}
	for _, e := range ents {
		emit(e.Data)
	}
	return w.Close()
}

// readWAL is etcdserver's readWAL without the fatal logging: open at the empty snapshot,
// read everything, and on a torn last record (io.ErrUnexpectedEOF) repair once and retry.
func readWAL() (*wal.WAL, []raftpb.Entry, error) {
	for repaired := false; ; repaired = true {
		w, err := wal.Open(nil, dir(), walpb.Snapshot{})
		if err != nil {
			return nil, nil, err
		}
		_, _, ents, err := w.ReadAll()
		if err == nil {
			return w, ents, nil
		}
		w.Close()
		if repaired || err != io.ErrUnexpectedEOF {
			return nil, nil, err
		}
		if !wal.Repair(nil, dir()) {
			return nil, nil, err
		}
	}
}

// fsyncDir makes the names in folder durable.
func fsyncDir(folder string) error {
	d, err := os.Open(folder)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
