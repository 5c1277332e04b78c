// Package journal is the durable, append-only log under gridbot's embedded
// SQL engine. The store appends one record per mutation (or per atomic group
// of mutations), acknowledges a write only after Append returns, and on
// start replays every record into memory. Records are opaque byte strings
// to this package.
//
// # File format
//
// A journal file is a 12-byte header followed by frames:
//
//	header: "GRIDBOTJ" (8 bytes) | version uint32 LE (= 1)
//	frame:  length uint32 LE | crc uint32 LE | payload (length bytes)
//
// crc is the CRC-32C (Castagnoli) of the four length bytes followed by the
// payload, so a damaged length is caught like a damaged payload, and a run
// of zero bytes is never a valid frame (the CRC-32C of a zero length is not
// zero). length is at most MaxRecordSize; a larger value is garbage. Empty
// payloads are allowed: they are an 8-byte frame.
//
// # Durability and group commit
//
// Append and AppendBatch return nil only after their frames are written and
// fsynced. A goroutine owned by the Journal does the writing: while one
// write+fsync is in flight, new records accumulate in a buffer, and the next
// write+fsync carries all of them, so concurrent appenders share fsyncs. The
// frames of one AppendBatch always go out in one write. If a write or fsync
// fails, every waiting appender gets the error and the Journal is failed:
// all later appends return it, because after a failed fsync the state of
// the file is unknown. An append that returned an error was not
// acknowledged; its records may or may not be found after a restart.
//
// # Torn tails and corruption
//
// Open, ReadAll and Verify read frames until the end of the file or the
// first bad frame: an incomplete header or frame, a length above
// MaxRecordSize, or a checksum mismatch. What follows a bad frame decides
// what it is:
//
//   - If a complete, valid frame starts at any byte offset after the start
//     of the bad frame, up to the end of the file, the journal is corrupt in
//     the middle. Every offset is tried, not only the one the bad length
//     field points to, because that field may itself be garbage. Open fails
//     with a *CorruptError naming the bad frame's offset and changes
//     nothing.
//   - If more than MaxBatchSize bytes follow the bad frame, it is corruption
//     too: a crash leaves at most one unfinished write behind the last
//     synced frame, and no write is larger than MaxBatchSize. This also
//     bounds the search for a valid frame to MaxBatchSize bytes.
//   - Otherwise the bytes from the bad frame on are a torn tail: the
//     unfinished last write of a writer that crashed. Open cuts it off
//     (truncates the file at the bad frame and fsyncs), logs it and reports
//     it with Recovery; ReadAll and Verify, which never write, skip it and
//     report it in Stats.
//
// Limits of the rule: a torn tail that happens to contain a valid frame
// (a power loss that persisted a later page of the last write but not an
// earlier one, or a payload that itself embeds journal frames) is reported
// as corruption, so Open refuses to start rather than drop data; the
// operator decides, with Verify's report, where to cut. Conversely,
// corruption that destroys the last frames of the file, leaving no valid
// frame after the damage, is indistinguishable from a torn tail and is
// truncated; what is cut off then holds no valid frame at any offset.
//
// # Locking
//
// Open takes an exclusive, non-blocking flock on the journal file, so a
// second writer (another process, or a second Open in the same process)
// fails at once with ErrLocked. ReadAll and Verify take no lock and may run
// beside a writer: they read the file up to its size when they start.
package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// groupLimit is the size the pending buffer may reach before appenders wait
// for the writer to take it. One request alone may exceed it (up to
// MaxBatchSize), so no write is larger than MaxBatchSize.
const groupLimit = 4 << 20

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives recovery and failure reports. It never receives
	// payloads. Nil discards.
	Logger *slog.Logger
	// NoSync skips the fsync after each write. It is UNSAFE: an
	// acknowledged record can be lost in an operating system crash or power
	// loss. Use it only in tests and benchmarks. Close still syncs.
	NoSync bool
}

// Recovery describes the torn tail Open cut off. The zero value means the
// journal was clean.
type Recovery struct {
	// TruncatedAt is the offset the file was truncated to: the end of the
	// last valid frame.
	TruncatedAt int64
	// DroppedBytes is how many bytes were cut off.
	DroppedBytes int64
	// Reason says what was wrong with the first dropped frame.
	Reason string
}

// Journal is an open journal, locked for writing. Its methods are safe for
// concurrent use.
type Journal struct {
	path     string
	f        *os.File
	log      *slog.Logger
	noSync   bool
	recovery Recovery

	size    atomic.Int64 // bytes durably in the file
	records atomic.Int64 // records durably in the file

	mu      sync.Mutex
	pending []byte        // encoded frames not yet handed to the writer
	cur     *group        // the group pending belongs to; nil if pending is empty
	space   chan struct{} // closed when the writer takes pending; nil if no one waits
	closed  bool
	err     error // sticky write or sync failure

	wake    chan struct{} // tells the writer there is work; capacity 1
	stopped chan struct{} // closed when the writer goroutine returns

	closeOnce sync.Once
	closeErr  error

	// beforeWrite, if set by a test, runs in the writer goroutine before
	// each write.
	beforeWrite func(records int)
}

// group is the set of records that go out in one write+fsync.
type group struct {
	records int
	done    chan struct{} // closed when err is set
	err     error
}

// Open opens the journal at path for appending, creating the file and its
// directory if they are missing. It locks the file (ErrLocked if another
// writer holds it), reads it, and calls replay, if not nil, for each valid
// record in order. The payload passed to replay is only valid during the
// call: replay must copy what it keeps. If replay returns an error, Open
// stops and returns it.
//
// A torn tail is cut off and reported by Recovery. Corruption in the middle
// makes Open fail with a *CorruptError (see the package doc); the file is
// then unchanged. When Open fails, records already passed to replay must be
// discarded.
//
// The Journal owns a writer goroutine; Close stops it and must be called.
func Open(path string, opts Options, replay func(payload []byte) error) (*Journal, error) {
	j, err := open(path, opts, replay)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	return j, nil
}

func open(path string, opts Options, replay func(payload []byte) error) (_ *Journal, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "journal", "path", path)

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close() // also drops the lock
		}
	}()
	if err := lock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}

	var fn func(int64, []byte) error
	if replay != nil {
		fn = func(_ int64, p []byte) error { return replay(p) }
	}
	res, err := scan(f, fi.Size(), fn)
	if err != nil {
		return nil, err
	}
	if res.corrupted != nil {
		return nil, res.corrupted
	}

	j := &Journal{
		path:    path,
		f:       f,
		log:     log,
		noSync:  opts.NoSync,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	switch {
	case res.noHeader:
		if err := j.initFile(res); err != nil {
			return nil, err
		}
		res.validEnd = int64(headerSize)
	case res.torn:
		if err := f.Truncate(res.validEnd); err != nil {
			return nil, fmt.Errorf("truncate torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("sync after truncating torn tail: %w", err)
		}
		j.recovery = Recovery{
			TruncatedAt:  res.validEnd,
			DroppedBytes: res.fileSize - res.validEnd,
			Reason:       res.reason,
		}
		log.Warn("journal: cut off torn tail",
			"offset", res.validEnd, "dropped_bytes", j.recovery.DroppedBytes,
			"reason", res.reason, "records", res.records)
	}
	j.size.Store(res.validEnd)
	j.records.Store(res.records)
	log.Debug("journal: opened", "records", res.records, "bytes", res.validEnd)

	go j.run()
	return j, nil
}

// initFile writes the header of a new (or torn-at-creation) file and makes
// it and its directory entry durable.
func (j *Journal) initFile(res scanResult) error {
	if res.fileSize > 0 {
		j.log.Warn("journal: rewriting incomplete file header", "dropped_bytes", res.fileSize)
		j.recovery = Recovery{DroppedBytes: res.fileSize, Reason: res.reason}
		if err := j.f.Truncate(0); err != nil {
			return err
		}
	}
	if _, err := j.f.WriteAt(fileHeader(), 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync header: %w", err)
	}
	return syncDir(filepath.Dir(j.path))
}

// Append writes payload as one record and returns after it is durable.
//
// ctx matters only until the record is handed to the writer, which happens
// at once unless a large backlog is pending: if ctx is done by then, Append
// returns ctx.Err() and nothing is written. Once handed over, Append waits
// for the write and fsync whatever ctx does, so that its result is never
// ambiguous: nil means durable, an error means not acknowledged.
//
// payload is copied before Append returns; it may be empty and may be at
// most MaxRecordSize bytes.
func (j *Journal) Append(ctx context.Context, payload []byte) error {
	return j.AppendBatch(ctx, [][]byte{payload})
}

// AppendBatch writes payloads as consecutive records in one write and
// returns after all of them are durable; they are acknowledged together.
// A batch is not atomic on replay: a crash before AppendBatch returns may
// leave a prefix of its records in the journal. Put a group of mutations
// that must apply all or nothing in one record. ctx is handled as by
// Append. The encoded batch may be at most MaxBatchSize bytes (8 bytes of
// framing per record). An empty batch writes nothing.
func (j *Journal) AppendBatch(ctx context.Context, payloads [][]byte) error {
	total := 0
	for _, p := range payloads {
		if len(p) > MaxRecordSize {
			return fmt.Errorf("journal: append %s: record of %d bytes: %w", j.path, len(p), ErrTooLarge)
		}
		total += frameSize(len(p))
	}
	if total > MaxBatchSize {
		return fmt.Errorf("journal: append %s: batch of %d bytes: %w", j.path, total, ErrTooLarge)
	}

	j.mu.Lock()
	for {
		if err := ctx.Err(); err != nil {
			j.mu.Unlock()
			return err
		}
		if j.closed {
			j.mu.Unlock()
			return fmt.Errorf("journal: append %s: %w", j.path, ErrClosed)
		}
		if j.err != nil {
			err := j.err
			j.mu.Unlock()
			return err
		}
		if len(payloads) == 0 {
			j.mu.Unlock()
			return nil
		}
		if j.cur == nil || len(j.pending)+total <= groupLimit {
			break
		}
		// A large backlog: wait until the writer takes it.
		if j.space == nil {
			j.space = make(chan struct{})
		}
		space := j.space
		j.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		j.mu.Lock()
	}
	if j.cur == nil {
		j.cur = &group{done: make(chan struct{})}
	}
	g := j.cur
	for _, p := range payloads {
		j.pending = appendFrame(j.pending, p)
	}
	g.records += len(payloads)
	j.mu.Unlock()

	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-g.done
	return g.err
}

// run is the writer goroutine: it writes and syncs pending groups one at a
// time until the journal is closed and nothing is pending.
func (j *Journal) run() {
	defer close(j.stopped)
	var spare []byte
	for {
		<-j.wake
		for {
			j.mu.Lock()
			g := j.cur
			if g == nil {
				closed := j.closed
				j.mu.Unlock()
				if closed {
					return
				}
				break
			}
			buf := j.pending
			j.pending, j.cur = spare[:0], nil
			if j.space != nil {
				close(j.space)
				j.space = nil
			}
			err := j.err
			j.mu.Unlock()

			if err == nil {
				err = j.write(buf, g.records)
			}
			if err == nil {
				j.size.Add(int64(len(buf)))
				j.records.Add(int64(g.records))
			} else {
				j.fail(err)
			}
			g.err = err
			close(g.done)

			spare = buf
			if cap(spare) > 2*groupLimit {
				spare = nil // do not keep a huge batch's buffer
			}
			// Let the appenders just woken by close(g.done) queue their
			// next records, so that they share the next fsync instead of
			// trickling into two.
			runtime.Gosched()
		}
	}
}

// write appends buf at the end of the file and syncs it.
func (j *Journal) write(buf []byte, records int) error {
	if j.beforeWrite != nil {
		j.beforeWrite(records)
	}
	if _, err := j.f.WriteAt(buf, j.size.Load()); err != nil {
		return fmt.Errorf("journal: write %s: %w", j.path, err)
	}
	if j.noSync {
		return nil
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", j.path, err)
	}
	return nil
}

// fail makes err the journal's sticky error.
func (j *Journal) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = err
		j.log.Error("journal: write failed; no further appends", "err", err)
	}
}

// Close writes and syncs everything appended so far, stops the writer,
// unlocks and closes the file. It returns the journal's failure, if it has
// failed. Close is idempotent: later calls return the first call's result.
// Appends after Close return ErrClosed.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() { j.closeErr = j.close() })
	return j.closeErr
}

func (j *Journal) close() error {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default: // the writer is already due to look
	}
	<-j.stopped // the writer drains what is pending, then returns

	var errs []error
	j.mu.Lock()
	failed := j.err
	j.mu.Unlock()
	if failed != nil {
		errs = append(errs, failed)
	} else if err := j.f.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("journal: sync %s: %w", j.path, err))
	}
	if err := lock(j.f, unix.LOCK_UN); err != nil {
		errs = append(errs, fmt.Errorf("journal: unlock %s: %w", j.path, err))
	}
	if err := j.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("journal: close %s: %w", j.path, err))
	}
	return errors.Join(errs...)
}

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

// Size returns the number of bytes durably in the file, header included.
func (j *Journal) Size() int64 { return j.size.Load() }

// Records returns the number of records durably in the file: those
// replayed by Open plus those acknowledged since.
func (j *Journal) Records() int64 { return j.records.Load() }

// Recovery returns what Open cut off; the zero Recovery if the journal was
// clean.
func (j *Journal) Recovery() Recovery { return j.recovery }

// lock applies a flock operation to f, retrying on EINTR.
func lock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	err = rc.Control(func(fd uintptr) {
		for {
			lerr = unix.Flock(int(fd), how)
			if lerr != unix.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return lerr
}

// syncDir fsyncs a directory so that a new entry in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
