package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	// magic opens every journal file.
	magic = "GRIDBOTJ"
	// version is the format version written after magic. Version 1 had no
	// salt; its files are refused (see ErrBadHeader).
	version uint32 = 2
	// saltSize is the length of the random per-file salt in the header.
	saltSize = 16
	// prologueSize is len(magic) plus the version: the part of the header
	// that is the same in every journal of this version.
	prologueSize = len(magic) + 4
	// headerSize is the prologue plus the salt.
	headerSize = prologueSize + saltSize
	// frameHeaderSize is the length and checksum in front of each payload.
	frameHeaderSize = 8

	// MaxRecordSize is the largest payload one record may carry. A length
	// field above it is recognised as garbage.
	MaxRecordSize = 16 << 20
	// MaxBatchSize is the largest number of bytes, frame headers included,
	// that one AppendBatch may write. No single write of the journal is
	// larger, so a torn tail is never longer either (see the package doc).
	MaxBatchSize = 64 << 20

	// readBufferSize is the initial size of the scanner's read buffer.
	readBufferSize = 4 << 20
)

// castagnoli is the CRC-32C table; hash/crc32 uses the CPU's CRC
// instructions for it where they exist.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrLocked means another writer holds the journal's lock.
	ErrLocked = errors.New("journal is locked by another writer")
	// ErrClosed is returned by appends after Close.
	ErrClosed = errors.New("journal is closed")
	// ErrTooLarge is returned for a payload above MaxRecordSize or a batch
	// above MaxBatchSize.
	ErrTooLarge = errors.New("record or batch too large")
	// ErrBadHeader means the file is not a journal or has a version this
	// package does not read, such as a version 1 journal, whose frames
	// carry no salt.
	ErrBadHeader = errors.New("not a journal file or unsupported version")
)

// CorruptError reports a bad frame that is followed by valid data: damage
// in the middle of the journal, which is never repaired automatically.
type CorruptError struct {
	// Offset is the byte offset in the file of the first bad frame.
	Offset int64
	// Reason says what is wrong with it.
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt frame at offset %d: %s", e.Offset, e.Reason)
}

// prologue returns the first prologueSize bytes of every journal of this
// version.
func prologue() []byte {
	return binary.LittleEndian.AppendUint32([]byte(magic), version)
}

// fileHeader returns the header of a journal with the given salt.
func fileHeader(salt []byte) []byte {
	return append(prologue(), salt...)
}

// saltSeed returns the CRC-32C state after the salt: the starting value of
// every frame checksum of a journal with that salt.
func saltSeed(salt []byte) uint32 {
	return crc32.Update(0, castagnoli, salt)
}

// zeroFrameValid reports whether, under seed, eight zero bytes are a valid
// empty frame: whether the checksum of a zero length is zero.
func zeroFrameValid(seed uint32) bool {
	return updateLength(seed, 0) == 0
}

// updateLength returns crc32.Update(crc, castagnoli, b) for b the four
// little-endian bytes of n, byte by byte through the table. It needs no
// slice, which crc32.Update would make escape to the heap; it is a few
// nanoseconds slower than crc32.Update, so readers, whose length bytes are
// in a buffer already, use that.
func updateLength(crc, n uint32) uint32 {
	crc = ^crc
	for range 4 {
		crc = castagnoli[byte(crc)^byte(n)] ^ crc>>8
		n >>= 8
	}
	return ^crc
}

// newSalt returns a salt for a new journal, read from random (crypto/rand's
// Reader outside tests). It never returns one under which a run of zero
// bytes would be a valid frame (a chance of 2^-32 per salt), so a hole of
// zeros, as a crash can leave at the end of a file, is never read as
// records.
func newSalt(random io.Reader) ([]byte, error) {
	salt := make([]byte, saltSize)
	for {
		if _, err := io.ReadFull(random, salt); err != nil {
			return nil, fmt.Errorf("generate salt: %w", err)
		}
		if !zeroFrameValid(saltSeed(salt)) {
			return salt, nil
		}
	}
}

// frameSize is the encoded size of a record carrying n payload bytes.
func frameSize(n int) int { return frameHeaderSize + n }

// frameSum returns the checksum of the frame of payload under seed: the
// CRC-32C of the salt, the four length bytes and the payload.
func frameSum(seed uint32, payload []byte) uint32 {
	return crc32.Update(updateLength(seed, uint32(len(payload))), castagnoli, payload)
}

// appendFrame appends the frame of payload under seed to dst.
func appendFrame(dst []byte, seed uint32, payload []byte) []byte {
	return appendFrameSum(dst, payload, frameSum(seed, payload))
}

// appendFrameSum appends the frame of payload to dst, given its checksum.
func appendFrameSum(dst, payload []byte, sum uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, sum)
	return append(dst, payload...)
}

// checkFrame reports whether frame, a frame header and its whole payload,
// carries the right checksum under seed.
func checkFrame(seed uint32, frame []byte) bool {
	sum := crc32.Update(seed, castagnoli, frame[:4])
	sum = crc32.Update(sum, castagnoli, frame[frameHeaderSize:])
	return sum == binary.LittleEndian.Uint32(frame[4:])
}

// validFrameAt reports whether a complete frame, valid under seed, starts
// at b[p:].
func validFrameAt(b []byte, p int, seed uint32) bool {
	if len(b)-p < frameHeaderSize {
		return false
	}
	n := binary.LittleEndian.Uint32(b[p:])
	if n > MaxRecordSize || uint64(len(b)-p-frameHeaderSize) < uint64(n) {
		return false
	}
	return checkFrame(seed, b[p:p+frameHeaderSize+int(n)])
}

// scanResult describes one pass over a journal.
type scanResult struct {
	records   int64  // valid records seen
	seed      uint32 // saltSeed of the file's salt; unset if noHeader
	validEnd  int64  // offset just past the last valid frame (or header)
	fileSize  int64  // bytes in the file
	noHeader  bool   // the file holds no complete header (torn creation)
	torn      bool   // bytes after validEnd form a torn tail
	reason    string // why the tail is torn
	corrupted *CorruptError
}

// scanner reads frames from a reader into one reusable buffer, so the
// common case allocates nothing per record.
type scanner struct {
	r        io.Reader
	buf      []byte
	pos, end int   // unread bytes are buf[pos:end]
	off      int64 // file offset of buf[pos]
	eof      bool
}

// fill tries to make n bytes available at buf[pos:] and returns how many
// are; fewer than n only at end of file.
func (s *scanner) fill(n int) (int, error) {
	for s.end-s.pos < n && !s.eof {
		if len(s.buf)-s.pos < n {
			if n > len(s.buf) {
				nb := make([]byte, max(n, 2*len(s.buf)))
				copy(nb, s.buf[s.pos:s.end])
				s.buf = nb
			} else {
				copy(s.buf, s.buf[s.pos:s.end])
			}
			s.end -= s.pos
			s.pos = 0
		}
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return s.end - s.pos, err
		}
	}
	return s.end - s.pos, nil
}

func (s *scanner) advance(n int) {
	s.pos += n
	s.off += int64(n)
}

// scan reads the journal of size bytes from r, calling fn (if not nil) for
// every valid record in order, and classifies whatever follows the last
// valid frame. The payload passed to fn is only valid during the call.
//
// An error is returned for I/O errors, a bad header and errors from fn;
// corruption and torn tails are described in the result.
func scan(r io.Reader, size int64, fn func(offset int64, payload []byte) error) (scanResult, error) {
	res := scanResult{fileSize: size}
	s := &scanner{r: io.LimitReader(r, size), buf: make([]byte, min(int64(readBufferSize), max(size, int64(headerSize))))}

	n, err := s.fill(headerSize)
	if err != nil {
		return res, err
	}
	h := s.buf[:n]
	if n < headerSize || (size == int64(headerSize) && isZero(h)) {
		// The file was being created when its writer stopped: a prefix of
		// the header (whose salt may be missing or partly written), or a
		// header-sized hole.
		if isZero(h) || bytes.HasPrefix(prologue(), h[:min(n, prologueSize)]) {
			res.noHeader = true
			res.torn = size > 0
			res.reason = "incomplete file header"
			return res, nil
		}
	}
	if err := checkPrologue(h, size); err != nil {
		return res, err
	}
	res.seed = saltSeed(h[prologueSize:headerSize])
	if zeroFrameValid(res.seed) {
		// newSalt never writes such a salt; accepting it would read a
		// hole of zeros as records.
		return res, fmt.Errorf("%w: salt under which zero bytes form a valid frame", ErrBadHeader)
	}
	s.advance(headerSize)

	for {
		res.validEnd = s.off
		n, err := s.fill(frameHeaderSize)
		if err != nil {
			return res, err
		}
		if n == 0 {
			return res, nil
		}
		if n < frameHeaderSize {
			return res, s.bad(&res, "incomplete frame header")
		}
		length := binary.LittleEndian.Uint32(s.buf[s.pos:])
		if length > MaxRecordSize {
			return res, s.bad(&res, fmt.Sprintf("length %d exceeds the maximum %d", length, MaxRecordSize))
		}
		total := frameHeaderSize + int(length)
		if n, err = s.fill(total); err != nil {
			return res, err
		}
		if n < total {
			return res, s.bad(&res, fmt.Sprintf("frame of %d bytes runs past the end of the file", total))
		}
		frame := s.buf[s.pos : s.pos+total : s.pos+total]
		// checkFrame, by hand: the call costs in this loop.
		sum := crc32.Update(res.seed, castagnoli, frame[:4])
		sum = crc32.Update(sum, castagnoli, frame[frameHeaderSize:])
		if sum != binary.LittleEndian.Uint32(frame[4:]) {
			return res, s.bad(&res, "checksum mismatch")
		}
		if fn != nil {
			if err := fn(s.off, frame[frameHeaderSize:]); err != nil {
				return res, fmt.Errorf("record at offset %d: %w", s.off, err)
			}
		}
		res.records++
		s.advance(total)
	}
}

// checkPrologue checks the magic and version at the start of h, the first
// bytes of a file of size bytes that is not a torn creation.
func checkPrologue(h []byte, size int64) error {
	if len(h) < len(magic) {
		return fmt.Errorf("%w: file of %d bytes is shorter than a header", ErrBadHeader, size)
	}
	if string(h[:len(magic)]) != magic {
		return fmt.Errorf("%w: bad magic %q", ErrBadHeader, h[:len(magic)])
	}
	if len(h) < prologueSize {
		return fmt.Errorf("%w: file of %d bytes is shorter than a header", ErrBadHeader, size)
	}
	switch v := binary.LittleEndian.Uint32(h[len(magic):]); {
	case v == 1:
		return fmt.Errorf("%w: version 1 journal (frames without a per-file salt) is no longer read; this build reads version %d", ErrBadHeader, version)
	case v != version:
		return fmt.Errorf("%w: version %d, want %d", ErrBadHeader, v, version)
	}
	if len(h) < headerSize {
		return fmt.Errorf("%w: file of %d bytes is shorter than a header", ErrBadHeader, size)
	}
	return nil
}

// bad classifies the bad frame at s.off: corruption if a frame valid under
// the file's salt follows it, a torn tail otherwise. It returns only I/O
// errors.
func (s *scanner) bad(res *scanResult, reason string) error {
	off := s.off
	rest := res.fileSize - off
	if rest > MaxBatchSize {
		// No crash of a writer leaves this much behind its last synced
		// frame; do not search it, and never cut it off.
		res.corrupted = &CorruptError{Offset: off, Reason: fmt.Sprintf(
			"%s; %d bytes follow, more than one write can leave torn", reason, rest)}
		return nil
	}
	if _, err := s.fill(int(rest)); err != nil {
		return err
	}
	tail := s.buf[s.pos:s.end]
	for p := 1; p+frameHeaderSize <= len(tail); p++ {
		if validFrameAt(tail, p, res.seed) {
			res.corrupted = &CorruptError{Offset: off, Reason: fmt.Sprintf(
				"%s; a valid frame follows at offset %d", reason, off+int64(p))}
			return nil
		}
	}
	res.torn = true
	res.reason = reason
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
