package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestForgedFrameInTornRecord checks that a user who controls payload
// bytes cannot make Open refuse to start. The store writes user text byte
// for byte, so a user can embed a byte-perfect frame in a record; but not
// one valid under the journal's salt, which they do not know. When the
// record holding it is the last one and its write is torn, Open must cut
// it off as a torn tail.
func TestForgedFrameInTornRecord(t *testing.T) {
	inner := []byte(`INSERT INTO reports VALUES ('arrival', 35)`)
	guessed := randomBytes(rand.New(rand.NewPCG(7, 8)), saltSize)
	// Each forge returns the bytes the user embeds, computed as an
	// attacker can: without the journal's salt.
	tests := []struct {
		name  string
		forge func() []byte
	}{
		{"frame with the unsalted CRC of version 1", func() []byte { return appendFrame(nil, 0, inner) }},
		{"empty frame with the unsalted CRC", func() []byte { return appendFrame(nil, 0, nil) }},
		{"frame salted with zeros", func() []byte { return appendFrame(nil, saltSeed(make([]byte, saltSize)), inner) }},
		{"frame salted with a guess", func() []byte { return appendFrame(nil, saltSeed(guessed), inner) }},
		{"frame from another journal", func() []byte { return appendFrame(nil, saltSeed(testSalt), inner) }},
		{"chain of unsalted frames", func() []byte {
			return appendFrame(appendFrame(appendFrame(nil, 0, inner), 0, []byte("two")), 0, nil)
		}},
		{"4096 empty frames, each guessing the checksum", func() []byte {
			var b []byte
			for i := range uint32(4096) {
				b = appendFrameSum(b, nil, i*0x9e3779b1)
			}
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forged := tt.forge()
			prefix := []byte("user text: ")
			payload := slices.Concat(prefix, forged, []byte(" (sent from my phone)"))
			recs := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			var offsets []int64
			var size int64
			for attempt := 1; ; attempt++ {
				offsets, size = writeJournal(t, src, append(recs, payload))
				// A planted frame is valid under the salt with probability
				// 2^-32 (see the package doc); if this salt is that unlucky,
				// draw another rather than flake. Three in a row is no luck.
				if !containsValidFrame(payload, fileSeed(t, src)) {
					break
				}
				if attempt == 3 {
					t.Fatalf("the forged bytes hold a valid frame under %d salts in a row", attempt)
				}
				if err := os.Remove(src); err != nil {
					t.Fatal(err)
				}
			}
			whole := fileBytes(t, src)
			last := offsets[len(offsets)-1]
			forgedStart := last + frameHeaderSize + int64(len(prefix))
			forgedEnd := forgedStart + int64(len(forged))
			if !bytes.Equal(whole[forgedStart:forgedEnd], forged) {
				t.Fatal("the record does not hold the forged bytes verbatim")
			}

			// Every cut after the forged bytes (the planted frames are then
			// whole), and a sample of the others.
			var cuts []int64
			for cut := last + 1; cut < forgedEnd; cut += max(1, (forgedEnd-last)/16) {
				cuts = append(cuts, cut)
			}
			for cut := forgedEnd; cut < size; cut++ {
				cuts = append(cuts, cut)
			}
			for _, cut := range cuts {
				path := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
				writeFile(t, path, whole[:cut])
				rep, err := Verify(path)
				if err != nil || rep.Corruption != nil || !rep.TornTail || rep.ValidSize != last || rep.Records != 3 {
					t.Fatalf("cut at %d: Verify = %+v, %v; want a torn tail at %d", cut, rep, err, last)
				}
				j, got := openT(t, path, Options{})
				equalRecords(t, got, recs)
				if rec := j.Recovery(); rec.TruncatedAt != last || rec.DroppedBytes != cut-last {
					t.Errorf("cut at %d: Recovery = %+v, want %d bytes cut at %d", cut, rec, cut-last, last)
				}
				closeT(t, j)
				if got := fileSize(t, path); got != last {
					t.Fatalf("cut at %d: file has %d bytes after Open, want %d", cut, got, last)
				}
			}
		})
	}
}

// containsValidFrame reports whether a frame valid under seed starts at
// any offset of b.
func containsValidFrame(b []byte, seed uint32) bool {
	for p := range b {
		if validFrameAt(b, p, seed) {
			return true
		}
	}
	return false
}

// TestEmbeddedValidFrameIsCorruption is the control for
// TestForgedFrameInTornRecord: the same kind of record, embedding a frame
// computed with the journal's own salt, which only a reader of the file
// could do, is still taken for corruption once it is torn after that
// frame. So the rule is unchanged; only forging became impossible.
func TestEmbeddedValidFrameIsCorruption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	recs := [][]byte{[]byte("one"), []byte("two")}
	offsets, _ := writeJournal(t, path, recs)
	forged := appendFrame(nil, fileSeed(t, path), []byte("planted"))
	j, _ := openT(t, path, Options{})
	if err := j.Append(t.Context(), slices.Concat([]byte("x"), forged, []byte("yz"))); err != nil {
		t.Fatal(err)
	}
	closeT(t, j)
	last := j.Size() - int64(frameSize(1+len(forged)+2))
	whole := fileBytes(t, path)
	writeFile(t, path, whole[:j.Size()-1]) // torn after the planted frame

	_, err := Open(path, Options{}, nil)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Offset != last || last <= offsets[1] {
		t.Fatalf("Open = %v, want a *CorruptError at %d", err, last)
	}
}

// TestChecksum pins the frame checksum to its definition: the CRC-32C of
// salt, length and payload, whatever the shortcuts of the code.
func TestChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []uint32{0, 1, 255, 256, 0x01020304, MaxRecordSize, 0xffffffff, r.Uint32(), r.Uint32()} {
		for _, crc := range []uint32{0, 1, 0xffffffff, r.Uint32()} {
			if got, want := updateLength(crc, n), crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), binary.LittleEndian.AppendUint32(nil, n)); got != want {
				t.Errorf("updateLength(%#x, %#x) = %#x, want %#x", crc, n, got, want)
			}
		}
	}
	for _, size := range []int{0, 1, 3, 300, 4096} {
		salt := randomBytes(r, saltSize)
		payload := randomBytes(r, size)
		frame := appendFrame(nil, saltSeed(salt), payload)
		def := slices.Concat(salt, binary.LittleEndian.AppendUint32(nil, uint32(size)), payload)
		if got, want := binary.LittleEndian.Uint32(frame[4:]), crc32.Checksum(def, crc32.MakeTable(crc32.Castagnoli)); got != want {
			t.Errorf("frame of %d bytes: checksum %#x, want CRC-32C(salt‖length‖payload) = %#x", size, got, want)
		}
		if !checkFrame(saltSeed(salt), frame) || checkFrame(saltSeed(testSalt), frame) || checkFrame(0, frame) {
			t.Errorf("frame of %d bytes: valid only under its own salt? %v %v %v", size,
				checkFrame(saltSeed(salt), frame), checkFrame(saltSeed(testSalt), frame), checkFrame(0, frame))
		}
	}
}

func TestNewSalt(t *testing.T) {
	bad := zeroFrameSalt()
	if !zeroFrameValid(saltSeed(bad)) {
		t.Fatalf("zeroFrameSalt %x does not make zeros a valid frame", bad)
	}
	salt, err := newSalt(bytes.NewReader(slices.Concat(bad, testSalt)))
	if err != nil || !bytes.Equal(salt, testSalt) {
		t.Errorf("newSalt = %x, %v; want the salt after the rejected one, %x", salt, err, testSalt)
	}
	if _, err := newSalt(bytes.NewReader(testSalt[:5])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("newSalt of a short read = %v, want io.ErrUnexpectedEOF", err)
	}

	// Every journal draws its own salt.
	dir := t.TempDir()
	seen := map[string]bool{}
	for i := range 8 {
		path := filepath.Join(dir, fmt.Sprint(i))
		writeJournal(t, path, nil)
		salt := string(fileBytes(t, path)[prologueSize:headerSize])
		if seen[salt] {
			t.Fatalf("salt %x drawn twice", salt)
		}
		seen[salt] = true
	}
}
