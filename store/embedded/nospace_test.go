package embedded

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gridbot/store/driver"
	"gridbot/store/embedded/journal"
)

// fullDisk is a journal file whose writes fail with ENOSPC while full is
// set.
type fullDisk struct {
	journal.File
	mu   sync.Mutex
	full bool
}

func (d *fullDisk) set(full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.full = full
}

func (d *fullDisk) WriteAt(b []byte, off int64) (int, error) {
	d.mu.Lock()
	full := d.full
	d.mu.Unlock()
	if full {
		return 0, syscall.ENOSPC
	}
	return d.File.WriteAt(b, off)
}

// TestFullDisk: while the disk is full, reads go on, commits are refused
// with an error that says so (and that the bot takes for an outage),
// logged once, counted, and no outbox message is handed out; when space
// returns the engine resumes by itself, and nothing refused is in the
// journal.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	disk := &fullDisk{}
	var log bytes.Buffer
	var logMu sync.Mutex
	e := openTest(t, dir, Options{
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&log, &logMu}, nil)),
		journal: journal.Options{RetryEvery: time.Millisecond, WrapFile: func(f journal.File) journal.File {
			disk.File = f
			return disk
		}},
	})
	ctx := context.Background()
	saveReport(t, e, testReport(-1, 1, today))
	mustCommit(t, e, driver.Changes{Bindings: []driver.Binding{{Chat: -1, Role: driver.RoleVillage, Name: "v", At: t0}}})
	mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{{Key: "queued", Chat: -1, Method: "sendMessage", NotBefore: t0, CreatedAt: t0}}})

	disk.set(true)
	r2 := testReport(-1, 2, today)
	for range 10 {
		_, err := e.Commit(ctx, driver.Changes{Revision: &r2, Outbox: []driver.OutboxMessage{{Key: "r2", Chat: -1, Method: "sendMessage", CreatedAt: t0}}})
		var errno syscall.Errno
		if !errors.Is(err, journal.ErrNoSpace) || !errors.As(err, &errno) || errno != syscall.ENOSPC {
			t.Fatalf("commit on a full disk = %v, want journal.ErrNoSpace wrapping ENOSPC", err)
		}
	}
	// a migration refused is not half remembered
	if _, err := e.Commit(ctx, driver.Changes{Migrations: []driver.Migration{{From: -1, To: -1001, At: t0}}}); !errors.Is(err, journal.ErrNoSpace) {
		t.Fatalf("migration on a full disk = %v", err)
	}
	if refusing, n := e.WritesRefused(); !refusing || n != 11 {
		t.Errorf("WritesRefused = %v, %d; want true, 11", refusing, n)
	}
	// reads go on
	if _, ok, err := e.Report(ctx, -1, 1); err != nil || !ok {
		t.Errorf("read while the disk is full: %v, %v", ok, err)
	}
	if _, ok, err := e.Report(ctx, -1, 2); err != nil || ok {
		t.Errorf("the refused report: found %v, %v", ok, err)
	}
	if b, ok, err := e.Binding(ctx, -1001); err != nil || ok {
		t.Errorf("binding of the refused migration's chat: %+v %v %v", b, ok, err)
	}
	if ms, err := e.Due(ctx, t0.Add(time.Hour), 10); err != nil || len(ms) != 0 {
		t.Errorf("Due while the disk is full = %d messages, %v; want none", len(ms), err)
	}

	disk.set(false)
	deadline := time.Now().Add(10 * time.Second)
	for refusing, _ := e.WritesRefused(); refusing; refusing, _ = e.WritesRefused() {
		if time.Now().After(deadline) {
			t.Fatal("the engine did not resume by itself")
		}
		time.Sleep(time.Millisecond)
	}
	if ms, err := e.Due(ctx, t0.Add(time.Hour), 10); err != nil || len(ms) != 1 {
		t.Errorf("Due after space returned = %d messages, %v; want the queued one", len(ms), err)
	}
	if res := saveReport(t, e, r2); res.DuplicateRevision {
		t.Error("the refused report counts as saved")
	}
	mustCommit(t, e, driver.Changes{Migrations: []driver.Migration{{From: -7, To: -1001, At: t0}}})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	logMu.Lock()
	l := log.String()
	logMu.Unlock()
	if n := strings.Count(l, "disk is full"); n != 1 {
		t.Errorf("%d log lines about the full disk, want 1:\n%s", n, l)
	}
	if strings.Contains(l, "engine failed") {
		t.Errorf("the engine failed:\n%s", l)
	}

	e = openTest(t, dir, Options{})
	checkReports(t, e, -1, []driver.Revision{testReport(-1, 1, today), r2})
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
