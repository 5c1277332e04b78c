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

	// zeroBlock is the smallest block a file system writes back whole:
	// zeros that a machine crash leaves in a file start at a multiple of it.
	zeroBlock = 512

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

// CorruptError reports damage that Open does not repair: a bad frame
// followed by valid data, a bad frame that could be a damaged complete
// frame rather than an unfinished write, or a damaged header (see the
// package doc). gridbot db repair sets such a file aside and keeps every
// frame that checks.
type CorruptError struct {
	// Offset is the byte offset in the file of the first bad frame.
	Offset int64
	// Reason says what is wrong with it.
	Reason string
	// Header reports that the damage is in the file header (or that no
	// frame at all checks under it); Offset is then that of the damaged
	// header byte when it is known, else of the first frame.
	Header bool
}

func (e *CorruptError) Error() string {
	if e.Header {
		return fmt.Sprintf("damaged header (offset %d): %s", e.Offset, e.Reason)
	}
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
	salt      []byte // the file's salt; nil if noHeader
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
		// A journal whose magic or version was damaged still has frames
		// that check under its salt: that is damage, not a foreign file.
		if ce, ferr := s.damagedPrologue(size); ferr != nil || ce != nil {
			if ferr != nil {
				return res, ferr
			}
			res.corrupted = ce
			return res, nil
		}
		return res, err
	}
	res.salt = bytes.Clone(h[prologueSize:headerSize])
	res.seed = saltSeed(res.salt)
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
// the file's salt follows it or if it could be a damaged complete frame, a
// torn tail only if it cannot be a frame at all (see notTorn). It returns
// only I/O errors.
func (s *scanner) bad(res *scanResult, reason string) error {
	off := s.off
	rest := res.fileSize - off
	if rest > MaxBatchSize {
		// No crash of a writer leaves this much behind its last synced
		// frame; do not search it, and never cut it off.
		res.corrupted = &CorruptError{Offset: off, Reason: fmt.Sprintf(
			"%s; %d bytes follow, more than one write can leave torn", reason, rest)}
		s.blameHeader(res)
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
	if why := notTorn(tail, off, res.seed); why != "" {
		res.corrupted = &CorruptError{Offset: off, Reason: reason + "; " + why}
		s.blameHeader(res)
		return nil
	}
	res.torn = true
	res.reason = reason
	return nil
}

// blameHeader marks res.corrupted as damage to the header when no frame of
// the file checks: the salt, or every frame, is damaged. If flipping one
// bit of the salt makes the first frame check, the salt is damaged and
// the error names its byte.
func (s *scanner) blameHeader(res *scanResult) {
	ce := res.corrupted
	if ce.Offset != int64(headerSize) {
		return
	}
	ce.Header = true
	if i, ok := saltFlip(res.salt, s.buf[s.pos:s.end]); ok {
		ce.Offset = int64(prologueSize + i/8)
		ce.Reason = fmt.Sprintf("the header's salt is damaged: with bit %d of byte %d flipped back, the first frame checks", i%8, prologueSize+i/8)
		return
	}
	ce.Reason += "; no frame in the file checks under the header's salt: the salt (bytes 12-27) or every frame is damaged"
}

// damagedPrologue is called when the magic or version at the start of
// the file is wrong. If the file's first frame checks under the salt in
// its header, the file is a journal whose prologue was damaged: it
// returns the *CorruptError saying so. Otherwise it returns nil: the file
// is not a journal of this version.
func (s *scanner) damagedPrologue(size int64) (*CorruptError, error) {
	if size < int64(headerSize+frameHeaderSize) {
		return nil, nil
	}
	n, err := s.fill(headerSize + frameHeaderSize)
	if err != nil || n < headerSize+frameHeaderSize {
		return nil, err
	}
	length := binary.LittleEndian.Uint32(s.buf[s.pos+headerSize:])
	if length > MaxRecordSize {
		return nil, nil
	}
	if n, err = s.fill(headerSize + frameHeaderSize + int(length)); err != nil || n < headerSize+frameHeaderSize+int(length) {
		return nil, err
	}
	h := s.buf[s.pos : s.pos+headerSize]
	if !validFrameAt(s.buf[s.pos:s.end], headerSize, saltSeed(h[prologueSize:])) {
		return nil, nil
	}
	want := prologue()
	first := 0
	for first < prologueSize && h[first] == want[first] {
		first++
	}
	return &CorruptError{Offset: int64(first), Header: true, Reason: fmt.Sprintf(
		"the header's magic or version is damaged (%q, want %q), but the frames check under its salt", h[:prologueSize], want)}, nil
}

// saltFlip reports whether flipping one bit of salt makes a complete frame
// at the start of frames check, and which bit (byte*8 + bit).
func saltFlip(salt, frames []byte) (int, bool) {
	if len(salt) != saltSize || len(frames) < frameHeaderSize {
		return 0, false
	}
	n := binary.LittleEndian.Uint32(frames)
	if n > MaxRecordSize || uint64(len(frames)-frameHeaderSize) < uint64(n) {
		return 0, false
	}
	fixed := bytes.Clone(salt)
	for i := range saltSize * 8 {
		fixed[i/8] ^= 1 << (i % 8)
		ok := validFrameAt(frames, 0, saltSeed(fixed))
		fixed[i/8] ^= 1 << (i % 8)
		if ok {
			return i, true
		}
	}
	return 0, false
}

// notTorn returns why tail, the bytes from the first bad frame (at offset
// off) to the end of the file, in which no valid frame starts, could be a
// damaged complete frame rather than a torn tail; "" if it cannot be one.
//
// A crash leaves behind its last synced frame a prefix of the frames of
// one write (a process crash, or a machine crash that persisted the data
// before the size), possibly followed by zeros from a block boundary on (a
// machine crash that persisted the file's size but not all of its blocks).
// So the tail is torn only if it is shorter than a frame header, all
// zeros, or one frame that runs past the end of the file or into such
// zeros. Anything else — a complete frame that fails its check, a length
// no writer writes, a frame whose length is one flipped bit away from a
// valid frame — could be damage to a frame that was acknowledged, and
// must not be cut off.
func notTorn(tail []byte, off int64, seed uint32) string {
	if len(tail) < frameHeaderSize || isZero(tail) {
		return ""
	}
	n := binary.LittleEndian.Uint32(tail)
	if n > MaxRecordSize {
		return "no writer writes that length, so it is not an unfinished write"
	}
	if l, ok := lengthFlip(tail, seed); ok {
		return fmt.Sprintf("it is a complete frame of %d payload bytes whose length field is damaged", l)
	}
	end := frameHeaderSize + int(n)
	if end > len(tail) {
		return "" // runs past the end of the file: an unfinished write
	}
	z := len(tail)
	for z > 0 && tail[z-1] == 0 {
		z--
	}
	// the first block boundary in the trailing zeros
	b := int((off+int64(z)+zeroBlock-1)/zeroBlock*zeroBlock - off)
	if b < end {
		return "" // zeros from a block boundary inside the frame to the end of the file
	}
	if end < len(tail) {
		return fmt.Sprintf("it is a complete frame that fails its check, and %d bytes follow it", len(tail)-end)
	}
	return "it is a complete frame that fails its check"
}

// lengthFlip reports whether the frame at the start of tail checks once
// one bit of its length field is flipped, and the length it then has.
func lengthFlip(tail []byte, seed uint32) (uint32, bool) {
	n := binary.LittleEndian.Uint32(tail)
	sum := binary.LittleEndian.Uint32(tail[4:])
	for i := range 32 {
		l := n ^ 1<<i
		if l > MaxRecordSize || uint64(len(tail)-frameHeaderSize) < uint64(l) {
			continue
		}
		if crc32.Update(updateLength(seed, l), castagnoli, tail[frameHeaderSize:frameHeaderSize+int(l)]) == sum {
			return l, true
		}
	}
	return 0, false
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
