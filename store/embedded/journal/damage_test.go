package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// damagePayloads are the records of the journals the damage tests break:
// a few sizes, the last one long enough to hold every kind of field.
var damagePayloads = [][]byte{
	[]byte("first record"), bytes.Repeat([]byte("second "), 9), []byte("3"),
	[]byte(`{"kind":"arrival","text":"返乡 张三"}`),
}

// mustRefuse checks that Open, ReadAll and Verify all refuse the journal
// at path, holding content, as damaged (not as a torn tail), that Open
// leaves it unchanged, and returns Open's *CorruptError.
func mustRefuse(t *testing.T, path string, content []byte) *CorruptError {
	t.Helper()
	j, err := Open(path, Options{}, nil)
	if err == nil {
		rec := j.Recovery()
		j.Close()
		t.Fatalf("Open succeeded (recovery %+v, %d bytes left of %d); want it refused", rec, fileSize(t, path), len(content))
	}
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Open = %v, want a *CorruptError", err)
	}
	if got := fileBytes(t, path); !bytes.Equal(got, content) {
		t.Fatalf("Open changed the damaged file (%d bytes of %d left)", len(got), len(content))
	}
	if _, err := ReadAll(path, nil); !errors.As(err, new(*CorruptError)) {
		t.Errorf("ReadAll = %v, want a *CorruptError", err)
	}
	rep, err := Verify(path)
	if err != nil || rep.Corruption == nil || rep.TornTail || rep.OK() {
		t.Errorf("Verify = %+v, %v; want the damage reported", rep, err)
	}
	return ce
}

// TestHeaderDamageStopsOpen flips each bit of the header of a journal
// with records. Before the fix, a flipped bit of the salt made every frame
// fail its check, the whole file was taken for a torn tail and Open cut it
// down to its header.
func TestHeaderDamageStopsOpen(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeJournal(t, src, damagePayloads)
	whole := fileBytes(t, src)
	for bit := range headerSize * 8 {
		t.Run(fmt.Sprintf("byte %d bit %d", bit/8, bit%8), func(t *testing.T) {
			b := bytes.Clone(whole)
			b[bit/8] ^= 1 << (bit % 8)
			path := filepath.Join(dir, fmt.Sprintf("h%d", bit))
			writeFile(t, path, b)
			ce := mustRefuse(t, path, b)
			if !ce.Header {
				t.Errorf("error %q does not blame the header", ce)
			}
			if bit/8 >= prologueSize && ce.Offset != int64(bit/8) {
				t.Errorf("error %q: offset %d, want the damaged salt byte %d", ce, ce.Offset, bit/8)
			}
		})
	}
}

// TestFrameDamageStopsOpen flips each bit of the last frame, of a middle
// frame and of the only frame of a journal: each is a complete frame, so
// the damage must stop the open, never be cut off as a torn tail.
func TestFrameDamageStopsOpen(t *testing.T) {
	tests := []struct {
		name     string
		payloads [][]byte
		frame    int
	}{
		{"last frame", damagePayloads, len(damagePayloads) - 1},
		{"middle frame", damagePayloads, 1},
		{"only frame", damagePayloads[3:], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			offsets, size := writeJournal(t, src, tt.payloads)
			whole := fileBytes(t, src)
			start := offsets[tt.frame]
			end := size
			if tt.frame+1 < len(offsets) {
				end = offsets[tt.frame+1]
			}
			for bit := start * 8; bit < end*8; bit++ {
				b := bytes.Clone(whole)
				b[bit/8] ^= 1 << (bit % 8)
				path := filepath.Join(dir, fmt.Sprint(bit))
				writeFile(t, path, b)
				t.Run(fmt.Sprintf("byte %d bit %d", bit/8-start, bit%8), func(t *testing.T) {
					ce := mustRefuse(t, path, b)
					if ce.Offset != start && !(ce.Header && tt.frame == 0) {
						t.Errorf("error %q: offset %d, want %d", ce, ce.Offset, start)
					}
				})
			}
		})
	}
}

// TestTruncatedLastFrameIsCut cuts the journal at every byte of its last
// frame, and pads each cut with zeros from a block boundary, as a crash
// of the writer (or of the machine) leaves it: the unfinished frame is cut
// off and every earlier record kept.
func TestTruncatedLastFrameIsCut(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	// A last record spanning a 512-byte boundary, so that zeros can start
	// at a block boundary inside it.
	payloads := append(slices.Clone(damagePayloads), bytes.Repeat([]byte("last "), 200))
	offsets, size := writeJournal(t, src, payloads)
	whole := fileBytes(t, src)
	last := offsets[len(offsets)-1]
	check := func(name string, content []byte) {
		t.Helper()
		path := filepath.Join(dir, "cut")
		writeFile(t, path, content)
		rep, err := Verify(path)
		if err != nil || rep.Corruption != nil || !rep.TornTail || rep.ValidSize != last {
			t.Fatalf("%s: Verify = %+v, %v; want a torn tail at %d", name, rep, err, last)
		}
		j, got := openT(t, path, Options{})
		equalRecords(t, got, payloads[:len(payloads)-1])
		closeT(t, j)
		if got := fileSize(t, path); got != last {
			t.Fatalf("%s: %d bytes after Open, want %d", name, got, last)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
	for cut := last + 1; cut < size; cut++ {
		check(fmt.Sprintf("cut at %d", cut), whole[:cut])
	}
	// A machine crash can persist the file's new size but not all of its
	// blocks: zeros from a block boundary on, to the end of the write or
	// beyond it.
	boundaries := 0
	for block := (last/zeroBlock + 1) * zeroBlock; block < size; block += zeroBlock {
		boundaries++
		for _, end := range []int64{size, size + 3, (size/zeroBlock + 1) * zeroBlock} {
			content := make([]byte, end)
			copy(content, whole[:block])
			check(fmt.Sprintf("zeros from %d to %d", block, end), content)
		}
	}
	if boundaries == 0 {
		t.Fatalf("the last frame [%d, %d) spans no block boundary", last, size)
	}
}

// TestLostJournal checks that a journal deleted or emptied where one was
// created is an error, not a new, empty store; and that a journal created
// before header copies existed gets one.
func TestLostJournal(t *testing.T) {
	tests := []struct {
		name   string
		damage func(path string) error
	}{
		{"deleted", os.Remove},
		{"emptied", func(path string) error { return os.Truncate(path, 0) }},
		{"cut inside its header", func(path string) error { return os.Truncate(path, 10) }},
		{"header zeroed, nothing after it", func(path string) error {
			return os.WriteFile(path, make([]byte, headerSize), 0o600)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			writeJournal(t, path, damagePayloads)
			if got, want := fileBytes(t, path+HeaderCopySuffix), fileBytes(t, path)[:headerSize]; !bytes.Equal(got, want) {
				t.Fatalf("header copy %x, want the header %x", got, want)
			}
			if err := tt.damage(path); err != nil {
				t.Fatal(err)
			}
			before, statErr := os.ReadFile(path)
			if _, err := Open(path, Options{}, nil); !errors.Is(err, ErrLost) {
				t.Errorf("Open = %v, want ErrLost", err)
			}
			after, err := os.ReadFile(path)
			if !bytes.Equal(after, before) || (statErr == nil) != (err == nil) {
				t.Errorf("Open changed the file: %d bytes (%v), was %d (%v)", len(after), err, len(before), statErr)
			}
			if _, err := ReadAll(path, nil); !errors.Is(err, ErrLost) {
				t.Errorf("ReadAll = %v, want ErrLost", err)
			}
			if _, err := Verify(path); !errors.Is(err, ErrLost) {
				t.Errorf("Verify = %v, want ErrLost", err)
			}
		})
	}

	t.Run("journal from before header copies", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "j")
		writeJournal(t, path, damagePayloads)
		if err := os.Remove(path + HeaderCopySuffix); err != nil {
			t.Fatal(err)
		}
		j, got := openT(t, path, Options{})
		equalRecords(t, got, damagePayloads)
		closeT(t, j)
		if got, want := fileBytes(t, path+HeaderCopySuffix), fileBytes(t, path)[:headerSize]; !bytes.Equal(got, want) {
			t.Errorf("header copy %x, want the header %x", got, want)
		}
	})
}
