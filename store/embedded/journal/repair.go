package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// RepairOptions configures Repair.
type RepairOptions struct {
	// Aside is the name the damaged file is kept under. It must not exist
	// and must be on the journal's file system (it is a hard link).
	Aside string
}

// Lost is a region of a damaged journal that Repair could not keep.
type Lost struct {
	// Offset and Size locate the region in the damaged file.
	Offset, Size int64
	// Reason says what is wrong with it.
	Reason string
	// Torn reports that the region is a torn tail: an unfinished write
	// that was never acknowledged, which Open would have cut off.
	Torn bool
	// Payload, when the region is exactly one frame whose length field
	// fits it, is that frame's (damaged) payload: the caller may try to
	// tell what it held. It is never to be printed: it carries what users
	// typed.
	Payload []byte
}

// RepairReport says what Repair did.
type RepairReport struct {
	// Changed is false when the journal needed no repair; nothing was
	// done then.
	Changed bool
	// Records and Size are what the repaired journal holds.
	Records, Size int64
	// Header says what was wrong with the header and how it was
	// restored; "" if it was intact.
	Header string
	// Fixed lists the offsets of frames kept after correcting one bit of
	// their length field (their checksum then matched).
	Fixed []int64
	// Lost lists the regions dropped, in file order.
	Lost []Lost
	// Aside is where the damaged file now is, if Changed.
	Aside string
}

// Repair rewrites the damaged journal at path with every frame that
// checks, keeping the damaged file as opts.Aside; it never deletes it. The
// repaired file replaces the damaged one in one rename, after the damaged
// one got its second name, so a crash leaves one or the other under path.
// It takes the writer's lock, so it fails with ErrLocked while a writer
// runs. It reads the whole file into memory.
//
// It keeps every frame valid under the journal's salt, including frames
// after a damaged region: frames carry no sequence numbers, so after a bad
// frame Repair resynchronises on the next offset where a complete frame
// checks — the one the bad frame's length points to if that checks, else
// the first one found byte by byte. A frame is valid by chance with
// probability 2^-32 per offset tried, and only if its length field also
// fits the file. A frame that checks once one bit of its length is flipped
// back is kept with the length corrected.
//
// A damaged header is restored when frames check under a salt that can be
// recovered: the file's own, the one in the header copy
// (HeaderCopySuffix), or one a single flipped bit away from the file's.
// If no frame checks under any of them, Repair fails and changes nothing.
func Repair(path string, opts RepairOptions) (RepairReport, error) {
	rep, err := repair(path, opts)
	if err != nil {
		return RepairReport{}, fmt.Errorf("journal: repair %s: %w", path, err)
	}
	return rep, nil
}

func repair(path string, opts RepairOptions) (RepairReport, error) {
	if opts.Aside == "" {
		return RepairReport{}, errors.New("no name to keep the damaged file under")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return RepairReport{}, err
	}
	defer f.Close() // also drops the lock
	if err := lock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return RepairReport{}, ErrLocked
		}
		return RepairReport{}, fmt.Errorf("lock: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return RepairReport{}, err
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return RepairReport{}, err
	}
	if len(b) < headerSize {
		return RepairReport{}, fmt.Errorf("%w: the file holds %d bytes, less than a header: there is nothing to keep", ErrLost, len(b))
	}
	held, err := readHeaderCopy(path)
	if err != nil {
		return RepairReport{}, err
	}

	var rep RepairReport
	salt, note, err := repairSalt(b, held)
	if err != nil {
		return RepairReport{}, err
	}
	rep.Header = note
	seed := saltSeed(salt)
	out := append(make([]byte, 0, len(b)), fileHeader(salt)...)
	for p := headerSize; p < len(b); {
		if validFrameAt(b, p, seed) {
			n := frameSize(int(binary.LittleEndian.Uint32(b[p:])))
			out = append(out, b[p:p+n]...)
			rep.Records++
			p += n
			continue
		}
		if len(b)-p >= frameHeaderSize {
			if l, ok := lengthFlip(b[p:], seed); ok {
				out = appendFrameSum(out, b[p+frameHeaderSize:p+frameSize(int(l))], binary.LittleEndian.Uint32(b[p+4:]))
				rep.Records++
				rep.Fixed = append(rep.Fixed, int64(p))
				p += frameSize(int(l))
				continue
			}
		}
		next := resync(b, p, seed)
		region := b[p:next]
		lost := Lost{Offset: int64(p), Size: int64(len(region)), Reason: lostReason(region, next == len(b))}
		if next == len(b) && len(region) <= MaxBatchSize && notTorn(region, int64(p), seed) == "" {
			lost.Torn = true
		}
		if len(region) >= frameHeaderSize && frameSize(int(binary.LittleEndian.Uint32(region))) == len(region) {
			lost.Payload = region[frameHeaderSize:]
		}
		rep.Lost = append(rep.Lost, lost)
		p = next
	}
	rep.Size = int64(len(out))
	if rep.Header == "" && len(rep.Lost) == 0 && len(rep.Fixed) == 0 {
		return rep, nil // nothing to repair
	}

	if _, err := os.Lstat(opts.Aside); !errors.Is(err, fs.ErrNotExist) {
		return RepairReport{}, fmt.Errorf("%s exists already (or cannot be checked: %v): choose another name to keep the damaged file", opts.Aside, err)
	}
	tmp := path + ".repair"
	if err := writeSynced(tmp, out); err != nil {
		return RepairReport{}, err
	}
	// A second name for the damaged file first, then the repaired file
	// takes the journal's name in one rename: at every moment the journal
	// is either the damaged file or the repaired one.
	if err := os.Link(path, opts.Aside); err != nil {
		os.Remove(tmp)
		return RepairReport{}, fmt.Errorf("keep the damaged file: %w", err)
	}
	if err := syncDir(filepath.Dir(opts.Aside)); err != nil {
		os.Remove(tmp)
		return RepairReport{}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return RepairReport{}, fmt.Errorf("the damaged file is kept as %s too, but the repaired one could not take its place: %w", opts.Aside, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return RepairReport{}, err
	}
	if err := writeHeaderCopy(path, out[:headerSize]); err != nil {
		return RepairReport{}, err
	}
	rep.Changed = true
	rep.Aside = opts.Aside
	return rep, nil
}

// repairSalt chooses the salt the repaired journal keeps: the file's own
// if its first frame checks under it, else the header copy's or one a bit
// away from the file's if the first frame checks under that, else the one
// of the file and the copy under which more frames check. It fails if no
// frame checks under any of them, or if the file is a journal of another
// version. note says what was wrong with the header.
func repairSalt(b, held []byte) (salt []byte, note string, err error) {
	want := prologue()
	if string(b[:len(magic)]) == magic && !bytes.Equal(b[:prologueSize], want) {
		if v := binary.LittleEndian.Uint32(b[len(magic):]); v == 1 {
			return nil, "", fmt.Errorf("%w: a version 1 journal, which this build does not read", ErrBadHeader)
		}
	}
	if !bytes.Equal(b[:prologueSize], want) {
		note = fmt.Sprintf("magic and version %q restored to %q; ", b[:prologueSize], want)
	}
	own := b[prologueSize:headerSize]
	type candidate struct {
		salt []byte
		what string
	}
	cands := []candidate{{own, ""}}
	if len(held) == headerSize && !bytes.Equal(held[prologueSize:], own) {
		cands = append(cands, candidate{held[prologueSize:], "salt restored from the header copy"})
	}
	for i := range saltSize * 8 {
		s := bytes.Clone(own)
		s[i/8] ^= 1 << (i % 8)
		cands = append(cands, candidate{s, fmt.Sprintf("salt restored: bit %d of byte %d was flipped", i%8, prologueSize+i/8)})
	}
	pick := func(c candidate) ([]byte, string, error) {
		if zeroFrameValid(saltSeed(c.salt)) {
			return nil, "", fmt.Errorf("%w: salt under which zero bytes form a valid frame", ErrBadHeader)
		}
		if note+c.what == "" {
			return c.salt, "", nil
		}
		return c.salt, trimSep(note + c.what), nil
	}
	if len(b) == headerSize {
		return pick(cands[0])
	}
	for _, c := range cands {
		if validFrameAt(b, headerSize, saltSeed(c.salt)) {
			return pick(c)
		}
	}
	best, bestN := -1, 0
	for i, c := range cands[:min(2, len(cands))] {
		if n := countFrames(b, saltSeed(c.salt)); n > bestN {
			best, bestN = i, n
		}
	}
	if best < 0 {
		return nil, "", errors.New("no frame checks under the header's salt, its copy or any salt one bit away from it: nothing can be kept; the file is unchanged")
	}
	return pick(cands[best])
}

func trimSep(s string) string {
	return string(bytes.TrimSuffix([]byte(s), []byte("; ")))
}

// countFrames counts the offsets after the header where a frame valid
// under seed starts, resynchronising as Repair does.
func countFrames(b []byte, seed uint32) int {
	n := 0
	for p := headerSize; p < len(b); {
		if validFrameAt(b, p, seed) {
			n++
			p += frameSize(int(binary.LittleEndian.Uint32(b[p:])))
			continue
		}
		p = resync(b, p, seed)
	}
	return n
}

// resync returns the offset of the next frame valid under seed after the
// bad frame at p: the one its length field points to if that one checks,
// else the first found byte by byte; len(b) if there is none.
func resync(b []byte, p int, seed uint32) int {
	if len(b)-p >= frameHeaderSize {
		if n := binary.LittleEndian.Uint32(b[p:]); n <= MaxRecordSize {
			if next := p + frameSize(int(n)); next < len(b) && validFrameAt(b, next, seed) {
				return next
			}
		}
	}
	for q := p + 1; q+frameHeaderSize <= len(b); q++ {
		if validFrameAt(b, q, seed) {
			return q
		}
	}
	return len(b)
}

// lostReason says what a region Repair drops is; atEnd if it runs to the
// end of the file.
func lostReason(region []byte, atEnd bool) string {
	if len(region) < frameHeaderSize {
		return "an incomplete frame header"
	}
	if isZero(region) {
		return "zeros"
	}
	n := binary.LittleEndian.Uint32(region)
	switch size := frameSize(int(n)); {
	case n > MaxRecordSize:
		return fmt.Sprintf("a length field of %d, above the maximum: not a frame", n)
	case size == len(region):
		return "one frame whose checksum does not match: its content is damaged"
	case size > len(region) && atEnd:
		return fmt.Sprintf("a frame of %d bytes cut short at the end of the file", size)
	case size > len(region):
		return fmt.Sprintf("a frame whose length field (%d bytes) runs over the next valid frame", size)
	default:
		return fmt.Sprintf("a frame of %d bytes that does not check, followed by %d bytes that are no frame", size, len(region)-size)
	}
}

// writeSynced writes b to a new file at path (replacing any) and syncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
