package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"gridbot/store/driver"
	"gridbot/store/embedded/journal"
)

// JournalFile is the name of the journal in the engine's directory. A copy
// of it is a consistent backup.
const JournalFile = "journal.gbj"

// Options configures Open. The zero value opens for writing.
type Options struct {
	// ReadOnly opens without taking the writer's lock and never writes:
	// the journal is read up to its last complete record, even while a
	// writer appends or after a writer was killed, and the engine shows
	// that snapshot. Commit returns driver.ErrReadOnly.
	ReadOnly bool
	// Logger receives open, recovery and failure reports, never personal
	// data. Nil discards.
	Logger *slog.Logger
	// NoSync skips the fsync after each journal write. It is UNSAFE: an
	// acknowledged commit can be lost in an operating system crash or power
	// loss. For tests and benchmarks only.
	NoSync bool

	// journal, in tests, configures the journal further (its file layer
	// and its retry interval).
	journal journal.Options
}

// Engine is the embedded store engine: gosql tables in memory, made
// durable by a journal. It implements driver.Engine; its methods are safe
// for concurrent use.
type Engine struct {
	log      *slog.Logger
	path     string
	readOnly bool
	j        *journal.Journal // nil when read-only

	// mu serialises commit planning: the counters, the reservations of
	// in-flight commits and the aliases as commits see them.
	mu      sync.Mutex
	closed  bool
	nextSeq int64
	nextID  int64
	resv    reservations
	flights sync.WaitGroup // commits between planning and their end

	failed  atomic.Pointer[error] // the journal or apply failure, if any
	refused atomic.Int64          // commits refused because the disk was full

	leases leases

	st *state
}

var _ driver.Engine = (*Engine)(nil)

// Open opens the engine whose journal lives in dir, creating dir if it is
// missing (unless read-only). A writer locks the journal: a second writer
// fails with an error wrapping driver.ErrLocked. Open replays the journal
// into memory; a torn tail left by a crash is cut off; damage anywhere
// else, the header included, makes Open fail with an error naming its
// offset (a *journal.CorruptError). A directory that held a journal (it
// has the journal's header copy, JournalFile+journal.HeaderCopySuffix)
// whose journal is missing or empty fails with journal.ErrLost rather
// than starting an empty store.
func Open(ctx context.Context, dir string, opts Options) (*Engine, error) {
	if dir == "" {
		return nil, fmt.Errorf("embedded: open: no directory: %w", driver.ErrInvalid)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "store/embedded")
	e := &Engine{log: log, path: filepath.Join(dir, JournalFile), readOnly: opts.ReadOnly, resv: newReservations()}
	if err := e.open(ctx, opts); err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", dir, err)
	}
	return e, nil
}

func (e *Engine) open(ctx context.Context, opts Options) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := newState()
	if err != nil {
		return err
	}
	r := newReplayer(st)
	replay := func(p []byte) error {
		if r.records%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return r.record(p)
	}
	if e.readOnly {
		err = e.readAll(replay)
	} else {
		jopts := opts.journal
		jopts.Logger, jopts.NoSync = e.log, opts.NoSync
		e.j, err = journal.Open(e.path, jopts, replay)
		if errors.Is(err, journal.ErrLocked) {
			err = fmt.Errorf("%w: %w", driver.ErrLocked, err)
		}
	}
	if ferr := r.finish(); err == nil && ferr != nil {
		err = ferr
		if e.j != nil {
			e.j.Close()
			e.j = nil
		}
	}
	if err != nil {
		return err
	}
	e.st = st
	e.nextSeq = st.maxSeq + 1
	e.nextID = st.maxID + 1
	e.resv.alias = st.alias.clone()
	e.log.Info("embedded: opened", "records", r.records, "reports", len(st.reports),
		"pending", len(st.pending.byID), "read_only", e.readOnly)
	return nil
}

// readAll replays the journal without locking or changing it.
func (e *Engine) readAll(replay func([]byte) error) error {
	stats, err := journal.ReadAll(e.path, func(_ int64, p []byte) error { return replay(p) })
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no journal %s: %w", JournalFile, driver.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if stats.TornTail {
		e.log.Info("embedded: ignoring an incomplete last record", "offset", stats.ValidSize,
			"bytes", stats.FileSize-stats.ValidSize, "reason", stats.TornReason)
	}
	return nil
}

// Close waits for commits in progress, closes the journal and frees the
// tables. Later calls return driver.ErrClosed; a second Close returns nil.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.flights.Wait()
	var err error
	if e.j != nil {
		err = e.j.Close()
	}
	e.st.release()
	if err != nil {
		return fmt.Errorf("embedded: close: %w", err)
	}
	return nil
}

// failure returns the error that failed the engine, or nil.
func (e *Engine) failure() error {
	if p := e.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail makes err the engine's failure: every later call returns it,
// because memory and journal may no longer agree.
func (e *Engine) fail(err error) {
	err = fmt.Errorf("engine failed: %w", err)
	if e.failed.CompareAndSwap(nil, &err) {
		e.log.Error("embedded: engine failed; no further reads or writes", "err", err)
	}
}

// refuse returns the error of a commit the journal refused because the
// disk is full. Unlike a failure it leaves the engine working: nothing was
// written or applied, reads go on, and commits succeed again once the
// journal finds space (it checks by itself). The journal logs the change
// once; the engine counts refusals for WritesRefused.
func (e *Engine) refuse(err error) error {
	e.refused.Add(1)
	return err
}

// WritesRefused reports whether the engine is refusing commits because the
// disk is full, and how many it has refused since it was opened. While it
// refuses, Due returns no messages: a message sent then could not be
// recorded as sent, and would go out again.
func (e *Engine) WritesRefused() (refusing bool, total int64) {
	return e.j != nil && e.j.Full(), e.refused.Load()
}

// read runs fn with the state locked for reading.
func (e *Engine) read(ctx context.Context, fn func(st *state) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.failure(); err != nil {
		return err
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	if e.st.closed {
		return driver.ErrClosed
	}
	return fn(e.st)
}
