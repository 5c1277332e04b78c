// Package journal is the durable, append-only log under gridbot's embedded
// SQL engine. The store appends one record per mutation (or per atomic group
// of mutations), acknowledges a write only after Append returns, and on
// start replays every record into memory. Records are opaque byte strings
// to this package.
//
// # File format
//
// A journal file is a 28-byte header followed by frames:
//
//	header: "GRIDBOTJ" (8 bytes) | version uint32 LE (= 2) | salt (16 bytes)
//	frame:  length uint32 LE | crc uint32 LE | payload (length bytes)
//
// salt is random (crypto/rand), drawn when the file is created and never
// changed. crc is the CRC-32C (Castagnoli) of the salt, the four length
// bytes and the payload, in that order. So a damaged length is caught like
// a damaged payload, and a frame is valid only under the salt of the file
// it was written to. The salt matters because payloads carry text that
// users typed, byte for byte: without it, anyone could build a well-formed
// frame inside a payload and so make a torn tail look like corruption (see
// below); with it, only someone who can read the journal's header can.
// Copying a journal keeps its salt, so a copy reads like the original.
//
// A writer never picks a salt under which the crc of an empty frame is
// zero, and readers refuse such a header, so a run of zero bytes is never
// a valid frame. length is at most MaxRecordSize; a larger value is
// garbage. Empty payloads are allowed: they are an 8-byte frame.
//
// Version 1 files (a 12-byte header without salt, crc over length and
// payload only) are not read: Open, ReadAll and Verify fail with
// ErrBadHeader. No version 1 journal was ever deployed.
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
// the file is unknown. The exception is a full disk (ENOSPC or EDQUOT from
// the write): the partial write is truncated away, the appenders get
// ErrNoSpace, and the journal goes on — later appends try again, and the
// writer probes for space every Options.RetryEvery, so Full turns false
// by itself when space returns. An append that returned an error was not
// acknowledged; its records may or may not be found after a restart.
//
// # Torn tails and corruption
//
// Open, ReadAll and Verify read frames until the end of the file or the
// first bad frame: an incomplete header or frame, a length above
// MaxRecordSize, or a checksum mismatch. What follows the last good frame
// decides what it is. A crash leaves behind the last synced frame a prefix
// of the frames of one write (a killed process, or a machine that
// persisted the data before the file's size), possibly followed by zeros
// from a block boundary on (a machine that persisted the file's size but
// not all of its blocks; zeroBlock, 512 bytes, is the smallest block). So
// only what cannot be a frame is cut off:
//
//   - If a complete frame, valid under the file's salt, starts at any byte
//     offset after the start of the bad frame, up to the end of the file,
//     the journal is corrupt in the middle. Every offset is tried, not only
//     the one the bad length field points to, because that field may itself
//     be garbage.
//   - If more than MaxBatchSize bytes follow the bad frame, it is corruption
//     too: no write is larger than MaxBatchSize. This also bounds the search
//     for a valid frame to MaxBatchSize bytes.
//   - The bytes from the bad frame on are a torn tail only if they are
//     shorter than a frame header, all zeros, or one frame whose length runs
//     past the end of the file or into zeros that start at a block boundary
//     and reach the end of the file. Open cuts a torn tail off (truncates
//     the file at the bad frame and fsyncs), logs it and reports it with
//     Recovery; ReadAll and Verify, which never write, skip it and report
//     it in Stats.
//   - Anything else could be a damaged frame that was acknowledged: a
//     complete frame that fails its check (with or without bytes after
//     it), a length above MaxRecordSize, a frame that checks once one bit of
//     its length is flipped back, garbage. Open fails with a *CorruptError
//     naming the bad frame's offset and changes nothing.
//
// Damage to the header stops the open too: a damaged magic or version is
// told from a foreign file by the first frame checking under the header's
// salt, and a damaged salt by no frame checking at all (the error names the
// salt byte when flipping one bit of it makes the first frame check). Both
// are *CorruptError with Header set.
//
// Limits of the rule: a torn tail that happens to contain a valid frame
// (a machine crash that persisted a later block of the last write but not
// an earlier one), or zeros that start inside the last write and then give
// way to data again, are reported as corruption, so Open refuses to start
// rather than guess; gridbot db repair then keeps every frame that checks.
// Conversely, damage that turns the last frame into something a crash can
// leave — its last bytes zeroed from a block boundary on, or its length
// field damaged in two or more bits so that it runs past the end of the
// file — is taken for a torn tail and cut off.
//
// Frames inside payloads: byte strings shaped like frames, which a user
// can put in a payload, make a torn tail look like corruption only if they
// are valid under the file's salt. Whoever cannot read the file does not
// know the salt, and every value of the checksum state after it is equally
// likely, so each frame they plant, however computed, is valid with
// probability 2^-32. An unfinished write of n bytes offers at most n
// offsets, so a crash in the middle of it is taken for corruption with
// probability at most n/2^32 (1 in 262,144 if the planted bytes make up
// 16 KiB, 1 in 256 for MaxRecordSize of them), and only if the writer dies
// during that very write.
//
// # Locking
//
// Open takes an exclusive, non-blocking flock on the journal file, so a
// second writer (another process, or a second Open in the same process)
// fails at once with ErrLocked. ReadAll and Verify take no lock and may run
// beside a writer: they read the file up to its size when they start.
package journal

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

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
	// RetryEvery is how often, while the disk is full, the writer checks
	// whether space has returned; zero means every 5 seconds.
	RetryEvery time.Duration
	// WrapFile, if set, wraps the file the journal writes through: tests
	// use it to inject write failures.
	WrapFile func(File) File
}

// File is what the journal's writer does to its file: an *os.File, unless
// Options.WrapFile wraps it.
type File interface {
	WriteAt(b []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
}

// ErrNoSpace means an append was refused because the file system is full
// (ENOSPC, or EDQUOT for a quota). The error wraps the operating system's
// error too. Unlike other write failures it does not fail the journal:
// the bytes of the refused write are truncated away, later appends try
// again, and while the disk is full the writer checks every
// Options.RetryEvery whether space has returned (Full reports the state).
var ErrNoSpace = errors.New("no space left for the journal")

// defaultRetryEvery is Options.RetryEvery's default.
const defaultRetryEvery = 5 * time.Second

// probeSize is how many bytes the writer writes (and takes back) past the
// end of the file to find out whether space has returned.
const probeSize = 4096

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
	w        File // f, or what Options.WrapFile made of it
	retry    time.Duration
	full     atomic.Bool // the last write or probe found the disk full
	log      *slog.Logger
	noSync   bool
	seed     uint32 // saltSeed of the file's salt: where frame checksums start
	salt     []byte // the file's salt
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

// Open opens the journal at path for appending, creating the file (with a
// new salt) and its directories if they are missing; it fsyncs the parent
// of every directory it creates and the directory of a file it creates, so
// that a new journal cannot vanish in a crash. It locks the file
// (ErrLocked if another writer holds it), reads it, and calls replay, if
// not nil, for each valid record in order. The payload passed to replay is
// only valid during the call: replay must copy what it keeps. If replay
// returns an error, Open stops and returns it.
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

	if err := makeDirs(filepath.Dir(path)); err != nil {
		return nil, err
	}
	held, err := readHeaderCopy(path)
	if err != nil {
		return nil, err
	}
	flags := os.O_RDWR | os.O_CREATE
	if held != nil {
		flags = os.O_RDWR // a journal was created here: never create another
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrNotExist) && held != nil {
		return nil, lost(path, "is missing")
	}
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
		w:       File(f),
		retry:   cmp.Or(opts.RetryEvery, defaultRetryEvery),
		log:     log,
		noSync:  opts.NoSync,
		seed:    res.seed,
		salt:    res.salt,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	if opts.WrapFile != nil {
		j.w = opts.WrapFile(f)
	}
	switch {
	case res.noHeader && held != nil:
		return nil, lost(path, fmt.Sprintf("holds %d bytes and no header", res.fileSize))
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
	if hdr := fileHeader(j.salt); !bytes.Equal(held, hdr) {
		// The copy is a safety net: a journal that opens is not refused
		// for want of one (a full disk, say); the next Open tries again.
		if err := writeHeaderCopy(path, hdr); err != nil {
			log.Warn("journal: could not write the header copy; a lost journal will not be told from a new one until it is written", "err", err)
		}
	}
	j.size.Store(res.validEnd)
	j.records.Store(res.records)
	log.Debug("journal: opened", "records", res.records, "bytes", res.validEnd)

	go j.run()
	return j, nil
}

// initFile writes the header, with a new salt, of a new (or
// torn-at-creation) file and makes it and its directory entry durable.
func (j *Journal) initFile(res scanResult) error {
	salt, err := newSalt(rand.Reader)
	if err != nil {
		return err
	}
	if res.fileSize > 0 {
		j.log.Warn("journal: rewriting incomplete file header", "dropped_bytes", res.fileSize)
		j.recovery = Recovery{DroppedBytes: res.fileSize, Reason: res.reason}
		if err := j.f.Truncate(0); err != nil {
			return err
		}
	}
	if _, err := j.f.WriteAt(fileHeader(salt), 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync header: %w", err)
	}
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		return err
	}
	j.seed, j.salt = saltSeed(salt), salt
	return nil
}

// HeaderCopySuffix names the copy of a journal's header that Open keeps
// beside it (path + HeaderCopySuffix): its existence records that a
// journal was created at path, and its salt lets gridbot db repair
// restore a damaged header. Open writes it once the journal's header is
// durable, so a crash while creating a journal never leaves a copy without
// a journal; a journal opened without a copy (created before copies
// existed) gets one.
const HeaderCopySuffix = ".header"

// ErrLost means the journal file is missing, or empty or without a header,
// while its header copy shows that a journal was created there: the
// journal was deleted or truncated, and opening it would start an empty
// store in place of the lost one. Open fails with it and changes nothing.
var ErrLost = errors.New("journal lost")

func lost(path, what string) error {
	return fmt.Errorf("%w: %s %s, but %s shows that a journal was created there; restore the journal from a backup (or see gridbot db repair)",
		ErrLost, filepath.Base(path), what, filepath.Base(path)+HeaderCopySuffix)
}

// readHeaderCopy returns the content of path's header copy, nil if there
// is none. An empty copy (a crash while writing it) counts as one.
func readHeaderCopy(path string) ([]byte, error) {
	b, err := os.ReadFile(path + HeaderCopySuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read header copy: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// writeHeaderCopy makes hdr the durable content of path's header copy: it
// writes a temporary file, syncs it and renames it into place.
func writeHeaderCopy(path string, hdr []byte) error {
	dst := path + HeaderCopySuffix
	tmp := dst + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write header copy: %w", err)
	}
	_, err = f.Write(hdr)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write header copy: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// makeDirs creates dir and any missing parents, like os.MkdirAll, and makes
// the new entries durable: it fsyncs the parent of every directory it
// created, from dir's parent up to the first directory that existed. dir
// itself is synced once the journal file is created in it (initFile).
//
// It syncs only what this call created: if a process dies between creating
// a directory and syncing its parent, the next Open finds the directory
// and does not sync it; the operating system writes it back in its own
// time.
func makeDirs(dir string) error {
	created, err := missingDirs(dir)
	if err != nil {
		return err
	}
	if len(created) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// missingDirs returns dir and those of its ancestors that do not exist,
// deepest first: the directories os.MkdirAll(dir) would create. A
// directory another process creates meanwhile is still listed, so its
// entry is synced all the same.
func missingDirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; {
		_, err := os.Stat(d)
		if err == nil {
			return missing, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d { // a root that does not exist; MkdirAll will say why
			return missing, nil
		}
		d = parent
	}
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
	// Checksum before taking the lock, so that concurrent appenders of
	// large payloads do not queue behind each other's CRC work; under the
	// lock the frames are only copied.
	var small [4]uint32
	sums := small[:0]
	if len(payloads) > len(small) {
		sums = make([]uint32, 0, len(payloads))
	}
	for _, p := range payloads {
		sums = append(sums, frameSum(j.seed, p))
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
	for i, p := range payloads {
		j.pending = appendFrameSum(j.pending, p, sums[i])
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
		if j.full.Load() {
			t := time.NewTimer(j.retry)
			select {
			case <-j.wake:
				t.Stop()
			case <-t.C:
				j.probe()
			}
		} else {
			<-j.wake
		}
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
			switch {
			case err == nil:
				j.size.Add(int64(len(buf)))
				j.records.Add(int64(g.records))
				j.setFull(false, nil)
			case errors.Is(err, ErrNoSpace):
				j.setFull(true, err)
			default:
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

// write appends buf at the end of the file and syncs it. A write refused
// for lack of space is taken back (the file is truncated to its last
// synced frame) and returns an error wrapping ErrNoSpace.
func (j *Journal) write(buf []byte, records int) error {
	if j.beforeWrite != nil {
		j.beforeWrite(records)
	}
	off := j.size.Load()
	if _, err := j.w.WriteAt(buf, off); err != nil {
		return j.writeFailed(off, err)
	}
	if j.noSync {
		return nil
	}
	if err := j.w.Sync(); err != nil {
		// After a failed fsync the state of the file is unknown, whatever
		// the cause: the journal fails.
		return fmt.Errorf("journal: sync %s: %w", j.path, err)
	}
	return nil
}

// writeFailed returns the error of a write at off that failed with err,
// first truncating the file back to off if the disk is full.
func (j *Journal) writeFailed(off int64, err error) error {
	if !errors.Is(err, unix.ENOSPC) && !errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("journal: write %s: %w", j.path, err)
	}
	if terr := j.w.Truncate(off); terr != nil {
		return fmt.Errorf("journal: write %s: %w; taking back the partial write: %w", j.path, err, terr)
	}
	return fmt.Errorf("journal: write %s: %w: %w", j.path, ErrNoSpace, err)
}

// probe checks, while the disk is full, whether space has returned, by
// writing probeSize zero bytes past the end of the file and truncating them
// away. A crash in between leaves zeros after the last frame, which Open
// cuts off as a torn tail.
func (j *Journal) probe() {
	off := j.size.Load()
	_, err := j.w.WriteAt(make([]byte, probeSize), off)
	if err != nil {
		err = j.writeFailed(off, err)
	} else if terr := j.w.Truncate(off); terr != nil {
		err = fmt.Errorf("journal: truncate %s after checking for space: %w", j.path, terr)
	}
	switch {
	case err == nil:
		j.setFull(false, nil)
	case !errors.Is(err, ErrNoSpace):
		j.fail(err)
	}
}

// setFull records whether the disk is full, logging only the changes: one
// line when writes start being refused, one when they resume.
func (j *Journal) setFull(full bool, err error) {
	if j.full.Swap(full) == full {
		return
	}
	if full {
		j.log.Error("journal: the disk is full: writes are refused until space returns; reads go on", "err", err, "retry_every", j.retry)
	} else {
		j.log.Warn("journal: space returned: writes resume")
	}
}

// Full reports whether the journal is refusing appends because the disk is
// full (see ErrNoSpace).
func (j *Journal) Full() bool { return j.full.Load() }

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

// dirSynced, if set by a test, is called with every directory syncDir has
// synced.
var dirSynced func(dir string)

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
	if dirSynced != nil {
		dirSynced(dir)
	}
	return nil
}
