// Command bbolt serves bbolt (go.etcd.io/bbolt, the B+tree key/value store under etcd's
// backend) as a crashtest target, on the Go client (harness/zoo/clients/go).
//
// The log is the bucket "log" of $CRASHTEST_DIR/log.db: each record is one read-write
// transaction (DB.Update) that puts the payload under the bucket's next sequence number,
// big-endian, so a cursor walks the records in order. With the defaults, Commit writes
// the dirty pages, fdatasyncs, writes the meta page and fdatasyncs again before Update
// returns, so the ack follows the sync. Replay opens the file (if there is one) and walks
// the bucket in a read-only transaction (DB.View).
//
// Usage: bbolt [-nosync] write|replay
//
//	-nosync    DB.NoSync = true: no fdatasync on commit (bbolt's docs: for bulk loading;
//	           a crash of the machine may lose or corrupt the database)
//	-sync-dir  after bolt.Open created the file, fsync its folder, which bbolt does not
//	           (README.md: Findings); not bbolt's behaviour, for checking the finding
package main

import (
	"crashtest"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

var (
	noSync  = flag.Bool("nosync", false, "DB.NoSync: skip fdatasync on commit")
	syncDir = flag.Bool("sync-dir", false, "fsync the folder after creating the file (not bbolt's behaviour)")
)

var bucket = []byte("log")

func main() {
	flag.Parse()
	crashtest.ServeOpen(open, replay)
}

func path() string { return filepath.Join(crashtest.Dir, "log.db") }

// open opens (or creates) the database and returns its append and close.
func open() (func([]byte) error, func() error, error) {
	_, err := os.Stat(path())
	fresh := errors.Is(err, os.ErrNotExist)
	db, err := bolt.Open(path(), 0o600, nil)
	if err == nil && fresh && *syncDir {
		err = fsyncDir(crashtest.Dir)
	}
	if err != nil {
		return nil, nil, err
	}
	db.NoSync = *noSync
	appendRecord := func(rec []byte) error {
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], seq)
			return b.Put(key[:], rec)
		})
	}
	return appendRecord, db.Close, nil
}

// replay prints the bucket's values in key order; no file means no records.
func replay(emit func([]byte)) error {
	if _, err := os.Stat(path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := bolt.Open(path(), 0o600, nil)
	if err != nil {
		return err
	}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			emit(v)
			return nil
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
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
