package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// damagedJournal writes a journal of damagePayloads plus more records,
// lets damage change its bytes (given the frame offsets) and returns its
// path, the damaged content and the offsets.
func damagedJournal(t *testing.T, damage func(b []byte, offsets []int64) []byte) (string, []byte, []int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.gbj")
	offsets, _ := writeJournal(t, path, repairPayloads)
	b := damage(fileBytes(t, path), offsets)
	writeFile(t, path, b)
	return path, b, offsets
}

var repairPayloads = append(slices.Clone(damagePayloads), []byte("five"), bytes.Repeat([]byte("six "), 30), []byte("seven"))

func without(i ...int) [][]byte {
	var out [][]byte
	for k, p := range repairPayloads {
		if !slices.Contains(i, k) {
			out = append(out, p)
		}
	}
	return out
}

func TestRepair(t *testing.T) {
	flip := func(at func(offsets []int64) int64, bit int) func([]byte, []int64) []byte {
		return func(b []byte, offsets []int64) []byte {
			b[at(offsets)+int64(bit/8)] ^= 1 << (bit % 8)
			return b
		}
	}
	frame := func(i int) func([]int64) int64 { return func(o []int64) int64 { return o[i] } }
	tests := []struct {
		name    string
		damage  func(b []byte, offsets []int64) []byte
		noCopy  bool     // remove the header copy first
		want    [][]byte // records of the repaired journal
		lost    []int    // frames lost, by index
		torn    bool     // the last lost region is a torn tail
		header  string   // in the header note
		fixed   int      // frames kept with a corrected length
		payload bool     // the lost region's Payload is the damaged frame's
	}{
		{name: "a middle frame's payload", damage: flip(frame(2), 8*8+3), want: without(2), lost: []int{2}, payload: true},
		{name: "two middle frames", damage: func(b []byte, o []int64) []byte {
			b[o[1]+12] ^= 4
			b[o[4]+9] ^= 1
			return b
		}, want: without(1, 4), lost: []int{1, 4}, payload: true},
		{name: "the last frame", damage: flip(frame(len(repairPayloads)-1), 70), want: without(len(repairPayloads) - 1), lost: []int{len(repairPayloads) - 1}, payload: true},
		{name: "a middle frame's length, one bit", damage: flip(frame(3), 2), want: repairPayloads, fixed: 1},
		{name: "a middle frame's length, garbage", damage: func(b []byte, o []int64) []byte {
			copy(b[o[3]:], []byte{0x13, 0x77, 0x01, 0})
			return b
		}, want: without(3), lost: []int{3}},
		{name: "a salt bit, no header copy", damage: flip(func([]int64) int64 { return int64(prologueSize) }, 77), noCopy: true, want: repairPayloads, header: "bit 5 of byte 21"},
		{name: "a salt bit", damage: flip(func([]int64) int64 { return int64(prologueSize) }, 77), want: repairPayloads, header: "header copy"},
		{name: "the whole salt, restored from the copy", damage: func(b []byte, _ []int64) []byte {
			copy(b[prologueSize:], testSalt)
			return b
		}, want: repairPayloads, header: "header copy"},
		{name: "the magic", damage: flip(func([]int64) int64 { return 0 }, 3), want: repairPayloads, header: "magic and version"},
		{name: "torn tail after a damaged middle", damage: func(b []byte, o []int64) []byte {
			b[o[1]+10] ^= 0x80
			return b[:len(b)-3]
		}, want: without(1, len(repairPayloads)-1), lost: []int{1, len(repairPayloads) - 1}, torn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, damaged, offsets := damagedJournal(t, tt.damage)
			if tt.noCopy {
				os.Remove(path + HeaderCopySuffix)
			}
			if _, err := Open(path, Options{}, nil); err == nil {
				t.Fatal("the damaged journal opens")
			}
			aside := path + ".damaged"
			rep, err := Repair(path, RepairOptions{Aside: aside})
			if err != nil {
				t.Fatalf("Repair: %v", err)
			}
			if !rep.Changed || rep.Aside != aside || rep.Records != int64(len(tt.want)) || len(rep.Fixed) != tt.fixed {
				t.Errorf("Repair = %+v", rep)
			}
			if !strings.Contains(rep.Header, tt.header) || (tt.header == "") != (rep.Header == "") {
				t.Errorf("header note %q, want %q", rep.Header, tt.header)
			}
			if len(rep.Lost) != len(tt.lost) {
				t.Fatalf("lost %+v, want frames %v", rep.Lost, tt.lost)
			}
			for i, k := range tt.lost {
				l := rep.Lost[i]
				if l.Offset != offsets[k] || l.Reason == "" {
					t.Errorf("lost region %d at %d (%s), want frame %d at %d", i, l.Offset, l.Reason, k, offsets[k])
				}
				if i == len(tt.lost)-1 && l.Torn != tt.torn {
					t.Errorf("lost region %d: Torn %v, want %v", i, l.Torn, tt.torn)
				}
				if tt.payload && len(l.Payload) != len(repairPayloads[k]) {
					t.Errorf("lost region %d: payload of %d bytes, want the damaged frame's %d", i, len(l.Payload), len(repairPayloads[k]))
				}
			}
			if got := fileBytes(t, aside); !bytes.Equal(got, damaged) {
				t.Error("the damaged file was not kept as it was")
			}
			j, got := openT(t, path, Options{})
			equalRecords(t, got, tt.want)
			if j.Size() != rep.Size || j.Recovery() != (Recovery{}) {
				t.Errorf("repaired journal: %d bytes (report %d), recovery %+v", j.Size(), rep.Size, j.Recovery())
			}
			closeT(t, j)
			if got, want := fileBytes(t, path+HeaderCopySuffix), fileBytes(t, path)[:headerSize]; !bytes.Equal(got, want) {
				t.Error("the header copy does not match the repaired journal")
			}
			if _, err := os.Stat(path + ".repair"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary file left: %v", err)
			}
		})
	}
}

func TestRepairRefuses(t *testing.T) {
	t.Run("clean journal: nothing to do", func(t *testing.T) {
		path, b, _ := damagedJournal(t, func(b []byte, _ []int64) []byte { return b })
		rep, err := Repair(path, RepairOptions{Aside: path + ".x"})
		if err != nil || rep.Changed || rep.Records != int64(len(repairPayloads)) {
			t.Errorf("Repair = %+v, %v", rep, err)
		}
		if !bytes.Equal(fileBytes(t, path), b) {
			t.Error("file changed")
		}
		if _, err := os.Stat(path + ".x"); err == nil {
			t.Error("a clean journal was set aside")
		}
	})
	t.Run("while a writer runs", func(t *testing.T) {
		path, _, _ := damagedJournal(t, func(b []byte, _ []int64) []byte { return b })
		j, _ := openT(t, path, Options{})
		defer closeT(t, j)
		if _, err := Repair(path, RepairOptions{Aside: path + ".x"}); !errors.Is(err, ErrLocked) {
			t.Errorf("Repair = %v, want ErrLocked", err)
		}
	})
	t.Run("nothing checks", func(t *testing.T) {
		path, b, _ := damagedJournal(t, func(b []byte, _ []int64) []byte {
			copy(b[prologueSize:], testSalt)
			return b
		})
		os.Remove(path + HeaderCopySuffix)
		if _, err := Repair(path, RepairOptions{Aside: path + ".x"}); err == nil || !strings.Contains(err.Error(), "nothing can be kept") {
			t.Errorf("Repair = %v", err)
		}
		if !bytes.Equal(fileBytes(t, path), b) {
			t.Error("file changed")
		}
	})
	t.Run("the name to keep it under is taken", func(t *testing.T) {
		path, b, _ := damagedJournal(t, func(b []byte, o []int64) []byte { b[o[2]+9] ^= 1; return b })
		writeFile(t, path+".x", []byte("other"))
		if _, err := Repair(path, RepairOptions{Aside: path + ".x"}); err == nil {
			t.Error("Repair overwrote an existing file")
		}
		if !bytes.Equal(fileBytes(t, path), b) || string(fileBytes(t, path+".x")) != "other" {
			t.Error("files changed")
		}
	})
}

// TestRepairKeepsEveryUntouchedRecord damages random bytes of a journal
// of many records, many times over, and checks that Repair keeps every
// record whose frame was not touched, in order, and that the result opens.
func TestRepairKeepsEveryUntouchedRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var payloads [][]byte
	for i := range 60 {
		payloads = append(payloads, append(idPayload(uint64(i))[:8], randomBytes(r, r.IntN(300))...))
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	offsets, size := writeJournal(t, src, payloads)
	whole := fileBytes(t, src)
	for round := range 200 {
		b := bytes.Clone(whole)
		touched := map[int]bool{}
		for range 1 + r.IntN(4) {
			at := int64(headerSize) + r.Int64N(size-int64(headerSize))
			b[at] ^= byte(1 + r.IntN(255))
			k, _ := slices.BinarySearch(offsets, at+1)
			touched[k-1] = true
		}
		path := filepath.Join(dir, fmt.Sprintf("r%d", round))
		writeFile(t, path, b)
		writeFile(t, path+HeaderCopySuffix, whole[:headerSize])
		rep, err := Repair(path, RepairOptions{Aside: path + ".damaged"})
		if err != nil {
			t.Fatalf("round %d: Repair: %v", round, err)
		}
		j, got := openT(t, path, Options{})
		closeT(t, j)
		if int64(len(got)) != rep.Records {
			t.Fatalf("round %d: %d records open, report says %d", round, len(got), rep.Records)
		}
		var want [][]byte
		for i, p := range payloads {
			if !touched[i] {
				want = append(want, p)
			}
		}
		// every untouched record is kept; a touched one only if its damage
		// was one bit of its length (then it is kept whole)
		k := 0
		for _, g := range got {
			if k < len(want) && bytes.Equal(g, want[k]) {
				k++
				continue
			}
			if !slices.ContainsFunc(payloads, func(p []byte) bool { return bytes.Equal(p, g) }) {
				t.Fatalf("round %d: a record that was never written was kept (%d bytes)", round, len(g))
			}
		}
		if k != len(want) {
			t.Fatalf("round %d: kept %d of the %d untouched records (damaged frames %v)", round, k, len(want), touched)
		}
	}
}
