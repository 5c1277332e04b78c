package journal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fullDisk is a File whose writes fail with ENOSPC while full is set,
// after writing half of what they were given (as a write that runs out of
// space midway does).
type fullDisk struct {
	File
	mu     sync.Mutex
	full   bool
	writes int // writes attempted while full
}

func (d *fullDisk) set(full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.full = full
}

func (d *fullDisk) WriteAt(b []byte, off int64) (int, error) {
	d.mu.Lock()
	full := d.full
	if full {
		d.writes++
	}
	d.mu.Unlock()
	if !full {
		return d.File.WriteAt(b, off)
	}
	n, err := d.File.WriteAt(b[:len(b)/2], off)
	if err != nil {
		return n, err
	}
	return n, &pathError{err: syscall.ENOSPC}
}

type pathError struct{ err error }

func (e *pathError) Error() string { return "write j: " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// waitFor waits, with a deadline, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFullDisk: appends while the disk is full are refused, nothing of
// them stays in the file, the journal logs it once and does not fail, and
// it resumes by itself when space returns — with no append to try.
func TestFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	disk := &fullDisk{}
	var log bytes.Buffer
	j, _ := openT(t, path, Options{
		Logger:     slog.New(slog.NewTextHandler(&log, nil)),
		RetryEvery: time.Millisecond,
		WrapFile:   func(f File) File { disk.File = f; return disk },
	})
	ctx := context.Background()
	if err := j.Append(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	size := j.Size()

	disk.set(true)
	for range 20 {
		err := j.Append(ctx, []byte("refused record"))
		if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append on a full disk = %v, want ErrNoSpace wrapping ENOSPC", err)
		}
	}
	// (the file's size is checked after Close: a probe may be under way)
	if !j.Full() || j.Size() != size || j.Records() != 1 {
		t.Errorf("full: Full %v, Size %d, Records %d; want true, %d, 1", j.Full(), j.Size(), j.Records(), size)
	}
	waitFor(t, "the writer to probe for space", func() bool {
		disk.mu.Lock()
		defer disk.mu.Unlock()
		return disk.writes > 22
	})

	disk.set(false)
	waitFor(t, "the journal to see space return", func() bool { return !j.Full() })
	if err := j.Append(ctx, []byte("after")); err != nil {
		t.Fatalf("Append after space returned: %v", err)
	}
	closeT(t, j)
	if got, want := fileSize(t, path), size+int64(frameSize(len("after"))); got != want {
		t.Errorf("after refused writes and probes the file has %d bytes, want %d", got, want)
	}
	if n := strings.Count(log.String(), "disk is full"); n != 1 {
		t.Errorf("%d log lines about the full disk, want 1:\n%s", n, log.String())
	}
	if n := strings.Count(log.String(), "writes resume"); n != 1 {
		t.Errorf("%d log lines about resuming, want 1:\n%s", n, log.String())
	}
	_, got := openT(t, path, Options{})
	equalRecords(t, got, [][]byte{[]byte("before"), []byte("after")})
}

// TestFullDiskResumesOnAppend: with no probe due, the next append that
// fits ends the full state.
func TestFullDiskResumesOnAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	disk := &fullDisk{}
	j, _ := openT(t, path, Options{RetryEvery: time.Hour, WrapFile: func(f File) File { disk.File = f; return disk }})
	defer closeT(t, j)
	disk.set(true)
	if err := j.Append(context.Background(), []byte("refused")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Append = %v", err)
	}
	disk.set(false)
	if err := j.Append(context.Background(), []byte("kept")); err != nil || j.Full() || j.Records() != 1 {
		t.Fatalf("Append after space returned = %v; Full %v, Records %d", err, j.Full(), j.Records())
	}
}
