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
	// version is the format version written after magic.
	version uint32 = 1
	// headerSize is len(magic) plus the version.
	headerSize = len(magic) + 4
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
	// package does not read.
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

// fileHeader returns the header of a new journal.
func fileHeader() []byte {
	return binary.LittleEndian.AppendUint32([]byte(magic), version)
}

// frameSize is the encoded size of a record carrying n payload bytes.
func frameSize(n int) int { return frameHeaderSize + n }

// appendFrame appends the frame of payload to dst.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	sum := crc32.Update(0, castagnoli, dst[len(dst)-4:])
	sum = crc32.Update(sum, castagnoli, payload)
	dst = binary.LittleEndian.AppendUint32(dst, sum)
	return append(dst, payload...)
}

// validFrameAt reports whether a complete, valid frame starts at b[p:].
func validFrameAt(b []byte, p int) bool {
	if len(b)-p < frameHeaderSize {
		return false
	}
	n := binary.LittleEndian.Uint32(b[p:])
	if n > MaxRecordSize || uint64(len(b)-p-frameHeaderSize) < uint64(n) {
		return false
	}
	end := p + frameHeaderSize + int(n)
	sum := crc32.Update(0, castagnoli, b[p:p+4])
	sum = crc32.Update(sum, castagnoli, b[p+frameHeaderSize:end])
	return sum == binary.LittleEndian.Uint32(b[p+4:])
}

// scanResult describes one pass over a journal.
type scanResult struct {
	records   int64  // valid records seen
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
	if n < headerSize || (size == int64(headerSize) && isZero(s.buf[:n])) {
		// The file was being created when its writer stopped: a prefix of
		// the header, or a header-sized hole.
		if bytes.HasPrefix(fileHeader(), s.buf[:n]) || isZero(s.buf[:n]) {
			res.noHeader = true
			res.torn = size > 0
			res.reason = "incomplete file header"
			return res, nil
		}
		return res, fmt.Errorf("%w: file of %d bytes is shorter than a header", ErrBadHeader, size)
	}
	if string(s.buf[:len(magic)]) != magic {
		return res, fmt.Errorf("%w: bad magic %q", ErrBadHeader, s.buf[:len(magic)])
	}
	if v := binary.LittleEndian.Uint32(s.buf[len(magic):]); v != version {
		return res, fmt.Errorf("%w: version %d, want %d", ErrBadHeader, v, version)
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
		sum := crc32.Update(0, castagnoli, frame[:4])
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

// bad classifies the bad frame at s.off: corruption if a valid frame
// follows it, a torn tail otherwise. It returns only I/O errors.
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
		if validFrameAt(tail, p) {
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
