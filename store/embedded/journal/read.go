package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Stats describes a journal as ReadAll or Verify found it.
type Stats struct {
	// Records is the number of valid records read.
	Records int64
	// ValidSize is the offset just past the last valid frame (or past the
	// header if there are no records): the size Open would keep.
	ValidSize int64
	// FileSize is the size of the file when reading started.
	FileSize int64
	// TornTail reports that the FileSize-ValidSize bytes from offset
	// ValidSize on are a torn tail: an unfinished write, which Open would
	// cut off. While a writer runs, it is usually a write in progress.
	TornTail bool
	// TornReason says what is wrong with the torn tail's first frame.
	TornReason string
}

// Report is the result of Verify.
type Report struct {
	Stats
	// Corruption is the first corruption in the middle of the journal;
	// nil if there is none. Stats then describe the records before it.
	Corruption *CorruptError
}

// OK reports whether the journal has neither corruption nor a torn tail.
func (r Report) OK() bool { return r.Corruption == nil && !r.TornTail }

// ReadAll reads the journal at path without locking or changing it, calling
// fn, if not nil, with the offset and payload of each valid record in
// order. The payload is only valid during the call. It is safe while a
// writer appends or after a writer was killed: it reads up to the file's
// size when it starts, ignores a torn tail (reporting it in Stats) and
// returns a *CorruptError for corruption in the middle. An error from fn
// stops the read and is returned.
func ReadAll(path string, fn func(offset int64, payload []byte) error) (Stats, error) {
	res, err := readFile(path, fn)
	if err == nil && res.corrupted != nil {
		err = res.corrupted
	}
	if err != nil {
		return res.stats(), fmt.Errorf("journal: read %s: %w", path, err)
	}
	return res.stats(), nil
}

// Verify checks the journal at path without locking or changing it: it
// counts records and bytes and finds a torn tail or the first corruption,
// which it reports in the Report rather than as an error. The error is for
// a file that cannot be read or is not a journal.
func Verify(path string) (Report, error) {
	res, err := readFile(path, nil)
	if err != nil {
		return Report{}, fmt.Errorf("journal: verify %s: %w", path, err)
	}
	return Report{Stats: res.stats(), Corruption: res.corrupted}, nil
}

func readFile(path string, fn func(int64, []byte) error) (scanResult, error) {
	held, err := readHeaderCopy(path)
	if err != nil {
		return scanResult{}, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && held != nil {
		return scanResult{}, lost(path, "is missing")
	}
	if err != nil {
		return scanResult{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return scanResult{}, err
	}
	res, err := scan(f, fi.Size(), fn)
	if err == nil && res.noHeader && held != nil {
		return res, lost(path, fmt.Sprintf("holds %d bytes and no header", res.fileSize))
	}
	return res, err
}

func (r scanResult) stats() Stats {
	return Stats{
		Records:    r.records,
		ValidSize:  r.validEnd,
		FileSize:   r.fileSize,
		TornTail:   r.torn,
		TornReason: r.reason,
	}
}
